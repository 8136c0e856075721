"""A history of concurrent writes and reads of outputs, and a checker of what it must show.

Writers and readers record each operation: when it was invoked, when it completed, and how
it ended. A write ends ``ok`` (the commit reported success), ``fail`` (it reported that
nothing of it was published: a conflict, or an error saying so) or ``unknown`` (an error
that leaves the outcome open: the request may have taken effect). A read ends ``absent``, or
with the writer whose complete output it saw, or ``corrupt`` (anything else: a partial or
mixed output), or ``error`` (the read itself failed; ignored). After the run, each output's
``final`` state is read once more, after recovery.

`check` verifies, per output:

1. at most one writer succeeded;
2. every read is absent or exactly one writer's complete output, never corrupt;
3. every output read (and the final state) is the same writer's: one winner;
4. never absent again after seen: a read invoked after a read that saw the output
   completed must see it too;
5. a writer that succeeded is the winner, and then the output exists at the end;
6. a failed writer's bytes are never read;
7. unknown writers resolve consistently: the winner is the writer that succeeded, or, if
   none did, an unknown one; no read sees a writer before that writer started.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Iterable

ABSENT = "absent"
CORRUPT = "corrupt"
ERROR = "error"
OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"


@dataclasses.dataclass
class Op:
    target: str
    kind: str
    """``"write"`` or ``"read"``."""
    actor: str
    invoked: float
    completed: float = float("inf")
    result: str = ""
    """write: ok | fail | unknown; read: absent | corrupt | error | <writer>."""
    writer: str = ""
    """The writer of a write (its token)."""
    detail: str = ""


class History:
    """Thread-safe record of operations (see the module doc)."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.final: dict[str, str] = {}
        """Each output's state at the end (absent, or the winner), after recovery."""
        self._lock = threading.Lock()

    def invoke(self, target: str, kind: str, actor: str, writer: str = "") -> Op:
        op = Op(target, kind, actor, time.monotonic(), writer=writer)
        with self._lock:
            self.ops.append(op)
        return op

    def complete(self, op: Op, result: str, detail: str = "") -> None:
        op.completed = time.monotonic()
        op.result = result
        op.detail = detail

    def counts(self) -> collections.Counter[str]:
        return collections.Counter(f"{op.kind} {op.result}" for op in self.ops)


def check(history: History) -> list[str]:
    """The violations of the rules in the module doc, one line each (empty: none)."""
    by_target: dict[str, list[Op]] = collections.defaultdict(list)
    for op in history.ops:
        by_target[op.target].append(op)
    problems: list[str] = []
    for target in sorted(set(by_target) | set(history.final)):
        problems += check_target(target, by_target.get(target, []), history.final.get(target))
    return problems


def check_target(target: str, ops: Iterable[Op], final: str | None) -> list[str]:
    ops = list(ops)
    writes = [op for op in ops if op.kind == "write"]
    reads = [op for op in ops if op.kind == "read" and op.result not in ("", ERROR)]
    ok = [w.writer for w in writes if w.result == OK]
    failed = {w.writer for w in writes if w.result == FAIL}
    unknown = {w.writer for w in writes if w.result == UNKNOWN}
    started = {w.writer: w.invoked for w in writes}
    problems: list[str] = []

    def bad(text: str) -> None:
        problems.append(f"{target}: {text}")

    if len(ok) > 1:  # 1
        bad(f"{len(ok)} writers succeeded: {ok}")
    seen = [r for r in reads if r.result != ABSENT]
    for r in seen:
        if r.result == CORRUPT:  # 2
            bad(f"read by {r.actor} saw a partial or mixed output ({r.detail})")
    winners = {r.result for r in seen if r.result != CORRUPT}
    if final not in (None, ABSENT):
        winners.add(final)
    if len(winners) > 1:  # 3
        bad(f"outputs of several writers were read: {sorted(winners)}")
    first_seen = min((r.completed for r in seen), default=float("inf"))
    for r in reads:  # 4
        if r.result == ABSENT and r.invoked > first_seen:
            bad(f"read by {r.actor} saw nothing after the output had been read")
    winner = next(iter(winners)) if len(winners) == 1 else None
    if ok and winner is not None and ok[0] != winner:  # 5
        bad(f"writer {ok[0]} succeeded, but the output read is {winner}'s")
    if ok and final in (None, ABSENT):
        bad(f"writer {ok[0]} succeeded, but at the end the output is absent")
    if winner is not None and winner in failed:  # 6
        bad(f"writer {winner} failed (said nothing was published), yet its output was read")
    if winner is not None and not ok and winner not in unknown:  # 7
        bad(f"the output read is {winner}'s, a writer that neither succeeded nor is unknown")
    for r in seen:
        if r.result in started and r.completed < started[r.result]:
            bad(f"read by {r.actor} saw {r.result}'s output before that writer started")
    return problems
