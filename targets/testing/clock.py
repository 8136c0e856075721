"""A clock that tests move forward: the time a paused process would see pass.

`SimClock` gives a store its ``now`` (`MemoryObjectStore` takes it as ``clock``) and, while
it is installed, gives every `targets.fs._lease.Lease` its monotonic time, both running at
real speed plus an ``offset`` that `SimClock.advance` raises. Advancing it by more than a
lease period is what a writer frozen for that long (a stopped process, a long pause of the
garbage collector) and everyone around it would see: its lease has run out, no renewal was
sent meanwhile, and the store judges its claim stale.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time

from targets.fs import _lease

__all__ = ["SIM_CLOCK", "SimClock"]


class SimClock:
    """Real time plus an offset that only grows."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._installed = 0
        self._lock = threading.Lock()
        self._saved = _lease.monotonic

    def __repr__(self) -> str:
        return f"SimClock(offset={self.offset})"

    def now(self) -> _dt.datetime:
        """The store's time: UTC now, plus the offset."""
        return _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        """A holder's monotonic time: `time.monotonic`, plus the offset."""
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for everyone at once."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.offset += seconds

    def install(self) -> None:
        """Give leases this clock (counted: `uninstall` as many times to restore)."""
        with self._lock:
            if self._installed == 0:
                self._saved = _lease.monotonic
                _lease.monotonic = self.monotonic
            self._installed += 1

    def uninstall(self) -> None:
        with self._lock:
            self._installed -= 1
            if self._installed == 0:
                _lease.monotonic = self._saved


SIM_CLOCK = SimClock()
"""The one simulated clock of this process: worlds share it, so that advancing it lets
time pass for every store and lease of a run at once."""
