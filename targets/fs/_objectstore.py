"""The object-store commit protocols, written once for every object store (S3, GCS, simulated).

The protocols talk to the store through `ObjectStore`: a narrow, synchronous interface made
of the store's own primitives (conditional put with metadata; create, upload-part, complete
(conditional) and abort of a multipart upload; head; get; list; list of pending uploads;
delete; copy). A backend adapts its client to that interface and nothing else; the
protocols below never call a client directly. ``targets.testing`` will provide an in-memory
store behind the same interface, so that property tests drive these exact protocols.

Interface changes are announced here, newest first:

- v1: first version.

Store semantics the protocols rely on
-------------------------------------
- Keys are ``/``-separated strings inside one bucket, without a leading ``/``.
- ``if_absent=True`` on `ObjectStore.put` and `ObjectStore.complete_upload` is decided by the
  store atomically (S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``): of two concurrent
  conditional writes to one key, at most one succeeds; the other raises `PreconditionFailed`.
- Data of a multipart upload is invisible until `ObjectStore.complete_upload` succeeds.
- Every object written by these protocols carries the writer token in its user metadata
  under `TOKEN_KEY`, so that an ambiguous outcome (a lost response, then "already exists"
  on the retry) can be resolved by reading the token back (G7).
- Implementations are thread-safe: the protocols publish files in parallel.

Errors: an implementation raises the `StoreCondition` exceptions below for the outcomes the
protocols act on, and `targets.errors` exceptions (with the URL and what to do) for
everything else: a missing bucket, denied access, bad credentials. No client exception
escapes an implementation.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as _dt
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO

__all__ = [
    "CLAIM",
    "TOKEN_KEY",
    "ConditionalConflict",
    "NoSuchUpload",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "PreconditionFailed",
    "StoreCondition",
    "UploadInfo",
]

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
    `StoreCondition` documented on them, or a `targets.errors.TargetError` naming the URL.
    """

    scheme: str
    """The URL scheme, e.g. ``"s3"`` or ``"gs"``."""
    bucket: str
    """The bucket this store addresses."""
    part_size: int
    """The size of a multipart part. Files smaller than one part are written with one
    `put`; larger ones stream as multipart uploads."""

    def url(self, key: str) -> str:
        """The URL of ``key`` in this bucket, for messages."""
        return f"{self.scheme}://{self.bucket}/{key}"

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
    def create_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        """Start a multipart upload to ``key`` carrying ``metadata``; return its upload id.
        Nothing is visible at ``key`` until `complete_upload`."""

    @abc.abstractmethod
    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Upload part ``number`` (1-based, increasing) of an upload; return the part's etag.

        Every part but the last is exactly ``part_size`` bytes. An implementation whose store
        finalises on the last chunk (GCS resumable uploads) may hold a part back until
        `complete_upload`. Raises `NoSuchUpload` if the upload is gone.
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
        response sees this: check the token with `head`).
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
        """The object at ``key`` with its metadata, or ``None`` if there is none."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The whole content of a (small) object; `ObjectNotFound` if there is none."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (recursive, any order), without
        metadata."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object at ``key``; an absent object is not an error."""

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
