"""The stores a property machine can drive: one `World` per kind of store.

A world makes a fresh store for each example, wraps its seam with the example's
`Scheduler` (so the real backend code's calls become steps), says how to reach it
(``url`` and storage ``options`` for `targets.target`), and lets the machine look at it
directly (``files``), past the library, to check what a reader would see.

Worlds here:

- `PosixWorld`: `SimulatedPosix`, with power loss.
- `LocalDiskWorld`: a real directory, through the real `PosixOps` (scheduled too).
- `HDFSWorld`: the HDFS namespace model, with lost and retried responses.
- `ObjectStoreWorld`: a simulated S3 or GCS bucket, through the object-store protocols.

Write your own for another store: implement the abstract members (see `World`).
"""

from __future__ import annotations

import abc
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from targets.fs._names import parse_temp_name
from targets.testing.faults import LOSE, RETRY, Scheduler

__all__ = ["HDFSWorld", "LocalDiskWorld", "ObjectStoreWorld", "PosixWorld", "World"]

CRASH = "crash"
POWER_LOSS = "power_loss"


class World(abc.ABC):
    """One store under test. Subclasses set the class attributes and implement the methods."""

    kind: ClassVar[str]
    """``"posix"``, ``"hdfs"`` or ``"objectstore"``: which sabotage strategies apply."""
    faults: ClassVar[frozenset[str]] = frozenset({CRASH})
    """Which faults the machine may inject: ``"crash"``, ``"lose"``, ``"retry"``,
    ``"power_loss"``."""
    atomic_directories: ClassVar[bool] = True
    """Whether a directory output appears with its ``_SUCCESS`` in one step (a rename):
    then nothing may be at the path of an uncommitted directory output."""
    marker_files: ClassVar[frozenset[str]] = frozenset({"_SUCCESS"})
    """Names inside a directory output that are the protocol's, not the writer's."""

    scheduler: Scheduler
    seam: Any
    """The scheduled seam (what sabotage strategies talk to)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    @abc.abstractmethod
    def url(self, name: str) -> str:
        """The URL of the output ``name`` (a name ending in ``/`` is a directory output)."""

    @property
    @abc.abstractmethod
    def options(self) -> dict[str, Any]:
        """Storage options for `targets.target` that reach the scheduled seam."""

    @abc.abstractmethod
    def path(self, name: str) -> str:
        """The seam's path (or key) of the output ``name`` (without a trailing ``/``)."""

    @abc.abstractmethod
    def files(self) -> dict[str, bytes]:
        """Every file (object) under the root, by path relative to it, read directly."""

    def dirs(self) -> set[str]:
        """Every directory under the root, relative (stores without directories: none)."""
        return set()

    def leftovers(self) -> list[str]:
        """What a cleanup must leave behind no more of: temporaries and pending uploads."""
        found = {
            p
            for p in [*self.files(), *self.dirs()]
            if any(parse_temp_name(seg) is not None for seg in p.split("/"))
        }
        return sorted(found)

    def target(self, name: str, **options: Any) -> Any:
        """The public target for the output ``name`` (``if_exists=`` and the like)."""
        import targets

        return targets.target(self.url(name), **options, **self.options)

    def cleanup(self, name: str, older_than: timedelta) -> Any:
        import targets

        return targets.cleanup(self.url(name), older_than=older_than, **self.options)

    def recover(self, name: str) -> str:
        import targets

        return targets.recover(self.url(name), **self.options)

    def power_loss(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no power loss")

    def close(self) -> None:  # noqa: B027 (optional: most worlds hold nothing to release)
        """Release the store (after the scheduler closed)."""


# -- POSIX ---------------------------------------------------------------------------------


class _PosixTree(World):
    kind = "posix"
    root: str

    def url(self, name: str) -> str:
        return "file://" + posixpath.join(self.root, name)

    @property
    def options(self) -> dict[str, Any]:
        return {"ops": self.seam}

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name.rstrip("/"))


class PosixWorld(_PosixTree):
    """`SimulatedPosix`: crashes and power loss (durable state only survives)."""

    faults = frozenset({CRASH, POWER_LOSS})

    def __init__(self, scheduler: Scheduler, *, renameat2: bool = True) -> None:
        from targets.testing.posix import SimulatedPosix

        super().__init__(scheduler)
        self.sim = SimulatedPosix(renameat2=renameat2)
        self.root = "/store"
        self.sim.makedirs(self.root)
        self.seam = scheduler.wrap(self.sim, pure={"fsspec"})

    def files(self) -> dict[str, bytes]:
        return {
            p: self.sim.read_file(posixpath.join(self.root, p))
            for p in self.sim.tree(self.root)
            if not p.endswith("/")
        }

    def dirs(self) -> set[str]:
        return {p.rstrip("/") for p in self.sim.tree(self.root) if p.endswith("/")}

    def power_loss(self) -> None:
        self.sim.power_loss()


