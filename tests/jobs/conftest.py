"""The job contract runs on every built-in backend (tests.fixtures.BACKENDS)."""

from __future__ import annotations

import pytest

from tests.fixtures import BACKENDS, StoreRoot


@pytest.fixture(params=BACKENDS)
def root(request: pytest.FixtureRequest) -> StoreRoot:
    """A fresh, empty directory on each backend."""
    root: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return root
