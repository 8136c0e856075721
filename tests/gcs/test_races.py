"""Real races and real deaths on fake-gcs-server: OS processes, exclusive writes.

What these runs prove, and what only real GCS can confirm
---------------------------------------------------------
fake-gcs-server enforces ``ifGenerationMatch=0`` on single-request uploads, atomically
(checked here with 8 processes). The GCS protocols put every decision on such a request:
a small file output is one; a directory output's claim and ``_SUCCESS`` are too. So the
races below exercise the real decision points.

fake-gcs-server does *not* enforce the precondition on resumable uploads, rewrites (copies),
composes or deletes. These behaviours are therefore confirmed only on real GCS:

* a file output larger than one part: its resumable session carries ``ifGenerationMatch=0``
  and real GCS refuses to finalise it if the object exists (on the fake, two such writers
  would both "win"; that race is not run here);
* ``temporary_path()`` of a file: the server-side rewrite onto the final name with
  ``ifGenerationMatch=0`` (the adapter's look-before-copy catches only the sequential case);
* ``recover``/cleanup deletes naming the generation they checked (``ifGenerationMatch``);
* ``rename_dont_move`` through ``objects.move`` (the fake lacks it; a conditional copy and a
  delete stand in);
* a session cancelled with DELETE can no longer be finalised (the fake keeps it usable).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

import targets
from targets.fs import objectstore
from tests.fixtures import StoreRoot
from tests.race import Outcome, race

WRITERS = 8
ROUNDS = 30
PART = 256 * 1024


def payload(writer: int, rnd: int, size: int = 20_000) -> bytes:
    line = f"writer {writer} round {rnd}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def commit_file(rnd: int, worker: int, base: str, options: dict) -> str:
    t = targets.target(f"{base}/out-{rnd}.bin", part_size=PART, **options)
    with t.open("wb") as f:
        data = payload(worker, rnd)
        for i in range(0, len(data), 4096):
            f.write(data[i : i + 4096])
    return "won"


def commit_directory(rnd: int, worker: int, base: str, options: dict) -> str:
    d = targets.target(f"{base}/out-{rnd}/", part_size=PART, **options)
    with d.writer() as w:
        for name, size in (("part-0", 1000), ("part-1", 20_000), ("big", PART + 1000)):
            with w.open(name, "wb") as f:
                f.write(payload(worker, rnd, size))
    return "won"


class Watcher:
    """Lists ``prefix`` over and over during a race; remembers every object ever listed,
    with the writer token on it."""

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


def _store(root: StoreRoot):
    """The bucket's store and the test's key prefix."""
    afs, path = targets.fs.resolve(root.url, **root.options)
    return afs.locate(path)


@pytest.mark.race
def test_eight_processes_race_for_one_file_exactly_one_wins_each_round(gcs_root):
    store, prefix = _store(gcs_root)

    def check(rnd: int, outcomes: list[Outcome]) -> None:
        w = winner(outcomes)
        t = targets.target(gcs_root.child(f"out-{rnd}.bin"), **gcs_root.options)
        assert t.read_bytes() == payload(w, rnd)

    with Watcher(store, prefix + "/") as watcher:
        race(
            commit_file,
            processes=WRITERS,
            rounds=ROUNDS,
            args=(gcs_root.url, gcs_root.options),
            on_round=check,
        )
    assert watcher.listings > ROUNDS
    final = {o.key: o for o in store.list(prefix + "/")}
    assert sorted(final) == sorted(f"{prefix}/out-{r}.bin" for r in range(ROUNDS))
    for key, tokens in watcher.seen.items():
        # only the winner's object was ever listed under that name, never a loser's bytes
        assert tokens == {final[key].metadata[objectstore.TOKEN_KEY]}, key


@pytest.mark.race
def test_eight_processes_race_for_one_directory_exactly_one_wins_each_round(gcs_root):
    store, prefix = _store(gcs_root)

    def check(rnd: int, outcomes: list[Outcome]) -> None:
        w = winner(outcomes)
        d = targets.target(gcs_root.child(f"out-{rnd}") + "/", **gcs_root.options)
        assert d.files() == ["big", "part-0", "part-1"]
        for name, size in (("part-0", 1000), ("part-1", 20_000), ("big", PART + 1000)):
            with d.open(name) as f:
                assert f.read() == payload(w, rnd, size)

    with Watcher(store, prefix + "/") as watcher:
        race(
            commit_directory,
            processes=WRITERS,
            rounds=ROUNDS,
            args=(gcs_root.url, gcs_root.options),
            on_round=check,
        )
    assert watcher.listings > ROUNDS
    for rnd in range(ROUNDS):
        d = f"{prefix}/out-{rnd}/"
        manifest = store.get(d + "_SUCCESS")
        token = targets.fs._manifest.decode(manifest, d)["writer"]
        names = sorted(o.key[len(d) :] for o in store.list(d))
        assert names == ["_SUCCESS", "_targets_claim", "big", "part-0", "part-1"]
        for key, tokens in watcher.seen.items():
            if key.startswith(d):
                assert tokens == {token}, key  # no loser's byte was ever listed


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    import targets
    from targets.fs.gcs import GCSStore
    url, die_before, endpoint = sys.argv[1], sys.argv[2], sys.argv[3]
    put = GCSStore.put
    def dying_put(self, key, data, **kwargs):
        if key.endswith(die_before):
            os._exit(9)  # the process dies here: no roll-back, no finally
        return put(self, key, data, **kwargs)
    GCSStore.put = dying_put
    d = targets.target(url, endpoint_url=endpoint, token="anon", project="test")
    with d.writer() as w:
        for name in ("a", "b", "c"):
            with w.open(name, "wb") as f:
                f.write(name.encode() * 100)
    """
)


