"""The S3 backend: conditional writes (``If-None-Match: *``) are the commit primitive.

A file output is one conditional request straight to its final key: ``PutObject`` up to one
part, else a multipart upload whose ``CompleteMultipartUpload`` carries the condition. No
temporary key, no copy. Directory outputs use the claim -> publish -> ``_SUCCESS`` protocol
of `targets.fs._objectstore`. The commit requests go through boto3 directly, so that the
holes of s3fs's ``"xb"`` mode cannot happen (an empty write that overwrites, a condition
dropped by an old botocore, a refused multipart upload left behind); s3fs serves reading
and listing through ``AtomicFS.fsspec``.

Storage options are s3fs's: ``key``, ``secret``, ``token``, ``profile``, ``anon``,
``endpoint_url``, ``client_kwargs``, ``config_kwargs``, ``s3_additional_kwargs``... plus
``part_size`` (bytes per multipart part, default 8 MiB; files below it take one request)
and ``stale_claim_after`` (seconds, see `targets.fs._objectstore.STALE_CLAIM_AFTER`).
Credentials never appear in errors, logs or reprs.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, BinaryIO, ClassVar

from targets.errors import (
    InvalidTarget,
    TargetError,
    TargetExistsError,
    TargetNotFound,
    UnsupportedGuarantee,
)
from targets.fs import _objectstore as ostore
from targets.fs._names import SUCCESS, new_token
from targets.fs._objectstore import (
    ConditionalConflict,
    NoSuchUpload,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    UploadInfo,
)
from targets.fs.base import (
    AtomicFS,
    Capabilities,
    CleanupReport,
    DirectoryWriter,
    FileWriter,
    Guarantee,
    IfExists,
    Staging,
    check_guarantee,
    check_if_exists,
)

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    from botocore import UNSIGNED
except ModuleNotFoundError as _exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(_exc.msg, name=_exc.name) from None

__all__ = ["S3FS", "S3Store"]

DEFAULT_PART_SIZE = 8 << 20
MIN_PART_SIZE = 5 << 20
"""S3's smallest part (every part of a multipart upload but the last)."""
_MAX_COPY_PART = 5 << 30
_PROBE_PREFIX = ".targets-probe-"

_OWN_OPTIONS = ("part_size", "stale_claim_after")

# (endpoint, bucket) -> does the store honour If-None-Match? One probe per bucket and process.
_probed: dict[tuple[str | None, str], bool] = {}
_probe_lock = threading.Lock()
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


# -- errors ---------------------------------------------------------------------------------

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
}


