"""The contract suite against a real HDFS cluster, through hdfs-native.

Set ``TARGETS_TEST_HDFS=hdfs://host:port`` (a NameNode's RPC address) to run it; each test
works in a fresh directory under ``/tmp/targets-tests/`` and removes it afterwards. Without
the variable every test here is skipped, and reported as skipped. See docs/hdfs.md."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

import targets
from targets import fs
from targets.fs.hdfs import _write_options
from targets.fs.rename import lease as lease_module
from targets.testing.hdfs_model import HDFSModel
from tests.conformance.test_contract import *  # noqa: F403  (the contract suite, on a cluster)
from tests.fixtures import StoreRoot

CLUSTER = os.environ.get("TARGETS_TEST_HDFS", "").rstrip("/")
SKIP_REASON = "set TARGETS_TEST_HDFS=hdfs://host:port to run the HDFS real-cluster tests"


@pytest.fixture
def root() -> StoreRoot:
    """A fresh directory on the real cluster (the contract suite's root)."""
    if not CLUSTER:
        pytest.skip(SKIP_REASON)
    afs, path = fs.resolve(f"{CLUSTER}/tmp/targets-tests/{uuid.uuid4().hex}")
    afs.mkdir(path, parents=True)
    yield StoreRoot(url=afs.url(path))
    afs.remove(path, recursive=True)


def outcome(action, *args) -> str:
    """What an operation did: ``"ok"`` or the name of the builtin exception it raised."""
    try:
        action(*args)
    except (OSError, RuntimeError) as exc:
        return type(exc).__name__
    return "ok"


def test_the_model_agrees_with_the_cluster_on_rename2_and_mkdirs(root):
    """A differential check: the same operations on the NameNode and on the model."""
    afs, base = fs.resolve(root.url)
    model = HDFSModel()
    model.mkdirs(base, create_parent=True)
    results = {}
    for name, client in (("cluster", afs.client), ("model", model)):
        options = _write_options(overwrite=False, create_parent=True)
        for path in (f"{base}/{name}/a/x", f"{base}/{name}/b/y", f"{base}/{name}/f"):
            w = client.create(path, options)
            w.write(b"data")
            w.close()
        d = f"{base}/{name}"
        results[name] = [
            outcome(client.rename, f"{d}/a", f"{d}/b"),
            outcome(client.rename, f"{d}/a", f"{d}/b", True),
            outcome(client.rename, f"{d}/a", f"{d}/f"),
            outcome(client.mkdirs, f"{d}/a"),
            outcome(client.create, f"{d}/f", options),
            outcome(client.rename, f"{d}/a", f"{d}/c"),
            sorted(s.path.rsplit("/", 1)[1] for s in client.list_status(d)),
        ]
    assert results["cluster"] == results["model"]


# -- G10: staging leases on the NameNode's clock ------------------------------------------------


def _table_writer(root: StoreRoot) -> tuple[targets.DirectoryTarget, Any]:
    d = targets.target(f"{root.url}/table/")
    w = d.writer()
    with w.open("part-0", "wb") as f:
        f.write(b"zero")
    return d, w


def test_cluster_cleanup_keeps_the_staging_of_an_idle_live_writer(root):
    """``cleanup(older_than=0)`` while a writer idles: its staging is kept (its lease is
    live) and the writer commits everything (the old cleanup removed the staging)."""
    d, w = _table_writer(root)
    report = targets.cleanup(d.url, older_than=timedelta(0))
    assert report.removed == [] and len(report.kept_recent) == 1
    with w.open("part-1", "wb") as f:
        f.write(b"one")
    w.commit()
    assert sorted(d.files()) == ["part-0", "part-1"]


def test_cluster_a_renewal_is_stamped_by_the_namenode(root):
    """A renewal changes the staging directory's modification time, in the NameNode's
    clock (a marker created and deleted inside it)."""
    d, w = _table_writer(root)
    store = d.fs.store
    before = store.stat(w._tmp).mtime
    time.sleep(1.5)  # the NameNode's times are in milliseconds
    w._lease.lease.renew()
    assert store.stat(w._tmp).mtime > before
    w.commit()
    assert d.files() == ["part-0"]


def test_cluster_a_writer_whose_lease_ran_out_cannot_commit(root, monkeypatch):
    """The writer's lease runs out (its clock jumps an hour; the store's second passes):
    cleanup removes its staging and the commit raises `CommitError`, publishing nothing."""
    d, w = _table_writer(root)
    monkeypatch.setattr(lease_module, "holder_clock", lambda: time.monotonic() + 3600)
    time.sleep(1.5)
    report = targets.cleanup(d.url, older_than=timedelta(0), stale_claim_after=1)
    assert len(report.removed) == 1
    with w.open("part-1", "wb") as f:
        f.write(b"one")
    with pytest.raises(targets.CommitError):
        w.commit()
    assert not d.exists()