def kill_writer_before(root: StoreRoot, name: str, die_before: str) -> str:
    url = root.child(name) + "/"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, url, die_before, root.options["endpoint_url"]],
        timeout=60,
        capture_output=True,
    )
    assert child.returncode == 9, child.stderr.decode()
    return url


def test_a_writer_killed_after_publishing_rolls_forward(gcs_root):
    url = kill_writer_before(gcs_root, "t", "/_SUCCESS")
    d = targets.target(url, **gcs_root.options)
    assert not d.exists()
    fresh = targets.target(url, stale_claim_after=0, **gcs_root.options)
    with pytest.raises(targets.IncompleteCommit, match="targets recover"):
        with fresh.writer() as w, w.open("x", "wb") as f:
            f.write(b"new")
    message = targets.recover(url, stale_claim_after=0, **gcs_root.options)
    assert "forward" in message
    assert d.exists()
    assert d.files() == ["a", "b", "c"]
    with d.open("b") as f:
        assert f.read() == b"b" * 100


def test_a_writer_killed_mid_publish_rolls_back_and_the_output_can_be_written(gcs_root):
    url = kill_writer_before(gcs_root, "t", "/c")
    d = targets.target(url, **gcs_root.options)
    assert not d.exists()
    fresh = targets.target(url, stale_claim_after=0, **gcs_root.options)
    with pytest.raises(targets.IncompleteCommit):
        with fresh.writer() as w, w.open("x", "wb") as f:
            f.write(b"new")
    store, prefix = _store(gcs_root)
    published = sorted(o.key.rsplit("/", 1)[1] for o in store.list(prefix + "/t/"))
    assert "c" not in published and "_targets_claim" in published
    message = targets.recover(url, stale_claim_after=0, **gcs_root.options)
    assert "back" in message
    assert list(store.list(prefix + "/t/")) == []
    with fresh.writer() as w, w.open("x", "wb") as f:
        f.write(b"new")
    assert d.files() == ["x"]
