"""Many workers, one commit: the job and task writers every backend family implements.

A *job* writes one directory output from many processes. The driver opens it with
`AtomicFS.job`, which claims the output at once (`TargetExistsError` if it is committed or
claimed by a live writer) and holds the claim by a lease while the job is open. Any process
then opens *task attempts* with `JobWriter.task` (in the driver) or `AtomicFS.job_task` (a
worker, from the job's small, JSON-able `JobWriter.state`). An attempt writes invisibly, like
a `DirectoryWriter`: by name with `TaskWriter.open`, or by path under ``TaskWriter.path``
through ``TaskWriter.filesystem``. Its clean end yields a `TaskRecord`, small and picklable,
that the engine returns to the driver. `JobWriter.commit` publishes one attempt per task id,
the first record given for it, discards every other attempt (reported or not), and writes
``_SUCCESS`` last. `JobWriter.abort` leaves the output absent.

Guarantees
----------
- Before `JobWriter.commit` returns, nothing of any attempt is visible at the output: no
  ``_SUCCESS``, and no file or object whose path has no hidden segment (one starting with
  ``.`` or ``_``) under it.
- After `JobWriter.commit`: the chosen attempts' files and ``_SUCCESS`` (plus, on object
  stores, the claim object) and nothing else of the job: no lease, record, staging or
  pending upload that the job can find. A straggler attempt still running after the commit
  writes nothing visible; what it leaves is removed by ``targets cleanup``.
- After `JobWriter.abort`, a failed commit, or an error inside ``with fs.job(...)``: nothing
  of the job is left, and a new job can claim the output.
- Two chosen attempts writing one name: `CommitError` naming it, and the job is aborted.
- A `TaskRecord` stays under `MAX_RECORD_BYTES` whatever the attempt wrote: what does not
  fit is kept in the store beside the attempt's files, and the record names it.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from targets.errors import CommitError, InvalidTarget
from targets.fs.base import DirectoryWriter, PartRecord, WriterState, _Lifecycle

__all__ = [
    "MAX_RECORD_BYTES",
    "RECORD_FORMAT",
    "JobWriter",
    "TaskId",
    "TaskRecord",
    "TaskWriter",
    "check_no_collision",
    "check_task_id",
    "choose_attempts",
    "task_label",
]

TaskId = int | str
"""A task's id: an int (a partition number) or a string (a key the engine chose)."""

MAX_RECORD_BYTES = 1024 * 1024
"""The most a pickled or JSON `TaskRecord` takes, whatever its attempt wrote."""

RECORD_FORMAT = "targets-task"
RECORD_VERSION = 1

