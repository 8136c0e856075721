"""The local backend: what only POSIX filesystems show (empty directories, symlinks, fsync,
modes, the rename fallbacks), and bad input."""

from __future__ import annotations

import os
import pathlib
import pickle
import stat
import time
from datetime import timedelta

import pytest

import targets
from targets import fs
from targets.fs import local
from targets.fs._names import temp_name


def hidden_entries(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# -- never nested, never replaced ---------------------------------------------------------


def test_directory_commit_onto_an_existing_empty_directory_raises_and_never_nests(tmp_path):
    """os.rename would silently replace an empty directory; rename-dont-move must not."""
    (tmp_path / "out").mkdir()
    d = targets.target(str(tmp_path / "out") + "/")
    with pytest.raises(targets.TargetExistsError), d.writer() as w:
        with w.open("part-0", "wb") as f:
            f.write(b"data")
    assert list((tmp_path / "out").iterdir()) == []
    assert hidden_entries(tmp_path) == []


def test_directory_writer_racing_an_empty_directory_that_appears_at_commit(tmp_path):
    d = targets.target(str(tmp_path / "out") + "/")
    w = d.writer()
    with w.open("part-0", "wb") as f:
        f.write(b"data")
    (tmp_path / "out").mkdir()  # created by someone else after the writer started
    with pytest.raises(targets.TargetExistsError):
        w.commit()
    assert list((tmp_path / "out").iterdir()) == []
    assert hidden_entries(tmp_path) == []


def test_rename_dont_move_never_moves_into_an_existing_directory(tmp_path):
    afs = fs.filesystem(str(tmp_path))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("new")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "g").write_text("old")
    with pytest.raises(targets.TargetExistsError):
        afs.rename_dont_move(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert sorted(os.listdir(tmp_path / "dst")) == ["g"]
    assert (tmp_path / "src" / "f").read_text() == "new"


def test_rename_dont_move_renames_files_and_directories(tmp_path):
    afs = fs.filesystem(str(tmp_path))
    (tmp_path / "a").write_text("a")
    afs.rename_dont_move(str(tmp_path / "a"), str(tmp_path / "sub" / "b"))
    assert (tmp_path / "sub" / "b").read_text() == "a"
    (tmp_path / "d").mkdir()
    afs.move(str(tmp_path / "d"), str(tmp_path / "e"))
    assert (tmp_path / "e").is_dir() and not (tmp_path / "d").exists()


def test_put_if_absent_is_exclusive(tmp_path):
    afs = fs.filesystem(str(tmp_path))
    afs.put_if_absent(str(tmp_path / "flag"), b"one")
    with pytest.raises(targets.TargetExistsError):
        afs.put_if_absent(str(tmp_path / "flag"), b"two")
    assert (tmp_path / "flag").read_bytes() == b"one"
    assert hidden_entries(tmp_path) == []


def test_symlink_at_the_final_name_is_never_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "out").symlink_to(victim)
    with pytest.raises(targets.TargetExistsError):
        targets.target(str(tmp_path / "out")).write_text("attack")
    assert victim.read_text() == "precious"
    assert (tmp_path / "out").is_symlink()


def test_overwrite_replaces_a_symlink_itself_not_its_target(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "out").symlink_to(victim)
    targets.FileTarget(str(tmp_path / "out"), if_exists="overwrite").write_text("new")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "out").is_symlink()
    assert (tmp_path / "out").read_text() == "new"


# -- the wrong kind of thing at a path ----------------------------------------------------


def test_file_target_where_a_directory_is(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(targets.IsADirectory, match=str(tmp_path / "out")):
        targets.target(str(tmp_path / "out")).open("w")


def test_directory_target_where_a_file_is(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(targets.NotADirectory, match="a file is there"):
        targets.target(str(tmp_path / "out") + "/").writer()


def test_parent_that_is_a_file(tmp_path):
    (tmp_path / "blocker").write_text("x")
    path = str(tmp_path / "blocker" / "sub" / "out.csv")
    with pytest.raises(targets.NotADirectory) as info:
        targets.target(path).write_text("data")
    assert str(tmp_path / "blocker") in str(info.value)
    assert info.value.path == path


def test_missing_parents_are_created(tmp_path):
    t = targets.target(str(tmp_path / "a" / "b" / "c.txt"))
    t.write_text("deep")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "deep"


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["", "   "])
def test_empty_path(location):
    with pytest.raises(targets.InvalidTarget, match="empty"):
        targets.target(location)


def test_unknown_protocol_names_it_and_the_supported_ones():
    with pytest.raises(targets.InvalidTarget) as info:
        targets.target("ftp://host/out.csv")
    assert "ftp://host/out.csv" in str(info.value)
    assert "s3://" in str(info.value)
    assert info.value.path == "ftp://host/out.csv"


def test_remote_file_url_is_refused():
    with pytest.raises(targets.InvalidTarget, match="host"):
        targets.target("file://otherhost/data/out.csv")


def test_file_target_with_trailing_slash_is_refused(tmp_path):
    with pytest.raises(targets.InvalidTarget, match="DirectoryTarget"):
        targets.FileTarget(str(tmp_path) + "/out/")


@pytest.mark.parametrize(
    "kwargs", [{"if_exists": "replace"}, {"guarantee": "maybe"}, {"colour": "blue"}]
)
def test_bad_options_are_refused(tmp_path, kwargs):
    with pytest.raises(targets.InvalidTarget):
        targets.FileTarget(str(tmp_path / "x"), **kwargs)


def test_not_a_path_at_all():
    with pytest.raises(targets.InvalidTarget, match="int"):
        targets.target(42)


def test_errors_are_picklable_with_their_path():
    err = targets.TargetExistsError("x exists", "/data/x")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, FileExistsError) and back.path == "/data/x" and str(back) == "x exists"


