"""Faults at every step: each operation of a commit fails, once before and once after it
takes effect, on local disks, the HDFS model, S3 (moto) and GCS (fake-gcs-server).

For every backend and commit (a small file, a multipart file, a directory of three files),
a dry run numbers the seam calls the commit makes; then the commit runs once per call
number N and way of failing (`BEFORE`: the N-th call raises and has no effect; `AFTER`: it
takes effect, then raises). After each run:

- G1/G5: the output is absent, or complete with exactly the bytes written; never partial;
- the outcome is reported truthfully: success only if the output is complete, never a
  conflict (no other writer exists), "nothing was published" only if it is absent;
- G8: once the error's own advice is followed (``recover`` when it says so) and a
  ``cleanup`` has run, nothing is left but the committed output: no temporary, claim,
  staging prefix, pending upload or open session;
- a retry (the same commit, no faults) converges: the output is complete, written once:
  the call that publishes it took effect exactly once over the run, recovery and retry.
"""

from __future__ import annotations

import collections
import json
from datetime import timedelta
from typing import Any

import pytest

from targets.errors import (
    CommitError,
    IncompleteCommit,
    TargetError,
    TargetExistsError,
)
from targets.fs._names import SUCCESS
from targets.fs.base import AtomicFS
from targets.fs.objectstore import parallel as _objectstore
from targets.testing.faults import AFTER, BEFORE, Injector
from targets.testing.worlds import World
from tests.faults._worlds import DIRECTORY, FILE_SIZES, enforces, open_world, payload

COMMITS = ("small", "multipart", "directory")

NOTHING_PUBLISHED = (
    "nothing was published",
    "before anything was published",
    "is as it was",
    "published was removed again",
    "nothing of this writer is visible",
)
"""What errors say when the commit is known to have published nothing."""


class Failed(Exception):
    """An error raised while writing, before the commit was asked for."""


def classify(exc: BaseException | None) -> str:
    """ok | conflict | incomplete | failed (known: nothing published) | published (known:
    the output is there, the error concerns something after) | unknown, or escaped: an
    exception other than a `TargetError` left the backend."""
    if exc is None:
        return "ok"
    if isinstance(exc, Failed):
        exc = exc.__cause__
        if isinstance(exc, TargetExistsError):
            return "conflict"
        if isinstance(exc, TargetError):
            return "failed"  # the commit never ran
    if not isinstance(exc, TargetError):
        return "escaped"
    if isinstance(exc, TargetExistsError):
        return "conflict"
    if isinstance(exc, IncompleteCommit):
        return "incomplete"
    if isinstance(exc, CommitError) or any(p in str(exc) for p in NOTHING_PUBLISHED):
        return "failed"
    if "was published, but" in str(exc):
        return "published"
    return "unknown"


def commit(fs: AtomicFS, path: str, kind: str, label: str) -> BaseException | None:
    """Write the output ``kind`` at ``path``; the exception it ended with, if any (wrapped
    in `Failed` if it was raised before the commit was asked for)."""
    committing = False
    try:
        if kind == "directory":
            d = fs.directory_writer(path)
            try:
                for name, size in DIRECTORY.items():
                    with d.open(name, "wb") as f:
                        f.write(payload(f"{label}/{name}", size))
                committing = True
                d.commit()
            except BaseException:
                d.discard()
                raise
        else:
            w = fs.open_output(path)
            try:
                data = payload(label, FILE_SIZES[kind])
                for i in range(0, len(data), 64 << 10):
                    w.write(data[i : i + (64 << 10)])
                committing = True
                w.commit()
            except BaseException:
                w.discard()
                raise
    except Exception as exc:  # a non-TargetError is reported by run_once as escaping
        if committing:
            return exc
        failed = Failed(str(exc))
        failed.__cause__ = exc
        return failed
    return None


def state(world: World, fs: AtomicFS, name: str, kind: str) -> str:
    """``"absent"`` or ``"complete"``; anything else is a description of what is wrong."""
    path = world.fs_path(name)
    if kind != "directory":
        if not fs.exists(path):
            return "absent"
        with fs.open_input(path) as f:
            data = f.read()
        expected = payload(name, FILE_SIZES[kind])
        return "complete" if data == expected else f"wrong content ({len(data)} bytes)"
    marker = fs.join(path, SUCCESS)
    if not fs.isfile(marker):
        if world.kind != "objectstore" and fs.exists(path):
            return "visible before its commit (no _SUCCESS)"
        return "absent"
    with fs.open_input(marker) as f:
        manifest = json.loads(f.read())
    names = sorted(e["name"] for e in manifest["files"])
    if names != sorted(DIRECTORY):
        return f"manifest lists {names}"
    for fname, size in DIRECTORY.items():
        with fs.open_input(fs.join(path, fname)) as f:
            if f.read() != payload(f"{name}/{fname}", size):
                return f"{fname}: wrong content"
    return "complete"


def mine(entry: str, name: str) -> bool:
    """Whether a raw name of the root belongs to the output ``name`` (or its temporaries)."""
    bare = entry.split(":", 1)[1] if entry.startswith(("upload:", "session:")) else entry
    return bare == name or bare.startswith(name + "/") or bare.startswith(f".{name}.targets-")


