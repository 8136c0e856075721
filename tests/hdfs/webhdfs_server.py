"""A WebHDFS REST server over the HDFS model, on 127.0.0.1, for the WebHDFS client tests.

``httpfs=True`` behaves like an HttpFS gateway: ``renameoptions`` is ignored and RENAME is
the old rename, answering ``{"boolean": ...}``."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from targets.testing.hdfs_model import HDFSModel, ModelWriteOptions, _split

PREFIX = "/webhdfs/v1"


def _remote(exc: BaseException) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, FileNotFoundError):
        name, java, status = "FileNotFoundException", "java.io.FileNotFoundException", 404
    elif isinstance(exc, FileExistsError):
        name, java, status = (
            "FileAlreadyExistsException",
            "org.apache.hadoop.fs.FileAlreadyExistsException",
            403,
        )
    else:
        text = str(exc)
        java = text.split('"')[1] if text.startswith("RPCError(") else "java.io.IOException"
        name, status = java.rsplit(".", 1)[-1], 403
    message = exc.args[1] if isinstance(exc, OSError) and len(exc.args) > 1 else str(exc)
    return status, {
        "RemoteException": {"exception": name, "javaClassName": java, "message": str(message)}
    }


class WebHDFSServer:
    def __init__(self, model: HDFSModel, *, httpfs: bool = False) -> None:
        self.model = model
        self.httpfs = httpfs
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
                data = (
                    b""
                    if body is None
                    else (body if isinstance(body, bytes) else json.dumps(body).encode())
                )
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                path = urllib.parse.unquote(url.path[len(PREFIX) :]) or "/"
                q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                server.requests.append((method, path, q))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    self._dispatch(method, path, q, body)
                except (OSError, RuntimeError) as exc:
                    self._send(*_remote(exc))

            def _dispatch(self, method: str, path: str, q: dict[str, str], body: bytes) -> None:
                m = server.model
                op = q.get("op", "").upper()
                if op == "GETFILESTATUS":
                    self._send(200, {"FileStatus": _status(m.get_file_info(path))})
                elif op == "LISTSTATUS":
                    entries = [_status(s, suffix=True) for s in m.list_status(path)]
                    self._send(200, {"FileStatuses": {"FileStatus": entries}})
                elif op == "OPEN":
                    data = m.read_file(path)
                    offset = int(q.get("offset", 0))
                    end = offset + int(q["length"]) if "length" in q else len(data)
                    self._send(200, data[offset:end])
                elif op == "MKDIRS":
                    m.mkdirs(path, int(q.get("permission", "755"), 8), True)
                    self._send(200, {"boolean": True})
                elif op == "DELETE":
                    self._send(200, {"boolean": m.delete(path, q.get("recursive") == "true")})
                elif op == "RENAME":
                    dst = q["destination"]
                    if "renameoptions" in q and not server.httpfs:
                        m.rename(path, dst, q["renameoptions"] == "OVERWRITE")
                        self._send(200)
                    else:
                        self._send(200, {"boolean": m.rename_old(path, dst)})
                elif op == "CREATE" and "datanode" not in q:
                    _split(path)
                    here = f"http://127.0.0.1:{server.port}{PREFIX}{urllib.parse.quote(path)}"
                    query = urllib.parse.urlencode({**q, "datanode": "true"})
                    self._send(307, headers={"Location": f"{here}?{query}"})
                elif op == "CREATE":
                    options = ModelWriteOptions(overwrite=q.get("overwrite") == "true")
                    with m.create(path, options) as f:
                        f.write(body)
                    self._send(201)
                else:
                    self._send(
                        400,
                        {
                            "RemoteException": {
                                "exception": "IllegalArgumentException",
                                "javaClassName": "java.lang.IllegalArgumentException",
                                "message": f"Invalid value for webhdfs parameter op: {op}",
                            }
                        },
                    )

            def do_GET(self) -> None:
                self._handle("GET")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def do_POST(self) -> None:
                self._handle("POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> WebHDFSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _status(s: Any, suffix: bool = False) -> dict[str, Any]:
    return {
        "pathSuffix": s.path.rsplit("/", 1)[-1] if suffix else "",
        "type": "DIRECTORY" if s.isdir else "FILE",
        "length": s.length,
        "modificationTime": s.modification_time,
        "accessTime": s.access_time,
        "permission": f"{s.permission:o}",
        "owner": s.owner,
        "group": s.group,
        "replication": s.replication or 0,
        "blockSize": s.blocksize or 0,
    }
