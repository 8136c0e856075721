"""A real Dask cluster for the tests of `targets.dask`: a `distributed.LocalCluster` of two
worker processes on 127.0.0.1, started once for this directory and stopped after it.

The workers are started after the S3 and GCS servers, so they inherit the environment those
set: the dummy AWS credentials a pickled target leaves out (a worker finds its credentials
in its own environment) and the GCS client setting. Nothing listens or connects beyond
127.0.0.1: the scheduler, the workers and their nannies bind to it, the dashboard is off.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures import StoreRoot

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="package")
def dask_client(s3_server: dict[str, Any], gcs_server: Any) -> Iterator[Any]:
    """A client of a two-process LocalCluster; the default scheduler while it is open."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture
def client(dask_client: Any) -> Iterator[Any]:
    """The cluster's client, with both workers up before and after the test."""
    dask_client.wait_for_workers(2, timeout=60)
    yield dask_client
    dask_client.wait_for_workers(2, timeout=60)


@pytest.fixture(params=["local", "s3", "gcs"])
def root(request: pytest.FixtureRequest) -> StoreRoot:
    """A fresh, empty directory on each backend."""
    store: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return store
