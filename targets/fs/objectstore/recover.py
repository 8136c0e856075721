"""Recovery: settle a commit that was interrupted between its claim and its ``_SUCCESS``.

A writer that died after its claim leaves a claim without ``_SUCCESS``: the output does not
exist, and new writers are refused (`IncompleteCommit`). `recover` reads the claim and
either rolls it forward (publishes what it lists and writes ``_SUCCESS`` with its token) or
back (removes what it lists that carries its token, then the claim). Nothing that the claim
does not list, or that lacks its writer's token, is touched (G8).
"""

from __future__ import annotations

from targets.errors import CommitError, InvalidTarget
from targets.fs import _manifest
from targets.fs._names import CLAIM, SUCCESS
from targets.fs.objectstore import parallel as _parallel
from targets.fs.objectstore.claim import PROTOCOL, Entry, decode_claim
from targets.fs.objectstore.conditional import Taken, complete_exclusive, put_exclusive
from targets.fs.objectstore.delete import delete_if_ours, delete_prefix
from targets.fs.objectstore.store import (
    ObjectNotFound,
    ObjectStore,
    now,
    staging_key,
    token_of,
    under,
    writer_metadata,
)

__all__ = ["recover"]


def recover(store: ObjectStore, prefix: str, how: str = "auto", *, stale_after: float = 0.0) -> str:
    """Finish or undo the interrupted commit at ``prefix``; return what was done.

    ``how="forward"`` publishes what the claim lists (completing its pending uploads,
    copying its staged objects) and writes ``_SUCCESS``; possible only if no listed file
    was lost (held-back files lived in the dead writer's memory). ``how="back"`` deletes
    the objects the claim lists that carry its writer token, aborts its uploads, removes
    its staging prefix and the claim. ``how="auto"`` goes forward when it can, else back.
    Nothing that the claim does not list, or that lacks its token, is touched.
    """
    if how not in ("auto", "forward", "back"):
        raise InvalidTarget(f"how={how!r} is not one of 'auto', 'forward', 'back'")
    d = under(prefix)
    url = store.url(prefix)
    claim_key = d + CLAIM
    claim_info = store.head(claim_key)
    committed = store.head(d + SUCCESS) is not None
    if claim_info is None:
        state = "it is committed" if committed else "no commit was started there"
        return f"nothing to recover at {url}: {state}"
    if committed:
        return f"nothing to recover at {url}: it is committed"
    if claim_info.last_modified is not None:
        age = (now() - claim_info.last_modified).total_seconds()
        if age < stale_after:
            raise CommitError(
                f"cannot recover {url} yet: it was claimed {max(age, 0.0):.1f} s ago and its "
                f"writer may still be publishing; retry after {stale_after:.0f} s",
                url,
            )
    try:
        raw = store.get(claim_key)
    except ObjectNotFound:
        return f"nothing to recover at {url}: the claim was removed meanwhile"
    doc = decode_claim(raw, store.url(claim_key))
    token = doc["writer"]
    pending = {u.upload_id for u in store.list_uploads(d)}
    entries: list[Entry] = []
    lost: list[str] = []
    for f in doc["files"]:
        e = Entry(
            f["name"],
            int(f.get("size", 0)),
            str(f.get("via", "put")),
            f.get("sha256"),
            upload_id=f.get("upload_id"),
            parts=[(int(n), str(t)) for n, t in f.get("parts", [])],
            source=f.get("source"),
        )
        entries.append(e)
        info = store.head(d + e.name)
        if info is not None and token_of(info) == token:
            e.etag = info.etag
            e.via = "done"
        elif e.via == "upload":
            if e.upload_id not in pending:
                lost.append(e.name)
        elif e.via != "copy" or e.source is None or store.head(e.source) is None:
            lost.append(e.name)
    if how == "forward" and lost:
        raise CommitError(
            f"cannot roll {url} forward: {len(lost)} file(s) of the claim are gone "
            f"({', '.join(lost[:3])}); they were held in the writer's memory. Run recover "
            "with how='back' and write the output again",
            url,
        )
    staging = doc.get("staging") if isinstance(doc.get("staging"), str) else None
    if how == "forward" or (how == "auto" and not lost):

        def finish(e: Entry) -> None:
            key = d + e.name
            if e.via == "upload":
                assert e.upload_id is not None
                e.etag = complete_exclusive(store, key, e.upload_id, e.parts, token)
            elif e.via == "copy":
                assert e.source is not None
                e.etag = store.copy(e.source, key, metadata=writer_metadata(token), if_absent=False)

        try:
            _parallel.parallel(finish, entries)
        except Taken as taken:
            raise CommitError(
                f"cannot roll {url} forward: {store.url(taken.key)} was written by someone "
                "else meanwhile; run recover with how='back'",
                url,
            ) from None
        manifest = _manifest.build(token, [e.part_record() for e in entries], PROTOCOL)
        etags = {e.name: e.etag for e in entries}
        for f in manifest["files"]:
            if etags.get(f["name"]):
                f["etag"] = etags[f["name"]]
        manifest["recovered_at"] = _manifest.timestamp(now())
        try:
            put_exclusive(store, d + SUCCESS, _manifest.encode(manifest), token)
        except Taken:
            raise CommitError(
                f"cannot roll {url} forward: a {SUCCESS} written by someone else appeared",
                url,
            ) from None
        if staging is not None and _is_staging_of(staging, prefix, token):
            delete_prefix(store, staging)
        return f"rolled {url} forward: published {len(entries)} file(s) and {SUCCESS}"

    removed = 0
    for e in entries:
        if e.upload_id is not None:
            store.abort_upload(d + e.name, e.upload_id)
        if delete_if_ours(store, d + e.name, token):
            removed += 1
    if staging is not None and _is_staging_of(staging, prefix, token):
        delete_prefix(store, staging)
    delete_if_ours(store, claim_key, token)
    return (
        f"rolled {url} back: removed {removed} published file(s) of writer {token} and its "
        "claim; the output can be written again"
    )


def _is_staging_of(staging: str, prefix: str, token: str) -> bool:
    """Whether ``staging`` (read from a claim) is the staging key of writer ``token`` for
    ``prefix``: recovery deletes nothing else."""
    return staging == staging_key(prefix, token)
