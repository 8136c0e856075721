"""WebHDFS: commits through ``op=RENAME&renameoptions=NONE`` against a REST server over the
HDFS model on 127.0.0.1; HttpFS (which ignores renameoptions) is detected and refused."""

from __future__ import annotations

import pytest

import targets
from targets import fs
from targets.fs.hdfs import WebHDFS
from targets.testing.hdfs_model import HDFSModel
from tests.conformance.test_contract import *  # noqa: F403  (the contract suite, on WebHDFS)
from tests.fixtures import StoreRoot
from tests.hdfs.webhdfs_server import WebHDFSServer


@pytest.fixture
def webhdfs_model() -> HDFSModel:
    model = HDFSModel()
    model.mkdirs("/store", create_parent=True)
    return model


@pytest.fixture
def namenode(webhdfs_model):
    with WebHDFSServer(webhdfs_model) as server:
        yield server


@pytest.fixture
def httpfs(webhdfs_model):
    with WebHDFSServer(webhdfs_model, httpfs=True) as server:
        yield server


@pytest.fixture
def root(namenode) -> StoreRoot:
    """The contract suite's root, on WebHDFS served by a NameNode."""
    return StoreRoot(url=f"webhdfs://127.0.0.1:{namenode.port}/store", options={"rpc_timeout": 5})


def test_webhdfs_commits_with_renameoptions_none(root, namenode, webhdfs_model):
    t = targets.target(root.child("out.csv"), **root.options)
    t.write_bytes(b"data")
    renames = [q for method, _, q in namenode.requests if q.get("op") == "RENAME"]
    assert renames and all(q.get("renameoptions") == "NONE" for q in renames)
    assert webhdfs_model.read_file("/store/out.csv") == b"data"


def test_webhdfs_directory_commit_onto_existing_never_nests(root, webhdfs_model):
    webhdfs_model.write_file("/store/table/part-0", b"old")
    webhdfs_model.write_file("/store/table/_SUCCESS", b"")
    d = targets.DirectoryTarget(root.child("table") + "/", **root.options)
    w = d.fs.directory_writer(d.path, if_exists="overwrite")  # passes the early check
    with w.open("part-1", "wb") as f:
        f.write(b"new")
    stale = targets.DirectoryTarget(root.child("table") + "/", **root.options)
    assert stale.exists()
    w.commit()
    assert webhdfs_model.tree("/store") == ["table/", "table/_SUCCESS", "table/part-1"]


def test_httpfs_is_detected_and_strict_targets_refuse_it(httpfs, webhdfs_model):
    url = f"webhdfs://127.0.0.1:{httpfs.port}/store/out.csv"
    t = targets.target(url, rpc_timeout=5)
    with pytest.raises(targets.UnsupportedGuarantee, match="HttpFS"):
        t.write_bytes(b"x")
    assert webhdfs_model.tree("/store") == []
    assert not t.fs.capabilities.noreplace_rename_dir


def test_httpfs_best_effort_commits_with_a_warning_and_refuses_an_existing_output(
    httpfs, webhdfs_model
):
    url = f"webhdfs://127.0.0.1:{httpfs.port}/store/table/"
    d = targets.target(url, guarantee="best-effort", rpc_timeout=5)
    with pytest.warns(RuntimeWarning, match="old HDFS rename"), d.writer() as w:
        with w.open("p", "wb") as f:
            f.write(b"1")
    assert webhdfs_model.tree("/store") == ["table/", "table/_SUCCESS", "table/p"]
    with pytest.raises(targets.TargetExistsError):
        d.fs.directory_writer(d.path, if_exists="error", guarantee="best-effort")
    assert webhdfs_model.tree("/store") == ["table/", "table/_SUCCESS", "table/p"]


def test_webhdfs_needs_a_server_in_the_url():
    with pytest.raises(targets.InvalidTarget, match="names no server"):
        targets.target("webhdfs:///data/x")


def test_webhdfs_unreachable_server_is_a_clear_error_fast():
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = targets.target(f"webhdfs://127.0.0.1:{port}/x", rpc_timeout=2)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        t.exists()
    assert time.monotonic() - start < 5


def test_webhdfs_declares_the_namenode_capabilities():
    assert WebHDFS.declared.noreplace_rename_dir
    assert "`webhdfs://`" in fs.capability_table()
