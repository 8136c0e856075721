"""Real races and real crashes on the local filesystem: OS processes, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest

import targets
from tests.race import Outcome, one_winner, race

WRITERS = 8
ROUNDS = 50


def payload(writer: int, rnd: int) -> bytes:
    return f"writer {writer} round {rnd}\n".encode() * 4000  # ~80 KiB, several writes


def commit(rnd: int, writer: int, base: str, kind: str) -> str:
    """One worker's attempt in one round (run in a spawned process by `race`)."""
    if kind == "file":
        with targets.target(f"{base}/out-{rnd}.txt").open("wb") as f:
            data = payload(writer, rnd)
            for i in range(0, len(data), 16384):
                f.write(data[i : i + 16384])
    else:
        with targets.target(f"{base}/out-{rnd}/").writer() as w:
            for part in range(3):
                with w.open(f"part-{part}", "wb") as f:
                    f.write(payload(writer, rnd))
    return "won"


@pytest.mark.race
def test_eight_processes_race_for_one_file_exactly_one_wins_each_round(tmp_path):
    def check(rnd: int, outcomes: list[Outcome]) -> None:
        won = one_winner(outcomes)
        assert (tmp_path / f"out-{rnd}.txt").read_bytes() == payload(won, rnd)

    race(commit, processes=WRITERS, rounds=ROUNDS, args=(str(tmp_path), "file"), on_round=check)
    assert sorted(os.listdir(tmp_path)) == sorted(f"out-{r}.txt" for r in range(ROUNDS))


@pytest.mark.race
def test_eight_processes_race_for_one_directory_exactly_one_wins_each_round(tmp_path):
    def check(rnd: int, outcomes: list[Outcome]) -> None:
        won = one_winner(outcomes)
        d = targets.target(str(tmp_path / f"out-{rnd}") + "/")
        assert d.files() == ["part-0", "part-1", "part-2"]
        assert d.manifest()["files"][0]["size"] == len(payload(won, rnd))
        for part in range(3):
            assert (tmp_path / f"out-{rnd}" / f"part-{part}").read_bytes() == payload(won, rnd)
        assert sorted(os.listdir(tmp_path / f"out-{rnd}")) == [
            "_SUCCESS",
            "part-0",
            "part-1",
            "part-2",
        ]

    race(commit, processes=WRITERS, rounds=ROUNDS, args=(str(tmp_path), "dir"), on_round=check)
    assert sorted(os.listdir(tmp_path)) == sorted(f"out-{r}" for r in range(ROUNDS))


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time, targets
    out, ready = sys.argv[1], sys.argv[2]
    with targets.target(out + "/").writer() as w:
        for i in range(10_000):
            with w.open(f"part-{i:05d}", "wb") as f:
                f.write(b"x" * 4096)
            if i == 20:
                open(ready, "w").close()
            time.sleep(0.001)
    """
)


def test_a_writer_killed_mid_directory_leaves_nothing_and_cleanup_removes_its_mess(tmp_path):
    out, ready = tmp_path / "table", tmp_path.parent / f"{tmp_path.name}-ready"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(out), str(ready)])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, "the writer ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
    d = targets.target(str(out) + "/")
    assert not d.exists()
    assert not out.exists()
    leftovers = os.listdir(tmp_path)
    assert len(leftovers) == 1 and ".targets-tmp-" in leftovers[0]  # its staging, hidden
    assert len(os.listdir(tmp_path / leftovers[0])) > 20

    # A dead writer renews nothing: once its lease period (here a millisecond) has passed,
    # cleanup removes its staging.
    report = targets.cleanup(str(out), older_than=timedelta(0), stale_claim_after=0.001)
    assert report.removed == [str(tmp_path / leftovers[0])]
    assert os.listdir(tmp_path) == []
    # and the output can now be written normally
    with d.writer() as w, w.open("part-0", "wb") as f:
        f.write(b"fresh")
    assert d.files() == ["part-0"]
