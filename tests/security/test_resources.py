"""Commits and discards leave no file descriptor and no thread behind."""

from __future__ import annotations

import gc
import os
import threading

import pytest

import targets


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def work(root, rounds: int, prefix: str) -> None:
    for n in range(rounds):
        i = f"{prefix}{n}"
        targets.target(root.child(f"f-{i}"), **root.options).write_bytes(b"x" * 100)
        with (
            pytest.raises(RuntimeError),
            targets.target(root.child(f"d-{i}"), **root.options).open("wb") as f,
        ):
            f.write(b"discarded")
            raise RuntimeError
        with targets.target(root.child(f"t-{i}") + "/", **root.options).writer() as w:
            with w.open("a", "wb") as f:
                f.write(b"a")
        w = targets.target(root.child(f"u-{i}") + "/", **root.options).writer()
        with w.open("a", "wb") as f:
            f.write(b"a")
        w.discard()
        with pytest.raises(targets.TargetExistsError):
            targets.target(root.child(f"f-{i}"), **root.options).write_bytes(b"y")


@pytest.mark.parametrize("backend", ["local", "s3", "gcs", "hdfs"])
def test_no_descriptor_or_thread_is_left_behind(backend, request):
    """Invariant: once the clients' pools are warm, more commits, discards and conflicts do
    grow the number of open descriptors or of threads. 10 more rounds (50 commits, discards
    and conflicts) may add a few pooled connections or pool threads that parallel
    publishing had not needed yet, never one per operation."""
    root = request.getfixturevalue(f"{backend}_root")
    work(root, 3, "warm-")  # connection pools and executors come up
    work(root, 10, "first-")
    gc.collect()
    fds, threads = open_fds(), threading.active_count()
    work(root, 10, "second-")
    gc.collect()
    slack = 5  # pools warming further; a leak per operation would add 50
    assert open_fds() <= fds + slack
    assert threading.active_count() <= threads + slack
