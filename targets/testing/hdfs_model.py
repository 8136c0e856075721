"""An in-memory HDFS namespace that follows Hadoop's FileSystem specification.

`HDFSModel` offers the methods of ``hdfs_native.Client`` that `targets.fs.hdfs` uses
(``get_file_info``, ``list_status``, ``read``, ``create``, ``mkdirs``, ``rename``, ``delete``),
with the same argument names and the same exception types, so the real backend code runs
unchanged against it::

    from targets.testing.hdfs_model import HDFSModel
    model = HDFSModel()
    target = targets.target("hdfs://model/out/table/", client=model)

Each operation follows the rule written down for it in Hadoop's FileSystem specification
(hadoop-common ``filesystem/filesystem.md``) or, for ``rename`` with options (the NameNode's
``rename2``), in the ``FileContext.rename(src, dst, Options.Rename...)`` contract; the rule is
quoted in the method's docstring. Where the specification leaves a choice to the filesystem,
the model does what HDFS does and says so.

Besides the client methods the model has:

- `rename_old`: ``FileSystem.rename(src, dst)`` — the "old" rename behind ``hadoop fs -mv``
  and pyarrow's ``HadoopFileSystem.move``, which moves a source *into* an existing directory
  and answers ``False`` instead of raising in the cases HDFS documents.
- Fault injection for tests: `lose_next_response` (the operation happens, its answer is
  lost), `retry_after_success` (a client retry of an operation whose first attempt succeeded,
  as a new call the NameNode's retry cache does not recognise), `before_next` (run code just
  before an operation, to interleave another client), and `observe` (run code after every
  change of the namespace, e.g. a reader that checks what it would see).

Errors are raised the way hdfs-native raises them: ``FileNotFoundError``,
``FileExistsError``, ``IsADirectoryError``, ``OSError`` for transport failures, and
``RuntimeError('RPCError("<Java exception class>", "<message>")')`` for other NameNode
exceptions.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "HDFSModel",
    "ModelFileStatus",
    "ModelWriteOptions",
    "OldRenameOnly",
    "rpc_error",
]

_PARENT_NOT_DIR = "org.apache.hadoop.fs.ParentNotDirectoryException"
_NOT_EMPTY = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"
_INVALID_PATH = "org.apache.hadoop.fs.InvalidPathException"
_IO = "java.io.IOException"

_N = TypeVar("_N", bound="_Node")

_MUTATING = frozenset({"create", "mkdirs", "rename", "rename_old", "delete", "write", "close"})


def rpc_error(exception: str, message: str) -> RuntimeError:
    """A NameNode exception in the shape hdfs-native raises it."""
    return RuntimeError(f"RPCError({exception!r}, {message!r})".replace("'", '"'))


@dataclasses.dataclass(frozen=True)
class ModelFileStatus:
    """The fields of ``hdfs_native.FileStatus``."""

    path: str
    length: int
    isdir: bool
    permission: int
    owner: str
    group: str
    modification_time: int
    access_time: int
    replication: int | None
    blocksize: int | None


@dataclasses.dataclass
class ModelWriteOptions:
    """The fields of ``hdfs_native.WriteOptions`` (hdfs-native's defaults)."""

    block_size: int | None = None
    replication: int | None = None
    permission: int = 0o644
    overwrite: bool = False
    create_parent: bool = True


class _Node:
    __slots__ = ("mtime", "permission")

    def __init__(self, permission: int) -> None:
        self.permission = permission
        self.mtime = int(time.time() * 1000)


class _Dir(_Node):
    __slots__ = ("children",)

    def __init__(self, permission: int = 0o755) -> None:
        super().__init__(permission)
        self.children: dict[str, _Node] = {}


class _File(_Node):
    __slots__ = ("data", "under_construction")

    def __init__(self, permission: int = 0o644) -> None:
        super().__init__(permission)
        self.data = bytearray()
        self.under_construction = True


def _split(path: str) -> list[str]:
    """The components of an absolute, normalised HDFS path (``"/"`` -> ``[]``).

    HDFS rejects relative components: ``DFSUtil.isValidName`` refuses ``.`` and ``..``
    segments and names containing ``:``, raising ``InvalidPathException``.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise rpc_error(_INVALID_PATH, f"Invalid path name: {path!r} is not absolute")
    parts = [p for p in path.split("/") if p]
    for p in parts:
        if p in (".", "..") or ":" in p:
            raise rpc_error(_INVALID_PATH, f"Invalid path name {path}")
    return parts


def _join(parts: list[str]) -> str:
    return "/" + "/".join(parts)


class _ModelFileWriter(io.RawIOBase):
    """The stream returned by `HDFSModel.create`: bytes become readable as they are
    written (HDFS readers see a file under construction grow); ``close`` completes it."""

    def __init__(self, model: HDFSModel, path: str, node: _File) -> None:
        self._model = model
        self._path = path
        self._node = node

    def writable(self) -> bool:
        return True

    def write(self, buf: Any) -> int:
        data = bytes(memoryview(buf).cast("B"))
        self._model._op("write", self._path, lambda: self._node.data.extend(data))
        return len(data)

    def close(self) -> None:
        if not self.closed:

            def finish() -> None:
                self._node.under_construction = False
                self._node.mtime = self._model.now_ms()

            self._model._op("close", self._path, finish)
            super().close()


class _ModelFileReader(io.RawIOBase):
    """The stream returned by `HDFSModel.read`: the file's bytes as they were at ``read``."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size(self) -> int:
        return len(self._data)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        chunk = self._data[self._pos : self._pos + view.nbytes]
        view[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def read_range(self, offset: int, length: int) -> bytes:
        return self._data[offset : offset + length]

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._data)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


_LIVE_MODELS: weakref.WeakValueDictionary[int, HDFSModel] = weakref.WeakValueDictionary()


def _live_model(key: int) -> HDFSModel:
    model = _LIVE_MODELS.get(key)
    if model is None:
        raise RuntimeError(
            "an HDFSModel lives in one process only: this pickle names one that is not here"
        )
    return model


class HDFSModel:
    """An in-memory HDFS namespace behind the interface of ``hdfs_native.Client``.

    Every operation is atomic (one lock), as NameNode operations are. ``calls`` records
    each operation as ``(name, path, ...)`` so tests can assert what a backend asked for.
    """

    def __init__(
        self,
        owner: str = "targets",
        group: str = "supergroup",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        """The NameNode's clock (seconds since the epoch): every modification time it
        stamps comes from it; tests pass one they can advance."""
        self._lock = threading.RLock()
        self._root = self._stamped(_Dir())
        self.owner = owner
        self.group = group
        self.calls: list[tuple[Any, ...]] = []
        self._lost: dict[str, int] = {}
        self._retried: dict[str, int] = {}
        self._before: dict[str, list[Callable[[HDFSModel], None]]] = {}
        self._observers: list[Callable[[HDFSModel, str, str], None]] = []
        self._observing = threading.local()
        _LIVE_MODELS[id(self)] = self

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled and unpickled in one process, a model is the same namespace (as a client
        of one cluster is, wherever it is unpickled): a pickled target or job keeps
        reaching it. Another process has no such namespace: unpickling there fails."""
        return (_live_model, (id(self),))

    def now_ms(self) -> int:
        """The NameNode's time now, in milliseconds (as modification times are)."""
        return int(self._clock() * 1000)

    def _stamped(self, node: _N) -> _N:
        node.mtime = self.now_ms()
        return node

    # -- fault injection -----------------------------------------------------------------

    def lose_next_response(self, op: str, times: int = 1) -> None:
        """The next ``times`` calls of ``op`` take effect, then raise ``ConnectionResetError``
        as if the answer was lost on the way back."""
        self._lost[op] = self._lost.get(op, 0) + times

    def retry_after_success(self, op: str, times: int = 1) -> None:
        """The next ``times`` calls of ``op`` take effect, and the caller then sees the answer
        to a second, identical call: what a client that retries with a new call id gets
        when its first attempt succeeded but the answer was lost."""
        self._retried[op] = self._retried.get(op, 0) + times

    def before_next(self, op: str, action: Callable[[HDFSModel], None]) -> None:
        """Run ``action(model)`` once, just before the next call of ``op``."""
        self._before.setdefault(op, []).append(action)

    def observe(self, observer: Callable[[HDFSModel, str, str], None]) -> None:
        """Call ``observer(model, op, path)`` after every change to the namespace (not for
        changes the observer itself makes)."""
        self._observers.append(observer)

    def _op(self, name: str, path: str, fn: Callable[[], Any], *record: Any) -> Any:
        pending = self._before.pop(name, None)
        for action in pending or ():
            action(self)
        with self._lock:
            self.calls.append((name, path, *record))
            result = fn()
            if self._retried.get(name):
                self._retried[name] -= 1
                result = fn()
        if name in _MUTATING and self._observers and not getattr(self._observing, "on", False):
            self._observing.on = True
            try:
                for observer in list(self._observers):
                    observer(self, name, path)
            finally:
                self._observing.on = False
        if self._lost.get(name):
            self._lost[name] -= 1
            raise ConnectionResetError(104, f"Connection reset by peer (model: {name} answer lost)")
        return result

    # -- lookups -------------------------------------------------------------------------

    def _lookup(self, parts: list[str]) -> _Node | None:
        node: _Node = self._root
        for i, name in enumerate(parts):
            if not isinstance(node, _Dir):
                raise rpc_error(
                    _PARENT_NOT_DIR, f"Parent path is not a directory: {_join(parts[:i])}"
                )
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def _parent_dir(self, parts: list[str], path: str) -> _Dir | None:
        """The directory that holds ``parts``; None if it does not exist; raises if an
        ancestor is a file."""
        parent = self._lookup(parts[:-1])
        if parent is not None and not isinstance(parent, _Dir):
            raise rpc_error(_PARENT_NOT_DIR, f"Parent path is not a directory: {path}")
        return parent

    def _status(self, path: str, node: _Node) -> ModelFileStatus:
        is_dir = isinstance(node, _Dir)
        return ModelFileStatus(
            path=path,
            length=0 if is_dir else len(node.data),  # type: ignore[attr-defined]
            isdir=is_dir,
            permission=node.permission,
            owner=self.owner,
            group=self.group,
            modification_time=node.mtime,
            access_time=node.mtime,
            replication=None if is_dir else 3,
            blocksize=None if is_dir else 128 << 20,
        )

    # -- the hdfs_native.Client interface ------------------------------------------------

    def get_file_info(self, path: str) -> ModelFileStatus:
        """``getFileStatus(p)``.

        Spec: ``if not exists(FS, p) : raise FileNotFoundException``; otherwise the status,
        with ``length = 0`` and ``isdir = True`` for a directory.
        """

        def run() -> ModelFileStatus:
            parts = _split(path)
            node = self._lookup(parts)
            if node is None:
                raise FileNotFoundError(2, f"File does not exist: {path}", path)
            return self._status(_join(parts), node)

        return self._op("get_file_info", path, run)  # type: ignore[no-any-return]

    def list_status(self, path: str, recursive: bool = False) -> Iterator[ModelFileStatus]:
        """``listStatus(p)``.

        Spec: ``if not exists(FS, path) : raise FileNotFoundException``; a file lists as
        ``[getFileStatus(path)]``; a directory as the statuses of its immediate children,
        not itself. The spec promises no order; HDFS sorts by name, and so does the model.
        With ``recursive`` (hdfs-native's option) every descendant is listed, parents first.
        """

        def run() -> list[ModelFileStatus]:
            parts = _split(path)
            node = self._lookup(parts)
            if node is None:
                raise FileNotFoundError(2, f"File does not exist: {path}", path)
            if not isinstance(node, _Dir):
                return [self._status(_join(parts), node)]
            out: list[ModelFileStatus] = []

            def walk(prefix: list[str], d: _Dir) -> None:
                for name in sorted(d.children):
                    child = d.children[name]
                    out.append(self._status(_join([*prefix, name]), child))
                    if recursive and isinstance(child, _Dir):
                        walk([*prefix, name], child)

            walk(parts, node)
            return out

        return iter(self._op("list_status", path, run))

    def read(self, path: str) -> _ModelFileReader:
        """``open(p)``.

        Spec: ``if not isFile(FS, p)) : raise {FileNotFoundException, IOException}``, checked
        when the stream is opened. The stream reads the bytes present at that time.
        """

        def run() -> _ModelFileReader:
            parts = _split(path)
            node = self._lookup(parts)
            if node is None:
                raise FileNotFoundError(2, f"File does not exist: {path}", path)
            if isinstance(node, _Dir):
                raise IsADirectoryError(21, f"Path is a directory: {path}", path)
            return _ModelFileReader(bytes(node.data))  # type: ignore[attr-defined]

        return self._op("read", path, run)  # type: ignore[no-any-return]

    def create(self, path: str, write_options: Any = None) -> _ModelFileWriter:
        """``create(p, overwrite, ...)``.

        Spec preconditions: ``if not overwrite and isFile(FS, p) : raise
        FileAlreadyExistsException``; ``if isDir(FS, p) : raise {FileAlreadyExistsException,
        ...}``; no ancestor may be a file (``ParentNotDirectoryException``). Postcondition:
        a zero-byte file exists at ``p``, visible to all, and its parents exist. HDFS
        specifics kept here: with ``create_parent=False`` a missing parent is a
        ``FileNotFoundException``; a file still being written by another client cannot be
        created again (``AlreadyBeingCreatedException``, which hdfs-native raises as
        ``FileExistsError``); ``overwrite`` replaces the old file in one step.
        """
        options = write_options if write_options is not None else ModelWriteOptions()
        overwrite = bool(getattr(options, "overwrite", False))
        create_parent = bool(getattr(options, "create_parent", True))
        permission = getattr(options, "permission", None) or 0o644

        def run() -> _ModelFileWriter:
            parts = _split(path)
            if not parts:
                raise FileExistsError(17, "/ already exists as a directory", path)
            node = self._lookup(parts)
            if isinstance(node, _Dir):
                raise FileExistsError(17, f"{path} already exists as a directory", path)
            if isinstance(node, _File):
                if node.under_construction:
                    raise FileExistsError(
                        17, f"Failed to create file {path}: it is being created by another client"
                    )
                if not overwrite:
                    raise FileExistsError(17, f"File {path} already exists", path)
            parent = self._parent_dir(parts, path)
            if parent is None:
                if not create_parent:
                    raise FileNotFoundError(2, f"Parent directory doesn't exist: {path}", path)
                parent = self._mkdirs(parts[:-1])
            f = self._stamped(_File(permission))
            parent.children[parts[-1]] = f
            parent.mtime = f.mtime
            return _ModelFileWriter(self, _join(parts), f)

        return self._op("create", path, run, overwrite)  # type: ignore[no-any-return]

    def _mkdirs(self, parts: list[str]) -> _Dir:
        node: _Dir = self._root
        for i, name in enumerate(parts):
            child = node.children.get(name)
            if child is None:
                child = self._stamped(_Dir())
                node.children[name] = child
            elif not isinstance(child, _Dir):
                raise rpc_error(
                    _PARENT_NOT_DIR, f"Parent path is not a directory: {_join(parts[: i + 1])}"
                )
            node = child
        return node

    def mkdirs(self, path: str, permission: int = 0o755, create_parent: bool = False) -> None:
        """``mkdirs(p)``.

        Spec preconditions: ``if exists(FS, p) and not isDir(FS, p) : raise
        [ParentNotDirectoryException, FileAlreadyExistsException, IOException]``; no ancestor
        may be a file. Postcondition: ``p`` and its ancestors are directories, and "the
        return value is always true — even if a new directory is not created": an existing
        directory is *success*, so ``mkdirs`` can never serve as a lock or an existence
        check. With ``create_parent=False`` (hdfs-native's default) a missing parent is a
        ``FileNotFoundException``, as in HDFS.
        """

        def run() -> None:
            parts = _split(path)
            node = self._lookup(parts)
            if isinstance(node, _Dir):
                return
            if node is not None:
                raise FileExistsError(17, f"{path} already exists as a file", path)
            parent = self._parent_dir(parts, path)
            if parent is None and not create_parent:
                raise FileNotFoundError(2, f"Parent directory doesn't exist: {path}", path)
            self._mkdirs(parts).permission = permission

        self._op("mkdirs", path, run)

    def rename(self, src: str, dst: str, overwrite: bool = False) -> None:
        """``rename2``: ``FileContext.rename(src, dst, NONE | OVERWRITE)``, what hdfs-native's
        ``Client.rename`` sends.

        Rules (FileContext.rename contract; HDFS's FSDirRenameOp): ``src`` must exist
        (``FileNotFoundException``); renaming onto itself is ``FileAlreadyExistsException``;
        ``dst`` may not be ``src`` or under it, and ``src`` may not be the root
        (``IOException``); "fails if src is a file and dst is a directory", "fails if src is a
        directory and dst is a file"; "if OVERWRITE option is not passed as an argument,
        rename fails if the dst already exists" (``FileAlreadyExistsException``); "if
        OVERWRITE option is passed as an argument, rename overwrites the dst if it is a file or
        an empty directory. Rename fails if dst is a non-empty directory"; "fails if the
        parent of dst does not exist (``FileNotFoundException``) or is a file
        (``ParentNotDirectoryException``)". The destination is never computed as
        ``dst/filename(src)``: rename2 never moves into a directory.
        """

        def run() -> None:
            s, d = _split(src), _split(dst)
            node = self._lookup(s)
            if node is None:
                raise FileNotFoundError(2, f"rename source {src} is not found.", src)
            if not s:
                raise rpc_error(_IO, "The source / cannot be renamed")
            if s == d:
                raise FileExistsError(
                    17, f"The source {src} and destination {dst} are the same", dst
                )
            if d[: len(s)] == s:
                raise rpc_error(
                    _IO, f"Rename destination {dst} is a directory or file under source {src}"
                )
            target = self._lookup(d)
            if target is not None:
                if isinstance(node, _Dir) and not isinstance(target, _Dir):
                    raise rpc_error(
                        _IO, f"Source {src} is a directory but destination {dst} is a file"
                    )
                if not isinstance(node, _Dir) and isinstance(target, _Dir):
                    raise rpc_error(
                        _IO, f"Source {src} is a file but destination {dst} is a directory"
                    )
                if not overwrite:
                    raise FileExistsError(17, f"rename destination {dst} already exists", dst)
                if isinstance(target, _Dir) and target.children:
                    raise rpc_error(_IO, f"rename destination directory is not empty: {dst}")
            parent = self._parent_dir(d, dst)
            if parent is None:
                raise FileNotFoundError(2, f"rename destination parent {dst} not found.", dst)
            self._move(s, d, node, parent)

        self._op("rename", src, run, dst, overwrite)

    def _move(self, s: list[str], d: list[str], node: _Node, new_parent: _Dir) -> None:
        old_parent = self._lookup(s[:-1])
        assert isinstance(old_parent, _Dir)
        del old_parent.children[s[-1]]
        new_parent.children[d[-1]] = node
        now = self.now_ms()
        old_parent.mtime = new_parent.mtime = now

    def rename_old(self, src: str, dst: str) -> bool:
        """``FileSystem.rename(src, d)``: the old rename behind ``hadoop fs -mv``.

        Spec: "If the destination exists and is a directory, the final destination of the
        rename becomes the destination + the filename of the source path" — the move
        *into* an existing directory that nested Luigi's outputs. Then: ``src`` must exist
        (HDFS: "fails without raising an exception; rename() merely returns false");
        ``dest`` may not be under ``src`` (``IOException``); a missing parent of ``dest``:
        "HDFS: no change to FileSystem state, with a return value of false"; an existing file
        at ``dest``: "HDFS: the rename fails, no exception is raised ... simply returns
        false"; a directory renamed onto itself returns True in HDFS.
        """

        def run() -> bool:
            s, d = _split(src), _split(dst)
            node = self._lookup(s)
            if node is None or not s:
                return False
            target = self._lookup(d)
            if isinstance(target, _Dir) and d != s:
                d = [*d, s[-1]]
                target = self._lookup(d)
            if d == s:
                return True
            if d[: len(s)] == s:
                raise rpc_error(
                    _IO, f"Rename destination {dst} is a directory or file under source {src}"
                )
            if target is not None:
                return False
            parent = self._lookup(d[:-1])
            if not isinstance(parent, _Dir):
                return False
            self._move(s, d, node, parent)
            return True

        return self._op("rename_old", src, run, dst)  # type: ignore[no-any-return]

    def delete(self, path: str, recursive: bool = False) -> bool:
        """``delete(p, recursive)``.

        Spec: ``if isDir(FS, p) and not recursive and (children(FS, p) != {}) : raise
        IOException`` (HDFS: ``PathIsNotEmptyDirectoryException``); a missing path leaves the
        state unchanged and returns False; a file or a directory tree is removed in one
        atomic step and the result is True; "HDFS never permits the deletion of the root of
        a filesystem" (False).
        """

        def run() -> bool:
            parts = _split(path)
            node = self._lookup(parts)
            if node is None:
                return False
            if not parts:
                return False
            if isinstance(node, _Dir) and node.children and not recursive:
                raise rpc_error(_NOT_EMPTY, f"`{path} is non empty': Directory is not empty")
            parent = self._lookup(parts[:-1])
            assert isinstance(parent, _Dir)
            del parent.children[parts[-1]]
            parent.mtime = self.now_ms()
            return True

        return self._op("delete", path, run, recursive)  # type: ignore[no-any-return]

    # -- conveniences for tests ------------------------------------------------------------

    def tree(self, path: str = "/") -> list[str]:
        """Every path under ``path`` (relative, directories with a trailing ``/``), sorted."""
        with self._lock:
            node = self._lookup(_split(path))
            out: list[str] = []

            def walk(prefix: str, d: _Dir) -> None:
                for name in sorted(d.children):
                    child = d.children[name]
                    if isinstance(child, _Dir):
                        out.append(prefix + name + "/")
                        walk(prefix + name + "/", child)
                    else:
                        out.append(prefix + name)

            if isinstance(node, _Dir):
                walk("", node)
            return out

    def write_file(self, path: str, data: bytes) -> None:
        """Create (or replace) the complete file ``path`` holding ``data``."""
        with self.create(path, ModelWriteOptions(overwrite=True)) as f:
            f.write(data)

    def read_file(self, path: str) -> bytes:
        with self.read(path) as f:
            return f.read()


class OldRenameOnly:
    """A view of a client that hides ``rename2``: what pyarrow's ``HadoopFileSystem``
    (libhdfs) and HttpFS offer. Everything else is passed through; ``rename_old`` is the only
    rename. For tests of the best-effort path."""

    supports_rename2 = False
    supports_exclusive_create = True

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name == "rename":
            raise AttributeError("this client has no rename2 (rename with options)")
        return getattr(self._client, name)
