"""Cleanup: abort stale multipart uploads and remove stale staging prefixes.

Only what this library left behind is removed: uploads at, under or beside an output, and
staging prefixes named like this library's temporaries, once they are older than asked.
Claims (settled by `recover`) and committed data are never touched, and a staging prefix
loses exactly the object versions its listing showed.

Live work is never removed (G10). Ages are judged by the store's own clock
(`ObjectStore.server_time` against the times the store stamped), and nothing younger than
one lease period counts as stale, whatever ``older_than`` says. A staging prefix whose
writer holds a live lease (``.<name>.targets-lease-<token>``) stays; a stale one is first
fenced (its lease taken over by one conditional write, so that the writer, if it wakes,
fails its commit instead of publishing a partial output), then removed. While any writer of
the output holds a live lease or claim, no upload of the output is aborted (uploads do not
say whose they are). A job's hidden prefix (``<output>/_targets_job-<token>``: its attempts'
staging and spilled records) stays while that job's claim is live, and is removed once stale
otherwise (a straggler's leftovers after the commit, or a dead job's).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterator

from targets.errors import CommitError
from targets.fs._names import CLAIM, SUCCESS, new_token, parse_temp_name, temp_name
from targets.fs.base import CleanupReport
from targets.fs.objectstore.claim import STALE_CLAIM_AFTER
from targets.fs.objectstore.delete import delete_listed, delete_version
from targets.fs.objectstore.job import job_token_of_area
from targets.fs.objectstore.lease import LeaseView, fence_unwritten, read_lease, take_over
from targets.fs.objectstore.store import ObjectInfo, ObjectStore, UploadInfo, token_of, under

__all__ = ["cleanup"]

_STAGING_KINDS = ("tmp", "old", "trash")
"""The temporaries that are staging prefixes (a ``lease`` is a writer's lease object)."""


def cleanup(
    store: ObjectStore,
    prefix: str,
    *,
    older_than: _dt.timedelta,
    stale_after: float = STALE_CLAIM_AFTER,
    dry_run: bool = False,
    concurrency: int | None = None,
) -> CleanupReport:
    """Abort stale multipart uploads and remove stale staging prefixes and writer leases,
    at or under ``prefix`` and beside it; nothing else (claims and committed data are never
    touched).

    Stale means older than ``older_than`` and than one lease period (``stale_after``), by the
    store's clock: an upload by when it was created, a staging prefix by its newest object.
    A staging prefix whose writer's lease is live stays, and so does every upload while a
    writer or a claim of the output is live. A stale staging prefix is fenced before it is
    removed, and loses exactly the object versions that the listing showed. ``dry_run``
    only reports. A store that does not say its time has nothing judged stale.
    """
    report = CleanupReport(dry_run=dry_run)
    store_now = store.server_time()
    if store_now is None:
        report.kept_recent.append(
            f"{store.url(prefix)} (the store gives no time to judge ages by; nothing removed)"
        )
        return report
    cutoff = store_now - max(older_than, _dt.timedelta(seconds=stale_after))
    sweep = _Sweep(store, _Scope(prefix), cutoff, stale_after, report, concurrency)
    staging = _staging_prefixes(store, sweep.scope)
    leases = {token: view for token, view in sweep.leases(staging)}
    busy = any(v.live for v in leases.values()) or sweep.claim_is_live()
    for upload in _uploads(store, sweep.scope):
        sweep.upload(upload, busy)
    for root, objects in sorted(staging.items()):
        sweep.staging(root, objects, leases.get(root))
    for root, view in sorted(leases.items()):
        if root not in staging:
            sweep.lone_lease(view)
    return report


@dataclasses.dataclass
class _Sweep:
    """One cleanup under way: what its steps share."""

    store: ObjectStore
    scope: _Scope
    cutoff: _dt.datetime
    stale_after: float
    report: CleanupReport
    concurrency: int | None
    _claimant: tuple[str | None] | None = None

    def leases(self, staging: dict[str, list[ObjectInfo]]) -> list[tuple[str, LeaseView]]:
        """The writer leases beside the output, keyed by the staging root each covers."""
        found: list[tuple[str, LeaseView]] = []
        if not self.scope.name:
            return found
        for o in self.store.list(self.scope.beside):
            seg = o.key.rpartition("/")[2]
            parsed = parse_temp_name(seg)
            if parsed is None or parsed[1] != "lease" or "/" in o.key[len(self.scope.beside) :]:
                continue
            view = read_lease(self.store, o.key, self.stale_after)
            if view is not None:
                found.append((_lease_root(o.key), view))
        return found

    def claim_is_live(self) -> bool:
        """Whether the output's claim may belong to a commit (or job) in progress: it is
        live, and no ``_SUCCESS`` of its own writer is there (an overwrite's claim, or a
        job's, is live beside the ``_SUCCESS`` of the output it replaces)."""
        return self.live_claimant() is not None

    def live_claimant(self) -> str | None:
        """The token of the writer or job whose live claim holds the output, if any."""
        if self._claimant is None:
            d = self.scope.inside
            claim = read_lease(self.store, d + CLAIM, self.stale_after, decode=False)
            token = None
            if claim is not None and claim.live:
                token = token_of(claim.info) or "?"
                if token_of(self.store.head(d + SUCCESS)) == token:
                    token = None  # committed by the claim's own writer
            self._claimant = (token,)
        return self._claimant[0]

    def upload(self, upload: UploadInfo, busy: bool) -> None:
        label = f"{self.store.url(upload.key)} (multipart upload {upload.upload_id})"
        if busy or upload.initiated is None or upload.initiated > self.cutoff:
            self.report.kept_recent.append(label)
            return
        self.report.aborted_uploads.append(label)
        if not self.report.dry_run:
            self.store.abort_upload(upload.key, upload.upload_id)

    def staging(self, root: str, objects: list[ObjectInfo], lease: LeaseView | None) -> None:
        """Remove one staging prefix if it is stale, fencing its writer first. A job's
        hidden prefix stays while the job's claim is live; it has no lease of its own to
        fence (the job's claim is its lease, left to `recover`)."""
        job = job_token_of_area(root.rpartition("/")[2])
        if job is not None:
            if job == self.live_claimant():
                self.report.kept_recent.append(self.store.url(root))
                return
            lease = None
        newest = [o.last_modified for o in objects if o.last_modified is not None]
        if not newest or max(newest) > self.cutoff or (lease is not None and lease.live):
            self.report.kept_recent.append(self.store.url(root))
            return
        self.report.removed.append(self.store.url(root))
        if self.report.dry_run:
            return
        if job is not None:
            delete_listed(self.store, objects, concurrency=self.concurrency)
            return
        try:
            self._fence(root, lease)
        except CommitError:  # the writer renewed meanwhile: it is alive
            self.report.removed.remove(self.store.url(root))
            self.report.kept_recent.append(self.store.url(root))
            return
        delete_listed(self.store, objects, concurrency=self.concurrency)
        # The lease stays, taken over: the record that fences the writer should it wake
        # (its renewal, or its first write of the lease, then fails). A later cleanup
        # removes it once it is stale itself (`lone_lease`).

    def _fence(self, root: str, lease: LeaseView | None) -> str:
        """Take the lease of the writer of ``root`` over (creating it, if that writer never
        wrote one), so that the writer fails at its next renewal; return its new etag."""
        token = new_token()
        if lease is not None:
            return take_over(self.store, lease, by=token, why="cleanup", force=True)
        writer = parse_temp_name(root.rpartition("/")[2])
        assert writer is not None
        key = _root_lease(root)
        return fence_unwritten(
            self.store, key, writer[2], self.stale_after, by=token, why="cleanup"
        )

    def lone_lease(self, view: LeaseView) -> None:
        """A writer lease with no staging left: removed once stale (its writer had only
        uploads, or died after its staging went)."""
        stamped = view.info.last_modified
        if view.live or stamped is None or stamped > self.cutoff:
            return
        self.report.removed.append(self.store.url(view.info.key))
        if not self.report.dry_run:
            delete_version(self.store, view.info.key, view.info.etag)


def _root_lease(root: str) -> str:
    """The key of the lease of the writer that stages ``root``."""
    parent, _, seg = root.rpartition("/")
    parsed = parse_temp_name(seg)
    assert parsed is not None
    lease = temp_name(parsed[0], parsed[2], "lease")
    return f"{parent}/{lease}" if parent else lease


def _lease_root(key: str) -> str:
    """The staging root that the writer lease ``key`` covers."""
    parent, _, seg = key.rpartition("/")
    parsed = parse_temp_name(seg)
    assert parsed is not None
    root = temp_name(parsed[0], parsed[2], "tmp")
    return f"{parent}/{root}" if parent else root


@dataclasses.dataclass(frozen=True)
class _Scope:
    """Where cleanup looks for the leftovers of the output ``prefix``: under it, and beside
    it (its own staging prefixes, ``<parent>/.<name>.targets-tmp-<token>``)."""

    prefix: str

    @property
    def inside(self) -> str:
        return under(self.prefix)

    @property
    def parent(self) -> str:
        return self.prefix.rpartition("/")[0]

    @property
    def name(self) -> str:
        return self.prefix.rpartition("/")[2]

    @property
    def beside(self) -> str:
        """The key prefix of this output's temporaries beside it."""
        return (f"{self.parent}/" if self.parent else "") + f".{self.name}.targets-"

    def holds(self, key: str) -> bool:
        return key == self.prefix or key.startswith(self.inside) or key.startswith(self.beside)

    def staging_root(self, key: str) -> str | None:
        """The staging prefix that ``key`` lies in, if it lies in one of this library's:
        under the output, the first temporary-named segment; beside it, a temporary of
        this output's own name."""
        if key.startswith(self.inside):
            segs = key[len(self.inside) :].split("/")
            if len(segs) > 1 and job_token_of_area(segs[0]) is not None:
                return self.inside + segs[0]  # a job's hidden prefix
            for i, seg in enumerate(segs):
                parsed = parse_temp_name(seg)
                if parsed is not None and parsed[1] in _STAGING_KINDS:
                    return self.inside + "/".join(segs[: i + 1])
            return None
        base = f"{self.parent}/" if self.parent else ""
        seg = key[len(base) :].split("/", 1)[0]
        parsed = parse_temp_name(seg)
        if parsed is None or parsed[1] not in _STAGING_KINDS:
            return None
        if seg == temp_name(self.name, parsed[2], parsed[1]):
            return base + seg
        return None


def _uploads(store: ObjectStore, scope: _Scope) -> list[UploadInfo]:
    """The pending uploads at, under or beside the output."""
    found = [u for u in store.list_uploads(scope.prefix) if scope.holds(u.key)]
    if scope.name:
        found += [u for u in store.list_uploads(scope.beside) if u not in found]
    return found


def _staging_prefixes(store: ObjectStore, scope: _Scope) -> dict[str, list[ObjectInfo]]:
    """The objects of every staging prefix under or beside the output, by prefix."""
    found: dict[str, list[ObjectInfo]] = {}
    for o in _scan(store, scope):
        root = scope.staging_root(o.key)
        if root is not None:
            found.setdefault(root, []).append(o)
    return found


def _scan(store: ObjectStore, scope: _Scope) -> Iterator[ObjectInfo]:
    if scope.name:
        yield from store.list(scope.beside)
    yield from store.list(scope.inside)
