"""The contract suite: G1-G8 of DESIGN.md through the public API, on every backend.

Each test takes ``root``, a fresh empty directory on one backend (tests/fixtures), and
names outputs under it. Nothing here knows which backend it runs on, so the suite runs on any
backend that a URL reaches, a registered or installed one included: conftest.py says how
(``TARGETS_CONTRACT_URL``).
"""

from __future__ import annotations

import gc
import time
from datetime import timedelta

import pytest

import targets
from targets import fs
from tests.fixtures import StoreRoot


def listing(root: StoreRoot) -> list[str]:
    """Every object/file under ``root``, relative to it, hidden ones included."""
    afs, base = fs.resolve(root.url, **root.options)
    afs.fsspec.invalidate_cache()
    base = base.rstrip("/") + "/"
    names = []
    for full in afs.fsspec.find(base):
        at = full.find(base.lstrip("/"))
        names.append(full[at + len(base.lstrip("/")) :] if at >= 0 else full)
    return sorted(names)


def visible(root: StoreRoot) -> list[str]:
    """The non-hidden names under ``root`` (what Spark, Hadoop and pyarrow would read)."""
    return [n for n in listing(root) if not any(p.startswith((".", "_")) for p in n.split("/"))]


def no_temporaries(root: StoreRoot) -> bool:
    return not [n for n in listing(root) if ".targets-tmp-" in n or ".targets-old-" in n]


def file_target(root: StoreRoot, name: str, **kwargs) -> targets.FileTarget:
    return targets.FileTarget(root.child(name), **kwargs, **root.options)


def dir_target(root: StoreRoot, name: str, **kwargs) -> targets.DirectoryTarget:
    return targets.DirectoryTarget(root.child(name) + "/", **kwargs, **root.options)


def write_dir(d: targets.DirectoryTarget, files: dict[str, bytes]) -> dict:
    with d.writer() as w:
        for name, data in files.items():
            with w.open(name, "wb") as f:
                f.write(data)
    return d.manifest()


# -- G1: all or nothing --------------------------------------------------------------------


def test_file_is_invisible_until_commit_then_complete(root):
    t = file_target(root, "report.csv")
    f = t.open("wb")
    f.write(b"a" * 1000)
    f.write(b"b" * 1000)
    assert not t.exists()
    assert "report.csv" not in visible(root)
    f.close()
    assert t.exists()
    assert t.read_bytes() == b"a" * 1000 + b"b" * 1000
    assert visible(root) == ["report.csv"]


def test_text_mode_round_trip(root):
    t = file_target(root, "greeting.txt")
    with t.open("w") as f:
        f.write("héllo\n")
    with t.open("r") as f:
        assert f.read() == "héllo\n"
    assert t.read_bytes() == "héllo\n".encode()


def test_exception_inside_open_leaves_nothing(root):
    t = file_target(root, "out.csv")
    with pytest.raises(RuntimeError), t.open("w") as f:
        f.write("partial")
        raise RuntimeError("the task failed")
    assert not t.exists()
    assert visible(root) == []
    assert no_temporaries(root)


def test_exception_inside_binary_open_leaves_nothing(root):
    t = file_target(root, "out.bin")
    with pytest.raises(RuntimeError), t.open("wb") as f:
        f.write(b"partial")
        raise RuntimeError("the task failed")
    assert not t.exists()
    assert visible(root) == []


def test_failed_overwrite_leaves_the_old_output(root):
    file_target(root, "out.csv").write_text("old")
    t = file_target(root, "out.csv", if_exists="overwrite")
    with pytest.raises(RuntimeError), t.open("w") as f:
        f.write("new and partial")
        raise RuntimeError
    assert t.read_text() == "old"


def test_dropped_unclosed_file_is_discarded_not_committed(root):
    t = file_target(root, "dropped.txt")
    f = t.open("w")
    f.write("never closed")
    del f
    gc.collect()
    assert not t.exists()
    assert visible(root) == []


def test_explicit_close_commits_like_luigi(root):
    t = file_target(root, "luigi-style.txt")
    f = t.open("w")
    f.write("closed by hand")
    f.close()
    assert t.read_text() == "closed by hand"


def test_directory_is_invisible_until_commit(root):
    d = dir_target(root, "table")
    with d.writer() as w:
        with w.open("part-0.csv", "w") as f:
            f.write("a\n")
        with w.open("sub/part-1.csv", "wb") as f:
            f.write(b"b\n")
        assert not d.exists()
        assert visible(root) == []
    assert d.exists()
    assert d.files() == ["part-0.csv", "sub/part-1.csv"]
    assert visible(root) == ["table/part-0.csv", "table/sub/part-1.csv"]


