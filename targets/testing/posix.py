"""A simulated POSIX filesystem behind `PosixOps`, the local backend's seam.

`SimulatedPosix` keeps a directory tree in memory and answers the calls `targets.fs.local`
makes (``open`` with ``O_CREAT``/``O_EXCL``/``O_DIRECTORY``, directory descriptors and
``dir_fd``-relative names, ``rename``, ``renameat2`` with ``RENAME_NOREPLACE`` and
``RENAME_EXCHANGE``, ``link``, ``unlink``, ``mkdir``, ``rmdir``, ``fsync``, ``stat``) with the
errors Linux gives, so the real local commit protocol runs unchanged against it::

    from targets.testing.posix import SimulatedPosix
    sim = SimulatedPosix()
    t = targets.target("/data/out.csv", ops=sim)
    t.write_bytes(b"id\\n")
    sim.power_loss()          # what survives is what was fsync'd

Durability follows POSIX, not a particular filesystem's kindness: a file's bytes are durable
once the file was ``fsync``'d, and a directory's entries (names created, renamed, removed)
once the directory was. `power_loss` rolls every file and directory back to its durable
state. A crashed *process* loses nothing it sent; use `targets.testing.faults` for that.

``renameat2=False`` simulates a kernel or filesystem without flagged renames (the backend
then publishes files with ``link`` + ``unlink`` and refuses strict directory outputs).
Symlinks are not modelled: nothing can create one through `PosixOps`.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import stat as _stat
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from fsspec import AbstractFileSystem

from targets.fs.local import PosixOps
from targets.fs.rename import RenameUnsupported

__all__ = ["SimulatedPosix"]

_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_DEV = 0x5151


def _err(code: int, path: Any = None, path2: Any = None) -> OSError:
    if path2 is not None:
        return OSError(code, os.strerror(code), path, None, path2)
    return OSError(code, os.strerror(code), path)


class _Inode:
    __slots__ = ("ino", "mtime")

    def __init__(self, ino: int, now: float) -> None:
        self.ino = ino
        self.mtime = now


class _File(_Inode):
    __slots__ = ("data", "durable")

    def __init__(self, ino: int, now: float) -> None:
        super().__init__(ino, now)
        self.data = bytearray()
        self.durable = b""


class _Dir(_Inode):
    __slots__ = ("durable", "entries")

    def __init__(self, ino: int, now: float) -> None:
        super().__init__(ino, now)
        self.entries: dict[str, _Inode] = {}
        self.durable: dict[str, _Inode] = {}


class _Handle:
    __slots__ = ("inode", "writable")

    def __init__(self, inode: _Inode, writable: bool) -> None:
        self.inode = inode
        self.writable = writable


class SimulatedPosix(PosixOps):
    """An in-memory POSIX filesystem with the interface of `PosixOps`. Thread-safe: every
    call is atomic, as system calls on one filesystem are."""

    def __init__(self, *, renameat2: bool = True, clock: Callable[[], float] = time.time) -> None:
        self._renameat2 = renameat2
        self._clock = clock
        self._lock = threading.RLock()
        self._inos = itertools.count(2)
        self.root = _Dir(1, clock())
        self._fds: dict[int, _Handle] = {}
        self._next_fd = itertools.count(3)
        self.calls: list[tuple[Any, ...]] = []
        """Every call as ``(name, *arguments)``, for tests that count requests."""
        self._before: dict[str, list[Callable[[SimulatedPosix], None]]] = {}

    def before_next(self, op: str, action: Callable[[SimulatedPosix], None]) -> None:
        """Run ``action(sim)`` once, just before the next call of ``op`` (a `PosixOps`
        method name such as ``"rename_flags"`` or ``"unlink"``), outside the lock, so that
        a test can interleave another party at that point."""
        with self._lock:
            self._before.setdefault(op, []).append(action)

    def _hook(self, op: str) -> None:
        if not self._before:
            return
        with self._lock:
            pending = self._before.pop(op, None)
        for action in pending or ():
            action(self)

    def __repr__(self) -> str:
        return "SimulatedPosix()" if self._renameat2 else "SimulatedPosix(renameat2=False)"

    # -- path resolution -------------------------------------------------------------------

    def _start(self, path: str, dir_fd: int | None) -> _Dir:
        if path.startswith("/") or dir_fd is None or dir_fd == _AT_FDCWD:
            return self.root
        handle = self._fds.get(dir_fd)
        if handle is None:
            raise _err(errno.EBADF)
        if not isinstance(handle.inode, _Dir):
            raise _err(errno.ENOTDIR, path)
        return handle.inode

    def _parts(self, path: str) -> list[str]:
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        if "\x00" in path:
            raise ValueError("embedded null byte")
        parts = [p for p in path.split("/") if p and p != "."]
        if ".." in parts:
            raise NotImplementedError("'..' is not simulated")
        return parts

    def _walk(self, path: str, dir_fd: int | None) -> tuple[_Dir, str | None]:
        """The directory holding the last component of ``path``, and that component
        (None when ``path`` names the starting directory itself)."""
        node = self._start(path, dir_fd)
        parts = self._parts(path)
        if not parts:
            return node, None
        for name in parts[:-1]:
            child = node.entries.get(name)
            if child is None:
                raise _err(errno.ENOENT, path)
            if not isinstance(child, _Dir):
                raise _err(errno.ENOTDIR, path)
            node = child
        return node, parts[-1]

    def _lookup(self, path: str, dir_fd: int | None) -> _Inode:
        parent, name = self._walk(path, dir_fd)
        if name is None:
            return parent
        node = parent.entries.get(name)
        if node is None:
            raise _err(errno.ENOENT, path)
        return node

    def _touch(self, *nodes: _Inode) -> None:
        now = self._clock()
        for n in nodes:
            n.mtime = now

    def _new_file(self) -> _File:
        return _File(next(self._inos), self._clock())

    def _new_dir(self) -> _Dir:
        return _Dir(next(self._inos), self._clock())

    # -- PosixOps ----------------------------------------------------------------------------

    @property
    def flagged_rename(self) -> bool:
        return self._renameat2

    def open(self, path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        self._hook("open")
        with self._lock:
            self.calls.append(("open", path, flags))
            parent, name = self._walk(path, dir_fd)
            node: _Inode | None = parent if name is None else parent.entries.get(name)
            if node is None:
                if not flags & os.O_CREAT:
                    raise _err(errno.ENOENT, path)
                if flags & os.O_DIRECTORY:
                    raise _err(errno.EINVAL, path)
                assert name is not None
                node = self._new_file()
                parent.entries[name] = node
                self._touch(parent)
            elif flags & os.O_CREAT and flags & os.O_EXCL:
                raise _err(errno.EEXIST, path)
            accmode = flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
            writable = accmode in (os.O_WRONLY, os.O_RDWR)
            if flags & os.O_DIRECTORY and not isinstance(node, _Dir):
                raise _err(errno.ENOTDIR, path)
            if isinstance(node, _Dir) and writable:
                raise _err(errno.EISDIR, path)
            if flags & os.O_TRUNC and isinstance(node, _File) and writable:
                node.data.clear()
            fd = next(self._next_fd)
            self._fds[fd] = _Handle(node, writable)
            return fd

    def close(self, fd: int) -> None:
        self._hook("close")
        with self._lock:
            self.calls.append(("close", fd))
            if self._fds.pop(fd, None) is None:
                raise _err(errno.EBADF)

    def write(self, fd: int, data: Any) -> int:
        with self._lock:
            chunk = bytes(memoryview(data).cast("B"))
            self.calls.append(("write", fd, len(chunk)))
            handle = self._fds.get(fd)
            if handle is None or not handle.writable:
                raise _err(errno.EBADF)
            assert isinstance(handle.inode, _File)
            handle.inode.data += chunk
            self._touch(handle.inode)
            return len(chunk)

    def fsync(self, fd: int) -> None:
        self._hook("fsync")
        with self._lock:
            self.calls.append(("fsync", fd))
            handle = self._fds.get(fd)
            if handle is None:
                raise _err(errno.EBADF)
            node = handle.inode
            if isinstance(node, _File):
                node.durable = bytes(node.data)
            else:
                assert isinstance(node, _Dir)
                node.durable = dict(node.entries)

    def _stat(self, node: _Inode) -> os.stat_result:
        if isinstance(node, _Dir):
            mode, size, nlink = _stat.S_IFDIR | 0o755, 4096, 2
        else:
            assert isinstance(node, _File)
            mode, size, nlink = _stat.S_IFREG | 0o644, len(node.data), 1
        t = node.mtime
        return os.stat_result(
            (mode, node.ino, _DEV, nlink, 0, 0, size, int(t), int(t), int(t)),
            {"st_atime": t, "st_mtime": t, "st_ctime": t},
        )

    def stat(self, path: str) -> os.stat_result:
        self._hook("stat")
        with self._lock:
            self.calls.append(("stat", path))
            return self._stat(self._lookup(path, None))

    def lstat(self, path: str, *, dir_fd: int | None = None) -> os.stat_result:
        self._hook("lstat")
        with self._lock:
            self.calls.append(("lstat", path))
            return self._stat(self._lookup(path, dir_fd))

    def mkdir(self, path: str, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        self._hook("mkdir")
        with self._lock:
            self.calls.append(("mkdir", path))
            parent, name = self._walk(path, dir_fd)
            if name is None or name in parent.entries:
                raise _err(errno.EEXIST, path)
            parent.entries[name] = self._new_dir()
            self._touch(parent)

    def rmdir(self, path: str, *, dir_fd: int | None = None) -> None:
        self._hook("rmdir")
        with self._lock:
            self.calls.append(("rmdir", path))
            parent, name = self._walk(path, dir_fd)
            if name is None:
                raise _err(errno.EBUSY, path)
            node = parent.entries.get(name)
            if node is None:
                raise _err(errno.ENOENT, path)
            if not isinstance(node, _Dir):
                raise _err(errno.ENOTDIR, path)
            if node.entries:
                raise _err(errno.ENOTEMPTY, path)
            del parent.entries[name]
            self._touch(parent)

    def unlink(self, path: str, *, dir_fd: int | None = None) -> None:
        self._hook("unlink")
        with self._lock:
            self.calls.append(("unlink", path))
            parent, name = self._walk(path, dir_fd)
            node = None if name is None else parent.entries.get(name)
            if node is None:
                raise _err(errno.ENOENT, path)
            if isinstance(node, _Dir):
                raise _err(errno.EISDIR, path)
            assert name is not None
            del parent.entries[name]
            self._touch(parent)

    def link(self, src: str, dst: str, *, src_dir_fd: int | None, dst_dir_fd: int | None) -> None:
        self._hook("link")
        with self._lock:
            self.calls.append(("link", src, dst))
            node = self._lookup(src, src_dir_fd)
            if isinstance(node, _Dir):
                raise _err(errno.EPERM, src, dst)
            parent, name = self._walk(dst, dst_dir_fd)
            if name is None or name in parent.entries:
                raise _err(errno.EEXIST, src, dst)
            parent.entries[name] = node
            self._touch(parent)

    def _locate(self, path: str, dir_fd: int | None) -> tuple[_Dir, str, _Inode | None]:
        parent, name = self._walk(path, dir_fd)
        if name is None:
            raise _err(errno.EBUSY, path)
        return parent, name, parent.entries.get(name)

    def _contains(self, tree: _Inode, node: _Inode) -> bool:
        if tree is node:
            return True
        if isinstance(tree, _Dir):
            return any(self._contains(c, node) for c in tree.entries.values())
        return False

    def rename(self, src: str, dst: str, *, src_dir_fd: int | None, dst_dir_fd: int | None) -> None:
        """``rename(2)``: replaces a file, or an empty directory, at ``dst``."""
        self._hook("rename")
        with self._lock:
            self.calls.append(("rename", src, dst))
            sp, sn, snode = self._locate(src, src_dir_fd)
            if snode is None:
                raise _err(errno.ENOENT, src, dst)
            dp, dn, dnode = self._locate(dst, dst_dir_fd)
            if dnode is snode:
                return
            if isinstance(snode, _Dir) and self._contains(snode, dp):
                raise _err(errno.EINVAL, src, dst)
            if dnode is not None:
                if isinstance(snode, _Dir):
                    if not isinstance(dnode, _Dir):
                        raise _err(errno.ENOTDIR, src, dst)
                    if dnode.entries:
                        raise _err(errno.ENOTEMPTY, src, dst)
                elif isinstance(dnode, _Dir):
                    raise _err(errno.EISDIR, src, dst)
            del sp.entries[sn]
            dp.entries[dn] = snode
            self._touch(sp, dp)

    def rename_flags(
        self, src: str, dst: str, flags: int, *, src_dir_fd: int | None, dst_dir_fd: int
    ) -> None:
        self._hook("rename_flags")
        with self._lock:
            self.calls.append(("rename_flags", src, dst, flags))
            if not self._renameat2:
                raise RenameUnsupported()
            if flags not in (_RENAME_NOREPLACE, _RENAME_EXCHANGE):
                raise _err(errno.EINVAL, src, dst)
            sp, sn, snode = self._locate(src, src_dir_fd)
            if snode is None:
                raise _err(errno.ENOENT, src, dst)
            dp, dn, dnode = self._locate(dst, dst_dir_fd)
            if flags == _RENAME_NOREPLACE:
                if dnode is not None:
                    raise _err(errno.EEXIST, src, dst)
                if isinstance(snode, _Dir) and self._contains(snode, dp):
                    raise _err(errno.EINVAL, src, dst)
                del sp.entries[sn]
                dp.entries[dn] = snode
            else:
                if dnode is None:
                    raise _err(errno.ENOENT, src, dst)
                if (isinstance(snode, _Dir) and self._contains(snode, dp)) or (
                    isinstance(dnode, _Dir) and self._contains(dnode, sp)
                ):
                    raise _err(errno.EINVAL, src, dst)
                sp.entries[sn], dp.entries[dn] = dnode, snode
            self._touch(sp, dp)

    def utime(self, path: str, *, dir_fd: int | None = None) -> None:
        """Stamp the simulated clock's time now on ``path``."""
        self._hook("utime")
        with self._lock:
            self.calls.append(("utime", path))
            self._touch(self._lookup(path, dir_fd))

    def time(self) -> float:
        return self._clock()

    def listdir(self, path: str | int) -> list[str]:
        self._hook("listdir")
        with self._lock:
            self.calls.append(("listdir", path))
            if isinstance(path, int):
                handle = self._fds.get(path)
                if handle is None:
                    raise _err(errno.EBADF)
                node: _Inode = handle.inode
            else:
                node = self._lookup(path, None)
            if not isinstance(node, _Dir):
                raise _err(errno.ENOTDIR, path)
            return list(node.entries)

    def open_reader(self, path: str) -> IO[bytes]:
        self._hook("open_reader")
        with self._lock:
            self.calls.append(("open_reader", path))
            node = self._lookup(path, None)
            if isinstance(node, _Dir):
                raise _err(errno.EISDIR, path)
            assert isinstance(node, _File)
            return io.BytesIO(bytes(node.data))

    def fsspec(self) -> Any:
        return SimulatedPosixFileSystem(self)

    # -- for tests -------------------------------------------------------------------------

    def power_loss(self) -> None:
        """The machine loses power: every file and directory goes back to what was last
        ``fsync``'d, and every open descriptor is gone."""
        with self._lock:
            self._fds.clear()

            def restore(d: _Dir) -> None:
                d.entries = dict(d.durable)
                for child in d.entries.values():
                    if isinstance(child, _Dir):
                        restore(child)
                    else:
                        assert isinstance(child, _File)
                        child.data = bytearray(child.durable)

            restore(self.root)

    def open_descriptors(self) -> int:
        """How many descriptors are open (a leak shows here)."""
        with self._lock:
            return len(self._fds)

    def makedirs(self, path: str) -> None:
        """Create ``path`` and its parents, durably (test set-up)."""
        with self._lock:
            node = self.root
            for name in self._parts(path):
                child = node.entries.get(name)
                if child is None:
                    child = self._new_dir()
                    node.entries[name] = child
                    node.durable[name] = child
                if not isinstance(child, _Dir):
                    raise _err(errno.ENOTDIR, path)
                node = child

    def write_file(self, path: str, data: bytes) -> None:
        """Create or replace the file ``path`` holding ``data``, durably (test set-up)."""
        with self._lock:
            parent, name = self._walk(path, None)
            if name is None:
                raise _err(errno.EISDIR, path)
            node = self._new_file()
            node.data = bytearray(data)
            node.durable = bytes(data)
            parent.entries[name] = node
            parent.durable[name] = node

    def read_file(self, path: str) -> bytes:
        with self._lock:
            node = self._lookup(path, None)
            if not isinstance(node, _File):
                raise _err(errno.EISDIR, path)
            return bytes(node.data)

    def tree(self, path: str = "/") -> list[str]:
        """Every path under ``path``, relative, directories with a trailing ``/``, sorted."""
        with self._lock:
            try:
                node = self._lookup(path, None)
            except OSError:
                return []
            out: list[str] = []

            def walk(prefix: str, d: _Dir) -> None:
                for name in sorted(d.entries):
                    child = d.entries[name]
                    if isinstance(child, _Dir):
                        out.append(prefix + name + "/")
                        walk(prefix + name + "/", child)
                    else:
                        out.append(prefix + name)

            if isinstance(node, _Dir):
                walk("", node)
            return out


class SimulatedPosixFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """An fsspec filesystem over a `SimulatedPosix`, for reading, listing and tools."""

    protocol = "file"
    root_marker = "/"
    cachable = False

    def __init__(self, sim: SimulatedPosix, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sim = sim

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        if text.startswith("file://"):
            text = text[len("file://") :]
        return "/" + text.strip("/") if text.strip("/") else "/"

    def _info(self, path: str) -> dict[str, Any]:
        st = self.sim.stat(path)
        kind = "directory" if _stat.S_ISDIR(st.st_mode) else "file"
        return {"name": path, "size": st.st_size, "type": kind, "mtime": st.st_mtime}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        try:
            return self._info(path)
        except OSError:
            raise FileNotFoundError(path) from None

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        try:
            st = self.sim.stat(path)
        except OSError:
            raise FileNotFoundError(path) from None
        if not _stat.S_ISDIR(st.st_mode):
            entries = [self._info(path)]
        else:
            entries = [
                self._info(path.rstrip("/") + "/" + name) for name in sorted(self.sim.listdir(path))
            ]
        return entries if detail else [e["name"] for e in entries]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if mode == "rb":
            return self.sim.open_reader(path)
        if mode not in ("wb", "xb"):
            raise NotImplementedError(f"mode {mode!r} is not simulated")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if mode == "xb" else os.O_TRUNC)
        return _ToolFile(self.sim, self.sim.open(path, flags, 0o666))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        if create_parents:
            self.makedirs(path, exist_ok=True)
        else:
            self.sim.mkdir(self._strip_protocol(path))

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        parts = [p for p in self._strip_protocol(path).split("/") if p]
        for i in range(1, len(parts) + 1):
            sub = "/" + "/".join(parts[:i])
            try:
                self.sim.mkdir(sub)
            except FileExistsError:
                if i == len(parts) and not exist_ok:
                    raise

    def rm_file(self, path: str) -> None:
        self.sim.unlink(self._strip_protocol(path))

    def rmdir(self, path: str) -> None:
        self.sim.rmdir(self._strip_protocol(path))


class _ToolFile(io.RawIOBase):
    """A file a tool writes through the fsspec view: written through the simulator."""

    def __init__(self, sim: SimulatedPosix, fd: int) -> None:
        self._sim, self._fd = sim, fd

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._sim.write(self._fd, data)

    def close(self) -> None:
        if not self.closed:
            self._sim.close(self._fd)
            super().close()