class LocalDiskWorld(_PosixTree):
    """A real directory on the local disk, through the real `PosixOps`, scheduled."""

    def __init__(self, scheduler: Scheduler, base: str | None = None) -> None:
        from targets.fs.local import PosixOps

        super().__init__(scheduler)
        self._tmp = tempfile.mkdtemp(prefix="targets-world-", dir=base)
        self.root = os.path.realpath(self._tmp)
        self.seam = scheduler.wrap(PosixOps(), pure={"fsspec"})

    def _walk(self) -> tuple[dict[str, bytes], set[str]]:
        files: dict[str, bytes] = {}
        dirs: set[str] = set()
        for top, subdirs, names in os.walk(self.root):
            rel = os.path.relpath(top, self.root)
            for d in subdirs:
                dirs.add(d if rel == "." else f"{rel}/{d}")
            for n in names:
                p = n if rel == "." else f"{rel}/{n}"
                with open(os.path.join(top, n), "rb") as f:
                    files[p] = f.read()
        return files, dirs

    def files(self) -> dict[str, bytes]:
        return self._walk()[0]

    def dirs(self) -> set[str]:
        return self._walk()[1]

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


# -- HDFS ----------------------------------------------------------------------------------


class HDFSWorld(World):
    """The HDFS namespace model (`HDFSModel`) through the real HDFS backend: crashes, lost
    responses (a transport error after the call took effect) and retried calls."""

    kind = "hdfs"
    faults = frozenset({CRASH, LOSE, RETRY})

    def __init__(self, scheduler: Scheduler) -> None:
        from targets.testing.hdfs_model import HDFSModel

        super().__init__(scheduler)
        self.model = HDFSModel()
        self.root = "/store"
        self.model.mkdirs(self.root, create_parent=True)
        self.seam = scheduler.wrap(self.model, wrap_results={"create"})

    def url(self, name: str) -> str:
        return "hdfs://model" + posixpath.join(self.root, name)

    @property
    def options(self) -> dict[str, Any]:
        return {"client": self.seam}

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name.rstrip("/"))

    def files(self) -> dict[str, bytes]:
        return {
            p: self.model.read_file(posixpath.join(self.root, p))
            for p in self.model.tree(self.root)
            if not p.endswith("/")
        }

    def dirs(self) -> set[str]:
        return {p.rstrip("/") for p in self.model.tree(self.root) if p.endswith("/")}


# -- object stores ---------------------------------------------------------------------------


def _store_unavailable(op: str) -> BaseException:
    from targets.errors import StoreUnavailable

    return StoreUnavailable(f"the store did not answer {op} (simulated: the answer was lost)")


def mounted_target(afs: Any, path: str, *, directory: bool, **options: Any) -> Any:
    """A `FileTarget` or `DirectoryTarget` over an `AtomicFS` that no URL reaches (a
    mounted `ObjectStoreFS`): the target layer resolves URLs only for registered backends."""
    import targets

    cls = targets.DirectoryTarget if directory else targets.FileTarget
    t = cls.__new__(cls)
    t._location, t._options, t.fs, t.path = path, {}, afs, path
    if not directory:
        t.format = None
    t.if_exists = options.get("if_exists", "error")
    t.guarantee = options.get("guarantee", "strict")
    t.durable = options.get("durable", True)
    return t


class ObjectStoreWorld(World):
    """A simulated S3 (``flavor="s3"``) or GCS (``"gcs"``) bucket (`MemoryObjectStore`),
    mounted with `ObjectStoreFS.mount`: crashes, lost responses (`StoreUnavailable` after
    the request took effect) and requests retried after a lost response."""

    kind = "objectstore"
    faults = frozenset({CRASH, LOSE, RETRY})
    atomic_directories = False
    marker_files = frozenset({"_SUCCESS", "_targets_claim"})

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        flavor: str = "s3",
        store: Any = None,
        root: str = "store",
        part_size: int = 16,
    ) -> None:
        """``store``: an `ObjectStore` to drive instead of a fresh simulated one (a real
        bucket's adapter, ``S3FS(...).store(bucket)``: then ``root`` should be a fresh
        prefix)."""
        from targets.fs.objectstore import ObjectStoreFS
        from targets.testing.objectstore import MemoryObjectStore

        super().__init__(scheduler)
        if store is None:
            store = MemoryObjectStore("bucket", flavor=flavor, part_size=part_size)
        self.store = store
        self.flavor = flavor
        self.root = root
        self.seam = scheduler.wrap(self.store, transport_error=_store_unavailable, pure={"url"})
        self.afs = ObjectStoreFS.mount(self.seam, stale_claim_after=0.0)

    def url(self, name: str) -> str:
        return self.store.url(self.path(name)) + ("/" if name.endswith("/") else "")

    @property
    def options(self) -> dict[str, Any]:
        return {}

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name.rstrip("/"))

    def target(self, name: str, **options: Any) -> Any:
        path = f"{self.store.bucket}/{self.path(name)}"
        return mounted_target(self.afs, path, directory=name.endswith("/"), **options)

    def cleanup(self, name: str, older_than: timedelta) -> Any:
        return self.afs.cleanup(f"{self.store.bucket}/{self.path(name)}", older_than=older_than)

    def recover(self, name: str) -> str:
        return str(self.afs.recover(f"{self.store.bucket}/{self.path(name)}"))

    def files(self) -> dict[str, bytes]:
        base = self.root + "/"
        keys = sorted(o.key for o in self.store.list(base))
        return {k[len(base) :]: self.store.get(k) for k in keys}

    def leftovers(self) -> list[str]:
        # GCS's resumable sessions cannot be listed (they expire by themselves): a GCS
        # store lists no uploads, and none are counted.
        pending = [f"upload:{u.key}" for u in self.store.list_uploads(self.root + "/")]
        return sorted([*super().leftovers(), *pending])


WorldFactory = Callable[[Scheduler], World]
"""Makes a fresh `World` for one example."""
