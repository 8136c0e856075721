"""The stores that the property machine and the fault sweep drive: one `World` per kind.

A world is one store under a fresh root, and everything a test needs to know about it:

- its seam, intercepted: ``World(policy)`` binds a policy (the machine's `Scheduler`) to
  ``world.seam``, and ``world.fs(policy)`` is the backend's `AtomicFS` over the seam
  intercepted by any other policy (a sweep's `Injector`, a fresh one per run);
- how targets reach the bound seam: ``url(name)`` and the storage ``options`` for
  `targets.target` (``target``, ``cleanup`` and ``recover`` use them). An object store is
  served under a URL scheme of the world's own (``memory-s3-1://bucket/...``), registered
  while the world is open;
- what is in it, read directly past the library: ``files()``, ``dirs()``, ``uploads()``,
  and from them ``physical()`` and ``leftovers()``;
- what its commit protocol looks like at the seam: which calls publish an output
  (``publish_target``), what a committed output consists of (``committed_names``), and
  which name's creation is the commit (``marker``).

Worlds here:

- `PosixWorld`: `SimulatedPosix`, with power loss.
- `LocalDiskWorld`: a real directory, through the real `PosixOps`.
- `HDFSWorld`: the HDFS namespace model, with lost and retried responses.
- `ObjectStoreWorld`: a simulated S3 or GCS bucket (or a real bucket's `ObjectStore`),
  through the object-store protocols.

Close a world when done (``close()``, or ``with``): it unregisters its scheme and removes
its files. Write your own for another store: implement the abstract members (see `World`).
"""

from __future__ import annotations

import abc
import itertools
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any, ClassVar

import targets
from targets.fs import AtomicFS, CleanupReport, filesystem
from targets.fs._names import CLAIM, SUCCESS, parse_temp_name
from targets.testing.clock import SIM_CLOCK
from targets.testing.faults import (
    LOSE,
    RETRY,
    Call,
    ErrorFactory,
    Interceptor,
    Policy,
    hdfs_error,
    object_store_error,
    posix_error,
)

LEASE_PERIOD = 60.0
"""The lease period (``stale_claim_after``) of worlds whose clock the test moves."""

__all__ = [
    "CRASH",
    "POWER_LOSS",
    "HDFSWorld",
    "LocalDiskWorld",
    "ObjectStoreWorld",
    "PosixWorld",
    "World",
    "WorldFactory",
]

CRASH = "crash"
POWER_LOSS = "power_loss"


