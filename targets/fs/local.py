"""The local POSIX backend: the `RenameStore` adapter over `PosixOps`, and `LocalFS`.

Commit protocol (docs/protocols.md, written once in `targets.fs.rename`): stage in a hidden,
unique sibling created with ``O_EXCL | O_NOFOLLOW``; write; fsync the data; publish by one
rename that refuses to replace (``renameat2(RENAME_NOREPLACE)`` on Linux,
``renamex_np(RENAME_EXCL)`` on macOS, or for files ``link`` + ``unlink``); fsync the parent
directory. Overwrite publishes with ``rename`` for files and ``renameat2(RENAME_EXCHANGE)``
for directories, so readers see the old output or the new one. A symlink planted at the
final or the temporary name is replaced or refused, never written through.

``shutil.move`` and fsspec's ``LocalFileSystem.mv`` are never used for a commit: they move a
directory *into* an existing one and replace files.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import platform
import stat
import sys
import time
from typing import IO, Any, ClassVar

from targets.errors import (
    CommitError,
    InvalidTarget,
    IsADirectory,
    NotADirectory,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs.rename.fs import RenameFS, check_lease_period
from targets.fs.rename.lease import LEASE_PERIOD
from targets.fs.rename.store import Entry, Kind, RenameStore, RenameUnsupported

__all__ = ["LocalFS", "PosixOps", "PosixStore", "renameat2_available"]

# --------------------------------------------------------------------------------------
# The rename primitives

_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_SYSCALL_RENAMEAT2 = {"x86_64": 316, "amd64": 316, "aarch64": 276, "arm64": 276}
# Darwin's renamex_np flags
_RENAME_SWAP = 0x2
_RENAME_EXCL = 0x4


def _load_rename() -> Any:
    """The platform's flagged rename as ``f(dirfd, src, dirfd, dst, flags) -> int``, or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    if sys.platform.startswith("linux"):
        fn = getattr(libc, "renameat2", None)
        if fn is not None:
            fn.argtypes = [
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_uint,
            ]
            fn.restype = ctypes.c_int
            return fn
        number = _SYSCALL_RENAMEAT2.get(platform.machine().lower())
        if number is None:
            return None
        syscall = libc.syscall
        syscall.restype = ctypes.c_long

        def via_syscall(sfd: int, src: bytes, dfd: int, dst: bytes, flags: int) -> int:
            return int(
                syscall(
                    ctypes.c_long(number),
                    ctypes.c_int(sfd),
                    ctypes.c_char_p(src),
                    ctypes.c_int(dfd),
                    ctypes.c_char_p(dst),
                    ctypes.c_uint(flags),
                )
            )

        return via_syscall
    if sys.platform == "darwin":
        fn = getattr(libc, "renameatx_np", None)
        if fn is None:
            return None
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        flag_map = {_RENAME_NOREPLACE: _RENAME_EXCL, _RENAME_EXCHANGE: _RENAME_SWAP}

        def via_darwin(sfd: int, src: bytes, dfd: int, dst: bytes, flags: int) -> int:
            return int(fn(sfd, src, dfd, dst, flag_map[flags]))

        return via_darwin
    return None


_flagged_rename = _load_rename()


def renameat2_available() -> bool:
    """Whether this platform offers a rename that refuses to replace (for directories too)."""
    return _flagged_rename is not None


