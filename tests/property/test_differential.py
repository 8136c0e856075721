"""Differential tests: the simulated stores against the real ones.

The same generated runs (writers, steps in one interleaving, crashes, removals, cleanups,
recoveries) go to a simulated store and to the real thing, and must give the same
observable outcomes: each writer makes the same store calls and ends the same way, and the
same writer's output is at each path after every step. The real things are the local disk,
moto's S3 server and fake-gcs-server, on loopback through the session fixtures.

What only the real cloud stores could confirm (and these servers cannot) is listed in
docs/testing.md.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from targets.fs.gcs import GCSFS
from targets.fs.s3 import S3FS
from targets.testing.differential import DifferentialMachine
from targets.testing.worlds import LocalDiskWorld, ObjectStoreWorld, PosixWorld

# A thorough run takes many minutes per machine; a hang is caught by the scheduler's own
# timeout (StuckActor) instead of pytest-timeout's.
pytestmark = [pytest.mark.property, pytest.mark.timeout(0)]

REAL_STORE_EXAMPLES = 12
REAL_STORE_STEPS = 25
"""Runs, and steps per run, against each real object store in the default profile (each
request crosses HTTP); the thorough profile's own numbers apply above these."""


class LocalDifferential(DifferentialMachine):
    """The POSIX simulator and the local disk answer the local protocol alike."""

    worlds = (PosixWorld, LocalDiskWorld)


TestLocalDifferential = LocalDifferential.TestCase


def _run_against(real_store, flavor: str) -> None:
    def simulated(scheduler):
        return ObjectStoreWorld(scheduler, flavor=flavor, part_size=real_store.part_size)

    def real(scheduler):
        root = f"diff-{uuid.uuid4().hex[:12]}"
        return ObjectStoreWorld(scheduler, store=real_store, flavor=flavor, root=root)

    machine = type(f"{flavor}Differential", (DifferentialMachine,), {"worlds": (simulated, real)})
    current = settings()
    thorough = current.max_examples > settings.get_profile("default").max_examples
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=current.max_examples // 10 if thorough else REAL_STORE_EXAMPLES,
            stateful_step_count=current.stateful_step_count if thorough else REAL_STORE_STEPS,
        ),
    )


def test_simulated_s3_answers_like_moto(s3_server):
    """Invariant: on every generated run, the simulated S3 bucket and moto give the same
    calls, the same outcomes and the same committed outputs."""
    afs = S3FS(**s3_server["options"])
    _run_against(afs.store(s3_server["bucket"]), "s3")


def test_simulated_gcs_answers_like_fake_gcs_server(gcs_server):
    """Invariant: the same for the simulated GCS bucket and fake-gcs-server."""
    from tests.fixtures.gcs import BUCKET

    afs, _ = GCSFS.from_url(f"gs://{BUCKET}", **gcs_server.options())
    _run_against(afs.store(BUCKET), "gcs")
