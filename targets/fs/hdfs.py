"""The HDFS backends: ``hdfs://`` and ``viewfs://`` (`HDFS`), ``webhdfs://`` and
``swebhdfs://`` (`WebHDFS`); `HDFSStore` is their adapter of the `RenameStore` seam, and
the commit protocol is `targets.fs.rename`'s, shared with local disks.

Commit protocol (docs/hdfs.md)
------------------------------
An output is staged at a hidden sibling ``.<name>.targets-tmp-<token>`` (a file, or a
directory tree that gets ``_SUCCESS`` with the manifest before it is published), and
published with the NameNode's ``rename2`` without OVERWRITE: one atomic namespace operation
that never moves the source *into* an existing directory and refuses to replace anything.
That is rename-dont-move, for files and directories alike, and the commit decision.

- Temporaries are created with ``create(overwrite=False)``, an exclusive create. The final
  path is never written directly: HDFS shows a file while it is being written, so a reader
  gating on ``exists()`` could see it partial.
- ``if_exists="overwrite"``: a file is published with ``rename2(OVERWRITE)``, which replaces
  it atomically. HDFS's OVERWRITE refuses a non-empty directory, so a directory output is
  replaced by renaming the old one aside (``.<name>.targets-old-<token>``, ``rename2``),
  publishing the new one (``rename2``), and deleting the old one. Between the two renames the
  output is absent, never mixed; ``recover()`` puts an old output back if a writer died in
  that gap.
- Ambiguous outcomes (G7): a ``rename2`` whose answer was lost and that is retried can come
  back as "destination exists" or "source not found" although the first attempt succeeded.
  The writer then checks that its temporary is gone and that the destination is its own
  output: the manifest's writer token for directories; size, modification time and
  SHA-256 for files. Only then does it report success.

Clients
-------
The protocol talks to the store through the methods of ``hdfs_native.Client`` (``create``,
``rename``, ``mkdirs``, ``delete``, ``get_file_info``, ``list_status``, ``read``). Three things
implement them: hdfs-native itself (the default; it speaks the NameNode's RPC protocol and
has ``rename2``), `PyArrowClient` over pyarrow's ``HadoopFileSystem`` (libhdfs + JVM, only
the old rename), `WebHDFSClient` (REST; ``op=RENAME&renameoptions=NONE`` is ``rename2`` on a
NameNode, while HttpFS ignores it), both in `targets.fs._hdfs_clients`, and
`targets.testing.hdfs_model.HDFSModel` for tests.
A client without ``rename2`` is refused for strict targets (G6); with
``guarantee="best-effort"`` the commit checks, renames with the old rename, detects a
nested result and undoes it, and warns.

Every client call runs under a deadline (``rpc_timeout``, 20 s by default for real
clients), so a NameNode that is down or stops answering is a `NameNodeUnreachable` in
seconds, not a hang.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import posixpath
import threading
import time
from collections.abc import Callable
from typing import IO, Any, ClassVar, Protocol

from targets.errors import (
    BackendNotInstalled,
    InvalidTarget,
    NotADirectory,
    TargetError,
)
from targets.fs._hdfs_clients import DEFAULT_RPC_TIMEOUT, PyArrowClient, WebHDFSClient
from targets.fs._hdfs_errors import NameNodeUnreachable, is_transport, rpc_parts, translate_error
from targets.fs._names import new_token, temp_name
from targets.fs.rename.fs import RenameFS, check_lease_period
from targets.fs.rename.lease import LEASE_PERIOD, inner_marker, lease_marker
from targets.fs.rename.store import Entry, RenameStore, RenameUnsupported

__all__ = [
    "DEFAULT_RPC_TIMEOUT",
    "HDFS",
    "HDFSClient",
    "HDFSStore",
    "NameNodeUnreachable",
    "PyArrowClient",
    "WebHDFS",
    "WebHDFSClient",
]

# hdfs-native retries a refused connection with growing sleeps for over two minutes by
# default; these keep a dead NameNode a matter of seconds. Users override them via config=.
_HDFS_NATIVE_DEFAULTS = {
    "dfs.client.failover.max.attempts": "2",
    "dfs.client.failover.sleep.base.millis": "100",
    "dfs.client.failover.sleep.max.millis": "1000",
}

_NATIVE_ERRORS = (OSError, RuntimeError, ValueError)


class HDFSClient(Protocol):
    """The client methods the HDFS protocol uses: those of ``hdfs_native.Client``.

    A client may also set ``supports_rename2 = False`` and offer ``rename_old(src, dst) ->
    bool`` (the old ``FileSystem.rename``) instead, and ``supports_exclusive_create =
    False`` if ``create(overwrite=False)`` is a check-then-create.
    """

    def get_file_info(self, path: str) -> Any: ...
    def list_status(self, path: str, recursive: bool = False) -> Any: ...
    def read(self, path: str) -> Any: ...
    def create(self, path: str, write_options: Any = None) -> Any: ...
    def mkdirs(self, path: str, permission: int = 0o755, create_parent: bool = False) -> None: ...
    def rename(self, src: str, dst: str, overwrite: bool = False) -> None: ...
    def delete(self, path: str, recursive: bool = False) -> bool: ...


@dataclasses.dataclass
class _WriteOptions:
    """Stand-in for ``hdfs_native.WriteOptions`` when hdfs-native is not installed."""

    block_size: int | None = None
    replication: int | None = None
    permission: int = 0o644
    overwrite: bool = False
    create_parent: bool = True


def _write_options(*, overwrite: bool, create_parent: bool) -> Any:
    try:
        from hdfs_native import WriteOptions
    except ImportError:
        return _WriteOptions(overwrite=overwrite, create_parent=create_parent)
    return WriteOptions(overwrite=overwrite, create_parent=create_parent)


class _NoAnswer(Exception):
    """A client call did not return within the deadline (it may still be running)."""


def _call_with_deadline(timeout: float | None, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or `_NoAnswer` after ``timeout`` seconds.

    The real clients block in native code that has no usable RPC timeout, so the call runs
    on a daemon thread; one that never returns is abandoned (it cannot keep the process
    alive).
    """
    if timeout is None:
        return fn(*args)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # delivered to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="targets-hdfs-call", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _NoAnswer()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --------------------------------------------------------------------------------------