class World(abc.ABC):
    """One store under test. Subclasses set the class attributes, make their store and
    root, then call ``super().__init__(policy)``; and implement the abstract methods."""

    name: str
    """Which store this is, in reports (``"posix"``, ``"local"``, ``"hdfs"``, ``"s3"``...)."""
    kind: ClassVar[str]
    """``"posix"``, ``"hdfs"`` or ``"objectstore"``: which sabotage strategies apply."""
    faults: ClassVar[frozenset[str]] = frozenset({CRASH})
    """Which faults the machine may inject: ``"crash"``, `LOSE`, `RETRY`, ``"power_loss"``."""
    atomic_directories: ClassVar[bool] = True
    """Whether a directory output appears with its ``_SUCCESS`` in one step (a rename):
    then nothing may be at the path of an uncommitted directory output."""
    directories: ClassVar[bool] = True
    """Whether the store has directories (``dirs()`` lists them)."""
    marker_files: ClassVar[frozenset[str]] = frozenset({SUCCESS})
    """Names inside a directory output that are the protocol's, not the writer's."""
    publish_ops: ClassVar[frozenset[str]]
    """The seam calls that can publish an output at its final path."""
    error: ClassVar[ErrorFactory]
    """What a fault at the seam raises (the seam's own transport error)."""
    streams: ClassVar[frozenset[str]] = frozenset()
    """Seam calls whose results are streams, intercepted too."""
    leases: bool = False
    """Whether the store judges leases by a clock that `advance` moves (the machine then
    lets writers pause past their lease while recover and cleanup run, G10)."""
    lease_period: float = LEASE_PERIOD
    """The ``stale_claim_after`` its outputs are reached with, when `leases` is true."""

    raw: Any
    """The store's seam, not intercepted."""
    root: str
    """The seam path (or key prefix) everything of this world is under."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = Policy() if policy is None else policy
        self.seam = self.intercept(self.policy)
        """The seam intercepted by the world's policy: what targets reach, and what
        sabotage strategies talk to."""

    def intercept(self, policy: Policy) -> Any:
        """The store's seam, its calls going through ``policy``."""
        return Interceptor(self.raw, policy, error=type(self).error, streams=self.streams)

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 (optional: most worlds hold nothing to release)
        """Release the store (once the policy's run is over)."""

    # -- reaching it through the library -------------------------------------------------

    @abc.abstractmethod
    def url(self, name: str) -> str:
        """The URL of the output ``name`` (a name ending in ``/`` is a directory output)."""

    @abc.abstractmethod
    def reach(self, seam: Any) -> dict[str, Any]:
        """Storage options for `targets.target` that reach ``seam`` (one of this world's
        seams, intercepted)."""

    @property
    def options(self) -> dict[str, Any]:
        """Storage options for `targets.target` that reach the world's seam."""
        return self.reach(self.seam)

    def path(self, name: str) -> str:
        """The seam's path (or key) of the output ``name`` (without a trailing ``/``)."""
        return posixpath.join(self.root, name.rstrip("/"))

    def fs_path(self, name: str) -> str:
        """The path of the output ``name`` in `fs`."""
        return self.path(name)

    def fs(self, policy: Policy | None = None) -> AtomicFS:
        """The backend's filesystem over the seam intercepted by ``policy`` (default: the
        world's own seam)."""
        seam = self.seam if policy is None else self.intercept(policy)
        return filesystem(self.url(""), **self.reach(seam))

    def target(self, name: str, **options: Any) -> Any:
        """The public target for the output ``name`` (``if_exists=`` and the like)."""
        return targets.target(self.url(name), **options, **self.options)

    def cleanup(self, name: str, older_than: timedelta, *, dead: bool = False) -> CleanupReport:
        """`targets.cleanup` of the output ``name``; ``dead=True``: every writer is known
        to be dead, so leases are judged with a period that has passed already."""
        options = {**self.options, **(self.dead_writers if dead else {})}
        return targets.cleanup(self.url(name), older_than=older_than, **options)

    def recover(self, name: str, *, dead: bool = False) -> str:
        """`targets.recover` of the output ``name`` (``dead`` as for `cleanup`)."""
        options = {**self.options, **(self.dead_writers if dead else {})}
        return targets.recover(self.url(name), **options)

    @property
    def dead_writers(self) -> dict[str, Any]:
        """Storage options that judge every lease stale at once (for a world whose clock
        the test cannot move): the shortest lease period there is."""
        return {"stale_claim_after": 1e-9}

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, for the store and every lease holder (worlds with
        `leases` only)."""
        raise NotImplementedError(f"the {self.name} world has no clock to advance")

    def power_loss(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no power loss")

    # -- looking at it directly ------------------------------------------------------------

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Every file (object) under the root, by path relative to it, listed directly."""

    @abc.abstractmethod
    def read(self, name: str) -> bytes:
        """The content of the file ``name`` (relative to the root), read directly."""

    def dirs(self) -> set[str]:
        """Every directory under the root, relative (stores without directories: none)."""
        return set()

    def uploads(self) -> list[str]:
        """The pending (created, neither completed nor aborted) uploads under the root,
        relative (stores without uploads: none)."""
        return []

    def files(self) -> dict[str, bytes]:
        """Every file (object) under the root with its content, read directly."""
        return {n: self.read(n) for n in self.names()}

    def physical(self) -> list[str]:
        """Everything under the root: names relative to it, directories ending in ``/``,
        pending uploads as ``upload:<name>``."""
        found = [*self.names(), *(d + "/" for d in self.dirs())]
        return sorted(found + [f"upload:{u}" for u in self.uploads()])

    def leftovers(self) -> list[str]:
        """What a cleanup must leave behind no more of: temporaries and pending uploads."""
        return [
            p
            for p in self.physical()
            if p.startswith("upload:")
            or any(parse_temp_name(seg) is not None for seg in p.rstrip("/").split("/"))
        ]

    # -- its protocol, as seen at the seam ---------------------------------------------------

    @abc.abstractmethod
    def published(self, call: Call) -> str | None:
        """The seam path that ``call``, one of `publish_ops`, creates or replaces."""

    def publish_target(self, call: Call) -> str | None:
        """The name (relative to the root) that ``call`` would publish, if it is a publish."""
        if call.op not in self.publish_ops:
            return None
        dst = self.published(call)
        if dst is None or not dst.startswith(self.root.rstrip("/") + "/"):
            return None
        return dst[len(self.root.rstrip("/")) + 1 :]

    def marker(self, name: str, directory: bool) -> str:
        """The raw name whose creation is the commit of the output ``name``."""
        return name if self.atomic_directories or not directory else f"{name}/{SUCCESS}"

    def committed_names(self, name: str, files: Collection[str] | None = None) -> set[str]:
        """The raw names (as `physical` lists them) of the committed output ``name``: the
        file, or for a directory output of ``files``, those, the markers and (stores with
        directories) the directories."""
        if files is None:
            return {name}
        found = {f"{name}/{f}" for f in [*files, *self.marker_files]}
        if self.directories:
            parents = {posixpath.dirname(f) for f in files} - {""}
            found |= {f"{name}/"} | {f"{name}/{p}/" for p in parents}
        return found


