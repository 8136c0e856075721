"""The object-store commit protocols, written once for every object store (S3, GCS, simulated).

The protocols talk to the store through `ObjectStore`: a narrow, synchronous interface made
of the store's own primitives (conditional put with metadata; create (conditional),
upload-part, complete (conditional) and abort of a multipart upload; head; get; a streaming
read; list, recursive or one level; list of pending uploads; delete (conditional); copy). A
backend adapts its client to that interface and nothing else; the protocols below never call
a client directly. `targets.fs._objectfs.ObjectStoreFS` is the one `AtomicFS` built on
these protocols: S3, GCS and a simulated in-memory store all mount through it.

Interface changes are announced here, newest first:

- v2 protocols: a request that fails with `StoreUnavailable` while it claims, publishes a
  file or writes ``_SUCCESS`` is settled by one `ObjectStore.head` of its key: the writer's
  own token there means it took effect (the commit goes on, G7); a multipart completion is
  aborted first, so that without the token it is known that nothing was published.
- v2 interface: `ObjectStore.create_upload` takes ``if_absent=`` (GCS fixes a resumable
  session's precondition when it opens it) and `ObjectStore.upload_part` may raise
  `PreconditionFailed`; `ObjectStore.delete` takes ``if_match=`` (a version precondition,
  so that a delete after a token check has no race window); new `ObjectStore.list_dir` and
  `ObjectStore.open_read`; `ObjectStore.list` is lazy; a missing bucket is a
  `FileNotFoundError`. Staging paths (``ObjectStaging.path``, ``ObjectDirectoryWriter.path``)
  are URLs made by `ObjectStore.url`. A store that stops answering raises
  `targets.errors.StoreUnavailable`; an interrupted commit says whether its outcome is known.
- v1 protocols: `recover` takes ``stale_after=`` (refuses younger claims);
  `ObjectFileWriter.flush` is a no-op at any time (wrappers flush after the commit).
- v1: first version.

Store semantics the protocols rely on
-------------------------------------
- Keys are ``/``-separated strings inside one bucket, without a leading ``/``.
- ``if_absent=True`` on `ObjectStore.put`, `ObjectStore.complete_upload` and
  `ObjectStore.copy` is decided by the store atomically (S3 ``If-None-Match: *``, GCS
  ``ifGenerationMatch=0``): of two concurrent conditional writes to one key, at most one
  succeeds; the other raises `PreconditionFailed`.
- ``if_match=`` on `ObjectStore.delete` deletes only that version of the object (S3
  ``If-Match: <etag>``, GCS ``ifGenerationMatch=<generation>``).
- Data of a multipart upload is invisible until `ObjectStore.complete_upload` succeeds.
- Every object written by these protocols carries the writer token in its user metadata
  under `TOKEN_KEY`, so that an ambiguous outcome (a lost response, then "already exists"
  on the retry) can be resolved by reading the token back (G7).
- Implementations are thread-safe: the protocols publish files in parallel.

Errors: an implementation raises the `StoreCondition` exceptions below for the outcomes the
protocols act on, and `targets.errors` exceptions (with the URL and what to do) for
everything else: a missing bucket (a `FileNotFoundError`: `TargetNotFound` or
`MissingParentDirectory`), denied access, bad credentials, and `StoreUnavailable` for a
store that cannot be reached or stopped answering. No client exception escapes an
implementation.
"""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, BinaryIO, TypeVar