# Paths


def _normalize(path: str, url: str) -> str:
    """An absolute HDFS path with single slashes and no trailing slash; `InvalidTarget` for
    ``.`` or ``..`` segments (HDFS rejects them and a target must not escape its parent)."""
    if "\x00" in path:
        raise InvalidTarget(f"{url!r} contains a NUL character", url)
    parts = [p for p in path.split("/") if p]
    bad = [p for p in parts if p in (".", "..")]
    if bad:
        raise InvalidTarget(
            f"{url} has a {bad[0]!r} segment; HDFS paths must be absolute and normalised "
            "(write the path without '.' and '..')",
            url,
        )
    return "/" + "/".join(parts)


def _split_url(url: str) -> tuple[str, str, str]:
    """``(scheme, authority, path)`` of an HDFS-family URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidTarget(f"{url!r} is not an hdfs:// URL", url)
    authority, slash, path = rest.partition("/")
    return scheme.lower(), authority, slash + path


# --------------------------------------------------------------------------------------
# The adapter


class _InputStream(io.RawIOBase):
    """A client reader as a raw stream whose errors are `targets.errors`."""

    def __init__(self, store: HDFSStore, path: str, reader: Any) -> None:
        self._store = store
        self._path = path
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._store.call("read", self._path, self._reader.read, view.nbytes)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._reader.close()
            super().close()


class ClientSink:
    """A client writer as a `Sink`: each call under the store's deadline."""

    def __init__(self, store: HDFSStore, writer: Any) -> None:
        self._store = store
        self._writer = writer

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self._store.timed(self._writer.write, chunk)
        return len(chunk)

    def sync(self) -> None:
        """A closed HDFS file is replicated before ``close`` returns: nothing to do."""

    def close(self) -> None:
        self._store.timed(self._writer.close)


def _entry(raw: Any) -> Entry:
    isdir, length, mtime = bool(raw.isdir), int(raw.length), int(raw.modification_time)
    return Entry(raw.path, "dir" if isdir else "file", length, mtime / 1000, (isdir, length, mtime))


