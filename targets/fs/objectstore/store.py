"""The `ObjectStore` seam: one bucket's primitives, as the commit protocols need them.

The protocols of `targets.fs.objectstore` talk to a store only through this interface: a
narrow, synchronous set of the store's own primitives (conditional put with metadata;
create (conditional), upload-part, complete (conditional) and abort of a multipart upload;
head; get; a streaming read; list, recursive or one level; list of pending uploads; delete
(conditional); copy). A backend adapts its client to it and nothing else: S3
(`targets.fs.s3.S3Store`), GCS (`targets.fs.gcs.GCSStore`) and the simulated store
(`targets.testing.objectstore.MemoryObjectStore`).

Store semantics the protocols rely on
-------------------------------------
- Keys are ``/``-separated strings inside one bucket, without a leading ``/``.
- ``if_absent=True`` on `ObjectStore.put`, `ObjectStore.complete_upload` and
  `ObjectStore.copy` is decided by the store atomically (S3 ``If-None-Match: *``, GCS
  ``ifGenerationMatch=0``): of two concurrent conditional writes to one key, at most one
  succeeds; the other raises `PreconditionFailed`.
- ``if_match=`` on `ObjectStore.put`, `ObjectStore.delete`, `ObjectStore.get` and
  `ObjectStore.open_read` acts on that version of the object only (S3 ``If-Match: <etag>``,
  GCS ``ifGenerationMatch=<generation>``), else `PreconditionFailed`. A claim's lease is
  renewed, and a stale claim taken over, by such a conditional replace.
- `ObjectInfo.seen_at` and `ObjectStore.server_time` are the store's own clock: the age of
  a claim is judged by it alone, never by comparing the local clock with the store's.
- Data of a multipart upload is invisible until `ObjectStore.complete_upload` succeeds.
- Every object written by the protocols carries the writer token in its user metadata
  under `TOKEN_KEY`, so that an ambiguous outcome (a lost response, then "already exists"
  on the retry) can be resolved by reading the token back (G7).
- Implementations are thread-safe: the protocols send requests in parallel.
- An upload can be completed by another process than the one that created it: the creator
  calls `ObjectStore.hand_over_upload` after its last part and passes what it returns, with
  the upload id and parts, to the completing process, which calls
  `ObjectStore.adopt_upload` before `ObjectStore.complete_upload` (the job commit does).

Errors: an implementation raises the `StoreCondition` exceptions below for the outcomes the
protocols act on, and `targets.errors` exceptions (with the URL and what to do) for
everything else: a missing bucket (a `FileNotFoundError`: `TargetNotFound` or
`MissingParentDirectory`), denied access, bad credentials, and `StoreUnavailable` for a
store that cannot be reached or stopped answering. No client exception escapes an
implementation.
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
import datetime as _dt
import email.utils
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import IO, BinaryIO

from targets.fs._names import temp_name

__all__ = [
    "TOKEN_KEY",
    "ConditionalConflict",
    "NoSuchUpload",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "PreconditionFailed",
    "StoreCondition",
    "UploadInfo",
    "http_date",
    "now",
    "staging_key",
    "token_of",
    "under",
    "writer_metadata",
]

TOKEN_KEY = "targets-writer"
"""The user-metadata key that holds the writer token of every object the protocols write."""


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
    seen_at: _dt.datetime | None = None
    """The store's own time when it answered (its ``Date`` header), timezone-aware; ``None``
    when it did not say. ``seen_at - last_modified`` is an age in the store's time alone."""

    def age(self) -> float | None:
        """Seconds since the object was written, in the store's time (None: not known).
        A ``Date`` header counts whole seconds, so this may fall short by up to one second
        (never over: a lease is never judged older than it is); it is never negative."""
        if self.seen_at is None or self.last_modified is None:
            return None
        return max(0.0, (self.seen_at - self.last_modified).total_seconds())


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

    A simulated store implements exactly this class; `targets.fs.objectstore.ObjectStoreFS`
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
        if_match: str | None = None,
    ) -> str:
        """Write one object with one request; return its etag.

        ``data`` is bytes or a seekable binary file positioned at 0 (a spool file).
        ``if_absent=True``: created only if no object is at ``key``, else `PreconditionFailed`;
        may raise `ConditionalConflict` (retryable). ``if_absent=False`` replaces atomically;
        with ``if_match`` (an etag), only the version ``if_match`` (else `PreconditionFailed`,
        also when no object is there). A store that ignores the condition is refused by the
        conditional-write probe, never trusted.
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

    def hand_over_upload(self, key: str, upload_id: str) -> dict[str, str]:
        """Called once after the last `upload_part` of an upload that another process will
        complete (a task attempt of a job, whose driver publishes it): send what this
        process holds back of it and return what the other process needs besides the upload
        id and parts, small and JSON-able (passed to its `adopt_upload`). After it, this
        process no longer completes the upload. ``{}`` for a store whose uploads are
        completed from their id and parts alone (S3, Azure); GCS, which holds the last part
        of a resumable session back, sends all of it but a remainder shorter than 256 KiB
        and returns that remainder with the session's offset and checksum."""
        return {}

    def adopt_upload(self, key: str, upload_id: str, handle: Mapping[str, str]) -> None:
        """Before `complete_upload` of an upload created in another process: take over what
        that process's `hand_over_upload` returned (``handle``). No request is sent. A
        store that needs nothing ignores it; `InvalidTarget` for a handle it cannot use."""
        return None

    def abort_uploads(self, key: str, upload_ids: Collection[str]) -> None:
        """Abort several uploads to ``key`` at once, each as `abort_upload` does. A store
        whose pending data belongs to the name rather than to an upload (Azure's staged
        blocks) frees the name when only these uploads' data is there, which aborting them
        one by one cannot see."""
        for upload_id in upload_ids:
            self.abort_upload(key, upload_id)

    @abc.abstractmethod
    def list_uploads(self, prefix: str) -> Iterator[UploadInfo]:
        """The pending uploads whose key starts with ``prefix``. A store that cannot list
        them (GCS resumable sessions expire by themselves) yields nothing."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object at ``key`` with its metadata, or ``None`` if there is none (also when
        the bucket does not exist)."""

    @abc.abstractmethod
    def get(self, key: str, *, if_match: str | None = None) -> bytes:
        """The whole content of a (small) object; `ObjectNotFound` if there is none,
        `PreconditionFailed` if ``if_match`` is given and another version is there."""

    @abc.abstractmethod
    def open_read(self, key: str, *, if_match: str | None = None) -> IO[bytes]:
        """A binary stream of the object at ``key``: one version of it, never a mix of an
        old and a new one while it is replaced. `ObjectNotFound` if there is none;
        `PreconditionFailed` if ``if_match`` is given and another version is there."""

    def server_time(self) -> _dt.datetime | None:
        """The store's own clock now (the ``Date`` of an answer), or None if the store does
        not say. Used to judge how old a lease is without trusting the local clock."""
        return None

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (recursive, any order), metadata
        optional. Lazy: pages are fetched as the iterator is consumed, so
        ``next(store.list(p), None)`` costs one request."""

    @abc.abstractmethod
    def list_dir(self, prefix: str) -> tuple[builtins.list[ObjectInfo], builtins.list[str]]:
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


# -- what every step shares: writer tokens, key layout, the clock ---------------------------


def writer_metadata(token: str) -> dict[str, str]:
    """The user metadata of an object written by writer ``token``."""
    return {TOKEN_KEY: token}


def token_of(info: ObjectInfo | None) -> str | None:
    """The writer token an object carries (None for no object, or no token)."""
    if info is None or info.metadata is None:
        return None
    return info.metadata.get(TOKEN_KEY)


def under(prefix: str) -> str:
    """The key prefix of the objects inside the output ``prefix`` ("" for a bucket root)."""
    return prefix + "/" if prefix else ""


def staging_key(prefix: str, token: str) -> str:
    """The hidden sibling key (or key prefix) where writer ``token`` stages ``prefix``."""
    parent, _, name = prefix.rpartition("/")
    tmp = temp_name(name, token)
    return f"{parent}/{tmp}" if parent else tmp


def http_date(value: object) -> _dt.datetime | None:
    """The time an HTTP ``Date`` header states (the store's clock), or None if there is no
    such header or it does not parse."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def now() -> _dt.datetime:
    """The local time, timezone-aware: for timestamps written into documents, never to judge
    the age of an object (the store's own clock does, see `ObjectInfo.age`)."""
    return _dt.datetime.now(_dt.timezone.utc)
