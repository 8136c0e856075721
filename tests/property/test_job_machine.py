"""The job property machine (targets.testing.job_machine) on every simulated store, and
its sabotage proof: a job commit that publishes every attempt is caught."""

from __future__ import annotations

import functools

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from targets.fs.job import TaskRecord
from targets.fs.objectstore import job as objectstore_job
from targets.fs.rename import job as rename_job
from targets.testing.job_machine import JobMachine
from targets.testing.machine import GuaranteeViolation
from targets.testing.worlds import HDFSWorld, ObjectStoreWorld, PosixWorld

pytestmark = [pytest.mark.property, pytest.mark.timeout(0)]

BUDGET = settings(max_examples=150, stateful_step_count=40, deadline=None)


class PosixJobs(JobMachine):
    """Jobs on the simulated POSIX disk: attempts, duplicates, stragglers, aborts, driver
    crashes mid-commit settled by recover, maintenance against the live job."""

    world_factory = PosixWorld


class HDFSJobs(JobMachine):
    """The same on the HDFS namespace model."""

    world_factory = HDFSWorld


class S3Jobs(JobMachine):
    """The same on a simulated S3 bucket, leases judged by a clock the machine moves."""

    world_factory = functools.partial(ObjectStoreWorld, flavor="s3", leases=True)


class GCSJobs(JobMachine):
    """The same on a simulated GCS bucket."""

    world_factory = functools.partial(ObjectStoreWorld, flavor="gcs", leases=True)


TestPosixJobs = PosixJobs.TestCase
TestHDFSJobs = HDFSJobs.TestCase
TestS3Jobs = S3Jobs.TestCase
TestGCSJobs = GCSJobs.TestCase
for _case in (TestPosixJobs, TestHDFSJobs, TestS3Jobs, TestGCSJobs):
    _case.settings = BUDGET
del _case  # a module-level TestCase name would be collected and run a second time


def _every_attempt(
    records: list[TaskRecord], job: str, url: str
) -> tuple[list[TaskRecord], list[TaskRecord]]:
    return list(records), []


@pytest.mark.parametrize(
    "machine", [PosixJobs, HDFSJobs, S3Jobs, GCSJobs], ids=["posix", "hdfs", "s3", "gcs"]
)
def test_the_job_machine_finds_a_commit_that_publishes_every_attempt(machine, monkeypatch):
    """Invariant: a job commit publishes one attempt per task id, the first record given.
    With that choice removed (every record given is published, duplicates included), the
    machine's search finds, on every store, a commit given two records of one task that
    either fails although it is valid (the two attempts wrote one name, which the commit
    then takes for a collision) or publishes the second attempt's files (the manifest or
    the files read back differ from the first record's). A machine whose job checks could
    not fail, or whose search never gave a commit a duplicate, fails this test.

    Only the generate phase runs: the test asks whether the search finds the sabotage,
    and shrinking what it found would cost time without telling more."""
    monkeypatch.setattr(rename_job, "choose_attempts", _every_attempt)
    monkeypatch.setattr(objectstore_job, "choose_attempts", _every_attempt)
    with pytest.raises(GuaranteeViolation) as found:
        run_state_machine_as_test(
            machine,
            settings=settings(
                BUDGET,
                max_examples=1000,
                database=None,
                report_multiple_bugs=False,
                phases=(Phase.generate,),
            ),
        )
    assert found.value.guarantee == "jobs", found.value