class HDFSStore(RenameStore):
    """An HDFS client (``hdfs_native.Client`` or one with its methods) as a `RenameStore`.

    Every call runs under ``rpc_timeout``; the NameNode's ``rename2`` without OVERWRITE is
    the rename that refuses to replace. HDFS has no inode a client can see, so an ambiguous
    publish is settled by the manifest's writer token, or size, time and content.
    """

    strong_identity = False
    write_buffer = 1 << 20  # each client call may cost a deadline thread and a packet
    has_link = False
    atomic_delete = True

    def __init__(
        self,
        client: Any,
        *,
        scheme: str = "hdfs",
        authority: str = "",
        rpc_timeout: float | None = None,
        client_hint: str = "install hdfs-native (pip install 'targets[hdfs]') and use it",
    ) -> None:
        self.client = client
        self.scheme = scheme
        self.authority = authority
        self.rpc_timeout = rpc_timeout
        self.client_hint = client_hint

    def __repr__(self) -> str:
        return f"HDFSStore({self.scheme}://{self.authority}, client={self.client!r})"

    # -- calls and errors ---------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.scheme}://{self.authority or '<fs.defaultFS>'}"

    def timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` under the deadline; the client's own exceptions, or `_NoAnswer`."""
        return _call_with_deadline(self.rpc_timeout, fn, *args)

    def call(self, action: str, path: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` under the deadline, its errors translated for ``action`` on ``path``."""
        with self.map_errors(path, action):
            return self.timed(fn, *args)

    def shown(self, path: str) -> str:
        return f"{self.scheme}://{self.authority}{path}" if path.startswith("/") else path

    def backend_path(self, path: str) -> str:
        if "://" in path:
            return _normalize(_split_url(path)[2], path)
        return path

    def translate(self, exc: BaseException, path: str, action: str) -> TargetError | None:
        if isinstance(exc, _NoAnswer):
            return NameNodeUnreachable(
                f"cannot {action} {path}: the NameNode at {self.where} did not answer within "
                f"{self.rpc_timeout:g} s; check that it is running and reachable, or pass a "
                "larger rpc_timeout",
                path,
            )
        if isinstance(exc, _NATIVE_ERRORS):
            return translate_error(exc, path, action, self.where)
        return None

    @property
    def description(self) -> str:
        return str(getattr(self.client, "description", type(self.client).__name__))

    def missing_rename_hint(self, *, directory: bool, exchange: bool = False) -> str:
        return (
            f"{self.description} has only the old rename, which moves an output into an "
            f"existing directory; {self.client_hint}, or pass guarantee='best-effort' to "
            "check, rename, and undo a nested result"
        )

    @property
    def weak_rename(self) -> str:  # type: ignore[override]
        return f"the old HDFS rename (client {self.description}; use hdfs-native for rename2)"

    @property
    def manifest_protocol(self) -> str:  # type: ignore[override]
        return "hdfs-rename2" if self.has_noreplace_rename else "hdfs-rename-best-effort"

    @property
    def exclusive_create(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.client, "supports_exclusive_create", True))

    @property
    def has_noreplace_rename(self) -> bool:
        probe = getattr(self.client, "supports_rename2", True)
        return bool(probe() if callable(probe) else probe)

    @property
    def has_exchange(self) -> bool:
        return False

    @property
    def has_replace(self) -> bool:
        return self.has_noreplace_rename

    # -- reading ---------------------------------------------------------------------------

    def stat(self, path: str, *, follow: bool = False) -> Entry | None:
        try:
            raw = self.timed(self.client.get_file_info, path)
        except FileNotFoundError:
            return None
        except _NATIVE_ERRORS as exc:
            if rpc_parts(exc)[0].endswith("ParentNotDirectoryException"):
                return None  # an ancestor is a file: nothing is at path
            raise
        return _entry(raw)

    def entries(self, path: str) -> list[Entry]:
        return [_entry(raw) for raw in self.timed(lambda: list(self.client.list_status(path)))]

    def walk(self, root: str, *, strict: bool = False) -> list[Entry]:
        # Each entry comes with its status: nothing is listed, then looked up.
        found = self.timed(lambda: list(self.client.list_status(root, True)))
        return sorted((_entry(raw) for raw in found), key=lambda e: e.path)

    def open_read(self, path: str) -> IO[bytes]:
        reader = self.call("read", path, self.client.read, path)
        return io.BufferedReader(_InputStream(self, path, reader), 1 << 20)

    # -- writing ---------------------------------------------------------------------------

    def create(self, path: str, *, parents: bool = False) -> ClientSink:
        options = _write_options(overwrite=False, create_parent=parents)
        return ClientSink(self, self.timed(self.client.create, path, options))

    def mkdir(self, path: str) -> None:
        self.timed(self.client.mkdirs, path, 0o755, False)

    def ensure_parent(self, path: str, *, durable: bool) -> None:
        parent = posixpath.dirname(path)
        got = self.stat(parent)
        if got is not None and not got.is_dir:
            raise NotADirectory(
                f"cannot write {self.shown(path)}: {parent} is a file, not a directory; "
                "remove it or choose another path",
                self.shown(path),
            )
        if got is not None:
            return
        try:
            self.timed(self.client.mkdirs, parent, 0o755, True)
        except (FileExistsError, NotADirectoryError):
            raise NotADirectory(
                f"cannot write {self.shown(path)}: a component of {parent} is a file, not a "
                "directory",
                self.shown(path),
            ) from None
        except _NATIVE_ERRORS as exc:
            if rpc_parts(exc)[0].endswith("ParentNotDirectoryException"):
                raise NotADirectory(
                    f"cannot write {self.shown(path)}: a component of {parent} is a file, "
                    "not a directory",
                    self.shown(path),
                ) from exc
            raise

    def sync_tree(self, root: str) -> None:
        """Nothing to do: a closed HDFS file is replicated before ``close`` returns."""

    def sync_dir(self, path: str) -> None:
        """Nothing to do: the NameNode's edit log makes a rename durable."""

    def delete(self, path: str, *, recursive: bool = True) -> None:
        self.timed(self.client.delete, path, recursive)

    def _create_closed(self, path: str, *, overwrite: bool) -> None:
        options = _write_options(overwrite=overwrite, create_parent=False)
        writer = self.timed(self.client.create, path, options)
        self.timed(writer.close)

    def stamp(self, path: str) -> bool:
        """The NameNode stamps its own time on a change it records: a marker created and
        removed inside a directory updates the directory's modification time; for a file
        (whose time HDFS sets only on close), its lease marker is created anew. Never a
        client-supplied ``setTimes``."""
        got = self.stat(path)
        if got is None:
            return False
        try:
            if got.is_dir:
                marker = inner_marker(path, new_token())
                self._create_closed(marker, overwrite=False)
                self.timed(self.client.delete, marker, False)
            else:
                self._create_closed(lease_marker(path), overwrite=True)
        except FileNotFoundError:
            return False  # gone since the lookup
        return True

    def now(self, directory: str) -> float:
        """The NameNode's time: the modification time it stamps on a probe file created
        (and removed again) in ``directory``."""
        probe = posixpath.join(directory, temp_name("targets-clock", new_token(), "trash"))
        self._create_closed(probe, overwrite=False)
        try:
            return _entry(self.timed(self.client.get_file_info, probe)).mtime
        finally:
            with contextlib.suppress(Exception):
                self.timed(self.client.delete, probe, False)

    # -- renames -----------------------------------------------------------------------------

    def _rename2(self, src: str, dst: str, overwrite: bool) -> None:
        """``rename2``; a transport failure is retried (a retry of an attempt that went
        through answers "exists" or "not found", which the protocol settles, G7)."""
        if not self.has_noreplace_rename:
            raise RenameUnsupported()
        attempts = 0
        while True:
            attempts += 1
            try:
                self.timed(self.client.rename, src, dst, overwrite)
                return
            except _NATIVE_ERRORS as exc:
                if not is_transport(exc) or attempts >= 3:
                    raise
                time.sleep(0.05 * attempts)

    def rename_noreplace(self, src: str, dst: str) -> None:
        try:
            self._rename2(src, dst, False)
        except _NATIVE_ERRORS as exc:
            # The NameNode refuses a directory onto a file (and the reverse) with a plain
            # IOException, not FileAlreadyExists; the protocol needs "something is there".
            if isinstance(exc, FileExistsError) or is_transport(exc) or self.stat(dst) is None:
                raise
            raise FileExistsError(errno.EEXIST, f"{dst} exists ({exc})", dst) from exc

    def link_noreplace(self, src: str, dst: str) -> None:
        raise RenameUnsupported()

    def replace(self, src: str, dst: str) -> None:
        try:
            self._rename2(src, dst, True)
        except _NATIVE_ERRORS as exc:
            if rpc_parts(exc)[0] and "directory" in str(exc).lower():
                raise IsADirectoryError(
                    errno.EISDIR, "a directory is there and this output is a file", dst
                ) from exc
            raise

    def exchange(self, a: str, b: str) -> None:
        raise RenameUnsupported()

    def rename_plain(self, src: str, dst: str) -> None:
        rename_old = getattr(self.client, "rename_old", None)
        if rename_old is None:
            self._rename2(src, dst, False)
        elif not self.timed(rename_old, src, dst):
            raise FileExistsError(errno.EEXIST, "the old rename refused", dst)

    def fsspec(self, afs: Any) -> Any:
        from targets.fs._hdfs_fsspec import HDFSClientFileSystem

        return HDFSClientFileSystem(afs)


