"""The local POSIX backend.

Commit protocol (docs/protocols.md): stage in a hidden, unique sibling created with
``O_EXCL``; write; fsync the data; publish by one rename that refuses to replace
(``renameat2(RENAME_NOREPLACE)`` on Linux, ``renamex_np(RENAME_EXCL)`` on macOS, or for files
``link`` + ``unlink``); fsync the parent directory. Overwrite publishes with ``rename`` for files
and ``renameat2(RENAME_EXCHANGE)`` for directories, so readers see the old output or the new
one. All names are resolved relative to an open descriptor of the parent directory, so a
symlink planted at the final or the temporary name is replaced or refused, never written
through.

``shutil.move`` and fsspec's ``LocalFileSystem.mv`` are never used for a commit: they move a
directory *into* an existing one and replace files.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import errno
import hashlib
import io
import os
import platform
import shutil
import stat
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import IO, Any, ClassVar

from targets.errors import (
    CommitError,
    InvalidTarget,
    IsADirectory,
    NotADirectory,
    TargetError,
    TargetExistsError,
    TargetNotFound,
    UnsupportedGuarantee,
)
from targets.fs import _manifest
from targets.fs._names import SUCCESS, check_relative_name, new_token, parse_temp_name, temp_name
from targets.fs.base import (
    AtomicFS,
    Capabilities,
    CleanupReport,
    DirectoryWriter,
    FileWriter,
    Guarantee,
    IfExists,
    PartRecord,
    Staging,
    WriterState,
    check_guarantee,
    check_if_exists,
)

__all__ = ["LocalFS", "PosixOps", "RenameFlagsUnsupported", "renameat2_available"]

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


class RenameFlagsUnsupported(Exception):
    """The kernel or this filesystem has no flagged rename (``ENOSYS``, ``EINVAL``)."""


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
        `RenameFlagsUnsupported` where the kernel or the filesystem lacks it."""
        if _flagged_rename is None:
            raise RenameFlagsUnsupported()
        sfd = _AT_FDCWD if src_dir_fd is None else src_dir_fd
        if _flagged_rename(sfd, os.fsencode(src), dst_dir_fd, os.fsencode(dst), flags) == 0:
            return
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            # EINVAL: this filesystem does not support the flag (the names are ours and valid)
            raise RenameFlagsUnsupported()
        raise OSError(err, os.strerror(err), src, None, dst)

    def listdir(self, path: str | int) -> list[str]:
        return os.listdir(path)

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
    if code == errno.ENOSPC:
        return CommitError(f"cannot {action} {path}: no space left on the device", path)
    if code == errno.EROFS:
        return TargetError(f"cannot {action} {path}: the filesystem is read-only", path)
    return TargetError(f"cannot {action} {path}: {exc.strerror or exc}", path)


@contextlib.contextmanager
def _map_errors(path: str, action: str) -> Iterator[None]:
    """Translate OSError into `targets.errors`; nothing else escapes this backend."""
    try:
        yield
    except TargetError:
        raise
    except OSError as exc:
        raise _translate(exc, path, action) from exc


def _unsynced_error(exc: OSError, path: str) -> TargetError:
    """The error for a commit whose publishing rename took effect but whose directory sync
    failed: the output is there, its durability is not confirmed."""
    return TargetError(
        f"{path} was published, but syncing its directory failed ({exc.strerror or exc}): the "
        "output is complete and visible, but may not survive a power failure. Check the disk; "
        "if the output must be durable, remove it and write it again",
        path,
    )


@contextlib.contextmanager
def _before_publish(path: str) -> Iterator[None]:
    """The steps of a commit before its publishing rename: an error there left the final
    path untouched, and the message says so."""
    try:
        with _map_errors(path, "commit"):
            yield
    except (TargetExistsError, CommitError):
        raise  # their messages already say that nothing was written
    except TargetError as exc:
        message = f"{exc.message}; nothing was published ({path} is as it was)"
        raise type(exc)(message, exc.path) from (exc.__cause__ or exc)


