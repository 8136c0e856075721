"""An fsspec filesystem over an HDFS client (hdfs-native, the model, WebHDFS, pyarrow), for
reading, listing, and for tools that write into a staging path. Errors are
`targets.errors`; ``mv`` is rename-dont-move where the client has ``rename2``."""

from __future__ import annotations

import datetime
import io
import posixpath
import urllib.parse
from typing import TYPE_CHECKING, Any

from fsspec import AbstractFileSystem

from targets.errors import TargetExistsError
from targets.fs.rename.writers import HashingSink

if TYPE_CHECKING:
    from targets.fs.hdfs import HDFS

__all__ = ["HDFSClientFileSystem"]


class HDFSClientFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """The fsspec view of an `HDFS` filesystem."""

    protocol = ("hdfs", "viewfs", "webhdfs", "swebhdfs")
    root_marker = "/"
    cachable = False

    def __init__(self, afs: HDFS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.afs = afs
        self.store = afs.store

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        if "://" in text:
            text = urllib.parse.urlparse(text).path
        return "/" + "/".join(p for p in text.split("/") if p)

    def unstrip_protocol(self, name: str) -> str:
        return self.afs.url(self._strip_protocol(name))

    @staticmethod
    def _info(status: Any) -> dict[str, Any]:
        return {
            "name": status.path,
            "size": status.length,
            "type": "directory" if status.isdir else "file",
            "mtime": status.modification_time / 1000,
        }

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        p = self._strip_protocol(path)
        return self._info(self.store.call("stat", p, self.store.client.get_file_info, p))

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        p = self._strip_protocol(path)
        client = self.store.client
        entries = self.store.call("list", p, lambda: list(client.list_status(p)))
        out = [self._info(s) for s in entries]
        return out if detail else [e["name"] for e in out]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        p = self._strip_protocol(path)
        if mode == "rb":
            return self.afs.open_input(p)
        if mode not in ("wb", "xb"):
            raise ValueError(f"mode {mode!r} is not supported on HDFS; use 'rb', 'wb' or 'xb'")
        from targets.fs.hdfs import ClientSink, _write_options

        options = _write_options(overwrite=mode == "wb", create_parent=True)
        store = self.store
        writer = store.call("write", p, store.client.create, p, options)
        sink = ClientSink(store, writer)
        return io.BufferedWriter(HashingSink(store, sink, store.shown(p), posixpath.basename(p)))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        p = self._strip_protocol(path)
        client = self.store.client
        self.store.call("create the directory", p, client.mkdirs, p, 0o755, create_parents)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        p = self._strip_protocol(path)
        if not exist_ok and self.afs.exists(p):
            raise TargetExistsError(f"cannot create the directory {p}: it exists", p)
        self.mkdir(p, create_parents=True)

    def rm_file(self, path: str) -> None:
        p = self._strip_protocol(path)
        self.store.call("remove", p, self.store.client.delete, p, False)

    def rmdir(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        for one in path if isinstance(path, list) else [path]:
            p = self._strip_protocol(one)
            self.store.call("remove", p, self.store.client.delete, p, recursive)

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        self.afs.rename_dont_move(self._strip_protocol(path1), self._strip_protocol(path2))

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        self.afs.copy(self._strip_protocol(path1), self._strip_protocol(path2))

    def modified(self, path: str) -> Any:
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"])