# -- durability (G9) -----------------------------------------------------------------------


def record_calls(monkeypatch):
    """Record the fsyncs and flagged renames every local commit makes, through the seam."""
    calls: list[str] = []
    real_fsync, real_rename = local.PosixOps.fsync, local.PosixOps.rename_flags

    def fsync(self, fd):
        calls.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        return real_fsync(self, fd)

    def rename_flags(self, *args, **kwargs):
        calls.append("rename")
        return real_rename(self, *args, **kwargs)

    monkeypatch.setattr(local.PosixOps, "fsync", fsync)
    monkeypatch.setattr(local.PosixOps, "rename_flags", rename_flags)
    return calls


def test_durable_file_commit_syncs_data_then_renames_then_syncs_the_directory(
    tmp_path, monkeypatch
):
    (tmp_path / "d").mkdir()
    calls = record_calls(monkeypatch)
    targets.target(str(tmp_path / "d" / "out")).write_bytes(b"x")
    assert calls == ["fsync-file", "rename", "fsync-dir"]


def test_durable_directory_commit_syncs_everything_before_the_rename(tmp_path, monkeypatch):
    calls = record_calls(monkeypatch)
    with targets.target(str(tmp_path / "out") + "/").writer() as w:
        with w.open("a", "wb") as f:
            f.write(b"a")
    rename_at = calls.index("rename")
    assert calls[:rename_at].count("fsync-file") == 2  # the data file and _SUCCESS
    assert "fsync-dir" in calls[:rename_at]
    assert calls[rename_at + 1 :] == ["fsync-dir"]


def test_durable_false_skips_fsync(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    calls = record_calls(monkeypatch)
    targets.FileTarget(str(tmp_path / "d" / "out"), durable=False).write_bytes(b"x")
    assert calls == ["rename"]


# -- fallbacks without renameat2 ------------------------------------------------------------


def test_without_renameat2_files_publish_by_link_and_stay_exclusive(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "_flagged_rename", None)
    t = targets.target(str(tmp_path / "out"))
    t.write_text("first")
    with pytest.raises(targets.TargetExistsError):
        t.write_text("second")
    assert t.read_text() == "first"
    assert hidden_entries(tmp_path) == []


def test_without_renameat2_strict_directories_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "_flagged_rename", None)
    assert not fs.filesystem(str(tmp_path)).capabilities.noreplace_rename_dir
    with pytest.raises(targets.UnsupportedGuarantee, match="best-effort"):
        targets.target(str(tmp_path / "out") + "/").writer()


def test_without_renameat2_best_effort_directories_warn_and_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "_flagged_rename", None)
    d = targets.DirectoryTarget(str(tmp_path / "out"), guarantee="best-effort")
    with pytest.warns(RuntimeWarning, match="check-then-rename"), d.writer() as w:
        with w.open("a", "wb") as f:
            f.write(b"a")
    assert d.files() == ["a"]


# -- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_published_modes_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        targets.target(str(tmp_path / "f")).write_text("x")
        with targets.target(str(tmp_path / "d") + "/").writer() as w:
            with w.open("part", "wb") as f:
                f.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((tmp_path / "d" / "part").stat().st_mode) == 0o666 & ~umask


# -- cleanup ---------------------------------------------------------------------------------


def age(path: pathlib.Path, seconds: float) -> None:
    then = time.time() - seconds
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (then, then), follow_symlinks=False)


def test_cleanup_removes_only_stale_temporaries(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.csv").write_text("committed")
    (out / ".user-hidden").write_text("not ours")
    (out / ".report.csv.targets-tmp-notatoken").write_text("not our pattern")
    stale_file = out / temp_name("report.csv", "a" * 32)
    stale_file.write_text("stale")
    stale_dir = tmp_path / temp_name("out", "b" * 32)
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "part").write_text("stale")
    old_output = out / temp_name("table", "c" * 32, "old")
    old_output.mkdir()
    fresh = out / temp_name("live.csv", "d" * 32)
    fresh.write_text("a live writer")
    for p in (stale_file, stale_dir, old_output):
        age(p, 7200)

    dry = targets.cleanup(str(out), older_than=timedelta(hours=1), dry_run=True)
    assert sorted(dry.removed) == sorted(map(str, (stale_file, stale_dir, old_output)))
    assert stale_file.exists()

    report = targets.cleanup(str(out), older_than=timedelta(hours=1))
    assert sorted(report.removed) == sorted(map(str, (stale_file, stale_dir, old_output)))
    assert report.kept_recent == [str(fresh)]
    assert sorted(os.listdir(out)) == sorted(
        [".report.csv.targets-tmp-notatoken", ".user-hidden", "data.csv", fresh.name]
    )
    assert not stale_dir.exists()


