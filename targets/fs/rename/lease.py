"""Staging leases of rename-based writers: how a live writer keeps `cleanup` away (G10).

A writer that stages (a file writer, a directory writer, a ``temporary_path``) holds a
`targets.fs._lease.Lease` on its temporary for as long as it lives. The lease is renewed by
`RenameStore.stamp`, which makes the store stamp its own time on the temporary: the local
disk's clock through ``utime``, the NameNode's clock through a change it records (a marker
created and removed inside a staging directory; a lease marker beside a staged file). One
daemon thread per process renews every staging lease from half a period on, so a writer
that finishes sooner sends no renewal and costs no thread of its own.

`targets.fs.rename.maintenance.cleanup` judges a temporary by the newest of those stamps
against the store's time now; one touched within the lease period is live and is never
removed. Before publishing, the writer stops renewing and makes sure that it still holds
the lease (`StagingLease.check`): a lease that ran out means a cleanup may have removed
what it staged, and the commit fails with `CommitError` instead of publishing it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import posixpath
import threading
import time
from collections.abc import Callable

from targets.errors import CommitError
from targets.fs._lease import Lease, LeaseLost
from targets.fs._names import SUCCESS, parse_temp_name, temp_name
from targets.fs.rename.store import RenameStore

__all__ = [
    "LEASE_PERIOD",
    "StagingLease",
    "inner_marker",
    "is_inner_marker",
    "lease_marker",
]

LEASE_PERIOD = 60.0
"""Seconds a staging lease lasts without a renewal (the storage option
``stale_claim_after`` of local and HDFS targets overrides it). A temporary stamped within
this period belongs to a live writer: `cleanup` keeps it, whatever ``older_than`` says."""

holder_clock: Callable[[], float] = time.monotonic
"""The holder's clock, read through this name at each use (tests replace it to make a
lease run out without waiting)."""


def lease_marker(tmp: str) -> str:
    """The lease marker of the temporary ``tmp`` (``.<name>.targets-tmp-<token>`` ->
    ``.<name>.targets-lease-<token>`` beside it): what a store stamps when it cannot set a
    file's modification time, and what an overwrite creates before it renames the old
    output aside (``.<name>.targets-old-<token>``)."""
    parent, base = posixpath.split(tmp)
    parsed = parse_temp_name(base)
    if parsed is None:
        raise ValueError(f"{tmp} is not the name of a temporary")
    return posixpath.join(parent, temp_name(parsed[0], parsed[2], "lease"))


def inner_marker(directory: str, token: str) -> str:
    """The marker a store creates and removes inside the staging ``directory`` to make the
    store stamp the directory's modification time."""
    return posixpath.join(directory, temp_name(SUCCESS, token, "lease"))


def is_inner_marker(name: str) -> bool:
    """Whether ``name`` (a name directly inside a staging directory) is an `inner_marker`
    a failed renewal left behind: never data, removed at commit."""
    parsed = parse_temp_name(name)
    return parsed is not None and parsed[0] == SUCCESS and parsed[1] == "lease"


class _Renewer:
    """The one thread that renews the staging leases of this process, each when half its
    period is left (a failed renewal is tried again a tenth of a period later). Renewals
    run one at a time; a lease is dropped when its writer ends or its lease ran out."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """Start afresh (also in a forked child, which has no renewal thread)."""
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, StagingLease]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, held: StagingLease, due: float) -> None:
        with self._cond:
            heapq.heappush(self._due, (due, next(self._order), held))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="targets-staging-leases", daemon=True
                )
                self._thread.start()
            elif self._due[0][2] is held:
                self._cond.notify()

    def _next(self) -> StagingLease:
        with self._cond:
            while True:
                while self._due and self._due[0][2].ended:
                    heapq.heappop(self._due)
                if not self._due:
                    self._cond.wait()
                    continue
                wait = self._due[0][0] - holder_clock()
                if wait <= 0:
                    return heapq.heappop(self._due)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            self._next().renew_when_due(self)


_RENEWER = _Renewer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RENEWER._reset)


class StagingLease:
    """The lease of one writer on its temporary ``tmp`` (staging the output ``final``),
    renewed by the process's renewal thread from half a period on.

    ``missing_ok``: nothing at ``tmp`` yet is no loss (a ``temporary_path`` that the tool
    has not created); otherwise a renewal that finds ``tmp`` gone loses the lease.
    """

    def __init__(
        self,
        store: RenameStore,
        tmp: str,
        final: str,
        period: float,
        *,
        missing_ok: bool = False,
    ) -> None:
        self._store = store
        self._tmp = tmp
        self._final = final
        self._missing_ok = missing_ok
        self.ended = False
        self.lease = Lease(self._renew, period, clock=lambda: holder_clock())
        _RENEWER.add(self, holder_clock() + self.lease.period / 2)

    def renew_when_due(self, renewer: _Renewer) -> None:
        """Renew now (the renewal thread calls this) and say when to renew next; nothing
        once the writer ended or the lease ran out (then its commit fails)."""
        lease = self.lease
        if self.ended or lease.remaining() <= 0:
            return
        try:
            lease.renew()
        except LeaseLost:
            return
        except Exception:  # a failed attempt: try again soon, until the lease runs out
            renewer.add(self, holder_clock() + lease.period / 10)
            return
        renewer.add(self, holder_clock() + max(lease.remaining() - lease.period / 2, 0.0))

    def _renew(self) -> None:
        store = self._store
        with store.map_errors(self._tmp, "renew the lease on"):
            present = store.stamp(self._tmp)
        if not present and not self._missing_ok:
            raise LeaseLost(f"the staging {store.shown(self._tmp)} is gone")

    def check(self) -> None:
        """Stop renewing and make sure the lease is held for half a period more (renewing
        once if less is left), right before the publishing rename. `CommitError` naming the
        output if the lease is lost: what was staged may have been removed by a cleanup."""
        self.ended = True
        try:
            if self.lease.remaining() <= 0:
                # A stamp is no conditional renewal: once the lease ran out, a cleanup may
                # have removed the staging and a tool re-created part of it meanwhile.
                raise LeaseLost(f"it ran out: {self.lease.period:g} s without a renewal")
            self.lease.ensure()
        except LeaseLost as exc:
            shown = self._store.shown(self._final)
            raise CommitError(
                f"cannot commit {shown}: this writer lost the lease on its staging "
                f"{self._store.shown(self._tmp)} ({exc}), so a cleanup may have removed what "
                "it staged; nothing was published, write the output again",
                shown,
            ) from None

    def end(self) -> None:
        """Stop renewing; remove the lease marker if a renewal may have made one."""
        self.ended = True
        if self.lease.renewals:
            with contextlib.suppress(Exception):
                self._store.delete(lease_marker(self._tmp), recursive=False)
