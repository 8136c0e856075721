"""The S3 backend: conditional writes (``If-None-Match: *``) are the commit primitive.

A file output is one conditional request straight to its final key: ``PutObject`` up to one
part, else a multipart upload whose ``CompleteMultipartUpload`` carries the condition. No
temporary key, no copy. Directory outputs use the claim -> publish -> ``_SUCCESS`` protocol
of `targets.fs.objectstore`; the `AtomicFS` is `targets.fs.objectstore.ObjectStoreFS`. This
module is what is S3's own: the `ObjectStore` adapter over boto3, the storage options and
credentials, and the probe that the store honours ``If-None-Match``. The commit requests go
through boto3 directly, so that the holes of s3fs's ``"xb"`` mode cannot happen (an empty
write that overwrites, a condition dropped by an old botocore, a refused multipart upload
left behind); s3fs serves listing for tools through ``AtomicFS.fsspec``.

Storage options are s3fs's: ``key``, ``secret``, ``token``, ``profile``, ``anon``,
``endpoint_url``, ``client_kwargs``, ``config_kwargs``, ``s3_additional_kwargs``... plus
``part_size`` (bytes per multipart part, default 8 MiB; files below it take one request),
``stale_claim_after`` (seconds, see `targets.fs.objectstore.STALE_CLAIM_AFTER`) and
``publish_concurrency`` (requests a commit sends in parallel, a positive int; default 16).
Any other name is refused with `InvalidTarget` (a misspelt ``endpoit_url`` must not send the
output to the default endpoint); the names s3fs accepts are read from its constructor.
Credentials never appear in errors, logs or reprs.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as _dt
import functools
import io
import json
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, BinaryIO, ClassVar

from targets.errors import (
    InvalidTarget,
    TargetError,
    UnsupportedGuarantee,
)
from targets.fs import objectstore
from targets.fs._names import new_token
from targets.fs.base import Capabilities, Guarantee
from targets.fs.objectstore import ObjectStoreFS, conditional
from targets.fs.objectstore.fs import (
    check_publish_concurrency,
    check_storage_options,
    keyword_names,
)

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    from botocore import UNSIGNED
except ModuleNotFoundError as _exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(_exc.msg, name=_exc.name) from None

from targets.fs._s3_errors import check_botocore_conditional_writes, error_code, map_errors

__all__ = ["S3FS", "S3Store"]

DEFAULT_PART_SIZE = 8 << 20
MIN_PART_SIZE = 5 << 20
"""S3's smallest part (every part of a multipart upload but the last)."""
_MAX_COPY_PART = 5 << 30
_PROBE_PREFIX = ".targets-probe-"

_OWN_OPTIONS = ("part_size", "stale_claim_after", "publish_concurrency")

# (endpoint, bucket) -> does the store honour If-None-Match? One probe per bucket and process.
_probed: dict[tuple[str | None, str], bool] = {}
_probe_lock = threading.Lock()
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


# -- the store ------------------------------------------------------------------------------


class _BodyReader(io.RawIOBase):
    """The body of one GET: one request, so one version of the object, never a mix."""

    def __init__(self, body: Any, url: str) -> None:
        super().__init__()
        self._body = body
        self._url = url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with map_errors(self._url, "read"):
            data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._body.close()
        super().close()


