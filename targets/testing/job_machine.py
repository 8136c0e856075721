"""A Hypothesis state machine for jobs: many task attempts, one commit.

`JobMachine` opens a job on one directory output of a `World`, starts task attempts
(duplicates of one task among them), lets them write, end cleanly, fail, or be abandoned
as by a killed worker, and commits the records it chooses in the order it chooses, or
aborts. Between those steps it runs a second job, ``recover`` and ``cleanup`` against the
live job, crashes the driver at a chosen store call of its commit, and lets ``recover``
settle the dead job. After every step it checks what a reader sees:

- G1/G5: until a commit returns, the output does not exist; on stores that publish a
  directory in one rename, nothing is at its path; elsewhere, nothing unhidden is there
  while the job is open.
- Jobs: a committed output holds exactly the files of the first record given for each
  task id (no other attempt's bytes, no file of an unreported attempt); two chosen
  attempts writing one name fail the commit, which leaves the output absent. A driver
  that crashed during its commit leaves the output absent or, if its commit got through,
  exactly what the records it gave commit.

Duplicate records of one task are the case a job commit exists for, so the machine makes
them likely: a finished attempt may be followed by a second attempt of its task that
writes its own bytes under its names (or other names of the task) and reports too, and a
commit is as often given every record the driver got as a chosen subset of them.
- G8: right after a commit or an abort, no temporary, no staging of any attempt and no
  pending upload is left, reported or not.
- G10: a live job is never rolled back or cleaned up; ``recover`` and ``cleanup`` run
  against it change nothing its commit needs, and a second job is refused (never taken
  for an interrupted one).

Subclass it with a `world_factory`, as `TargetsMachine`::

    class PosixJobs(JobMachine):
        world_factory = PosixWorld

    TestPosixJobs = PosixJobs.TestCase
"""

from __future__ import annotations

import dataclasses
import posixpath
from datetime import timedelta
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from targets.errors import CommitError, IncompleteCommit, TargetError, TargetExistsError
from targets.fs.base import WriterState
from targets.fs.job import TaskRecord, TaskWriter
from targets.testing.faults import Call, Policy
from targets.testing.machine import GuaranteeViolation
from targets.testing.scheduler import Crashed, _sequential_publish
from targets.testing.worlds import CRASH, World, WorldFactory

__all__ = ["JobMachine"]

OUTPUT = "job/"
TASKS = (0, 1, "two")
NAMES = ("a", "b", "shared", "nested", "clash")
"""File names an attempt writes: ``a`` and ``b`` are its task's own (two attempts of one task
share them), ``shared`` is one name every task may write (a collision when two chosen
attempts of different tasks both do), ``nested`` its task's own name in a directory every
task writes into, and ``clash`` its task's own name in a directory named like ``shared``
(a collision with any chosen ``shared``)."""


class _Crash(Policy):
    """Lets calls through, or, once armed, crashes the caller at its ``after``-th call and
    at every call after it (a dead process makes no more calls)."""

    def __init__(self) -> None:
        self.countdown: int | None = None

    def decide(self, call: Call) -> Call | None:
        if self.countdown is not None:
            if self.countdown <= 0:
                raise Crashed(f"the driver crashed before {call.op}")
            self.countdown -= 1
        return None


@dataclasses.dataclass(eq=False)
class Attempt:
    number: int
    task: Any
    job: int
    """Which of the run's jobs it belongs to."""
    writer: TaskWriter
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    state: str = "open"
    """``open`` (writing, or abandoned by a killed worker), ``done`` (its record is
    reported), ``failed`` (its block raised) or ``late`` (written after the job ended)."""

    def __repr__(self) -> str:
        return f"attempt{self.number}(task={self.task!r})"

    @property
    def record(self) -> TaskRecord:
        return self.writer.record


def _name(task: Any, name: str) -> str:
    if name == "nested":
        return f"dir/t{task}.bin"
    if name == "clash":
        return f"shared.bin/t{task}.bin"
    return "shared.bin" if name == "shared" else f"t{task}-{name}.bin"


