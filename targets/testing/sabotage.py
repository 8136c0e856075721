"""Commit strategies that are broken on purpose, to prove the property machine can fail.

Each is a well-known way of "committing" an output that pipelines have used, written
against the same scheduled seam the library uses, so the machine drives it through the
same interleavings. The machine must find a counterexample for each; the tests under
``tests/property`` keep that as a test.

- `NaiveMove`: stage, then move like ``mv`` / ``fsspec.mv`` / ``hadoop fs -mv``: a move onto
  an existing directory lands *inside* it, a move onto a file replaces it (POSIX) or
  silently does nothing (HDFS's old rename answers ``false``).
- `CheckThenRename`: stage, check that nothing is at the final path, then rename (Luigi's
  habit): two writers pass the check together.
- `CopyThenDelete`: object stores: stage under a hidden prefix, copy each object to the
  final key and write ``_SUCCESS``, delete the staging, with no claim (fsspec's ``mv`` on
  S3 and GCS).
"""

from __future__ import annotations

import errno
import os
import posixpath
from typing import Any

from targets.errors import TargetExistsError
from targets.fs._names import SUCCESS, new_token, temp_name
from targets.testing.strategies import Strategy, WriterHandle, manifest_bytes
from targets.testing.worlds import World

__all__ = ["CheckThenRename", "CopyThenDelete", "NaiveMove"]

_EXCL = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _exists(path: str) -> TargetExistsError:
    return TargetExistsError(f"{path} exists", path)


class _Staged(WriterHandle):
    """Stages a file or a directory tree next to the output; `publish` is the broken part."""

    def __init__(self, world: World, output: str, check: bool) -> None:
        self.world, self.seam = world, world.seam
        self.directory = output.endswith("/")
        self.final = world.path(output)
        token = self.token = new_token()
        parent, name = posixpath.split(self.final)
        self.tmp = posixpath.join(parent, temp_name(name, token))
        self._token = token
        self.check = check
        self.parts: dict[str, bytes] = {}
        self.data = bytearray()
        self._stage_root()

    def write(self, name: str | None, data: bytes) -> None:
        if self.directory:
            assert name is not None
            self.parts[name] = data
            self._write_file(posixpath.join(self.tmp, name), data)
        else:
            self.data += data

    def commit(self) -> None:
        if self.directory:
            manifest = manifest_bytes(self._token, self.parts, "sabotage")
            self._write_file(posixpath.join(self.tmp, SUCCESS), manifest)
        else:
            self._write_file(self.tmp, bytes(self.data))
        if self.check and self._exists(self.final):
            self.discard()
            raise _exists(self.final)
        self._move(self.tmp, self.final)

    def _stage_root(self) -> None:
        raise NotImplementedError

    def _write_file(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def _exists(self, path: str) -> bool:
        raise NotImplementedError

    def _move(self, src: str, dst: str) -> None:
        raise NotImplementedError


class _PosixStaged(_Staged):
    def _stage_root(self) -> None:
        if self.directory:
            self.seam.mkdir(self.tmp)

    def _write_file(self, path: str, data: bytes) -> None:
        fd = self.seam.open(path, _EXCL, 0o666)
        try:
            if data:
                self.seam.write(fd, data)
        finally:
            self.seam.close(fd)

    def _exists(self, path: str) -> bool:
        try:
            self.seam.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def _move(self, src: str, dst: str) -> None:
        """``mv src dst``: into ``dst`` if it is a directory, else onto it (replacing)."""
        try:
            st = self.seam.stat(dst)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_mode & 0o170000) == 0o040000:
            dst = posixpath.join(dst, posixpath.basename(src))
        try:
            self.seam.rename(src, dst, src_dir_fd=None, dst_dir_fd=None)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                raise _exists(dst) from None
            raise

    def discard(self) -> None:
        _posix_rmtree(self.seam, self.tmp)


def _posix_rmtree(seam: Any, path: str) -> None:
    try:
        st = seam.lstat(path)
    except FileNotFoundError:
        return
    if (st.st_mode & 0o170000) != 0o040000:
        seam.unlink(path)
        return
    for name in seam.listdir(path):
        _posix_rmtree(seam, posixpath.join(path, name))
    seam.rmdir(path)


class _HDFSStaged(_Staged):
    def _stage_root(self) -> None:
        if self.directory:
            self.seam.mkdirs(self.tmp, 0o755, True)

    def _write_file(self, path: str, data: bytes) -> None:
        from targets.testing.hdfs_model import ModelWriteOptions

        out = self.seam.create(path, ModelWriteOptions(overwrite=False))
        if data:
            out.write(data)
        out.close()

    def _exists(self, path: str) -> bool:
        try:
            self.seam.get_file_info(path)
        except FileNotFoundError:
            return False
        return True

    def _move(self, src: str, dst: str) -> None:
        """``hadoop fs -mv``: the old rename; its ``false`` answer is ignored, as fsspec's
        ``WebHDFS.mv`` does."""
        self.seam.rename_old(src, dst)

    def discard(self) -> None:
        self.seam.delete(self.tmp, True)


class _ObjectStaged(_Staged):
    def _stage_root(self) -> None:
        pass

    def _write_file(self, path: str, data: bytes) -> None:
        self.seam.put(path, data, metadata={}, if_absent=False)

    def _exists(self, path: str) -> bool:
        if self.directory:
            return self.seam.head(path + "/" + SUCCESS) is not None
        return self.seam.head(path) is not None

    def _move(self, src: str, dst: str) -> None:
        """fsspec's ``mv`` on an object store: copy every object, then delete the source."""
        if not self.directory:
            self.seam.copy(src, dst, metadata={}, if_absent=False)
            self.seam.delete(src)
            return
        keys = sorted(o.key for o in self.seam.list(src + "/"))
        keys.sort(key=lambda k: k.endswith("/" + SUCCESS))  # _SUCCESS last, as Hadoop does
        for key in keys:
            self.seam.copy(key, dst + key[len(src) :], metadata={}, if_absent=False)
        for key in keys:
            self.seam.delete(key)

    def discard(self) -> None:
        for o in list(self.seam.list(self.tmp)):
            self.seam.delete(o.key)


_STAGED = {"posix": _PosixStaged, "hdfs": _HDFSStaged, "objectstore": _ObjectStaged}


class NaiveMove(Strategy):
    """Stage, then move like ``mv``: nests into an existing directory, replaces a file."""

    name = "naive-mv"
    check = False

    def open(self, world: World, output: str, if_exists: str) -> WriterHandle:
        return _STAGED[world.kind](world, output, check=self.check)


class CheckThenRename(NaiveMove):
    """Stage, check that the final path is free, then move (a race between the two)."""

    name = "check-then-rename"
    check = True


class CopyThenDelete(CheckThenRename):
    """Object stores: check for ``_SUCCESS``, copy the staged objects, delete them; no claim."""

    name = "copy-then-delete"
