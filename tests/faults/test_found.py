"""What the fault sweep (test_sweep.py) found, one small test each; every one of them failed
before its fix in the library (docs/reliability.md tells the story).

The faults are injected at the store seam by number (`targets.testing.faults`): a dry
run finds the number of the call of interest, a second run fails it.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from typing import Any

import pytest

import targets
from targets.errors import StoreUnavailable, TargetError
from targets.fs._names import CLAIM
from targets.fs.hdfs import HDFS
from targets.fs.local import LocalFS, PosixOps
from targets.fs.objectstore import ObjectStoreFS
from targets.fs.objectstore import parallel as _objectstore
from targets.testing.faults import (
    AFTER,
    BEFORE,
    Call,
    Injector,
    hdfs_error,
    object_store_error,
    posix_error,
)
from targets.testing.hdfs_model import HDFSModel
from targets.testing.objectstore import MemoryObjectStore


def number_of(calls: list[Call], op: str, where: Callable[[Call], bool] = bool) -> int:
    """The number of the first call of ``op`` matching ``where``."""
    return next(c.number for c in calls if c.op == op and where(c))


def last_number_of(calls: list[Call], op: str) -> int:
    return [c.number for c in calls if c.op == op][-1]


# -- local disks -------------------------------------------------------------------------------


def local_write(root: Any, name: str, injector: Injector, data: bytes = b"data") -> None:
    ops = injector.wrap(PosixOps(), error=posix_error)
    targets.target(str(root / name), ops=ops).write_bytes(data)


def temporaries(root: Any) -> list[str]:
    return sorted(n for n in os.listdir(root) if ".targets-" in n)


def test_a_disk_error_on_a_lookup_is_a_target_error_not_a_bare_oserror(tmp_path: Any) -> None:
    """Found: EIO from the parent lookup (stat) and from the final-name check (lstat)
    escaped as a bare OSError; the contract says no client exception leaves a backend."""
    dry = Injector()
    local_write(tmp_path, "dry/out", dry)  # a missing parent: its lookup is part of the write
    for op in ("stat", "lstat"):
        n = number_of(dry.calls, op)
        with pytest.raises(TargetError, match="Input/output error") as info:
            local_write(tmp_path, f"new-{op}/out", Injector(fail={n: BEFORE}))
        assert str(tmp_path / f"new-{op}") in str(info.value)


def test_an_error_closing_the_parent_directory_does_not_fail_a_published_commit(
    tmp_path: Any,
) -> None:
    """Found: EIO from closing the parent directory's descriptor, after the output was
    published, made the commit fail with a bare OSError."""
    dry = Injector()
    local_write(tmp_path, "dry", dry)
    local_write(tmp_path, "out", Injector(fail={last_number_of(dry.calls, "close"): AFTER}))
    assert (tmp_path / "out").read_bytes() == b"data"


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOENT, errno.EEXIST])
def test_a_rename_that_took_effect_but_reported_an_error_is_a_success(
    tmp_path: Any, code: int
) -> None:
    """Found (G7 on a local disk): a publishing rename that took effect and then reported
    an error was reported as a failure (EIO), a missing output (ENOENT) or a conflict
    (EEXIST): what a network filesystem answers when it retries a rename whose answer was
    lost. The staged inode at the final name, gone from its temporary name, settles it."""
    dry = Injector()
    local_write(tmp_path, "dry", dry)
    n = number_of(dry.calls, "rename_flags")

    def error(op: str, when: str, args: tuple[Any, ...]) -> BaseException:
        return OSError(code, os.strerror(code))

    ops = Injector(fail={n: AFTER}).wrap(PosixOps(), error=error)
    targets.target(str(tmp_path / "out"), ops=ops).write_bytes(b"mine")
    assert (tmp_path / "out").read_bytes() == b"mine"
    assert temporaries(tmp_path) == []


def test_a_rename_that_failed_says_nothing_was_published(tmp_path: Any) -> None:
    dry = Injector()
    local_write(tmp_path, "dry", dry)
    n = number_of(dry.calls, "rename_flags")
    with pytest.raises(TargetError, match="nothing was published"):
        local_write(tmp_path, "out", Injector(fail={n: BEFORE}))
    assert not (tmp_path / "out").exists()
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("directory", [False, True], ids=["file", "directory"])
def test_a_failed_directory_sync_after_publishing_says_the_output_was_published(
    tmp_path: Any, directory: bool
) -> None:
    """Found: for a directory output, EIO from the fsync of the parent after the rename
    escaped as a bare OSError; for a file it said "cannot sync the directory of", not
    that the output was published (and visible) with its durability unconfirmed."""

    def write(name: str, injector: Injector) -> None:
        afs = LocalFS(injector.wrap(PosixOps(), error=posix_error))
        path = str(tmp_path / name)
        if directory:
            with afs.directory_writer(path) as w, w.open("a.csv") as f:
                f.write(b"a")
        else:
            with afs.open_output(path) as w:
                w.write(b"a")

    dry = Injector()
    write("dry", dry)
    n = last_number_of(dry.calls, "fsync")
    with pytest.raises(TargetError, match="was published, but syncing its directory failed"):
        write("out", Injector(fail={n: BEFORE}))
    assert (tmp_path / "out").exists()


@pytest.mark.parametrize("directory", [False, True], ids=["file", "directory"])
def test_a_temporary_whose_create_reported_an_error_is_removed(
    tmp_path: Any, directory: bool
) -> None:
    """Found: an exclusive create of the temporary (file, or staging directory) that took
    effect and then reported an error left the temporary behind for `cleanup`."""
    op = "mkdir" if directory else "open"

    def write(name: str, injector: Injector) -> None:
        afs = LocalFS(injector.wrap(PosixOps(), error=posix_error))
        path = str(tmp_path / name)
        if directory:
            with afs.directory_writer(path) as w, w.open("a.csv") as f:
                f.write(b"a")
        else:
            with afs.open_output(path) as w:
                w.write(b"a")

    dry = Injector()
    write("dry", dry)
    n = number_of(dry.calls, op, lambda c: ".targets-tmp-" in str(c.args[0]))
    with pytest.raises(TargetError) as info:
        write("out", Injector(fail={n: AFTER}))
    # while the error is held (logged, re-raised), the failed writer cannot have been
    # collected: the clean-up must not depend on its __del__
    assert info.value is not None
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("directory", [False, True], ids=["file", "directory"])
def test_hdfs_a_temporary_whose_create_reported_an_error_is_removed(directory: bool) -> None:
    model = HDFSModel()
    model.mkdirs("/store", create_parent=True)
    op = "mkdirs" if directory else "create"

    def write(name: str, injector: Injector) -> None:
        client = injector.wrap(model, error=hdfs_error, pure=(), streams=("create",))
        afs = HDFS(client, authority="model")
        if directory:
            with afs.directory_writer(f"/store/{name}") as w, w.open("a.csv") as f:
                f.write(b"a")
        else:
            with afs.open_output(f"/store/{name}") as w:
                w.write(b"a")

    dry = Injector()
    write("dry", dry)
    n = number_of(dry.calls, op, lambda c: ".targets-tmp-" in str(c.args[0]))
    with pytest.raises(TargetError) as info:
        write("out", Injector(fail={n: AFTER}))
    assert info.value is not None  # held: the clean-up must not depend on __del__
    assert [p for p in model.tree("/store") if ".targets-" in p] == []


# -- object stores ------------------------------------------------------------------------------


@pytest.fixture(params=["s3", "gcs"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> MemoryObjectStore:
    """A simulated bucket with S3's or GCS's semantics; one publishing thread, so that the
    calls are numbered the same way in every run."""
    monkeypatch.setattr(_objectstore, "PUBLISH_THREADS", 1)
    return MemoryObjectStore("bucket", flavor=request.param, part_size=16)


def mounted(store: MemoryObjectStore, injector: Injector) -> ObjectStoreFS:
    return ObjectStoreFS.mount(injector.wrap(store, error=object_store_error))


def write_file(store: MemoryObjectStore, name: str, injector: Injector, data: bytes) -> None:
    with mounted(store, injector).open_output(f"bucket/{name}") as w:
        w.write(data)


def write_dir(store: MemoryObjectStore, name: str, injector: Injector) -> dict[str, Any]:
    w = mounted(store, injector).directory_writer(f"bucket/{name}")
    with w:
        with w.open("a.csv") as f:
            f.write(b"small")
        with w.open("big.bin") as f:
            f.write(b"x" * 40)  # more than one part: a multipart upload
    return {"token": w.token}


def key_is(suffix: str) -> Callable[[Call], bool]:
    return lambda c: str(c.args[0]).endswith(suffix)


@pytest.mark.parametrize("size", [5, 40], ids=["put", "multipart"])
def test_a_lost_answer_to_the_publishing_request_is_a_success(
    store: MemoryObjectStore, size: int
) -> None:
    """Found: a file's publishing request that took effect and whose answer was lost
    (the client gave up: StoreUnavailable) was reported as an unknown outcome although one
    look at the key shows the writer's own token (G7)."""
    dry = Injector()
    write_file(store, "dry", dry, b"d" * size)
    op = "put" if size < 16 else "complete_upload"
    n = number_of(dry.calls, op)
    write_file(store, "out", Injector(fail={n: AFTER}), b"m" * size)
    assert store.objects()["out"] == b"m" * size
    assert store.pending_uploads() == []


