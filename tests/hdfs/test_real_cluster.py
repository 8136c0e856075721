"""The contract suite against a real HDFS cluster, through hdfs-native.

Set ``TARGETS_TEST_HDFS=hdfs://host:port`` (a NameNode's RPC address) to run it; each test
works in a fresh directory under ``/tmp/targets-tests/`` and removes it afterwards. Without
the variable every test here is skipped, and reported as skipped. See docs/hdfs.md."""

from __future__ import annotations

import os
import uuid

import pytest

from targets import fs
from targets.fs.hdfs import _write_options
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
