"""The `RenameStore` seam: the primitives a filesystem with a namespace rename offers.

POSIX disks and HDFS share one commit protocol (`targets.fs.rename.fs.RenameFS`): stage at a
hidden sibling, publish with one rename that refuses to replace. What differs between them
lives behind this seam, in an adapter per backend (`targets.fs.local.PosixStore`,
`targets.fs.hdfs.HDFSStore`), and in the flags an adapter sets.

Contract
--------
Every primitive raises the backend's own exceptions; `RenameStore.map_errors` is the one
place that turns them into `targets.errors`, naming the path and the action, so the protocol
wraps each call in it. A primitive the store lacks raises `RenameUnsupported` (never an
emulation), and the protocol decides whether the caller's guarantee allows a weaker path.
Paths are absolute, ``/``-separated backend paths.
"""

from __future__ import annotations

import abc
import posixpath
from collections.abc import Hashable
from typing import IO, Any, Literal, NamedTuple, Protocol

from targets.errors import TargetError

__all__ = ["Entry", "Kind", "RenameStore", "RenameUnsupported", "Sink"]

Kind = Literal["file", "dir", "other"]
"""``"other"`` is anything that is neither a regular file nor a directory (a symlink)."""


class RenameUnsupported(Exception):
    """The store (its client, kernel or filesystem) lacks this primitive."""


class Entry(NamedTuple):
    """What the protocol reads of one name in the store."""

    path: str
    kind: Kind
    size: int
    mtime: float
    """Seconds since the epoch, in the store's clock."""
    identity: Hashable
    """Equal for the same object before and after a rename (an inode; a weak stand-in where
    the store has none, see `RenameStore.strong_identity`)."""

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"


class Sink(Protocol):
    """An exclusively created file being written: raw, unbuffered writes."""

    def write(self, data: bytes | memoryview) -> int: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


class _ErrorMap:
    """`RenameStore.map_errors`: a plain class, as it wraps every primitive call."""

    __slots__ = ("action", "path", "store")

    def __init__(self, store: RenameStore, path: str, action: str) -> None:
        self.store = store
        self.path = path
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, TargetError) or not isinstance(exc, Exception):
            return
        error = self.store.translate(exc, self.store.shown(self.path), self.action)
        if error is not None:
            raise error from exc


