"""One store per backend for the fault tests, reached through a seam an `Injector` wraps.

A world gives the `AtomicFS` of a backend whose seam (PosixOps, the ObjectStore adapter,
the HDFS client) numbers its calls through an `Injector`; a *plain* one over the same store
(numbered too, never faulted) for checks, recovery, clean-up and retries; and the raw
contents of its root, past the library, to find anything left behind.
"""

from __future__ import annotations

import abc
import hashlib
import os
import posixpath
import urllib.parse
import uuid
from typing import Any, ClassVar

from targets.fs._names import CLAIM, SUCCESS
from targets.fs.objectstore import ObjectStoreFS
from targets.fs.base import AtomicFS
from targets.testing.injection import (
    Call,
    Injector,
    hdfs_error,
    object_store_error,
    posix_error,
)

PART = 256 << 10
"""The part size on S3 and GCS (moto's minimum is lowered to it by the S3 fixture)."""

FILE_SIZES = {"small": 1000, "multipart": 2 * PART + 100}
DIRECTORY = {"a.csv": 100, "sub/b.csv": 200, "big.bin": PART + 10}
"""The files of the directory output: two held back (one request each), one streamed."""


def payload(label: str, size: int) -> bytes:
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class World(abc.ABC):
    """A backend store under a fresh root, reachable through injectors."""

    name: ClassVar[str]
    kind: ClassVar[str]
    """``"posix"``, ``"hdfs"`` or ``"objectstore"``."""
    publish_ops: ClassVar[frozenset[str]]
    """The seam calls that can publish an output at its final path."""

    @abc.abstractmethod
    def fs(self, injector: Injector) -> AtomicFS:
        """The backend's filesystem, its seam numbered (and faulted) by ``injector``."""

    @abc.abstractmethod
    def path(self, name: str) -> str:
        """The backend path of the output ``name`` under the root."""

    @abc.abstractmethod
    def physical(self) -> list[str]:
        """Everything under the root, past the library: names relative to the root
        (directories end in ``/``), pending uploads as ``upload:<name>``."""

    @abc.abstractmethod
    def publish_target(self, call: Call) -> str | None:
        """The name (relative to the root) that ``call`` would publish, if it is a publish."""

    def committed_names(self, name: str, directory: bool) -> set[str]:
        """The raw names a committed output ``name`` consists of."""
        if not directory:
            return {name}
        files = {f"{name}/{f}" for f in DIRECTORY} | {f"{name}/{SUCCESS}"}
        if self.kind == "objectstore":
            return files | {f"{name}/{CLAIM}"}
        dirs = {f"{name}/", f"{name}/sub/"}
        return files | dirs

    def enforces(self, kind: str) -> bool:
        """Whether the store refuses a second exclusive write on this commit's path."""
        return True

    def marker(self, name: str, directory: bool) -> str:
        """The raw name whose creation is the commit of ``name``."""
        if directory and self.kind == "objectstore":
            return f"{name}/{SUCCESS}"
        return name


class LocalWorld(World):
    name = "local"
    kind = "posix"
    publish_ops = frozenset({"rename_flags", "link", "rename"})

    def __init__(self, root: str) -> None:
        self.root = root

    def fs(self, injector: Injector) -> AtomicFS:
        from targets.fs.local import LocalFS, PosixOps

        return LocalFS(injector.wrap(PosixOps(), error=posix_error))

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def physical(self) -> list[str]:
        found = []
        for top, dirs, files in os.walk(self.root):
            rel = os.path.relpath(top, self.root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            found += [base + d + "/" for d in dirs] + [base + f for f in files]
        return sorted(found)

    def publish_target(self, call: Call) -> str | None:
        if call.op not in self.publish_ops:
            return None
        dst = str(call.args[1])
        return os.path.relpath(dst, self.root) if os.path.isabs(dst) else dst


class HDFSWorld(World):
    name = "hdfs"
    kind = "hdfs"
    publish_ops = frozenset({"rename", "rename_old"})

    def __init__(self) -> None:
        from targets.testing.hdfs_model import HDFSModel

        self.model = HDFSModel()
        self.root = "/store"
        self.model.mkdirs(self.root, create_parent=True)

    def fs(self, injector: Injector) -> AtomicFS:
        from targets.fs.hdfs import HDFS

        client = injector.wrap(self.model, error=hdfs_error, pure=(), streams=("create",))
        return HDFS(client, authority="model")

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def physical(self) -> list[str]:
        return self.model.tree(self.root)

    def publish_target(self, call: Call) -> str | None:
        if call.op not in self.publish_ops:
            return None
        return posixpath.relpath(str(call.args[1]), self.root)


class ObjectWorld(World):
    kind = "objectstore"
    publish_ops = frozenset({"put", "complete_upload", "copy"})

    def __init__(self, store: Any) -> None:
        self.store = store
        self.root = f"t-{uuid.uuid4().hex[:12]}"

    def fs(self, injector: Injector, store: Any = None, stale_claim_after: float = 0.0) -> AtomicFS:
        """The store (or ``store``, another client of the same bucket) through ``injector``;
        claims count as abandoned after ``stale_claim_after`` seconds (0: at once, for a
        single writer whose leftovers `recover` may settle right away)."""
        wrapped = injector.wrap(self.store if store is None else store, error=object_store_error)
        return ObjectStoreFS.mount(wrapped, stale_claim_after=stale_claim_after)

    def path(self, name: str) -> str:
        return f"{self.store.bucket}/{self.root}/{name}"

    def _rel(self, key: str) -> str:
        return key[len(self.root) + 1 :]

    def physical(self) -> list[str]:
        names = [self._rel(o.key) for o in self.store.list(self.root + "/")]
        names += [f"upload:{self._rel(u.key)}" for u in self.store.list_uploads(self.root + "/")]
        return sorted(names)

    def publish_target(self, call: Call) -> str | None:
        if call.op not in self.publish_ops:
            return None
        key = str(call.args[1] if call.op == "copy" else call.args[0])
        return self._rel(key) if key.startswith(self.root + "/") else None


class S3World(ObjectWorld):
    name = "s3"

    def __init__(self, options: dict[str, Any], bucket: str) -> None:
        from targets.fs.s3 import S3FS

        super().__init__(S3FS(**options).store(bucket))


class GCSWorld(ObjectWorld):
    name = "gcs"

    def __init__(self, options: dict[str, Any], bucket: str) -> None:
        from gcsfs.core import GCSFileSystem

        from targets.fs.gcs import GCSStore

        gcs = GCSFileSystem(**options, use_listings_cache=False, skip_instance_cache=True)
        super().__init__(GCSStore(gcs, bucket, part_size=PART))

    def enforces(self, kind: str) -> bool:
        # fake-gcs-server ignores ifGenerationMatch=0 on resumable uploads (multipart files);
        # real GCS refuses them (tests/gcs/test_server_facts.py).
        return kind != "multipart"

    def physical(self) -> list[str]:
        # Resumable sessions cannot be listed on GCS; the adapter's own record of the ones
        # this process opened must be empty once every writer has ended.
        sessions = []
        for upload_id in list(self.store._sessions):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(upload_id).query)
            key = query.get("name", [""])[0]
            sessions.append(f"session:{self._rel(key)}")
        return sorted(super().physical() + sessions)
