"""The contract suite (tests/conformance) run on the simulated stores of targets.testing.

A simulated store that passes the same contract functions as the real backends behaves, as
far as the library can observe, like them; the property machines then drive the real
protocols through it."""

from __future__ import annotations

import pytest

from targets.testing.posix import SimulatedPosix
from tests.conformance.test_contract import *  # noqa: F403  (the contract functions)
from tests.fixtures import StoreRoot

SIMULATED = ["posix"]


@pytest.fixture(params=SIMULATED)
def root(request) -> StoreRoot:
    """A fresh, empty directory on a simulated store."""
    if request.param == "posix":
        sim = SimulatedPosix()
        sim.makedirs("/store")
        return StoreRoot(url="file:///store", options={"ops": sim})
    raise AssertionError(request.param)
