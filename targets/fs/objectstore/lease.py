"""Leases on object stores (G10): a live writer's claim is never taken from it.

Two kinds of object carry a lease, both small JSON documents renewed by a conditional replace
of themselves (``If-Match`` on the etag, ``ifGenerationMatch`` on GCS):

- the **claim** of a directory commit (`CLAIM`, docs/protocols.md "Claim schema v2"), from
  the moment it is taken until ``_SUCCESS`` is written;
- the **writer lease** ``<parent>/.<name>.targets-lease-<token>`` of a writer that lives long
  before its commit (pending uploads, a staging prefix): created by its first renewal, half
  a lease period after the writer started, so a short writer never writes one.

`DocumentLease` renews either kind through `targets.fs._lease.Lease`. How old a lease is, is
judged only in the store's clock (`ObjectInfo.age`: the ``Date`` of the answer against the
object's ``LastModified``); a document younger than its ``lease_period`` is live.

`take_over` is how `recover` and `cleanup` act on a lease that is not live: one conditional
replace that records who took it over and why; of two parties (or a writer that renews at
the same moment) exactly one succeeds. A holder whose next renewal finds the document
replaced gets `LeaseLost`, stops, and never writes ``_SUCCESS``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import socket
from typing import Any

from targets.errors import CommitError, StoreUnavailable, TargetError
from targets.fs import _manifest
from targets.fs._lease import Lease, LeaseLost
from targets.fs._names import temp_name
from targets.fs.objectstore.conditional import resend_on_conflict
from targets.fs.objectstore.store import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    now,
    token_of,
    writer_metadata,
)

__all__ = [
    "DocumentLease",
    "LeaseView",
    "holder",
    "lease_key",
    "read_lease",
    "refuse_live",
    "fence_unwritten",
    "lease_lost_error",
    "take_over",
    "writer_lease",
]


def holder() -> dict[str, Any]:
    """Who holds a lease: this host and process (shown to whoever finds the lease live)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def lease_key(prefix: str, token: str) -> str:
    """The key of writer ``token``'s lease beside the output ``prefix``."""
    parent, _, name = prefix.rpartition("/")
    lease = temp_name(name, token, "lease")
    return f"{parent}/{lease}" if parent else lease


def _encode(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@dataclasses.dataclass(frozen=True)
class LeaseView:
    """A lease document as another party sees it: its object, its content, and whether it
    is live, judged in the store's clock."""

    info: ObjectInfo
    doc: dict[str, Any]
    period: float

    @property
    def age(self) -> float | None:
        """Seconds since the last renewal (or takeover), in the store's clock; None if the
        store did not say its time."""
        return self.info.age()

    @property
    def live(self) -> bool:
        """Whether the lease may still be held: renewed within its period, or of an age the
        store does not tell (then it is never judged stale), unless the period is 0 (the
        judge counts every holder as dead)."""
        if self.period <= 0:
            return False
        age = self.age
        return age is None or age < self.period

    @property
    def taken_over(self) -> dict[str, Any] | None:
        taken = self.doc.get("taken_over")
        return taken if isinstance(taken, dict) else None

    def describe(self) -> str:
        """Whose lease this is and how fresh, for messages."""
        found = self.doc.get("holder")
        who: dict[str, Any] = found if isinstance(found, dict) else {}
        host, pid = who.get("host", "?"), who.get("pid", "?")
        age = self.age
        when = "at an unknown time (the store gave no Date)" if age is None else f"{age:.0f} s ago"
        taken = self.taken_over
        if taken is not None:
            return (
                f"taken over by {taken.get('by', '?')} ({taken.get('why', '?')}) on host "
                f"{taken.get('host', '?')}, {when}"
            )
        return (
            f"held by writer {self.doc.get('writer', '?')} (host {host}, pid {pid}), last "
            f"renewed {when}, lease {self.period:.0f} s"
        )


def read_lease(
    store: ObjectStore, key: str, period: float, *, decode: bool = True
) -> LeaseView | None:
    """The lease document at ``key`` (a claim or a writer lease) judged with the lease
    period ``period`` (the reader's ``stale_claim_after``), or None if there is none. A
    document that is not JSON (a foreign object) reads as an empty document, live by its age
    alone. ``decode=False`` skips reading the body.

    The period is the judging party's: writers renew every half period of their own, so a
    reader whose ``stale_claim_after`` is at least half the writers' never judges a live
    writer stale; a smaller one acts like ``force``."""
    info = store.head(key)
    if info is None:
        return None
    doc: dict[str, Any] = {}
    if decode:
        try:
            raw = store.get(key, if_match=info.etag)
        except (ObjectNotFound, PreconditionFailed):
            return read_lease(store, key, period)  # replaced meanwhile: look again
        try:
            loaded = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            loaded = None
        doc = loaded if isinstance(loaded, dict) else {}
    return LeaseView(info, doc, float(period))


_RESENDS = 3
"""Renewals a holder sends in a row when each finds that an earlier one took effect."""


class DocumentLease:
    """The lease of writer ``token`` on the document at ``key``: renewed by a conditional
    replace of the document with a higher ``renewals`` count, from the version ``etag``
    (``None``: the document does not exist yet, the first renewal creates it)."""

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        token: str,
        doc: dict[str, Any],
        etag: str | None,
        period: float,
    ) -> None:
        self.store, self.key, self.token = store, key, token
        self.doc = doc
        self.etag = etag
        self.lease = Lease(self._renew, period)

    def __repr__(self) -> str:
        return f"DocumentLease({self.store.url(self.key)!r}, {self.lease!r})"

    def _renew(self) -> None:
        for _ in range(_RESENDS):
            doc = dict(self.doc, renewals=int(self.doc.get("renewals", 0)) + 1)
            doc["renewed_at"] = _manifest.timestamp(now())
            try:
                self.etag = resend_on_conflict(
                    self.store, self.key, functools.partial(self._send, doc, self.etag)
                )
            except PreconditionFailed:
                if not self._still_ours():
                    raise LeaseLost(self._lost_message()) from None
                # An earlier renewal took effect, its answer lost: its version is adopted,
                # and this renewal is sent again from it (the lease then runs from this
                # send, whose time is known, not from that earlier one).
                continue
            self.doc = doc
            return
        url = self.store.url(self.key)
        raise StoreUnavailable(
            f"cannot renew the lease {url}: the store refused {_RESENDS} renewals in a row "
            "although the lease is still this writer's; nothing was published after it. "
            "Check the store's health and write again",
            url,
        )

    def _send(self, doc: dict[str, Any], etag: str | None) -> str:
        return self.store.put(
            self.key,
            _encode(doc),
            metadata=writer_metadata(self.token),
            if_absent=etag is None,
            if_match=etag,
        )

    def _still_ours(self) -> bool:
        """After a refused renewal: whether the document is still this holder's (an earlier
        renewal took effect though its answer was lost); if so, adopt its version."""
        try:
            view = read_lease(self.store, self.key, self.lease.period)
        except TargetError:
            return False
        if view is None or view.taken_over is not None:
            return False
        if token_of(view.info) != self.token or view.doc.get("writer") != self.token:
            return False
        self.doc, self.etag = view.doc, view.info.etag
        return True

    def _lost_message(self) -> str:
        try:
            view = read_lease(self.store, self.key, self.lease.period)
        except TargetError:
            view = None
        what = "was removed" if view is None else view.describe()
        return f"the lease {self.store.url(self.key)} {what}"

    def release(self) -> None:
        """Stop renewing. The document stays (a claim marks the output; the caller deletes a
        writer lease)."""
        self.lease.stop()

    def delete(self) -> None:
        """Stop renewing and delete the document, if this holder ever wrote it (only the
        version this holder wrote: a document taken over meanwhile stays)."""
        self.lease.stop()
        if self.etag is not None:
            with contextlib.suppress(PreconditionFailed, TargetError):
                self.store.delete(self.key, if_match=self.etag)