class RenameStore(abc.ABC):
    """The primitives of one filesystem, and what it can and cannot do.

    Flags an adapter sets (class or instance attributes):

    - ``manifest_protocol``: the ``protocol`` field of the manifests it commits;
    - ``strong_identity``: `Entry.identity` tells two objects apart (an inode number); when
      false, an ambiguous publish is settled by the manifest's writer token or the content;
    - ``write_buffer``: bytes gathered before a write reaches the store;
    - ``exclusive_create``: `create` refuses an existing name atomically;
    - ``has_link``: `link_noreplace` can publish a file where `rename_noreplace` cannot;
    - ``atomic_delete``: `delete` removes a tree in one step (else the protocol renames it
      aside first, so readers never see it half-deleted);
    - ``weak_rename``: how the best-effort commit renames, for its warning.
    """

    manifest_protocol: str = "rename-noreplace"
    strong_identity: bool = True
    write_buffer: int = 1 << 16
    exclusive_create: bool = True
    has_link: bool = False
    atomic_delete: bool = False
    weak_rename: str = "check-then-rename"

    # -- naming and errors ---------------------------------------------------------------

    @abc.abstractmethod
    def shown(self, path: str) -> str:
        """``path`` as messages show it (a URL where the store has one)."""

    def backend_path(self, path: str) -> str:
        """``path`` as a backend path (a store may accept its own URLs too)."""
        return path

    @abc.abstractmethod
    def missing_rename_hint(self, *, directory: bool, exchange: bool = False) -> str:
        """Why this store cannot publish without replacing (or, with ``exchange``, replace a
        directory atomically), and what to install or pass instead (G6)."""

    @abc.abstractmethod
    def translate(self, exc: BaseException, path: str, action: str) -> TargetError | None:
        """The `targets.errors` exception for a store exception raised while doing
        ``action`` on ``path`` (already shown), or None when ``exc`` is not the store's."""

    def map_errors(self, path: str, action: str) -> _ErrorMap:
        """Run a block of primitives; the store's exceptions leave it as `targets.errors`."""
        return _ErrorMap(self, path, action)

    # -- reading -------------------------------------------------------------------------

    @abc.abstractmethod
    def stat(self, path: str, *, follow: bool = False) -> Entry | None:
        """What is at ``path``, or None (nothing there, or an ancestor is a file).
        ``follow`` follows a symlink at ``path`` (for parents given as symlinks)."""

    @abc.abstractmethod
    def entries(self, path: str) -> list[Entry]:
        """The entries directly in the directory ``path``."""

    def names(self, path: str) -> list[str]:
        """The names of the entries directly in the directory ``path`` (no lookups)."""
        return [posixpath.basename(e.path) for e in self.entries(path)]

    @abc.abstractmethod
    def walk(self, root: str, *, strict: bool = False) -> list[Entry]:
        """Every entry below the directory ``root``, at any depth, parents before children;
        symlinks are entries, never followed. An entry removed while the walk runs is left
        out, unless ``strict`` (for a tree its caller owns, where nothing may vanish): then
        the walk raises `FileNotFoundError` naming it."""

    @abc.abstractmethod
    def open_read(self, path: str) -> IO[bytes]:
        """A binary reader of the file ``path``."""

    # -- writing -------------------------------------------------------------------------

    @abc.abstractmethod
    def create(self, path: str, *, parents: bool = False) -> Sink:
        """Create the file ``path`` exclusively (an existing name is an error, never
        replaced, never written through when it is a symlink); ``parents`` creates missing
        parent directories."""

    @abc.abstractmethod
    def mkdir(self, path: str) -> None:
        """Create the directory ``path`` (its parent exists)."""

    @abc.abstractmethod
    def ensure_parent(self, path: str, *, durable: bool) -> None:
        """Create the missing parent directories of ``path``; `NotADirectory` naming the
        component that is a file. ``durable`` makes the new directories survive a crash."""

    @abc.abstractmethod
    def sync_tree(self, root: str) -> None:
        """Make every file and directory of the tree ``root`` durable (a no-op where the
        store is durable once a file is closed)."""

    @abc.abstractmethod
    def sync_dir(self, path: str) -> None:
        """Make the entries of the directory ``path`` durable (a no-op where renames are)."""

    @abc.abstractmethod
    def stamp(self, path: str) -> bool:
        """Make the store stamp its own time, now, on the temporary ``path`` (a lease
        renewal, `targets.fs.rename.lease`): the directory's modification time, a file's, or
        where the store cannot set a file's, the mtime of the file's lease marker
        (`targets.fs.rename.lease.lease_marker`). Never a time this client supplies. False
        when nothing is at ``path``."""

    @abc.abstractmethod
    def now(self, directory: str) -> float:
        """The store's time now, in seconds since the epoch, on the clock that stamps
        modification times (a store may create and remove a probe in ``directory``, an
        existing directory, to read it)."""

    @abc.abstractmethod
    def delete(self, path: str, *, recursive: bool = True) -> None:
        """Delete ``path`` (a directory only when empty, unless ``recursive``); a missing
        ``path`` is not an error. Symlinks are removed, never followed."""

    # -- renames ---------------------------------------------------------------------------

    @abc.abstractmethod
    def rename_noreplace(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` in one step unless something is at ``dst``: never into
        a directory, never replacing. `RenameUnsupported` where the store cannot."""

    @abc.abstractmethod
    def link_noreplace(self, src: str, dst: str) -> None:
        """Give the file ``src`` the second name ``dst`` unless something is at ``dst``
        (the caller then removes the name ``src``). `RenameUnsupported` where it cannot."""

    @abc.abstractmethod
    def replace(self, src: str, dst: str) -> None:
        """Rename the file ``src`` to ``dst``, replacing a file there in one step."""

    @abc.abstractmethod
    def exchange(self, a: str, b: str) -> None:
        """Swap the names ``a`` and ``b`` in one step. `RenameUnsupported` where it cannot."""

    @abc.abstractmethod
    def rename_plain(self, src: str, dst: str) -> None:
        """The store's weakest rename: it may replace a file at ``dst`` or move ``src``
        *into* a directory at ``dst``. Only ever used with ``guarantee="best-effort"``."""

    @property
    @abc.abstractmethod
    def has_noreplace_rename(self) -> bool:
        """Whether `rename_noreplace` can work here (it may still refuse per filesystem)."""

    @property
    @abc.abstractmethod
    def has_exchange(self) -> bool:
        """Whether `exchange` can work here: an atomic directory replace."""

    @property
    @abc.abstractmethod
    def has_replace(self) -> bool:
        """Whether `replace` works here: an atomic file replace."""

    @abc.abstractmethod
    def fsspec(self, afs: Any) -> Any:
        """An fsspec filesystem over the same files, for reading and listing; ``afs`` is
        the filesystem committing through this store (for an ``mv`` that is
        rename-dont-move)."""
