"""The property machine on the simulated POSIX filesystem and on the real local disk."""

from __future__ import annotations

import pytest

from targets.testing.machine import TargetsMachine
from targets.testing.worlds import PosixWorld

# A thorough run takes many minutes per machine; a hang is caught by the scheduler's own
# timeout (StuckActor) instead of pytest-timeout's.
pytestmark = [pytest.mark.property, pytest.mark.timeout(0)]


class PosixMachine(TargetsMachine):
    """G1-G9 hold for the local protocol on a simulated POSIX filesystem, through any
    interleaving of writers, crashes, power losses, readers, cleanups and recoveries."""

    world_factory = PosixWorld


TestPosix = PosixMachine.TestCase
