"""`Job`: one directory output written by many workers, committed once by the driver."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from targets.errors import InvalidTarget
from targets.fs.base import WriterState
from targets.fs.job import JobWriter, TaskId, TaskRecord, TaskWriter, check_task_id

if TYPE_CHECKING:
    from targets._target import DirectoryTarget

__all__ = ["Job"]


class Job:
    """A job writing one directory output from many workers (Dask, Ray, Spark, a process
    pool), committed once, by the process that opened it.

    ``DirectoryTarget.job()`` opens it and claims the output at once. Each worker runs its
    part in ``with job.task(task_id, attempt) as t:``, writing with ``t.open(name, mode)`` or
    under ``t.path`` through ``t.filesystem``, and returns ``t.record`` to the driver, which
    calls ``job.commit(records)``. Until then nothing of any task is visible at the output.

    The job pickles small (its target, without credentials, and the job's token): a worker
    that unpickles it finds its credentials in its own environment, as the storage client
    does. Only the process that opened the job commits or aborts it.

    >>> table = targets.DirectoryTarget("s3://bucket/table/")    # doctest: +SKIP
    >>> with table.job() as job:                                  # aborts on an exception
    ...     records = [run_task(job, i) for i in range(8)]        # on the workers
    ...     job.commit(records)
    """

    def __init__(self, target: DirectoryTarget) -> None:
        self.target = target
        self._writer: JobWriter | None = target.fs.job(
            target.path,
            if_exists=target.if_exists,
            guarantee=target.guarantee,
            durable=target.durable,
            checksums=target.checksums,
        )
        self.token = self._writer.token
        self._spec = self._writer.spec()
        self._pickled: bytes | None = None

    @property
    def url(self) -> str:
        return self.target.url

    @property
    def state(self) -> WriterState:
        """``PENDING`` until committed or aborted (a copy of the job on a worker: always
        ``PENDING``; the driver's job knows)."""
        return WriterState.PENDING if self._writer is None else self._writer.state

    def task(self, task_id: TaskId, attempt: int = 0) -> TaskWriter:
        """Open attempt ``attempt`` of task ``task_id`` (an int or a str), in any process.

        Use it in a ``with`` block: a clean exit ends the attempt and keeps its record in
        ``t.record``; an exception discards what it wrote. Attempts of one task may run at
        once (retries, speculative duplicates): `commit` publishes the first record given
        for each task id and discards the others.
        """
        check_task_id(task_id)
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
            raise InvalidTarget(f"an attempt number is an int >= 0, not {attempt!r}", self.url)
        if self._writer is not None:
            return self._writer.task(task_id, attempt)
        return self.target.fs.job_task(self.target.path, self._spec, task_id, attempt)

    def commit(self, records: Iterable[TaskRecord]) -> dict[str, Any]:
        """Publish one attempt per task id (the first record given for it), then
        ``_SUCCESS``; discard every other attempt, reported or not. Returns the manifest.

        Raises `CommitError` (two tasks wrote one name, a task's files are gone...) and
        leaves the output absent: a failed commit ends the job as `abort` does.
        """
        return self._driver("commit").commit(records)

    def abort(self) -> None:
        """Discard every attempt and release the output, which stays absent."""
        self._driver("abort").abort()

    def _driver(self, action: str) -> JobWriter:
        if self._writer is None:
            raise InvalidTarget(
                f"cannot {action} the job {self.token} of {self.url} here: this is a copy of "
                "the job (unpickled on a worker); only the process that opened it with "
                "DirectoryTarget.job() can commit or abort it",
                self.url,
            )
        return self._writer

    def __enter__(self) -> Job:
        self._driver("enter")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Abort unless committed: on an exception, and on a clean exit without a commit."""
        if self._writer is not None:
            self._writer.abort()

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # Pickled once per job, and unpickled once per job in each process: an engine sends
        # the job with every task, and a worker then reuses the copy it made first.
        if self._pickled is None:
            state = {"target": self.target, "token": self.token, "spec": self._spec}
            self._pickled = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        return _copy_of_job, (self._pickled,)

    def __repr__(self) -> str:
        where = "driver" if self._writer is not None else "copy"
        return f"<Job {self.url!r} token={self.token} {self.state.value} ({where})>"


@functools.lru_cache(maxsize=16)
def _copy_of_job(pickled: bytes) -> Job:
    """The worker's copy of the job ``pickled`` describes (one per job in each process)."""
    state = pickle.loads(pickled)
    job = Job.__new__(Job)
    job.target = state["target"]
    job.token = state["token"]
    job._spec = state["spec"]
    job._writer = None
    job._pickled = pickled
    return job