WorldFactory = Callable[[Policy], World]
"""Makes a fresh `World` for one example, bound to the example's policy."""


# -- POSIX ---------------------------------------------------------------------------------


def _files_of(tree: list[str]) -> list[str]:
    """The files of a simulated store's ``tree()`` listing (directories end in ``/``)."""
    return [p for p in tree if not p.endswith("/")]


def _dirs_of(tree: list[str]) -> set[str]:
    return {p.rstrip("/") for p in tree if p.endswith("/")}


class _PosixTree(World):
    kind = "posix"
    publish_ops = frozenset({"rename_flags", "link", "rename"})
    error = posix_error

    def url(self, name: str) -> str:
        return "file://" + posixpath.join(self.root, name)

    def reach(self, seam: Any) -> dict[str, Any]:
        return {"ops": seam}

    def published(self, call: Call) -> str | None:
        dst = str(call.args[1])
        return dst if os.path.isabs(dst) else posixpath.join(self.root, dst)


class PosixWorld(_PosixTree):
    """`SimulatedPosix`: crashes and power loss (durable state only survives)."""

    name = "posix"
    faults = frozenset({CRASH, POWER_LOSS})

    def __init__(self, policy: Policy | None = None, *, renameat2: bool = True) -> None:
        from targets.testing.posix import SimulatedPosix

        self.sim = SimulatedPosix(renameat2=renameat2)
        self.raw = self.sim
        self.root = "/store"
        self.sim.makedirs(self.root)
        super().__init__(policy)

    def names(self) -> list[str]:
        return _files_of(self.sim.tree(self.root))

    def read(self, name: str) -> bytes:
        return self.sim.read_file(posixpath.join(self.root, name))

    def dirs(self) -> set[str]:
        return _dirs_of(self.sim.tree(self.root))

    def power_loss(self) -> None:
        self.sim.power_loss()


class LocalDiskWorld(_PosixTree):
    """A fresh directory on the local disk (under ``base``), through the real `PosixOps`."""

    name = "local"

    def __init__(self, policy: Policy | None = None, base: str | None = None) -> None:
        from targets.fs.local import PosixOps

        self._tmp = tempfile.mkdtemp(prefix="targets-world-", dir=base)
        self.root = os.path.realpath(self._tmp)
        self.raw = PosixOps()
        super().__init__(policy)

    def _walk(self) -> tuple[list[str], set[str]]:
        files: list[str] = []
        dirs: set[str] = set()
        for top, subdirs, names in os.walk(self.root):
            rel = os.path.relpath(top, self.root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirs.update(base + d for d in subdirs)
            files += [base + n for n in names]
        return files, dirs

    def names(self) -> list[str]:
        return self._walk()[0]

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.root, name), "rb") as f:
            return f.read()

    def dirs(self) -> set[str]:
        return self._walk()[1]

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


# -- HDFS ----------------------------------------------------------------------------------


class HDFSWorld(World):
    """The HDFS namespace model (`HDFSModel`) through the real HDFS backend: crashes, lost
    responses (a transport error after the call took effect) and retried calls."""

    name = "hdfs"
    kind = "hdfs"
    faults = frozenset({CRASH, LOSE, RETRY})
    publish_ops = frozenset({"rename", "rename_old"})
    error = hdfs_error
    streams = frozenset({"create"})

    def __init__(self, policy: Policy | None = None) -> None:
        from targets.testing.hdfs_model import HDFSModel

        self.model = HDFSModel()
        self.raw = self.model
        self.root = "/store"
        self.model.mkdirs(self.root, create_parent=True)
        super().__init__(policy)

    def intercept(self, policy: Policy) -> Any:
        # The model has no helpers that stay off the store: every method is a call.
        return Interceptor(self.raw, policy, error=hdfs_error, pure=(), streams=self.streams)

    def cleanup(self, name: str, older_than: timedelta, *, dead: bool = False) -> CleanupReport:
        self._let_the_millisecond_pass(dead)
        return super().cleanup(name, older_than, dead=dead)

    def recover(self, name: str, *, dead: bool = False) -> str:
        self._let_the_millisecond_pass(dead)
        return super().recover(name, dead=dead)

    @staticmethod
    def _let_the_millisecond_pass(dead: bool) -> None:
        """The NameNode stamps times in milliseconds: a leftover made in the millisecond a
        cleanup of dead writers runs would be 0 ms old, younger than any period. Dead
        writers are dead before the cleanup starts, so let that millisecond pass."""
        if dead:
            time.sleep(0.002)

    def url(self, name: str) -> str:
        return "hdfs://model" + posixpath.join(self.root, name)

    def reach(self, seam: Any) -> dict[str, Any]:
        return {"client": seam}

    def names(self) -> list[str]:
        return _files_of(self.model.tree(self.root))

    def read(self, name: str) -> bytes:
        return self.model.read_file(posixpath.join(self.root, name))

    def dirs(self) -> set[str]:
        return _dirs_of(self.model.tree(self.root))

    def published(self, call: Call) -> str | None:
        return str(call.args[1])


