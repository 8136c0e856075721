"""A real Dask cluster for the tests of `targets.dask`: a `distributed.LocalCluster` of two
worker processes on 127.0.0.1, started once for this directory and stopped after it.

The workers are started after the S3 and GCS servers, so they inherit the environment those
set: the dummy AWS credentials a pickled target leaves out (a worker finds its credentials
in its own environment) and the GCS client setting. Nothing listens or connects beyond
127.0.0.1: the scheduler, the workers and their nannies bind to it, the dashboard is off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures import StoreRoot

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

WORKERS = 2

PATIENT = {
    # a loaded machine (the suite runs on 2 cores) slows a worker's start and its answers;
    # the cluster waits rather than judging a slow worker dead
    "distributed.comm.timeouts.connect": "60s",
    "distributed.comm.timeouts.tcp": "120s",
    "distributed.scheduler.worker-ttl": None,
}


@pytest.fixture(scope="package")
def dask_cluster(s3_server: dict[str, Any], gcs_server: Any) -> Iterator[tuple[Any, Any]]:
    """A two-process LocalCluster and its client (the default scheduler while open)."""
    with (
        dask.config.set(PATIENT),
        distributed.LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(WORKERS, timeout=120)
        yield cluster, client


def _both_workers(cluster: Any, client: Any) -> None:
    """Wait for both workers; if one stays gone (a killed worker's nanny did not bring it
    back), replace the cluster's workers."""
    try:
        client.wait_for_workers(WORKERS, timeout=60)
    except TimeoutError:
        cluster.scale(0)
        deadline = time.monotonic() + 60
        while client.scheduler_info()["workers"] and time.monotonic() < deadline:
            time.sleep(0.2)
        cluster.scale(WORKERS)
        client.wait_for_workers(WORKERS, timeout=120)


@pytest.fixture
def client(dask_cluster: tuple[Any, Any]) -> Iterator[Any]:
    """The cluster's client, with both workers up before and after the test."""
    cluster, client = dask_cluster
    _both_workers(cluster, client)
    yield client
    _both_workers(cluster, client)


@pytest.fixture(params=["local", "s3", "gcs"])
def root(request: pytest.FixtureRequest) -> StoreRoot:
    """A fresh, empty directory on each backend."""
    store: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return store
