"""Directory commits: claim -> publish -> ``_SUCCESS``.

`commit_directory` is the protocol of docs/protocols-objectstore.md ("Directory outputs"),
step by step: take the claim (the one decision point), make sure the prefix holds nothing
but it, publish every file in parallel (held-back puts, upload completions, server-side
copies of staged objects, each exclusive), then write ``_SUCCESS`` holding the manifest.
A failure after the claim rolls back what this writer published (by token) and its claim.

`copy_directory` (a prefix copied server-side) and the staging of tools that write by path
(`entries_from_staging`) commit through the same steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from targets.errors import (
    CommitError,
    InvalidTarget,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import _manifest
from targets.fs._names import CLAIM, SUCCESS, check_relative_name, new_token
from targets.fs.base import IfExists
from targets.fs.objectstore import parallel as _parallel
from targets.fs.objectstore.claim import (
    PROTOCOL,
    STALE_CLAIM_AFTER,
    Entry,
    claim_document,
    claimed_error,
    encode_json,
)
from targets.fs.objectstore.conditional import (
    Taken,
    complete_exclusive,
    published_by,
    put_exclusive,
)
from targets.fs.objectstore.delete import (
    abort_entries,
    delete_if_ours,
    delete_output,
    delete_prefix,
)
from targets.fs.objectstore.outcomes import (
    directory_outcome,
    exists_error,
    interrupted,
    nothing_published,
)
from targets.fs.objectstore.store import ObjectStore, token_of, under, writer_metadata

__all__ = [
    "commit_directory",
    "copy_directory",
    "entries_from_staging",
    "roll_back_own",
]


def _clear_for_overwrite(store: ObjectStore, prefix: str, stale_after: float) -> None:
    """Empty ``prefix`` before an overwrite (see `delete_output`); a claim without
    ``_SUCCESS`` (a commit in progress, or abandoned) is not overwritten."""
    d = under(prefix)
    keys = {o.key for o in store.list(d)}
    if not keys:
        return
    claim, success = d + CLAIM, d + SUCCESS
    if claim in keys and success not in keys:
        raise claimed_error(store, prefix, store.head(claim), stale_after)
    delete_output(store, prefix, keys)


def commit_directory(
    store: ObjectStore,
    prefix: str,
    token: str,
    entries: Sequence[Entry],
    *,
    if_exists: IfExists,
    staging: str | None = None,
    stale_after: float = STALE_CLAIM_AFTER,
) -> dict[str, Any]:
    """Claim -> publish -> ``_SUCCESS`` for the output at ``prefix``; return the manifest.

    1. Claim: exclusive create of ``prefix/_targets_claim`` listing every file (the single
       decision point; a refused claim aborts this writer's uploads, nothing of it was
       visible).
    2. List ``prefix/``: anything but our claim (a foreign output, e.g. Spark's) and we back
       out: delete our claim, abort our uploads, `TargetExistsError`.
    3. Publish in parallel: held-back files as exclusive puts, uploads completed
       exclusively, staged objects copied; then exclusive create of ``_SUCCESS``.
    A failure in 3 deletes what this writer published (by token) and its claim, and
    re-raises; if that clean-up fails too, the claim stays and `recover` finishes the job.
    A store that stops answering raises `StoreUnavailable` saying what is known of the
    outcome; while ``_SUCCESS`` is being written nothing is rolled back (the output may be
    committed: `recover` tells). The claim stays after a commit: it marks the prefix as
    taken for later writers.
    """
    d = under(prefix)
    url = store.url(prefix)
    claim_key = d + CLAIM
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise InvalidTarget(f"output {url} names a file twice", url)
    phase = "clear" if if_exists == "overwrite" else "claim"
    try:
        if if_exists == "overwrite":
            _clear_for_overwrite(store, prefix, stale_after)
            phase = "claim"
        put_exclusive(store, claim_key, encode_json(claim_document(token, entries, staging)), token)
    except Taken as taken:
        abort_entries(store, prefix, entries)
        raise claimed_error(store, prefix, taken.info, stale_after) from None
    except StoreUnavailable as exc:
        claim = "unknown"
        if phase == "claim":
            try:
                info = store.head(claim_key)
                claim = "ours" if info is not None and token_of(info) == token else "none"
            except TargetError:
                pass
        if claim != "ours":  # else the claim took effect and only its answer was lost: go on
            abort_entries(store, prefix, entries)
            if claim == "none":
                phase = "claim-absent"
            raise interrupted(exc, url, directory_outcome(phase, url, token, False)) from exc
    except BaseException:
        abort_entries(store, prefix, entries)
        raise

    phase = "publish"
    try:
        foreign = sorted(o.key for o in store.list(d) if o.key != claim_key)
        if foreign:
            shown = ", ".join(k[len(d) :] for k in foreign[:3])
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise TargetExistsError(
                f"{url} already holds objects this writer did not write ({shown}{more}); "
                "this writer's output was discarded. Remove them first, write elsewhere, "
                "or pass if_exists='overwrite'",
                url,
            )

        def publish(e: Entry) -> None:
            key = d + e.name
            if e.via == "put":
                assert e.data is not None
                e.etag = put_exclusive(store, key, e.data, token)
                e.release()
            elif e.via == "upload":
                assert e.upload_id is not None
                e.etag = complete_exclusive(store, key, e.upload_id, e.parts, token)
                e.upload_id = None
            else:
                assert e.source is not None
                e.etag = store.copy(e.source, key, metadata=writer_metadata(token), if_absent=False)

        _parallel.parallel(publish, entries)
        manifest = _manifest.build(token, [e.part_record() for e in entries], PROTOCOL)
        etags = {e.name: e.etag for e in entries}
        for f in manifest["files"]:
            if etags.get(f["name"]):
                f["etag"] = etags[f["name"]]
        phase = "success"
        put_exclusive(store, d + SUCCESS, _manifest.encode(manifest), token)
    except StoreUnavailable as exc:
        if phase == "success" and published_by(store, d + SUCCESS, token) is not None:
            pass  # _SUCCESS took effect; only its answer was lost (G7): committed
        else:
            rolled_back = False
            if phase != "success":  # else the output may be committed: leave it to `recover`
                rolled_back = roll_back_own(store, prefix, token, entries)
            outcome = directory_outcome(phase, url, token, rolled_back)
            raise interrupted(exc, url, outcome) from exc
    except BaseException as exc:
        rolled_back = roll_back_own(store, prefix, token, entries)
        if isinstance(exc, Taken):
            raise exists_error(url) from None
        if not rolled_back and isinstance(exc, TargetError):
            message = (
                f"{exc.message}. The commit of {url} is not committed, but removing its claim "
                f"and files failed too: run `targets recover {url}` once the store lets it"
            )
            raise type(exc)(message, exc.path) from exc
        raise
    if staging is not None:
        with contextlib.suppress(Exception):
            delete_prefix(store, staging)
    return manifest


def roll_back_own(store: ObjectStore, prefix: str, token: str, entries: Sequence[Entry]) -> bool:
    """Undo a failed publish: this writer's objects (checked by token), uploads, claim.
    Whether that worked; if not, the claim stays and `recover` rolls it back later."""
    d = under(prefix)
    try:
        abort_entries(store, prefix, entries)
        _parallel.parallel(lambda k: delete_if_ours(store, k, token), [d + e.name for e in entries])
        delete_if_ours(store, d + CLAIM, token)
    except Exception:
        return False
    return True


def entries_from_staging(
    store: ObjectStore, staging: str, url: str, *, output: bool = False
) -> list[Entry]:
    """The files under the prefix ``staging``, as entries to copy into the output ``url``.

    ``output=True``: ``staging`` is a committed output being copied, whose own claim is left
    behind like its ``_SUCCESS``; otherwise a file a tool named like the claim is an error.
    A name that cannot be part of an output is a `CommitError` (nothing is published).
    """
    d = staging + "/"
    entries = []
    for o in store.list(d):
        name = o.key[len(d) :]
        if not name or name.endswith("/") or name == SUCCESS:
            continue  # directory markers; a tool's own empty _SUCCESS (ours replaces it)
        if name == CLAIM:
            if output:
                continue
            raise CommitError(f"cannot commit {url}: a staged file is named {CLAIM}", url)
        try:
            check_relative_name(name, url)
        except InvalidTarget as exc:
            raise CommitError(
                f"cannot commit {url}: the file {name!r} under {store.url(staging)} has a name "
                f"that cannot be part of an output ({exc}); nothing was published",
                url,
            ) from None
        entries.append(Entry(name, o.size, "copy", source=o.key))
    return entries


def copy_directory(
    store: ObjectStore, src: str, dst: str, *, stale_after: float = STALE_CLAIM_AFTER
) -> dict[str, Any]:
    """Copy every object under ``src/`` to ``dst/`` with claim -> server-side copies ->
    ``_SUCCESS`` (`commit_directory`), so that ``dst`` appears whole or not at all and
    never replaces anything. ``src``'s own ``_SUCCESS`` and claim are not copied; the new
    manifest lists the copied files. `TargetNotFound` if nothing is under ``src/``.
    Return the manifest."""
    url = store.url(dst)
    try:
        entries = entries_from_staging(store, src, url, output=True)
    except StoreUnavailable as exc:
        raise interrupted(exc, url, nothing_published(url)) from exc
    if not entries:
        raise TargetNotFound(
            f"cannot copy {store.url(src)} to {url}: there is nothing to copy", store.url(src)
        )
    return commit_directory(
        store, dst, new_token(), entries, if_exists="error", stale_after=stale_after
    )
