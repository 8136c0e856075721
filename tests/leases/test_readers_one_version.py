"""G4 for readers: a `DirectoryTarget` reads within one committed version, or raises
`OutputChanged`; it never hands out a mix of an old and a new output."""

from __future__ import annotations

import pickle

import pytest

import targets
from targets import OutputChanged
from tests.fixtures import StoreRoot


@pytest.fixture(params=["local", "s3", "gcs"])
def root(request: pytest.FixtureRequest) -> StoreRoot:
    root: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return root


def read(d: targets.DirectoryTarget, name: str) -> bytes:
    with d.open(name) as f:
        return f.read()


def write(root: StoreRoot, files: dict[str, bytes], **kw: object) -> None:
    d = targets.DirectoryTarget(root.child("table"), **root.options, **kw)
    with d.writer() as w:
        for name, data in files.items():
            with w.open(name, "wb") as f:
                f.write(data)


def test_files_then_open_across_an_overwrite_raises_output_changed(root):
    """A reader that listed the old version and opens a file after an overwrite gets
    `OutputChanged`, not the new version's bytes. Before, ``open`` read whatever was there:
    the names of one version with the contents of another."""
    write(root, {"a": b"old-a", "b": b"old-b"})
    reader = targets.DirectoryTarget(root.child("table"), **root.options)
    assert reader.files() == ["a", "b"]
    assert read(reader, "a") == b"old-a"
    write(root, {"a": b"new-a", "b": b"new-b"}, if_exists="overwrite")
    with pytest.raises(OutputChanged, match=r"files\(\) again|read the output again"):
        read(reader, "b")
    assert reader.files() == ["a", "b"]  # moves on to the current version
    assert read(reader, "b") == b"new-b"


def test_open_without_files_reads_the_current_version(root):
    write(root, {"a": b"1"})
    assert read(targets.DirectoryTarget(root.child("table"), **root.options), "a") == b"1"


def test_a_removed_output_is_output_changed_for_a_pinned_reader(root):
    """An output removed after its manifest was read: `OutputChanged` (a `TargetNotFound`)."""
    write(root, {"a": b"1"})
    reader = targets.DirectoryTarget(root.child("table"), **root.options)
    reader.files()
    targets.DirectoryTarget(root.child("table"), **root.options).remove()
    with pytest.raises(targets.TargetNotFound):
        read(reader, "a")


def test_a_pickled_reader_does_not_carry_the_version_it_read(root):
    write(root, {"a": b"1"})
    reader = targets.DirectoryTarget(root.child("table"), **root.options)
    reader.files()
    copy = pickle.loads(pickle.dumps(reader))
    assert copy._version is None
    assert read(copy, "a") == b"1"
