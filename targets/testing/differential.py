"""`DifferentialMachine`: one generated run on two worlds at once, the same answers required.

A simulated store and the real one (the POSIX simulator and the local disk, a simulated
bucket and moto or fake-gcs-server) get the same writers, steps, crashes, removals,
cleanups and recoveries; each writer must make the same store calls and end the same way on
both, and the same writer's output must be at each path after every step. Each world's own
G1-G8 checks (`targets.testing.machine`) run too::

    class LocalDifferential(DifferentialMachine):
        worlds = (PosixWorld, LocalDiskWorld)

    TestLocal = LocalDifferential.TestCase
"""

from __future__ import annotations

from typing import Any, ClassVar

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

from targets.testing.machine import MAX_WRITERS, OUTPUTS, PART_NAMES, TargetsMachine, Writer
from targets.testing.worlds import CRASH, WorldFactory

__all__ = ["DifferentialMachine"]


class DifferentialMachine(RuleBasedStateMachine):
    """Runs every step on two worlds at once (a simulated store and the real one) and
    requires the same observable outcomes: the same store calls by each writer, the same
    result of every command (success, or the same error class), and the same writer's
    output at each path after every step. Each world's own G1-G8 checks run too.

    Subclasses set ``worlds = (make_simulated, make_real)``::

        class LocalDifferential(DifferentialMachine):
            worlds = (PosixWorld, LocalDiskWorld)
    """

    worlds: ClassVar[tuple[WorldFactory, WorldFactory]]
    faults: ClassVar[frozenset[str]] = frozenset({CRASH})

    writers = Bundle("writers")

    def __init__(self) -> None:
        super().__init__()
        self.sides: list[TargetsMachine] = [
            type("Side", (TargetsMachine,), {"world_factory": f, "faults": self.faults})()
            for f in self.worlds
        ]

    def teardown(self) -> None:
        for side in self.sides:
            side.teardown()

    def _both(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        return [getattr(side, method)(*args, **kwargs) for side in self.sides]

    def _writers(self, number: int) -> list[Writer]:
        return [side.all[number] for side in self.sides]

    @property
    def _sim(self) -> TargetsMachine:
        return self.sides[0]

    @initialize(target=writers, output=st.sampled_from(OUTPUTS))
    def start_two_writers(self, output: str) -> Any:
        """Two writers on one output, in both worlds."""
        self._both("_start", output, "error")
        self._both("_start", output, "error")
        return multiple(len(self._sim.all) - 2, len(self._sim.all) - 1)

    @precondition(lambda self: sum(w.alive for w in self.sides[0].all) < MAX_WRITERS)
    @rule(target=writers, output=st.sampled_from(OUTPUTS))
    def start_writer(self, output: str) -> int:
        self._both("_start", output, "error")
        return len(self._sim.all) - 1

    @rule(writer=writers, part=st.sampled_from(PART_NAMES), big=st.booleans())
    def write(self, writer: int, part: str, big: bool) -> None:
        for side, w in zip(self.sides, self._writers(writer), strict=True):
            side.write(w, part, big)

    @rule(writer=writers, how=st.sampled_from(("commit", "commit", "abort")))
    def end(self, writer: int, how: str) -> None:
        for side, w in zip(self.sides, self._writers(writer), strict=True):
            side.end(w, how)

    @rule(output=st.sampled_from(OUTPUTS))
    def commit_all(self, output: str) -> None:
        self._both("commit_all", output)

    @precondition(lambda self: any(w.actor.busy for w in self.sides[0].all))
    @rule(index=st.integers(0, MAX_WRITERS - 1))
    def step(self, index: int) -> None:
        self._both("step", index)

    @precondition(lambda self: sum(w.actor.busy for w in self.sides[0].all) > 1)
    @rule()
    def step_each(self) -> None:
        self._both("step_each")

    @rule(writer=writers)
    def finish(self, writer: int) -> None:
        for side, w in zip(self.sides, self._writers(writer), strict=True):
            side.finish(w)

    @rule(writer=writers)
    def crash(self, writer: int) -> None:
        for side, w in zip(self.sides, self._writers(writer), strict=True):
            side.crash(w)

    @precondition(lambda self: not self.sides[0]._anyone_busy())
    @rule(output=st.sampled_from(OUTPUTS))
    def remove(self, output: str) -> None:
        self._both("remove", output)

    @precondition(
        lambda self: (
            not any(w.alive for w in self.sides[0].all) and not self.sides[0]._anyone_busy()
        )
    )
    @rule()
    def cleanup_and_recover(self) -> None:
        self._both("recover")
        self._both("cleanup")

    @invariant()
    def same_outcomes(self) -> None:
        """Both worlds agree on every writer's state, calls and errors, and on which
        writer's output is at each path; each world keeps G1-G8."""
        for side in self.sides:
            side.outputs_are_whole()
        sim, real = self.sides
        for a, b in zip(sim.all, real.all, strict=True):
            calls_a = [s.op for s in sim.scheduler.log if s.actor == a.actor.name]
            calls_b = [s.op for s in real.scheduler.log if s.actor == b.actor.name]
            if calls_a != calls_b:
                raise AssertionError(f"{a!r} made {calls_a} on one store, {calls_b} on the other")
            got = (a.state, type(a.error).__name__), (b.state, type(b.error).__name__)
            if got[0] != got[1]:
                raise AssertionError(f"{a!r} ended {got[0]} on one store, {got[1]} on the other")
        for output in OUTPUTS:
            seen = []
            for side in self.sides:
                exists, content = side._read(output)
                seen.append(
                    (
                        exists,
                        sorted(w.number for w in side._owners(output, content)) if exists else [],
                    )
                )
            if seen[0] != seen[1]:
                raise AssertionError(f"{output}: {seen[0]} on one store, {seen[1]} on the other")