def test_exception_inside_directory_writer_leaves_nothing(root):
    d = dir_target(root, "table")
    with pytest.raises(RuntimeError), d.writer() as w:
        with w.open("part-0.csv", "w") as f:
            f.write("a\n")
        raise RuntimeError("the task failed")
    assert not d.exists()
    assert visible(root) == []
    assert no_temporaries(root)


def test_empty_file_commits_and_is_exclusive(root):
    t = file_target(root, "empty")
    t.write_bytes(b"")
    assert t.exists()
    assert t.read_bytes() == b""
    with pytest.raises(targets.TargetExistsError):
        t.write_bytes(b"")


# -- G2 / G3: never nested, never silently clobbered ----------------------------------------


def test_file_commit_onto_existing_file_raises_and_keeps_it(root):
    t = file_target(root, "out.csv")
    t.write_text("first")
    with pytest.raises(targets.TargetExistsError) as info:
        t.write_text("second")
    assert isinstance(info.value, FileExistsError)
    assert isinstance(info.value, targets.FileAlreadyExists)
    assert t.read_text() == "first"
    assert visible(root) == ["out.csv"]


def test_concurrent_file_writers_exactly_one_wins(root):
    t = file_target(root, "out.csv")
    first, second = t.open("wb"), t.open("wb")
    first.write(b"first")
    second.write(b"second")
    second.close()
    with pytest.raises(targets.TargetExistsError):
        first.close()
    assert t.read_bytes() == b"second"
    assert visible(root) == ["out.csv"]
    assert no_temporaries(root)


def test_directory_commit_onto_committed_directory_raises_and_never_nests(root):
    d = dir_target(root, "table")
    write_dir(d, {"part-0.csv": b"old"})
    before = listing(root)
    with pytest.raises(targets.TargetExistsError):
        write_dir(d, {"part-0.csv": b"new", "part-1.csv": b"new"})
    assert listing(root) == before
    assert d.files() == ["part-0.csv"]
    with d.open("part-0.csv") as f:
        assert f.read() == b"old"


def test_concurrent_directory_writers_exactly_one_wins(root):
    d = dir_target(root, "table")
    a, b = d.writer(), d.writer()
    with a.open("part-a.csv", "wb") as f:
        f.write(b"from a")
    with b.open("part-b.csv", "wb") as f:
        f.write(b"from b")
    b.commit()
    with pytest.raises(targets.TargetExistsError):
        a.commit()
    assert d.files() == ["part-b.csv"]
    assert visible(root) == ["table/part-b.csv"]
    assert no_temporaries(root)


def test_temporary_path_commit_onto_existing_raises(root):
    t = file_target(root, "out.txt")
    t.write_text("first")
    with pytest.raises(targets.TargetExistsError), t.temporary_path() as tmp:
        with fs.filesystem(tmp, **root.options).fsspec.open(tmp, "wb") as f:
            f.write(b"second")
    assert t.read_text() == "first"


# -- G4: atomic replace, by request --------------------------------------------------------


def test_overwrite_replaces_a_file(root):
    file_target(root, "out.csv").write_text("old")
    t = file_target(root, "out.csv", if_exists="overwrite")
    t.write_text("new")
    assert t.read_text() == "new"
    assert visible(root) == ["out.csv"]
    assert no_temporaries(root)


def test_overwrite_replaces_a_directory_entirely(root):
    write_dir(dir_target(root, "table"), {"old-0.csv": b"old", "old-1.csv": b"old"})
    d = dir_target(root, "table", if_exists="overwrite")
    manifest = write_dir(d, {"new.csv": b"new"})
    assert d.files() == ["new.csv"]
    assert [(e["name"], e["size"]) for e in manifest["files"]] == [("new.csv", 3)]
    assert visible(root) == ["table/new.csv"]
    assert no_temporaries(root)


def test_overwrite_onto_nothing_just_writes(root):
    t = file_target(root, "fresh.csv", if_exists="overwrite")
    t.write_text("x")
    assert t.read_text() == "x"


# -- G5: exists means complete -------------------------------------------------------------


def test_manifest_describes_exactly_the_committed_files(root):
    d = dir_target(root, "table")
    files = {"a.csv": b"1" * 10, "nested/b.csv": b"2" * 2000, "c.bin": b""}
    manifest = write_dir(d, files)
    assert manifest["version"] == 1
    assert len(manifest["writer"]) == 32
    assert {e["name"]: e["size"] for e in manifest["files"]} == {
        name: len(data) for name, data in files.items()
    }
    assert d.files() == sorted(files)
    for name, data in files.items():
        with d.open(name) as f:
            assert f.read() == data