from targets.errors import (
    CommitError,
    CorruptManifest,
    IncompleteCommit,
    InvalidTarget,
    IsADirectory,
    NotADirectory,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import _manifest
from targets.fs._names import (
    SUCCESS,
    check_relative_name,
    new_token,
    parse_temp_name,
    temp_name,
)
from targets.fs.base import (
    CleanupReport,
    DirectoryWriter,
    FileWriter,
    IfExists,
    PartRecord,
    Staging,
    WriterState,
)

__all__ = [
    "CLAIM",
    "TOKEN_KEY",
    "ConditionalConflict",
    "NoSuchUpload",
    "ObjectInfo",
    "ObjectDirectoryWriter",
    "ObjectFileWriter",
    "ObjectNotFound",
    "ObjectStaging",
    "ObjectStore",
    "PreconditionFailed",
    "StoreCondition",
    "UploadInfo",
    "cleanup",
    "commit_directory",
    "complete_exclusive",
    "copy_directory",
    "copy_object",
    "create_object",
    "delete_output",
    "delete_prefix",
    "probe_conditional_writes",
    "put_exclusive",
    "recover",
]

_T = TypeVar("_T")

TOKEN_KEY = "targets-writer"
"""The user-metadata key that holds the writer token of every object the protocols write."""

CLAIM = "_targets_claim"
"""The name, inside a directory output, of the claim object (see docs/protocols-objectstore.md)."""


# -- outcomes the protocols act on ----------------------------------------------------------


class StoreCondition(Exception):
    """An outcome of a store request that the protocols handle (not a failure to report)."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key


class PreconditionFailed(StoreCondition):
    """A conditional write found the key taken (S3 412, GCS 412). Not retryable."""


class ConditionalConflict(StoreCondition):
    """A conditional write raced another request on the same key and was refused
    (S3 409 ``ConditionalRequestConflict``). Retryable; for a multipart upload the protocols
    retry the completion and, if the store has dropped the upload, report a failure."""


class NoSuchUpload(StoreCondition):
    """The multipart upload does not exist: it was completed or aborted."""


class ObjectNotFound(StoreCondition):
    """`ObjectStore.get` or a copy source found no object at the key."""


# -- records --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """One object as `ObjectStore.head` or `ObjectStore.list` describes it."""

    key: str
    size: int
    etag: str
    """An opaque version tag of the content (S3 ETag; GCS generation or md5)."""
    last_modified: _dt.datetime | None = None
    """When the object was written, timezone-aware (store clock)."""
    metadata: Mapping[str, str] | None = None
    """User metadata with lower-case keys; ``None`` when the call does not return it
    (listings)."""


@dataclasses.dataclass(frozen=True)
class UploadInfo:
    """A pending (created, not completed, not aborted) multipart upload."""

    key: str
    upload_id: str
    initiated: _dt.datetime | None = None
    """When the upload was created, timezone-aware (store clock)."""


# -- the interface --------------------------------------------------------------------------


class ObjectStore(abc.ABC):
    """One bucket's primitives, as the commit protocols need them.

    Every method is required, synchronous and thread-safe. Methods raise the
    `StoreCondition` documented on them, or a `targets.errors.TargetError` naming the URL:
    for a missing bucket a `FileNotFoundError` one (`TargetNotFound` or
    `MissingParentDirectory`; `head` returns ``None`` instead), for a store that cannot be
    reached or stopped answering `StoreUnavailable`.

    A simulated store implements exactly this class; `targets.fs._objectfs.ObjectStoreFS`
    mounts it as an `AtomicFS` (see there).
    """

    scheme: str
    """The URL scheme, e.g. ``"s3"`` or ``"gs"``."""
    bucket: str
    """The bucket this store addresses."""
    part_size: int
    """The size of a multipart part. Files smaller than one part are written with one
    `put`; larger ones stream as multipart uploads."""

    def url(self, key: str) -> str:
        """The URL of ``key`` in this bucket (the bucket's own URL for ``""``).

        The one place where keys become URLs: messages, and the staging paths handed to
        tools (``targets.fs.filesystem(url).fsspec`` opens them)."""
        return f"{self.scheme}://{self.bucket}/{key}" if key else f"{self.scheme}://{self.bucket}"

    @abc.abstractmethod
    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
    ) -> str:
        """Write one object with one request; return its etag.

        ``data`` is bytes or a seekable binary file positioned at 0 (a spool file).
        ``if_absent=True``: created only if no object is at ``key``, else `PreconditionFailed`;
        may raise `ConditionalConflict` (retryable). ``if_absent=False`` replaces atomically.
        An empty ``data`` is written like any other (the s3fs hole of an empty ``"xb"`` write
        that overwrites must not exist here).
        """

    @abc.abstractmethod
    def create_upload(self, key: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        """Start a multipart upload to ``key`` carrying ``metadata``; return its upload id.
        Nothing is visible at ``key`` until `complete_upload`.

        ``if_absent`` is the condition the upload will be completed with (the caller passes
        the same value to `complete_upload`). A store that fixes an upload's precondition
        when it opens it (GCS resumable sessions) sends it here; a store that checks it at
        the completion (S3) ignores it here. A store may check it early and raise
        `PreconditionFailed` (an object is at ``key``) here or in `upload_part`.
        """

    @abc.abstractmethod
    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Upload part ``number`` (1-based, increasing) of an upload; return the part's etag.

        Every part but the last is exactly ``part_size`` bytes. An implementation whose store
        finalises on the last chunk (GCS resumable uploads) may hold a part back until
        `complete_upload`. Raises `NoSuchUpload` if the upload is gone, `PreconditionFailed`
        if the store checked an ``if_absent`` upload's condition early and found an object.
        """

    @abc.abstractmethod
    def complete_upload(
        self,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        if_absent: bool,
    ) -> str:
        """Publish an upload from its ``(number, etag)`` parts; return the object's etag.

        ``if_absent=True``: only if no object is at ``key``, else `PreconditionFailed`
        (the upload is left pending: the caller aborts it). May raise `ConditionalConflict`
        (retryable) or `NoSuchUpload` (already completed or aborted; a retry after a lost
        response sees this: check the token with `head`). ``if_absent`` is the value the
        upload was created with; an implementation may refuse (`InvalidTarget`) to complete
        conditionally an upload created without the condition.
        """

    @abc.abstractmethod
    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort an upload and free its parts. An upload that is already gone is not an
        error."""

    @abc.abstractmethod
    def list_uploads(self, prefix: str) -> Iterator[UploadInfo]:
        """The pending uploads whose key starts with ``prefix``. A store that cannot list
        them (GCS resumable sessions expire by themselves) yields nothing."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object at ``key`` with its metadata, or ``None`` if there is none (also when
        the bucket does not exist)."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The whole content of a (small) object; `ObjectNotFound` if there is none."""

    @abc.abstractmethod
    def open_read(self, key: str) -> IO[bytes]:
        """A binary stream of the object at ``key``: one version of it, never a mix of an
        old and a new one while it is replaced. `ObjectNotFound` if there is none."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (recursive, any order), metadata
        optional. Lazy: pages are fetched as the iterator is consumed, so
        ``next(store.list(p), None)`` costs one request."""

    @abc.abstractmethod
    def list_dir(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """One level under ``prefix`` (``""`` or ending in ``/``): the objects directly there,
        and the sub-prefixes (each ending in ``/``) that hold more (a delimiter listing)."""

    @abc.abstractmethod
    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete the object at ``key``; an absent object is not an error.

        ``if_match`` (an etag from `head` or `list`): delete only that version; if another
        version is there, raise `PreconditionFailed` and leave it. This is what makes "check
        the writer token, then delete" safe against a writer that replaces the object in
        between. A store that ignores the condition deletes whatever is there.
        """

    @abc.abstractmethod
    def copy(
        self,
        src: str,
        dst: str,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
    ) -> str:
        """Copy ``src`` to ``dst`` inside the store (no bytes through the client), replacing
        the user metadata with ``metadata``; return the new object's etag.

        ``if_absent=True`` must be decided by a primitive the store honours: S3's own
        ``CopyObject`` condition is ignored by many S3-compatible stores, so S3 copies into a
        multipart upload (``UploadPartCopy``) completed with ``If-None-Match``.
        Raises `ObjectNotFound` for a missing ``src``, `PreconditionFailed` as `put` does.
        """


# ===========================================================================================
# The protocols
# ===========================================================================================

RETRIES = 5
"""How many times a conditional request refused with `ConditionalConflict` is sent again."""

HOLD_MEMORY = 64 << 20
"""Bytes of small files a directory writer holds in memory before it spools to local disk."""

PUBLISH_THREADS = 16
"""Requests a commit sends in parallel."""

STALE_CLAIM_AFTER = 60.0
"""Seconds after which a claim without ``_SUCCESS`` is reported as `IncompleteCommit`
rather than as a concurrent writer's commit in progress (`TargetExistsError`)."""

CLAIM_FORMAT = "targets-claim"
CLAIM_VERSION = 1
PROTOCOL = "objectstore-claim"


def _meta(token: str) -> dict[str, str]:
    return {TOKEN_KEY: token}


def _token_of(info: ObjectInfo | None) -> str | None:
    if info is None or info.metadata is None:
        return None
    return info.metadata.get(TOKEN_KEY)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _iso(when: _dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Taken(Exception):
    """A conditional write found the key taken by another writer (``info`` is what is there,
    ``None`` if it vanished since)."""

    def __init__(self, key: str, info: ObjectInfo | None) -> None:
        super().__init__(key)
        self.key = key
        self.info = info


def _conditional(store: ObjectStore, key: str, token: str, send: Callable[[], str]) -> str:
    """Send a conditional write and resolve its outcome; return the etag.

    `ConditionalConflict` is retried with backoff. `PreconditionFailed` is ambiguous after a
    lost response (the store retried a request that had succeeded): the object's writer
    token tells our own success from another writer's (G7). Raises `_Taken` for a conflict.
    """
    for attempt in range(RETRIES + 1):
        try:
            return send()
        except ConditionalConflict:
            if attempt == RETRIES:
                raise CommitError(
                    f"cannot write {store.url(key)}: the store refused {RETRIES + 1} times "
                    "because of concurrent conditional requests on it; nothing was "
                    "published, retry the commit",
                    store.url(key),
                ) from None
            time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
        except PreconditionFailed:
            info = store.head(key)
            if info is not None and _token_of(info) == token:
                return info.etag
            raise _Taken(key, info) from None
    raise AssertionError("unreachable")


def put_exclusive(store: ObjectStore, key: str, data: bytes | BinaryIO, token: str) -> str:
    """Create ``key`` holding ``data`` if nothing is there; return the etag.

    Raises `_Taken` when another writer's object is there; a retry that finds our own
    token reports success (G7).
    """

    def send() -> str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data.seek(0)
        return store.put(key, data, metadata=_meta(token), if_absent=True)

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
    """Complete an upload and return the etag. A `NoSuchUpload` answer means an earlier
    attempt completed it and its response was lost, or the upload was aborted: the writer
    token at ``key`` tells which (G7)."""
    try:
        return store.complete_upload(key, upload_id, parts, if_absent=if_absent)
    except NoSuchUpload:
        info = store.head(key)
        if info is not None and _token_of(info) == token:
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

    On `_Taken` the upload is aborted before the error propagates (a refused upload would
    otherwise keep its parts, and cost storage, until a lifecycle rule or cleanup removes it).
    """

    def send() -> str:
        return complete_resolved(store, key, upload_id, parts, token, if_absent=True)

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
        etag = _published_by(store, key, token)
        if etag is not None:
            return etag
        if aborted:
            raise _Unpublished(exc.message, exc.path) from exc
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            store.abort_upload(key, upload_id)
        raise


def _exists_error(url: str, what: str = "output") -> TargetExistsError:
    return TargetExistsError(
        f"{url} already exists (or another writer committed it first); this writer's "
        f"{what} was discarded. Remove it first, write elsewhere, or pass "
        "if_exists='overwrite'",
        url,
    )


# -- a store that stops answering in the middle of a commit -----------------------------------


def _interrupted(exc: StoreUnavailable, url: str, outcome: str) -> StoreUnavailable:
    """``exc`` (the store could not be reached) with what is known of the outcome of the
    commit of ``url`` that it interrupted; raise it ``from exc``."""
    return StoreUnavailable(f"{exc.message}. {outcome}", url)


class _Unpublished(StoreUnavailable):
    """The store stopped answering a publishing request, and it is known that the request
    did not publish anything (its multipart upload was aborted afterwards, and the key does
    not hold this writer's object)."""


def _published_by(store: ObjectStore, key: str, token: str) -> str | None:
    """After a request to ``key`` failed with `StoreUnavailable`: the etag of the object at
    ``key`` if it carries ``token`` (the request took effect and only its answer was lost,
    G7), else None. One look; a store that still does not answer gives None."""
    try:
        info = store.head(key)
    except TargetError:
        return None
    return info.etag if info is not None and _token_of(info) == token else None


def _nothing_published(url: str) -> str:
    return (
        f"The commit of {url} was interrupted before anything was published: {url} is as it "
        "was; write again once the store answers"
    )


def _aborted_unpublished(url: str) -> str:
    return (
        f"The request that publishes {url} failed, and its upload was aborted afterwards, so "
        f"nothing was published: {url} is as it was; write again once the store answers"
    )


def _outcome_unknown(url: str, token: str, request: str = "the request that publishes it") -> str:
    return (
        f"The commit of {url} was interrupted and its outcome is unknown: {request} may have "
        f"reached the store. Once the store answers, check whether {url} exists (what this "
        f"writer published carries writer token {token}); write again only if it does not"
    )


# -- one file ---------------------------------------------------------------------------------


class _Chunker:
    """Collects written bytes; past one part, streams them as a multipart upload (unpublished),
    created with the condition (``if_absent``) it will be completed with."""

    def __init__(self, store: ObjectStore, key: str, token: str, *, if_absent: bool) -> None:
        self.store, self.key, self.token, self.if_absent = store, key, token, if_absent
        self.buf = bytearray()
        self.upload_id: str | None = None
        self.parts: list[tuple[int, str]] = []
        self.size = 0
        self.sha = hashlib.sha256()

    def write(self, data: memoryview | bytes) -> None:
        self.buf += data
        self.size += len(data)
        self.sha.update(data)
        part_size = self.store.part_size
        while len(self.buf) > part_size:
            self._flush(part_size)

    def _flush(self, n: int) -> None:
        try:
            if self.upload_id is None:
                self.upload_id = self.store.create_upload(
                    self.key, metadata=_meta(self.token), if_absent=self.if_absent
                )
            number = len(self.parts) + 1
            etag = self.store.upload_part(self.key, self.upload_id, number, bytes(self.buf[:n]))
        except PreconditionFailed:  # a store that checks the condition early (GCS may)
            raise _exists_error(self.store.url(self.key), "file") from None
        self.parts.append((number, etag))
        del self.buf[:n]

    def finish_parts(self) -> None:
        """Upload the rest as the last part (multipart only)."""
        if self.upload_id is not None and self.buf:
            self._flush(len(self.buf))

    def abort(self) -> None:
        self.buf = bytearray()
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            with contextlib.suppress(Exception):
                self.store.abort_upload(self.key, upload_id)


class ObjectFileWriter(FileWriter):
    """One file output: one conditional request publishes it, straight to its final key.

    Up to one part it is a single put (``If-None-Match: *`` on S3); beyond, the parts stream
    as a multipart upload that the commit completes conditionally. No temporary key, no copy.
    ``if_exists="overwrite"`` makes the same request unconditional: an atomic replace.
    A store that stops answering during the commit raises `StoreUnavailable` saying whether
    the outcome is known (before the publishing request) or unknown (during it).
    """

    log_protocol = "objectstore-conditional-write"

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        path: str,
        *,
        if_exists: IfExists,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(path)
        self.token = new_token()
        self._store = store
        self._key = key
        self._if_exists = if_exists
        self._before_commit = before_commit
        self._chunks = _Chunker(store, key, self.token, if_absent=if_exists == "error")

    def flush(self) -> None:
        """Nothing to flush: bytes are sent as parts fill up, and published at `commit`.
        (A no-op after the end too, so that wrappers that flush on close keep working.)"""

    def _write(self, data: memoryview) -> None:
        try:
            self._chunks.write(data)
        except BaseException:
            self.discard()
            raise

    def _commit(self) -> None:
        store, key, chunks = self._store, self._key, self._chunks
        url = store.url(key)
        exclusive = self._if_exists == "error"
        try:
            if self._before_commit is not None:
                self._before_commit()
            chunks.finish_parts()
        except StoreUnavailable as exc:
            raise _interrupted(exc, url, _nothing_published(url)) from exc
        try:
            if chunks.upload_id is None:
                data = bytes(chunks.buf)
                if exclusive:
                    put_exclusive(store, key, data, self.token)
                else:
                    store.put(key, data, metadata=_meta(self.token), if_absent=False)
                return
            if exclusive:
                complete_exclusive(store, key, chunks.upload_id, chunks.parts, self.token)
            else:
                complete_resolved(
                    store, key, chunks.upload_id, chunks.parts, self.token, if_absent=False
                )
            chunks.upload_id = None
        except _Taken:
            raise _exists_error(url, "file") from None
        except _Unpublished as exc:
            chunks.upload_id = None
            raise _interrupted(exc, url, _aborted_unpublished(url)) from exc
        except StoreUnavailable as exc:
            if _published_by(store, key, self.token) is not None:
                chunks.upload_id = None  # it took effect; only its answer was lost (G7)
                return
            raise _interrupted(exc, url, _outcome_unknown(url, self.token)) from exc

    def _discard(self) -> None:
        self._chunks.abort()


# -- directory outputs ------------------------------------------------------------------------


def _dir(prefix: str) -> str:
    """The key prefix of the objects inside the output ``prefix`` ("" for a bucket root)."""
    return prefix + "/" if prefix else ""


def staging_key(prefix: str, token: str) -> str:
    """The hidden sibling key (or key prefix) where writer ``token`` stages ``prefix``."""
    parent, _, name = prefix.rpartition("/")
    tmp = temp_name(name, token)
    return f"{parent}/{tmp}" if parent else tmp


@dataclasses.dataclass
class _Entry:
    """One file of a directory output on its way to publication."""

    name: str
    size: int
    via: str
    """``"put"`` (held back, one request), ``"upload"`` (a pending multipart upload to the
    final key) or ``"copy"`` (a staged object copied server-side)."""
    sha256: str | None = None
    data: bytes | BinaryIO | None = None
    upload_id: str | None = None
    parts: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    source: str | None = None
    etag: str | None = None

    def claim_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "size": self.size, "via": self.via}
        if self.sha256 is not None:
            entry["sha256"] = self.sha256
        if self.upload_id is not None:
            entry["upload_id"] = self.upload_id
            entry["parts"] = [[n, etag] for n, etag in self.parts]
        if self.source is not None:
            entry["source"] = self.source
        return entry

    def part_record(self) -> PartRecord:
        return PartRecord(self.name, self.size, self.sha256)

    def release(self) -> None:
        if self.data is not None and not isinstance(self.data, (bytes, bytearray)):
            with contextlib.suppress(Exception):
                self.data.close()
        self.data = None


def _encode_json(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _claim_doc(token: str, entries: Sequence[_Entry], staging: str | None) -> dict[str, Any]:
    return {
        "format": CLAIM_FORMAT,
        "version": CLAIM_VERSION,
        "writer": token,
        "claimed_at": _iso(_now()),
        "protocol": PROTOCOL,
        "staging": staging,
        "files": sorted((e.claim_entry() for e in entries), key=lambda f: f["name"]),
    }


def _decode_claim(data: bytes, url: str) -> dict[str, Any]:
    def bad(why: str) -> CorruptManifest:
        return CorruptManifest(
            f"{url} is not a valid claim: {why}; inspect the output and remove the claim "
            "by hand if no writer of this library made it",
            url,
        )

    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CLAIM_FORMAT:
        raise bad(f'no "format": {CLAIM_FORMAT!r} field')
    version = doc.get("version")
    if not isinstance(version, int) or version < 1 or version > CLAIM_VERSION:
        raise bad(f"unsupported version {version!r}")
    if not isinstance(doc.get("writer"), str) or not isinstance(doc.get("files"), list):
        raise bad('missing "writer" or "files"')
    for f in doc["files"]:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise bad('an entry of "files" has no name')
        try:
            check_relative_name(f["name"], url)
        except InvalidTarget:
            raise bad(f"file name {f['name']!r} is not a safe relative name") from None
    return doc


def _claimed_error(
    store: ObjectStore, prefix: str, claim: ObjectInfo | None, stale_after: float
) -> TargetError:
    """The error for a writer whose claim on ``prefix`` was refused."""
    d = _dir(prefix)
    url = store.url(prefix)
    if store.head(d + SUCCESS) is not None:
        return _exists_error(url)
    if claim is None or claim.last_modified is None:
        return TargetExistsError(
            f"{url} is being committed by another writer; this writer's output was "
            "discarded. Wait for it and read the output, or write elsewhere",
            url,
        )
    age = (_now() - claim.last_modified).total_seconds()
    if age < stale_after:
        return TargetExistsError(
            f"{url} is being committed by another writer (claimed {max(age, 0.0):.1f} s ago); "
            "this writer's output was discarded. Wait for that commit and read the output, "
            "or write elsewhere",
            url,
        )
    return IncompleteCommit(
        f"{url} was claimed by writer {_token_of(claim) or '?'} {age:.0f} s ago but its commit "
        f"never finished (no {SUCCESS}); that writer died or is stuck. Run "
        f"`targets recover {url}` to roll it forward or back, then write again",
        url,
    )


def _parallel(fn: Callable[[_T], object], items: Sequence[_T]) -> None:
    """Run ``fn`` on every item, in parallel; wait for all; re-raise the first failure
    (a `_Taken` first, as it decides the error the caller reports)."""
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    errors: list[BaseException] = []
    with concurrent.futures.ThreadPoolExecutor(min(PUBLISH_THREADS, len(items))) as pool:
        for fut in [pool.submit(fn, item) for item in items]:
            exc = fut.exception()
            if exc is not None:
                errors.append(exc)
    if errors:
        errors.sort(key=lambda e: not isinstance(e, _Taken))
        raise errors[0]


def _delete_version(store: ObjectStore, key: str, etag: str | None) -> bool:
    """Delete ``key`` if it is still the version ``etag`` (any version for ``None``);
    whether it was deleted (an object replaced meanwhile is not)."""
    try:
        store.delete(key, if_match=etag or None)
    except PreconditionFailed:
        return False
    return True


def _delete_if_ours(store: ObjectStore, key: str, token: str) -> bool:
    """Delete ``key`` if the object there carries ``token``. The delete names the version
    that was checked, so an object that another writer put there in between stays."""
    info = store.head(key)
    if info is None or _token_of(info) != token:
        return False
    return _delete_version(store, key, info.etag)


def _abort_entries(store: ObjectStore, d: str, entries: Sequence[_Entry]) -> None:
    for e in entries:
        if e.upload_id is not None:
            with contextlib.suppress(Exception):
                store.abort_upload(d + e.name, e.upload_id)
        e.release()


def _delete_listed(store: ObjectStore, objects: Iterable[ObjectInfo]) -> int:
    """Delete ``objects`` in parallel, each in the version listed (an object rewritten since
    the listing stays); return how many were deleted."""
    deleted = []
    _parallel(lambda o: deleted.append(_delete_version(store, o.key, o.etag)), list(objects))
    return sum(deleted)


def delete_prefix(store: ObjectStore, key: str) -> int:
    """Delete the object ``key`` and every object under ``key/``, each in the version that
    the listing showed; return how many were deleted."""
    return _delete_listed(
        store, [o for o in store.list(key) if o.key == key or o.key.startswith(key + "/")]
    )


def delete_output(store: ObjectStore, prefix: str, keys: Iterable[str]) -> None:
    """Delete ``keys`` (objects under the output ``prefix``): its ``_SUCCESS`` first, so that
    the output stops existing before it thins (absent, never mixed); then the files, in
    parallel; its claim last, so that no writer claims the prefix while it empties."""
    d = _dir(prefix)
    claim, success = d + CLAIM, d + SUCCESS
    keys = set(keys)
    if success in keys:
        store.delete(success)
    _parallel(store.delete, sorted(keys - {claim, success}))
    if claim in keys:
        store.delete(claim)


def _clear_for_overwrite(store: ObjectStore, prefix: str, stale_after: float) -> None:
    """Empty ``prefix`` before an overwrite (see `delete_output`); a claim without
    ``_SUCCESS`` (a commit in progress, or abandoned) is not overwritten."""
    d = _dir(prefix)
    keys = {o.key for o in store.list(d)}
    if not keys:
        return
    claim, success = d + CLAIM, d + SUCCESS
    if claim in keys and success not in keys:
        raise _claimed_error(store, prefix, store.head(claim), stale_after)
    delete_output(store, prefix, keys)


def _directory_outcome(phase: str, url: str, token: str, rolled_back: bool) -> str:
    """What is known of a directory commit that the store interrupted in ``phase``."""
    if phase == "clear":
        return (
            f"The commit of {url} was interrupted while it removed the output it replaces: "
            f"that output may be partly gone, and no longer counts as existing ({SUCCESS} "
            "goes first); write again once the store answers"
        )
    if phase == "claim-absent":
        return (
            f"The commit of {url} was interrupted at its claim, and no claim of this writer "
            "is there: nothing of this writer is visible; write again once the store answers"
        )
    if phase == "claim":
        return (
            f"The commit of {url} was interrupted at its claim: nothing of this writer is "
            "visible, but its claim may have been written. Once the store answers, write "
            f"again; if writers are then refused with IncompleteCommit, run `targets recover "
            f"{url}` first"
        )
    if phase == "success":
        return _outcome_unknown(url, token, f"the request that writes its {SUCCESS}") + (
            f", else run `targets recover {url}` (it finishes the commit)"
        )
    if rolled_back:
        return (
            f"The commit of {url} was interrupted while it published its files: it is not "
            "committed, and what it had published was removed again; write again once the "
            "store answers"
        )
    return (
        f"The commit of {url} was interrupted while it published its files: it is not "
        f"committed (no {SUCCESS}), but its claim and some of its files remain. Once the store "
        f"answers, run `targets recover {url}` (it rolls the claim back, or forward when it "
        "can), then write again if needed"
    )


def commit_directory(
    store: ObjectStore,
    prefix: str,
    token: str,
    entries: Sequence[_Entry],
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
    d = _dir(prefix)
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
        put_exclusive(store, claim_key, _encode_json(_claim_doc(token, entries, staging)), token)
    except _Taken as taken:
        _abort_entries(store, d, entries)
        raise _claimed_error(store, prefix, taken.info, stale_after) from None
    except StoreUnavailable as exc:
        claim = "unknown"
        if phase == "claim":
            try:
                info = store.head(claim_key)
                claim = "ours" if info is not None and _token_of(info) == token else "none"
            except TargetError:
                pass
        if claim != "ours":  # else the claim took effect and only its answer was lost: go on
            _abort_entries(store, d, entries)
            if claim == "none":
                phase = "claim-absent"
            raise _interrupted(exc, url, _directory_outcome(phase, url, token, False)) from exc
    except BaseException:
        _abort_entries(store, d, entries)
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

        def publish(e: _Entry) -> None:
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
                e.etag = store.copy(e.source, key, metadata=_meta(token), if_absent=False)

        _parallel(publish, entries)
        manifest = _manifest.build(token, [e.part_record() for e in entries], PROTOCOL)
        etags = {e.name: e.etag for e in entries}
        for f in manifest["files"]:
            if etags.get(f["name"]):
                f["etag"] = etags[f["name"]]
        phase = "success"
        put_exclusive(store, d + SUCCESS, _manifest.encode(manifest), token)
    except StoreUnavailable as exc:
        if phase == "success" and _published_by(store, d + SUCCESS, token) is not None:
            pass  # _SUCCESS took effect; only its answer was lost (G7): committed
        else:
            rolled_back = False
            if phase != "success":  # else the output may be committed: leave it to `recover`
                rolled_back = _roll_back_own(store, d, token, entries)
            outcome = _directory_outcome(phase, url, token, rolled_back)
            raise _interrupted(exc, url, outcome) from exc
    except BaseException as exc:
        rolled_back = _roll_back_own(store, d, token, entries)
        if isinstance(exc, _Taken):
            raise _exists_error(url) from None
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


def _roll_back_own(store: ObjectStore, d: str, token: str, entries: Sequence[_Entry]) -> bool:
    """Undo a failed publish: this writer's objects (checked by token), uploads, claim.
    Whether that worked; if not, the claim stays and `recover` rolls it back later."""
    try:
        _abort_entries(store, d, entries)
        _parallel(lambda k: _delete_if_ours(store, k, token), [d + e.name for e in entries])
        _delete_if_ours(store, d + CLAIM, token)
    except Exception:
        return False
    return True


class _PartStream(io.BufferedIOBase):
    """A file of a directory output: held back, or streamed as an unpublished upload."""

    def __init__(self, writer: ObjectDirectoryWriter, name: str, key: str) -> None:
        super().__init__()
        self._writer = writer
        self.name = name
        # Completed only after the claim, always exclusively (complete_exclusive).
        self._chunks = _Chunker(writer._store, key, writer.token, if_absent=True)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError(f"write to closed file {self.name!r}")
        view = memoryview(data).cast("B")
        self._chunks.write(view)
        return view.nbytes

    def close(self) -> None:
        if not self.closed:
            try:
                self._writer._record(self.name, self._chunks)
            finally:
                super().close()


class ObjectDirectoryWriter(DirectoryWriter):
    """A directory output on an object store: claim -> publish -> ``_SUCCESS``.

    Files opened with `open` are held back (in memory up to `HOLD_MEMORY` bytes for the
    writer, then in local spool files) while smaller than one part, and otherwise streamed
    as multipart uploads that stay pending; nothing is visible before the claim. Tools that
    need a path write under ``path`` (a hidden staging prefix); those objects are copied
    server-side at the commit, which costs O(bytes).

    ``path`` is a URL (``s3://bucket/.name.targets-tmp-<token>``), the same kind of path as
    `ObjectStaging.path`: ``filesystem`` (the backend's fsspec filesystem) takes it as it
    is, since fsspec filesystems strip their own protocol, and so do tools that take a
    filesystem and a path (``pyarrow.dataset.write_dataset(data, w.path,
    filesystem=w.filesystem)``) or a URL and storage options (pandas, Dask).
    ``w.filesystem._strip_protocol(w.path)`` is the bare ``bucket/key`` form.
    """

    log_protocol = PROTOCOL

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        fsspec_fs: Callable[[], Any],
        *,
        if_exists: IfExists,
        before_commit: Callable[[], None] | None = None,
        stale_after: float = STALE_CLAIM_AFTER,
    ) -> None:
        super().__init__()
        self.token = new_token()
        self._store = store
        self._prefix = prefix
        self.final = store.url(prefix)
        self._fsspec = fsspec_fs
        self._if_exists = if_exists
        self._before_commit = before_commit
        self._stale_after = stale_after
        self._staging = staging_key(prefix, self.token)
        self._staging_used = False
        self._entries: dict[str, _Entry] = {}
        self._open: dict[str, _PartStream] = {}
        self._held = 0

    @property  # type: ignore[override]
    def path(self) -> str:
        """The URL of a hidden staging prefix for tools that write by path (its objects are
        copied to the output at the commit, then deleted)."""
        self._staging_used = True
        return self._store.url(self._staging)

    @property
    def filesystem(self) -> Any:
        """The backend's fsspec filesystem; it takes ``path`` (a URL) as it is."""
        self._staging_used = True
        return self._fsspec()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._store.url(self._prefix)!r} {self.state.value}>"

    def _require_pending(self, action: str) -> None:
        if self.state is not WriterState.PENDING:
            url = self._store.url(self._prefix)
            raise InvalidTarget(
                f"cannot {action}: the directory writer for {url} is already "
                f"{self.state.value}; open a new one to write again",
                url,
            )

    def open(self, name: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        self._require_pending("open a file")
        url = self._store.url(self._prefix)
        check_relative_name(name, url)
        if name == CLAIM:
            raise InvalidTarget(f"file name {name!r} in output {url} is reserved", url)
        if mode not in ("w", "wt", "wb"):
            raise InvalidTarget(
                f"mode {mode!r} is not a write mode for a file of {url}; use 'w' or 'wb'", url
            )
        if name in self._entries or name in self._open:
            raise TargetExistsError(f"{name} was already written in this output ({url})", url)
        stream = _PartStream(self, name, _dir(self._prefix) + name)
        self._open[name] = stream
        if "b" in mode:
            return stream
        return io.TextIOWrapper(stream, **kwargs)

    def _record(self, name: str, chunks: _Chunker) -> None:
        self._open.pop(name, None)
        if self.state is not WriterState.PENDING:
            chunks.abort()
            return
        sha = chunks.sha.hexdigest()
        if chunks.upload_id is not None:
            try:
                chunks.finish_parts()
            except BaseException:
                chunks.abort()  # the file is not part of the output: free its upload
                raise
            self._entries[name] = _Entry(
                name,
                chunks.size,
                "upload",
                sha,
                upload_id=chunks.upload_id,
                parts=list(chunks.parts),
            )
            return
        data: bytes | BinaryIO = bytes(chunks.buf)
        chunks.buf = bytearray()
        if self._held + len(data) > HOLD_MEMORY:
            spool = tempfile.TemporaryFile(prefix="targets-spool-")  # noqa: SIM115 (kept until published)
            spool.write(data)
            data = spool
        else:
            self._held += len(data)
        self._entries[name] = _Entry(name, chunks.size, "put", sha, data=data)

    def _staged_entries(self) -> list[_Entry]:
        if not self._staging_used:
            return []
        return _entries_from_staging(self._store, self._staging, self._store.url(self._prefix))

    def _commit(self) -> dict[str, Any]:
        try:
            for stream in list(self._open.values()):
                stream.close()
            if self._before_commit is not None:
                self._before_commit()
            staged = self._staged_entries()
        except StoreUnavailable as exc:
            url = self._store.url(self._prefix)
            raise _interrupted(exc, url, _nothing_published(url)) from exc
        clash = sorted(set(self._entries) & {e.name for e in staged})
        if clash:
            url = self._store.url(self._prefix)
            raise InvalidTarget(
                f"{clash[0]} of output {url} was written both with open() and under the "
                "staging path; write each file once",
                url,
            )
        return commit_directory(
            self._store,
            self._prefix,
            self.token,
            [*self._entries.values(), *staged],
            if_exists=self._if_exists,
            staging=self._staging if self._staging_used else None,
            stale_after=self._stale_after,
        )

    def _discard(self) -> None:
        for stream in list(self._open.values()):
            with contextlib.suppress(Exception):
                stream.close()
        _abort_entries(self._store, _dir(self._prefix), list(self._entries.values()))
        self._entries.clear()
        if self._staging_used:
            with contextlib.suppress(Exception):
                delete_prefix(self._store, self._staging)


def _entries_from_staging(
    store: ObjectStore, staging: str, url: str, *, output: bool = False
) -> list[_Entry]:
    """The files under the prefix ``staging``, as entries to copy into the output ``url``.

    ``output=True``: ``staging`` is a committed output being copied, whose own claim is left
    behind like its ``_SUCCESS``; otherwise a file a tool named like the claim is an error.
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
        entries.append(_Entry(name, o.size, "copy", source=o.key))
    return entries


class ObjectStaging(Staging):
    """``temporary_path()`` on an object store: the tool writes under a hidden sibling key
    (or prefix); the commit copies it server-side, then deletes it. O(bytes) by nature.

    A file is copied into a multipart upload completed conditionally (one decision point,
    no replace); a directory goes through claim -> copy -> ``_SUCCESS``.
    """

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        *,
        directory: bool,
        if_exists: IfExists,
        before_commit: Callable[[], None] | None = None,
        stale_after: float = STALE_CLAIM_AFTER,
    ) -> None:
        super().__init__()
        self.token = new_token()
        self._store = store
        self._key = prefix
        self._directory = directory
        self._if_exists = if_exists
        self._before_commit = before_commit
        self._stale_after = stale_after
        self._staging = staging_key(prefix, self.token)
        self.path = store.url(self._staging)
        """The URL where the tool writes (``targets.fs.filesystem(path).fsspec`` opens it)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self.state.value}>"

    def _commit(self) -> dict[str, Any] | None:
        store, url = self._store, self._store.url(self._key)
        staged: ObjectInfo | None = None
        try:
            if self._before_commit is not None:
                self._before_commit()
            if self._directory:
                entries = _entries_from_staging(store, self._staging, url)
                if not entries and store.head(self._staging) is not None:
                    raise NotADirectory(
                        f"cannot commit the directory output {url}: a file was written at its "
                        f"temporary path {self.path}",
                        url,
                    )
            elif (staged := store.head(self._staging)) is None:
                if next(store.list(self._staging + "/"), None) is not None:
                    raise IsADirectory(
                        f"cannot commit the file output {url}: a directory was written at its "
                        f"temporary path {self.path}",
                        url,
                    )
                raise CommitError(
                    f"cannot commit {url}: nothing was written to the temporary path {self.path}",
                    url,
                )
        except StoreUnavailable as exc:
            raise _interrupted(exc, url, _nothing_published(url)) from exc
        if self._directory:
            return commit_directory(
                store,
                self._key,
                self.token,
                entries,
                if_exists=self._if_exists,
                staging=self._staging,
                stale_after=self._stale_after,
            )
        try:
            _copy_conditional(
                store, self._staging, self._key, self.token, if_absent=self._if_exists == "error"
            )
        except _Taken:
            raise _exists_error(url, "file") from None
        except StoreUnavailable as exc:
            raise _interrupted(exc, url, _outcome_unknown(url, self.token)) from exc
        with contextlib.suppress(Exception):
            store.delete(self._staging, if_match=staged.etag if staged else None)
        return None

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            delete_prefix(self._store, self._staging)


def _copy_conditional(
    store: ObjectStore, src: str, dst: str, token: str, *, if_absent: bool
) -> str:
    """Copy ``src`` onto ``dst`` server-side, tagged with ``token``; return the etag. With
    ``if_absent``, `_Taken` when another writer's object is there (G7 as for a put)."""
    return _conditional(
        store,
        dst,
        token,
        lambda: store.copy(src, dst, metadata=_meta(token), if_absent=if_absent),
    )


# -- the single-object primitives of an AtomicFS, and directory copies ------------------------


def create_object(store: ObjectStore, key: str, data: bytes) -> None:
    """Create ``key`` holding ``data`` with one conditional put, if nothing is there;
    `TargetExistsError` otherwise. A retry after a lost response that finds this call's own
    object reports success (G7)."""
    token = new_token()
    url = store.url(key)
    try:
        put_exclusive(store, key, data, token)
    except _Taken:
        raise _exists_error(url, "file") from None
    except StoreUnavailable as exc:
        raise _interrupted(exc, url, _outcome_unknown(url, token)) from exc


def copy_object(store: ObjectStore, src: str, dst: str) -> str:
    """Copy the object ``src`` onto ``dst`` server-side, published only if nothing is at
    ``dst`` (`TargetExistsError`); `TargetNotFound` if ``src`` is missing. Return the new
    object's etag."""
    token = new_token()
    url = store.url(dst)
    try:
        return _copy_conditional(store, src, dst, token, if_absent=True)
    except _Taken:
        raise _exists_error(url, "copy") from None
    except ObjectNotFound:
        raise TargetNotFound(
            f"cannot copy {store.url(src)} to {url}: the source does not exist", store.url(src)
        ) from None
    except StoreUnavailable as exc:
        raise _interrupted(exc, url, _outcome_unknown(url, token, "the copy")) from exc


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
        entries = _entries_from_staging(store, src, url, output=True)
    except StoreUnavailable as exc:
        raise _interrupted(exc, url, _nothing_published(url)) from exc
    if not entries:
        raise TargetNotFound(
            f"cannot copy {store.url(src)} to {url}: there is nothing to copy", store.url(src)
        )
    return commit_directory(
        store, dst, new_token(), entries, if_exists="error", stale_after=stale_after
    )


# -- recovery, cleanup, capability probe ------------------------------------------------------


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
    d = _dir(prefix)
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
        age = (_now() - claim_info.last_modified).total_seconds()
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
    doc = _decode_claim(raw, store.url(claim_key))
    token = doc["writer"]
    pending = {u.upload_id for u in store.list_uploads(d)}
    entries: list[_Entry] = []
    lost: list[str] = []
    for f in doc["files"]:
        e = _Entry(
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
        if info is not None and _token_of(info) == token:
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

        def finish(e: _Entry) -> None:
            key = d + e.name
            if e.via == "upload":
                assert e.upload_id is not None
                e.etag = complete_exclusive(store, key, e.upload_id, e.parts, token)
            elif e.via == "copy":
                assert e.source is not None
                e.etag = store.copy(e.source, key, metadata=_meta(token), if_absent=False)

        try:
            _parallel(finish, entries)
        except _Taken as taken:
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
        manifest["recovered_at"] = _iso(_now())
        try:
            put_exclusive(store, d + SUCCESS, _manifest.encode(manifest), token)
        except _Taken:
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
        if _delete_if_ours(store, d + e.name, token):
            removed += 1
    if staging is not None and _is_staging_of(staging, prefix, token):
        delete_prefix(store, staging)
    _delete_if_ours(store, claim_key, token)
    return (
        f"rolled {url} back: removed {removed} published file(s) of writer {token} and its "
        "claim; the output can be written again"
    )


def _is_staging_of(staging: str, prefix: str, token: str) -> bool:
    """Whether ``staging`` (read from a claim) is the staging key of writer ``token`` for
    ``prefix``: recovery deletes nothing else."""
    return staging == staging_key(prefix, token)


def cleanup(
    store: ObjectStore, prefix: str, *, older_than: _dt.timedelta, dry_run: bool = False
) -> CleanupReport:
    """Abort stale multipart uploads and remove stale staging prefixes, at or under
    ``prefix`` and beside it; nothing else (claims and committed data are never touched).

    An upload is stale when it was created more than ``older_than`` ago; a staging prefix
    when its newest object is that old. A stale prefix loses exactly the object versions
    that the listing showed: an object written there since stays. ``dry_run`` only reports.
    """
    report = CleanupReport(dry_run=dry_run)
    cutoff = _now() - older_than
    d = _dir(prefix)
    parent, _, name = prefix.rpartition("/")
    beside = (f"{parent}/" if parent else "") + f".{name}.targets-"

    def ours(key: str) -> bool:
        return key == prefix or key.startswith(d) or key.startswith(beside)

    uploads = [u for u in store.list_uploads(prefix) if ours(u.key)]
    if name:
        uploads += [u for u in store.list_uploads(beside) if u not in uploads]
    for u in uploads:
        label = f"{store.url(u.key)} (multipart upload {u.upload_id})"
        if u.initiated is not None and u.initiated > cutoff:
            report.kept_recent.append(label)
            continue
        report.aborted_uploads.append(label)
        if not dry_run:
            store.abort_upload(u.key, u.upload_id)

    newest: dict[str, _dt.datetime] = {}
    found: dict[str, list[ObjectInfo]] = {}

    def note(root: str, o: ObjectInfo) -> None:
        when = o.last_modified or _now()
        if root not in newest or when > newest[root]:
            newest[root] = when
        found.setdefault(root, []).append(o)

    scans = [store.list(beside)] if name else []
    scans.append(store.list(d))
    for scan in scans:
        for o in scan:
            rel = o.key[len(parent) + 1 :] if parent else o.key
            base = (parent + "/") if parent else ""
            if not o.key.startswith(d):
                seg = rel.split("/", 1)[0]
                parsed = parse_temp_name(seg)
                if parsed is not None and seg == temp_name(name, parsed[2], parsed[1]):
                    note(base + seg, o)
                continue
            segs = o.key[len(d) :].split("/")
            for i, seg in enumerate(segs):
                if parse_temp_name(seg) is not None:
                    note(d + "/".join(segs[: i + 1]), o)
                    break
    for root in sorted(newest):
        if newest[root] > cutoff:
            report.kept_recent.append(store.url(root))
            continue
        report.removed.append(store.url(root))
        if not dry_run:
            _delete_listed(store, found[root])
    return report


def probe_conditional_writes(store: ObjectStore, key: str) -> bool:
    """Whether the store honours ``if_absent``: write ``key`` twice with the condition and
    expect the second write to be refused. The probe object is deleted afterwards."""
    token = new_token()
    meta = _meta(token)
    store.put(key, b"targets capability probe\n", metadata=meta, if_absent=True)
    try:
        store.put(key, b"targets capability probe\n", metadata=meta, if_absent=True)
    except (PreconditionFailed, ConditionalConflict):
        return True
    finally:
        store.delete(key)
    return False