def run_once(world: World, kind: str, n: int, when: str, tally: collections.Counter) -> list[str]:
    """One faulted commit and its checks; the problems found (empty if none)."""
    name = f"{kind}-{n}-{when}"
    path = world.fs_path(name)
    files = DIRECTORY if kind == "directory" else None
    inj = Injector(fail={n: when})
    exc = commit(world.fs(inj), path, kind, name)
    observer = Injector()
    plain = world.fs(observer)
    verdict = classify(exc)
    tally[verdict] += 1
    problems = []
    where = f"{world.name} {kind}: fault {when} #{n} ({inj.calls[n - 1].op}): {verdict}"
    if exc is not None:
        shown = exc.__cause__ if isinstance(exc, Failed) else exc
        where += f" ({type(shown).__name__}: {shown})"

    first = state(world, plain, name, kind)
    if first not in ("absent", "complete"):
        return [f"{where}: the output is {first}"]
    if verdict == "ok" and first != "complete":
        problems.append(f"{where}: reported success, the output is {first}")
    if verdict == "escaped":
        problems.append(f"{where}: the backend let a client exception escape")
    if verdict in ("conflict", "incomplete"):
        problems.append(f"{where}: a conflict reported with no other writer")
    if verdict == "failed" and first != "absent":
        problems.append(f"{where}: said nothing was published, the output is complete")
    if verdict == "published" and first != "complete":
        problems.append(f"{where}: said it was published, the output is {first}")

    if exc is not None and "targets recover" in str(exc):
        tally["recovered"] += 1
        plain.recover(path)
        after = state(world, plain, name, kind)
        if after not in ("absent", "complete") or (first == "complete" and after != first):
            problems.append(f"{where}: after recover the output is {after}")
    settled = state(world, plain, name, kind)
    # A GCS resumable session whose id never reached the protocol: GCS cannot list
    # sessions (it drops them after a week); only the adapter's own record shows it.
    lost_session = inj.calls[n - 1].op == "create_upload" and when == AFTER
    keep = world.committed_names(name, files) if settled == "complete" else set()

    def left_behind() -> list[str]:
        return [
            e
            for e in world.physical()
            if mine(e, name) and e not in keep and not (lost_session and e.startswith("session:"))
        ]

    if left_behind():
        tally["cleaned"] += 1
        plain.cleanup(path, older_than=timedelta(0))
        left = left_behind()
        if left:
            problems.append(f"{where}: left behind after recover and cleanup: {left}")

    # A pipeline's retry: write the output unless it exists. Where the store enforces the
    # condition of this commit path, a blind retry must be refused too.
    if settled == "complete" and enforces(world, kind):
        retry = classify(commit(plain, path, kind, name))
        if retry != "conflict":
            problems.append(f"{where}: a blind retry ended {retry}, expected a conflict")
    elif settled != "complete":
        retry = classify(commit(plain, path, kind, name))
        if retry != "ok":
            problems.append(f"{where}: the retry ended {retry}")
    final = state(world, plain, name, kind)
    if final != "complete":
        problems.append(f"{where}: after the retry the output is {final}")
    marker = world.marker(name, kind == "directory")
    published = [c for c in [*inj.calls, *observer.calls] if world.publish_target(c) == marker]
    done = [c for c in published if c.took_effect]
    if len(done) != 1:
        problems.append(f"{where}: published {len(done)} times: {', '.join(map(str, published))}")
    return problems


@pytest.fixture
def sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    """One publishing thread, so that calls are numbered the same way in every run."""
    monkeypatch.setattr(_objectstore, "PUBLISH_THREADS", 1)


def sweep(world: World, kind: str) -> tuple[int, collections.Counter, list[str]]:
    dry = Injector()
    exc = commit(world.fs(dry), world.fs_path(f"{kind}-dry"), kind, f"{kind}-dry")
    assert exc is None, f"the dry run failed: {exc}"
    tally: collections.Counter = collections.Counter()
    problems: list[str] = []
    for n in range(1, dry.count + 1):
        for when in (BEFORE, AFTER):
            problems += run_once(world, kind, n, when, tally)
    return dry.count, tally, problems


CASES = [
    (backend, kind)
    for backend in ("local", "hdfs", "s3", "gcs")
    for kind in COMMITS
    # Local disks and HDFS stage files of any size the same way: no multipart path.
    if kind != "multipart" or backend in ("s3", "gcs")
]


@pytest.mark.parametrize(("backend", "kind"), CASES)
def test_a_fault_at_any_operation_leaves_the_output_absent_or_whole_and_a_retry_converges(
    backend: str, kind: str, request: pytest.FixtureRequest, tmp_path: Any, sequential: None
) -> None:
    with open_world(backend, request, tmp_path) as world:
        operations, tally, problems = sweep(world, kind)
    print(
        f"\n{world.name} {kind}: {operations} operations, {2 * operations} faulted runs: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
    )
    assert operations >= 1
    assert not problems, "\n".join(problems)
