"""Leases: how a live writer tells `recover`, `cleanup` and other writers that it is alive.

A writer's claim (or staging) is its lease. While the writer lives, a `Lease` renews it in
the background, by whatever the backend's ``renew`` callable does: a conditional replace of
the claim on an object store, a touch of the staging directory on a rename store. Whether a
lease is stale is judged by the store's own clock (the time it stamped on the last renewal
against the time it answers with now), never by comparing two machines' clocks.

The holder keeps the other half of the bargain with its own monotonic clock: a lease counts
as held for ``period`` seconds from the moment the request that took or renewed it was
*sent*. Since the store stamps that request no earlier than it was sent, no other party can
judge the lease stale (store time since the renewal > ``period``) while the holder still
counts it as held. Before an irreversible step (publishing, writing ``_SUCCESS``) the holder
calls `Lease.ensure`: if less than half the period is left, it renews first (conditionally:
a lease taken over meanwhile raises `LeaseLost`). A commit that finishes within half a period
sends no renewal at all.

What no lease can fence without the store's help is a request that spends longer than the
time left on the lease in flight; `Lease.ensure` leaves half a period for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["MIN_PERIOD", "Lease", "LeaseLost", "background", "monotonic"]

MIN_PERIOD = 1.0
"""The shortest lease a holder keeps, in seconds: a period of 0 (``stale_claim_after=0``,
which lets others judge every claim stale at once) still leaves the holder a second to act
between two renewals."""


monotonic: Callable[[], float] = time.monotonic
"""The clock a `Lease` counts its period by, unless it is given one (a test moves it on)."""

background = [True]
"""Whether `Lease.start` renews in a thread; a test scheduler that makes every store call of
a writer one step turns it off while it runs (renewals then happen in `Lease.ensure`, in the
writer's own thread, so that a run replays)."""


class LeaseLost(Exception):
    """The lease was taken over (by `recover`, `cleanup` or another writer), or could not be
    renewed before it ran out. The holder must stop and publish nothing more."""


def _monotonic() -> float:
    return monotonic()


class Lease:
    """A lease of ``period`` seconds, held since now, that ``renew`` extends.

    ``renew`` performs one renewal and raises `LeaseLost` if the lease is no longer the
    holder's (any other exception is a failed attempt: retried until the lease runs out).
    Renewals never overlap. `start` renews in a daemon thread every half period until
    `stop`; a holder that never starts it calls `ensure` before each irreversible step.
    """

    def __init__(
        self,
        renew: Callable[[], None],
        period: float,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not period >= 0:
            raise ValueError(f"a lease period cannot be negative: {period!r}")
        self.period = max(float(period), MIN_PERIOD)
        self._renew = renew
        self._clock = clock if clock is not None else _monotonic
        self._held_since = self._clock()
        self._lock = threading.Lock()
        self._lost: LeaseLost | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0
        """How many renewals succeeded."""

    def __repr__(self) -> str:
        return f"Lease(period={self.period}, remaining={self.remaining():.1f})"

    def remaining(self) -> float:
        """Seconds the lease is still held, by the holder's monotonic clock (never negative)."""
        return max(0.0, self.period - (self._clock() - self._held_since))

    @property
    def lost(self) -> LeaseLost | None:
        """Why the lease was lost (a renewal found it taken over), or None. A lease that
        merely ran out (the holder paused, or renewals failed) is not lost: the next
        conditional renewal tells whether anyone took it over meanwhile."""
        return self._lost

    def renew(self) -> None:
        """Renew now; `LeaseLost` if the lease is no longer held (it stays lost)."""
        with self._lock:
            lost = self.lost
            if lost is not None:
                raise lost
            sent = self._clock()
            try:
                self._renew()
            except LeaseLost as exc:
                self._lost = exc
                raise
            self._held_since = sent
            self.renewals += 1

    def ensure(self) -> None:
        """Make sure the lease is held for at least half a period more: renew if less is
        left (also after it ran out). `LeaseLost` if it was taken over; any other error of
        the renewal is raised as it is, and the lease is not held."""
        lost = self.lost
        if lost is not None:
            raise lost
        if self.remaining() < self.period / 2:
            self.renew()

    def start(self) -> Lease:
        """Renew in a daemon thread every half period until `stop` (or the lease is lost)."""
        if self._thread is None and background[0]:
            self._thread = threading.Thread(target=self._keep, name="targets-lease", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the thread ends; a renewal under way finishes first)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _keep(self) -> None:
        retrying = False
        while True:
            wait = self.period / 10 if retrying else self.remaining() - self.period / 2
            if self._stop.wait(max(wait, 0.0)):
                return
            try:
                self.renew()
            except LeaseLost:
                return
            except Exception:  # a failed attempt: try again soon, until the lease runs out
                if self.remaining() <= 0:
                    return  # the holder renews, if it is still there, before its next step
                retrying = True
            else:
                retrying = False

    def __enter__(self) -> Lease:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
