"""Directory commits: claim -> publish -> ``_SUCCESS``.

`commit_directory` is the protocol of docs/protocols-objectstore.md ("Directory outputs"),
one named step per numbered step there:

1. `_take_claim`: exclusive create of ``<dir>/_targets_claim``, the one decision point
   between writers; an overwrite (`_claim_overwrite`) replaces the committed output's claim
   conditionally instead, then deletes only what the old manifest lists (`clear_old`). From
   here on the claim is the writer's lease (`targets.fs.objectstore.lease`): renewed while
   the commit runs, checked before every publish and before ``_SUCCESS``; a writer whose
   claim was taken over (`_fenced`) publishes nothing more and removes what it published;
2. `check_alone`: the prefix holds nothing but this writer's claim. Its listing leaves
   right behind the claim, without waiting for its answer (`claim_and_list`), so that the
   commit's fixed latency is two round trips (claim and listing, then ``_SUCCESS``), not
   three;
3. `publish_entry` for every file, in parallel, each exclusive;
4. `write_success`: exclusive create of ``_SUCCESS`` holding the manifest;
5. the staging prefix, if anything was staged, is deleted.

Nothing of a writer is visible before its claim; a failure after the claim rolls back what
this writer published (by token) and its claim (`roll_back_own`), or says to run
`targets recover` when that fails too. `copy_directory` (a prefix copied server-side) and
the staging of tools that write by path (`entries_from_staging`) commit through the same
steps.

A commit path of its own (a job of many workers, `targets.fs.objectstore.job`) composes the
same steps: a `DirectoryCommit` holds what they share; `claim_and_list` (or
`claim_over_committed`, then `clear_old`, for an overwrite) takes the claim; `check_alone`,
`publish_entry` and `write_success` follow; `fail_after_claim` rolls back any failure
after the claim. Each step keeps its guarantee whoever calls it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, NoReturn

from targets.errors import (
    CommitError,
    CorruptManifest,
    InvalidTarget,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import _manifest
from targets.fs._lease import LeaseLost
from targets.fs._names import CLAIM, SUCCESS, check_relative_name, new_token
from targets.fs.base import IfExists
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
    complete_resolved,
    published_by,
    put_exclusive,
    resend_on_conflict,
)
from targets.fs.objectstore.delete import (
    abort_entries,
    delete_if_ours,
    delete_prefix,
    delete_version,
)
from targets.fs.objectstore.lease import DocumentLease, read_lease
from targets.fs.objectstore.outcomes import (
    directory_outcome,
    interrupted,
    nothing_published,
)
from targets.fs.objectstore.parallel import concurrency_of, parallel
from targets.fs.objectstore.store import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    token_of,
    under,
    writer_metadata,
)

__all__ = [
    "DirectoryCommit",
    "check_alone",
    "claim_and_list",
    "claim_over_committed",
    "clear_old",
    "commit_directory",
    "copy_directory",
    "entries_from_staging",
    "fail_after_claim",
    "manifest_of",
    "publish_entry",
    "roll_back_own",
    "write_success",
]


@dataclasses.dataclass
class DirectoryCommit:
    """One directory commit under way: what its steps share."""

    store: ObjectStore
    prefix: str
    token: str
    entries: Sequence[Entry]
    staging: str | None
    stale_after: float
    concurrency: int | None
    lease: DocumentLease | None = None
    """The claim's lease, once the claim is taken."""

    def hold(self, document: dict[str, Any], etag: str) -> None:
        """Hold the claim just taken (version ``etag``) as this writer's lease, renewed in
        the background from now until the commit ends."""
        self.lease = DocumentLease(
            self.store, self.claim_key, self.token, document, etag, self.stale_after
        )
        self.lease.lease.start()

    def ensure_lease(self) -> None:
        """`LeaseLost` if the claim was taken over (renewing it first when less than half
        of its period is left; a short commit sends nothing)."""
        if self.lease is not None:
            self.lease.lease.ensure()

    @property
    def url(self) -> str:
        return self.store.url(self.prefix)

    @property
    def claim_key(self) -> str:
        return under(self.prefix) + CLAIM


