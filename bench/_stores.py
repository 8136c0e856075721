"""The three stores the benchmark writes to, each with the clients every path needs.

A `Backend` knows where outputs go (a fresh name per run under its root) and hands out the
clients the paths use: this library's storage options, an fsspec filesystem, a plain
client for the floor (``open``, boto3, gcsfs), obstore and Luigi where they reach the store.
The S3 and GCS backends exist twice: straight to the server (timed runs) and through a
`CountingProxy` (counted runs); both write to the same bucket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from typing import Any

BUCKET = "bench"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Backend:
    """One store as the paths see it."""

    name: str
    """``local``, ``s3`` or ``gcs``."""
    options: dict[str, Any]
    """Storage options for `targets.target`."""
    fs: Any
    """An fsspec filesystem on the store (its own instance: no shared cache)."""

    def new_batch(self) -> str:
        """A fresh, empty directory URL (no trailing ``/``) for the outputs of some runs;
        their temporaries land beside them, inside it."""
        raise NotImplementedError

    def remove_batch(self, batch: str) -> None:
        """Delete everything under ``batch`` (not timed)."""
        raise NotImplementedError

    def put_plain(self, url: str, data: bytes) -> None:
        """Write ``data`` to ``url`` with no atomicity at all: the floor."""
        raise NotImplementedError

    def obstore(self) -> Any:
        """An obstore store on this backend, or None (obstore missing, or no client for
        this store here)."""
        return None

    def obstore_key(self, url: str) -> str:
        """The key of ``url`` in `obstore`'s store."""
        raise NotImplementedError

    def luigi_target(self, url: str, *, binary: bool = True) -> Any:
        """A Luigi target for ``url``, or None where Luigi has no client for the store."""
        return None


class LocalBackend(Backend):
    name = "local"

    def __init__(self, root: str) -> None:
        import fsspec.implementations.local

        self.root = root
        self.options: dict[str, Any] = {}
        self.fs = fsspec.implementations.local.LocalFileSystem()
        self._obstore: Any = None

    def new_batch(self) -> str:
        batch = os.path.join(self.root, _unique("batch"))
        os.mkdir(batch)
        return batch

    def remove_batch(self, batch: str) -> None:
        shutil.rmtree(batch, ignore_errors=True)

    def put_plain(self, url: str, data: bytes) -> None:
        with open(url, "wb") as f:
            f.write(data)

    def obstore(self) -> Any:
        try:
            from obstore.store import LocalStore
        except ModuleNotFoundError:
            return None
        if self._obstore is None:
            self._obstore = LocalStore(self.root)
        return self._obstore

    def obstore_key(self, url: str) -> str:
        return os.path.relpath(url, self.root)

    def luigi_target(self, url: str, *, binary: bool = True) -> Any:
        import luigi
        import luigi.format

        return luigi.LocalTarget(url, format=luigi.format.Nop if binary else None)


class S3Backend(Backend):
    """A moto server, reached at ``endpoint`` (the server itself or a counting proxy)."""

    name = "s3"

    def __init__(self, endpoint: str, server: Any, prefix: str) -> None:
        import boto3
        import s3fs

        self.endpoint = endpoint
        self.prefix = prefix
        self.options = {**server.options(), "endpoint_url": endpoint}
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=server.region,
            aws_access_key_id=server.key,
            aws_secret_access_key=server.secret,
        )
        self.fs = s3fs.S3FileSystem(
            key=server.key,
            secret=server.secret,
            endpoint_url=endpoint,
            client_kwargs={"region_name": server.region},
            skip_instance_cache=True,
            use_listings_cache=False,
        )
        self._server = server
        self._obstore: Any = None
        self._luigi: Any = None

    def new_batch(self) -> str:
        return f"s3://{BUCKET}/{self.prefix}/{_unique('batch')}"

    @staticmethod
    def key(url: str) -> str:
        return url.removeprefix(f"s3://{BUCKET}/").rstrip("/")

    def put_plain(self, url: str, data: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=self.key(url), Body=data)

    def obstore(self) -> Any:
        try:
            from obstore.store import S3Store
        except ModuleNotFoundError:
            return None
        if self._obstore is None:
            self._obstore = S3Store(
                BUCKET,
                endpoint=self.endpoint,
                access_key_id=self._server.key,
                secret_access_key=self._server.secret,
                region=self._server.region,
                client_options={"allow_http": True},
                copy_if_not_exists="multipart",
            )
        return self._obstore

    def obstore_key(self, url: str) -> str:
        return self.key(url)

    def luigi_target(self, url: str, *, binary: bool = True) -> Any:
        import luigi.format
        from luigi.contrib.s3 import S3Client, S3Target

        if self._luigi is None:
            self._luigi = S3Client(
                aws_access_key_id=self._server.key,
                aws_secret_access_key=self._server.secret,
                endpoint_url=self.endpoint,
                region_name=self._server.region,
            )
        return S3Target(url, client=self._luigi, format=luigi.format.Nop if binary else None)

    def remove_batch(self, batch: str) -> None:
        prefix = self.key(batch) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", []) or []]
            if keys:
                self.client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})
        uploads = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=BUCKET, Prefix=prefix
        )
        for page in uploads:
            for upload in page.get("Uploads", []) or []:
                self.client.abort_multipart_upload(
                    Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
                )


class GCSBackend(Backend):
    """A fake-gcs-server, reached at ``endpoint`` (the server itself or a counting proxy)."""

    name = "gcs"

    def __init__(self, endpoint: str, prefix: str) -> None:
        from gcsfs.core import GCSFileSystem

        self.endpoint = endpoint
        self.prefix = prefix
        self.options = {"endpoint_url": endpoint, "token": "anon", "project": "test"}
        self.fs = GCSFileSystem(**self.options, skip_instance_cache=True, use_listings_cache=False)

    def new_batch(self) -> str:
        return f"gs://{BUCKET}/{self.prefix}/{_unique('batch')}"

    def put_plain(self, url: str, data: bytes) -> None:
        self.fs.pipe_file(url, data)

    def remove_batch(self, batch: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(batch, recursive=True)
