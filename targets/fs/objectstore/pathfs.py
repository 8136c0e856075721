"""`WriterFileSystem`: the fsspec filesystem a writer hands to tools that write by path.

A directory writer (or a job's task attempt) on an object store writes each file it opens
invisibly to its final key: small files are held back, large ones stream as multipart
uploads left pending, all published by the commit. `WriterFileSystem` gives tools that take
a path and a filesystem (``pyarrow.dataset.write_dataset``, ``pyarrow.parquet.write_table``,
pandas' ``to_parquet(..., filesystem=)``) that same route: a file opened for writing under
the writer's ``path`` is the writer's own ``open(name, "wb")``, so the commit copies none of
its bytes.

Guarantees
----------
- A file written through it (``open`` in ``"wb"``, ``"w"``, ``"xb"``, ``"x"``; ``pipe``,
  ``put_file``, ``touch``) becomes the output's file of the same relative name at the
  commit, and nothing of it is visible before; the commit copies none of its bytes.
- It takes a path under its root in every form tools pass: the URL
  (``s3://bucket/prefix/name``), the bare ``bucket/prefix/name``, either with a leading or
  trailing ``/``.
- ``exists``, ``info``, ``isdir``, ``isfile``, ``ls``, ``find`` and ``walk`` answer with
  what was written through it so far: the root is an empty directory at first, directories
  are the ones made with ``mkdir``/``makedirs`` and the parents of files, files are the
  files opened for writing (with the bytes written so far). The root's ancestors are
  directories; any other path is an `InvalidTarget`, which ``exists`` reports as False.
- ``mkdir`` and ``makedirs`` create nothing in the store (object stores have no
  directories).
- Refused with `InvalidTarget`, touching nothing: reading a file written through it before
  the commit, appending, deleting, moving, renaming or copying, a write outside the root,
  fsspec transactions (the writer's commit is the transaction), pickling. Reading a file
  that was not written through it is a `FileNotFoundError`.
- Writing one name twice is the writer's `TargetExistsError` (also a `FileExistsError`).
- A tool's own ``_SUCCESS`` marker is accepted and dropped: the commit writes the real one.
- Calls from several threads at once are safe (pyarrow writes files from a thread pool):
  opening and closing files are serialised, writing their bytes is not.

Objects that *another* client (a tool given only a URL and storage options) writes under
the writer's staging ``path`` are not seen here; the directory writer still finds them at
the commit and copies them (O(bytes)), as it always did.
"""

from __future__ import annotations

import io
import os
import threading
from typing import IO, Any, BinaryIO, NoReturn, Protocol, cast

import fsspec

from targets.errors import InvalidTarget
from targets.fs._names import SUCCESS

__all__ = ["PathWriter", "WriterFileSystem"]


class PathWriter(Protocol):
    """What `WriterFileSystem` writes through: a writer that opens the file ``name``
    (relative, ``/``-separated) of its output for writing, in mode ``"wb"``."""

    def open(self, name: str, mode: str = ..., **kwargs: Any) -> IO[Any]: ...


class _Written(io.BufferedIOBase):
    """A file opened through a `WriterFileSystem`: the writer's own file, whose size is
    counted and which the filesystem forgets if closing it fails (it is then no part of
    the output)."""

    def __init__(self, fs: WriterFileSystem, rel: str, inner: IO[bytes] | None) -> None:
        super().__init__()
        self._fs, self._rel, self._inner = fs, rel, inner
        self.size = 0

    @property
    def name(self) -> str:
        return self._fs.full(self._rel)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError(f"write to closed file {self.name!r}")
        n = memoryview(data).nbytes
        if self._inner is not None:
            self._inner.write(data)
        self.size += n
        return n

    def flush(self) -> None:
        if self._inner is not None and not self.closed:
            self._inner.flush()

    def close(self) -> None:
        if self.closed:
            return
        inner, self._inner = self._inner, None
        try:
            if inner is not None:
                with self._fs.lock:
                    inner.close()
        except BaseException:
            self._fs.forget(self._rel, self)
            raise
        finally:
            super().close()