class PosixOps:
    """The POSIX calls the local protocols make, and nothing else.

    This is the local backend's seam: `LocalFS` never calls ``os`` directly, so a simulated
    filesystem (``targets.testing``) or a recorder of operations can stand in for the real
    one. Every method behaves like the ``os`` function of the same name, raising the same
    `OSError` subclasses; relative names are resolved against ``dir_fd`` when given.
    """

    @property
    def flagged_rename(self) -> bool:
        """Whether `rename_flags` can work here (it may still refuse per filesystem)."""
        return _flagged_rename is not None

    def open(self, path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        return os.open(path, flags, mode, dir_fd=dir_fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def write(self, fd: int, data: Any) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def stat(self, path: str) -> os.stat_result:
        """Follows symlinks (a symlinked parent directory is a directory)."""
        return os.stat(path)

    def lstat(self, path: str, *, dir_fd: int | None = None) -> os.stat_result:
        return os.stat(path, dir_fd=dir_fd, follow_symlinks=False)

    def mkdir(self, path: str, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        os.mkdir(path, mode, dir_fd=dir_fd)

    def rmdir(self, path: str, *, dir_fd: int | None = None) -> None:
        os.rmdir(path, dir_fd=dir_fd)

    def unlink(self, path: str, *, dir_fd: int | None = None) -> None:
        os.unlink(path, dir_fd=dir_fd)

    def link(self, src: str, dst: str, *, src_dir_fd: int | None, dst_dir_fd: int | None) -> None:
        os.link(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd, follow_symlinks=False)

    def rename(self, src: str, dst: str, *, src_dir_fd: int | None, dst_dir_fd: int | None) -> None:
        """Plain ``rename(2)``: replaces a file (or an empty directory) at ``dst``."""
        os.rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def rename_flags(
        self, src: str, dst: str, flags: int, *, src_dir_fd: int | None, dst_dir_fd: int
    ) -> None:
        """``renameat2`` with ``RENAME_NOREPLACE`` or ``RENAME_EXCHANGE``; raises
        `RenameUnsupported` where the kernel or the filesystem lacks it."""
        if _flagged_rename is None:
            raise RenameUnsupported()
        sfd = _AT_FDCWD if src_dir_fd is None else src_dir_fd
        if _flagged_rename(sfd, os.fsencode(src), dst_dir_fd, os.fsencode(dst), flags) == 0:
            return
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            # EINVAL: this filesystem does not support the flag (the names are ours and valid)
            raise RenameUnsupported()
        raise OSError(err, os.strerror(err), src, None, dst)

    def listdir(self, path: str | int) -> list[str]:
        return os.listdir(path)

    def utime(self, path: str, *, dir_fd: int | None = None) -> None:
        """Set the modification time of ``path`` (never following a symlink there) to the
        current time, as the kernel stamps it (``utimensat`` with ``UTIME_NOW``)."""
        os.utime(path, None, dir_fd=dir_fd, follow_symlinks=False)

    def time(self) -> float:
        """The clock that stamps modification times here, in seconds since the epoch."""
        return time.time()

    def open_reader(self, path: str) -> IO[bytes]:
        return open(path, "rb")  # the caller closes it

    def fsspec(self) -> Any:
        """An fsspec filesystem over the same files, for reading and listing."""
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()


# --------------------------------------------------------------------------------------
# Error translation: one place


def _translate(exc: OSError, path: str, action: str) -> TargetError:
    code = exc.errno
    if code == errno.EEXIST or code == errno.ENOTEMPTY:
        return TargetExistsError(
            f"cannot {action} {path}: it already exists; pass if_exists='overwrite' to "
            "replace it, or remove it first",
            path,
        )
    if code == errno.ENOENT:
        return TargetNotFound(
            f"cannot {action} {path}: it does not exist (has the step that writes it run?)",
            path,
        )
    if code == errno.ENOTDIR:
        return NotADirectory(
            f"cannot {action} {path}: a component of the path is a file, not a directory", path
        )
    if code == errno.EISDIR:
        return IsADirectory(
            f"cannot {action} {path}: it is a directory; use a DirectoryTarget (a URL ending "
            "in '/') for directory outputs",
            path,
        )
    if code in (errno.EACCES, errno.EPERM):
        return TargetError(
            f"cannot {action} {path}: permission denied; check its permissions", path
        )
    if code == errno.EXDEV:
        return InvalidTarget(
            f"cannot {action} {path} atomically: the source is on a different filesystem; "
            "write the output on the destination's filesystem",
            path,
        )
    if code == errno.ENOSPC:
        return CommitError(f"cannot {action} {path}: no space left on the device", path)
    if code == errno.EROFS:
        return TargetError(f"cannot {action} {path}: the filesystem is read-only", path)
    return TargetError(f"cannot {action} {path}: {exc.strerror or exc}", path)


# --------------------------------------------------------------------------------------
# The adapter

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_EXCL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
_NO_LINK = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV)


def _kind_of(mode: int) -> Kind:
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


class _FdSink:
    """A file created by `PosixStore.create`, written through the `PosixOps` seam."""

    __slots__ = ("_fd", "_ops")

    def __init__(self, ops: PosixOps, fd: int) -> None:
        self._ops = ops
        self._fd = fd

    def write(self, data: bytes | memoryview) -> int:
        return self._ops.write(self._fd, data)

    def sync(self) -> None:
        self._ops.fsync(self._fd)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        self._ops.close(self._fd)


class PosixStore(RenameStore):
    """A POSIX filesystem as a `RenameStore`, through the `PosixOps` seam.

    Every name is resolved per call; the final component is never followed (``O_NOFOLLOW``
    on creates, ``lstat`` on lookups, and renames never follow it).
    """

    manifest_protocol = "local-rename-noreplace"
    strong_identity = True
    write_buffer = 1 << 16
    exclusive_create = True
    has_link = True
    atomic_delete = False
    weak_rename = "check-then-rename"

    def __init__(self, ops: PosixOps) -> None:
        self.ops = ops

    def __repr__(self) -> str:
        return f"PosixStore({self.ops!r})"

    def shown(self, path: str) -> str:
        return path

    def translate(self, exc: BaseException, path: str, action: str) -> TargetError | None:
        return _translate(exc, path, action) if isinstance(exc, OSError) else None

    def missing_rename_hint(self, *, directory: bool, exchange: bool = False) -> str:
        if exchange:
            return (
                "this kernel or filesystem has no renameat2(RENAME_EXCHANGE); remove the old "
                "output first"
            )
        if directory:
            return (
                "this platform has no renameat2 (Linux) or renamex_np (macOS); pass "
                "guarantee='best-effort'"
            )
        return (
            "this kernel or filesystem has no renameat2(RENAME_NOREPLACE) and no hard links; "
            "use Linux >= 3.15 on ext4/xfs/btrfs/tmpfs, or pass guarantee='best-effort' "
            "(check then rename, racy)"
        )

    @property
    def has_noreplace_rename(self) -> bool:
        return self.ops.flagged_rename

    has_exchange = has_noreplace_rename  # renameat2 and renamex_np offer both flags
    has_replace = True  # rename(2) replaces a file atomically

    # -- reading ---------------------------------------------------------------------------

    def _entry(self, path: str, st: os.stat_result) -> Entry:
        return Entry(path, _kind_of(st.st_mode), st.st_size, st.st_mtime, (st.st_dev, st.st_ino))

    def stat(self, path: str, *, follow: bool = False) -> Entry | None:
        try:
            st = self.ops.stat(path) if follow else self.ops.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return self._entry(path, st)

    def entries(self, path: str, *, strict: bool = False) -> list[Entry]:
        found = []
        for name in self.ops.listdir(path):
            inner = os.path.join(path, name)
            got = self.stat(inner)
            if got is not None:
                found.append(got)
            elif strict:
                raise FileNotFoundError(errno.ENOENT, "listed, then gone", inner)
        return found

    def names(self, path: str) -> list[str]:
        return self.ops.listdir(path)

    def walk(self, root: str, *, strict: bool = False) -> list[Entry]:
        """A subdirectory that disappears (renamed or removed) while the tree is walked is
        never followed under its new name."""
        found: list[Entry] = []
        pending = [root]
        while pending:
            top = pending.pop()
            try:
                listed = self.entries(top, strict=strict)
            except (FileNotFoundError, NotADirectoryError):
                if top == root or strict:
                    raise
                continue
            for entry in sorted(listed, key=lambda e: e.path):
                found.append(entry)
                if entry.is_dir:
                    pending.append(entry.path)
        return found

    def open_read(self, path: str) -> IO[bytes]:
        return self.ops.open_reader(path)

    # -- writing ---------------------------------------------------------------------------

    def create(self, path: str, *, parents: bool = False) -> _FdSink:
        if parents:
            self._make_parents(path)
        return _FdSink(self.ops, self.ops.open(path, _EXCL_FLAGS, 0o666))

    def _make_parents(self, path: str) -> None:
        missing = []
        parent = os.path.dirname(path)
        while self.stat(parent, follow=True) is None:
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                self.ops.mkdir(directory)

    def mkdir(self, path: str) -> None:
        self.ops.mkdir(path, 0o777)

    def ensure_parent(self, path: str, *, durable: bool) -> None:
        parent = os.path.dirname(path)
        missing: list[str] = []
        probe = parent
        while True:
            try:
                st = self.ops.stat(probe)
            except FileNotFoundError:
                missing.append(probe)
            except NotADirectoryError:
                missing.clear()  # a component above is a file; keep climbing to name it
            else:
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectory(
                        f"cannot write {path}: {probe} is a file, not a directory; remove it "
                        "or choose another path",
                        path,
                    )
                break
            up = os.path.dirname(probe)
            if up == probe:
                break
            probe = up
        for directory in reversed(missing):
            self._mkdir_parent(directory, path, durable)

    def _mkdir_parent(self, directory: str, path: str, durable: bool) -> None:
        try:
            self.ops.mkdir(directory)
        except FileExistsError:
            got = self.stat(directory, follow=True)
            if got is None or not got.is_dir:
                raise NotADirectory(
                    f"cannot write {path}: {directory} is a file, not a directory", path
                ) from None
        except OSError as exc:
            raise _translate(exc, directory, "create the directory") from exc
        if durable:
            self.sync_dir(os.path.dirname(directory))

    def _fsync(self, path: str, flags: int) -> None:
        fd = self.ops.open(path, flags)
        try:
            self.ops.fsync(fd)
        finally:
            # A read-only descriptor: an error from close loses nothing, and Linux releases
            # the descriptor either way. It must not turn a commit into a failure.
            with contextlib.suppress(OSError):
                self.ops.close(fd)

    def sync_dir(self, path: str) -> None:
        self._fsync(path, _DIR_FLAGS)

    def sync_tree(self, root: str) -> None:
        """fsync every regular file, then every directory, deepest first."""
        top = self.stat(root)
        if top is None or top.kind == "other":
            return
        if top.kind == "file":
            self._fsync(root, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            return
        entries = self.walk(root)
        for entry in entries:
            if entry.kind == "file":
                self._fsync(entry.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        for directory in sorted(
            [root] + [e.path for e in entries if e.is_dir], key=len, reverse=True
        ):
            self.sync_dir(directory)

    def stamp(self, path: str) -> bool:
        try:
            self.ops.utime(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def now(self, directory: str) -> float:
        return self.ops.time()

    def delete(self, path: str, *, recursive: bool = True) -> None:
        got = self.stat(path)
        if got is None:
            return
        if not got.is_dir:
            with contextlib.suppress(FileNotFoundError):
                self.ops.unlink(path)
            return
        if recursive:
            for entry in self.entries(path):
                self.delete(entry.path)
        with contextlib.suppress(FileNotFoundError):
            self.ops.rmdir(path)

    # -- renames -----------------------------------------------------------------------------

    def rename_noreplace(self, src: str, dst: str) -> None:
        self.ops.rename_flags(src, dst, _RENAME_NOREPLACE, src_dir_fd=None, dst_dir_fd=_AT_FDCWD)

    def link_noreplace(self, src: str, dst: str) -> None:
        try:
            self.ops.link(src, dst, src_dir_fd=None, dst_dir_fd=None)
        except OSError as exc:
            if exc.errno in _NO_LINK:
                raise RenameUnsupported() from exc
            raise

    def replace(self, src: str, dst: str) -> None:
        self.ops.rename(src, dst, src_dir_fd=None, dst_dir_fd=None)

    def exchange(self, a: str, b: str) -> None:
        self.ops.rename_flags(a, b, _RENAME_EXCHANGE, src_dir_fd=None, dst_dir_fd=_AT_FDCWD)

    def rename_plain(self, src: str, dst: str) -> None:
        self.ops.rename(src, dst, src_dir_fd=None, dst_dir_fd=None)

    def fsspec(self, afs: Any) -> Any:
        return self.ops.fsspec()


_OS = PosixOps()
"""The real filesystem's calls (stateless, so one instance serves every `LocalFS`)."""

# --------------------------------------------------------------------------------------
# The filesystem


class LocalFS(RenameFS):
    """Local POSIX filesystems: atomic rename-no-replace, fsync'd commits (G9).

    ``ops`` is the seam to the filesystem (`PosixOps`); tests pass a simulated one.
    ``stale_claim_after`` (seconds, default 60; also a storage option): how long a writer's
    lease on its staging lasts without a renewal; `cleanup` never removes a temporary
    stamped more recently, and `recover` does not restore such an aside unless forced.
    """

    protocol: ClassVar[str] = "file"
    store: PosixStore

    def __init__(
        self, ops: PosixOps | None = None, *, stale_claim_after: float = LEASE_PERIOD
    ) -> None:
        super().__init__(
            PosixStore(ops if ops is not None else _OS), lease_period=stale_claim_after
        )

    @property
    def ops(self) -> PosixOps:
        return self.store.ops

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[LocalFS, str]:
        ops = storage_options.pop("ops", None)
        period = check_lease_period(storage_options.pop("stale_claim_after", LEASE_PERIOD), url)
        if storage_options:
            raise InvalidTarget(
                f"unknown storage options {sorted(storage_options)} for {url}; local paths "
                "take only stale_claim_after",
                url,
            )
        return cls(ops, stale_claim_after=period), _local_path(url)

    def __repr__(self) -> str:
        return "LocalFS()" if type(self.ops) is PosixOps else f"LocalFS(ops={self.ops!r})"

    def url(self, path: str) -> str:
        return "file://" + path


def _local_path(url: str) -> str:
    """The absolute path a local URL or path names."""
    path = url
    if path.startswith("file://"):
        path = path[len("file://") :]
        if path and not path.startswith("/"):
            host, _, rest = path.partition("/")
            if host not in ("", "localhost"):
                raise InvalidTarget(
                    f"{url} names the host {host!r}; file:// URLs must be local "
                    "(file:///absolute/path)",
                    url,
                )
            path = "/" + rest
    elif path.startswith("local://"):
        path = path[len("local://") :]
    if not path:
        raise InvalidTarget(f"{url!r} has no path", url)
    if "\x00" in path:
        raise InvalidTarget(f"{url!r} contains a NUL character", url)
    return os.path.abspath(os.path.expanduser(path) if path[0] == "~" else path)
