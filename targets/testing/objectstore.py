"""A simulated object store behind `ObjectStore`, with S3's or GCS's semantics.

`MemoryObjectStore` keeps one bucket in memory and answers every `ObjectStore` call the
way the real store does, so that the object-store commit protocols run unchanged against
it. `mount_scheme` serves it under a URL scheme of your choice, so that targets reach it
by URL until the scheme is closed::

    import targets
    from targets.testing.objectstore import MemoryObjectStore, mount_scheme

    store = MemoryObjectStore("bucket", flavor="s3", scheme="memory-s3")
    with mount_scheme("memory-s3", store):
        targets.target("memory-s3://bucket/out.csv").write_text("id\\n")
    assert store.objects() == {"out.csv": b"id\\n"}

``flavor="s3"``: conditional ``PutObject``/``CompleteMultipartUpload`` (``If-None-Match: *``
decided atomically), multipart uploads invisible until completed and listable while
pending, ETags that are content hashes (two writes of the same bytes have the same ETag),
``DeleteObject`` with ``If-Match``, ``CopyObject``.

``flavor="gcs"``: every write makes a new *generation* (a number that is never reused);
the etag the interface carries is the generation; ``ifGenerationMatch=0`` is the
``if_absent`` condition, ``ifGenerationMatch=<n>`` the ``if_match`` of a delete; a resumable
upload fixes its precondition when it is opened (checked there and at the last chunk) and
cannot be listed (sessions expire by themselves).

``honour_conditions=False`` simulates a store that ignores conditional writes (some
S3-compatible stores): conditional requests then overwrite. ``scheme`` (default ``s3`` or
``gs``) is the scheme of the URLs the store names its objects by. Every call is atomic (one
lock).
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as _dt
import hashlib
import io
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any, BinaryIO

from targets.errors import InvalidTarget
from targets.fs import register, unregister
from targets.fs.objectstore import (
    STALE_CLAIM_AFTER,
    NoSuchUpload,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreFS,
    PreconditionFailed,
    UploadInfo,
)

__all__ = ["MemoryObjectStore", "MountedScheme", "mount_scheme"]

FLAVORS = ("s3", "gcs")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclasses.dataclass
class _Object:
    data: bytes
    metadata: dict[str, str]
    etag: str
    generation: int
    modified: _dt.datetime


@dataclasses.dataclass
class _Upload:
    key: str
    metadata: dict[str, str]
    if_absent: bool
    initiated: _dt.datetime
    parts: dict[int, tuple[str, bytes]] = dataclasses.field(default_factory=dict)


class MemoryObjectStore(ObjectStore):
    """One bucket in memory, with S3 or GCS semantics (see the module doc)."""

    def __init__(
        self,
        bucket: str = "bucket",
        *,
        flavor: str = "s3",
        part_size: int = 16,
        honour_conditions: bool = True,
        clock: Callable[[], _dt.datetime] = _now,
        scheme: str | None = None,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor={flavor!r} is not one of {FLAVORS}")
        self.bucket = bucket
        self.flavor = flavor
        self.scheme = scheme or ("s3" if flavor == "s3" else "gs")
        self.part_size = part_size
        self.honour_conditions = honour_conditions
        self._clock = clock
        self._lock = threading.RLock()
        self._objects: dict[str, _Object] = {}
        self._uploads: dict[str, _Upload] = {}
        self._generations = itertools.count(1_000_001)
        self._upload_ids = itertools.count(1)
        self.calls: list[tuple[Any, ...]] = []
        """Every call as ``(name, key, ...)``, for tests that count requests."""

    def __repr__(self) -> str:
        return f"MemoryObjectStore({self.bucket!r}, flavor={self.flavor!r})"

    # -- helpers -----------------------------------------------------------------------------

    def _etag(self, data: bytes, generation: int, parts: int = 0) -> str:
        if self.flavor == "gcs":
            return str(generation)
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return f'"{digest}-{parts}"' if parts else f'"{digest}"'

    def _taken(self, key: str, if_absent: bool) -> bool:
        return if_absent and self.honour_conditions and key in self._objects

    def _store(self, key: str, data: bytes, metadata: Mapping[str, str], parts: int = 0) -> str:
        generation = next(self._generations)
        obj = _Object(
            bytes(data),
            {k.lower(): str(v) for k, v in metadata.items()},
            self._etag(data, generation, parts),
            generation,
            self._clock(),
        )
        self._objects[key] = obj
        return obj.etag

    def _info(self, key: str, obj: _Object, metadata: bool = True) -> ObjectInfo:
        return ObjectInfo(
            key,
            len(obj.data),
            obj.etag,
            obj.modified,
            dict(obj.metadata) if metadata else None,
            self._clock() if metadata else None,
        )

    def _check_version(self, key: str, if_match: str | None) -> None:
        """`PreconditionFailed` unless ``if_match`` is None or names the version at ``key``."""
        if if_match is None or not self.honour_conditions:
            return
        obj = self._objects.get(key)
        if obj is None or obj.etag != if_match:
            raise PreconditionFailed(key, f"the object is not version {if_match} (412)")

    # -- ObjectStore ---------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
        if_match: str | None = None,
    ) -> str:
        body = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else data.read()
        with self._lock:
            self.calls.append(("put", key, if_absent))
            if self._taken(key, if_absent):
                raise PreconditionFailed(key, "an object exists (412)")
            self._check_version(key, if_match)
            return self._store(key, body, metadata)

    def create_upload(self, key: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        with self._lock:
            self.calls.append(("create_upload", key, if_absent))
            if self.flavor == "gcs" and self._taken(key, if_absent):
                raise PreconditionFailed(key, "an object exists (412 on opening the session)")
            upload_id = f"upload-{next(self._upload_ids)}"
            self._uploads[upload_id] = _Upload(
                key, {k.lower(): str(v) for k, v in metadata.items()}, if_absent, self._clock()
            )
            return upload_id

    def _upload(self, key: str, upload_id: str) -> _Upload:
        upload = self._uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise NoSuchUpload(key, f"no upload {upload_id}")
        return upload

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        with self._lock:
            self.calls.append(("upload_part", key, upload_id, number))
            upload = self._upload(key, upload_id)
            etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
            upload.parts[number] = (etag, bytes(data))
            return etag

    def complete_upload(
        self,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        if_absent: bool,
    ) -> str:
        with self._lock:
            self.calls.append(("complete_upload", key, upload_id, if_absent))
            upload = self._upload(key, upload_id)
            if self.flavor == "gcs" and if_absent != upload.if_absent:
                raise InvalidTarget(
                    f"{self.url(key)}: a resumable upload keeps the precondition it was "
                    "opened with",
                    self.url(key),
                )
            if self._taken(key, if_absent):
                raise PreconditionFailed(key, "an object exists (412)")
            chunks = []
            for number, etag in parts:
                got = upload.parts.get(number)
                if got is None or got[0] != etag:
                    raise InvalidTarget(f"{self.url(key)}: part {number} is not {etag}")
                chunks.append(got[1])
            del self._uploads[upload_id]
            return self._store(key, b"".join(chunks), upload.metadata, parts=len(parts))

    def hand_over_upload(self, key: str, upload_id: str) -> dict[str, str]:
        """Nothing is held back in this process (every part is in the store): ``{}``;
        `NoSuchUpload` if the upload is gone, as a real store's next request would say."""
        with self._lock:
            self._upload(key, upload_id)
        return {}

    def adopt_upload(self, key: str, upload_id: str, handle: Mapping[str, str]) -> None:
        """No request, nothing to hold: the upload's parts are in the store."""

    def abort_upload(self, key: str, upload_id: str) -> None:
        with self._lock:
            self.calls.append(("abort_upload", key, upload_id))
            upload = self._uploads.get(upload_id)
            if upload is not None and upload.key == key:
                del self._uploads[upload_id]

    def list_uploads(self, prefix: str) -> Iterator[UploadInfo]:
        with self._lock:
            self.calls.append(("list_uploads", prefix))
            if self.flavor == "gcs":
                return iter(())
            found = [
                UploadInfo(u.key, uid, u.initiated)
                for uid, u in sorted(self._uploads.items())
                if u.key.startswith(prefix)
            ]
        return iter(found)

    def head(self, key: str) -> ObjectInfo | None:
        with self._lock:
            self.calls.append(("head", key))
            obj = self._objects.get(key)
            return None if obj is None else self._info(key, obj)

    def get(self, key: str, *, if_match: str | None = None) -> bytes:
        with self._lock:
            self.calls.append(("get", key))
            obj = self._objects.get(key)
            if obj is None:
                raise ObjectNotFound(key)
            self._check_version(key, if_match)
            return obj.data

    def open_read(self, key: str, *, if_match: str | None = None) -> IO[bytes]:
        return io.BytesIO(self.get(key, if_match=if_match))

    def server_time(self) -> _dt.datetime:
        """The store's clock (the ``clock`` it was made with)."""
        return self._clock()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._lock:
            self.calls.append(("list", prefix))
            found = [
                self._info(k, o, metadata=False)
                for k, o in sorted(self._objects.items())
                if k.startswith(prefix)
            ]
        return iter(found)

    def list_dir(self, prefix: str) -> tuple[builtins.list[ObjectInfo], builtins.list[str]]:
        with self._lock:
            self.calls.append(("list_dir", prefix))
            objects, prefixes = [], set()
            for k, o in sorted(self._objects.items()):
                if not k.startswith(prefix):
                    continue
                rest = k[len(prefix) :]
                if "/" in rest:
                    prefixes.add(prefix + rest.split("/", 1)[0] + "/")
                else:
                    objects.append(self._info(k, o, metadata=False))
            return objects, sorted(prefixes)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        with self._lock:
            self.calls.append(("delete", key, if_match))
            obj = self._objects.get(key)
            if obj is None:
                return
            if if_match is not None and self.honour_conditions and obj.etag != if_match:
                raise PreconditionFailed(key, f"the object is not version {if_match}")
            del self._objects[key]

    def copy(
        self,
        src: str,
        dst: str,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
    ) -> str:
        with self._lock:
            self.calls.append(("copy", src, dst, if_absent))
            obj = self._objects.get(src)
            if obj is None:
                raise ObjectNotFound(src)
            if self._taken(dst, if_absent):
                raise PreconditionFailed(dst, "an object exists (412)")
            return self._store(dst, obj.data, metadata)

    # -- for tests -----------------------------------------------------------------------------

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``, by key."""
        with self._lock:
            return {k: o.data for k, o in sorted(self._objects.items()) if k.startswith(prefix)}

    def pending_uploads(self, prefix: str = "") -> builtins.list[str]:
        """The keys of uploads neither completed nor aborted (GCS's too)."""
        with self._lock:
            return sorted(u.key for u in self._uploads.values() if u.key.startswith(prefix))


# -- serving stores by URL scheme --------------------------------------------------------------


class MountedScheme:
    """A URL scheme served by mounted stores until `close` (see `mount_scheme`)."""

    def __init__(self, scheme: str, fs: ObjectStoreFS) -> None:
        self.scheme = scheme
        self.fs = fs
        """The `ObjectStoreFS` that the scheme's URLs resolve to."""
        self._open = True

    def __repr__(self) -> str:
        return f"<MountedScheme {self.scheme}://{'' if self._open else ' closed'}>"

    def resolve(self, url: str, **storage_options: Any) -> tuple[ObjectStoreFS, str]:
        """The factory registered for the scheme: ``(fs, "bucket/key")`` for ``url``."""
        if storage_options:
            raise InvalidTarget(
                f"cannot open {url}: {self.scheme}:// takes no storage options, not "
                f"{sorted(storage_options)}",
                url,
            )
        _, _, path = url.partition("://")
        return self.fs, path.strip("/")

    def close(self) -> None:
        """Stop serving the scheme: its URLs are unknown again."""
        if self._open:
            self._open = False
            unregister(self.scheme)

    def __enter__(self) -> MountedScheme:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mount_scheme(
    scheme: str, *stores: ObjectStore, stale_claim_after: float = STALE_CLAIM_AFTER
) -> MountedScheme:
    """Serve ``<scheme>://<bucket>/<key>`` with ``stores`` (one per bucket, any
    `ObjectStore`: a `MemoryObjectStore`, one wrapped by `targets.testing.faults`, a real
    bucket's adapter) through the object-store protocols, until the returned handle is
    closed. ``targets.target(url)``, `targets.cleanup` and `targets.recover` then reach
    them like any backend. A scheme already served raises `InvalidTarget`.

    The URLs the filesystem gives back (``target.url``, error messages) are the stores'
    own (`ObjectStore.url`): a store made with the same ``scheme`` names its objects by
    the URLs that reach them. ``stale_claim_after`` is `ObjectStoreFS`'s.
    """
    mounted = MountedScheme(
        scheme, ObjectStoreFS.mount(*stores, stale_claim_after=stale_claim_after)
    )
    register(scheme, mounted.resolve)
    return mounted