class S3Store(objectstore.ObjectStore):
    """One S3 bucket behind `ObjectStore`, over a boto3 client (thread-safe).

    * ``if_absent`` is ``If-None-Match: *`` on ``PutObject`` and
      ``CompleteMultipartUpload``; S3 decides it at the completion, so `create_upload`
      ignores it.
    * `copy` with ``if_absent`` copies into a multipart upload (``UploadPartCopy``)
      completed conditionally: ``CopyObject``'s own condition is ignored by many
      S3-compatible stores (and by moto).
    * `delete` with ``if_match`` sends ``If-Match``; a store that answers 501 to it gets a
      look at the etag, then a plain delete (which can race, as before conditional deletes).
    """

    scheme = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        write_kwargs: Mapping[str, Any] | None = None,
        conditional: bool = True,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.part_size = part_size
        self.endpoint: str | None = client.meta.endpoint_url
        self._write_kwargs = dict(write_kwargs or {})
        self.conditional = conditional
        """False when the condition cannot be sent (old botocore, best-effort only): an
        ``if_absent`` write is then a check followed by a write, which can race."""
        self._conditional_deletes = True

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    def _errors(self, key: str, action: str) -> contextlib.AbstractContextManager[None]:
        return map_errors(self.url(key), action, key, self.endpoint)

    def _condition(self, key: str, if_absent: bool) -> dict[str, str]:
        if not if_absent:
            return {}
        if self.conditional:
            return {"IfNoneMatch": "*"}
        if self.head(key) is not None:
            raise objectstore.PreconditionFailed(key, "exists (checked before writing)")
        return {}

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
        if_match: str | None = None,
    ) -> str:
        version = {} if if_match is None else {"IfMatch": if_match}
        with self._errors(key, "write" if if_match is None else "replace"):
            resp = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                Metadata=dict(metadata),
                **self._condition(key, if_absent),
                **version,
                **self._write_kwargs,
            )
        return str(resp.get("ETag", ""))

    def create_upload(self, key: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        # S3 checks If-None-Match when the upload is completed, not when it is created.
        with self._errors(key, "start an upload to"):
            resp = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, Metadata=dict(metadata), **self._write_kwargs
            )
        return str(resp["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        with self._errors(key, "upload a part of"):
            resp = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return str(resp["ETag"])

    def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]], *, if_absent: bool
    ) -> str:
        with self._errors(key, "publish"):
            resp = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
                **self._condition(key, if_absent),
            )
        return str(resp.get("ETag", ""))

    def abort_upload(self, key: str, upload_id: str) -> None:
        with (
            contextlib.suppress(objectstore.NoSuchUpload, objectstore.ObjectNotFound),
            self._errors(key, "abort an upload to"),
        ):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def list_uploads(self, prefix: str) -> Iterator[objectstore.UploadInfo]:
        with self._errors(prefix, "list the uploads under"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for u in page.get("Uploads", []) or []:
                    yield objectstore.UploadInfo(u["Key"], u["UploadId"], u.get("Initiated"))

    def head(self, key: str) -> objectstore.ObjectInfo | None:
        try:
            with self._errors(key, "look up"):
                resp = self.client.head_object(Bucket=self.bucket, Key=key)
        except objectstore.ObjectNotFound:
            return None
        return objectstore.ObjectInfo(
            key,
            int(resp.get("ContentLength", 0)),
            str(resp.get("ETag", "")),
            resp.get("LastModified"),
            {k.lower(): v for k, v in (resp.get("Metadata") or {}).items()},
            _answered_at(resp),
        )

    def server_time(self) -> _dt.datetime | None:
        """The ``Date`` of a ``HeadBucket`` answer."""
        with self._errors("", "look up"):
            return _answered_at(self.client.head_bucket(Bucket=self.bucket))

    def _get_object(self, key: str, if_match: str | None) -> Any:
        version = {} if if_match is None else {"IfMatch": if_match}
        with self._errors(key, "read"):
            return self.client.get_object(Bucket=self.bucket, Key=key, **version)

    def get(self, key: str, *, if_match: str | None = None) -> bytes:
        body = self._get_object(key, if_match)["Body"]
        with self._errors(key, "read"):
            try:
                return bytes(body.read())
            finally:
                body.close()

    def open_read(self, key: str, *, if_match: str | None = None) -> IO[bytes]:
        """One ``GetObject``, streamed: one version of the object, however it is read."""
        resp = self._get_object(key, if_match)
        return io.BufferedReader(_BodyReader(resp["Body"], self.url(key)), 1 << 20)

    def _pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        with self._errors(prefix, "list"):
            yield from self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, **kwargs
            )

    @staticmethod
    def _listed(o: Mapping[str, Any]) -> objectstore.ObjectInfo:
        return objectstore.ObjectInfo(
            o["Key"], int(o.get("Size", 0)), str(o.get("ETag", "")), o.get("LastModified")
        )

    def list(self, prefix: str) -> Iterator[objectstore.ObjectInfo]:
        for page in self._pages(prefix):
            for o in page.get("Contents", []) or []:
                yield self._listed(o)

    def list_dir(
        self, prefix: str
    ) -> tuple[builtins.list[objectstore.ObjectInfo], builtins.list[str]]:
        objects: list[objectstore.ObjectInfo] = []
        prefixes: list[str] = []
        for page in self._pages(prefix, Delimiter="/"):
            objects.extend(self._listed(o) for o in page.get("Contents", []) or [])
            prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", []) or [])
        return objects, prefixes

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        if if_match is None:
            # Nothing there is no error (a store that answers 404 to it says the same).
            with contextlib.suppress(objectstore.ObjectNotFound), self._errors(key, "delete"):
                self.client.delete_object(Bucket=self.bucket, Key=key)
            return
        if self._conditional_deletes:
            try:
                with self._errors(key, "delete"):
                    self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=if_match)
                return
            except objectstore.ObjectNotFound:
                return  # nothing there (S3 answers 404 to a conditional delete of nothing)
            except TargetError as exc:
                cause = exc.__cause__
                if not (
                    isinstance(cause, botocore.exceptions.ClientError)
                    and error_code(cause)[1] == 501
                ):
                    raise
                # An S3-compatible store without conditional deletes: look, then delete.
                self._conditional_deletes = False
        info = self.head(key)
        if info is None:
            return
        if info.etag != if_match:
            raise objectstore.PreconditionFailed(key, "another version is there")
        self.delete(key)

    def copy(self, src: str, dst: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        source = {"Bucket": self.bucket, "Key": src}
        info = self.head(src)
        if info is None:
            raise objectstore.ObjectNotFound(src, "not found")
        if not if_absent and info.size <= _MAX_COPY_PART:
            with self._errors(dst, "copy to"):
                resp = self.client.copy_object(
                    Bucket=self.bucket,
                    Key=dst,
                    CopySource=source,
                    Metadata=dict(metadata),
                    MetadataDirective="REPLACE",
                    **self._write_kwargs,
                )
            return str(resp["CopyObjectResult"]["ETag"])
        if info.size == 0:  # UploadPartCopy cannot copy an empty range
            return self.put(dst, b"", metadata=metadata, if_absent=if_absent)
        # CopyObject's own If-None-Match is ignored by many S3-compatible stores: copy into a
        # multipart upload instead, and let its completion carry the condition.
        upload_id = self.create_upload(dst, metadata=metadata, if_absent=if_absent)
        try:
            parts = []
            for number, start in enumerate(range(0, info.size, _MAX_COPY_PART), 1):
                end = min(start + _MAX_COPY_PART, info.size) - 1
                with self._errors(dst, "copy to"):
                    resp = self.client.upload_part_copy(
                        Bucket=self.bucket,
                        Key=dst,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource=source,
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                parts.append((number, str(resp["CopyPartResult"]["ETag"])))
            return self.complete_upload(dst, upload_id, parts, if_absent=if_absent)
        except BaseException:
            with contextlib.suppress(Exception):
                self.abort_upload(dst, upload_id)
            raise


# -- options --------------------------------------------------------------------------------


def _answered_at(resp: Mapping[str, Any]) -> _dt.datetime | None:
    """The store's clock when it sent the botocore answer ``resp``."""
    headers = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return objectstore.http_date(headers.get("date"))


@functools.cache
def valid_options() -> frozenset[str]:
    """Every storage option S3 takes: s3fs's (its constructor's, fsspec's listings cache and
    instance cache, and aiobotocore's session's, to which s3fs hands what it does not name)
    and this backend's own."""
    import aiobotocore.session
    import fsspec.dircache
    import s3fs

    return keyword_names(
        s3fs.S3FileSystem.__init__,
        fsspec.dircache.DirCache.__init__,
        aiobotocore.session.AioSession.__init__,
    ) | {"skip_instance_cache", *_OWN_OPTIONS}


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(this backend's own options, s3fs's options)."""
    own = {k: options.pop(k) for k in _OWN_OPTIONS if k in options}
    return own, options


def _client_key(options: Mapping[str, Any]) -> str:
    return json.dumps(options, sort_keys=True, default=repr)


def _make_client(options: Mapping[str, Any]) -> Any:
    """A boto3 S3 client configured from s3fs-style ``options`` (cached per options)."""
    cache_key = _client_key(options)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is not None:
            return client
    session_kwargs = {  # s3fs takes username and password for key and secret
        "aws_access_key_id": options.get("key") or options.get("username"),
        "aws_secret_access_key": options.get("secret") or options.get("password"),
        "aws_session_token": options.get("token"),
        "profile_name": options.get("profile"),
    }
    client_kwargs = dict(options.get("client_kwargs") or {})
    if options.get("endpoint_url"):
        client_kwargs["endpoint_url"] = options["endpoint_url"]
    if "use_ssl" in options:
        client_kwargs.setdefault("use_ssl", options["use_ssl"])
    config_kwargs = {"max_pool_connections": 32, **dict(options.get("config_kwargs") or {})}
    if options.get("anon"):
        config_kwargs["signature_version"] = UNSIGNED
    try:
        session = boto3.session.Session(**{k: v for k, v in session_kwargs.items() if v})
        client = session.client(
            "s3", config=botocore.config.Config(**config_kwargs), **client_kwargs
        )
    except botocore.exceptions.ProfileNotFound as exc:
        raise InvalidTarget(f"the AWS profile {options.get('profile')!r} does not exist") from exc
    except (botocore.exceptions.BotoCoreError, TypeError, ValueError) as exc:
        raise InvalidTarget(
            f"cannot configure an S3 client from these storage options: {type(exc).__name__}"
        ) from exc
    with _clients_lock:
        return _clients.setdefault(cache_key, client)


def _check_key(url: str) -> None:
    """`InvalidTarget` for a URL whose key has an empty, ``.`` or ``..`` segment: S3 keeps
    them literally (``s3://b/a/../b.csv`` is the key ``a/../b.csv``, not ``b.csv``), so the
    output would be stored under a name nobody reading a path would look for."""
    rest = url.split("?", 1)[0].partition("://")[2]
    key = rest.partition("/")[2].rstrip("/")
    if key and any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidTarget(
            f"{url!r} has an empty, '.' or '..' segment in its key; S3 would store it under "
            "that literal key, not the path it looks like: write the key without them",
            url,
        )


# -- the filesystem -------------------------------------------------------------------------


class S3FS(ObjectStoreFS):
    """S3 and S3-compatible stores, committed with conditional writes (``If-None-Match``).

    Strict targets first make sure that the store honours the condition: once per bucket
    and process, a probe object is written with it, then a second put and a multipart
    completion onto it with the condition must both be refused; a store that accepts either
    (an S3-compatible store without conditional writes) gets `UnsupportedGuarantee` (G6).
    Everything else is `ObjectStoreFS`.
    """

    protocol: ClassVar[str] = "s3"
    aliases: ClassVar[tuple[str, ...]] = ("s3a",)
    declared: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=False,
        noreplace_rename_dir=False,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=True,
        server_side_copy=True,
    )

    def __init__(self, **storage_options: Any) -> None:
        check_storage_options(storage_options, valid_options(), backend="S3")
        own, s3fs_options = _split_options(dict(storage_options))
        part_size = int(own.get("part_size", DEFAULT_PART_SIZE))
        if part_size < 1:
            raise InvalidTarget(f"part_size={part_size} must be a positive number of bytes")
        concurrency = check_publish_concurrency(own.get("publish_concurrency"))
        self._part_size = part_size
        self._options = s3fs_options
        self._write_kwargs = dict(s3fs_options.get("s3_additional_kwargs") or {})
        self.client = _make_client(s3fs_options)
        self._model_problem = check_botocore_conditional_writes(self.client.meta.service_model)
        self._fsspec: Any = None
        self._home: str | None = None
        super().__init__(
            self._new_store,
            stale_claim_after=float(own.get("stale_claim_after", objectstore.STALE_CLAIM_AFTER)),
            publish_concurrency=concurrency,
        )

    def _new_store(self, bucket: str) -> S3Store:
        return S3Store(
            self.client,
            bucket,
            part_size=self._part_size,
            write_kwargs=self._write_kwargs,
            conditional=self._model_problem is None,
        )

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[S3FS, str]:
        bucket, key = cls._split_url(url.split("?", 1)[0])
        if any(c in bucket for c in " \\") or len(bucket) > 255:
            raise InvalidTarget(f"{bucket!r} in {url!r} is not a valid bucket name", url)
        _check_key(url)
        check_storage_options(storage_options, valid_options(), backend="S3", url=url)
        fs = cls(**storage_options)
        path = f"{bucket}/{key}".rstrip("/")
        fs._home = path
        return fs, path

    def __repr__(self) -> str:
        return f"S3FS(endpoint={self.client.meta.endpoint_url!r})"

    @property
    def capabilities(self) -> Capabilities:
        """The declared capabilities, weakened when this botocore cannot send conditional
        writes or when the probe found that the store of this filesystem's URL ignores them
        (the probe runs on first access, once per bucket and process)."""
        ok = self._model_problem is None
        if ok and self._home is not None:
            store, key = self.locate(self._home)
            ok = self._conditional_ok(store, key or "x")
        if ok:
            return self.declared
        return self.unconditional

    @property
    def fsspec(self) -> Any:
        if self._fsspec is None:
            import s3fs

            options = {"use_listings_cache": False, **self._options}
            options.pop("s3_additional_kwargs", None)
            with map_errors("s3://", "connect to", endpoint=self.client.meta.endpoint_url):
                self._fsspec = s3fs.S3FileSystem(
                    **options, s3_additional_kwargs=self._write_kwargs or None
                )
        return self._fsspec

    # -- the probe ----------------------------------------------------------------------

    def _conditional_ok(self, store: objectstore.ObjectStore, key: str) -> bool:
        """Whether ``store`` honours ``If-None-Match`` (probe once per bucket and process)."""
        if self._model_problem is not None:
            return False
        assert isinstance(store, S3Store)
        cache = (store.endpoint, store.bucket)
        with _probe_lock:
            known = _probed.get(cache)
        if known is not None:
            return known
        parent = key.rpartition("/")[0]
        probe_key = (parent + "/" if parent else "") + _PROBE_PREFIX + new_token()
        ok = conditional.probe_conditional_writes(store, probe_key)
        with _probe_lock:
            _probed[cache] = ok
        return ok

    def _require_conditional(
        self, store: objectstore.ObjectStore, key: str, guarantee: Guarantee
    ) -> None:
        """Probe the bucket (once per process); a store that ignores ``If-None-Match``, or
        a botocore that cannot send it, gets `UnsupportedGuarantee` (strict) or a
        `RuntimeWarning` (best-effort)."""
        url = store.url(key)
        try:
            ok = self._conditional_ok(store, key)
        except TargetError as exc:  # name the output, not the probe object
            reason = exc.message.split(": ", 1)[-1]
            raise type(exc)(f"cannot commit {url}: {reason}", url) from exc
        if ok:
            return
        why = self._model_problem or (
            f"the store at {getattr(store, 'endpoint', None) or 'AWS'} accepted a second write "
            f"(a put or a multipart completion) of a probe object in bucket {store.bucket!r} "
            "despite If-None-Match: *, so it does "
            "not support conditional writes and a concurrent writer could be overwritten "
            "silently"
        )
        if guarantee == "strict":
            raise UnsupportedGuarantee(
                f"cannot commit {url} safely: {why}. Use a store with conditional writes (AWS "
                "S3 since 2024, recent MinIO), or pass guarantee='best-effort' to accept the risk",
                url,
            )
        warnings.warn(
            f"committing {url} without exclusive create: {why}",
            RuntimeWarning,
            stacklevel=4,
        )