def test_a_failed_completion_is_aborted_and_says_nothing_was_published(
    store: MemoryObjectStore,
) -> None:
    """Found: a completion that never reached the store was reported as an unknown outcome;
    once its upload is aborted, nothing can publish it any more, so the outcome is known."""
    dry = Injector()
    write_file(store, "dry", dry, b"d" * 40)
    n = number_of(dry.calls, "complete_upload")
    with pytest.raises(StoreUnavailable, match="nothing was published"):
        write_file(store, "out", Injector(fail={n: BEFORE}), b"m" * 40)
    assert "out" not in store.objects()
    assert store.pending_uploads() == []


@pytest.mark.parametrize("marker", [CLAIM, "_SUCCESS"])
def test_a_lost_answer_to_the_claim_or_success_still_commits(
    store: MemoryObjectStore, marker: str
) -> None:
    """Found: a claim that took effect and whose answer was lost made the commit fail and
    left the claim behind (later writers: "being committed by another writer", then
    IncompleteCommit until `targets recover`); a lost answer to _SUCCESS was reported as an
    unknown outcome. One look at the key finds the writer's token: the commit goes on."""
    dry = Injector()
    write_dir(store, "dry", dry)
    n = number_of(dry.calls, "put", key_is(f"dry/{marker}"))
    written = write_dir(store, "out", Injector(fail={n: AFTER}))
    assert sorted(store.objects("out/")) == [
        "out/_SUCCESS",
        "out/_targets_claim",
        "out/a.csv",
        "out/big.bin",
    ]
    assert targets_manifest(store, "out")["writer"] == written["token"]
    assert store.pending_uploads() == []