def _code(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    err = exc.response.get("Error", {}) or {}
    status = int((exc.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode", 0) or 0)
    return str(err.get("Code", "") or status), status


@contextlib.contextmanager
def _map_errors(
    url: str, action: str, key: str = "", endpoint: str | None = None
) -> Iterator[None]:
    """Translate botocore and s3fs errors into `targets.errors` (and the `StoreCondition`s
    the protocols act on). Messages name the URL and what to do, never credentials."""
    where = f" at {endpoint}" if endpoint else ""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code, status = _code(exc)
        if code == "PreconditionFailed" or status == 412:
            raise PreconditionFailed(key, "exists") from exc
        if code == "ConditionalRequestConflict":
            raise ConditionalConflict(key, "conflict") from exc
        if code == "NoSuchUpload":
            raise NoSuchUpload(key, "no such upload") from exc
        if code in ("NoSuchKey", "404", "NotFound"):
            raise ObjectNotFound(key, "not found") from exc
        bucket = url.split("/")[2] if url.startswith("s3://") else url
        if code == "NoSuchBucket":
            raise TargetNotFound(
                f"cannot {action} {url}: the bucket {bucket!r} does not exist{where}; "
                "create it or fix the URL",
                url,
            ) from exc
        if code in _CREDENTIAL_CODES:
            raise TargetError(
                f"cannot {action} {url}: the store rejected the credentials ({code}); check "
                "the key/secret/token storage options or the AWS profile",
                url,
            ) from exc
        if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
            raise TargetError(
                f"cannot {action} {url}: access denied; the credentials need permission for "
                "this bucket and prefix",
                url,
            ) from exc
        message = (exc.response.get("Error", {}) or {}).get("Message", "")
        raise TargetError(
            f"cannot {action} {url}: the store answered {code} (HTTP {status})"
            + (f": {message}" if message else ""),
            url,
        ) from exc
    except (
        botocore.exceptions.NoCredentialsError,
        botocore.exceptions.PartialCredentialsError,
    ) as exc:
        raise TargetError(
            f"cannot {action} {url}: no AWS credentials found; pass the key= and secret= "
            "storage options, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, configure a "
            "profile, or pass anon=True for public buckets",
            url,
        ) from exc
    except botocore.exceptions.ParamValidationError as exc:
        raise InvalidTarget(f"cannot {action} {url}: invalid request ({exc})", url) from exc
    except (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectionError,
    ) as exc:
        raise TargetError(
            f"cannot {action} {url}: cannot reach the S3 endpoint{where} "
            f"({type(exc).__name__}); check endpoint_url and the network",
            url,
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise TargetError(f"cannot {action} {url}: {type(exc).__name__}: {exc}", url) from exc
    except FileNotFoundError as exc:  # s3fs (reading, listing)
        raise TargetNotFound(f"cannot {action} {url}: it does not exist", url) from exc
    except PermissionError as exc:
        raise TargetError(
            f"cannot {action} {url}: access denied; the credentials need permission for "
            "this bucket and prefix",
            url,
        ) from exc


def check_botocore_conditional_writes(service_model: Any) -> str | None:
    """Why conditional writes cannot be sent with this botocore, or None if they can.

    An old botocore has no ``IfNoneMatch`` member on ``PutObject`` and
    ``CompleteMultipartUpload``; s3fs then drops the condition silently. Here it is refused.
    """
    for op in ("PutObject", "CompleteMultipartUpload"):
        members = service_model.operation_model(op).input_shape.members
        if "IfNoneMatch" not in members:
            return (
                f"the installed botocore has no If-None-Match on {op}, so writes cannot be "
                "made conditional; upgrade it: pip install -U 'botocore>=1.35.20' 'boto3>=1.35.20'"
            )
    return None


# -- the store ------------------------------------------------------------------------------


class S3Store(ObjectStore):
    """One S3 bucket behind `ObjectStore`, over a boto3 client (thread-safe)."""

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

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    def _errors(self, key: str, action: str) -> contextlib.AbstractContextManager[None]:
        return _map_errors(self.url(key), action, key, self.endpoint)

    def _condition(self, key: str, if_absent: bool) -> dict[str, str]:
        if not if_absent:
            return {}
        if self.conditional:
            return {"IfNoneMatch": "*"}
        if self.head(key) is not None:
            raise PreconditionFailed(key, "exists (checked before writing)")
        return {}

    def put(
        self, key: str, data: bytes | BinaryIO, *, metadata: Mapping[str, str], if_absent: bool
    ) -> str:
        with self._errors(key, "write"):
            resp = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                Metadata=dict(metadata),
                **self._condition(key, if_absent),
                **self._write_kwargs,
            )
        return str(resp.get("ETag", ""))

    def create_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
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
            contextlib.suppress(NoSuchUpload, ObjectNotFound),
            self._errors(key, "abort an upload to"),
        ):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def list_uploads(self, prefix: str) -> Iterator[UploadInfo]:
        with self._errors(prefix, "list the uploads under"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for u in page.get("Uploads", []) or []:
                    yield UploadInfo(u["Key"], u["UploadId"], u.get("Initiated"))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors(key, "look up"):
                resp = self.client.head_object(Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return None
        return ObjectInfo(
            key,
            int(resp.get("ContentLength", 0)),
            str(resp.get("ETag", "")),
            resp.get("LastModified"),
            {k.lower(): v for k, v in (resp.get("Metadata") or {}).items()},
        )

    def get(self, key: str) -> bytes:
        with self._errors(key, "read"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._errors(prefix, "list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for o in page.get("Contents", []) or []:
                    yield ObjectInfo(
                        o["Key"],
                        int(o.get("Size", 0)),
                        str(o.get("ETag", "")),
                        o.get("LastModified"),
                    )

    def delete(self, key: str) -> None:
        with self._errors(key, "delete"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, src: str, dst: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        source = {"Bucket": self.bucket, "Key": src}
        if not if_absent:
            info = self.head(src)
            if info is None:
                raise ObjectNotFound(src, "not found")
            if info.size <= _MAX_COPY_PART:
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
        else:
            info = self.head(src)
            if info is None:
                raise ObjectNotFound(src, "not found")
        if info.size == 0:  # UploadPartCopy cannot copy an empty range
            return self.put(dst, b"", metadata=metadata, if_absent=if_absent)
        # CopyObject's own If-None-Match is ignored by many S3-compatible stores: copy into a
        # multipart upload instead, and let its completion carry the condition.
        upload_id = self.create_upload(dst, metadata=metadata)
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
    session_kwargs = {
        "aws_access_key_id": options.get("key"),
        "aws_secret_access_key": options.get("secret"),
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


def _split_path(path: str) -> tuple[str, str]:
    """``(bucket, key)`` of a backend path ``bucket/key`` (an ``s3://`` URL is accepted)."""
    scheme, sep, rest = path.partition("://")
    if sep and scheme.lower() in ("s3", "s3a"):
        path = rest
    bucket, _, key = path.strip("/").partition("/")
    return bucket, key


# -- the filesystem -------------------------------------------------------------------------


class _BodyReader(io.RawIOBase):
    """The body of one GET: one request, so one version of the object, never a mix."""

    def __init__(self, body: Any, url: str) -> None:
        super().__init__()
        self._body = body
        self._url = url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _map_errors(self._url, "read"):
            data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._body.close()
        super().close()


class S3FS(AtomicFS):
    """S3 and S3-compatible stores, committed with conditional writes (``If-None-Match``).

    Strict targets first make sure that the store honours the condition: once per bucket
    and process, a probe object is written twice with it and the second write must be
    refused; a store that accepts it (an S3-compatible store without conditional writes)
    gets `UnsupportedGuarantee` (G6).
    """

    protocol: ClassVar[str] = "s3"
    declared: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=False,
        noreplace_rename_dir=False,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=True,
        server_side_copy=True,
    )

    def __init__(self, **storage_options: Any) -> None:
        own, s3fs_options = _split_options(dict(storage_options))
        part_size = int(own.get("part_size", DEFAULT_PART_SIZE))
        if part_size < 1:
            raise InvalidTarget(f"part_size={part_size} must be a positive number of bytes")
        self._part_size = part_size
        self._stale_after = float(own.get("stale_claim_after", ostore.STALE_CLAIM_AFTER))
        self._options = s3fs_options
        self._write_kwargs = dict(s3fs_options.get("s3_additional_kwargs") or {})
        self.client = _make_client(s3fs_options)
        self._model_problem = check_botocore_conditional_writes(self.client.meta.service_model)
        self._stores: dict[str, S3Store] = {}
        self._fsspec: Any = None
        self._home: str | None = None

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[S3FS, str]:
        protocol, sep, rest = url.partition("://")
        if not sep or protocol.lower() not in ("s3", "s3a"):
            raise InvalidTarget(f"{url!r} is not an s3:// URL", url)
        rest = rest.split("?", 1)[0]
        bucket, key = _split_path(rest)
        if not bucket:
            raise InvalidTarget(
                f"{url!r} names no bucket; give s3://bucket/key (or s3://bucket/prefix/ for a "
                "directory)",
                url,
            )
        if any(c in bucket for c in " \\") or len(bucket) > 255:
            raise InvalidTarget(f"{bucket!r} in {url!r} is not a valid bucket name", url)
        fs = cls(**storage_options)
        path = f"{bucket}/{key}".rstrip("/")
        fs._home = path
        return fs, path

    def __repr__(self) -> str:
        return f"S3FS(endpoint={self.client.meta.endpoint_url!r})"

    # -- plumbing -----------------------------------------------------------------------

    def store(self, bucket: str) -> S3Store:
        """The `ObjectStore` for ``bucket``."""
        store = self._stores.get(bucket)
        if store is None:
            store = S3Store(
                self.client,
                bucket,
                part_size=self._part_size,
                write_kwargs=self._write_kwargs,
                conditional=self._model_problem is None,
            )
            self._stores[bucket] = store
        return store

    def _locate(self, path: str, *, need_key: bool = True) -> tuple[S3Store, str]:
        bucket, key = _split_path(path)
        if not bucket:
            raise InvalidTarget(f"{path!r} names no bucket", path)
        if need_key and not key:
            raise InvalidTarget(
                f"s3://{bucket} is a bucket, not an object; add a key (s3://{bucket}/name)",
                self.url(path),
            )
        return self.store(bucket), key

    def _errors(self, path: str, action: str) -> contextlib.AbstractContextManager[None]:
        return _map_errors(
            self.url(path), action, _split_path(path)[1], self.client.meta.endpoint_url
        )

    def _conditional_ok(self, store: S3Store, key: str) -> bool:
        """Whether ``store`` honours ``If-None-Match`` (probe once per bucket and process)."""
        if self._model_problem is not None:
            return False
        cache = (store.endpoint, store.bucket)
        with _probe_lock:
            known = _probed.get(cache)
        if known is not None:
            return known
        parent = key.rpartition("/")[0]
        probe_key = (parent + "/" if parent else "") + _PROBE_PREFIX + new_token()
        ok = ostore.probe_conditional_writes(store, probe_key)
        with _probe_lock:
            _probed[cache] = ok
        return ok

    def _require_conditional(self, store: S3Store, key: str, guarantee: Guarantee) -> None:
        url = store.url(key)
        try:
            ok = self._conditional_ok(store, key)
        except TargetError as exc:  # name the output, not the probe object
            reason = exc.message.split(": ", 1)[-1]
            raise type(exc)(f"cannot commit {url}: {reason}", url) from exc
        if ok:
            return
        why = self._model_problem or (
            f"the store at {store.endpoint or 'AWS'} accepted a second write of a probe "
            f"object in bucket {store.bucket!r} despite If-None-Match: *, so it does not "
            "support conditional writes and a concurrent writer could be overwritten silently"
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

    def _before_commit(self, store: S3Store, key: str, guarantee: Guarantee) -> Any:
        return lambda: self._require_conditional(store, key, guarantee)

    # -- AtomicFS: identity -----------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """The declared capabilities, weakened when this botocore cannot send conditional
        writes or when the probe found that the store of this filesystem's URL ignores them
        (the probe runs on first access, once per bucket and process)."""
        ok = self._model_problem is None
        if ok and self._home is not None:
            bucket, key = _split_path(self._home)
            ok = self._conditional_ok(self.store(bucket), key or "x")
        if ok:
            return self.declared
        return Capabilities(
            noreplace_rename=False,
            noreplace_rename_dir=False,
            exclusive_create=False,
            atomic_replace=True,
            deferred_publish=True,
            server_side_copy=True,
        )

    @property
    def fsspec(self) -> Any:
        if self._fsspec is None:
            import s3fs

            options = {"use_listings_cache": False, **self._options}
            options.pop("s3_additional_kwargs", None)
            with self._errors("", "connect to"):
                self._fsspec = s3fs.S3FileSystem(
                    **options, s3_additional_kwargs=self._write_kwargs or None
                )
        return self._fsspec

    def url(self, path: str) -> str:
        return "s3://" + path.strip("/")

    def join(self, path: str, *names: str) -> str:
        return "/".join([path.rstrip("/"), *(n.strip("/") for n in names)])

    # -- reading and housekeeping ---------------------------------------------------------

    def _any_under(self, store: S3Store, key: str) -> bool:
        prefix = key + "/" if key else ""
        with store._errors(key, "list"):
            resp = self.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix, MaxKeys=1)
        return bool(resp.get("KeyCount") or resp.get("Contents"))

    def exists(self, path: str) -> bool:
        store, key = self._locate(path, need_key=False)
        if not key:
            with contextlib.suppress(TargetNotFound), store._errors(key, "look up"):
                self.client.head_bucket(Bucket=store.bucket)
                return True
            return False
        return store.head(key) is not None or self._any_under(store, key)

    def isfile(self, path: str) -> bool:
        store, key = self._locate(path, need_key=False)
        return bool(key) and store.head(key) is not None

    def isdir(self, path: str) -> bool:
        store, key = self._locate(path, need_key=False)
        return self._any_under(store, key)

    def listdir(self, path: str) -> list[str]:
        store, key = self._locate(path, need_key=False)
        prefix = key.rstrip("/") + "/" if key else ""
        found: set[str] = set()
        with store._errors(key, "list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=store.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for o in page.get("Contents", []) or []:
                    if o["Key"] != prefix:
                        found.add(f"{store.bucket}/{o['Key']}")
                for p in page.get("CommonPrefixes", []) or []:
                    found.add(f"{store.bucket}/{p['Prefix'].rstrip('/')}")
        return sorted(found)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Prefixes need no creating on S3; only ``raise_if_exists`` has an effect."""
        if raise_if_exists and self.exists(path):
            raise TargetExistsError(f"{self.url(path)} already exists", self.url(path))

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Delete the object at ``path`` or, with ``recursive``, every object under it;
        ``_SUCCESS`` goes first so that the output stops existing before its files go."""
        store, key = self._locate(path)
        url = self.url(path)
        removed = False
        if store.head(key) is not None:
            store.delete(key)
            removed = True
        prefix = key + "/"
        keys = [o.key for o in store.list(prefix)]
        if keys:
            if not recursive:
                raise InvalidTarget(f"{url} is a directory; pass recursive=True", url)
            order = sorted(keys, key=lambda k: (k != prefix + SUCCESS, k == prefix + ostore.CLAIM))
            for k in order:
                store.delete(k)
            removed = True
        if not removed:
            raise TargetNotFound(f"cannot remove {url}: it does not exist", url)

    def open_input(self, path: str) -> IO[bytes]:
        store, key = self._locate(path)
        url = self.url(path)
        try:
            with store._errors(key, "read"):
                resp = self.client.get_object(Bucket=store.bucket, Key=key)
        except ObjectNotFound:
            raise TargetNotFound(f"cannot read {url}: it does not exist", url) from None
        return io.BufferedReader(_BodyReader(resp["Body"], url), 1 << 20)

    # -- atomic primitives ----------------------------------------------------------------

    def _copy_into(self, src: str, dst: str, guarantee: Guarantee, *, move: bool) -> None:
        sstore, skey = self._locate(src)
        dstore, dkey = self._locate(dst)
        surl, durl = self.url(src), self.url(dst)
        if sstore.bucket != dstore.bucket:
            raise InvalidTarget(
                f"cannot copy {surl} to {durl}: server-side copies stay inside one bucket", durl
            )
        self._require_conditional(dstore, dkey, guarantee)
        token = new_token()
        if sstore.head(skey) is not None:
            try:
                ostore._conditional(
                    dstore,
                    dkey,
                    token,
                    lambda: dstore.copy(
                        skey, dkey, metadata={ostore.TOKEN_KEY: token}, if_absent=True
                    ),
                )
            except ostore._Taken:
                raise ostore._exists_error(durl, "copy") from None
            if move:
                sstore.delete(skey)
            return
        entries = ostore._entries_from_staging(sstore, skey, durl)
        if not entries:
            raise TargetNotFound(f"cannot copy {surl}: it does not exist", surl)
        ostore.commit_directory(
            dstore, dkey, token, entries, if_exists="error", stale_after=self._stale_after
        )
        if move:
            ostore._delete_prefix(sstore, skey)

    def rename_dont_move(self, src: str, dst: str, *, guarantee: Guarantee = "strict") -> None:
        """S3 has no rename: a server-side copy that is published only if nothing is at
        ``dst`` (a conditional multipart copy for a file, the claim protocol for a
        directory), then ``src`` is deleted. Never nests, never replaces; not one atomic
        step (both exist for a moment), which ``capabilities.noreplace_rename`` says."""
        check_guarantee(guarantee)
        self._copy_into(src, dst, guarantee, move=True)

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy of a file or directory output to ``dst``; never replaces."""
        self._copy_into(src, dst, "strict", move=False)

    def put_if_absent(self, path: str, data: bytes) -> None:
        store, key = self._locate(path)
        self._require_conditional(store, key, "strict")
        try:
            ostore.put_exclusive(store, key, bytes(data), new_token())
        except ostore._Taken:
            raise ostore._exists_error(self.url(path), "file") from None

    # -- commits --------------------------------------------------------------------------

    def open_output(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> FileWriter:
        """One file output, published by one conditional request at ``commit()``; with
        ``if_exists="overwrite"`` by one plain (atomic) write. ``durable`` is moot: S3
        acknowledges a write once it is durable."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        store, key = self._locate(path)
        if key.endswith("/"):
            raise InvalidTarget(f"{self.url(path)} ends with '/': that names a directory")
        check = None if if_exists == "overwrite" else self._before_commit(store, key, guarantee)
        return ostore.ObjectFileWriter(store, key, path, if_exists=if_exists, before_commit=check)

    def directory_writer(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> DirectoryWriter:
        """A directory output, committed by claim -> publish -> ``_SUCCESS``."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        store, key = self._locate(path, need_key=False)
        return ostore.ObjectDirectoryWriter(
            store,
            key,
            self.fsspec,
            if_exists=if_exists,
            before_commit=self._before_commit(store, key, guarantee),
            stale_after=self._stale_after,
        )

    def staging(
        self,
        path: str,
        *,
        directory: bool,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> Staging:
        """A hidden sibling key (prefix) for ``temporary_path()``; the commit copies it
        server-side (O(bytes)) and deletes it."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        store, key = self._locate(path, need_key=not directory)
        if not key:
            raise InvalidTarget(
                f"{self.url(path)}: a temporary path needs a key to stage beside", self.url(path)
            )
        staging = ostore.ObjectStaging(
            store,
            key,
            directory=directory,
            if_exists=if_exists,
            before_commit=self._before_commit(store, key, guarantee),
            stale_after=self._stale_after,
        )
        staging.path = self.url(staging.path)  # Luigi hands tools s3:// URLs
        return staging

    def cleanup(
        self, path: str, *, older_than: _dt.timedelta, dry_run: bool = False
    ) -> CleanupReport:
        """Abort multipart uploads and remove staging prefixes (``.<name>.targets-tmp-*``)
        older than ``older_than``, at, under or beside ``path``. Nothing else is touched:
        claims are left to `recover`, committed data is never removed."""
        store, key = self._locate(path, need_key=False)
        return ostore.cleanup(store, key, older_than=older_than, dry_run=dry_run)

    def recover(self, path: str, how: str = "auto") -> str:
        """Roll the interrupted commit at ``path`` forward (``how="forward"``), back
        (``"back"``), or forward when every file of the claim is still available
        (``"auto"``). A claim younger than ``stale_claim_after`` is refused (its writer
        may still be publishing). See `targets.fs._objectstore.recover`."""
        store, key = self._locate(path, need_key=False)
        return ostore.recover(store, key, how, stale_after=self._stale_after)