def test_temporary_path_directory_commit_writes_manifest(root):
    d = dir_target(root, "tree")
    with d.temporary_path() as tmp:
        tool_fs = fs.filesystem(tmp, **root.options).fsspec
        for name in ("x.txt", "y/z.txt"):
            full = tmp.rstrip("/") + "/" + name
            tool_fs.makedirs(full.rsplit("/", 1)[0], exist_ok=True)
            with tool_fs.open(full, "wb") as f:
                f.write(name.encode())
        assert not d.exists()
    assert d.exists()
    assert d.files() == ["x.txt", "y/z.txt"]


def test_temporary_path_file_commit(root):
    t = file_target(root, "out.txt")
    with t.temporary_path() as tmp:
        with fs.filesystem(tmp, **root.options).fsspec.open(tmp, "wb") as f:
            f.write(b"written by a tool")
        assert not t.exists()
    assert t.read_bytes() == b"written by a tool"
    assert no_temporaries(root)


def test_temporary_path_exception_discards(root):
    t = file_target(root, "out.txt")
    with pytest.raises(RuntimeError), t.temporary_path() as tmp:
        with fs.filesystem(tmp, **root.options).fsspec.open(tmp, "wb") as f:
            f.write(b"partial")
        raise RuntimeError
    assert not t.exists()
    assert visible(root) == []
    assert no_temporaries(root)


def test_temporary_path_that_the_tool_never_wrote_is_a_commit_error(root):
    t = file_target(root, "out.txt")
    with pytest.raises(targets.CommitError), t.temporary_path():
        pass
    assert not t.exists()


# -- G8: nothing lost, nothing leaked -------------------------------------------------------


def test_cleanup_never_touches_committed_outputs(root):
    file_target(root, "a.csv").write_text("a")
    write_dir(dir_target(root, "table"), {"p.csv": b"p"})
    before = listing(root)
    report = targets.cleanup(root.url, older_than=timedelta(0), **root.options)
    assert report.removed == []
    assert listing(root) == before


def test_cleanup_removes_a_stale_abandoned_writer_and_keeps_outputs(root):
    file_target(root, "keep.csv").write_text("keep")
    w = dir_target(root, "table").writer()
    with w.open("part-0.csv", "wb") as f:
        f.write(b"x" * 100)
    # the writer is abandoned (its process died): nothing of it is visible. Its object
    # still lives here, but its lease (renewed from half a period on) is judged with a
    # period of 10 ms, which has passed: as if its renewals had stopped long ago.
    assert visible(root) == ["keep.csv"]
    time.sleep(0.05)
    options = {**root.options, "stale_claim_after": 0.01}
    targets.cleanup(root.url, older_than=timedelta(0), **options)
    assert visible(root) == ["keep.csv"]
    assert no_temporaries(root)
    assert file_target(root, "keep.csv").read_text() == "keep"
    w.discard()


def test_cleanup_leaves_a_recent_writer_alone(root):
    w = dir_target(root, "table").writer()
    with w.open("part-0.csv", "wb") as f:
        f.write(b"x")
    report = targets.cleanup(root.url, older_than=timedelta(hours=1), **root.options)
    assert report.removed == []
    w.commit()
    assert dir_target(root, "table").files() == ["part-0.csv"]


# -- lifecycle and bad input ---------------------------------------------------------------


def test_writer_cannot_commit_twice(root):
    w = dir_target(root, "table").writer()
    w.commit()
    with pytest.raises(targets.InvalidTarget, match="already committed"):
        w.commit()


def test_writing_after_close_is_an_error(root):
    f = file_target(root, "x").open("wb")
    f.close()
    with pytest.raises(ValueError):
        f.write(b"late")


@pytest.mark.parametrize(
    "name", ["../escape", "/abs", "a//b", "a/./b", "back\\slash", "nul\x00", "", "_SUCCESS"]
)
def test_unsafe_file_names_are_refused(root, name):
    d = dir_target(root, "table")
    with d.writer() as w, pytest.raises(targets.InvalidTarget, match="file name"):
        w.open(name, "wb")
    assert listing(root) == [] or "escape" not in " ".join(listing(root))


def test_reading_a_missing_output_is_target_not_found(root):
    t = file_target(root, "missing.csv")
    with pytest.raises(targets.TargetNotFound) as info:
        t.read_bytes()
    assert isinstance(info.value, FileNotFoundError)
    assert "missing.csv" in str(info.value)


def test_directory_not_committed_has_no_manifest(root):
    with pytest.raises(targets.TargetNotFound, match="not committed"):
        dir_target(root, "nothing").manifest()


@pytest.mark.parametrize("mode", ["a", "r+", "w+", "ab"])
def test_unsupported_modes_are_refused(root, mode):
    with pytest.raises(targets.InvalidTarget, match="mode"):
        file_target(root, "x").open(mode)


def test_remove_makes_a_directory_output_absent(root):
    d = dir_target(root, "table")
    write_dir(d, {"p.csv": b"p"})
    d.remove()
    assert not d.exists()
    assert visible(root) == []