def test_a_claim_that_did_not_take_effect_says_nothing_is_visible(
    store: MemoryObjectStore,
) -> None:
    dry = Injector()
    write_dir(store, "dry", dry)
    n = number_of(dry.calls, "put", key_is(f"dry/{CLAIM}"))
    with pytest.raises(StoreUnavailable, match="no claim of this writer is there"):
        write_dir(store, "out", Injector(fail={n: BEFORE}))
    assert store.objects("out/") == {}
    assert store.pending_uploads() == []


def test_a_failed_last_part_frees_the_upload_of_a_directory_file(
    store: MemoryObjectStore,
) -> None:
    """Found: when the last part of a streamed file of a directory output failed as the
    file was closed, its multipart upload stayed pending (S3: billed until a cleanup or a
    lifecycle rule; GCS: a resumable session the adapter kept)."""
    dry = Injector()
    write_dir(store, "dry", dry)
    n = last_number_of(dry.calls, "upload_part")
    with pytest.raises(StoreUnavailable):
        write_dir(store, "out", Injector(fail={n: BEFORE}))
    assert store.pending_uploads() == []
    assert store.objects("out/") == {}


def targets_manifest(store: MemoryObjectStore, name: str) -> dict[str, Any]:
    return json.loads(store.objects()[f"{name}/_SUCCESS"])