# --------------------------------------------------------------------------------------
# The filesystems

_OPTIONS = ("client", "config", "config_dir", "rpc_timeout", "stale_claim_after")


class HDFS(RenameFS):
    """HDFS through a client with the NameNode's ``rename2``: rename-dont-move for files and
    directories, exclusive create, atomic file replace (G1-G7).

    ``HDFS(client, ...)`` accepts any object with the methods of ``hdfs_native.Client``;
    ``HDFS.from_url`` builds one. Storage options: ``client`` (``"hdfs-native"``, the
    default; ``"pyarrow"``; or a client object such as
    `targets.testing.hdfs_model.HDFSModel`), ``config`` (Hadoop settings for hdfs-native,
    e.g. ``{"fs.defaultFS": "hdfs://nn:8020"}``), ``config_dir`` (a directory with
    core-site.xml and hdfs-site.xml), ``rpc_timeout`` (seconds per NameNode call; ``None``
    waits forever), ``stale_claim_after`` (seconds, default 60: how long a writer's lease on
    its staging lasts without a renewal; `cleanup` never removes a temporary the NameNode
    stamped more recently, and `recover` does not restore such an aside unless forced).
    """

    protocol: ClassVar[str] = "hdfs"
    _client_hint: ClassVar[str] = "install hdfs-native (pip install 'targets[hdfs]') and use it"
    store: HDFSStore

    def __init__(
        self,
        client: Any,
        *,
        scheme: str = "hdfs",
        authority: str = "",
        rpc_timeout: float | None = None,
        stale_claim_after: float = LEASE_PERIOD,
    ) -> None:
        super().__init__(
            HDFSStore(
                client,
                scheme=scheme,
                authority=authority,
                rpc_timeout=rpc_timeout,
                client_hint=self._client_hint,
            ),
            lease_period=stale_claim_after,
        )
        self.client = client
        self.scheme = scheme
        self.authority = authority
        self.rpc_timeout = rpc_timeout

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[HDFS, str]:
        scheme, authority, raw_path = _split_url(url)
        unknown = sorted(set(storage_options) - set(_OPTIONS))
        if unknown:
            raise InvalidTarget(
                f"unknown storage options {unknown} for {url}; HDFS takes {', '.join(_OPTIONS)}",
                url,
            )
        path = _normalize(raw_path, url)
        client = storage_options.get("client")
        timeout = storage_options.get("rpc_timeout", DEFAULT_RPC_TIMEOUT)
        if client is None or client == "hdfs-native":
            client = _hdfs_native_client(url, scheme, authority, storage_options)
        elif client == "pyarrow":
            client = PyArrowClient.connect(url, authority)
        elif isinstance(client, str):
            raise InvalidTarget(
                f"client={client!r} for {url} is not one of 'hdfs-native', 'pyarrow' or a "
                "client object",
                url,
            )
        elif "rpc_timeout" not in storage_options:
            timeout = None  # an object passed in (a test model) answers in-process
        period = check_lease_period(storage_options.get("stale_claim_after", LEASE_PERIOD), url)
        fs = cls(
            client,
            scheme=scheme,
            authority=authority,
            rpc_timeout=timeout,
            stale_claim_after=period,
        )
        return fs, path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scheme}://{self.authority}, client={self.client!r})"

    def url(self, path: str) -> str:
        return self.store.shown(self._p(path))


