"""Real races: run one function in N OS processes at once, round after round.

``race(fn, processes=8, rounds=30, args=(...))`` starts N worker processes (spawned, so
nothing is inherited but ``args``), and in each round releases them together through a
barrier to call ``fn(round, worker, *args)``. Each call's outcome is recorded: its return
value, or the name and message of the exception it raised. ``fn`` must be importable
(defined at module level) and its arguments and results picklable.

``on_round(round)`` runs in the parent after every round (all workers are waiting at the
barrier for the next round meanwhile), e.g. to check the store between rounds.
`one_winner` checks the usual verdict of a round: exactly one worker returned, every other
one raised ``TargetExistsError``.

Every backend's race tests use this helper: tests/local, tests/s3, tests/gcs, and the HDFS
races through a WebHDFS server over the namespace model (tests/property/test_real_races.py).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue as _queue
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Outcome:
    round: int
    worker: int
    value: Any = None
    error: str | None = None
    """The exception's class name, or None if ``fn`` returned."""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def _worker(
    fn: Callable[..., Any],
    worker: int,
    rounds: int,
    args: Sequence[Any],
    start: Any,
    done: Any,
    results: Any,
) -> None:
    for r in range(rounds):
        start.wait()
        try:
            outcome = Outcome(r, worker, value=fn(r, worker, *args))
        except Exception as exc:
            outcome = Outcome(r, worker, error=type(exc).__name__, message=str(exc))
        results.put(outcome)
        done.wait()


def race(
    fn: Callable[..., Any],
    *,
    processes: int,
    rounds: int,
    args: Sequence[Any] = (),
    on_round: Callable[[int, list[Outcome]], None] | None = None,
    timeout: float = 120.0,
) -> list[list[Outcome]]:
    """Outcomes per round, each sorted by worker."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1, timeout=timeout)
    done = ctx.Barrier(processes + 1, timeout=timeout)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(fn, w, rounds, tuple(args), start, done, results), daemon=True
        )
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    all_rounds: list[list[Outcome]] = []
    try:
        for r in range(rounds):
            start.wait()
            got = []
            for _ in range(processes):
                try:
                    got.append(results.get(timeout=timeout))
                except _queue.Empty:
                    raise AssertionError(f"round {r}: a worker did not report in time") from None
            got.sort(key=lambda o: o.worker)
            all_rounds.append(got)
            if on_round is not None:
                on_round(r, got)
            done.wait()
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
        results.close()
        results.join_thread()
    return all_rounds


def one_winner(outcomes: list[Outcome], loser: str = "TargetExistsError") -> int:
    """The worker that won the round; fails unless exactly one returned and every other
    one raised ``loser``."""
    winners = [o.worker for o in outcomes if o.ok]
    assert len(winners) == 1, f"round {outcomes[0].round}: winners {winners}: {outcomes}"
    others = [o for o in outcomes if not o.ok and o.error != loser]
    assert not others, f"round {outcomes[0].round}: unexpected errors {others}"
    return winners[0]
