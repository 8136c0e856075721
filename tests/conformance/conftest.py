from __future__ import annotations

import pytest

from tests.fixtures import BACKENDS, StoreRoot


@pytest.fixture(params=BACKENDS)
def root(request) -> StoreRoot:
    """A fresh, empty directory on each backend of the conformance suite."""
    return request.getfixturevalue(f"{request.param}_root")
