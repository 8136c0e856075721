"""A counting reverse proxy on loopback: how many requests of each kind a commit path sends,
and how many bytes it makes the store copy server-side.

Every client under test (boto3, s3fs, gcsfs, Luigi, obstore's Rust client) is pointed at the
proxy instead of the server, so all of them are counted the same way, on the wire, without
hooks into any of them. The proxy only counts; the timed runs go to the server directly.
"""

from __future__ import annotations

import collections
import http.client
import http.server
import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

_HOP_BY_HOP = {
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-length",
}


class Exchange:
    """One request and its answer, as the classifiers see them."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        status: int,
        response_headers: Mapping[str, str],
        response_body: bytes,
    ) -> None:
        parts = urllib.parse.urlsplit(target)
        self.method = method
        self.path = urllib.parse.unquote(parts.path)
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query, True).items()}
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.status = status
        self.response_headers = {k.lower(): v for k, v in response_headers.items()}
        self.response_body = response_body


SizeOf = Callable[[str], int]
"""``size_of("/bucket/key")``: an object's size, asked of the server directly (not
counted)."""

Classifier = Callable[[Exchange, SizeOf], tuple[str, int]]
"""``(exchange, size_of) -> (kind, bytes copied server-side)``."""


def s3_kind(ex: Exchange, size_of: SizeOf) -> tuple[str, int]:
    """S3 REST operations by method, query and headers (path-style addressing). A trailing
    ``!`` marks a conditional write (``If-None-Match``)."""
    q, h, method = ex.query, ex.headers, ex.method
    cond = "!" if "if-none-match" in h else ""
    has_key = ex.path.strip("/").count("/") >= 1
    if method == "PUT" and "x-amz-copy-source" in h:
        ok = 200 <= ex.status < 300
        if "partNumber" in q:
            rng = h.get("x-amz-copy-source-range", "")
            if rng.startswith("bytes="):
                start, _, end = rng[6:].partition("-")
                return "UploadPartCopy", int(end) - int(start) + 1 if ok else 0
            source = urllib.parse.unquote(h["x-amz-copy-source"]).split("?")[0]
            return "UploadPartCopy", size_of("/" + source.lstrip("/")) if ok else 0
        return "CopyObject" + cond, size_of(ex.path) if ok else 0
    if method == "PUT":
        if "partNumber" in q:
            return "UploadPart", 0
        return ("PutObject" + cond if has_key else "CreateBucket"), 0
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload", 0
        if "uploadId" in q:
            return "CompleteMultipartUpload" + cond, 0
        if "delete" in q:
            return "DeleteObjects", 0
        return "POST", 0
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in q else "DeleteObject"), 0
    if method == "HEAD":
        return ("HeadObject" if has_key else "HeadBucket"), 0
    if method == "GET":
        if "uploads" in q:
            return "ListMultipartUploads", 0
        if "uploadId" in q:
            return "ListParts", 0
        if not has_key or "list-type" in q or "prefix" in q:
            return "ListObjects", 0
        return "GetObject", 0
    return method, 0


def gcs_kind(ex: Exchange, size_of: SizeOf) -> tuple[str, int]:
    """GCS JSON API calls (gcsfs, this library). A trailing ``!`` marks a conditional
    create (``ifGenerationMatch=0``)."""
    q, path, method = ex.query, ex.path, ex.method
    cond = "!" if q.get("ifGenerationMatch") == "0" else ""
    ok = 200 <= ex.status < 300
    if path.startswith("/upload/"):
        if "upload_id" in q:
            return "resumable chunk", 0
        upload = q.get("uploadType", "")
        return (f"insert{cond}" if upload != "resumable" else f"resumable start{cond}"), 0
    if "/rewriteTo/" in path or "/copyTo/" in path or "/compose" in path:
        name = "rewrite" if "/rewriteTo/" in path else "copy"
        copied = 0
        if ok and ex.response_body:
            doc = json.loads(ex.response_body)
            copied = int(doc.get("totalBytesRewritten") or doc.get("size") or 0)
            if name == "rewrite" and "resource" in doc:
                copied = int(doc["resource"].get("size", copied))
        return name + cond, copied
    if "/moveTo/" in path:
        return "move" + cond, 0
    if path.startswith("/batch/"):
        return "batch", 0
    if method == "DELETE":
        return "delete", 0
    if method == "GET" and path.rstrip("/").endswith("/o"):
        return "list", 0
    if method == "GET" and (q.get("alt") == "media" or path.startswith("/download/")):
        return "get", 0
    if method == "GET":
        return "get metadata", 0
    return method, 0


class CountingProxy:
    """A reverse proxy on 127.0.0.1 in front of ``upstream`` that counts what passes.

    ``counts`` maps a request kind (from ``classify``) to how many were sent; ``copied``
    is the bytes the server copied on the client's behalf. `snapshot` and `reset` bracket a
    measurement.
    """

    def __init__(
        self, upstream: str, classify: Classifier, size_of: SizeOf = lambda path: 0
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.classify = classify
        self.size_of = size_of
        self.counts: collections.Counter[str] = collections.Counter()
        self.copied = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._upstream_base = f"http://{self.upstream_host}:{self.upstream_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.copied = 0

    def snapshot(self) -> tuple[dict[str, int], int]:
        with self._lock:
            return dict(self.counts), self.copied

    def _record(self, kind: str, copied: int) -> None:
        with self._lock:
            self.counts[kind] += 1
            self.copied += copied


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: CountingProxy

    def setup(self) -> None:
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length else None

    def _send_upstream(self, body: bytes | None) -> http.client.HTTPResponse:
        owner = self.owner
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Host"] = f"{owner.upstream_host}:{owner.upstream_port}"
        if body is not None or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body or b""))
        for attempt in (1, 2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    owner.upstream_host, owner.upstream_port, timeout=600
                )
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                return self._upstream.getresponse()
            except (ConnectionError, http.client.HTTPException):
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _forward(self) -> None:
        body = self._body()
        resp = self._send_upstream(body)
        data = resp.read()
        response_headers = dict(resp.getheaders())
        owner = self.owner
        kind, copied = owner.classify(
            Exchange(self.command, self.path, self.headers, resp.status, response_headers, data),
            owner.size_of,
        )
        owner._record(kind, copied)
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() in _HOP_BY_HOP or name.lower() in ("server", "date"):
                continue
            if name.lower() == "location":  # resumable sessions must come back through us
                value = value.replace(owner._upstream_base, owner.endpoint)
            self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward
