"""The step scheduler: a `Policy` that makes every call of a writer one step.

Each writer is a thread (`Actor`) stopped before every call it makes through an
`Interceptor` until the test lets it go on, so the test chooses the interleaving and,
between two steps, lets another writer take a step, reads the store, crashes a writer, or
arms a fault (`LOSE`, `RETRY`, `BEFORE`) for a writer's next call. One writer runs at a
time, so a run is deterministic and replays from the order of its steps::

    sched = Scheduler()
    ops = sched.wrap(SimulatedPosix())          # or an HDFSModel, an ObjectStore, PosixOps()
    a, b = sched.actor("a"), sched.actor("b")   # two writers, each a thread
    a.submit(lambda: targets.target("/out", ops=ops).write_bytes(b"A"))
    b.submit(lambda: targets.target("/out", ops=ops).write_bytes(b"B"))
    while a.busy or b.busy:                     # any interleaving you like
        (a if a.busy else b).step()
    sched.close()

- ``actor.crash()``: the writer's process dies. Its pending call is not made, and every
  later call it would make (clean-up code in ``except``/``finally`` blocks, ``__del__``) is
  refused with `Crashed`: nothing of its process state survives, everything it had sent
  stays.
- ``actor.arm(fault)``: its next call gets ``fault`` (see `targets.testing.faults`).

Calls made by the thread that created the scheduler (the test's own reads, cleanup,
recovery) are plain calls. Helper threads started by a running writer (a thread pool
publishing files in parallel) are steps of that writer; the object-store protocols publish
with one thread while a scheduler is open, so that their order is deterministic.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import gc
import sys
import threading
from collections.abc import Callable
from typing import Any

from targets.testing.faults import FAULTS, Call, Policy

__all__ = ["Actor", "Crashed", "Outcome", "Scheduler", "SchedulerClosed", "StuckActor"]


class Crashed(BaseException):
    """Raised in a crashed actor's thread at every call it tries to make.

    A `BaseException`, so that the library's ``except Exception`` handlers do not mistake
    a dead process for an error they could handle."""


class SchedulerClosed(ConnectionError):
    """A call through a seam whose scheduler is closed: the clean-up code of objects left
    over from a finished run (``__del__`` of a writer whose construction failed) meets
    this, an ordinary error such code is written to swallow, instead of the store."""


class StuckActor(AssertionError):
    """An actor neither reached its next step nor finished within the scheduler's timeout
    (a deadlock in the code under test, or a call that blocks)."""


@dataclasses.dataclass
class Outcome:
    """How an actor's command ended: its return value or the exception it raised."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Actor:
    """One writer (or reader): a thread that runs the commands submitted to it, stopping
    before every intercepted call until `step` lets it make the call."""

    def __init__(self, scheduler: Scheduler, name: str) -> None:
        self.scheduler = scheduler
        self.name = name
        self.dead = False
        self.paused_at: Call | None = None
        """The call the actor is stopped before, or None when it is idle."""
        self.outcome: Outcome | None = None
        """How the last command ended (None while one runs)."""
        self.steps = 0
        self._busy = False
        self._grant = 0
        self._seq = 0
        self._faults: collections.deque[str] = collections.deque()
        self._commands: collections.deque[Callable[[], Any] | None] = collections.deque()
        self.keep: list[Any] = []
        """Objects kept alive until the scheduler closes (a crashed writer's objects must
        not be collected: their ``__del__`` would clean up, which a dead process cannot)."""
        self._thread = threading.Thread(target=self._main, name=f"actor-{name}", daemon=True)
        scheduler._threads[self._thread] = self
        self._thread.start()

    def __repr__(self) -> str:
        state = "dead" if self.dead else ("busy" if self._busy else "idle")
        return f"<Actor {self.name} {state}>"

    @property
    def busy(self) -> bool:
        """Whether a command is under way (the actor is stopped before a call)."""
        return self._busy and not self.dead

    @property
    def idle(self) -> bool:
        """Whether the actor is alive and can take a new command."""
        return not self._busy and not self.dead

    # -- driven from the test's thread -------------------------------------------------------

    def submit(self, command: Callable[[], Any]) -> None:
        """Start ``command`` in the actor; return once it is stopped before its first call,
        or has finished."""
        sched = self.scheduler
        with sched._cv:
            if self.dead or self._busy:
                raise RuntimeError(f"{self!r} cannot take a command now")
            self._busy = True
            self.outcome = None
            self._commands.append(command)
            self._resume()

    def step(self) -> Call:
        """Let the actor make the call it is stopped before, and run on to its next call or
        to the end of its command. Returns the call made."""
        with self.scheduler._cv:
            if not self.busy or self.paused_at is None:
                raise RuntimeError(f"{self!r} is not stopped before a call")
            taken = self.paused_at
            self._grant += 1
            self._resume()
            return taken

    def _resume(self) -> None:
        sched = self.scheduler
        seq = self._seq
        sched._running = self
        sched._cv.notify_all()
        sched._wait(lambda: self._seq != seq, self)

    def run(self, limit: int = 10_000) -> Outcome | None:
        """Step until the current command ends (at most ``limit`` steps)."""
        for _ in range(limit):
            if not self.busy:
                break
            self.step()
        return self.outcome

    def arm(self, fault: str) -> None:
        """Apply ``fault`` (`LOSE`, `RETRY` or `BEFORE`) to the actor's next call."""
        if fault not in FAULTS:
            raise ValueError(f"fault {fault!r} is not one of {FAULTS}")
        with self.scheduler._cv:
            self._faults.append(fault)

    def crash(self) -> None:
        """Kill the actor: its pending call is not made, every later one is refused, and
        its thread unwinds (running no intercepted call) before this returns."""
        sched = self.scheduler
        with sched._cv:
            if self.dead:
                return
            self.dead = True
            if self.paused_at is not None:
                sched.log.append(dataclasses.replace(self.paused_at, fault="crash"))
            self._commands.append(None)
            sched._cv.notify_all()
        self._thread.join(sched.timeout)
        if self._thread.is_alive():
            raise StuckActor(f"crashed actor {self.name} did not unwind")

    # -- inside the actor's thread -------------------------------------------------------

    def _main(self) -> None:
        sched = self.scheduler
        while True:
            with sched._cv:
                while not self._commands:
                    sched._cv.wait()
                command = self._commands.popleft()
            if command is None:
                break
            try:
                outcome = Outcome(value=command())
            except BaseException as exc:  # reported to the test through `outcome`
                outcome = Outcome(error=exc)
            with sched._cv:
                self.outcome = outcome
                self._end_command()
                if self.dead:
                    break
        with sched._cv:
            self._end_command()

    def _end_command(self) -> None:
        self._busy = False
        self.paused_at = None
        self._seq += 1
        self.scheduler._cv.notify_all()

    def _checkpoint(self, call: Call) -> Call:
        """Stop before ``call``; return it as made, with the fault armed for it."""
        sched = self.scheduler
        with sched._cv:
            if self.dead:
                raise Crashed(self.name)
            self.paused_at = dataclasses.replace(call, actor=self.name)
            self._seq += 1
            sched._cv.notify_all()
            while self._grant == 0 and not self.dead:
                sched._cv.wait()
            if self.dead:
                raise Crashed(self.name)
            self._grant -= 1
            made = dataclasses.replace(
                self.paused_at, fault=self._faults.popleft() if self._faults else None
            )
            sched.log.append(made)
            self.paused_at = None
            self.steps += 1
            return made


class Scheduler(Policy):
    """Owns the actors of one test run, and makes their intercepted calls steps. See the
    module doc."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.log: list[Call] = []
        """Every call actors made, in order, with the faults applied."""
        self._cv = threading.Condition(threading.RLock())
        self._threads: dict[threading.Thread, Actor] = {}
        self._actors: dict[str, Actor] = {}
        self._running: Actor | None = None
        self._owner = threading.current_thread()
        self._closed = False
        self._restore = _sequential_publish()

    def actor(self, name: str) -> Actor:
        """A new actor named ``name`` (names are unique)."""
        if name in self._actors:
            raise ValueError(f"an actor named {name!r} exists")
        actor = Actor(self, name)
        self._actors[name] = actor
        return actor

    @property
    def actors(self) -> list[Actor]:
        return list(self._actors.values())

    def decide(self, call: Call) -> Call | None:
        """Stop the calling actor before ``call`` until the test lets it go on; calls of
        the test's own thread are plain calls."""
        if self._closed:
            raise SchedulerClosed(f"{call.op}: the run of this scheduler is over")
        actor = self._current()
        return None if actor is None else actor._checkpoint(call)

    def _current(self) -> Actor | None:
        actor = self._threads.get(threading.current_thread())
        if actor is not None:
            return actor
        if threading.current_thread() is self._owner:
            return None
        # A helper thread of the running actor (its commit's thread pool).
        running = self._running
        return running if running is not None and running._busy else None

    def _wait(self, done: Callable[[], bool], actor: Actor) -> None:
        if not self._cv.wait_for(done, self.timeout):
            where = f" (stopped before {actor.paused_at})" if actor.paused_at else ""
            raise StuckActor(
                f"actor {actor.name} did not reach its next step within {self.timeout} s{where}"
            )

    def close(self) -> None:
        """Crash every actor still alive and stop their threads."""
        if self._closed:
            return
        self._closed = True
        try:
            for actor in self._actors.values():
                actor.crash()
        finally:
            self._restore()
            # A dead process's objects must never run their clean-up code (``__del__`` of a
            # pending writer discards it). They are kept for the life of the interpreter;
            # what else the run held (outcomes with their tracebacks, the log) is dropped.
            for actor in self._actors.values():
                actor.outcome = None
                actor.paused_at = None
                if actor.keep:
                    _GRAVEYARD.append(actor.keep)
            self._actors.clear()
            self._threads.clear()
            self._running = None
            self.log = []

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _sequential_publish() -> Callable[[], None]:
    """Make the object-store protocols publish with one thread, and leases renew in their
    holder's thread only, while a scheduler is open (their order is then deterministic);
    return the function that restores both."""
    from targets.fs import _lease
    from targets.fs.objectstore import parallel as _objectstore

    with _PUBLISH_LOCK:
        _PUBLISH_USERS[0] += 1
        if _PUBLISH_USERS[0] == 1:
            _PUBLISH_SAVED[0] = _objectstore.PUBLISH_THREADS
            _objectstore.PUBLISH_THREADS = 1
            _lease.background[0] = False
    done = [False]

    def restore() -> None:
        with _PUBLISH_LOCK:
            if done[0]:
                return
            done[0] = True
            _PUBLISH_USERS[0] -= 1
            if _PUBLISH_USERS[0] == 0:
                _objectstore.PUBLISH_THREADS = _PUBLISH_SAVED[0]
                _lease.background[0] = True

    return restore


_PUBLISH_LOCK = threading.Lock()
_PUBLISH_USERS = [0]
_PUBLISH_SAVED: list[Any] = [None]
_GRAVEYARD: list[list[Any]] = []


@atexit.register
def _bury() -> None:
    """At exit, let the kept objects go quietly: their clean-up code now meets closed
    seams (`SchedulerClosed`), which nobody is left to hear."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        _GRAVEYARD.clear()
        gc.collect()
    finally:
        sys.unraisablehook = hook
