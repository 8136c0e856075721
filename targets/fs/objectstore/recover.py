"""Recovery: settle a commit that was interrupted between its claim and its ``_SUCCESS``.

A writer that died after its claim leaves a claim without ``_SUCCESS``: the output does not
exist, and new writers are refused (`IncompleteCommit`). `recover` reads as its steps:

1. `_load_claim`: the claim, unless the output is committed or was never claimed;
2. a claim whose lease is live (renewed within its period, by the store's clock) is
   refused, saying whose it is, unless the caller forces it;
3. `_find_lost` and `_goes_forward`: forward if every file the claim lists can still be
   published (or was), else back;
4. `take_over`: one conditional replace of the claim that records this recovery, so that
   exactly one party acts and the claim's writer, if it is alive after all, finds itself
   fenced at its next renewal and publishes nothing more; the recovery then holds the claim's
   lease itself while it works;
5. `_roll_forward` (publish what the claim lists, write ``_SUCCESS`` with its token) or
   `_roll_back` (remove what it lists that carries its token, then the claim).

Nothing that the claim does not list, or that lacks its writer's token, is touched (G8).
A job's claim (``"kind": "job"``) claims the whole output: rolling it either way also
aborts every pending upload under the output and deletes the job's hidden prefix
(``_targets_job-<token>``); a job that died before its commit chose attempts
(``"stage": "tasks"``) is only ever rolled back.
"""

from __future__ import annotations

import dataclasses
from typing import get_args

from targets.errors import CommitError, InvalidTarget
from targets.fs import _manifest
from targets.fs._names import CLAIM, SUCCESS, new_token
from targets.fs.base import RecoverHow
from targets.fs.objectstore.claim import STALE_CLAIM_AFTER, Entry, check_claim
from targets.fs.objectstore.conditional import Taken, put_exclusive
from targets.fs.objectstore.delete import delete_if_ours, delete_prefix
from targets.fs.objectstore.job import discard_job_leftovers
from targets.fs.objectstore.lease import (
    DocumentLease,
    LeaseView,
    read_lease,
    refuse_live,
    take_over,
)
from targets.fs.objectstore.parallel import parallel
from targets.fs.objectstore.publish import manifest_of, publish_entry
from targets.fs.objectstore.store import (
    ObjectStore,
    PreconditionFailed,
    now,
    staging_key,
    token_of,
    under,
)

__all__ = ["recover"]

_HOWS: tuple[str, ...] = get_args(RecoverHow)


@dataclasses.dataclass
class _Claim:
    """An interrupted commit, as its claim describes it."""

    store: ObjectStore
    prefix: str
    token: str
    entries: list[Entry]
    staging: str | None
    """The claim's staging prefix, if it is the one of this output and writer (recovery
    deletes no other)."""
    concurrency: int | None
    view: LeaseView
    """The claim as found, with its lease."""
    job: str | None = None
    """``"tasks"`` or ``"publish"`` for a job's claim (`targets.fs.objectstore.job`): the
    job's other uploads and hidden prefix are settled too; None for a writer's."""
    lease: DocumentLease | None = None
    """The claim's lease, held by this recovery once it took the claim over."""

    @property
    def url(self) -> str:
        return self.store.url(self.prefix)


def recover(
    store: ObjectStore,
    prefix: str,
    how: str = "auto",
    *,
    stale_after: float = STALE_CLAIM_AFTER,
    force: bool = False,
    concurrency: int | None = None,
) -> str:
    """Finish or undo the interrupted commit at ``prefix``; return what was done.

    ``how="forward"`` publishes what the claim lists (completing its pending uploads,
    copying its staged objects) and writes ``_SUCCESS`` with the claim's writer token;
    possible only if no listed file was lost (held-back files lived in the dead writer's
    memory), else `CommitError`. ``how="back"`` aborts the claim's uploads, deletes the
    objects it lists that carry its writer token (each in the version checked), removes its
    staging prefix and the claim. ``how="auto"`` goes forward when it can, else back.
    Nothing that the claim does not list, or that lacks its token, is touched.

    A claim whose lease is live (renewed less than its ``lease_period``, or ``stale_after``
    for a version 1 claim, ago by the store's clock) is refused with `CommitError` naming its
    holder, and nothing changes, unless ``force``. The recovery takes the claim over by one
    conditional replace first: of two recoveries, or a recovery and a writer that renews,
    exactly one goes on; a fenced writer publishes nothing more. An output that is
    committed, or was never claimed, is left alone (the answer says so).
    """
    if how not in _HOWS:
        raise InvalidTarget(f"how={how!r} is not one of {', '.join(map(repr, _HOWS))}")
    claim = _load_claim(store, prefix, stale_after, concurrency)
    if isinstance(claim, str):
        return claim
    if not force:
        refuse_live(store, claim.view)
    lost = _find_lost(claim)
    forward = _goes_forward(claim, how, lost)
    etag = take_over(
        store,
        claim.view,
        by=new_token(),
        why="recover-forward" if forward else "recover-back",
        force=force,
    )
    claim.lease = DocumentLease(
        store, under(prefix) + CLAIM, claim.token, claim.view.doc, etag, claim.view.period
    )
    with claim.lease.lease:
        return _roll_forward(claim) if forward else _roll_back(claim)


