"""The HDFS backend on the model: ambiguous rename2 outcomes (G7), directory overwrite by
rename-aside, clients without rename2 (G6), timeouts, bad input and error translation."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

import targets
from targets import fs
from targets.fs.hdfs import HDFS, NameNodeUnreachable, PyArrowClient
from targets.testing.hdfs_model import HDFSModel, OldRenameOnly


def temporaries(model: HDFSModel) -> list[str]:
    return [p for p in model.tree("/") if ".targets-tmp-" in p or ".targets-old-" in p]


# -- G7: a retried rename2 whose first attempt succeeded --------------------------------------


def test_retried_rename2_after_success_reports_success_for_a_file(hdfs_root, hdfs_model):
    hdfs_model.retry_after_success("rename")  # the retry sees "source not found"
    t = targets.target(hdfs_root.child("out.csv"), **hdfs_root.options)
    t.write_bytes(b"payload")
    assert t.read_bytes() == b"payload"
    assert temporaries(hdfs_model) == []


def test_retried_rename2_after_success_reports_success_for_a_directory(hdfs_root, hdfs_model):
    d = targets.target(hdfs_root.child("table") + "/", **hdfs_root.options)
    with d.writer() as w:
        with w.open("p", "wb") as f:
            f.write(b"1")
        hdfs_model.retry_after_success("rename")
    assert d.files() == ["p"]
    assert temporaries(hdfs_model) == []


def test_lost_rename2_answer_is_retried_and_reports_success(hdfs_root, hdfs_model):
    hdfs_model.lose_next_response("rename")
    t = targets.target(hdfs_root.child("out.csv"), **hdfs_root.options)
    t.write_bytes(b"payload")
    assert t.read_bytes() == b"payload"
    renames = [c for c in hdfs_model.calls if c[0] == "rename"]
    assert len(renames) == 2  # the lost attempt and the retry that found it done


def test_conflict_with_another_writer_is_still_a_conflict(hdfs_root, hdfs_model):
    t = targets.target(hdfs_root.child("out.csv"), **hdfs_root.options)
    hdfs_model.before_next("rename", lambda m: m.write_file("/store/out.csv", b"theirs"))
    with pytest.raises(targets.TargetExistsError):
        t.write_bytes(b"mine")
    assert hdfs_model.read_file("/store/out.csv") == b"theirs"
    assert temporaries(hdfs_model) == []


def test_a_vanished_temporary_with_foreign_output_is_a_commit_error(hdfs_root, hdfs_model):
    t = targets.target(hdfs_root.child("out.csv"), **hdfs_root.options)
    f = t.open("wb")
    f.write(b"mine")

    def someone_else_wins_and_cleanup_removes_ours(m: HDFSModel) -> None:
        m.write_file("/store/out.csv", b"theirs")
        for name in m.tree("/store"):
            if ".targets-tmp-" in name:
                m.delete("/store/" + name)

    hdfs_model.before_next("rename", someone_else_wins_and_cleanup_removes_ours)
    with pytest.raises(targets.CommitError, match="disappeared"):
        f.close()
    assert hdfs_model.read_file("/store/out.csv") == b"theirs"


# -- overwrite ----------------------------------------------------------------------------------


def test_file_overwrite_is_one_rename2_with_overwrite(hdfs_root, hdfs_model):
    targets.target(hdfs_root.child("f"), **hdfs_root.options).write_bytes(b"old")
    targets.target(hdfs_root.child("f"), if_exists="overwrite", **hdfs_root.options).write_bytes(
        b"new"
    )
    assert hdfs_model.read_file("/store/f") == b"new"
    assert [c[3] for c in hdfs_model.calls if c[0] == "rename"] == [False, True]


def test_directory_overwrite_renames_aside_and_readers_never_see_a_mix(hdfs_root, hdfs_model):
    old = targets.target(hdfs_root.child("t") + "/", **hdfs_root.options)
    with old.writer() as w, w.open("old-part", "wb") as f:
        f.write(b"old")
    seen: list[list[str] | None] = []

    def reader(model: HDFSModel, op: str, path: str) -> None:
        gate = targets.target(hdfs_root.child("t") + "/", **hdfs_root.options)
        seen.append(gate.files() if gate.exists() else None)

    hdfs_model.observe(reader)
    new = targets.target(hdfs_root.child("t") + "/", if_exists="overwrite", **hdfs_root.options)
    with new.writer() as w, w.open("new-part", "wb") as f:
        f.write(b"new")

    assert set(map(repr, seen)) <= {"['old-part']", "None", "['new-part']"}
    assert seen[-1] == ["new-part"]
    assert any(".t.targets-old-" in c[2] for c in hdfs_model.calls if c[0] == "rename")
    assert temporaries(hdfs_model) == []


def test_recover_puts_back_an_output_left_aside_by_an_interrupted_overwrite(hdfs_root, hdfs_model):
    d = targets.target(hdfs_root.child("t") + "/", **hdfs_root.options)
    with d.writer() as w, w.open("p", "wb") as f:
        f.write(b"kept")
    hdfs_model.rename("/store/t", "/store/.t.targets-old-" + "0" * 32)  # the writer died here
    assert not d.exists()
    # the aside's own time is its commit's, moments ago: within the lease period recover
    # waits (that overwrite might be running) unless forced
    assert "force=True" in targets.recover(d.url, **hdfs_root.options)
    message = targets.recover(d.url, force=True, **hdfs_root.options)
    assert "restored" in message
    assert d.files() == ["p"]


# -- G6: clients without rename2 -------------------------------------------------------------


def test_strict_target_on_a_client_without_rename2_raises_naming_hdfs_native(hdfs_model):
    client = OldRenameOnly(hdfs_model)
    t = targets.target("hdfs://model/store/out.csv", client=client)
    with pytest.raises(targets.UnsupportedGuarantee, match="hdfs-native"):
        t.write_bytes(b"x")
    with pytest.raises(targets.UnsupportedGuarantee, match="hdfs-native"):
        t.fs.rename_dont_move("/store/a", "/store/b")
    assert hdfs_model.tree("/") == []
    assert t.fs.capabilities.noreplace_rename is False
    assert t.fs.capabilities.noreplace_rename_dir is False


def test_best_effort_on_old_rename_commits_and_warns(hdfs_model):
    d = targets.target(
        "hdfs://model/store/t/", client=OldRenameOnly(hdfs_model), guarantee="best-effort"
    )
    with pytest.warns(RuntimeWarning, match="best-effort"), d.writer() as w:
        with w.open("p", "wb") as f:
            f.write(b"1")
    assert d.files() == ["p"]
    assert d.manifest()["protocol"] == "hdfs-rename-best-effort"


def test_best_effort_detects_a_nested_result_and_undoes_it(hdfs_model):
    d = targets.target(
        "hdfs://model/store/t/", client=OldRenameOnly(hdfs_model), guarantee="best-effort"
    )
    w = d.writer()
    with w.open("mine", "wb") as f:
        f.write(b"mine")
    # another writer publishes between the check and the old rename
    hdfs_model.before_next("rename_old", lambda m: m.write_file("/store/t/theirs", b"theirs"))
    with pytest.warns(RuntimeWarning), pytest.raises(targets.TargetExistsError, match="undone"):
        w.commit()
    assert hdfs_model.tree("/store") == ["t/", "t/theirs"]
    assert any(c[0] == "rename_old" for c in hdfs_model.calls)


def test_pyarrow_client_declares_no_noreplace_rename_and_strict_refuses(tmp_path):
    from pyarrow import fs as pafs

    afs = HDFS(PyArrowClient(pafs.LocalFileSystem()), authority="local")
    out = str(tmp_path / "out.csv")
    assert afs.capabilities.noreplace_rename is False
    assert afs.capabilities.exclusive_create is False
    with pytest.raises(targets.UnsupportedGuarantee, match="hdfs-native"):
        afs.open_output(out)
    with pytest.warns(RuntimeWarning, match="pyarrow"):
        w = afs.open_output(out, guarantee="best-effort")
        w.write(b"via pyarrow")
        w.commit()
    assert (tmp_path / "out.csv").read_bytes() == b"via pyarrow"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_pyarrow_client_without_libhdfs_is_a_clear_error():
    start = time.monotonic()
    with pytest.raises(targets.BackendNotInstalled, match="libhdfs"):
        targets.target("hdfs://127.0.0.1:1/x", client="pyarrow")
    assert time.monotonic() - start < 5


# -- bad input and dead NameNodes ---------------------------------------------------------------


def test_hdfs_url_without_host_or_default_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    start = time.monotonic()
    with pytest.raises(targets.InvalidTarget, match=r"fs\.defaultFS"):
        targets.target("hdfs:///data/out.csv")
    assert time.monotonic() - start < 2


def test_unreachable_namenode_is_a_clear_error_within_seconds():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    t = targets.target(f"hdfs://127.0.0.1:{port}/data/out.csv")
    start = time.monotonic()
    with pytest.raises(NameNodeUnreachable, match=f"127.0.0.1:{port}") as info:
        t.exists()
    assert time.monotonic() - start < 10
    assert isinstance(info.value, ConnectionError)
    assert "out.csv" in str(info.value)


def test_namenode_that_accepts_but_never_answers_times_out():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        port = s.getsockname()[1]
        t = targets.target(f"hdfs://127.0.0.1:{port}/data/out.csv", rpc_timeout=1)
        start = time.monotonic()
        with pytest.raises(NameNodeUnreachable, match="did not answer within 1 s"):
            t.exists()
        assert time.monotonic() - start < 5


def test_commit_without_an_answer_says_the_outcome_is_unknown(hdfs_model):
    release = threading.Event()
    hdfs_model.before_next("rename", lambda m: release.wait(10))
    t = targets.target("hdfs://model/store/out.csv", client=hdfs_model, rpc_timeout=0.5)
    try:
        with pytest.raises(targets.CommitError, match="outcome is unknown"):
            t.write_bytes(b"x")
    finally:
        release.set()


@pytest.mark.parametrize("url", ["hdfs://nn:8020/a/../b", "hdfs://nn:8020/a/./b", "viewfs://c/.."])
def test_paths_with_dot_segments_are_refused(url):
    with pytest.raises(targets.InvalidTarget, match="segment"):
        targets.target(url, client=HDFSModel())


def test_unknown_storage_option_is_refused():
    with pytest.raises(targets.InvalidTarget, match="unknown storage options"):
        targets.target("hdfs://nn:8020/x", region="eu")


def test_url_normalisation_and_join(hdfs_model):
    afs, path = fs.resolve("viewfs://cluster//store//x/", client=hdfs_model)
    assert path == "/store/x"
    assert afs.url(path) == "viewfs://cluster/store/x"
    assert afs.join(path, "a", "b") == "/store/x/a/b"


# -- error translation --------------------------------------------------------------------------


def test_a_file_where_a_parent_directory_should_be_is_not_a_directory(hdfs_root, hdfs_model):
    hdfs_model.write_file("/store/blocker", b"")
    with pytest.raises(targets.NotADirectory, match="blocker"):
        targets.target(hdfs_root.child("blocker/sub/out.csv"), **hdfs_root.options).write_bytes(b"")


def test_namenode_exceptions_become_target_errors_with_the_cause(hdfs_root, hdfs_model):
    from targets.testing.hdfs_model import rpc_error

    def deny(m: HDFSModel) -> None:
        raise rpc_error("org.apache.hadoop.security.AccessControlException", "Permission denied")

    hdfs_model.before_next("create", deny)
    with pytest.raises(targets.TargetError, match="permission denied") as info:
        targets.target(hdfs_root.child("x"), **hdfs_root.options).write_bytes(b"x")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_put_if_absent_stages_with_exclusive_create_and_publishes_with_rename2(hdfs_model):
    afs = fs.filesystem("hdfs://model/", client=hdfs_model)
    afs.put_if_absent("/store/flag", b"1")
    with pytest.raises(targets.TargetExistsError):
        afs.put_if_absent("/store/flag", b"2")
    assert hdfs_model.read_file("/store/flag") == b"1"
    creates = [c for c in hdfs_model.calls if c[0] == "create"]
    assert all(c[2] is False and ".targets-tmp-" in c[1] for c in creates)


def test_fsspec_mv_never_nests(hdfs_model):
    afs = fs.filesystem("hdfs://model/", client=hdfs_model)
    hdfs_model.write_file("/store/src/x", b"x")
    hdfs_model.write_file("/store/dst/y", b"y")
    with pytest.raises(FileExistsError):
        afs.fsspec.mv("/store/src", "/store/dst")
    assert hdfs_model.tree("/store") == ["dst/", "dst/y", "src/", "src/x"]


def test_capabilities_and_manifest_protocol(hdfs_root):
    d = targets.target(hdfs_root.child("t") + "/", **hdfs_root.options)
    with d.writer():
        pass
    assert d.fs.capabilities == HDFS.declared
    assert json.loads(json.dumps(d.manifest()))["protocol"] == "hdfs-rename2"
    assert "`hdfs://`" in fs.capability_table()