def _hdfs_native_client(url: str, scheme: str, authority: str, options: dict[str, Any]) -> Any:
    try:
        import hdfs_native
    except ImportError:
        raise BackendNotInstalled(
            f"{url} needs the 'hdfs-native' package, which is not installed; install it with: "
            "pip install 'targets[hdfs]'",
            url,
        ) from None
    config = dict(_HDFS_NATIVE_DEFAULTS)
    config.update({str(k): str(v) for k, v in (options.get("config") or {}).items()})
    base = f"{scheme}://{authority}" if authority else None
    try:
        client = hdfs_native.Client(base, config, options.get("config_dir"))
    except (RuntimeError, ValueError, OSError) as exc:
        text = str(exc)
        if "fs.defaultFS" in text:
            raise InvalidTarget(
                f"{url} names no NameNode and no default filesystem is configured; write "
                f"{scheme}://<namenode>:<port>/path, or set fs.defaultFS (core-site.xml in "
                "HADOOP_CONF_DIR, or config={'fs.defaultFS': ...})",
                url,
            ) from exc
        if "NameNode hosts" in text:
            raise InvalidTarget(
                f"{url}: {authority!r} is neither host:port nor a configured nameservice; "
                f"write {scheme}://<namenode>:<port>/path, or configure dfs.ha.namenodes."
                f"{authority} (hdfs-site.xml in HADOOP_CONF_DIR, or config=...)",
                url,
            ) from exc
        raise InvalidTarget(f"cannot use {url}: {text}", url) from exc
    return client


