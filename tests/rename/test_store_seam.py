"""The `RenameStore` seam: every adapter gives the shared protocol the same primitives.

The rename protocol (`targets.fs.rename`) is written once; what it may assume of a store is
what these tests pin down, on every adapter: the POSIX adapter over the real filesystem and
over the simulated one, and the HDFS adapter over the HDFS namespace model. A store that
lacks a primitive says so (`RenameUnsupported`), never emulates it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

import pytest

import targets
from targets.errors import TargetExistsError
from targets.fs.hdfs import HDFS
from targets.fs.local import LocalFS
from targets.fs.rename import RenameFS, RenameStore, RenameUnsupported
from targets.fs.rename.writers import RenameDirectoryWriter, RenameFileWriter
from targets.testing.hdfs_model import HDFSModel
from targets.testing.posix import SimulatedPosix


@pytest.fixture(params=["posix", "simulated-posix", "hdfs-model"])
def world(request: Any, tmp_path: Any) -> Iterator[tuple[RenameFS, str]]:
    """A rename filesystem and an empty directory in it."""
    if request.param == "posix":
        yield LocalFS(), str(tmp_path)
    elif request.param == "simulated-posix":
        sim = SimulatedPosix()
        sim.makedirs("/w")
        yield LocalFS(sim), "/w"
    else:
        model = HDFSModel()
        model.mkdirs("/w", 0o755, True)
        yield HDFS(model, authority="model"), "/w"


def _put(store: RenameStore, path: str, data: bytes = b"x") -> None:
    sink = store.create(path)
    sink.write(data)
    sink.close()


def test_create_is_exclusive(world):
    afs, root = world
    store = afs.store
    _put(store, f"{root}/a")
    with pytest.raises(TargetExistsError), store.map_errors(f"{root}/a", "create"):
        store.create(f"{root}/a")


def test_rename_noreplace_refuses_a_file_or_a_directory_and_never_nests(world):
    afs, root = world
    store = afs.store
    store.mkdir(f"{root}/src")
    _put(store, f"{root}/src/part")
    store.mkdir(f"{root}/dst")
    _put(store, f"{root}/file")
    for taken in ("dst", "file"):
        with pytest.raises(TargetExistsError), store.map_errors(f"{root}/{taken}", "rename"):
            store.rename_noreplace(f"{root}/src", f"{root}/{taken}")
    assert store.stat(f"{root}/dst/src") is None  # never moved inside
    assert store.stat(f"{root}/src/part") is not None  # and the source is untouched


def test_rename_noreplace_moves_a_tree_in_one_step_keeping_its_identity(world):
    afs, root = world
    store = afs.store
    store.mkdir(f"{root}/src")
    _put(store, f"{root}/src/part", b"hello")
    before = store.stat(f"{root}/src/part")
    store.rename_noreplace(f"{root}/src", f"{root}/dst")
    after = store.stat(f"{root}/dst/part")
    assert store.stat(f"{root}/src") is None
    assert after is not None and before is not None
    assert (after.kind, after.size) == ("file", 5)
    assert after.identity == before.identity


def test_walk_lists_parents_before_children_with_kinds_and_sizes(world):
    afs, root = world
    store = afs.store
    store.mkdir(f"{root}/t")
    store.mkdir(f"{root}/t/a")
    _put(store, f"{root}/t/a/f", b"123")
    _put(store, f"{root}/t/g", b"1")
    walked = store.walk(f"{root}/t")
    paths = [e.path for e in walked]
    assert set(paths) == {f"{root}/t/a", f"{root}/t/a/f", f"{root}/t/g"}
    assert paths.index(f"{root}/t/a") < paths.index(f"{root}/t/a/f")
    kinds = {
        posixpath.basename(e.path): (e.kind, e.size if e.kind == "file" else None) for e in walked
    }
    assert kinds == {"a": ("dir", None), "f": ("file", 3), "g": ("file", 1)}


def test_delete_removes_a_tree_and_ignores_what_is_missing(world):
    afs, root = world
    store = afs.store
    store.mkdir(f"{root}/t")
    _put(store, f"{root}/t/f")
    store.delete(f"{root}/t")
    store.delete(f"{root}/t")  # already gone: not an error
    assert store.stat(f"{root}/t") is None


def test_a_missing_primitive_is_refused_not_emulated(world):
    afs, root = world
    store = afs.store
    store.mkdir(f"{root}/a")
    store.mkdir(f"{root}/b")
    if store.has_exchange:
        store.exchange(f"{root}/a", f"{root}/b")
    else:
        with pytest.raises(RenameUnsupported):
            store.exchange(f"{root}/a", f"{root}/b")
    if not store.has_link:
        _put(store, f"{root}/f")
        with pytest.raises(RenameUnsupported):
            store.link_noreplace(f"{root}/f", f"{root}/g")
        assert store.stat(f"{root}/g") is None


def test_every_backend_commits_through_the_one_protocol(world):
    """Local disks and HDFS run the same writer classes; only the adapter differs."""
    afs, root = world
    file_writer = afs.open_output(f"{root}/out.csv", durable=False)
    dir_writer = afs.directory_writer(f"{root}/table", durable=False)
    try:
        assert type(file_writer) is RenameFileWriter
        assert type(dir_writer) is RenameDirectoryWriter
    finally:
        file_writer.discard()
        dir_writer.discard()


def test_recover_puts_back_an_old_output_left_aside_on_every_rename_backend(world):
    """An overwrite interrupted between its rename aside and its publish leaves the old
    output at ``.<name>.targets-old-<token>``; recover restores it, on local disks too.
    (The aside here is new, younger than the lease period, so it takes ``force``; the
    refusal without it is tested in tests/rename/test_staging_lease.py.)"""
    afs, root = world
    store = afs.store
    store.mkdir(f"{root}/.table.targets-old-{'a' * 32}")
    _put(store, f"{root}/.table.targets-old-{'a' * 32}/part", b"old")
    said = afs.recover(f"{root}/table", force=True)
    assert "restored" in said
    with afs.open_input(f"{root}/table/part") as f:
        assert f.read() == b"old"


def test_recover_refuses_a_direction_a_rename_store_does_not_have(tmp_path):
    with pytest.raises(targets.InvalidTarget, match="one way only"):
        targets.recover(str(tmp_path / "out"), how="back")
