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


def _every_attempt(
    records: list[TaskRecord], job: str, url: str
) -> tuple[list[TaskRecord], list[TaskRecord]]:
    return list(records), []


@pytest.mark.parametrize("machine", [PosixJobs], ids=["posix"])
def test_the_job_machine_finds_a_commit_that_publishes_every_attempt(machine, monkeypatch):
    """Invariant: with the choice of one attempt per task removed (every record given is
    published, duplicates included), some run commits a second attempt's files or fails a
    valid commit, and the machine's budget finds it. This is what proves the machine's job
    checks can fail."""
    monkeypatch.setattr(rename_job, "choose_attempts", _every_attempt)
    monkeypatch.setattr(objectstore_job, "choose_attempts", _every_attempt)
    with pytest.raises(GuaranteeViolation) as found:
        run_state_machine_as_test(
            machine,
            settings=settings(
                BUDGET,
                max_examples=500,
                database=None,
                report_multiple_bugs=False,
                phases=tuple(set(Phase) - {Phase.explain}),
            ),
        )
    assert found.value.guarantee == "jobs", found.value
