"""The property machine on the HDFS namespace model and the simulated S3 and GCS buckets."""

from __future__ import annotations

import functools

import pytest

from targets.testing.machine import TargetsMachine
from targets.testing.worlds import HDFSWorld, ObjectStoreWorld

# A thorough run takes many minutes per machine; a hang is caught by the scheduler's own
# timeout (StuckActor) instead of pytest-timeout's.
pytestmark = [pytest.mark.property, pytest.mark.timeout(0)]


class HDFSMachine(TargetsMachine):
    """G1-G8 hold for the HDFS protocol (rename2) on the namespace model, through any
    interleaving of writers, crashes, lost and retried NameNode answers, readers, cleanups
    and recoveries."""

    world_factory = HDFSWorld


class S3Machine(TargetsMachine):
    """G1-G8 and G10 hold for the object-store protocols (conditional writes, claim ->
    publish -> _SUCCESS, leases) on a simulated S3 bucket, with crashes, lost or retried
    responses, and writers pausing past their lease while recover and cleanup run."""

    world_factory = functools.partial(ObjectStoreWorld, flavor="s3", leases=True)


class GCSMachine(TargetsMachine):
    """The same on a simulated GCS bucket (generations, preconditions fixed when a
    resumable upload opens)."""

    world_factory = functools.partial(ObjectStoreWorld, flavor="gcs", leases=True)


TestHDFS = HDFSMachine.TestCase
TestS3 = S3Machine.TestCase
TestGCS = GCSMachine.TestCase
