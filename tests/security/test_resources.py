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
    """Invariant: after a warm-up (client pools are created once), further commits, discards
    and conflicts change neither the number of open descriptors nor of threads."""
    root = request.getfixturevalue(f"{backend}_root")
    work(root, 3, "warm-")  # warm-up: connection pools, executors
    gc.collect()
    fds, threads = open_fds(), threading.active_count()
    work(root, 10, "run-")
    gc.collect()
    assert open_fds() <= fds
    assert threading.active_count() <= threads
