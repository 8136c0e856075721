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

__all__ = ["LocalFS", "renameat2_available"]

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


class _NoFlaggedRename(Exception):
    """The kernel or this filesystem has no flagged rename (ENOSYS, EINVAL)."""


def _rename_flags(dirfd: int, src: str, dst: str, flags: int, src_dirfd: int | None = None) -> None:
    """``renameat2(src_dirfd, src, dirfd, dst, flags)``; raises OSError or `_NoFlaggedRename`.

    ``src_dirfd`` defaults to ``dirfd``.
    """
    if _flagged_rename is None:
        raise _NoFlaggedRename()
    sfd = dirfd if src_dirfd is None else src_dirfd
    if _flagged_rename(sfd, os.fsencode(src), dirfd, os.fsencode(dst), flags) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        # EINVAL: the filesystem does not support the flag (or, for EXCHANGE, a caller bug
        # we do not make: both names are siblings we own).
        raise _NoFlaggedRename()
    raise OSError(err, os.strerror(err), src, None, dst)


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
        return TargetNotFound(f"cannot {action} {path}: no such file or directory", path)
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


# --------------------------------------------------------------------------------------
# Directory-relative helpers


def _open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _fsync_dir(path: str) -> None:
    fd = _open_dir(path)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_parent(path: str, durable: bool) -> str:
    """Create the parent directories of ``path``; return the parent.

    `NotADirectory` names the component that is a file.
    """
    parent = os.path.dirname(path)
    missing: list[str] = []
    probe = parent
    while True:
        try:
            st = os.stat(probe)
        except FileNotFoundError:
            missing.append(probe)
            up = os.path.dirname(probe)
            if up == probe:
                break
            probe = up
            continue
        except NotADirectoryError:
            # a component above probe is a file; find it for the message
            up = os.path.dirname(probe)
            if up == probe:
                break
            probe = up
            missing.clear()
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectory(
                f"cannot write {path}: {probe} is a file, not a directory; remove it or choose "
                "another path",
                path,
            )
        break
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise NotADirectory(
                    f"cannot write {path}: {directory} is a file, not a directory", path
                ) from None
        except OSError as exc:
            raise _translate(exc, directory, "create the directory") from exc
        if durable:
            _fsync_dir(os.path.dirname(directory))
    return parent


def _lkind(dirfd: int, name: str) -> str | None:
    """``"dir"``, ``"file"`` (anything else, symlinks included) or None, without following."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def _exists_error(path: str, what: str = "output") -> TargetExistsError:
    return TargetExistsError(
        f"{path} already exists (another writer committed first, or an earlier run produced "
        f"it); the {what} was not written. Pass if_exists='overwrite' to replace it, or "
        "remove it first",
        path,
    )


def _unlink_quiet(dirfd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dirfd)


def _rmtree_quiet(dirfd: int, name: str) -> None:
    if _lkind(dirfd, name) == "dir":
        shutil.rmtree(name, dir_fd=dirfd, ignore_errors=True)
    else:
        _unlink_quiet(dirfd, name)


def _fsync_tree(root: str) -> None:
    """fsync every regular file and directory under ``root`` (deepest first)."""
    for top, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            full = os.path.join(top, name)
            if os.path.islink(full):
                continue
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(top)


def _publish_noreplace(
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

    ``tmp`` is relative to ``src_dirfd`` (default ``dirfd``), or absolute.
    """
    sfd = dirfd if src_dirfd is None else src_dirfd
    try:
        _rename_flags(dirfd, tmp, name, _RENAME_NOREPLACE, src_dirfd=sfd)
        return
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError as exc:
        if exc.errno == errno.ENOTEMPTY:
            raise _exists_error(path) from None
        raise _translate(exc, path, "publish") from exc
    except _NoFlaggedRename:
        pass
    if not is_dir:
        # A hard link fails with EEXIST if the name is taken: the same decision, atomically.
        try:
            os.link(tmp, name, src_dir_fd=sfd, dst_dir_fd=dirfd, follow_symlinks=False)
        except FileExistsError:
            raise _exists_error(path) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise _translate(exc, path, "publish") from exc
        else:
            _unlink_quiet(sfd, tmp)
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
    if _lkind(dirfd, name) is not None:
        raise _exists_error(path)
    try:
        os.rename(tmp, name, src_dir_fd=sfd, dst_dir_fd=dirfd)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            raise _exists_error(path) from None
        raise _translate(exc, path, "publish") from exc