def commit_directory(
    store: ObjectStore,
    prefix: str,
    token: str,
    entries: Sequence[Entry],
    *,
    if_exists: IfExists,
    staging: str | None = None,
    stale_after: float = STALE_CLAIM_AFTER,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """Commit ``entries`` as the directory output at ``prefix`` for writer ``token``;
    return the manifest written in ``_SUCCESS``.

    Guarantees: the output appears whole (``_SUCCESS`` last) or not at all; the claim is
    the one decision point, so of concurrent writers at most one publishes anything, and a
    refused writer (`TargetExistsError`, or `IncompleteCommit` for a stale claim) never had
    a byte visible. A prefix that holds objects this writer did not write is never mixed
    into: `TargetExistsError`. A failure after the claim removes what this writer published
    (checked by token) and its claim, or says to run `targets recover` if that failed too.
    A store that stops answering raises `StoreUnavailable` saying what is known of the
    outcome; while ``_SUCCESS`` is written nothing is rolled back (the output may be
    committed: `recover` tells). ``if_exists="overwrite"`` first empties a committed
    output, ``_SUCCESS`` first (absent, never mixed). The claim stays after the commit: it
    marks the prefix as taken for later writers. ``concurrency``: requests sent in parallel
    (default `targets.fs.objectstore.parallel.PUBLISH_THREADS`).
    """
    commit = DirectoryCommit(store, prefix, token, entries, staging, stale_after, concurrency)
    _check_names(commit)
    document = claim_document(token, entries, staging, lease_period=stale_after)
    try:
        if if_exists == "overwrite":
            etag, early = _claim_overwrite(commit, document), None
        else:
            etag, early = claim_and_list(commit, document)
    except BaseException:
        abort_entries(store, prefix, entries)  # nothing of this writer was visible
        raise
    commit.hold(document, etag)
    try:
        return _publish_claimed(commit, early)
    finally:
        assert commit.lease is not None
        commit.lease.release()


def _publish_claimed(
    commit: DirectoryCommit, early: concurrent.futures.Future[list[str]] | None
) -> dict[str, Any]:
    """Steps 2 to 5, once the claim is held."""
    store, prefix, token, entries = commit.store, commit.prefix, commit.token, commit.entries

    def publish(e: Entry) -> None:
        commit.ensure_lease()
        publish_entry(store, prefix, token, e)

    try:
        check_alone(commit, early)
        parallel(publish, entries, commit.concurrency)
        commit.ensure_lease()
    except BaseException as exc:
        fail_after_claim(commit, exc, "publish")
    manifest = manifest_of(token, entries)
    write_success(commit, manifest)
    if commit.staging is not None:
        with contextlib.suppress(Exception):
            delete_prefix(store, commit.staging, concurrency=commit.concurrency)
    return manifest


def _check_names(commit: DirectoryCommit) -> None:
    names = [e.name for e in commit.entries]
    if len(set(names)) != len(names):
        raise InvalidTarget(f"output {commit.url} names a file twice", commit.url)


def _claim_overwrite(commit: DirectoryCommit, document: dict[str, Any]) -> str:
    """Step 1 of an overwrite; return the etag of this writer's claim.

    A committed output's claim is replaced conditionally (the version seen), so that of two
    overwriters exactly one goes on and the other, having deleted nothing, gets
    `TargetExistsError`; an output without a claim is claimed exclusively. Only then is the
    old output emptied (`clear_old`): ``_SUCCESS`` first (absent, never mixed), then what
    its manifest lists, each in the version listed. A claim without ``_SUCCESS`` (a commit
    in progress, or abandoned) is not overwritten (`claimed_error`)."""
    try:
        etag, success = claim_over_committed(commit, document)
        if success is not None:
            clear_old(commit, success)
    except StoreUnavailable as exc:
        outcome = directory_outcome("clear", commit.url, commit.token, False)
        raise interrupted(exc, commit.url, outcome) from exc
    return etag


def claim_over_committed(
    commit: DirectoryCommit, document: dict[str, Any]
) -> tuple[str, ObjectInfo | None]:
    """Take the claim of an output that may be committed: replace its committed claim in the
    version seen, or claim exclusively where there is none; return the claim's etag and the
    old ``_SUCCESS`` seen (None: none), which the caller clears when it publishes. A claim
    without ``_SUCCESS`` is refused (`claimed_error`)."""
    store, d = commit.store, under(commit.prefix)
    success = store.head(d + SUCCESS)
    claim = store.head(commit.claim_key)
    if claim is not None and success is None:
        raise claimed_error(store, commit.prefix, claim, commit.stale_after)
    if claim is None:
        return _take_claim(commit, encode_json(document)), success
    return _replace_claim(commit, encode_json(document), claim), success


def _replace_claim(commit: DirectoryCommit, document: bytes, old: ObjectInfo) -> str:
    """Replace the committed output's claim ``old`` with this writer's, in the version seen.
    `TargetExistsError` if it changed meanwhile (another overwriter was first)."""

    def send() -> str:
        return commit.store.put(
            commit.claim_key,
            document,
            metadata=writer_metadata(commit.token),
            if_absent=False,
            if_match=old.etag,
        )

    try:
        return resend_on_conflict(commit.store, commit.claim_key, send)
    except PreconditionFailed:
        raise TargetExistsError(
            f"{commit.url} is being overwritten by another writer, which claimed it first; "
            "this writer's output was discarded and nothing of the output was touched",
            commit.url,
        ) from None
    except StoreUnavailable:
        info = commit.store.head(commit.claim_key)
        if info is not None and token_of(info) == commit.token:
            return info.etag  # the replace took effect; only its answer was lost
        raise


def clear_old(commit: DirectoryCommit, success: ObjectInfo) -> None:
    """Delete the old output that this writer's claim now holds: its ``_SUCCESS`` first,
    then what its manifest lists (each in the version listed now, and only if that is the
    version the manifest names). An old output without a manifest of this library (a
    ``_SUCCESS`` of Spark's) loses every object listed under it."""
    store, d = commit.store, under(commit.prefix)
    listed = {o.key: o for o in store.list(d) if o.key not in (commit.claim_key, d + SUCCESS)}
    try:
        manifest = _manifest.decode(store.get(d + SUCCESS, if_match=success.etag), d + SUCCESS)
    except (ObjectNotFound, PreconditionFailed, CorruptManifest):
        manifest = None
    doomed = list(listed.values())
    if manifest is not None:
        named = {d + f["name"]: f.get("etag") for f in manifest["files"]}
        doomed = [o for k, o in listed.items() if k in named and named[k] in (None, o.etag)]
    if not delete_version(store, d + SUCCESS, success.etag):
        raise TargetExistsError(
            f"{commit.url} changed while this writer was overwriting it (its {SUCCESS} was "
            "replaced); nothing of the output was deleted. Look at it and write again",
            commit.url,
        )
    parallel(lambda o: delete_version(store, o.key, o.etag), doomed, commit.concurrency)


def claim_and_list(
    commit: DirectoryCommit, document_: dict[str, Any]
) -> tuple[str, concurrent.futures.Future[list[str]] | None]:
    """Steps 1 and 2 together: the claim, and (when requests may be sent in parallel) the
    listing of the prefix, sent from a second thread as soon as the claim has gone out,
    without waiting for its answer; both cost one round trip.

    The claim alone decides between writers; the listing only looks for objects that are
    not this library's (a foreign output). Returns that early listing, answered, for
    `check_alone` (which raises its error, if it failed, as a listing after the claim
    would); None when the requests go one after the other (``publish_concurrency=1``).
    Since the listing leaves only once the claim has, a writer that pauses between the two
    delays both; what it may miss is an object written while the listing overtakes the
    claim on the way to the store. The claim's etag comes first in the answer.
    """
    document = encode_json(document_)
    if concurrency_of(commit.concurrency) <= 1:
        return _take_claim(commit, document), None
    claim_sent = threading.Event()

    def early_listing() -> list[str]:
        claim_sent.wait()
        return _others(commit)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        early = pool.submit(early_listing)
        try:
            etag = _take_claim(commit, document, on_send=claim_sent.set)
        finally:
            claim_sent.set()  # never leave the listing waiting
    return etag, early


def _take_claim(
    commit: DirectoryCommit, document: bytes, on_send: Callable[[], None] | None = None
) -> str:
    """Step 1: the exclusive create of the claim (``on_send`` is called right before it is
    sent); return its etag. Another writer's claim there raises `claimed_error`; a lost
    answer is settled by reading the claim's token back (G7)."""
    if on_send is not None:
        on_send()
    try:
        return put_exclusive(commit.store, commit.claim_key, document, commit.token)
    except Taken as taken:
        error = claimed_error(commit.store, commit.prefix, taken.info, commit.stale_after)
        raise error from None
    except StoreUnavailable as exc:
        ours = _claim_is_ours(commit)
        if isinstance(ours, str):
            return ours  # the claim took effect; only its answer was lost
        phase = "claim" if ours is None else "claim-absent"
        outcome = directory_outcome(phase, commit.url, commit.token, False)
        raise interrupted(exc, commit.url, outcome) from exc


def _claim_is_ours(commit: DirectoryCommit) -> str | Literal[False] | None:
    """The etag of this writer's claim if it is there, False if it is not (None: the store
    does not say)."""
    try:
        info = commit.store.head(commit.claim_key)
    except TargetError:
        return None
    return info.etag if info is not None and token_of(info) == commit.token else False


def check_alone(
    commit: DirectoryCommit, early: concurrent.futures.Future[list[str]] | None
) -> None:
    """Step 2: the prefix holds nothing but this writer's claim, else `TargetExistsError`
    (a foreign output, e.g. Spark's, is never mixed into). An early listing that found
    nothing settles it; anything it found is checked by a listing made after the claim's
    answer, so that what was there and is gone since (an output removed meanwhile, another
    writer's claim rolled back) is no conflict. An early listing that failed raises its
    error here, as a listing after the claim would."""
    foreign = _others(commit) if early is None else early.result()
    if foreign and early is not None:
        foreign = _others(commit)
    if not foreign:
        return
    d = under(commit.prefix)
    shown = ", ".join(k[len(d) :] for k in foreign[:3])
    more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
    raise TargetExistsError(
        f"{commit.url} already holds objects this writer did not write ({shown}{more}); "
        "this writer's output was discarded. Remove them first, write elsewhere, or pass "
        "if_exists='overwrite'",
        commit.url,
    )


def _others(commit: DirectoryCommit) -> list[str]:
    """The keys under the output's prefix other than this writer's claim, sorted."""
    listed = commit.store.list(under(commit.prefix))
    return sorted(o.key for o in listed if o.key != commit.claim_key)


def publish_entry(store: ObjectStore, prefix: str, token: str, entry: Entry) -> None:
    """Step 3 for one file of the claimed output ``prefix``: publish it at its final key,
    tagged with ``token``, and note its etag. A held-back file is an exclusive put, a
    pending upload an exclusive completion (aborted if refused), a staged object a
    server-side copy; a file already published (``via="done"``) is left as it is. `Taken`
    if another writer's object is at the key."""
    key = under(prefix) + entry.name
    if entry.via == "put":
        assert entry.data is not None
        entry.etag = put_exclusive(store, key, entry.data, token)
        entry.release()
    elif entry.via == "upload":
        assert entry.upload_id is not None
        if entry.if_absent:
            entry.etag = complete_exclusive(store, key, entry.upload_id, entry.parts, token)
        else:
            entry.etag = complete_resolved(
                store, key, entry.upload_id, entry.parts, token, if_absent=False
            )
        entry.upload_id = None
    elif entry.via == "copy":
        assert entry.source is not None
        meta = writer_metadata(token)
        try:
            entry.etag = store.copy(entry.source, key, metadata=meta, if_absent=False)
        except ObjectNotFound:
            url = store.url(prefix)
            raise CommitError(
                f"cannot commit {url}: the staged file {store.url(entry.source)} is gone "
                "(removed by a cleanup, or by hand); nothing of this commit stays published. "
                "Write the output again",
                url,
            ) from None


def manifest_of(token: str, entries: Sequence[Entry]) -> dict[str, Any]:
    """The manifest of ``entries`` published by writer ``token``, with their etags."""
    manifest = _manifest.build(token, [e.part_record() for e in entries], PROTOCOL)
    etags = {e.name: e.etag for e in entries}
    for f in manifest["files"]:
        if etags.get(f["name"]):
            f["etag"] = etags[f["name"]]
    return manifest


def write_success(commit: DirectoryCommit, manifest: dict[str, Any]) -> None:
    """Step 4: the exclusive create of ``_SUCCESS``, the commit point, once the claim is
    known to be held (`DirectoryCommit.ensure_lease`). A lost answer whose ``_SUCCESS`` carries our
    token is a commit (G7); an unknown outcome rolls nothing back."""
    key = under(commit.prefix) + SUCCESS
    try:
        commit.ensure_lease()
        put_exclusive(commit.store, key, _manifest.encode(manifest), commit.token)
    except StoreUnavailable as exc:
        if published_by(commit.store, key, commit.token) is not None:
            return
        outcome = directory_outcome("success", commit.url, commit.token, False)
        raise interrupted(exc, commit.url, outcome) from exc
    except BaseException as exc:
        if isinstance(exc, Exception) and _success_is_ours(commit, key):
            return  # it took effect: whatever was answered, the output is committed
        fail_after_claim(commit, exc, "success")


def _success_is_ours(commit: DirectoryCommit, key: str) -> bool:
    """Whether the ``_SUCCESS`` at ``key`` is this writer's (False when that is unknown)."""
    try:
        return published_by(commit.store, key, commit.token) is not None
    except Exception:
        return False


def fail_after_claim(commit: DirectoryCommit, exc: BaseException, phase: str) -> NoReturn:
    """Roll back a commit that failed after its claim with ``exc`` (in ``phase``) and raise
    what the writer is told: a conflict (`Taken`) as `TargetExistsError`, an interrupted
    publish with what is known, an error whose roll-back failed too with `targets recover`,
    a claim taken over (`LeaseLost`) as `CommitError` (`_fenced`)."""
    if isinstance(exc, LeaseLost):
        _fenced(commit, exc)
    if isinstance(exc, Exception):
        try:
            commit.ensure_lease()  # a failure of a writer whose claim was taken over
        except LeaseLost as lost:
            _fenced(commit, lost)
        except Exception:
            pass
    rolled_back = roll_back_own(
        commit.store,
        commit.prefix,
        commit.token,
        commit.entries,
        commit.concurrency,
        claim_etag=commit.lease.etag if commit.lease is not None else None,
    )
    url = commit.url
    if isinstance(exc, Taken):
        raise TargetExistsError.taken(url) from None
    if isinstance(exc, StoreUnavailable):
        outcome = directory_outcome(phase, url, commit.token, rolled_back)
        raise interrupted(exc, url, outcome) from exc
    if not rolled_back and isinstance(exc, TargetError):
        message = (
            f"{exc.message}. The commit of {url} is not committed, but removing its claim "
            f"and files failed too: run `targets recover {url}` once the store lets it"
        )
        raise type(exc)(message, exc.path) from exc
    raise exc


def _fenced(commit: DirectoryCommit, lost: LeaseLost) -> NoReturn:
    """Stop a writer whose claim was taken over (by `recover` or `cleanup`) while it was
    publishing: it publishes nothing more and never writes ``_SUCCESS``. Unless the party
    that took the claim over is rolling it forward (then the files are its to publish), the
    writer deletes what it published, each in the version it published; the claim is no
    longer its to touch."""
    store, d, url = commit.store, under(commit.prefix), commit.url
    forward = False
    with contextlib.suppress(TargetError):
        view = read_lease(store, commit.claim_key, commit.stale_after)
        taken = view.taken_over if view is not None else None
        forward = taken is not None and taken.get("why") == "recover-forward"
        forward = forward or published_by(store, d + SUCCESS, commit.token) is not None
    if forward:
        raise CommitError(
            f"{url}: this writer's claim was taken over while it was publishing ({lost}); it "
            f"stopped without writing {SUCCESS}, and the recovery that took it over publishes "
            "the same files (the output is, or will be, committed by it)",
            url,
        )
    abort_entries(store, commit.prefix, commit.entries)
    published = [e for e in commit.entries if e.etag is not None and e.via != "done"]
    with contextlib.suppress(Exception):
        parallel(lambda e: delete_version(store, d + e.name, e.etag), published, commit.concurrency)
    raise CommitError(
        f"{url}: this writer's claim was taken over while it was publishing ({lost}); it "
        f"stopped, wrote no {SUCCESS} and removed the {len(published)} file(s) it had "
        "published. Write the output again",
        url,
    )


def roll_back_own(
    store: ObjectStore,
    prefix: str,
    token: str,
    entries: Sequence[Entry],
    concurrency: int | None = None,
    *,
    claim_etag: str | None = None,
) -> bool:
    """Undo a failed publish at ``prefix``: abort this writer's uploads, delete the objects
    it published (each checked by ``token``, deleted in the version checked) and its claim
    (in the version ``claim_etag`` when given: a claim taken over since stays). Whether that
    worked; if not, the claim stays and `recover` rolls it back later."""
    d = under(prefix)
    try:
        abort_entries(store, prefix, entries)
        keys = [d + e.name for e in entries]
        parallel(lambda key: delete_if_ours(store, key, token), keys, concurrency)
        if claim_etag is None:
            delete_if_ours(store, d + CLAIM, token)
        else:
            delete_version(store, d + CLAIM, claim_etag)
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
    store: ObjectStore,
    src: str,
    dst: str,
    *,
    stale_after: float = STALE_CLAIM_AFTER,
    concurrency: int | None = None,
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
        store,
        dst,
        new_token(),
        entries,
        if_exists="error",
        stale_after=stale_after,
        concurrency=concurrency,
    )
