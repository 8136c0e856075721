"""Real races and real deaths on Azurite: OS processes, conditional writes.

Azurite enforces ``If-None-Match: *`` on Put Blob and on Put Block List atomically (8
processes below, 30 rounds each): a small file output and a directory's claim and
``_SUCCESS`` are Put Blobs, a large file and a directory's large files are staged blocks
published by Put Block List. Every writer's blocks have ids of their own, so a winner never
commits a loser's bytes, and a loser's staged blocks are never listed.

What only a real Azure account can confirm: docs/azure.md (a conditional Put Blob onto a
name holding another writer's uncommitted blocks; abort of uncommitted blocks; Copy Blob
that stays pending).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

import targets
from targets.fs import objectstore
from tests.azure.conftest import store_of
from tests.fixtures import StoreRoot
from tests.race import Outcome, race

WRITERS = 8
ROUNDS = 30
PART = 256 * 1024


def payload(writer: int, rnd: int, size: int = 20_000) -> bytes:
    line = f"writer {writer} round {rnd}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def commit_file(rnd: int, worker: int, base: str, options: dict) -> str:
    # odd writers stream past one part (staged blocks), even ones send one Put Blob
    size = PART + 5000 if worker % 2 else 20_000
    t = targets.target(f"{base}/out-{rnd}.bin", **options)
    with t.open("wb") as f:
        data = payload(worker, rnd, size)
        for i in range(0, len(data), 4096):
            f.write(data[i : i + 4096])
    return "won"


def commit_directory(rnd: int, worker: int, base: str, options: dict) -> str:
    d = targets.target(f"{base}/out-{rnd}/", **options)
    with d.writer() as w:
        for name, size in (("part-0", 1000), ("part-1", 20_000), ("big", PART + 1000)):
            with w.open(name, "wb") as f:
                f.write(payload(worker, rnd, size))
    return "won"


class Watcher:
    """Lists ``prefix`` over and over during a race; remembers every blob ever listed, with
    the writer token on it."""

    def __init__(self, store, prefix: str) -> None:
        self.store, self.prefix = store, prefix
        self.seen: dict[str, set[str | None]] = {}
        self.listings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for o in self.store.list(self.prefix):
                self.seen.setdefault(o.key, set()).add(
                    (o.metadata or {}).get(objectstore.TOKEN_KEY)
                )
            self.listings += 1

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def winner(outcomes: list[Outcome]) -> int:
    won = [o.worker for o in outcomes if o.ok]
    lost = [o for o in outcomes if not o.ok]
    assert len(won) == 1, outcomes
    assert all(o.error == "TargetExistsError" for o in lost), lost
    return won[0]


@pytest.mark.race
def test_eight_processes_race_for_one_file_exactly_one_wins_each_round(azure_root):
    store, prefix = store_of(azure_root)

    def check(rnd: int, outcomes: list[Outcome]) -> None:
        w = winner(outcomes)
        t = targets.target(azure_root.child(f"out-{rnd}.bin"), **azure_root.options)
        size = PART + 5000 if w % 2 else 20_000
        assert t.read_bytes() == payload(w, rnd, size)

    with Watcher(store, prefix + "/") as watcher:
        race(
            commit_file,
            processes=WRITERS,
            rounds=ROUNDS,
            args=(azure_root.url, azure_root.options),
            on_round=check,
        )
    assert watcher.listings > ROUNDS
    final = {o.key: o for o in store.list(prefix + "/")}
    assert sorted(final) == sorted(f"{prefix}/out-{r}.bin" for r in range(ROUNDS))
    for key, tokens in watcher.seen.items():
        if ".targets-probe-" in key:
            continue  # each process's probe that the account honours If-None-Match
        # only the winner's blob was ever listed under that name, never a loser's bytes
        assert tokens == {final[key].metadata[objectstore.TOKEN_KEY]}, key


@pytest.mark.race
def test_eight_processes_race_for_one_directory_exactly_one_wins_each_round(azure_root):
    store, prefix = store_of(azure_root)

    def check(rnd: int, outcomes: list[Outcome]) -> None:
        w = winner(outcomes)
        d = targets.target(azure_root.child(f"out-{rnd}") + "/", **azure_root.options)
        assert d.files() == ["big", "part-0", "part-1"]
        for name, size in (("part-0", 1000), ("part-1", 20_000), ("big", PART + 1000)):
            with d.open(name) as f:
                assert f.read() == payload(w, rnd, size)

    with Watcher(store, prefix + "/") as watcher:
        race(
            commit_directory,
            processes=WRITERS,
            rounds=ROUNDS,
            args=(azure_root.url, azure_root.options),
            on_round=check,
        )
    assert watcher.listings > ROUNDS
    for rnd in range(ROUNDS):
        d = f"{prefix}/out-{rnd}/"
        manifest = store.get(d + "_SUCCESS")
        token = targets.fs.decode_manifest(manifest, d)["writer"]
        names = sorted(o.key[len(d) :] for o in store.list(d))
        assert names == ["_SUCCESS", "_targets_claim", "big", "part-0", "part-1"]
        for key, tokens in watcher.seen.items():
            if key.startswith(d):
                assert tokens == {token}, key  # no loser's byte was ever listed


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    import targets
    from targets.fs.azure import AzureStore
    url, die_before, connection_string = sys.argv[1], sys.argv[2], sys.argv[3]
    put, complete = AzureStore.put, AzureStore.complete_upload
    def dying_put(self, key, data, **kwargs):
        if key.endswith(die_before):
            os._exit(9)  # the process dies here: no roll-back, no finally
        return put(self, key, data, **kwargs)
    def dying_complete(self, key, *args, **kwargs):
        if key.endswith(die_before):
            os._exit(9)
        return complete(self, key, *args, **kwargs)
    AzureStore.put, AzureStore.complete_upload = dying_put, dying_complete
    d = targets.target(url, connection_string=connection_string, part_size=1024)
    with d.writer() as w:
        for name, size in (("a", 2000), ("b", 3000), ("c", 1500)):  # staged blocks each
            with w.open(name, "wb") as f:
                f.write(name.encode() * size)
    """
)