class WriterFileSystem(fsspec.AbstractFileSystem):  # type: ignore[misc]
    """An fsspec filesystem bound to one writer: files written under ``root`` are the
    writer's own files, so the writer's commit publishes them without copying a byte.

    ``writer`` opens files by relative name (`PathWriter`); ``root`` is the path tools are
    given (a URL, usually the writer's ``path``); ``output`` names the output in errors
    (default: ``root``). See the module doc for what it answers and what it refuses.
    """

    cachable = False
    """One instance per writer, never shared through fsspec's instance cache."""
    root_marker = ""

    def __init__(self, writer: PathWriter, root: str, *, output: str | None = None) -> None:
        super().__init__()
        scheme, sep, _ = root.partition("://")
        self.protocol = (scheme,) if sep else ("file",)
        self.root = root
        self.output = output or root
        self.lock = threading.RLock()
        self._writer = writer
        self._base = _bare(root)
        self._files: dict[str, _Written] = {}
        self._dirs: set[str] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.root!r}>"

    def __reduce__(self) -> NoReturn:
        raise InvalidTarget(
            f"the filesystem of the writer of {self.output} cannot be pickled: it writes "
            "through that writer, in its process; in another process open a task of a job "
            "(DirectoryTarget.job()) and write through the task's filesystem",
            self.output,
        )

    # -- paths ----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return _bare(path)

    def full(self, rel: str) -> str:
        """The bare path (``bucket/key``) of the relative name ``rel``."""
        return f"{self._base}/{rel}" if rel else self._base

    def _relative(self, path: Any, action: str) -> str | None:
        """``path`` relative to the root (``""`` for the root), None for an ancestor of
        the root; `InvalidTarget` for any other path."""
        bare = _bare(path)
        if bare == self._base:
            return ""
        if bare.startswith(self._base + "/"):
            return bare[len(self._base) + 1 :]
        if not bare or self._base.startswith(bare + "/"):
            return None
        raise InvalidTarget(
            f"cannot {action} {path!r}: the filesystem of the writer of {self.output} "
            f"writes only under {self.root}; write the output's files there",
            str(path),
        )

    def _refuse(self, action: str, path: Any) -> NoReturn:
        raise InvalidTarget(
            f"cannot {action} {path!r}: files written through the filesystem of the writer "
            f"of {self.output} are parts of an output not yet committed, and cannot be "
            "read, appended to, deleted, moved or copied before its commit; write each file "
            "once, or raise inside the writer's `with` block to discard everything and write "
            "the output again",
            str(path),
        )

    def forget(self, rel: str, file: _Written) -> None:
        """Drop ``rel`` from what was written (its file failed to close)."""
        with self.lock:
            if self._files.get(rel) is file:
                del self._files[rel]

    # -- writing --------------------------------------------------------------------------

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> BinaryIO:
        rel = self._relative(path, "open")
        if "r" in mode:
            if rel is not None and rel in self._files:
                self._refuse("read", path)
            raise FileNotFoundError(
                f"{path}: nothing of that name was written through the filesystem of the "
                f"writer of {self.output}, and it reads nothing else"
            )
        if "a" in mode or "+" in mode:
            self._refuse(f"open with mode {mode!r}", path)
        if not rel:
            raise InvalidTarget(
                f"cannot write the file {path!r}: it is a directory (the root of the writer "
                f"of {self.output}); write files under it",
                str(path),
            )
        with self.lock:
            inner = None if rel == SUCCESS else self._writer.open(rel, "wb")
            file = _Written(self, rel, inner)
            if inner is not None:
                self._files[rel] = file
        return cast(BinaryIO, file)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Nothing to create on an object store; the directory is known from now on."""
        rel = self._relative(path, "make the directory")
        if rel:
            with self.lock:
                self._dirs.add(rel)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Like `mkdir`: nothing is created in the store."""
        self.mkdir(path)

    @property
    def transaction(self) -> NoReturn:
        raise self._no_transaction()

    def _no_transaction(self) -> InvalidTarget:
        return InvalidTarget(
            f"fsspec transactions are not available on the filesystem of the writer of "
            f"{self.output}: its commit is the transaction, and publishes every file "
            "written through it at once",
            self.output,
        )

    def start_transaction(self) -> NoReturn:
        raise self._no_transaction()

    # -- what was written -----------------------------------------------------------------

    def _directories(self) -> set[str]:
        """Every directory under the root (relative), the root (``""``) included."""
        found = {""}
        for rel in [*self._files, *self._dirs]:
            parts = rel.split("/")
            upto = len(parts) - 1 if rel in self._files else len(parts)
            found.update("/".join(parts[:i]) for i in range(1, upto + 1))
        return found

    def _entry(self, rel: str) -> dict[str, Any] | None:
        file = self._files.get(rel)
        if file is not None:
            return {"name": self.full(rel), "size": file.size, "type": "file"}
        if rel in self._directories():
            return {"name": self.full(rel), "size": 0, "type": "directory"}
        return None

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        rel = self._relative(path, "look up")
        if rel is None:
            return {"name": _bare(path), "size": 0, "type": "directory"}
        with self.lock:
            entry = self._entry(rel)
        if entry is None:
            raise FileNotFoundError(path)
        return entry

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        rel = self._relative(path, "list")
        if rel is None:
            raise InvalidTarget(
                f"cannot list {path!r}: the filesystem of the writer of {self.output} lists "
                f"only what was written through it, under {self.root}",
                str(path),
            )
        with self.lock:
            entry = self._entry(rel)
            if entry is None:
                raise FileNotFoundError(path)
            if entry["type"] == "file":
                found = [entry]
            else:
                inside = rel + "/" if rel else ""
                children = {
                    c[len(inside) :].split("/", 1)[0]
                    for c in [*self._files, *self._directories()]
                    if c.startswith(inside) and c != rel
                }
                found = [e for c in sorted(children) if (e := self._entry(inside + c))]
        return found if detail else [e["name"] for e in found]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """What is under ``path``, without the directory ``path`` itself (as object stores
        answer: pyarrow compares what it gets with the path it asked for, in its own form,
        and takes anything else for existing data)."""
        found = super().find(path, maxdepth, withdirs, detail=True, **kwargs)
        found.pop(_bare(path), None)
        return found if detail else sorted(found)

    # -- refused --------------------------------------------------------------------------

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> NoReturn:
        self._refuse("delete", path)

    def rm_file(self, path: Any) -> NoReturn:
        self._refuse("delete", path)

    def _rm(self, path: Any) -> NoReturn:
        self._refuse("delete", path)

    def rmdir(self, path: Any) -> NoReturn:
        self._refuse("delete", path)

    def mv(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("move", path1)

    def copy(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("copy", path1)

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> NoReturn:
        self._refuse("copy", path1)


def _bare(path: Any) -> str:
    """``path`` (a URL or a bare path) without its scheme and outer slashes."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    _, sep, rest = text.partition("://")
    return (rest if sep else text).strip("/")