class JobMachine(RuleBasedStateMachine):
    """See the module doc. Subclasses set `world_factory`."""

    world_factory: ClassVar[WorldFactory]
    attempts = Bundle("attempts")

    def __init__(self) -> None:
        super().__init__()
        self.policy = _Crash()
        self.world: World = type(self).world_factory(self.policy)
        self._restore = _sequential_publish()
        self.job: Any = None
        self.jobs = 0
        self.state = "none"
        """``none``, ``open``, ``committed``, ``ended`` (aborted or failed), ``dead``
        (the driver crashed during its commit; nothing settled it yet)."""
        self.expected: dict[str, bytes] | None = None
        self.if_crash_committed: dict[str, bytes] | None = None
        self.all: list[Attempt] = []
        self.stale: set[str] = set()
        """What earlier, dead jobs left when this job was opened."""

    def teardown(self) -> None:
        try:
            for a in self.all:
                if a.writer.state is WriterState.PENDING:
                    a.writer.discard()
            if self.job is not None and self.state == "open":
                self.job.abort()
        except (TargetError, Crashed):
            pass
        finally:
            self._restore()
            self.world.close()

    def _target(self) -> Any:
        return self.world.target(OUTPUT)

    # -- the job ---------------------------------------------------------------------------

    @precondition(lambda self: self.state in ("none", "ended", "committed"))
    @rule()
    def open_job(self) -> None:
        """The driver opens a job: it claims the output, unless it is committed."""
        try:
            job = self._target().job()
        except TargetExistsError:
            if self.state != "committed":
                raise GuaranteeViolation("G3", "a job was refused on an absent output") from None
            return
        if self.state == "committed":
            job.abort()
            raise GuaranteeViolation("G3", "a job claimed an output that is committed")
        self.job, self.state = job, "open"
        self.jobs += 1
        self.stale = self._temporaries()

    @precondition(lambda self: self.state == "open")
    @rule(
        target=attempts,
        task=st.sampled_from(TASKS),
        names=st.lists(st.sampled_from(NAMES), unique=True, max_size=2),
        big=st.booleans(),
    )
    def start_attempt(self, task: Any, names: list[str], big: bool) -> Attempt:
        """A worker starts an attempt of ``task`` (a retry or a speculative duplicate when
        one was started before) and writes ``names``."""
        return self._start(task, [_name(task, name) for name in names], big)

    def _start(self, task: Any, files: list[str], big: bool) -> Attempt:
        n = sum(a.task == task for a in self.all)
        attempt = Attempt(len(self.all), task, self.jobs, self.job.task(task, attempt=n))
        self.all.append(attempt)
        for file in files:
            self._write_file(attempt, file, big)
        return attempt

    @precondition(lambda self: self.state == "open")
    @rule(
        target=attempts,
        task=st.sampled_from(TASKS),
        names=st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=2),
        big=st.booleans(),
    )
    def run_attempt(self, task: Any, names: list[str], big: bool) -> Attempt:
        """A worker runs an attempt of ``task`` from its start to its end: it writes
        ``names`` and reports its record."""
        attempt = self._start(task, [_name(task, name) for name in names], big)
        self.end_attempt(attempt, "report")
        return attempt

    @precondition(lambda self: self._reported())
    @rule(
        target=attempts,
        data=st.data(),
        names=st.one_of(st.none(), st.lists(st.sampled_from(NAMES[:2]), unique=True, max_size=2)),
    )
    def duplicate_attempt(self, data: st.DataObject, names: list[str] | None) -> Attempt:
        """A retry or speculative duplicate of a task that already reported runs to its end
        and reports as well: it writes the same names as the first attempt (``names`` None),
        or other names of its task, each with its own bytes."""
        first = data.draw(st.sampled_from(self._reported()), label="duplicate of")
        files = sorted(first.files) if names is None else [_name(first.task, n) for n in names]
        big = any(len(data) > 64 for data in first.files.values())
        attempt = self._start(first.task, files, big)
        self.end_attempt(attempt, "report")
        return attempt

    def _live(self, attempt: Attempt) -> bool:
        return self.state == "open" and attempt.job == self.jobs

    @rule(attempt=attempts, name=st.sampled_from(NAMES), big=st.booleans())
    def write(self, attempt: Attempt, name: str, big: bool) -> None:
        """The attempt writes one whole file (``big``: several parts of the store). After
        its job ended it is a straggler: its write may fail, never show."""
        self._write_file(attempt, _name(attempt.task, name), big)

    def _write_file(self, attempt: Attempt, file: str, big: bool) -> None:
        if attempt.state != "open" or file in attempt.files:
            return
        data = f"{attempt.number}:{file};".encode() * (64 if big else 1)
        try:
            with attempt.writer.open(file, "wb") as f:
                f.write(data)
        except TargetError:
            if self._live(attempt):
                raise
            attempt.state = "late"
            return
        attempt.files[file] = data

    @rule(attempt=attempts, how=st.sampled_from(("report", "report", "fail", "abandon")))
    def end_attempt(self, attempt: Attempt, how: str) -> None:
        """The attempt ends: cleanly (its record goes to the driver), with an exception
        (it discards its files at once), or never (a killed worker: abandoned)."""
        if attempt.state != "open" or how == "abandon":
            return
        if how == "fail":
            attempt.writer.discard()
            attempt.state = "failed"
            return
        live = self._live(attempt)
        try:
            attempt.writer.commit()
        except TargetError:
            if live:
                raise
            attempt.state = "late"
            return
        attempt.state = "done" if live else "late"

    def _reported(self) -> list[Attempt]:
        """The records the driver of the open job has got (none once it ended)."""
        if self.state != "open":
            return []
        return [a for a in self.all if a.state == "done" and a.job == self.jobs]

    @precondition(lambda self: self.state == "open" and self._reported())
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        """The driver commits the records it got, in the order it got them: some may be
        missing (never reported), duplicates of one task among them."""
        given = self._choose(data)
        outcome = self._expected(given)
        try:
            manifest = self.job.commit([a.record for a in given])
        except CommitError as exc:
            if outcome is not None:
                raise GuaranteeViolation("jobs", f"a valid job commit failed: {exc}") from exc
            self.state = "ended"
        else:
            if outcome is None:
                raise GuaranteeViolation("jobs", "two tasks wrote one name, and it committed")
            self.state, self.expected = "committed", outcome
            names = sorted(f["name"] for f in manifest["files"])
            if names != sorted(outcome):
                raise GuaranteeViolation("jobs", f"manifest lists {names}, not {sorted(outcome)}")
        self.job_left_nothing()

    def _choose(self, data: st.DataObject) -> list[Attempt]:
        reported = self._reported()
        order = data.draw(st.permutations(reported), label="order")
        some = st.lists(st.booleans(), min_size=len(order), max_size=len(order))
        keep = data.draw(st.one_of(st.none(), some), label="kept (None: every record)")
        given = order if keep is None else [a for a, k in zip(order, keep, strict=True) if k]
        note(f"records given: {given}")
        return given

    @staticmethod
    def _expected(given: list[Attempt]) -> dict[str, bytes] | None:
        """The output the records ``given`` commit, or None if two chosen attempts wrote
        one name, or a chosen file is named like another one's directory."""
        chosen: dict[Any, Attempt] = {}
        for a in given:
            chosen.setdefault((type(a.task), a.task), a)
        out: dict[str, bytes] = {}
        for a in chosen.values():
            for name, data in a.files.items():
                if name in out:
                    return None
                out[name] = data
        if any(posixpath.dirname(name) in out for name in out):
            return None
        return out

    @precondition(lambda self: self.state == "open" and self.all and self.all[-1].job == self.jobs)
    @rule()
    def abort(self) -> None:
        self.job.abort()
        self.state = "ended"
        self.job_left_nothing()

    @precondition(
        lambda self: self.state == "open" and CRASH in self.world.faults and self._reported()
    )
    @rule(data=st.data(), after=st.integers(0, 12))
    def crash_during_commit(self, data: st.DataObject, after: int) -> None:
        """The driver's process dies at its ``after``-th store call of the commit."""
        given = self._choose(data)
        self.if_crash_committed = self._expected(given)
        self.policy.countdown = after
        try:
            self.job.commit([a.record for a in given])
        except Crashed:
            self.state = "dead"
        except CommitError:
            self.state = "ended"  # it failed (a collision) before the crash point
        else:
            self.state, self.expected = "committed", self.if_crash_committed
        finally:
            self.policy.countdown = None

    @precondition(lambda self: self.state == "dead")
    @rule()
    def recover_dead_job(self) -> None:
        """The dead driver's lease runs out; ``recover`` settles its job, forward or back."""
        if self.world.leases:
            self.world.advance(self.world.lease_period + 1)
        note(f"recover: {self.world.recover(OUTPUT, dead=True)}")
        if self._target().exists():
            if self.if_crash_committed is None:
                raise GuaranteeViolation("jobs", "recover committed a job that had a collision")
            self.state, self.expected = "committed", self.if_crash_committed
        else:
            self.state = "ended"

    @precondition(lambda self: self.state == "committed")
    @rule()
    def remove_output(self) -> None:
        """The committed output is removed, so that another job can write it."""
        self._target().remove()
        self.state, self.expected = "none", None

    # -- others, against the live job ---------------------------------------------------------

    @precondition(lambda self: self._reported())
    @rule()
    def second_job(self) -> None:
        """Another driver opens a job on the same output: refused, as live, at once."""
        try:
            other = self._target().job()
        except IncompleteCommit as exc:
            raise GuaranteeViolation("G10", f"a live job was taken for a dead one: {exc}") from exc
        except TargetExistsError:
            return
        other.abort()
        raise GuaranteeViolation("G3", "a second job claimed an output a live job holds")

    @precondition(lambda self: self._reported())
    @rule(force_cleanup=st.booleans())
    def maintain_live_job(self, force_cleanup: bool) -> None:
        """``recover`` (refused) and ``cleanup`` of everything older than 0 s run against
        the live job: its commit must still publish exactly what its records say."""
        try:
            note(f"recover of the live job: {self.world.recover(OUTPUT)}")
        except TargetError as exc:
            note(f"recover refused: {exc}")
        if force_cleanup:
            self.world.cleanup(OUTPUT, timedelta(0))

    @precondition(lambda self: self.state in ("committed", "ended"))
    @rule()
    def cleanup(self) -> None:
        """With the job over and its leases run out, a cleanup leaves nothing, not even what
        a straggler attempt wrote after its job ended."""
        if self.world.leases:
            self.world.advance(self.world.lease_period + 1)
        note(f"cleanup: {self.world.cleanup(OUTPUT, timedelta(0), dead=True)}")
        left = self.world.leftovers()
        if left:
            raise GuaranteeViolation("G8", f"left after a job and a cleanup: {left}")

    # -- what a reader sees ------------------------------------------------------------------

    def _temporaries(self) -> set[str]:
        return set(self.world.leftovers()) | {
            n
            for n in self.world.names()
            if n.startswith(OUTPUT)
            and n[len(OUTPUT) :].split("/")[0][:1] in "._"
            and n[len(OUTPUT) :] not in self.world.marker_files
        }

    def job_left_nothing(self) -> None:
        """Nothing of the job that just ended is left. What an earlier job left when its
        driver died (a crash during the abort of a failed commit leaves its staging on the
        rename family, unclaimed) is `cleanup`'s to remove, and that rule checks it; so is
        what a straggler of that job wrote into that staging afterwards."""
        dead_dirs = {n.split("/")[0] for n in self.stale if ".targets-job-" in n.split("/")[0]}
        left = {n for n in self._temporaries() - self.stale if n.split("/")[0] not in dead_dirs}
        if left:
            raise GuaranteeViolation("G8", f"left by the job after it ended: {sorted(left)}")

    def invariant_output(self) -> None:
        target = self._target()
        exists = target.exists()
        if self.state == "committed":
            assert self.expected is not None
            if not exists:
                raise GuaranteeViolation("G3", "a committed job's output is gone")
            self._holds(target, self.expected)
            return
        if exists and self.state == "dead":
            # The driver died after its commit published: the output is that commit's, whole.
            if self.if_crash_committed is None:
                raise GuaranteeViolation("jobs", "a commit with a collision published")
            self._holds(target, self.if_crash_committed)
            return
        if exists:
            raise GuaranteeViolation("G1", f"the output exists while the job is {self.state}")
        if self.state == "open" or self.world.atomic_directories:
            shown = [
                n
                for n in self.world.names()
                if n.startswith(OUTPUT)
                and not any(s[:1] in "._" for s in n[len(OUTPUT) :].split("/"))
            ]
            if shown and not (self.state == "dead" and not self.world.atomic_directories):
                raise GuaranteeViolation("G1", f"visible before the commit: {shown}")

    def _holds(self, target: Any, expected: dict[str, bytes]) -> None:
        """The committed output lists exactly ``expected``, each file with its bytes, and
        holds nothing else: no other visible file, no directory no expected file needs."""
        files = target.files()
        if sorted(files) != sorted(expected):
            raise GuaranteeViolation("jobs", f"output holds {files}, not {sorted(expected)}")
        for name in files:
            with target.open(name) as f:
                if f.read() != expected[name]:
                    raise GuaranteeViolation("jobs", f"{name} is not the chosen attempt's")
        there = [n[len(OUTPUT) :] for n in self.world.names() if n.startswith(OUTPUT)]
        extra = [n for n in there if n not in expected and n.split("/")[-1][:1] not in "._"]
        needed = {posixpath.dirname(n) for n in expected}
        dirs = {d.rstrip("/")[len(OUTPUT) :] for d in self.world.dirs() if d.startswith(OUTPUT)}
        extra += sorted(d + "/" for d in dirs - needed if d and d[:1] not in "._")
        if extra:
            raise GuaranteeViolation("jobs", f"the output also holds {extra}")

    @invariant()
    def output_is_whole(self) -> None:
        self.invariant_output()