# -- object stores ---------------------------------------------------------------------------

_SCHEMES = itertools.count(1)


class ObjectStoreWorld(World):
    """A simulated S3 (``flavor="s3"``) or GCS (``"gcs"``) bucket (`MemoryObjectStore`),
    through the object-store protocols: crashes, lost responses (`StoreUnavailable` after
    the request took effect) and requests retried after a lost response.

    Its outputs are reached by URLs of a scheme of its own (``memory-s3-<n>://bucket/...``,
    ``world-<flavor>-<n>://`` for a store it was given), served by the intercepted store
    until the world closes.
    """

    kind = "objectstore"
    faults = frozenset({CRASH, LOSE, RETRY})
    atomic_directories = False
    directories = False
    marker_files = frozenset({SUCCESS, CLAIM})
    publish_ops = frozenset({"put", "complete_upload", "copy"})
    error = object_store_error

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        flavor: str = "s3",
        store: Any = None,
        root: str = "store",
        part_size: int = 16,
        leases: bool = False,
    ) -> None:
        """``store``: an `ObjectStore` to drive instead of a fresh simulated one (a real
        bucket's adapter, ``S3FS(...).store(bucket)``: then ``root`` should be a fresh
        prefix; ``flavor`` names the store in reports). ``leases=True`` (a simulated store
        only): claims and leases last `lease_period` by a clock the test moves (`advance`);
        otherwise a claim counts as abandoned at once, for a single writer's leftovers."""
        from targets.testing.objectstore import MemoryObjectStore, mount_scheme

        number = next(_SCHEMES)
        if store is None:
            self.scheme = f"memory-{flavor}-{number}"
            store = MemoryObjectStore(
                "bucket",
                flavor=flavor,
                part_size=part_size,
                scheme=self.scheme,
                clock=SIM_CLOCK.now,
            )
            if leases:
                self.leases = True
                SIM_CLOCK.install()
        else:
            self.scheme = f"world-{flavor}-{number}"
        self.raw = self.store = store
        self.name = self.flavor = flavor
        self.root = root
        super().__init__(policy)
        stale = self.lease_period if self.leases else 0.0
        self._mounted = mount_scheme(self.scheme, self.seam, stale_claim_after=stale)

    def close(self) -> None:
        self._mounted.close()
        if self.leases:
            self.leases = False
            SIM_CLOCK.uninstall()

    @property
    def dead_writers(self) -> dict[str, Any]:
        # Its claims count as abandoned at once, or time is advanced (`leases`).
        return {}

    def advance(self, seconds: float) -> None:
        if not self.leases:
            super().advance(seconds)
        SIM_CLOCK.advance(seconds)

    def url(self, name: str) -> str:
        return f"{self.scheme}://{self.fs_path(name)}" + ("/" if name.endswith("/") else "")

    def reach(self, seam: Any) -> dict[str, Any]:
        if seam is not self.seam:
            raise ValueError("URLs of an object-store world reach its own seam only; use fs()")
        return {}

    def fs_path(self, name: str) -> str:
        return f"{self.store.bucket}/{self.path(name)}"

    def fs(
        self, policy: Policy | None = None, *, store: Any = None, stale_claim_after: float = 0.0
    ) -> AtomicFS:
        """The store (or ``store``, another client of the same bucket) through ``policy``;
        claims count as abandoned after ``stale_claim_after`` seconds (0: at once, for a
        single writer whose leftovers `recover` may settle right away)."""
        from targets.fs.objectstore import ObjectStoreFS

        seam: Any = Interceptor(
            self.store if store is None else store, policy or self.policy, error=type(self).error
        )
        return ObjectStoreFS.mount(seam, stale_claim_after=stale_claim_after)

    def names(self) -> list[str]:
        base = self.root + "/"
        return sorted(o.key[len(base) :] for o in self.store.list(base))

    def read(self, name: str) -> bytes:
        data: bytes = self.store.get(f"{self.root}/{name}")
        return data

    def uploads(self) -> list[str]:
        # GCS's resumable sessions cannot be listed (they expire by themselves): a GCS
        # store lists none.
        base = self.root + "/"
        return sorted(u.key[len(base) :] for u in self.store.list_uploads(base))

    def published(self, call: Call) -> str | None:
        return str(call.args[1] if call.op == "copy" else call.args[0])
