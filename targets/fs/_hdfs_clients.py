"""The HDFS clients besides hdfs-native, behind the methods of ``hdfs_native.Client``:
`PyArrowClient` (pyarrow's ``HadoopFileSystem``, libhdfs + JVM, only the old rename) and
`WebHDFSClient` (REST; ``op=RENAME&renameoptions=NONE`` is ``rename2`` on a NameNode, while
HttpFS gateways ignore it). Both raise the exceptions hdfs-native raises, so the HDFS adapter
translates them in one place."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import posixpath
import tempfile
import urllib.parse
from typing import IO, Any

from targets.errors import BackendNotInstalled
from targets.fs._names import new_token

__all__ = ["DEFAULT_RPC_TIMEOUT", "PyArrowClient", "WebHDFSClient"]

DEFAULT_RPC_TIMEOUT = 20.0
"""Seconds a real client may take for one NameNode call before `NameNodeUnreachable`."""


@dataclasses.dataclass(frozen=True)
class _ClientStatus:
    path: str
    length: int
    isdir: bool
    modification_time: int
    permission: int = 0o644
    owner: str = ""
    group: str = ""
    access_time: int = 0
    replication: int | None = None
    blocksize: int | None = None


class PyArrowClient:
    """pyarrow's ``HadoopFileSystem`` (or any ``pyarrow.fs.FileSystem``) behind the client
    interface. It has no ``rename2``: ``move`` is libhdfs's old rename, which moves into an
    existing directory; creating is check-then-create. Strict targets refuse it (G6)."""

    supports_rename2 = False
    supports_exclusive_create = False
    description = "pyarrow's HadoopFileSystem (libhdfs)"

    def __init__(self, filesystem: Any) -> None:
        self.fs = filesystem

    @classmethod
    def connect(cls, url: str, authority: str) -> PyArrowClient:
        try:
            from pyarrow import fs as pafs
        except ImportError:
            raise BackendNotInstalled(
                f"client='pyarrow' for {url} needs pyarrow; pip install pyarrow", url
            ) from None
        host, _, port = authority.partition(":")
        try:
            hadoop = pafs.HadoopFileSystem(host or "default", int(port) if port else 8020)
        except (OSError, ValueError) as exc:
            raise BackendNotInstalled(
                f"client='pyarrow' for {url} needs libhdfs and a JVM (HADOOP_HOME, JAVA_HOME, "
                f"CLASSPATH): {str(exc).splitlines()[0]}; or use the default client, "
                "hdfs-native",
                url,
            ) from exc
        return cls(hadoop)

    def __repr__(self) -> str:
        return f"PyArrowClient({type(self.fs).__name__})"

    def _status(self, info: Any) -> _ClientStatus:
        from pyarrow import fs as pafs

        mtime = info.mtime_ns // 1_000_000 if info.mtime_ns is not None else 0
        return _ClientStatus(
            path=info.path if info.path.startswith("/") else "/" + info.path,
            length=info.size or 0,
            isdir=info.type == pafs.FileType.Directory,
            modification_time=mtime,
        )

    def get_file_info(self, path: str) -> _ClientStatus:
        from pyarrow import fs as pafs

        info = self.fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(errno.ENOENT, f"File does not exist: {path}", path)
        return self._status(info)

    def list_status(self, path: str, recursive: bool = False) -> list[_ClientStatus]:
        from pyarrow import fs as pafs

        status = self.get_file_info(path)
        if not status.isdir:
            return [status]
        infos = self.fs.get_file_info(pafs.FileSelector(path, recursive=recursive))
        return sorted((self._status(i) for i in infos), key=lambda s: s.path)

    def read(self, path: str) -> Any:
        return self.fs.open_input_stream(path)

    def create(self, path: str, write_options: Any = None) -> Any:
        overwrite = bool(getattr(write_options, "overwrite", False))
        if not overwrite:
            with contextlib.suppress(FileNotFoundError):
                self.get_file_info(path)
                raise FileExistsError(errno.EEXIST, f"{path} already exists", path)
        if getattr(write_options, "create_parent", True):
            self.fs.create_dir(posixpath.dirname(path), recursive=True)
        return self.fs.open_output_stream(path)

    def mkdirs(self, path: str, permission: int = 0o755, create_parent: bool = False) -> None:
        self.fs.create_dir(path, recursive=create_parent)

    def rename_old(self, src: str, dst: str) -> bool:
        self.fs.move(src, dst)
        return True

    def delete(self, path: str, recursive: bool = False) -> bool:
        try:
            status = self.get_file_info(path)
        except FileNotFoundError:
            return False
        if status.isdir:
            from pyarrow import fs as pafs

            if not recursive and self.fs.get_file_info(pafs.FileSelector(path)):
                raise OSError(errno.ENOTEMPTY, f"{path} is not empty", path)
            self.fs.delete_dir(path)
        else:
            self.fs.delete_file(path)
        return True


# --------------------------------------------------------------------------------------
# WebHDFS


_REMOTE_EXCEPTIONS: dict[str, type[OSError]] = {
    "FileNotFoundException": FileNotFoundError,
    "FileAlreadyExistsException": FileExistsError,
    "AlreadyBeingCreatedException": FileExistsError,
    "AccessControlException": PermissionError,
    "SecurityException": PermissionError,
}


class WebHDFSClient:
    """The client interface over the WebHDFS REST API (``/webhdfs/v1``).

    ``rename`` sends ``op=RENAME&renameoptions=NONE`` (or ``OVERWRITE``), which a NameNode
    executes as ``rename2``. HttpFS ignores ``renameoptions`` and performs the old rename, so
    `supports_rename2` asks the server once, harmlessly (a rename2 of a path that does not
    exist: a NameNode answers "not found", HttpFS answers ``{"boolean": false}``).
    """

    supports_exclusive_create = True

    def __init__(
        self,
        base_url: str,
        *,
        user: str | None = None,
        timeout: float = DEFAULT_RPC_TIMEOUT,
        session: Any = None,
        verify: Any = True,
    ) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.user = user
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.verify = verify
        self._rename2: bool | None = None
        self.description = f"the WebHDFS server at {self.base_url}"

    def __repr__(self) -> str:
        return f"WebHDFSClient({self.base_url!r})"

    def _request(
        self,
        method: str,
        path: str,
        op: str,
        *,
        data: Any = None,
        redirect: bool = True,
        url: str | None = None,
        **params: Any,
    ) -> Any:
        import requests

        query = {"op": op, **{k: v for k, v in params.items() if v is not None}}
        if self.user:
            query["user.name"] = self.user
        target = url or self.base_url + urllib.parse.quote(path, safe="/")
        try:
            resp = self.session.request(
                method,
                target,
                params=None if url else query,
                data=data,
                allow_redirects=redirect,
                timeout=(min(self.timeout, 10.0), self.timeout),
                headers={"Content-Type": "application/octet-stream"} if data is not None else None,
            )
        except requests.Timeout as exc:
            raise TimeoutError(errno.ETIMEDOUT, f"WebHDFS {op} timed out: {exc}") from exc
        except requests.ConnectionError as exc:
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"Connection refused: WebHDFS {op}: {exc}"
            ) from exc
        if resp.status_code >= 400:
            self._raise(resp, op, path)
        return resp

    @staticmethod
    def _raise(resp: Any, op: str, path: str) -> None:
        try:
            remote = resp.json()["RemoteException"]
            exception, message = remote["exception"], remote.get("message", "")
            java = remote.get("javaClassName", exception)
        except (ValueError, KeyError, TypeError):
            raise OSError(
                f"WebHDFS {op} {path}: HTTP {resp.status_code} {resp.text[:200]}"
            ) from None
        builtin = _REMOTE_EXCEPTIONS.get(exception)
        if builtin is not None:
            raise builtin(message)
        raise RuntimeError(f'RPCError("{java}", "{message}")')

    @staticmethod
    def _status(path: str, raw: dict[str, Any]) -> _ClientStatus:
        return _ClientStatus(
            path=path,
            length=int(raw.get("length", 0)),
            isdir=raw.get("type") == "DIRECTORY",
            modification_time=int(raw.get("modificationTime", 0)),
            permission=int(str(raw.get("permission", "644")), 8),
            owner=raw.get("owner", ""),
            group=raw.get("group", ""),
        )

    def get_file_info(self, path: str) -> _ClientStatus:
        raw = self._request("GET", path, "GETFILESTATUS").json()["FileStatus"]
        return self._status(path, raw)

    def list_status(self, path: str, recursive: bool = False) -> list[_ClientStatus]:
        listing = self._request("GET", path, "LISTSTATUS").json()["FileStatuses"]["FileStatus"]
        out: list[_ClientStatus] = []
        for raw in sorted(listing, key=lambda r: r.get("pathSuffix", "")):
            suffix = raw.get("pathSuffix", "")
            child = posixpath.join(path, suffix) if suffix else path
            status = self._status(child, raw)
            out.append(status)
            if recursive and status.isdir:
                out.extend(self.list_status(child, True))
        return out

    def read(self, path: str) -> Any:
        resp = self._request("GET", path, "OPEN")
        return io.BytesIO(resp.content)

    def create(self, path: str, write_options: Any = None) -> _WebHDFSWriter:
        overwrite = bool(getattr(write_options, "overwrite", False))
        if not getattr(write_options, "create_parent", True):
            parent = self.get_file_info(posixpath.dirname(path))
            if not parent.isdir:
                raise NotADirectoryError(errno.ENOTDIR, f"{parent.path} is a file", path)
        return _WebHDFSWriter(self, path, overwrite)

    def _upload(self, path: str, overwrite: bool, body: IO[bytes]) -> None:
        flag = "true" if overwrite else "false"
        first = self._request("PUT", path, "CREATE", redirect=False, overwrite=flag)
        location = first.headers.get("Location")
        if first.status_code == 201 and location is None:
            return
        if location is None:
            raise OSError(f"WebHDFS CREATE {path}: the server sent no DataNode location")
        body.seek(0)
        self._request("PUT", path, "CREATE", data=body, url=location)

    def mkdirs(self, path: str, permission: int = 0o755, create_parent: bool = False) -> None:
        if not create_parent:
            parent = self.get_file_info(posixpath.dirname(path))
            if not parent.isdir:
                raise NotADirectoryError(errno.ENOTDIR, f"{parent.path} is a file", path)
        ok = self._request("PUT", path, "MKDIRS", permission=f"{permission:o}").json()
        if not ok.get("boolean", False):
            raise FileExistsError(errno.EEXIST, f"cannot create the directory {path}", path)

    def supports_rename2(self) -> bool:
        if self._rename2 is None:
            probe = f"/.targets-rename2-probe-{new_token()}"
            try:
                resp = self._request(
                    "PUT", probe, "RENAME", destination=probe + "-dst", renameoptions="NONE"
                )
            except FileNotFoundError:
                self._rename2 = True
            else:
                self._rename2 = "boolean" not in _json_or_empty(resp)
        return self._rename2

    def rename(self, src: str, dst: str, overwrite: bool = False) -> None:
        option = "OVERWRITE" if overwrite else "NONE"
        resp = self._request("PUT", src, "RENAME", destination=dst, renameoptions=option)
        answer = _json_or_empty(resp)
        if "boolean" in answer:
            # HttpFS: renameoptions ignored, the old rename ran. Never reached through HDFS
            # (supports_rename2 is asked first); here for direct users of this client.
            raise RuntimeError(
                'RPCError("UnsupportedOperationException", "the server ignored renameoptions '
                '(HttpFS?): it performed the old rename")'
            )

    def rename_old(self, src: str, dst: str) -> bool:
        resp = self._request("PUT", src, "RENAME", destination=dst)
        return bool(_json_or_empty(resp).get("boolean", False))

    def delete(self, path: str, recursive: bool = False) -> bool:
        resp = self._request("DELETE", path, "DELETE", recursive=str(recursive).lower())
        return bool(_json_or_empty(resp).get("boolean", False))


def _json_or_empty(resp: Any) -> dict[str, Any]:
    if not resp.content:
        return {}
    try:
        value = resp.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _WebHDFSWriter(io.RawIOBase):
    """Spools a file and uploads it at ``close`` (one CREATE): nothing is visible before."""

    def __init__(self, client: WebHDFSClient, path: str, overwrite: bool) -> None:
        self._client = client
        self._path = path
        self._overwrite = overwrite
        self._spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 closed in close()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._spool.write(bytes(memoryview(data).cast("B")))

    def close(self) -> None:
        if not self.closed:
            try:
                self._client._upload(self._path, self._overwrite, self._spool)
            finally:
                self._spool.close()
                super().close()
