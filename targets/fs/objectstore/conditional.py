"""Conditional writes and their outcomes: the one commit primitive of an object store.

Every publishing request of the protocols goes through `put_exclusive`,
`complete_exclusive` or `copy_conditional` (or `complete_resolved` for an unconditional
completion). They settle what a single request leaves open:

- ``ConditionalConflict`` (S3 409): a put or copy is sent again with backoff, `RETRIES`
  times; a multipart completion is not (sending it again is not valid): unless our token
  is at the key, the upload is aborted and the commit fails saying nothing was published;
- ``PreconditionFailed`` (412) after a lost response: the writer token at the key tells
  the writer's own success from another writer's object (G7); only the latter is a
  conflict, `Taken`;
- ``NoSuchUpload`` on a completion: completed earlier (a lost response) or aborted; the
  token tells;
- a store that stops answering during a completion: the upload is aborted, and then the
  token at the key says whether it was published (`Unpublished` when it was not).

`create_object` and `copy_object` are the single-object primitives of an `AtomicFS`;
`probe_conditional_writes` checks that a store honours ``if_absent`` at all.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

from targets.errors import (
    CommitError,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs._names import new_token
from targets.fs.objectstore.outcomes import (
    interrupted,
    outcome_unknown,
)
from targets.fs.objectstore.store import (
    ConditionalConflict,
    NoSuchUpload,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    token_of,
    writer_metadata,
)

__all__ = [
    "resend_on_conflict",
    "RETRIES",
    "Taken",
    "Unpublished",
    "complete_exclusive",
    "complete_resolved",
    "copy_conditional",
    "copy_object",
    "create_object",
    "probe_conditional_writes",
    "published_by",
    "put_exclusive",
]

RETRIES = 5
"""How many times a conditional request refused with `ConditionalConflict` is sent again."""


class Taken(Exception):
    """A conditional write found the key taken by another writer (``info`` is what is there,
    ``None`` if it vanished since)."""

    def __init__(self, key: str, info: ObjectInfo | None) -> None:
        super().__init__(key)
        self.key = key
        self.info = info


class Unpublished(StoreUnavailable):
    """The store stopped answering a publishing request, and it is known that the request
    did not publish anything (its multipart upload was aborted afterwards, and the key does
    not hold this writer's object)."""


def resend_on_conflict(store: ObjectStore, key: str, send: Callable[[], str]) -> str:
    """``send()`` (a conditional write to ``key``), sent again with backoff while the store
    answers `ConditionalConflict` (a concurrent conditional request on the key, S3's 409);
    `CommitError` once the retries are spent. Other outcomes are ``send``'s own."""
    for attempt in range(RETRIES + 1):
        try:
            return send()
        except (ObjectNotFound, NoSuchUpload) as exc:  # answers no conditional write expects
            raise CommitError(
                f"cannot write {store.url(key)}: the store answered {type(exc).__name__} "
                f"({exc}) to a conditional write; nothing was published by it",
                store.url(key),
            ) from None
        except ConditionalConflict:
            if attempt == RETRIES:
                raise CommitError(
                    f"cannot write {store.url(key)}: the store refused {RETRIES + 1} times "
                    "because of concurrent conditional requests on it; nothing was "
                    "published, retry",
                    store.url(key),
                ) from None
            time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _conditional(store: ObjectStore, key: str, token: str, send: Callable[[], str]) -> str:
    """Send a conditional write and resolve its outcome; return the etag.

    `ConditionalConflict` is retried with backoff. `PreconditionFailed` is ambiguous after a
    lost response (the store retried a request that had succeeded): the object's writer
    token tells our own success from another writer's (G7). Raises `Taken` for a conflict.
    """
    try:
        return resend_on_conflict(store, key, send)
    except PreconditionFailed:
        info = store.head(key)
        if info is not None and token_of(info) == token:
            return info.etag
        raise Taken(key, info) from None


def put_exclusive(store: ObjectStore, key: str, data: bytes | BinaryIO, token: str) -> str:
    """Create ``key`` holding ``data``, tagged with ``token``, if nothing is there; return
    the etag.

    Raises `Taken` when another writer's object is there; a retry that finds our own token
    reports success (G7). ``data`` may be a seekable file: it is sent from its start on
    every attempt.
    """

    def send() -> str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data.seek(0)
        return store.put(key, data, metadata=writer_metadata(token), if_absent=True)

    return _conditional(store, key, token, send)


def complete_resolved(
    store: ObjectStore,
    key: str,
    upload_id: str,
    parts: Sequence[tuple[int, str]],
    token: str,
    *,
    if_absent: bool,
) -> str:
    """Complete an upload and return the etag.

    A `NoSuchUpload` answer means that an earlier attempt completed it and its response was
    lost, or that the upload was aborted: the writer token at ``key`` tells which (G7); the
    latter is a `CommitError` saying that nothing was published."""
    try:
        return store.complete_upload(key, upload_id, parts, if_absent=if_absent)
    except (NoSuchUpload, ObjectNotFound):  # a 404 to a completion: the upload is gone
        info = store.head(key)
        if info is not None and token_of(info) == token:
            return info.etag
        raise CommitError(
            f"cannot publish {store.url(key)}: its multipart upload {upload_id} no "
            "longer exists (aborted by a cleanup or a lifecycle rule?); nothing was "
            "published, write the output again",
            store.url(key),
        ) from None


def complete_exclusive(
    store: ObjectStore, key: str, upload_id: str, parts: Sequence[tuple[int, str]], token: str
) -> str:
    """Complete an upload onto ``key`` if nothing is there; return the etag.

    A 409 (`ConditionalConflict`) is not retried with the same upload: `CommitError` saying
    that nothing was published, unless our token is at the key. On any failure the upload
    is aborted before the error propagates (a refused upload
    would otherwise keep its parts, and cost storage, until a lifecycle rule or cleanup
    removes it); `Taken` for another writer's object. A store that stops answering: if the
    upload took effect after all, its etag is returned; if the abort worked and the key
    does not hold our token, `Unpublished`; otherwise the `StoreUnavailable` propagates.
    """

    def send() -> str:
        try:
            return complete_resolved(store, key, upload_id, parts, token, if_absent=True)
        except ConditionalConflict:
            # Sending the same completion again is not valid (S3 409): settle it here.
            etag = published_by(store, key, token)
            if etag is not None:
                return etag  # an earlier attempt, whose answer was lost, published it
            raise _completion_conflict(store, key, upload_id) from None

    try:
        return _conditional(store, key, token, send)
    except StoreUnavailable as exc:
        # The completion may have taken effect. Abort the upload: once that succeeds, a
        # completion can no longer happen, so a key without our token means "not
        # published"; an upload that was completed after all is ours at the key.
        aborted = False
        with contextlib.suppress(Exception):
            store.abort_upload(key, upload_id)
            aborted = True
        etag = published_by(store, key, token)
        if etag is not None:
            return etag
        if aborted:
            raise Unpublished(exc.message, exc.path) from exc
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            store.abort_upload(key, upload_id)
        raise


def _completion_conflict(store: ObjectStore, key: str, upload_id: str) -> CommitError:
    url = store.url(key)
    return CommitError(
        f"cannot publish {url}: the store refused to complete its multipart upload {upload_id} "
        "because of a concurrent conditional request on the key (409), and the upload's "
        "parts are no longer held to upload them again; the upload was aborted and nothing "
        "was published, write the output again",
        url,
    )


def copy_conditional(store: ObjectStore, src: str, dst: str, token: str, *, if_absent: bool) -> str:
    """Copy ``src`` onto ``dst`` server-side, tagged with ``token``; return the etag. With
    ``if_absent``, `Taken` when another writer's object is there (G7 as for a put)."""
    return _conditional(
        store,
        dst,
        token,
        lambda: store.copy(src, dst, metadata=writer_metadata(token), if_absent=if_absent),
    )


def published_by(store: ObjectStore, key: str, token: str) -> str | None:
    """After a request to ``key`` failed with `StoreUnavailable`: the etag of the object at
    ``key`` if it carries ``token`` (the request took effect and only its answer was lost,
    G7), else None. One look; a store that still does not answer gives None."""
    try:
        info = store.head(key)
    except TargetError:
        return None
    return info.etag if info is not None and token_of(info) == token else None


# -- the single-object primitives of an AtomicFS ----------------------------------------------


def create_object(store: ObjectStore, key: str, data: bytes) -> None:
    """Create ``key`` holding ``data`` with one conditional put, if nothing is there;
    `TargetExistsError` otherwise. A retry after a lost response that finds this call's own
    object reports success (G7)."""
    token = new_token()
    url = store.url(key)
    try:
        put_exclusive(store, key, data, token)
    except Taken:
        raise TargetExistsError.taken(url, "file") from None
    except StoreUnavailable as exc:
        raise interrupted(exc, url, outcome_unknown(url, token)) from exc


def copy_object(store: ObjectStore, src: str, dst: str) -> str:
    """Copy the object ``src`` onto ``dst`` server-side, published only if nothing is at
    ``dst`` (`TargetExistsError`); `TargetNotFound` if ``src`` is missing. Return the new
    object's etag."""
    token = new_token()
    url = store.url(dst)
    try:
        return copy_conditional(store, src, dst, token, if_absent=True)
    except Taken:
        raise TargetExistsError.taken(url, "copy") from None
    except ObjectNotFound:
        raise TargetNotFound(
            f"cannot copy {store.url(src)} to {url}: the source does not exist", store.url(src)
        ) from None
    except StoreUnavailable as exc:
        raise interrupted(exc, url, outcome_unknown(url, token, "the copy")) from exc


_PROBE_BODY = b"targets capability probe\n"


def probe_conditional_writes(store: ObjectStore, key: str) -> bool:
    """Whether the store honours ``if_absent`` on both publishing requests: a put of ``key``
    with the condition, then a second put and a multipart completion onto it with the
    condition, both of which must be refused.

    A first put whose answer was lost and whose retry was refused is settled by the probe's
    token (ours: the condition was honoured). The probe object is deleted and the probe
    upload aborted on every path. Raises `CommitError` when another object is at ``key``.
    """
    token = new_token()
    try:
        return _probe_put(store, key, token) and _probe_complete(store, key)
    finally:
        with contextlib.suppress(Exception):
            store.delete(key)


def _probe_put(store: ObjectStore, key: str, token: str) -> bool:
    meta = writer_metadata(token)
    try:
        store.put(key, _PROBE_BODY, metadata=meta, if_absent=True)
    except (PreconditionFailed, ConditionalConflict):
        # Our put's answer was lost and the client's retry was refused: honoured, if the
        # object is ours (G7).
        if token_of(store.head(key)) != token:
            raise _probe_clash(store, key) from None
        return True
    try:
        store.put(key, _PROBE_BODY, metadata=meta, if_absent=True)
    except (PreconditionFailed, ConditionalConflict):
        return True
    return False


def _probe_complete(store: ObjectStore, key: str) -> bool:
    """Whether a conditional multipart completion onto the existing ``key`` is refused."""
    token = new_token()
    upload_id = store.create_upload(key, metadata=writer_metadata(token), if_absent=True)
    try:
        etag = store.upload_part(key, upload_id, 1, _PROBE_BODY)
        try:
            store.complete_upload(key, upload_id, [(1, etag)], if_absent=True)
        except (PreconditionFailed, ConditionalConflict):
            return True
        except NoSuchUpload:  # completed by a lost attempt, or aborted: the token tells
            return token_of(store.head(key)) != token
        return False
    finally:
        with contextlib.suppress(Exception):
            store.abort_upload(key, upload_id)


def _probe_clash(store: ObjectStore, key: str) -> CommitError:
    url = store.url(key)
    return CommitError(
        f"cannot check that the store honours conditional writes: another object is at the "
        f"probe key {url}; delete it and retry",
        url,
    )
