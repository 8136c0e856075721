"""The job contract runs on every built-in backend (tests.fixtures.BACKENDS)."""

from __future__ import annotations

import pytest

from tests.fixtures import BACKENDS, StoreRoot


@pytest.fixture(params=BACKENDS)
def root(request: pytest.FixtureRequest) -> StoreRoot:
    """A fresh, empty directory on each backend."""
    root: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return root


@pytest.fixture(params=[b for b in BACKENDS if b != "hdfs"])
def shared_root(request: pytest.FixtureRequest) -> StoreRoot:
    """A fresh, empty directory on each backend that other processes reach too (the HDFS
    model is a namespace inside the test's process)."""
    root: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return root
