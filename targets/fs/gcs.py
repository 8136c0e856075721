"""Google Cloud Storage: atomic outputs over gcsfs, with ``ifGenerationMatch=0`` as the commit.

GCS has no rename of prefixes, but it has a conditional create: a write sent with
``ifGenerationMatch=0`` succeeds only if no live object has that name, and is refused with
412 otherwise. That request is the commit point of every output here. The commit protocols
themselves live in `targets.fs.objectstore` and the `AtomicFS` is
`targets.fs.objectstore.ObjectStoreFS` (written once for S3, GCS and simulated stores); this
module is what is GCS's own: the `ObjectStore` adapter over gcsfs, the storage options, and
``objects.move`` as the rename of one object.

* **File outputs**: one exclusive write straight to the final name, no temporary object,
  no copy. A file of at most one part (``part_size``) is held in memory and sent as one
  single-request ("multipart") upload: exactly one request. A larger file streams into a
  resumable upload session on the final name, opened with ``ifGenerationMatch=0``; its bytes
  stay invisible until the session is finalised at the commit. ``if_exists="overwrite"`` is
  the same write without the precondition: GCS replaces an object atomically.
* **Directory outputs**: claim -> publish -> ``_SUCCESS``. The claim and ``_SUCCESS`` are
  single-request exclusive uploads (the kind of request every GCS implementation, including
  fake-gcs-server, really conditions). Files smaller than one part are held back and written
  after the claim with one exclusive request each; larger files stream as resumable
  sessions that are finalised only after the claim.
* **Deletes after a check** (recovery, clean-up, a writer's own roll-back, the source of a
  rename) name the generation they checked (``ifGenerationMatch=<generation>``).

Every object written here carries its writer token in custom metadata (``targets-writer``),
so that a conditional write whose response was lost, and whose retry is then told "already
exists", is recognised as the writer's own success (G7), and so that recovery deletes only
what the claim's writer wrote.

All requests go through gcsfs's JSON API session (``GCSFileSystem._call``): gcsfs's
authentication, endpoint selection and retries apply, and tests count requests there. The
plain ``gcsfs.core.GCSFileSystem`` is used, not the experimental zonal/HNS subclass that
``gcsfs.GCSFileSystem`` can resolve to: the protocols rely on the JSON API semantics above.

What fake-gcs-server enforces and what only real GCS can confirm: docs/protocols-gcs.md.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import IO, Any, BinaryIO, TypeVar
from urllib.parse import quote

from fsspec.asyn import AsyncFileSystem, sync
from fsspec.dircache import DirCache
from gcsfs.core import GCSFileSystem
from gcsfs.retry import HttpError

from targets.errors import (
    CommitError,
    InvalidTarget,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import _gcs_handover, objectstore
from targets.fs._gcs_errors import BucketNotFound, map_errors
from targets.fs._gcs_handover import Session as _Session
from targets.fs.base import Capabilities
from targets.fs.objectstore import ObjectStoreFS
from targets.fs.objectstore.fs import (
    check_publish_concurrency,
    check_storage_options,
    keyword_names,
)

__all__ = ["GCSFS", "GCSStore"]

T = TypeVar("T")

MIN_CHUNK = 256 * 1024
"""GCS requires every chunk of a resumable upload but the last to be a multiple of 256 KiB."""
DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Files up to this size are held back and written with one request; larger ones stream
as resumable uploads in chunks of this size."""

_OCTET = "application/octet-stream"


# -- the store adapter ----------------------------------------------------------------


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _body(data: bytes) -> io.BytesIO:
    """A request body gcsfs can resend: it rewinds file-like bodies before each retry (and
    aiohttp warns about large raw-bytes bodies)."""
    return io.BytesIO(data)


def _parse_time(doc: Mapping[str, Any]) -> _dt.datetime | None:
    stamp = doc.get("updated") or doc.get("timeCreated")
    if not stamp:
        return None
    return _dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


def _answered_at(headers: Mapping[str, Any]) -> _dt.datetime | None:
    """The store's clock when it sent an answer with ``headers``."""
    return objectstore.http_date(headers.get("Date") or headers.get("date"))