@contextlib.contextmanager
def _synced_after_publish(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _unsynced_error(exc, path) from exc


# --------------------------------------------------------------------------------------
# Helpers over the seam

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_EXCL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW


def _fsync_dir(ops: PosixOps, path: str) -> None:
    fd = ops.open(path, _DIR_FLAGS)
    try:
        ops.fsync(fd)
    finally:
        ops.close(fd)


def _kind(
    ops: PosixOps, path: str, *, dir_fd: int | None = None, follow: bool = False
) -> str | None:
    """``"dir"``, ``"file"`` (anything else, symlinks included unless ``follow``) or None."""
    try:
        st = ops.stat(path) if follow else ops.lstat(path, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def _ensure_parent(ops: PosixOps, path: str, durable: bool) -> str:
    """Create the parent directories of ``path``; return the parent.

    `NotADirectory` names the component that is a file.
    """
    parent = os.path.dirname(path)
    missing: list[str] = []
    probe = parent
    while True:
        try:
            st = ops.stat(probe)
        except FileNotFoundError:
            missing.append(probe)
        except NotADirectoryError:
            missing.clear()  # a component above is a file; keep climbing to name it
        else:
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectory(
                    f"cannot write {path}: {probe} is a file, not a directory; remove it or "
                    "choose another path",
                    path,
                )
            break
        up = os.path.dirname(probe)
        if up == probe:
            break
        probe = up
    for directory in reversed(missing):
        try:
            ops.mkdir(directory)
        except FileExistsError:
            if _kind(ops, directory, follow=True) != "dir":
                raise NotADirectory(
                    f"cannot write {path}: {directory} is a file, not a directory", path
                ) from None
        except OSError as exc:
            raise _translate(exc, directory, "create the directory") from exc
        if durable:
            _fsync_dir(ops, os.path.dirname(directory))
    return parent


def _exists_error(path: str, what: str = "output") -> TargetExistsError:
    return TargetExistsError(
        f"{path} already exists (another writer committed first, or an earlier run produced "
        f"it); the {what} was not written. Pass if_exists='overwrite' to replace it, or "
        "remove it first",
        path,
    )


def _forget_created(exc: OSError, remove: Any) -> None:
    """After an exclusive create of a temporary failed with ``exc``: the call may have
    created it before failing (a disk error after the fact). The name is unique to this
    writer, so whatever is there is ours: ``remove()`` it, quietly. Not after EEXIST: then
    someone else's entry (a planted symlink) is there, and it is left alone."""
    if isinstance(exc, FileExistsError):
        return
    with contextlib.suppress(OSError):
        remove()


def _unlink_quiet(ops: PosixOps, dirfd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        ops.unlink(name, dir_fd=dirfd)


def _rmtree(ops: PosixOps, dirfd: int | None, name: str) -> None:
    """Delete ``name`` (relative to ``dirfd``) and everything under it, never following a
    symlink out of the tree."""
    try:
        st = ops.lstat(name, dir_fd=dirfd)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        _unlink_quiet(ops, dirfd, name) if dirfd is not None else ops.unlink(name)
        return
    fd = ops.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dirfd)
    try:
        for child in ops.listdir(fd):
            _rmtree(ops, fd, child)
    finally:
        ops.close(fd)
    with contextlib.suppress(FileNotFoundError):
        ops.rmdir(name, dir_fd=dirfd)


def _rmtree_quiet(ops: PosixOps, dirfd: int, name: str) -> None:
    with contextlib.suppress(OSError):
        _rmtree(ops, dirfd, name)


def _walk(ops: PosixOps, root: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """Top-down ``(directory, subdirectories, other entries)``, sorted, never following
    symlinks."""
    dirs, others = [], []
    for name in sorted(ops.listdir(root)):
        st = ops.lstat(os.path.join(root, name))
        (dirs if stat.S_ISDIR(st.st_mode) else others).append(name)
    yield root, dirs, others
    for name in dirs:
        yield from _walk(ops, os.path.join(root, name))


def _fsync_tree(ops: PosixOps, root: str) -> None:
    """fsync every regular file, then every directory, deepest first."""
    for top, _dirs, files in reversed(list(_walk(ops, root))):
        for name in files:
            full = os.path.join(top, name)
            if not stat.S_ISREG(ops.lstat(full).st_mode):
                continue
            fd = ops.open(full, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                ops.fsync(fd)
            finally:
                ops.close(fd)
        _fsync_dir(ops, top)


def _identity(ops: PosixOps, name: str, dir_fd: int | None) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of what is at ``name`` (not following symlinks), or None."""
    try:
        st = ops.lstat(name, dir_fd=None if dir_fd == _AT_FDCWD else dir_fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _failed_publish(
    ops: PosixOps,
    exc: OSError,
    staged: tuple[int, int] | None,
    sfd: int,
    tmp: str,
    dirfd: int,
    name: str,
    path: str,
) -> TargetError | None:
    """Settle a publishing rename that reported an error (G7 on a local disk): None if it
    took effect after all (the staged inode is at the final name and no longer at its
    temporary name: a network filesystem that retried a rename whose answer was lost says
    ENOENT or EEXIST for a rename that happened), else the error to raise."""
    moved = staged is not None and _identity(ops, name, dirfd) == staged
    if moved and _identity(ops, tmp, sfd) is None:
        return None
    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
        return _exists_error(path)
    if staged is not None and _identity(ops, tmp, sfd) == staged:
        return CommitError(
            f"cannot publish {path}: {exc.strerror or exc}; nothing was published ({path} is "
            "as it was); write it again once the filesystem works",
            path,
        )
    return _translate(exc, path, "publish")


def _publish_noreplace(
    ops: PosixOps,
    dirfd: int,
    tmp: str,
    name: str,
    path: str,
    *,
    is_dir: bool,
    guarantee: Guarantee,
    src_dirfd: int | None = None,
) -> None:
    """Rename ``tmp`` to ``name`` inside ``dirfd`` unless something is at ``name``.

    ``tmp`` is relative to ``src_dirfd`` (default ``dirfd``), or absolute. A rename that
    reports an error is checked against the staged inode: if it took effect, that is a
    success (see `_failed_publish`).
    """
    sfd = dirfd if src_dirfd is None else src_dirfd
    staged = _identity(ops, tmp, sfd)
    try:
        ops.rename_flags(tmp, name, _RENAME_NOREPLACE, src_dir_fd=sfd, dst_dir_fd=dirfd)
        return
    except OSError as exc:
        error = _failed_publish(ops, exc, staged, sfd, tmp, dirfd, name, path)
        if error is None:
            return
        raise error from (None if isinstance(error, TargetExistsError) else exc)
    except RenameFlagsUnsupported:
        pass
    if not is_dir:
        # A hard link fails with EEXIST if the name is taken: the same decision, atomically.
        try:
            ops.link(tmp, name, src_dir_fd=sfd, dst_dir_fd=dirfd)
        except FileExistsError:
            raise _exists_error(path) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise _translate(exc, path, "publish") from exc
        else:
            _unlink_quiet(ops, sfd, tmp)
            return
    if guarantee == "strict":
        raise UnsupportedGuarantee(
            f"cannot publish {path} without replacing: this kernel or filesystem has no "
            "renameat2(RENAME_NOREPLACE)"
            + ("" if is_dir else " and no hard links")
            + "; use Linux >= 3.15 on ext4/xfs/btrfs/tmpfs, or pass guarantee='best-effort' "
            "(check then rename, racy)",
            path,
        )
    warnings.warn(
        f"publishing {path} by check-then-rename (guarantee='best-effort'): a concurrent "
        "writer can replace it",
        RuntimeWarning,
        stacklevel=4,
    )
    if _kind(ops, name, dir_fd=dirfd) is not None:
        raise _exists_error(path)
    try:
        ops.rename(tmp, name, src_dir_fd=sfd, dst_dir_fd=dirfd)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            raise _exists_error(path) from None
        raise _translate(exc, path, "publish") from exc


def _publish_replace_dir(
    ops: PosixOps, dirfd: int, tmp: str, name: str, path: str, token: str
) -> str | None:
    """Swap the staged directory ``tmp`` in at ``name``; return the name the old output now
    has (to be deleted), or None if there was none."""
    for _ in range(100):
        kind = _kind(ops, name, dir_fd=dirfd)
        if kind == "file":
            raise NotADirectory(
                f"cannot replace {path} with a directory: it is a file; remove it first", path
            )
        flags = _RENAME_NOREPLACE if kind is None else _RENAME_EXCHANGE
        try:
            ops.rename_flags(tmp, name, flags, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except (FileExistsError, FileNotFoundError):
            continue  # the destination appeared or vanished under us: look again
        except RenameFlagsUnsupported:
            raise UnsupportedGuarantee(
                f"cannot replace the directory {path} atomically: this kernel or filesystem "
                "has no renameat2(RENAME_EXCHANGE); remove the old output first",
                path,
            ) from None
        except OSError as exc:
            raise _translate(exc, path, "replace") from exc
        if kind is None:
            return None
        # The old output now sits at tmp; give it its "old" name so cleanup recognises it.
        old = temp_name(name, token, "old")
        try:
            ops.rename(tmp, old, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except OSError:
            return tmp
        return old
    raise CommitError(f"cannot replace {path}: it kept changing under concurrent writers", path)


def _commit_tree(
    ops: PosixOps,
    dirfd: int,
    tmp: str,
    name: str,
    path: str,
    token: str,
    known: dict[str, PartRecord],
    *,
    if_exists: IfExists,
    guarantee: Guarantee,
    durable: bool,
) -> dict[str, Any]:
    """Write ``_SUCCESS`` into the staged tree ``tmp`` and publish it at ``name``."""
    staged = os.path.join(os.path.dirname(path), tmp)
    parts: list[PartRecord] = []
    with _before_publish(path), _map_errors(path, "stage"):
        for top, _dirs, files in _walk(ops, staged):
            for fname in files:
                full = os.path.join(top, fname)
                rel = os.path.relpath(full, staged).replace(os.sep, "/")
                if rel == SUCCESS:
                    ops.unlink(full)  # a tool's own marker; ours replaces it
                    continue
                st = ops.lstat(full)
                if not stat.S_ISREG(st.st_mode):
                    continue
                record = known.get(rel)
                if record is None or record.size != st.st_size:
                    record = PartRecord(rel, st.st_size)
                parts.append(record)
        if _kind(ops, os.path.join(staged, SUCCESS)) == "dir":
            raise CommitError(
                f"cannot commit {path}: a directory named {SUCCESS} was written into it; that "
                "name is reserved for the manifest, rename the directory",
                path,
            )
        manifest = _manifest.build(token, parts, "local-rename-noreplace")
        fd = ops.open(os.path.join(staged, SUCCESS), _EXCL_FLAGS, 0o666)
        try:
            _write_all(ops, fd, _manifest.encode(manifest))
        finally:
            ops.close(fd)
        if durable:
            _fsync_tree(ops, staged)
    if if_exists == "overwrite":
        old = _publish_replace_dir(ops, dirfd, tmp, name, path, token)
        if durable:
            with _synced_after_publish(path):
                ops.fsync(dirfd)
        if old is not None:
            _rmtree_quiet(ops, dirfd, old)
    else:
        try:
            _publish_noreplace(ops, dirfd, tmp, name, path, is_dir=True, guarantee=guarantee)
        except BaseException:
            _rmtree_quiet(ops, dirfd, tmp)
            raise
        if durable:
            with _synced_after_publish(path):
                ops.fsync(dirfd)
    return manifest


def _write_all(ops: PosixOps, fd: int, data: Any) -> int:
    view = memoryview(data).cast("B")
    done = 0
    while done < view.nbytes:
        done += ops.write(fd, view[done:])
    return done


# --------------------------------------------------------------------------------------
# Writers


class _OpsFile(io.RawIOBase):
    """An unbuffered file written through a `PosixOps`; optionally hashes what it writes and
    reports a `PartRecord` when closed. Errors name ``where`` (the output) and the file."""

    def __init__(
        self, ops: PosixOps, fd: int, name: str = "", on_close: Any = None, where: str = ""
    ) -> None:
        self._ops = ops
        self._fd = fd
        self._name = name
        self._on_close = on_close
        self._hash = hashlib.sha256() if on_close is not None else None
        self._size = 0
        self._where = f"{where}/{name}" if where and name else where or name

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        with _map_errors(self._where, "write"):
            written = _write_all(self._ops, self._fd, data)
        if self._hash is not None:
            self._hash.update(data)
        self._size += written
        return written

    def fileno(self) -> int:
        return self._fd

    def fsync(self) -> None:
        with _map_errors(self._where, "sync"):
            self._ops.fsync(self._fd)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        with _map_errors(self._where, "close"):
            self._ops.close(self._fd)
        if self._on_close is not None and self._hash is not None:
            self._on_close(PartRecord(self._name, self._size, self._hash.hexdigest()))


class _ParentDir:
    """Holds an open descriptor of the output's parent directory for a writer's lifetime."""

    _ops: PosixOps
    _dirfd: int = -1

    def _open_parent(self, path: str, durable: bool) -> str:
        with _map_errors(path, "open for writing"):
            parent = _ensure_parent(self._ops, path, durable)
            self._dirfd = self._ops.open(parent, _DIR_FLAGS)
        return parent

    def _kind_of_final(self, name: str, path: str) -> str | None:
        with _map_errors(path, "open for writing"):
            return _kind(self._ops, name, dir_fd=self._dirfd)

    def _close_dir(self) -> None:
        fd, self._dirfd = self._dirfd, -1
        if fd >= 0:
            # A read-only directory descriptor: an error from close loses nothing, and Linux
            # releases the descriptor either way. It must not turn a commit into a failure.
            with contextlib.suppress(OSError):
                self._ops.close(fd)


class _LocalFileWriter(_ParentDir, FileWriter):
    log_protocol = "local-rename-noreplace"

    def __init__(
        self,
        ops: PosixOps,
        path: str,
        *,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
    ) -> None:
        super().__init__(path)
        self._ops = ops
        self._if_exists = if_exists
        self._guarantee = guarantee
        self._durable = durable
        self._name = os.path.basename(path)
        self._tmp = temp_name(self._name, new_token())
        try:
            self._open_parent(path, durable)
            kind = self._kind_of_final(self._name, path)
            if kind == "dir":
                raise IsADirectory(
                    f"cannot write the file {path}: a directory is there; use a "
                    "DirectoryTarget (a URL ending in '/') or another path",
                    path,
                )
            if kind is not None and if_exists == "error":
                raise _exists_error(path)
            with _map_errors(path, "open for writing"):
                try:
                    fd = ops.open(self._tmp, _EXCL_FLAGS, 0o666, dir_fd=self._dirfd)
                except OSError as exc:
                    _forget_created(exc, lambda: ops.unlink(self._tmp, dir_fd=self._dirfd))
                    raise
            self._file = _OpsFile(ops, fd, where=path)
            self._buffer = io.BufferedWriter(self._file, 1 << 16)
        except BaseException:
            self._close_dir()
            self._never_started()
            raise

    def _write(self, data: memoryview) -> None:
        with _map_errors(self.path, "write"):
            self._buffer.write(data)

    def flush(self) -> None:
        if self._state is WriterState.PENDING:
            with _map_errors(self.path, "write"):
                self._buffer.flush()

    def fileno(self) -> int:
        """The descriptor of the staged file, for tools that write to it directly."""
        self.flush()
        return self._file.fileno()

    def _commit(self) -> None:
        with _map_errors(self.path, "commit"):
            self._publish()
        self._close_dir()

    def _publish(self) -> None:
        with _before_publish(self.path), _map_errors(self.path, "write"):
            self._buffer.flush()
            if self._durable:
                self._file.fsync()
            self._buffer.close()
        if self._if_exists == "overwrite":
            with _map_errors(self.path, "replace"):
                self._ops.rename(
                    self._tmp, self._name, src_dir_fd=self._dirfd, dst_dir_fd=self._dirfd
                )
        else:
            _publish_noreplace(
                self._ops,
                self._dirfd,
                self._tmp,
                self._name,
                self.path,
                is_dir=False,
                guarantee=self._guarantee,
            )
        if self._durable:
            with _synced_after_publish(self.path):
                self._ops.fsync(self._dirfd)

    def _discard(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self._buffer.close()
        if self._dirfd >= 0:
            with contextlib.suppress(OSError):
                _unlink_quiet(self._ops, self._dirfd, self._tmp)
        self._close_dir()


class _LocalDirectoryWriter(_ParentDir, DirectoryWriter):
    log_protocol = "local-rename-noreplace"

    def __init__(
        self,
        fs: LocalFS,
        path: str,
        *,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
    ) -> None:
        super().__init__()
        self._fs = fs
        self._ops = fs.ops
        self.final = path
        self._name = os.path.basename(path)
        self._if_exists = if_exists
        self._guarantee = guarantee
        self._durable = durable
        self.token = new_token()
        self._tmp = temp_name(self._name, self.token)
        self._parts: dict[str, PartRecord] = {}
        self._open: dict[str, IO[Any]] = {}
        try:
            parent = self._open_parent(path, durable)
            self.path = os.path.join(parent, self._tmp)
            kind = self._kind_of_final(self._name, path)
            if kind == "file":
                raise NotADirectory(
                    f"cannot write the directory {path}: a file is there; use a FileTarget "
                    "(a URL without a trailing '/') or another path",
                    path,
                )
            if kind is not None and if_exists == "error":
                raise _exists_error(path)
            with _map_errors(path, "stage"):
                try:
                    self._ops.mkdir(self._tmp, 0o777, dir_fd=self._dirfd)
                except OSError as exc:
                    _forget_created(exc, lambda: self._ops.rmdir(self._tmp, dir_fd=self._dirfd))
                    raise
        except BaseException:
            self._close_dir()
            self._never_started()
            raise

    @property
    def filesystem(self) -> Any:
        return self._fs.fsspec

    def open(self, name: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        self._require_pending("open a file")
        check_relative_name(name, self.final)
        if mode not in ("w", "wt", "wb"):
            raise InvalidTarget(
                f"mode {mode!r} is not a write mode for a file of {self.final}; use 'w' or 'wb'",
                self.final,
            )
        if name in self._parts or name in self._open:
            raise TargetExistsError(
                f"{name} was already written in this output ({self.final})", self.final
            )
        parts = name.split("/")
        with _map_errors(self.final, "write"):
            for depth in range(1, len(parts)):
                sub = os.path.join(self.path, *parts[:depth])
                if _kind(self._ops, sub) is None:
                    self._ops.mkdir(sub)
            fd = self._ops.open(os.path.join(self.path, *parts), _EXCL_FLAGS, 0o666)
        raw = _OpsFile(self._ops, fd, name, self._record, self.final)
        buffered = io.BufferedWriter(raw, 1 << 16)
        self._open[name] = buffered
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, **kwargs)

    def _record(self, part: PartRecord) -> None:
        self._open.pop(part.name, None)
        self._parts[part.name] = part

    def _commit(self) -> dict[str, Any]:
        with _map_errors(self.final, "commit"):
            result = self._publish()
        self._close_dir()
        return result

    def _publish(self) -> dict[str, Any]:
        with _before_publish(self.final):
            for f in list(self._open.values()):
                f.close()
            staged = _kind(self._ops, self._tmp, dir_fd=self._dirfd)
        if staged != "dir":
            raise CommitError(
                f"cannot commit {self.final}: its staging directory {self.path} is gone "
                "(removed by a cleanup?); nothing was published",
                self.final,
            )
        return _commit_tree(
            self._ops,
            self._dirfd,
            self._tmp,
            self._name,
            self.final,
            self.token,
            self._parts,
            if_exists=self._if_exists,
            guarantee=self._guarantee,
            durable=self._durable,
        )

    def _discard(self) -> None:
        for f in list(self._open.values()):
            with contextlib.suppress(Exception):
                f.close()
        if self._dirfd >= 0:
            _rmtree_quiet(self._ops, self._dirfd, self._tmp)
        self._close_dir()


class _LocalStaging(_ParentDir, Staging):
    log_protocol = "local-rename-noreplace"

    def __init__(
        self,
        ops: PosixOps,
        path: str,
        *,
        directory: bool,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
    ) -> None:
        super().__init__()
        self._ops = ops
        self.final = path
        self._directory = directory
        self._if_exists = if_exists
        self._guarantee = guarantee
        self._durable = durable
        self._name = os.path.basename(path)
        self.token = new_token()
        self._tmp = temp_name(self._name, self.token)
        wrong = "file" if directory else "dir"
        try:
            parent = self._open_parent(path, durable)
            self.path = os.path.join(parent, self._tmp)
            kind = self._kind_of_final(self._name, path)
            if kind == wrong:
                cls = NotADirectory if directory else IsADirectory
                raise cls(
                    f"cannot write {path}: a {'file' if directory else 'directory'} is there",
                    path,
                )
            if kind is not None and if_exists == "error":
                raise _exists_error(path)
        except BaseException:
            self._close_dir()
            self._never_started()
            raise

    def _commit(self) -> dict[str, Any] | None:
        with _map_errors(self.final, "commit"):
            result = self._publish()
        self._close_dir()
        return result

    def _publish(self) -> dict[str, Any] | None:
        ops, dirfd = self._ops, self._dirfd
        with _before_publish(self.final):
            kind = _kind(ops, self._tmp, dir_fd=dirfd)
        if kind is None:
            raise CommitError(
                f"cannot commit {self.final}: nothing was written to the temporary path "
                f"{self.path}",
                self.final,
            )
        if self._directory:
            if kind != "dir":
                raise NotADirectory(
                    f"cannot commit the directory output {self.final}: a file was "
                    f"written at its temporary path {self.path}",
                    self.final,
                )
            return _commit_tree(
                ops,
                dirfd,
                self._tmp,
                self._name,
                self.final,
                self.token,
                {},
                if_exists=self._if_exists,
                guarantee=self._guarantee,
                durable=self._durable,
            )
        if kind == "dir":
            raise IsADirectory(
                f"cannot commit the file output {self.final}: a directory was written at "
                f"its temporary path {self.path}",
                self.final,
            )
        if self._durable:
            with _before_publish(self.final):
                fd = ops.open(self._tmp, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dirfd)
                try:
                    ops.fsync(fd)
                finally:
                    ops.close(fd)
        with _map_errors(self.final, "publish"):
            if self._if_exists == "overwrite":
                ops.rename(self._tmp, self._name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            else:
                _publish_noreplace(
                    ops,
                    dirfd,
                    self._tmp,
                    self._name,
                    self.final,
                    is_dir=False,
                    guarantee=self._guarantee,
                )
        if self._durable:
            with _synced_after_publish(self.final):
                ops.fsync(dirfd)
        return None

    def _discard(self) -> None:
        if self._dirfd >= 0:
            _rmtree_quiet(self._ops, self._dirfd, self._tmp)
        self._close_dir()


# --------------------------------------------------------------------------------------
# The filesystem


class LocalFS(AtomicFS):
    """Local POSIX filesystems: atomic rename-no-replace, fsync'd commits (G9).

    ``ops`` is the seam to the filesystem (`PosixOps`); tests pass a simulated one.
    """

    protocol: ClassVar[str] = "file"
    declared: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=True,
        noreplace_rename_dir=True,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=False,
        server_side_copy=False,
    )

    def __init__(self, ops: PosixOps | None = None) -> None:
        self.ops = ops if ops is not None else PosixOps()
        self._fsspec: Any = None

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[LocalFS, str]:
        ops = storage_options.pop("ops", None)
        if storage_options:
            raise InvalidTarget(
                f"local paths take no storage options; got {sorted(storage_options)} for {url}",
                url,
            )
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
        path = os.path.abspath(os.path.expanduser(path))
        return cls(ops), path

    def __repr__(self) -> str:
        return "LocalFS()" if type(self.ops) is PosixOps else f"LocalFS(ops={self.ops!r})"

    @property
    def capabilities(self) -> Capabilities:
        return dataclasses.replace(self.declared, noreplace_rename_dir=self.ops.flagged_rename)

    @property
    def fsspec(self) -> Any:
        if self._fsspec is None:
            self._fsspec = self.ops.fsspec()
        return self._fsspec

    def url(self, path: str) -> str:
        return "file://" + path

    def join(self, path: str, *names: str) -> str:
        return os.path.join(path, *names)

    # -- reading and housekeeping -----------------------------------------------------

    def exists(self, path: str) -> bool:
        return _kind(self.ops, path) is not None

    def isdir(self, path: str) -> bool:
        return _kind(self.ops, path, follow=True) == "dir"

    def isfile(self, path: str) -> bool:
        try:
            return stat.S_ISREG(self.ops.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def listdir(self, path: str) -> list[str]:
        with _map_errors(path, "list"):
            return sorted(os.path.join(path, n) for n in self.ops.listdir(path))

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        if self.isdir(path):
            if raise_if_exists:
                raise _exists_error(path, "directory")
            return
        with _map_errors(path, "create the directory"):
            if parents:
                _ensure_parent(self.ops, os.path.join(path, "x"), durable=False)
            else:
                self.ops.mkdir(path)

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Delete ``path``. A directory is first renamed aside in one step, so readers see it
        whole or gone, never half-deleted."""
        parent, name = os.path.split(path)
        ops = self.ops
        with _map_errors(path, "remove"):
            dirfd = ops.open(parent, _DIR_FLAGS)
            try:
                kind = _kind(ops, name, dir_fd=dirfd)
                if kind is None:
                    raise TargetNotFound(
                        f"cannot remove {path}: it does not exist; nothing was removed", path
                    )
                if kind == "file":
                    ops.unlink(name, dir_fd=dirfd)
                elif not recursive:
                    ops.rmdir(name, dir_fd=dirfd)
                else:
                    aside = temp_name(name, new_token(), "old")
                    ops.rename(name, aside, src_dir_fd=dirfd, dst_dir_fd=dirfd)
                    _rmtree(ops, dirfd, aside)
            finally:
                ops.close(dirfd)

    def open_input(self, path: str) -> IO[bytes]:
        with _map_errors(path, "read"):
            return self.ops.open_reader(path)

    # -- atomic primitives ------------------------------------------------------------

    def rename_dont_move(self, src: str, dst: str, *, guarantee: Guarantee = "strict") -> None:
        check_guarantee(guarantee)
        ops = self.ops
        src_kind = _kind(ops, src)
        if src_kind is None:
            raise TargetNotFound(
                f"cannot rename {src} to {dst}: {src} does not exist; nothing was renamed", src
            )
        src_parent = os.path.dirname(src)
        parent = _ensure_parent(ops, dst, durable=True)
        if ops.stat(src_parent).st_dev != ops.stat(parent).st_dev:
            raise InvalidTarget(
                f"cannot rename {src} to {dst} atomically: they are on different filesystems; "
                "write the output on the destination's filesystem",
                dst,
            )
        with _map_errors(dst, "rename onto"):
            dirfd = ops.open(parent, _DIR_FLAGS)
        try:
            _publish_noreplace(
                ops,
                dirfd,
                src,
                os.path.basename(dst),
                dst,
                is_dir=src_kind == "dir",
                guarantee=guarantee,
                src_dirfd=_AT_FDCWD,
            )
            ops.fsync(dirfd)
            _fsync_dir(ops, src_parent)
        finally:
            ops.close(dirfd)

    def copy(self, src: str, dst: str) -> None:
        """Copy the file or directory tree ``src`` to ``dst``, committed like any output."""
        if not self.isdir(src):
            with self.open_input(src) as source, self.open_output(dst) as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            return
        with self.staging(dst, directory=True) as staged, _map_errors(src, "copy"):
            for top, dirs, files in _walk(self.ops, src):
                rel = os.path.relpath(top, src)
                target_dir = os.path.normpath(os.path.join(staged.path, rel))
                self.ops.mkdir(target_dir)
                del dirs
                for name in files:
                    with self.ops.open_reader(os.path.join(top, name)) as source:
                        fd = self.ops.open(os.path.join(target_dir, name), _EXCL_FLAGS, 0o666)
                        with _OpsFile(self.ops, fd) as sink:
                            shutil.copyfileobj(source, sink, 1 << 20)

    def put_if_absent(self, path: str, data: bytes) -> None:
        with self.open_output(path, if_exists="error") as writer:
            writer.write(data)

    # -- commits ----------------------------------------------------------------------

    def open_output(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> FileWriter:
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        return _LocalFileWriter(
            self.ops, path, if_exists=if_exists, guarantee=guarantee, durable=durable
        )

    def directory_writer(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> DirectoryWriter:
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        self._require_dir_rename(path, guarantee)
        return _LocalDirectoryWriter(
            self, path, if_exists=if_exists, guarantee=guarantee, durable=durable
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
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        if directory:
            self._require_dir_rename(path, guarantee)
        return _LocalStaging(
            self.ops,
            path,
            directory=directory,
            if_exists=if_exists,
            guarantee=guarantee,
            durable=durable,
        )

    def _require_dir_rename(self, path: str, guarantee: Guarantee) -> None:
        if guarantee == "strict" and not self.ops.flagged_rename:
            raise UnsupportedGuarantee(
                f"cannot commit the directory {path} without risking a replace: this platform "
                "has no renameat2 (Linux) or renamex_np (macOS); pass guarantee='best-effort'",
                path,
            )

    def cleanup(self, path: str, *, older_than: timedelta, dry_run: bool = False) -> CleanupReport:
        """Remove stale temporaries (names ``.<name>.targets-tmp-<token>`` and
        ``.<name>.targets-old-<token>``) beside ``path`` and anywhere under it.

        A temporary counts as stale when nothing in it was modified for ``older_than``; a
        live writer's temporaries are left alone. Only names of that form are removed.
        """
        ops = self.ops
        report = CleanupReport(dry_run=dry_run)
        cutoff = time.time() - older_than.total_seconds()
        found: list[str] = []
        parent, name = os.path.split(path)
        if self.isdir(parent):
            for entry in ops.listdir(parent):
                parsed = parse_temp_name(entry)
                if parsed is not None and entry == temp_name(name, parsed[2], parsed[1]):
                    found.append(os.path.join(parent, entry))
        if _kind(ops, path) == "dir":
            pending = [path]
            while pending:
                top = pending.pop()
                for entry in sorted(ops.listdir(top)):
                    full = os.path.join(top, entry)
                    if parse_temp_name(entry) is not None:
                        found.append(full)  # never descend into a temporary
                    elif _kind(ops, full) == "dir":
                        pending.append(full)
        for temp in sorted(set(found)):
            if self._newest_mtime(temp) > cutoff:
                report.kept_recent.append(temp)
                continue
            report.removed.append(temp)
            if not dry_run:
                with _map_errors(temp, "remove the temporary"):
                    _rmtree(ops, None, temp)
        return report

    def _newest_mtime(self, path: str) -> float:
        newest = self.ops.lstat(path).st_mtime
        if _kind(self.ops, path) == "dir":
            for top, dirs, files in _walk(self.ops, path):
                for entry in dirs + files:
                    with contextlib.suppress(OSError):
                        newest = max(newest, self.ops.lstat(os.path.join(top, entry)).st_mtime)
        return newest

    def recover(self, path: str) -> str:
        return (
            f"nothing to recover at {path}: local commits are one rename, so an interrupted "
            "commit leaves only temporaries; `targets cleanup` removes them"
        )