def kill_writer_before(root: StoreRoot, name: str, die_before: str) -> str:
    url = root.child(name) + "/"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, url, die_before, root.options["connection_string"]],
        timeout=120,
        capture_output=True,
    )
    assert child.returncode == 9, child.stderr.decode()
    return url


def test_a_writer_killed_between_claim_and_success_rolls_forward(azure_root):
    """Everything was published but ``_SUCCESS``: the output does not exist, a new writer is
    told the commit is incomplete, and recovery publishes it with the dead writer's files."""
    url = kill_writer_before(azure_root, "t", "/_SUCCESS")
    d = targets.target(url, **azure_root.options)
    assert not d.exists()
    fresh = targets.target(url, stale_claim_after=0, **azure_root.options)
    with pytest.raises(targets.IncompleteCommit, match="targets recover"):
        with fresh.writer() as w, w.open("x", "wb") as f:
            f.write(b"new")
    message = targets.recover(url, stale_claim_after=0, **azure_root.options)
    assert "forward" in message
    assert d.exists()
    assert d.files() == ["a", "b", "c"]
    with d.open("b") as f:
        assert f.read() == b"b" * 3000


def test_a_writer_killed_before_its_staged_file_is_committed_rolls_forward(azure_root):
    """The writer died before the Put Block List of ``b``: every file of the claim was staged
    in blocks, which are still on the server with their upload ids in the claim, so recovery
    completes them under the dead writer's token."""
    url = kill_writer_before(azure_root, "t", "/b")
    d = targets.target(url, **azure_root.options)
    assert not d.exists()
    message = targets.recover(url, how="forward", stale_claim_after=0, **azure_root.options)
    assert "forward" in message
    assert d.files() == ["a", "b", "c"]
    with d.open("b") as f:
        assert f.read() == b"b" * 3000


def test_a_writer_killed_mid_publish_rolls_back_and_the_output_can_be_written(azure_root):
    url = kill_writer_before(azure_root, "t", "/c")
    d = targets.target(url, **azure_root.options)
    assert not d.exists()
    fresh = targets.target(url, stale_claim_after=0, **azure_root.options)
    with pytest.raises(targets.IncompleteCommit):
        with fresh.writer() as w, w.open("x", "wb") as f:
            f.write(b"new")
    store, prefix = store_of(azure_root)
    published = sorted(o.key.rsplit("/", 1)[1] for o in store.list(prefix + "/t/"))
    assert "c" not in published and "_targets_claim" in published
    message = targets.recover(url, how="back", stale_claim_after=0, **azure_root.options)
    assert "back" in message
    assert list(store.list(prefix + "/t/")) == []
    with fresh.writer() as w, w.open("x", "wb") as f:
        f.write(b"new")
    assert d.files() == ["x"]