class WebHDFS(HDFS):
    """HDFS over WebHDFS (``webhdfs://namenode:9870/path``, ``swebhdfs://`` for HTTPS).

    Commits use ``op=RENAME&renameoptions=NONE``, which a NameNode runs as ``rename2``.
    HttpFS gateways ignore ``renameoptions``: they are detected and refused for strict
    targets (G6). Storage options: ``user`` (``user.name``), ``rpc_timeout``, ``verify``
    (TLS verification for swebhdfs), ``client`` (a client object, for tests),
    ``stale_claim_after`` (as for `HDFS`).
    """

    protocol: ClassVar[str] = "webhdfs"
    _client_hint: ClassVar[str] = (
        "point webhdfs:// at the NameNode's HTTP port (9870) instead of an HttpFS gateway, "
        "or use hdfs:// with hdfs-native"
    )

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[WebHDFS, str]:
        scheme, authority, raw_path = _split_url(url)
        allowed = ("client", "user", "rpc_timeout", "verify", "stale_claim_after")
        unknown = sorted(set(storage_options) - set(allowed))
        if unknown:
            raise InvalidTarget(
                f"unknown storage options {unknown} for {url}; WebHDFS takes {', '.join(allowed)}",
                url,
            )
        if not authority:
            raise InvalidTarget(
                f"{url} names no server; write {scheme}://<namenode>:<http port>/path", url
            )
        path = _normalize(raw_path, url)
        timeout = storage_options.get("rpc_timeout", DEFAULT_RPC_TIMEOUT)
        client = storage_options.get("client")
        if client is None:
            http = "https" if scheme == "swebhdfs" else "http"
            client = WebHDFSClient(
                f"{http}://{authority}/webhdfs/v1",
                user=storage_options.get("user"),
                timeout=timeout if timeout is not None else DEFAULT_RPC_TIMEOUT,
                verify=storage_options.get("verify", True),
            )
        # requests enforces the timeout itself; no extra deadline thread is needed.
        period = check_lease_period(storage_options.get("stale_claim_after", LEASE_PERIOD), url)
        fs = cls(
            client, scheme=scheme, authority=authority, rpc_timeout=None, stale_claim_after=period
        )
        return fs, path