_LABEL_SAFE = re.compile(r"[^A-Za-z0-9_.=-]")


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    """What one finished task attempt wrote, for `JobWriter.commit`.

    Picklable and small (under `MAX_RECORD_BYTES`); it holds no credential. ``files`` are
    the attempt's files; when they would not fit, ``files`` is empty and ``spilled`` names
    the object or file (beside the attempt's data) that lists them. ``handle`` is what the
    backend needs to publish the attempt (its staging directory, for instance).
    """

    job: str
    """The token of the job the attempt belongs to."""
    task_id: TaskId
    attempt: int
    attempt_token: str
    """Unique per attempt: two attempts of one task never share it."""
    files: tuple[PartRecord, ...] = ()
    spilled: str | None = None
    handle: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, ...]:
        # By position: the engine pickles one record per task, on the tasks' critical path.
        fields = (self.job, self.task_id, self.attempt, self.attempt_token, self.files)
        return (TaskRecord, (*fields, self.spilled, self.handle))

    def to_json(self) -> dict[str, Any]:
        """The record as the versioned JSON document of docs/protocols.md."""
        return {
            "format": RECORD_FORMAT,
            "version": RECORD_VERSION,
            "job": self.job,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "attempt_token": self.attempt_token,
            "files": [_part_json(p) for p in self.files],
            "spilled": self.spilled,
            "handle": dict(self.handle),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TaskRecord:
        """The record a `to_json` document describes; `InvalidTarget` if it is not one."""
        if doc.get("format") != RECORD_FORMAT or doc.get("version") != RECORD_VERSION:
            raise InvalidTarget(
                f"not a task record of version {RECORD_VERSION}: "
                f"format={doc.get('format')!r} version={doc.get('version')!r}"
            )
        try:
            return cls(
                job=str(doc["job"]),
                task_id=check_task_id(doc["task_id"]),
                attempt=int(doc["attempt"]),
                attempt_token=str(doc["attempt_token"]),
                files=tuple(
                    PartRecord(f["name"], int(f["size"]), f.get("sha256"), f.get("handle", {}))
                    for f in doc["files"]
                ),
                spilled=doc.get("spilled"),
                handle=dict(doc.get("handle") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidTarget(f"malformed task record ({exc!r})") from None

    def encoded_size(self) -> int:
        return len(json.dumps(self.to_json(), separators=(",", ":")))


def _part_json(part: PartRecord) -> dict[str, Any]:
    entry = part.manifest_entry()
    if part.handle:
        entry["handle"] = dict(part.handle)
    return entry


def check_task_id(task_id: Any) -> TaskId:
    """``task_id`` if it is a task id (an int, or a non-empty string); else `InvalidTarget`."""
    if isinstance(task_id, bool) or not isinstance(task_id, (int, str)) or task_id == "":
        raise InvalidTarget(f"a task id is an int or a non-empty str, not {task_id!r}")
    return task_id


def task_label(task_id: TaskId, attempt: int, attempt_token: str) -> str:
    """A name for one attempt's staging, unique per attempt and safe on every backend:
    ``<kind><id>-<attempt>-<token>``, the id reduced to ``[A-Za-z0-9_.=-]``, at most 64
    characters of it (the token keeps labels unique whatever the reduction merged)."""
    kind = "i" if isinstance(task_id, int) else "s"
    text = _LABEL_SAFE.sub("_", str(task_id))[:64]
    return f"{kind}{text}-{attempt}-{attempt_token}"


def choose_attempts(
    records: Iterable[TaskRecord], job: str, url: str
) -> tuple[list[TaskRecord], list[TaskRecord]]:
    """``(chosen, others)``: the first record given for each task id, in order, and every
    later one. A record of another job is `InvalidTarget` (nothing published)."""
    chosen: dict[tuple[type, TaskId], TaskRecord] = {}
    others: list[TaskRecord] = []
    for record in records:
        if not isinstance(record, TaskRecord):
            raise InvalidTarget(f"job commit of {url}: not a TaskRecord: {record!r}", url)
        if record.job != job:
            raise InvalidTarget(
                f"job commit of {url}: the record of task {record.task_id!r} belongs to job "
                f"{record.job}, not to this job ({job}); pass only this job's records",
                url,
            )
        key = (type(record.task_id), record.task_id)
        if key in chosen:
            others.append(record)
        else:
            chosen[key] = record
    return list(chosen.values()), others


def check_no_collision(named: Iterable[tuple[str, TaskRecord]], url: str) -> None:
    """`CommitError` naming the first file name that two chosen attempts both wrote, or a
    file name that another chosen file needs as a directory (``a`` and ``a/b``)."""
    seen: dict[str, TaskRecord] = {}
    for name, record in named:
        first = seen.setdefault(name, record)
        if first is not record:
            raise CommitError(
                f"job commit of {url}: tasks {first.task_id!r} and {record.task_id!r} both "
                f"wrote {name!r}; nothing was published and the job was aborted. Give each "
                "task its own file names (include the task id in them)",
                url,
            )
    for name, record in seen.items():
        parent = name
        while "/" in parent:
            parent = parent.rsplit("/", 1)[0]
            holder = seen.get(parent)
            if holder is not None:
                raise CommitError(
                    f"job commit of {url}: task {holder.task_id!r} wrote the file "
                    f"{parent!r} and task {record.task_id!r} wrote {name!r} under a directory "
                    "of that name; nothing was published and the job was aborted. Rename "
                    "one of them",
                    url,
                )


class TaskWriter(DirectoryWriter):
    """One attempt of one task of a job: writes invisibly, like a `DirectoryWriter`.

    `commit` (a clean ``with`` exit) ends the attempt and returns its `TaskRecord`, also kept
    as ``record``; nothing is published until the job commits a record. `discard` (an
    exception in the ``with`` block) removes what the attempt wrote right then.
    """

    _what = "task attempt"
    task_id: TaskId
    attempt: int
    attempt_token: str
    job_token: str

    @property
    def record(self) -> TaskRecord:
        """The attempt's record, once it ended cleanly."""
        record: TaskRecord | None = getattr(self, "_task_record", None)
        if record is None:
            raise InvalidTarget(
                f"task {self.task_id!r} (attempt {self.attempt}) of {self._log_path()} has "
                f"no record: it is {self.state.value}; a record exists once the task's "
                "`with` block ended cleanly",
                self._log_path(),
            )
        return record

    def commit(self) -> TaskRecord:  # type: ignore[override]
        """End the attempt; return its `TaskRecord` (nothing is published yet)."""
        record: TaskRecord = _Lifecycle.commit(self)
        self._task_record = record
        return record

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} task={self.task_id!r} attempt={self.attempt} "
            f"{self._log_path()!r} {self.state.value}>"
        )


class JobWriter(abc.ABC):
    """The driver's side of a job: opens task attempts, commits or aborts the job.

    Opened by `AtomicFS.job`, which has claimed the output and holds the claim by a lease
    until `commit` or `abort` ends the job. ``with job:`` aborts the job on an exception,
    and on a clean exit if it was neither committed nor aborted.
    """

    _what: ClassVar[str] = "job"
    path: str
    """The output's backend path."""
    token: str
    """The job's token: every attempt's records and files carry it."""
    _state: WriterState = WriterState.PENDING

    @property
    def state(self) -> WriterState:
        return self._state

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """What a worker needs to open attempts of this job (`AtomicFS.job_task`): small,
        JSON-able, and without credentials."""

    @abc.abstractmethod
    def task(self, task_id: TaskId, attempt: int = 0) -> TaskWriter:
        """Open attempt ``attempt`` of task ``task_id``; its staging is writable at once."""

    def commit(self, records: Iterable[TaskRecord]) -> dict[str, Any]:
        """Publish the first record of each task id and ``_SUCCESS``; discard every other
        attempt; return the manifest. A failure aborts the job (the output stays absent)
        and raises `CommitError` (or the error that says why, a `TargetError`)."""
        self._require_pending("commit")
        records = list(records)
        try:
            manifest = self._commit(records)
        except BaseException:
            self._state = WriterState.DISCARDED
            self._abort_after_failure()
            raise
        self._state = WriterState.COMMITTED
        return manifest

    def abort(self) -> None:
        """Discard every attempt and release the claim: the output stays absent. Safe to call
        twice, and after a commit (then it does nothing)."""
        if self._state is WriterState.PENDING:
            self._state = WriterState.DISCARDED
            self._abort()

    def _abort_after_failure(self) -> None:
        self._abort()

    def _require_pending(self, action: str) -> None:
        if self._state is not WriterState.PENDING:
            raise InvalidTarget(
                f"cannot {action}: the job for {self.path} is already {self._state.value}; "
                "open a new job to write the output again",
                self.path,
            )

    @abc.abstractmethod
    def _commit(self, records: Sequence[TaskRecord]) -> dict[str, Any]: ...

    @abc.abstractmethod
    def _abort(self) -> None: ...

    def __enter__(self) -> JobWriter:
        self._require_pending("enter")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.abort()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} job={self.token} {self._state.value}>"