def _publish_replace_dir(dirfd: int, tmp: str, name: str, path: str, token: str) -> str | None:
    """Swap the staged directory ``tmp`` in at ``name``; return the name the old output now
    has (to be deleted), or None if there was none."""
    for _ in range(100):
        kind = _lkind(dirfd, name)
        if kind == "file":
            raise NotADirectory(
                f"cannot replace {path} with a directory: it is a file; remove it first", path
            )
        try:
            if kind is None:
                _rename_flags(dirfd, tmp, name, _RENAME_NOREPLACE)
                return None
            _rename_flags(dirfd, tmp, name, _RENAME_EXCHANGE)
        except (FileExistsError, FileNotFoundError):
            continue  # the destination appeared or vanished under us: look again
        except _NoFlaggedRename:
            raise UnsupportedGuarantee(
                f"cannot replace the directory {path} atomically: this kernel or filesystem "
                "has no renameat2(RENAME_EXCHANGE); remove the old output first",
                path,
            ) from None
        except OSError as exc:
            raise _translate(exc, path, "replace") from exc
        # The old output now sits at tmp; give it its "old" name so cleanup recognises it.
        old = temp_name(name, token, "old")
        try:
            os.rename(tmp, old, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except OSError:
            return tmp
        return old
    raise CommitError(f"cannot replace {path}: it kept changing under concurrent writers", path)


# --------------------------------------------------------------------------------------
# Writers


class _ParentDir:
    """Holds an open descriptor of the output's parent directory for a writer's lifetime."""

    _dirfd: int = -1

    def _close_dir(self) -> None:
        fd, self._dirfd = self._dirfd, -1
        if fd >= 0:
            os.close(fd)


class _LocalFileWriter(_ParentDir, FileWriter):
    def __init__(
        self, path: str, *, if_exists: IfExists, guarantee: Guarantee, durable: bool
    ) -> None:
        super().__init__(path)
        self._if_exists = if_exists
        self._guarantee = guarantee
        self._durable = durable
        self._name = os.path.basename(path)
        self._token = new_token()
        self._tmp = temp_name(self._name, self._token)
        try:
            parent = _ensure_parent(path, durable)
            with _map_errors(path, "open for writing"):
                self._dirfd = _open_dir(parent)
            kind = _lkind(self._dirfd, self._name)
            if kind == "dir":
                raise IsADirectory(
                    f"cannot write the file {path}: a directory is there; use a "
                    "DirectoryTarget (a URL ending in '/') or another path",
                    path,
                )
            if kind is not None and if_exists == "error":
                raise _exists_error(path)
            with _map_errors(path, "open for writing"):
                fd = os.open(
                    self._tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                    0o666,
                    dir_fd=self._dirfd,
                )
            self._file = io.FileIO(fd, "wb")
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
        self._publish()
        self._close_dir()

    def _publish(self) -> None:
        with _map_errors(self.path, "write"):
            self._buffer.flush()
            if self._durable:
                os.fsync(self._file.fileno())
            self._buffer.close()
        if self._if_exists == "overwrite":
            with _map_errors(self.path, "replace"):
                os.replace(self._tmp, self._name, src_dir_fd=self._dirfd, dst_dir_fd=self._dirfd)
        else:
            _publish_noreplace(
                self._dirfd,
                self._tmp,
                self._name,
                self.path,
                is_dir=False,
                guarantee=self._guarantee,
            )
        if self._durable:
            with _map_errors(self.path, "sync the directory of"):
                os.fsync(self._dirfd)

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self._buffer.close()
        with contextlib.suppress(OSError):
            _unlink_quiet(self._dirfd, self._tmp)
        self._close_dir()


class _HashingFile(io.RawIOBase):
    """A file being written into a staged directory; records its size and sha256."""

    def __init__(self, raw: io.FileIO, name: str, on_close: Any) -> None:
        self._raw = raw
        self._name = name
        self._hash = hashlib.sha256()
        self._size = 0
        self._on_close = on_close

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        written = 0
        while written < view.nbytes:
            n = self._raw.write(view[written:])
            written += n or 0
        self._hash.update(view)
        self._size += written
        return written

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            super().close()
            self._on_close(PartRecord(self._name, self._size, self._hash.hexdigest()))


class _LocalDirectoryWriter(_ParentDir, DirectoryWriter):
    def __init__(
        self,
        fs: LocalFS,
        path: str,
        *,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
        create: bool = True,
    ) -> None:
        super().__init__()
        self._fs = fs
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
            parent = _ensure_parent(path, durable)
            self.path = os.path.join(parent, self._tmp)
            with _map_errors(path, "open for writing"):
                self._dirfd = _open_dir(parent)
            kind = _lkind(self._dirfd, self._name)
            if kind == "file":
                raise NotADirectory(
                    f"cannot write the directory {path}: a file is there; use a FileTarget "
                    "(a URL without a trailing '/') or another path",
                    path,
                )
            if kind is not None and if_exists == "error":
                raise _exists_error(path)
            if create:
                with _map_errors(path, "stage"):
                    os.mkdir(self._tmp, 0o777, dir_fd=self._dirfd)
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
        full = os.path.join(self.path, *name.split("/"))
        with _map_errors(self.final, "write"):
            os.makedirs(os.path.dirname(full), exist_ok=True)
            fd = os.open(
                full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666
            )
        hashing = _HashingFile(io.FileIO(fd, "wb"), name, self._record)
        buffered = io.BufferedWriter(hashing, 1 << 16)
        self._open[name] = buffered
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, **kwargs)

    def _record(self, part: PartRecord) -> None:
        self._open.pop(part.name, None)
        self._parts[part.name] = part

    def _commit(self) -> dict[str, Any]:
        result = self._publish()
        self._close_dir()
        return result

    def _publish(self) -> dict[str, Any]:
        for f in list(self._open.values()):
            f.close()
        with _map_errors(self.final, "stage"):
            if _lkind(self._dirfd, self._tmp) != "dir":
                raise CommitError(
                    f"cannot commit {self.final}: nothing was written to the staging "
                    f"path {self.path}",
                    self.final,
                )
        return _commit_tree(
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
        with contextlib.suppress(OSError):
            _rmtree_quiet(self._dirfd, self._tmp)
        self._close_dir()


def _commit_tree(
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
    with _map_errors(path, "stage"):
        for top, dirs, files in os.walk(staged):
            dirs.sort()
            for fname in sorted(files):
                full = os.path.join(top, fname)
                rel = os.path.relpath(full, staged).replace(os.sep, "/")
                if rel == SUCCESS:
                    os.unlink(full)  # a tool's own marker; ours replaces it
                    continue
                st = os.lstat(full)
                if not stat.S_ISREG(st.st_mode):
                    continue
                record = known.get(rel)
                if record is None or record.size != st.st_size:
                    record = PartRecord(rel, st.st_size)
                parts.append(record)
        manifest = _manifest.build(token, parts, "local-renameat2")
        fd = os.open(
            os.path.join(staged, SUCCESS),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
            0o666,
        )
        with io.FileIO(fd, "wb") as f:
            f.write(_manifest.encode(manifest))
        if durable:
            _fsync_tree(staged)
    if if_exists == "overwrite":
        old = _publish_replace_dir(dirfd, tmp, name, path, token)
        if durable:
            os.fsync(dirfd)
        if old is not None:
            _rmtree_quiet(dirfd, old)
    else:
        try:
            _publish_noreplace(dirfd, tmp, name, path, is_dir=True, guarantee=guarantee)
        except BaseException:
            _rmtree_quiet(dirfd, tmp)
            raise
        if durable:
            os.fsync(dirfd)
    return manifest


class _LocalStaging(_ParentDir, Staging):
    def __init__(
        self,
        fs: LocalFS,
        path: str,
        *,
        directory: bool,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
    ) -> None:
        super().__init__()
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
            parent = _ensure_parent(path, durable)
            self.path = os.path.join(parent, self._tmp)
            with _map_errors(path, "open for writing"):
                self._dirfd = _open_dir(parent)
            kind = _lkind(self._dirfd, self._name)
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
        result = self._publish()
        self._close_dir()
        return result

    def _publish(self) -> dict[str, Any] | None:
        kind = _lkind(self._dirfd, self._tmp)
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
                self._dirfd,
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
        with _map_errors(self.final, "publish"):
            if self._durable:
                fd = os.open(
                    self._tmp, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=self._dirfd
                )
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            if self._if_exists == "overwrite":
                os.replace(self._tmp, self._name, src_dir_fd=self._dirfd, dst_dir_fd=self._dirfd)
            else:
                _publish_noreplace(
                    self._dirfd,
                    self._tmp,
                    self._name,
                    self.final,
                    is_dir=False,
                    guarantee=self._guarantee,
                )
            if self._durable:
                os.fsync(self._dirfd)
        return None

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            _rmtree_quiet(self._dirfd, self._tmp)
        self._close_dir()


# --------------------------------------------------------------------------------------
# The filesystem


class LocalFS(AtomicFS):
    """Local POSIX filesystems: atomic rename-no-replace, fsync'd commits (G9)."""

    protocol: ClassVar[str] = "file"
    declared: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=True,
        noreplace_rename_dir=True,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=False,
        server_side_copy=False,
    )

    def __init__(self) -> None:
        self._fsspec: Any = None

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[LocalFS, str]:
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
        elif path.startswith(("local://",)):
            path = path[len("local://") :]
        if not path:
            raise InvalidTarget(f"{url!r} has no path", url)
        if "\x00" in path:
            raise InvalidTarget(f"{url!r} contains a NUL character", url)
        path = os.path.abspath(os.path.expanduser(path))
        return cls(), path

    def __repr__(self) -> str:
        return "LocalFS()"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            noreplace_rename=True,
            noreplace_rename_dir=renameat2_available(),
            exclusive_create=True,
            atomic_replace=True,
            deferred_publish=False,
            server_side_copy=False,
        )

    @property
    def fsspec(self) -> Any:
        if self._fsspec is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fsspec = LocalFileSystem()
        return self._fsspec

    def url(self, path: str) -> str:
        return "file://" + path

    def join(self, path: str, *names: str) -> str:
        return os.path.join(path, *names)

    # -- reading and housekeeping -----------------------------------------------------

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def listdir(self, path: str) -> list[str]:
        with _map_errors(path, "list"):
            return sorted(os.path.join(path, n) for n in os.listdir(path))

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        with _map_errors(path, "create the directory"):
            if parents:
                if os.path.isdir(path):
                    if raise_if_exists:
                        raise _exists_error(path, "directory")
                    return
                _ensure_parent(os.path.join(path, "x"), durable=False)
            else:
                try:
                    os.mkdir(path)
                except FileExistsError:
                    if raise_if_exists or not os.path.isdir(path):
                        raise

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Delete ``path``. A directory is first renamed aside in one step, so readers see it
        whole or gone, never half-deleted."""
        parent, name = os.path.split(path)
        with _map_errors(path, "remove"):
            dirfd = _open_dir(parent)
            try:
                kind = _lkind(dirfd, name)
                if kind is None:
                    raise TargetNotFound(f"cannot remove {path}: it does not exist", path)
                if kind == "file":
                    os.unlink(name, dir_fd=dirfd)
                elif not recursive:
                    os.rmdir(name, dir_fd=dirfd)
                else:
                    aside = temp_name(name, new_token(), "old")
                    os.rename(name, aside, src_dir_fd=dirfd, dst_dir_fd=dirfd)
                    shutil.rmtree(aside, dir_fd=dirfd)
            finally:
                os.close(dirfd)

    def open_input(self, path: str) -> IO[bytes]:
        with _map_errors(path, "read"):
            return open(path, "rb")

    # -- atomic primitives ------------------------------------------------------------

    def rename_dont_move(self, src: str, dst: str, *, guarantee: Guarantee = "strict") -> None:
        check_guarantee(guarantee)
        if not os.path.lexists(src):
            raise TargetNotFound(f"cannot rename {src}: it does not exist", src)
        src_parent = os.path.dirname(src)
        parent = _ensure_parent(dst, durable=True)
        if os.stat(src_parent).st_dev != os.stat(parent).st_dev:
            raise InvalidTarget(
                f"cannot rename {src} to {dst} atomically: they are on different filesystems; "
                "write the output on the destination's filesystem",
                dst,
            )
        with _map_errors(dst, "rename onto"):
            dirfd = _open_dir(parent)
        try:
            _publish_noreplace(
                dirfd,
                src,
                os.path.basename(dst),
                dst,
                is_dir=os.path.isdir(src) and not os.path.islink(src),
                guarantee=guarantee,
                src_dirfd=_AT_FDCWD,
            )
            os.fsync(dirfd)
            _fsync_dir(src_parent)
        finally:
            os.close(dirfd)

    def copy(self, src: str, dst: str) -> None:
        with self.staging(dst, directory=os.path.isdir(src)) as st, _map_errors(src, "copy"):
            if os.path.isdir(src):
                shutil.copytree(src, st.path, symlinks=True)
            else:
                shutil.copyfile(src, st.path)

    def put_if_absent(self, path: str, data: bytes) -> None:
        writer = self.open_output(path, if_exists="error")
        try:
            writer.write(data)
        except BaseException:
            writer.discard()
            raise
        writer.commit()

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
        return _LocalFileWriter(path, if_exists=if_exists, guarantee=guarantee, durable=durable)

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
            self,
            path,
            directory=directory,
            if_exists=if_exists,
            guarantee=guarantee,
            durable=durable,
        )

    def _require_dir_rename(self, path: str, guarantee: Guarantee) -> None:
        if guarantee == "strict" and not renameat2_available():
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
        report = CleanupReport(dry_run=dry_run)
        cutoff = time.time() - older_than.total_seconds()
        found: list[str] = []
        parent, name = os.path.split(path)
        if os.path.isdir(parent):
            for entry in os.listdir(parent):
                parsed = parse_temp_name(entry)
                if parsed is not None and entry == temp_name(name, parsed[2], parsed[1]):
                    found.append(os.path.join(parent, entry))
        if os.path.isdir(path) and not os.path.islink(path):
            for top, dirs, files in os.walk(path):
                for entry in list(dirs) + files:
                    if parse_temp_name(entry) is not None:
                        found.append(os.path.join(top, entry))
                dirs[:] = sorted(d for d in dirs if parse_temp_name(d) is None)
        for temp in sorted(set(found)):
            if _newest_mtime(temp) > cutoff:
                report.kept_recent.append(temp)
                continue
            report.removed.append(temp)
            if not dry_run:
                with _map_errors(temp, "remove the temporary"):
                    if os.path.isdir(temp) and not os.path.islink(temp):
                        shutil.rmtree(temp)
                    else:
                        os.unlink(temp)
        return report

    def recover(self, path: str) -> str:
        return (
            f"nothing to recover at {path}: local commits are one rename, so an interrupted "
            "commit leaves only temporaries; `targets cleanup` removes them"
        )


def _newest_mtime(path: str) -> float:
    newest = os.lstat(path).st_mtime
    if os.path.isdir(path) and not os.path.islink(path):
        for top, dirs, files in os.walk(path):
            for entry in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(top, entry)).st_mtime)
    return newest
