"""Real races on HDFS: OS processes commit through WebHDFS to one NameNode.

No NameNode can run here; the HDFS namespace model stands in for it behind a WebHDFS REST
server on loopback (tests/hdfs/webhdfs_server.py), so that eight processes with their own
clients race on one namespace, as jobs on a cluster do. The other backends' races are in
tests/local, tests/s3 and tests/gcs; all of them run through tests/race.py.
"""

from __future__ import annotations

import pytest

import targets
from targets.testing.hdfs_model import HDFSModel
from tests.hdfs.webhdfs_server import WebHDFSServer
from tests.race import Outcome, one_winner, race

pytestmark = pytest.mark.race

WRITERS = 8
ROUNDS = 8


def payload(writer: int, rnd: int) -> bytes:
    return f"writer {writer} round {rnd}\n".encode() * 500


def commit(rnd: int, writer: int, base: str, kind: str) -> str:
    """One worker's attempt in one round, through its own WebHDFS client."""
    if kind == "file":
        targets.target(f"{base}/out-{rnd}.txt", rpc_timeout=30).write_bytes(payload(writer, rnd))
    else:
        with targets.target(f"{base}/out-{rnd}/", rpc_timeout=30).writer() as w:
            for part in range(2):
                with w.open(f"part-{part}", "wb") as f:
                    f.write(payload(writer, rnd))
    return "won"


@pytest.fixture
def namenode():
    model = HDFSModel()
    model.mkdirs("/store", create_parent=True)
    with WebHDFSServer(model) as server:
        yield model, f"webhdfs://127.0.0.1:{server.port}/store"


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_eight_processes_race_through_webhdfs_exactly_one_wins_each_round(namenode, kind):
    """Invariant: each round, exactly one process commits, the others get
    TargetExistsError, and the output is the winner's, whole, with nothing nested."""
    model, base = namenode

    def check(rnd: int, outcomes: list[Outcome]) -> None:
        won = one_winner(outcomes)
        if kind == "file":
            assert model.read_file(f"/store/out-{rnd}.txt") == payload(won, rnd)
        else:
            assert model.tree(f"/store/out-{rnd}") == ["_SUCCESS", "part-0", "part-1"]
            for part in range(2):
                assert model.read_file(f"/store/out-{rnd}/part-{part}") == payload(won, rnd)

    race(commit, processes=WRITERS, rounds=ROUNDS, args=(base, kind), on_round=check)
    names = [f"out-{r}.txt" if kind == "file" else f"out-{r}/" for r in range(ROUNDS)]
    top = [p for p in model.tree("/store") if p.count("/") <= (0 if kind == "file" else 1)]
    assert sorted(p for p in top if "/" not in p.rstrip("/")) == sorted(names)