def test_a_stale_directory_is_judged_by_its_newest_file(tmp_path):
    live = tmp_path / temp_name("out", "e" * 32)
    live.mkdir()
    (live / "part").write_text("still being written")
    age(live, 7200)
    os.utime(live / "part")  # touched just now
    report = targets.cleanup(str(tmp_path / "out"), older_than=timedelta(hours=1))
    assert report.removed == [] and live.exists()


# -- paths of every kind --------------------------------------------------------------------


def test_pathlib_and_upath_and_file_urls_name_the_same_output(tmp_path):
    from upath import UPath

    p = tmp_path / "out.csv"
    a = targets.target(p)
    b = targets.target(UPath(p))
    c = targets.target("file://" + str(p))
    assert a.url == b.url == c.url == "file://" + str(p)
    a.write_text("x")
    assert b.exists() and c.read_text() == "x"
    # A target is not a path (issue 14: os.fspath() let open(t, "w") write around the
    # commit); its backend path is .path. tests/local/test_no_back_door.py has the rest.
    assert a.path == str(p)
    with pytest.raises(TypeError, match=r"is not a path.*\.path"):
        os.fspath(a)


def test_targets_pickle_and_work_after_unpickling(tmp_path):
    t = targets.target(str(tmp_path / "x.csv"))
    back = pickle.loads(pickle.dumps(t))
    back.write_text("from a worker")
    assert t.read_text() == "from a worker"
    assert repr(back) == f"FileTarget('file://{tmp_path}/x.csv')"


def test_flag_target_sees_a_spark_style_output(tmp_path):
    out = tmp_path / "spark-out"
    out.mkdir()
    (out / "part-00000.parquet").write_bytes(b"PAR1")
    (out / ".part-00000.parquet.crc").write_bytes(b"")
    flag = targets.FlagTarget(str(out))
    assert not flag.exists()
    (out / "_SUCCESS").write_bytes(b"")
    assert flag.exists()
    assert flag.files() == ["part-00000.parquet"]
    d = targets.DirectoryTarget(str(out))
    assert d.exists() and d.manifest() == {} and d.files() == ["part-00000.parquet"]


def test_a_tampered_manifest_is_a_clear_error(tmp_path):
    d = targets.target(str(tmp_path / "t") + "/")
    with d.writer() as w:
        with w.open("a", "wb") as f:
            f.write(b"a")
    success = tmp_path / "t" / "_SUCCESS"
    success.write_text(success.read_text().replace('"a"', '"../../etc/passwd"'))
    with pytest.raises(targets.CorruptManifest, match="safe relative name"):
        d.files()
    success.write_text("{truncated")
    with pytest.raises(targets.CorruptManifest, match="not JSON"):
        d.manifest()


def test_copy_and_move_never_replace(tmp_path):
    a = targets.target(str(tmp_path / "a"))
    a.write_text("a")
    b = a.copy(str(tmp_path / "b"))
    assert b.read_text() == "a"
    with pytest.raises(targets.TargetExistsError):
        a.copy(str(tmp_path / "b"))
    c = a.move(str(tmp_path / "c"))
    assert c.read_text() == "a" and not a.exists()
    with pytest.raises(targets.TargetExistsError):
        b.move(str(tmp_path / "c"))
    assert b.exists()


def test_a_backend_whose_client_is_missing_names_the_extra(monkeypatch):
    import importlib

    real = importlib.import_module

    def missing_s3fs(name, *args):
        if name == "targets.fs.s3":
            raise ModuleNotFoundError("No module named 's3fs'", name="s3fs")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing_s3fs)
    with pytest.raises(targets.BackendNotInstalled) as info:
        targets.target("s3://bucket/key")
    assert "pip install 'targets[s3]'" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_failed_opens_and_dropped_writers_clean_up_quietly(tmp_path, monkeypatch):
    import gc
    import sys

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    t = targets.target(str(tmp_path / "x"))
    t.write_text("a")
    (tmp_path / "dir").mkdir()
    for bad in (
        lambda: t.open("w"),
        lambda: targets.target(str(tmp_path / "dir")).open("w"),
        lambda: targets.target(str(tmp_path / "x") + "/").writer(),
    ):
        with pytest.raises(targets.TargetError):
            bad()
    w = targets.target(str(tmp_path / "abandoned") + "/").writer()
    assert len(hidden_entries(tmp_path)) == 1
    del w
    gc.collect()
    assert unraisable == []
    assert sorted(os.listdir(tmp_path)) == ["dir", "x"]


def test_each_commit_logs_one_debug_line(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="targets")
    targets.target(str(tmp_path / "out.csv")).write_text("x")
    lines = [r.getMessage() for r in caplog.records if r.name == "targets"]
    assert len(lines) == 1
    assert str(tmp_path / "out.csv") in lines[0]
    assert "protocol=local-rename-noreplace" in lines[0] and "duration=" in lines[0]
