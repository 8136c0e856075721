"""A Hypothesis state machine that searches for interleavings that break G1-G8.

`TargetsMachine` starts writers on one file output and one directory output of a `World`
(a store whose seam is intercepted by a `Scheduler`), lets them write, commit and abort
through the public API, and between any two of their store calls lets another writer take
a step, crashes one, loses or duplicates a response, reads the outputs, removes them, runs
``cleanup`` and ``recover``. After every step it checks what a reader would see:

- G1/G5: an output that exists is exactly one writer's complete content, and that writer
  had started committing; no writer's bytes are visible before it commits (for stores that
  publish a directory in one rename, nothing is at an uncommitted directory's path).
- G2: a directory output holds its writer's files and the protocol's markers, nothing
  else (no nested output, no temporary).
- G3/G8: a writer whose commit returned keeps its output until the test removes it or an
  overwrite replaces it; a writer that got `TargetExistsError` never has its content
  visible; nothing committed is deleted by another writer, a crash, or a cleanup.
- G7: a writer whose calls were only retried (never failed) gets a clear answer: it
  never reports a conflict while its own output is the one committed.
- G8: after a cleanup with no writer alive, no temporary and no pending upload remains.
- G9 (worlds with power loss): a committed output survives a power loss.
- G10 (worlds with `World.leases`): time passes past the writers' lease while they are
  paused between two calls, and ``recover`` and ``cleanup`` run meanwhile; committed
  outputs are untouched, and a committed output is still exactly one writer's files: a
  writer whose claim was taken over raises `CommitError` and publishes no ``_SUCCESS``.

Use it for a store of your own, or another commit strategy, by subclassing::

    from targets.testing.machine import TargetsMachine
    from targets.testing.worlds import PosixWorld

    class PosixMachine(TargetsMachine):
        world_factory = PosixWorld

    TestPosix = PosixMachine.TestCase    # collected by pytest / unittest

A violated guarantee raises `GuaranteeViolation` naming it; Hypothesis then shrinks the run
and prints it as a program that replays it. `targets.testing.differential` runs the same
rules on two worlds at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import timedelta
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

import targets
from targets.errors import (
    CommitError,
    IncompleteCommit,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs._names import SUCCESS
from targets.testing.faults import LOSE, RETRY
from targets.testing.scheduler import Actor, Crashed, Scheduler
from targets.testing.strategies import LibraryStrategy, Strategy, WriterHandle
from targets.testing.worlds import CRASH, POWER_LOSS, World, WorldFactory

__all__ = [
    "GuaranteeViolation",
    "LibraryStrategy",
    "Strategy",
    "TargetsMachine",
    "WriterHandle",
]

FILE = "out.bin"
TABLE = "table/"
OUTPUTS = (FILE, TABLE)
PART_NAMES = ("part-0", "part-1")
MAX_WRITERS = 4


class GuaranteeViolation(AssertionError):
    """A guarantee of DESIGN.md does not hold; ``guarantee`` names it (``"G3"``)."""

    def __init__(self, guarantee: str, message: str) -> None:
        super().__init__(f"{guarantee} violated: {message}")
        self.guarantee = guarantee


# -- how writers write: the library, or a deliberately broken strategy -----------------------


# -- what the machine knows about each writer ------------------------------------------------


@dataclasses.dataclass(eq=False)
class Writer:
    """A writer as the machine tracks it (the oracle's side)."""

    number: int
    output: str
    if_exists: str
    actor: Actor
    handle: WriterHandle | None = None
    chunks: list[bytes] = dataclasses.field(default_factory=list)
    parts: dict[str, bytes] = dataclasses.field(default_factory=dict)
    state: str = "opening"
    """opening, open, committing, committed, lost, failed, aborted, crashed"""
    command: str | None = "open"
    commit_started: bool = False
    faults: list[str] = dataclasses.field(default_factory=list)
    error: BaseException | None = None
    handle_token: str | None = None
    fenceable: bool = False
    """Its lease ran out while recover or cleanup could act: `CommitError` is an answer."""

    def __repr__(self) -> str:
        return f"w{self.number}"

    @property
    def directory(self) -> bool:
        return self.output.endswith("/")

    @property
    def content(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def alive(self) -> bool:
        return self.state not in ("committed", "lost", "failed", "aborted", "crashed")


def _chunk(writer: int, index: int, big: bool) -> bytes:
    unit = f"<w{writer}.{index}>".encode()
    return unit * (40 if big else 2)


class TargetsMachine(RuleBasedStateMachine):
    """See the module doc. Subclasses set `world_factory` (and optionally `strategy`)."""

    world_factory: ClassVar[WorldFactory]
    strategy: ClassVar[Strategy] = LibraryStrategy()
    if_exists_modes: ClassVar[tuple[str, ...]] = ("error", "overwrite")
    """The ``if_exists`` modes writers may use (others drawn are mapped to the first)."""
    faults: ClassVar[frozenset[str] | None] = None
    """The faults to inject (None: every fault the world offers)."""

    writers = Bundle("writers")

    def __init__(self) -> None:
        super().__init__()
        self.scheduler = Scheduler()
        self.world: World = type(self).world_factory(self.scheduler)
        offered = self.world.faults
        self.enabled = offered if self.faults is None else offered & self.faults
        self.power_lost_after: set[Writer] = set()
        self.all: list[Writer] = []
        self.protected: dict[str, Writer | None] = dict.fromkeys(OUTPUTS)
        self.overwriting: dict[str, set[Writer]] = {o: set() for o in OUTPUTS}
        self.readers: list[tuple[Actor, str]] = []
        self.powered_off = False

    def teardown(self) -> None:
        try:
            self.scheduler.close()
        finally:
            self.world.close()

    # -- rules: writers ----------------------------------------------------------------------

    @initialize(target=writers, output=st.sampled_from(OUTPUTS))
    def start_two_writers(self, output: str) -> Any:
        """Every run starts with two writers on one output, so that they collide."""
        return multiple(self._start(output, "error"), self._start(output, "error"))

    @precondition(lambda self: sum(w.alive for w in self.all) < MAX_WRITERS)
    @rule(
        target=writers,
        output=st.sampled_from(OUTPUTS),
        if_exists=st.sampled_from(("error", "error", "overwrite")),
    )
    def start_writer(self, output: str, if_exists: str) -> Writer:
        """A writer opens ``output`` (the library checks what is there, and stages)."""
        return self._start(output, if_exists)

    def _start(self, output: str, if_exists: str) -> Writer:
        if if_exists not in self.if_exists_modes:
            if_exists = self.if_exists_modes[0]
        n = len(self.all)
        w = Writer(n, output, if_exists, self.scheduler.actor(f"w{n}"))
        self.all.append(w)
        strategy, world = self.strategy, self.world

        def open_() -> None:
            w.handle = strategy.open(world, output, if_exists)
            w.actor.keep.append(w.handle)

        w.actor.submit(open_)
        self._settle()
        return w

    @precondition(lambda self: any(w.state == "open" and w.actor.idle for w in self.all))
    @rule(writer=writers, part=st.sampled_from(PART_NAMES), big=st.booleans())
    def write(self, writer: Writer, part: str, big: bool) -> None:
        """An open, idle writer writes a chunk (a file output) or a whole file (a directory
        output). A writer in another state ignores this."""
        w = writer
        if w.state != "open" or not w.actor.idle:
            return
        if w.directory and part in w.parts:
            return
        data = _chunk(w.number, len(w.chunks) + len(w.parts), big)
        handle = w.handle
        assert handle is not None
        if w.directory:
            w.parts[part] = data
            w.command = "write"
            w.actor.submit(lambda: handle.write(part, data))
        else:
            w.chunks.append(data)
            w.command = "write"
            w.actor.submit(lambda: handle.write(None, data))
        self._settle()

    @precondition(lambda self: any(w.state == "open" and w.actor.idle for w in self.all))
    @rule(writer=writers, how=st.sampled_from(("commit", "commit", "commit", "abort")))
    def end(self, writer: Writer, how: str) -> None:
        """An open, idle writer starts its commit (it runs until its first store call), or
        discards its output (``how="abort"``)."""
        w = writer
        if w.state != "open" or not w.actor.idle:
            return
        handle = w.handle
        assert handle is not None
        if how == "abort":
            w.command = "abort"
            w.actor.submit(handle.discard)
        else:
            w.state, w.command, w.commit_started = "committing", "commit", True
            if w.if_exists == "overwrite":
                self.overwriting[w.output].add(w)
            w.actor.submit(handle.commit)
        self._settle()

    @precondition(lambda self: any(w.state == "open" and w.actor.idle for w in self.all))
    @rule(output=st.sampled_from(OUTPUTS))
    def commit_all(self, output: str) -> None:
        """Every open, idle writer of ``output`` starts its commit (then they race)."""
        for w in self.all:
            if w.output == output and w.state == "open" and w.actor.idle:
                self.end(w, "commit")

    @precondition(lambda self: any(w.actor.busy for w in self.all))
    @rule(index=st.integers(0, MAX_WRITERS - 1))
    def step(self, index: int) -> None:
        """One busy writer makes its next store call: the ``index``-th busy one (counting
        round), in the order the writers started."""
        busy = [w for w in self.all if w.actor.busy]
        self._step(busy[index % len(busy)])

    @precondition(lambda self: sum(w.actor.busy for w in self.all) > 1)
    @rule()
    def step_each(self) -> None:
        """Every busy writer makes its next store call, in the order they started (the
        lock-step interleaving that check-then-act races need)."""
        for w in [w for w in self.all if w.actor.busy]:
            if w.actor.busy:
                self._step(w)
                self.outputs_are_whole()

    @precondition(lambda self: any(w.actor.busy for w in self.all))
    @rule(writer=writers)
    def finish(self, writer: Writer) -> None:
        """A busy writer runs its current command to the end (others wait)."""
        while writer.actor.busy:
            self._step(writer)
            if writer.actor.busy:
                self.outputs_are_whole()

    def _step(self, w: Writer) -> None:
        """``w`` makes one call; what it did to committed outputs is checked before its
        command's outcome is accounted (a commit that clobbers and returns in one step)."""
        note(f"{w.actor.step()}")
        for output in OUTPUTS:
            self._check_protected(output)
        self._settle()

    @precondition(lambda self: CRASH in self.enabled and any(w.alive for w in self.all))
    @rule(writer=writers)
    def crash(self, writer: Writer) -> None:
        """A live writer's process is killed (between two of its store calls)."""
        w = writer
        if not w.alive or w.actor.dead:
            return
        w.actor.crash()
        self._settle()
        w.state = "crashed"

    @precondition(
        lambda self: bool({LOSE, RETRY} & self.enabled) and any(w.alive for w in self.all)
    )
    @rule(writer=writers, fault=st.sampled_from((LOSE, RETRY)))
    def fault(self, writer: Writer, fault: str) -> None:
        """The response to a live writer's next store call is lost (``"lose"``), or its
        client retries the call after a lost response (``"retry"``)."""
        w = writer
        if not w.alive or fault not in self.enabled:
            return
        w.actor.arm(fault)
        w.faults.append(fault)

    # -- rules: the rest of the world ------------------------------------------------------

    @precondition(lambda self: len(self.readers) < 2)
    @rule(output=st.sampled_from(OUTPUTS))
    def start_reader(self, output: str) -> None:
        """A scheduled reader: ``exists()``, then reads, each call a step."""
        actor = self.scheduler.actor(f"r{len(self.scheduler.actors)}")
        self.readers.append((actor, output))
        actor.submit(lambda: self._read(output))
        self._settle()

    @precondition(lambda self: any(a.busy for a, _ in self.readers))
    @rule(index=st.integers(0, 1))
    def step_reader(self, index: int) -> None:
        """A busy reader makes its next store call."""
        busy = [a for a, _ in self.readers if a.busy]
        if busy:
            busy[index % len(busy)].step()
            self._settle()

    @precondition(lambda self: not self._anyone_busy())
    @rule(output=st.sampled_from(OUTPUTS))
    def remove(self, output: str) -> None:
        """The test removes the output (deliberately; no writer is in a call)."""
        t = self._target(output)
        if t.exists():
            with contextlib.suppress(TargetNotFound):
                t.remove()
            self.protected[output] = None

    @precondition(lambda self: not any(w.alive for w in self.all) and not self._anyone_busy())
    @rule()
    def cleanup(self) -> None:
        """With no writer alive, a cleanup removes every temporary (G8), and nothing else.
        (Where leases are judged by a clock, a lease period passes first: the dead writers'
        leases run out.)"""
        self._let_leases_run_out()
        before = self._snapshot()
        for output in OUTPUTS:
            self.world.cleanup(output, timedelta(0), dead=True)
        left = self.world.leftovers()
        if left:
            raise GuaranteeViolation("G8", f"temporaries left after a cleanup: {left}")
        self._check_untouched(before, "cleanup")

    @precondition(lambda self: not self._anyone_busy())
    @rule()
    def cleanup_recent(self) -> None:
        """A cleanup that only removes what is older than an hour removes nothing now:
        live writers' temporaries and committed outputs stay (G8)."""
        before = self.world.files()
        for output in OUTPUTS:
            self.world.cleanup(output, timedelta(hours=1))
        after = self.world.files()
        if after != before:
            gone = sorted(set(before) - set(after))
            raise GuaranteeViolation("G8", f"a cleanup of recent temporaries removed {gone}")

    @precondition(lambda self: not any(w.alive for w in self.all) and not self._anyone_busy())
    @rule()
    def recover(self) -> None:
        """With no writer alive, ``recover`` finishes or undoes interrupted commits (once
        their leases ran out, where leases are judged by a clock)."""
        self._let_leases_run_out()
        before = self._snapshot()
        for output in OUTPUTS:
            msg = self.world.recover(output, dead=True)
            note(f"recover {output}: {msg}")
        self._check_untouched(before, "recover")

    def _let_leases_run_out(self) -> None:
        if self.world.leases:
            self.world.advance(self.world.lease_period + 1)
            for w in self.all:
                w.fenceable = w.fenceable or w.alive

    @precondition(lambda self: self.world.leases and any(w.alive for w in self.all))
    @rule()
    def time_passes(self) -> None:
        """The live writers pause, each between two of its calls, for longer than their
        lease: nobody renews meanwhile, so their claims and leases are stale (G10)."""
        self._let_leases_run_out()

    @precondition(lambda self: self.world.leases and any(w.alive for w in self.all))
    @rule(
        output=st.sampled_from(OUTPUTS),
        older_than=st.sampled_from((None, 0)),
        paused=st.booleans(),
    )
    def maintain_under_live_writers(
        self, output: str, older_than: int | None, paused: bool
    ) -> None:
        """``recover`` (``older_than=None``) or ``cleanup(older_than=0)`` runs while writers
        of ``output`` may be paused mid-commit (``paused``: they have just paused past their
        lease): it refuses live work (a `TargetError`) or takes stale work over; committed
        outputs stay as they were (G8, G10)."""
        if paused:
            self._let_leases_run_out()
        before = self._snapshot()
        try:
            if older_than is None:
                note(f"recover {output}: {self.world.recover(output)}")
            else:
                self.world.cleanup(output, timedelta(seconds=older_than))
        except TargetError as exc:
            note(f"maintenance of {output} refused: {exc}")
        self._check_untouched(before, "recover" if older_than is None else "cleanup")

    @precondition(lambda self: POWER_LOSS in self.enabled)
    @rule()
    def power_loss(self) -> None:
        """The machine loses power: every process dies, unsynced state is lost (G9)."""
        for w in self.all:
            if w.alive:
                w.actor.crash()
                w.state = "crashed"
        for a, _ in self.readers:
            a.crash()
        self._settle()
        self.world.power_loss()
        self.power_lost_after.update(w for w in self.protected.values() if w is not None)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def outputs_are_whole(self) -> None:
        """G1-G5, G8: see the module doc. Checked between every two steps."""
        for output in OUTPUTS:
            observed = self._read(output)
            self._check_read(output, *observed)
            self._check_protected(output, observed)

    # -- the oracle ------------------------------------------------------------------------

    def _anyone_busy(self) -> bool:
        return any(w.actor.busy for w in self.all) or any(a.busy for a, _ in self.readers)

    def _target(self, output: str) -> Any:
        return self.world.target(output)

    def _read(self, output: str) -> tuple[bool, Any]:
        """What a reader gating on ``exists()`` sees: ``(exists, content)``; content is the
        bytes of a file output, or ``(manifest, {name: bytes})`` of a directory output."""
        t = self._target(output)
        if not t.exists():
            return False, None
        try:
            if isinstance(t, targets.DirectoryTarget):
                manifest = t.manifest()
                files = {}
                for name in t.files():
                    try:
                        with t.open(name) as f:
                            files[name] = f.read()
                    except TargetNotFound:
                        self._check_still_listed(output, manifest, name)
                        raise
                return True, (manifest, files)
            return True, t.read_bytes()
        except TargetNotFound:
            return False, None  # removed between exists() and the read (an overwrite)

    def _check_still_listed(self, output: str, manifest: dict[str, Any], name: str) -> None:
        """A file its manifest lists is missing: fine if the output was removed or replaced
        meanwhile, a G5 violation if the same manifest is still committed."""
        t = self._target(output)
        with contextlib.suppress(TargetNotFound):
            if t.exists() and t.manifest() == manifest:
                raise GuaranteeViolation(
                    "G5", f"{output} exists, but {name}, which its manifest lists, is missing"
                )

    def _owners(self, output: str, content: Any) -> list[Writer]:
        """The committing writers whose complete output ``content`` is (several, when
        writers wrote the same bytes)."""
        found = []
        for w in self.all:
            if w.output != output or not w.commit_started:
                continue
            if output.endswith("/"):
                manifest, files = content
                if manifest.get("writer") == w.handle_token and files == w.parts:
                    found.append(w)
            elif content == w.content:
                found.append(w)
        return found

    def _check_read(self, output: str, exists: bool, content: Any) -> None:
        if exists:
            owners = self._owners(output, content)
            if not owners:
                raise GuaranteeViolation(
                    "G1",
                    f"{output} exists but is not one committing writer's complete output: "
                    f"{_describe(content)}",
                )
            if all(self._loser(w) for w in owners):
                self._check_not_loser(owners[0], output)
            if output.endswith("/"):
                self._check_directory_layout(output, owners[0])
        else:
            self._check_nothing_visible(output)

    @staticmethod
    def _loser(w: Writer) -> bool:
        return w.state == "lost" or (
            w.state == "failed" and bool(w.faults) and LOSE not in w.faults
        )

    def _check_not_loser(self, w: Writer, output: str) -> None:
        if w.state == "lost":
            raise GuaranteeViolation(
                "G3", f"{w!r} got TargetExistsError but its output is at {output}"
            )
        if w.state == "failed" and w.faults and LOSE not in w.faults:
            raise GuaranteeViolation(
                "G7",
                f"{w!r} (its calls were only retried) reported {type(w.error).__name__} "
                f"but its output is the one committed at {output}",
            )

    def _check_directory_layout(self, output: str, owner: Writer) -> None:
        prefix = self.world.path(output)[len(self.world.path("")) :].strip("/") + "/"
        present = {p[len(prefix) :] for p in self.world.files() if p.startswith(prefix)}
        extra = present - set(owner.parts) - self.world.marker_files
        if extra:
            raise GuaranteeViolation(
                "G2", f"{output} holds {sorted(extra)} besides {owner!r}'s files"
            )

    def _check_nothing_visible(self, output: str) -> None:
        """An output that does not exist shows no uncommitted writer's bytes (G1)."""
        base = self.world.path(output)[len(self.world.path("")) :].strip("/")
        files = self.world.files()
        if not output.endswith("/"):
            if base in self.world.dirs():
                raise GuaranteeViolation("G2", f"a directory is at the file output {output}")
            return
        inside = {p[len(base) + 1 :]: d for p, d in files.items() if p.startswith(base + "/")}
        if self.world.atomic_directories and inside:
            raise GuaranteeViolation("G1", f"{output} is there without {SUCCESS}: {sorted(inside)}")
        for name, data in inside.items():
            if name in self.world.marker_files:
                continue
            if not any(
                w.output == output and w.commit_started and w.parts.get(name) == data
                for w in self.all
            ):
                raise GuaranteeViolation(
                    "G1", f"{output}/{name} is visible but no committing writer wrote it"
                )

    def _check_protected(self, output: str, observed: tuple[bool, Any] | None = None) -> None:
        w = self.protected[output]
        if w is None or self.overwriting[output]:
            return
        exists, content = observed if observed is not None else self._read(output)
        if not exists or w not in self._owners(output, content):
            raise GuaranteeViolation(
                "G9" if w in self.power_lost_after else "G3",
                f"{w!r} committed {output} (if_exists={w.if_exists!r}) but it now "
                + ("is gone" if not exists else f"holds {_describe(content)}")
                + " although nothing removed or overwrote it"
                + (" (a power loss came after its commit)" if w in self.power_lost_after else ""),
            )

    def _snapshot(self) -> dict[str, Any]:
        return {o: self._read(o) for o in OUTPUTS}

    def _check_untouched(self, before: dict[str, Any], what: str) -> None:
        for output, (existed, content) in before.items():
            if existed and self._read(output) != (existed, content):
                raise GuaranteeViolation("G8", f"{what} changed the committed output {output}")

    def _settle(self) -> None:
        """Account for every command that ended since the last rule."""
        for w in self.all:
            if w.command is None:
                continue
            if w.actor.dead:
                self._ended_by_crash(w)
                continue
            if w.actor.busy or w.actor.outcome is None:
                continue
            outcome, command = w.actor.outcome, w.command
            w.command = None
            self._ended(w, command, outcome.error)
        for actor, output in self.readers:
            if actor.outcome is not None and not actor.busy:
                outcome, actor.outcome = actor.outcome, None
                if actor.dead or isinstance(outcome.error, Crashed):
                    continue
                if outcome.error is not None:
                    self._unexpected(f"reader {actor.name}", "read", outcome.error)
                # A directory read file by file can mix two outputs if an overwrite swaps
                # them meanwhile: only file outputs (one read call) are checked then.
                elif not output.endswith("/") or not any(
                    w.output == output and w.if_exists == "overwrite" and w.commit_started
                    for w in self.all
                ):
                    self._check_read(output, *outcome.value)

    def _ended_by_crash(self, w: Writer) -> None:
        # An overwriter that dies mid-commit stays in `overwriting`: its swap may be half
        # done, so earlier outputs are no longer protected.
        w.command = None
        w.state = "crashed"

    def _ended(self, w: Writer, command: str, error: BaseException | None) -> None:
        if command == "open":
            self._opened(w, error)
        elif command == "write":
            if isinstance(error, TargetExistsError):
                w.state, w.error = "lost", error  # a store that checks a condition early
            elif error is not None:
                self._failed(w, command, error)
        elif command == "abort":
            w.state = "aborted"
            if error is not None:
                self._unexpected(repr(w), command, error)
        elif command == "commit":
            self._committed(w, error)

    def _opened(self, w: Writer, error: BaseException | None) -> None:
        if error is None:
            w.state = "open"
            w.handle_token = w.handle.token if w.handle is not None else None
        elif isinstance(error, TargetExistsError):
            w.state = "lost"
        else:
            self._failed(w, "open", error)

    def _committed(self, w: Writer, error: BaseException | None) -> None:
        self.overwriting[w.output].discard(w)
        if w.if_exists == "overwrite":
            self.protected[w.output] = None
        if error is None:
            w.state = "committed"
            self.protected[w.output] = w
        elif isinstance(error, (TargetExistsError, IncompleteCommit)):
            w.state, w.error = "lost", error
        else:
            self._failed(w, "commit", error)

    def _failed(self, w: Writer, command: str, error: BaseException) -> None:
        w.state, w.error = "failed", error
        if isinstance(error, TargetError) and w.faults:
            return  # a fault was injected: an error naming the output is the right answer
        if isinstance(error, CommitError) and w.fenceable:
            return  # its lease ran out and maintenance may have taken its work over
        self._unexpected(repr(w), command, error)

    def _unexpected(self, who: str, command: str, error: BaseException) -> None:
        raise AssertionError(f"{who}'s {command} raised {type(error).__name__}: {error}") from error


def _describe(content: Any) -> str:
    if isinstance(content, tuple):
        manifest, files = content
        shown = {k: v[:24] for k, v in files.items()}
        return f"manifest of writer {manifest.get('writer')!r}, files {shown}"
    if isinstance(content, bytes):
        return repr(content[:48]) + ("..." if len(content) > 48 else "")
    return repr(content)
