"""The fault tests' stores: the worlds of `targets.testing.worlds`, one per backend, on the
session's servers, and the outputs the tests write to them.

What is here and not there is what the test servers do differently from the real stores
(fake-gcs-server) and the test data.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from targets.testing.worlds import HDFSWorld, LocalDiskWorld, ObjectStoreWorld, World

PART = 256 << 10
"""The part size on S3 and GCS (moto's minimum is lowered to it by the S3 fixture)."""

FILE_SIZES = {"small": 1000, "multipart": 2 * PART + 100}
DIRECTORY = {"a.csv": 100, "sub/b.csv": 200, "big.bin": PART + 10}
"""The files of the directory output: two held back (one request each), one streamed."""


def payload(label: str, size: int) -> bytes:
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class FakeGCSWorld(ObjectStoreWorld):
    """fake-gcs-server through the GCS adapter. Resumable sessions cannot be listed on GCS;
    the adapter's own record of the ones this process opened is listed as
    ``session:<name>``, and must be empty once every writer has ended."""

    def physical(self) -> list[str]:
        sessions = []
        for upload_id in list(self.store._sessions):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(upload_id).query)
            key = query.get("name", [""])[0]
            sessions.append(f"session:{key[len(self.root) + 1 :]}")
        return sorted(super().physical() + sessions)


def enforces(world: World, kind: str) -> bool:
    """Whether the store refuses a second exclusive write of the commit ``kind``:
    fake-gcs-server ignores ifGenerationMatch=0 on resumable uploads (files larger than
    one part); real GCS refuses them (tests/gcs/test_server_facts.py)."""
    return not (isinstance(world, FakeGCSWorld) and kind == "multipart")


def s3_world(options: dict[str, Any], bucket: str) -> ObjectStoreWorld:
    from targets.fs.s3 import S3FS

    store = S3FS(**options).store(bucket)
    return ObjectStoreWorld(store=store, flavor="s3", root=f"t-{uuid.uuid4().hex[:12]}")


def gcs_world(options: dict[str, Any], bucket: str) -> FakeGCSWorld:
    from gcsfs.core import GCSFileSystem

    from targets.fs.gcs import GCSStore

    gcs = GCSFileSystem(**options, use_listings_cache=False, skip_instance_cache=True)
    store = GCSStore(gcs, bucket, part_size=PART)
    return FakeGCSWorld(store=store, flavor="gcs", root=f"t-{uuid.uuid4().hex[:12]}")


@contextlib.contextmanager
def open_world(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[World]:
    """A fresh world of ``backend`` (local, hdfs, s3, gcs), closed on the way out."""
    world: World
    if backend == "local":
        world = LocalDiskWorld(base=str(tmp_path))
    elif backend == "hdfs":
        world = HDFSWorld()
    elif backend == "s3":
        s3 = request.getfixturevalue("s3_server")
        world = s3_world(s3["options"], s3["bucket"])
    else:
        from tests.fixtures.gcs import BUCKET

        world = gcs_world(request.getfixturevalue("gcs_server").options(), BUCKET)
    with world:
        yield world