def take_over(store: ObjectStore, view: LeaseView, *, by: str, why: str, force: bool) -> str:
    """Replace the lease document ``view`` with a record of its takeover by ``by`` (for
    ``why``: ``"recover-back"``, ``"recover-forward"``, ``"cleanup"``), conditionally on the
    version seen; return the new etag. Refused (`CommitError`, nothing changed) while the lease
    is live, unless ``force``, and when it changed since it was seen (someone renewed it or
    took it over first: one party acts)."""
    if not force:
        refuse_live(store, view)
    token = token_of(view.info) or str(view.doc.get("writer", by))
    return _put_taken_over(store, view.info.key, view.doc, token, by, why, view.info.etag)


def writer_lease(store: ObjectStore, prefix: str, token: str, period: float) -> DocumentLease:
    """The lease of writer ``token`` of the output ``prefix``, renewed in the background
    from now on; its document is first written half a period from now (a writer that ends
    sooner writes none). Call `DocumentLease.delete` when the writer ends."""
    doc = {
        "format": "targets-lease",
        "version": 1,
        "writer": token,
        "holder": holder(),
        "lease_period": period,
        "renewals": 0,
    }
    lease = DocumentLease(store, lease_key(prefix, token), token, doc, None, period)
    lease.lease.start()
    return lease


def lease_lost_error(url: str, lost: LeaseLost) -> CommitError:
    """The error of a writer whose lease was taken over before it published anything."""
    return CommitError(
        f"cannot commit {url}: this writer's lease was taken over ({lost}), so what it wrote "
        "may have been cleaned up; nothing was published. Write the output again",
        url,
    )


def refuse_live(store: ObjectStore, view: LeaseView) -> None:
    """`CommitError` saying whose it is, if the lease ``view`` is live."""
    if view.live:
        url = store.url(view.info.key)
        raise CommitError(
            f"{url} is live, {view.describe()}: its writer may still be publishing. Nothing "
            "was changed. Wait for that writer, or pass force (the CLI's --force) if it is "
            "known to be dead",
            url,
        )


def fence_unwritten(
    store: ObjectStore, key: str, token: str, period: float, *, by: str, why: str
) -> str:
    """Create writer ``token``'s lease at ``key``, which it never wrote, already taken over
    by ``by``: that writer's first renewal then fails (`LeaseLost`). `CommitError` if the
    writer wrote it meanwhile (it is alive: look again)."""
    doc = {"writer": token, "lease_period": period}
    return _put_taken_over(store, key, doc, token, by, why, None)


def _put_taken_over(
    store: ObjectStore,
    key: str,
    doc: dict[str, Any],
    token: str,
    by: str,
    why: str,
    etag: str | None,
) -> str:
    taken = dict(doc)
    taken["taken_over"] = {"by": by, "why": why, "at": _manifest.timestamp(now()), **holder()}

    def send() -> str:
        return store.put(
            key,
            _encode(taken),
            metadata=writer_metadata(token),
            if_absent=etag is None,
            if_match=etag,
        )

    try:
        return resend_on_conflict(store, key, send)
    except PreconditionFailed:
        url = store.url(key)
        raise CommitError(
            f"{url} changed while it was being taken over (its writer renewed it, or another "
            "recover or cleanup acted first); nothing was changed. Look again with "
            "`targets status`",
            url,
        ) from None