def _info(doc: Mapping[str, Any]) -> objectstore.ObjectInfo:
    """An `ObjectInfo` from a GCS object resource; the etag is the object's generation."""
    metadata = {str(k).lower(): str(v) for k, v in (doc.get("metadata") or {}).items()}
    return objectstore.ObjectInfo(
        key=str(doc["name"]),
        size=int(doc.get("size", 0)),
        etag=str(doc.get("generation", "")),
        last_modified=_parse_time(doc),
        metadata=metadata,
    )


class GCSStore(objectstore.ObjectStore):
    """One bucket's primitives for the object-store protocols, over gcsfs's JSON API.

    * `put` is a single-request upload; ``if_absent`` sends ``ifGenerationMatch=0`` (412 ->
      `PreconditionFailed`). fake-gcs-server and GCS both enforce it atomically.
    * `create_upload` opens a resumable session, with ``ifGenerationMatch=0`` when
      ``if_absent``: GCS fixes an upload's precondition when the session is opened, so the
      intent must be known then; such a session cannot be completed without it, nor one
      opened without it completed with it. Real GCS checks the precondition when it
      finalises the session (a 412 on opening or on a chunk is `PreconditionFailed` too);
      fake-gcs-server never checks it.
    * `upload_part` sends each full part as a non-final chunk (a multiple of 256 KiB) and
      holds back a shorter last part: sending it finalises the object, so `complete_upload`
      sends it. Held-back bytes live in this process only.
    * etags are object generations.
    * `copy` is ``objects.rewrite`` (server-side). ``if_absent`` sends
      ``ifGenerationMatch=0``, which real GCS enforces and fake-gcs-server ignores; so that a
      copy onto an existing object is refused on any server in the sequential case, the
      adapter also looks first (one more request). Under a race only real GCS decides.
    * `list_uploads` yields nothing: GCS cannot list resumable sessions; an abandoned one is
      never visible and expires after a week.
    * `delete` with ``if_match`` sends ``ifGenerationMatch=<generation>`` (412 ->
      `PreconditionFailed`); real GCS enforces it, fake-gcs-server ignores it.
    * `list` fetches one page (1,000 objects) per step of the iterator; `open_read` reads the
      whole object with one request (one generation).
    """

    scheme = "gs"

    def __init__(
        self,
        gcs: GCSFileSystem,
        bucket: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < MIN_CHUNK or part_size % MIN_CHUNK:
            raise InvalidTarget(
                f"part_size={part_size} must be a positive multiple of {MIN_CHUNK} (256 KiB): "
                "GCS accepts resumable chunks only in such sizes"
            )
        self.gcs = gcs
        self.bucket = bucket
        self.part_size = part_size
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GCSStore(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        return str(self.gcs._location)

    def _run(
        self, key: str, action: str, coro: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T:
        """Run ``coro`` on gcsfs's event loop; translate client errors (see `map_errors`)."""
        with map_errors(self.url(key), action, endpoint=self.endpoint):
            result: T = sync(self.gcs.loop, coro, *args, **kwargs)
            return result

    def _object_url(self, key: str) -> str:
        return f"b/{quote(self.bucket, safe='')}/o/{quote(key, safe='')}"

    def _upload_url(self) -> str:
        return f"{self.endpoint}/upload/storage/v1/b/{quote(self.bucket, safe='')}/o"

    async def _missing(self, exc: FileNotFoundError) -> FileNotFoundError:
        """A 404 on a write or listing: tell a missing bucket from a missing object."""
        try:
            await self.gcs._call("GET", f"b/{quote(self.bucket, safe='')}", json_out=True)
        except FileNotFoundError:
            return BucketNotFound(self.bucket)
        return exc

    # -- single-request writes ------------------------------------------------------

    async def _put(
        self,
        key: str,
        data: bytes,
        metadata: Mapping[str, str],
        if_absent: bool,
        if_match: str | None = None,
    ) -> str:
        resource = {
            "name": key,
            "metadata": dict(metadata),
            "md5Hash": _md5_b64(data),  # real GCS refuses a body that does not match
        }
        # A fresh boundary per request: a fixed one (gcsfs uses "==0==") would corrupt data
        # that happens to contain it.
        boundary = "targets-" + uuid.uuid4().hex
        body = b"".join(
            (
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
                json.dumps(resource).encode(),
                f"\r\n--{boundary}\r\nContent-Type: {_OCTET}\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        try:
            doc = await self.gcs._call(
                "POST",
                self._upload_url(),
                uploadType="multipart",
                ifGenerationMatch="0" if if_absent else if_match,
                headers={"Content-Type": f'multipart/related; boundary="{boundary}"'},
                data=_body(body),
                json_out=True,
            )
        except FileExistsError:
            why = "an object exists" if if_absent else f"the object is not generation {if_match}"
            raise objectstore.PreconditionFailed(key, f"{why} (412)") from None
        except FileNotFoundError as exc:
            raise await self._missing(exc) from None
        except HttpError as exc:
            if exc.code == 409:  # a conflicting concurrent change to the object: retryable
                raise objectstore.ConditionalConflict(key, "conflict (409)") from None
            raise
        return str(doc["generation"])

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
        if_match: str | None = None,
    ) -> str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data.seek(0)
            data = data.read()
        return self._run(key, "write", self._put, key, bytes(data), metadata, if_absent, if_match)

    # -- resumable uploads ----------------------------------------------------------

    async def _create_upload(self, key: str, metadata: Mapping[str, str], if_absent: bool) -> str:
        try:
            headers, _ = await self.gcs._call(
                "POST",
                self._upload_url(),
                uploadType="resumable",
                ifGenerationMatch="0" if if_absent else None,
                json={"name": key, "metadata": dict(metadata)},
                headers={"X-Upload-Content-Type": _OCTET},
            )
        except FileExistsError:
            # Real GCS may check the precondition before the finalisation (here, or at a
            # chunk): the object exists.
            raise objectstore.PreconditionFailed(key, "an object exists (412)") from None
        except FileNotFoundError as exc:
            raise await self._missing(exc) from None
        return str(headers["Location"])

    def create_upload(self, key: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        upload_id = self._run(
            key, "start an upload to", self._create_upload, key, metadata, if_absent
        )
        with self._lock:
            self._sessions[upload_id] = _Session(if_absent=if_absent)
        return upload_id

    def _session(self, key: str, upload_id: str) -> _Session:
        with self._lock:
            session = self._sessions.get(upload_id)
        if session is None:
            # Its offset and held-back bytes lived in another process (or were discarded).
            # (A status query cannot replace them: fake-gcs-server finalises on one.)
            raise objectstore.NoSuchUpload(
                key, "this process holds no state for the upload session"
            )
        return session

    async def _send_chunk(
        self, upload_id: str, first: int, data: bytes, total: int | None
    ) -> tuple[Any, bytes]:
        if data:
            content_range = f"bytes {first}-{first + len(data) - 1}/{total or '*'}"
        else:
            content_range = f"bytes */{total}"
        headers, body = await self.gcs._call(
            "PUT",
            upload_id,
            headers={"Content-Range": content_range, "Content-Type": _OCTET},
            data=_body(data) if data else None,
        )
        return headers, body

    async def _send_part(self, key: str, upload_id: str, first: int, data: bytes) -> None:
        try:
            await self._send_chunk(upload_id, first, data, None)
        except FileExistsError:
            raise objectstore.PreconditionFailed(key, "an object exists (412)") from None
        except FileNotFoundError:
            raise objectstore.NoSuchUpload(key, "the upload session is gone") from None

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        session = self._session(key, upload_id)
        if session.held is not None:
            raise InvalidTarget(
                f"upload to {self.url(key)}: part {number} follows a last part shorter than "
                f"{MIN_CHUNK} bytes; only the last part of a GCS upload may be short"
            )
        data = bytes(data)
        session.md5.update(data)
        first = session.offset
        if len(data) % MIN_CHUNK:
            session.held = data
            return f"{first}-{first + len(data)}:held"
        self._run(key, "upload to", self._send_part, key, upload_id, first, data)
        session.offset += len(data)
        return f"{first}-{session.offset}"

    async def _finalise(self, key: str, upload_id: str, session: _Session) -> str:
        held = session.held or b""
        total = session.offset + len(held)
        try:
            _, body = await self._send_chunk(upload_id, session.offset, held, total)
        except FileExistsError:
            raise objectstore.PreconditionFailed(
                key, "an object exists (412 at finalisation)"
            ) from None
        except FileNotFoundError:
            # Gone: finalised by an attempt whose response was lost (fake-gcs-server answers
            # a repeated finalisation with 404), cancelled, or expired. The caller resolves
            # it with the writer token.
            raise objectstore.NoSuchUpload(key, "the upload session is gone") from None
        doc = json.loads(body)
        size, md5 = int(doc.get("size", -1)), doc.get("md5Hash")
        expected_md5 = base64.b64encode(session.md5.digest()).decode()
        if size != total or (md5 is not None and md5 != expected_md5):
            # A chunk was applied twice or lost (a retried chunk on a server that appends
            # instead of honouring Content-Range). Take the object down again: it is ours.
            await self.gcs._call(
                "DELETE", self._object_url(key), ifGenerationMatch=doc.get("generation")
            )
            raise CommitError(
                f"cannot publish {self.url(key)}: the server assembled {size} bytes where "
                f"{total} were sent; the object was removed again, retry the write",
                self.url(key),
            )
        return str(doc["generation"])

    def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]], *, if_absent: bool
    ) -> str:
        session = self._session(key, upload_id)
        if if_absent and not session.if_absent:
            raise InvalidTarget(
                f"the upload to {self.url(key)} was opened without ifGenerationMatch=0 and "
                "cannot be completed exclusively: GCS fixes a session's precondition when it "
                "opens; pass the same if_absent to create_upload and complete_upload",
                self.url(key),
            )
        generation = self._run(key, "publish", self._finalise, key, upload_id, session)
        with self._lock:
            self._sessions.pop(upload_id, None)
        return generation

    def hand_over_upload(self, key: str, upload_id: str) -> dict[str, str]:
        return _gcs_handover.hand_over(self, key, upload_id)  # see targets.fs._gcs_handover

    def adopt_upload(self, key: str, upload_id: str, handle: Mapping[str, str]) -> None:
        _gcs_handover.adopt(self, key, upload_id, handle)

    async def _abort(self, upload_id: str) -> None:
        # GCS answers 499 to a cancelled session (gcsfs lets 499 through); a session that
        # is already gone answers 404.
        with contextlib.suppress(FileNotFoundError):
            await self.gcs._call("DELETE", upload_id)

    def abort_upload(self, key: str, upload_id: str) -> None:
        with self._lock:
            self._sessions.pop(upload_id, None)
        if upload_id.startswith(("http://", "https://")):
            self._run(key, "cancel the upload to", self._abort, upload_id)

    def list_uploads(self, prefix: str) -> Iterator[objectstore.UploadInfo]:
        return iter(())

    # -- reads ----------------------------------------------------------------------

    async def _head(self, key: str) -> objectstore.ObjectInfo | None:
        try:
            headers, raw = await self.gcs._call("GET", self._object_url(key))
        except FileNotFoundError:
            return None
        return dataclasses.replace(_info(json.loads(raw)), seen_at=_answered_at(headers))

    def head(self, key: str) -> objectstore.ObjectInfo | None:
        """The object at ``key``; None if there is none (also when the bucket is missing)."""
        return self._run(key, "look up", self._head, key)

    async def _get(self, key: str, if_match: str | None = None) -> bytes:
        url = f"{self.endpoint}/download/storage/v1/{self._object_url(key)}"
        try:
            # ``generation`` selects the version (fake-gcs-server ignores ifGenerationMatch
            # on downloads); without object versioning, another one is a 404.
            _, data = await self.gcs._call(
                "GET", url, alt="media", generation=if_match, ifGenerationMatch=if_match
            )
        except FileExistsError:  # gcsfs's reading of a 412
            raise objectstore.PreconditionFailed(
                key, f"the object is not generation {if_match} (412)"
            ) from None
        except FileNotFoundError as exc:
            missing = await self._missing(exc)
            if isinstance(missing, BucketNotFound):
                raise missing from None
            raise objectstore.ObjectNotFound(key) from None
        return bytes(data)

    def get(self, key: str, *, if_match: str | None = None) -> bytes:
        return self._run(key, "read", self._get, key, if_match)

    def open_read(self, key: str, *, if_match: str | None = None) -> IO[bytes]:
        return io.BytesIO(self.get(key, if_match=if_match))

    async def _server_time(self) -> _dt.datetime | None:
        headers, _ = await self.gcs._call("GET", f"b/{quote(self.bucket, safe='')}")
        return _answered_at(headers)

    def server_time(self) -> _dt.datetime | None:
        """The ``Date`` of the answer to a bucket lookup."""
        return self._run("", "look up", self._server_time)

    async def _list_page(
        self, prefix: str, delimiter: str | None, page_token: str | None
    ) -> dict[str, Any]:
        try:
            page: dict[str, Any] = await self.gcs._call(
                "GET",
                f"b/{quote(self.bucket, safe='')}/o",
                prefix=prefix or None,
                delimiter=delimiter,
                pageToken=page_token,
                maxResults=1000,
                json_out=True,
            )
        except FileNotFoundError as exc:
            raise await self._missing(exc) from None
        return page

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        page_token: str | None = None
        while True:
            page = self._run(prefix, "list", self._list_page, prefix, delimiter, page_token)
            yield page
            page_token = page.get("nextPageToken")
            if not page_token:
                return

    def list(self, prefix: str) -> Iterator[objectstore.ObjectInfo]:
        """Every object under ``prefix``, by name, with its metadata (GCS lists it)."""
        for page in self._pages(prefix, None):
            yield from (_info(doc) for doc in page.get("items", []))

    def list_dir(
        self, prefix: str
    ) -> tuple[builtins.list[objectstore.ObjectInfo], builtins.list[str]]:
        objects: list[objectstore.ObjectInfo] = []
        prefixes: list[str] = []
        for page in self._pages(prefix, "/"):
            objects.extend(_info(doc) for doc in page.get("items", []))
            prefixes.extend(page.get("prefixes", []))
        return objects, prefixes

    # -- deletes and copies ---------------------------------------------------------

    async def _delete(self, key: str, generation: str | None) -> None:
        try:
            await self.gcs._call("DELETE", self._object_url(key), ifGenerationMatch=generation)
        except FileNotFoundError:
            pass
        except FileExistsError:
            raise objectstore.PreconditionFailed(key, "another generation (412)") from None

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete ``key``; with ``if_match`` (a generation), only that version (real GCS
        answers 412 otherwise; fake-gcs-server ignores the precondition). Absent is not an
        error."""
        self._run(key, "delete", self._delete, key, if_match)

    async def _copy(self, src: str, dst: str, metadata: Mapping[str, str], if_absent: bool) -> str:
        if if_absent and await self._head(dst) is not None:
            raise objectstore.PreconditionFailed(dst, "an object exists")
        rewrite_token: str | None = None
        src_url = self._object_url(src)
        dst_url = self._object_url(dst).replace("b/", "", 1)
        while True:
            try:
                doc = await self.gcs._call(
                    "POST",
                    f"{src_url}/rewriteTo/b/{dst_url}",
                    ifGenerationMatch="0" if if_absent else None,
                    rewriteToken=rewrite_token,
                    json={"metadata": dict(metadata)},
                    headers={"Content-Type": "application/json"},
                    json_out=True,
                )
            except FileExistsError:
                raise objectstore.PreconditionFailed(dst, "an object exists (412)") from None
            except FileNotFoundError as exc:
                missing = await self._missing(exc)
                if isinstance(missing, BucketNotFound):
                    raise missing from None
                raise objectstore.ObjectNotFound(src) from None
            if doc.get("done"):
                return str(doc["resource"]["generation"])
            rewrite_token = doc["rewriteToken"]

    def copy(self, src: str, dst: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        return self._run(dst, "copy onto", self._copy, src, dst, metadata, if_absent)

    async def _move(self, src: str, dst: str) -> str:
        """``objects.move`` with ``ifGenerationMatch=0``: a no-replace rename of one object
        (real GCS; fake-gcs-server has no such call and answers 400)."""
        doc = await self.gcs._call(
            "POST",
            f"{self._object_url(src)}/moveTo/o/{quote(dst, safe='')}",
            ifGenerationMatch="0",
            headers={"Content-Type": "application/json"},
            json={},
            json_out=True,
        )
        return str(doc["generation"])


# -- the filesystem -------------------------------------------------------------------

VALID_OPTIONS = keyword_names(
    GCSFileSystem.__init__, AsyncFileSystem.__init__, DirCache.__init__
) | {"skip_instance_cache", "part_size", "stale_claim_after", "publish_concurrency"}
"""Every storage option GCS takes: gcsfs's (its constructor's, and fsspec's async loop,
listings cache and instance cache, to which gcsfs hands what it does not name) and this
backend's own."""


class GCSFS(ObjectStoreFS):
    """Atomic outputs on Google Cloud Storage (``gs://bucket/key``), over gcsfs.

    Storage options are gcsfs's (``token``, ``project``, ``endpoint_url``...), plus three of
    this library's:

    * ``part_size`` (bytes, a multiple of 256 KiB; default 8 MiB): files up to this size are
      written with one request, larger ones stream as resumable uploads in chunks of it;
    * ``stale_claim_after`` (seconds; default 60): how old a claim without ``_SUCCESS`` must
      be before a new writer reports `IncompleteCommit` instead of a commit in progress, and
      before `recover` touches it without ``force``;
    * ``publish_concurrency`` (a positive int; default 16): requests a commit, a recovery or
      a cleanup sends in parallel.

    Any other name is refused with `InvalidTarget` (a misspelt ``endpoit_url`` must not send
    the output to the default endpoint); the names gcsfs accepts are read from its
    constructors (`VALID_OPTIONS`).

    Everything but the adapter and the rename of one object (``objects.move``) is
    `ObjectStoreFS`.
    """

    protocol = "gs"
    aliases = ("gcs",)
    declared = Capabilities(
        noreplace_rename=True,
        noreplace_rename_dir=False,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=True,
        server_side_copy=True,
    )

    def __init__(
        self,
        gcs: GCSFileSystem,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        stale_claim_after: float = objectstore.STALE_CLAIM_AFTER,
        publish_concurrency: int | None = None,
    ) -> None:
        GCSStore(gcs, "-", part_size=part_size)  # validates part_size now, not at first use
        self._gcs = gcs
        self.part_size = part_size
        super().__init__(
            lambda bucket: GCSStore(gcs, bucket, part_size=part_size),
            fsspec=gcs,
            stale_claim_after=stale_claim_after,
            publish_concurrency=publish_concurrency,
        )

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[GCSFS, str]:
        cls._split_url(url)  # the scheme and the bucket
        path = url.partition("://")[2].rstrip("/")
        segments = path.partition("/")[2]
        if any(c in path for c in "#?\x00\\") or any(
            part in ("", ".", "..") for part in segments.split("/") if segments
        ):
            raise InvalidTarget(
                f"{url!r} has an empty, '.' or '..' segment, or a '#', '?', '\\' or NUL; GCS "
                "would store it under another name than the one given",
                url,
            )
        check_storage_options(storage_options, VALID_OPTIONS, backend="GCS", url=url)
        options = dict(storage_options)
        part_size = int(options.pop("part_size", DEFAULT_PART_SIZE))
        stale = float(options.pop("stale_claim_after", objectstore.STALE_CLAIM_AFTER))
        concurrency = check_publish_concurrency(options.pop("publish_concurrency", None))
        # Listings must see other processes' writes: no listings cache by default.
        options.setdefault("use_listings_cache", False)
        try:
            gcs = GCSFileSystem(**options)
        except Exception as exc:
            raise InvalidTarget(
                f"cannot set up the GCS client for {url} ({type(exc).__name__}); check the "
                "storage options (token, project, endpoint_url)",
                url,
            ) from exc
        fs = cls(gcs, part_size=part_size, stale_claim_after=stale, publish_concurrency=concurrency)
        return fs, path

    def __repr__(self) -> str:
        return f"<GCSFS {self._gcs._location}>"

    def _rename_object(
        self,
        store: objectstore.ObjectStore,
        src: str,
        dst: str,
        source: objectstore.ObjectInfo,
    ) -> bool:
        """``objects.move`` with ``ifGenerationMatch=0``: atomic and never replacing on real
        GCS. False where the server has no ``objects.move`` (fake-gcs-server answers 404
        although the source is there): the caller then copies conditionally and deletes the
        source."""
        assert isinstance(store, GCSStore)
        url = store.url(dst)
        try:
            with map_errors(url, "rename onto", endpoint=store.endpoint):
                sync(self._gcs.loop, store._move, src, dst)
        except TargetExistsError:
            raise _exists(url) from None
        except TargetNotFound:
            if store.head(src) is None:
                raise TargetNotFound(
                    f"cannot rename {store.url(src)}: it vanished during the rename", url
                ) from None
            return False  # the source is there: the server has no objects.move
        except TargetError as exc:
            if not isinstance(exc, StoreUnavailable) and isinstance(
                exc.__cause__, (HttpError, ValueError)
            ):
                return False  # no objects.move on this server
            raise
        return True


def _exists(url: str) -> TargetExistsError:
    return TargetExistsError(
        f"{url} already exists (or another writer created it first); nothing was written. "
        "Remove it first, write elsewhere, or pass if_exists='overwrite'",
        url,
    )