def _load_claim(
    store: ObjectStore, prefix: str, stale_after: float, concurrency: int | None
) -> _Claim | str:
    """The claim at ``prefix``, decoded, with its lease (or why there is nothing to
    recover)."""
    d, url = under(prefix), store.url(prefix)
    if store.head(d + SUCCESS) is not None:
        return f"nothing to recover at {url}: it is committed"
    view = read_lease(store, d + CLAIM, stale_after)
    if view is None:
        return f"nothing to recover at {url}: no commit was started there"
    doc = check_claim(view.doc, store.url(d + CLAIM))
    token = doc["writer"]
    staging = doc.get("staging")
    ours = isinstance(staging, str) and staging == staging_key(prefix, token)
    entries = [Entry.from_claim(f) for f in doc["files"]]
    job = str(doc.get("stage", "tasks")) if doc.get("kind") == "job" else None
    staging = staging if ours else None
    return _Claim(store, prefix, token, entries, staging, concurrency, view, job)


def _find_lost(claim: _Claim) -> list[str]:
    """The files of the claim that can no longer be published; the ones already published
    by its writer are marked ``via="done"`` with their etag."""
    store, d = claim.store, under(claim.prefix)
    pending = {u.upload_id for u in store.list_uploads(d)}
    lost = []
    for e in claim.entries:
        info = store.head(d + e.name)
        if info is not None and token_of(info) == claim.token:
            e.etag, e.via = info.etag, "done"
        elif not _still_available(store, e, pending):
            lost.append(e.name)
    return lost


def _still_available(store: ObjectStore, entry: Entry, pending: set[str]) -> bool:
    """Whether an unpublished file can still be published: its upload is pending, or its
    staged object is there. A held-back file lived in the writer's memory: never."""
    if entry.via == "upload":
        return entry.upload_id in pending
    return entry.via == "copy" and entry.source is not None and store.head(entry.source) is not None


def _goes_forward(claim: _Claim, how: str, lost: list[str]) -> bool:
    """Whether to roll forward; `CommitError` for ``how="forward"`` with files lost, or of
    a job that never chose its attempts."""
    if claim.job == "tasks":
        if how == "forward":
            raise CommitError(
                f"cannot roll {claim.url} forward: its job died before it committed (no "
                "attempt was chosen); run recover with how='back' and run the job again",
                claim.url,
            )
        return False
    if how == "forward" and lost:
        raise CommitError(
            f"cannot roll {claim.url} forward: {len(lost)} file(s) of the claim are gone "
            f"({', '.join(lost[:3])}); they were held in the writer's memory. Run recover "
            "with how='back' and write the output again",
            claim.url,
        )
    return how == "forward" or (how == "auto" and not lost)


def _roll_forward(claim: _Claim) -> str:
    """Publish every file of the claim that is not yet published, then ``_SUCCESS`` with
    the claim's token; `CommitError` if someone else's object is in the way."""
    store, prefix, token, url = claim.store, claim.prefix, claim.token, claim.url
    try:
        parallel(lambda e: publish_entry(store, prefix, token, e), claim.entries, claim.concurrency)
    except Taken as taken:
        raise CommitError(
            f"cannot roll {url} forward: {store.url(taken.key)} was written by someone "
            "else meanwhile; run recover with how='back'",
            url,
        ) from None
    manifest = manifest_of(token, claim.entries)
    manifest["recovered_at"] = _manifest.timestamp(now())
    assert claim.lease is not None
    claim.lease.lease.ensure()  # still this recovery's claim: no other took it over
    try:
        put_exclusive(store, under(prefix) + SUCCESS, _manifest.encode(manifest), token)
    except Taken:
        raise CommitError(
            f"cannot roll {url} forward: a {SUCCESS} written by someone else appeared", url
        ) from None
    if claim.staging is not None:
        delete_prefix(store, claim.staging, concurrency=claim.concurrency)
    _settle_job(claim)
    return f"rolled {url} forward: published {len(claim.entries)} file(s) and {SUCCESS}"


def _settle_job(claim: _Claim) -> None:
    """For a job's claim: abort every other pending upload under the output (its attempts'
    that were not chosen or never reported) and delete the job's hidden prefix."""
    if claim.job is not None:
        discard_job_leftovers(claim.store, claim.prefix, claim.token, concurrency=claim.concurrency)


def _roll_back(claim: _Claim) -> str:
    """Abort the claim's uploads, delete what it lists that carries its token, its staging
    prefix, and the claim itself (last)."""
    store, d, token = claim.store, under(claim.prefix), claim.token
    removed = 0
    for e in claim.entries:
        if e.upload_id is not None:
            store.abort_upload(d + e.name, e.upload_id)
        removed += delete_if_ours(store, d + e.name, token)
    if claim.staging is not None:
        delete_prefix(store, claim.staging, concurrency=claim.concurrency)
    _settle_job(claim)
    assert claim.lease is not None
    claim.lease.release()
    try:
        store.delete(d + CLAIM, if_match=claim.lease.etag)
    except PreconditionFailed:
        raise CommitError(
            f"rolled {claim.url} back, but its claim was taken over by someone else meanwhile "
            "and is left in place; run `targets status` to see it",
            claim.url,
        ) from None
    return (
        f"rolled {claim.url} back: removed {removed} published file(s) of writer {token} and "
        "its claim; the output can be written again"
    )
