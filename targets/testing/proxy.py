"""A reverse HTTP proxy on loopback that counts requests, and breaks them on purpose.

Point a client at the proxy instead of the server (``endpoint_url=proxy.endpoint``): every
request passes through it, whatever the client (boto3, s3fs, gcsfs, obstore's Rust client),
so requests are counted the same way for all of them, on the wire, and faults happen where
they happen in a real network. Rules choose requests and what goes wrong with them:

- `Proxy.lose_response`: the request is forwarded and carried out by the server, then the
  client's connection is reset without an answer (the answer was lost on the way back);
- `Proxy.reset_request`: the connection is reset after ``after`` bytes of the request body,
  and nothing reaches the server (an upload cut off midway);
- `Proxy.respond`: the proxy answers itself with a status, say 503 ``SlowDown``, and the
  server never sees the request;
- `Proxy.rewrite`: the request is changed before it is forwarded (drop a header).

::

    from targets.testing.proxy import Proxy, s3_request
    from targets.testing.servers import moto_server

    with moto_server(buckets=["out"]) as s3, Proxy(s3.endpoint) as proxy:
        options = {**s3.options(), "endpoint_url": proxy.endpoint}
        proxy.lose_response(s3_request("PutObject!", "/out/report.csv"))
        targets.target("s3://out/report.csv", **options).write_text("a,b\\n")
        # botocore retried, got 412 for its own write; the writer token says it is ours

Every rule acts on its first ``times`` matching requests (``times=None``: on all of them).
``proxy.log`` lists what happened to each request. With a ``classify`` function (`s3_kind`,
`gcs_kind`), ``proxy.counts`` counts forwarded requests by kind and ``proxy.copied`` the
bytes the server copied server-side. Loopback only: the proxy listens on 127.0.0.1 and
forwards to the upstream URL it was given.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import http.client
import http.server
import json
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "Exchange",
    "Proxy",
    "Request",
    "Rule",
    "Seen",
    "gcs_error",
    "gcs_kind",
    "gcs_upload_of",
    "s3_error",
    "s3_kind",
    "s3_request",
]

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


# -- what rules and classifiers see ----------------------------------------------------------


class Request:
    """A request as rules see it. ``body`` is None for rules that act before the body is
    read (`Proxy.reset_request`)."""

    def __init__(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> None:
        parts = urllib.parse.urlsplit(target)
        self.method = method
        self.target = target
        self.path = urllib.parse.unquote(parts.path)
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query, True).items()}
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"


class Exchange(Request):
    """One request and its answer, as the classifiers see them."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        status: int,
        response_headers: Mapping[str, str],
        response_body: bytes,
        body: bytes | None = None,
    ) -> None:
        super().__init__(method, target, headers, body)
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
    cond = "!" if "if-none-match" in ex.headers else ""
    if ex.method == "PUT" and "x-amz-copy-source" in ex.headers:
        return _s3_copy_kind(ex, size_of, cond)
    has_key = ex.path.strip("/").count("/") >= 1
    by_method = _S3_KINDS.get(ex.method)
    return (by_method(ex.query, has_key, cond) if by_method else ex.method), 0


def _s3_copy_kind(ex: Exchange, size_of: SizeOf, cond: str) -> tuple[str, int]:
    ok = 200 <= ex.status < 300
    if "partNumber" not in ex.query:
        return "CopyObject" + cond, size_of(ex.path) if ok else 0
    rng = ex.headers.get("x-amz-copy-source-range", "")
    if rng.startswith("bytes="):
        start, _, end = rng[6:].partition("-")
        return "UploadPartCopy", int(end) - int(start) + 1 if ok else 0
    source = urllib.parse.unquote(ex.headers["x-amz-copy-source"]).split("?")[0]
    return "UploadPartCopy", size_of("/" + source.lstrip("/")) if ok else 0


def _s3_put(q: Mapping[str, str], has_key: bool, cond: str) -> str:
    if "partNumber" in q:
        return "UploadPart"
    return "PutObject" + cond if has_key else "CreateBucket"


def _s3_post(q: Mapping[str, str], has_key: bool, cond: str) -> str:
    if "uploads" in q:
        return "CreateMultipartUpload"
    if "uploadId" in q:
        return "CompleteMultipartUpload" + cond
    return "DeleteObjects" if "delete" in q else "POST"


def _s3_get(q: Mapping[str, str], has_key: bool, cond: str) -> str:
    if "uploads" in q:
        return "ListMultipartUploads"
    if "uploadId" in q:
        return "ListParts"
    if not has_key or "list-type" in q or "prefix" in q:
        return "ListObjects"
    return "GetObject"


_S3_KINDS: dict[str, Callable[[Mapping[str, str], bool, str], str]] = {
    "PUT": _s3_put,
    "POST": _s3_post,
    "GET": _s3_get,
    "DELETE": lambda q, has_key, cond: (
        "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
    ),
    "HEAD": lambda q, has_key, cond: "HeadObject" if has_key else "HeadBucket",
}


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


def s3_request(kind: str, path_contains: str = "") -> Callable[[Request], bool]:
    """A rule matcher: S3 requests of ``kind`` (as `s3_kind` names them, ``"PutObject!"``
    for a conditional put) whose path contains ``path_contains``."""

    def match(request: Request) -> bool:
        ex = Exchange(request.method, request.target, request.headers, 0, {}, b"")
        return s3_kind(ex, lambda path: 0)[0] == kind and path_contains in request.path

    return match


def gcs_upload_of(key: str, *, conditional: bool | None = None) -> Callable[[Request], bool]:
    """A rule matcher: the single-request upload of the object ``key`` (its name is in the
    body), optionally only with (True) or without (False) ``ifGenerationMatch=0``."""
    needle = json.dumps(key).encode()

    def match(request: Request) -> bool:
        if request.method != "POST" or request.query.get("uploadType") != "multipart":
            return False
        if conditional is not None and (request.query.get("ifGenerationMatch") == "0") != (
            conditional
        ):
            return False
        return request.body is not None and b'"name": ' + needle in request.body

    return match


def s3_error(code: str, message: str = "") -> tuple[bytes, dict[str, str]]:
    """The body and headers of an S3 error answer with ``code`` (for `Proxy.respond`)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message or code}</Message>"
        "<RequestId>targets-proxy</RequestId></Error>"
    ).encode()
    return body, {"Content-Type": "application/xml"}


def gcs_error(status: int, message: str = "") -> tuple[bytes, dict[str, str]]:
    """The body and headers of a GCS JSON API error answer (for `Proxy.respond`)."""
    doc = {"error": {"code": status, "message": message or f"error {status}", "errors": []}}
    return json.dumps(doc).encode(), {"Content-Type": "application/json"}


# -- rules ----------------------------------------------------------------------------------


LOSE = "lose"
RESET = "reset"
RESPOND = "respond"
REWRITE = "rewrite"


@dataclasses.dataclass
class Rule:
    """What to do to the requests that ``match``: see the `Proxy` methods that make rules."""

    match: Callable[[Request], bool]
    action: str
    times: int | None = 1
    """How many matching requests to act on (None: all)."""
    status: int = 0
    body: bytes = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    after: int = 0
    change: Callable[[Request], None] | None = None
    hits: int = 0
    """How many requests the rule acted on so far."""

    def _take(self, request: Request) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if not self.match(request):
            return False
        self.hits += 1
        return True


@dataclasses.dataclass(frozen=True)
class Seen:
    """What happened to one request: ``outcome`` is ``"forwarded"``, ``"lost"`` (forwarded,
    answer dropped), ``"reset"`` (cut off, not forwarded) or ``"answered"`` (by the proxy);
    ``status`` is the status the server or the proxy gave (0 for a reset)."""

    method: str
    target: str
    outcome: str
    status: int
    kind: str = ""


class Proxy:
    """A reverse proxy on 127.0.0.1 in front of ``upstream`` (see the module doc)."""

    def __init__(
        self,
        upstream: str,
        classify: Classifier | None = None,
        size_of: SizeOf = lambda path: 0,
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.classify = classify
        self.size_of = size_of
        self.counts: collections.Counter[str] = collections.Counter()
        """Forwarded requests by kind (``classify``'s name, else the method)."""
        self.copied = 0
        self.log: list[Seen] = []
        self.rules: list[Rule] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._upstream_base = f"http://{self.upstream_host}:{self.upstream_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"<Proxy {self.endpoint} -> {self._upstream_base}>"

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- counting ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the counts and the log (not the rules)."""
        with self._lock:
            self.counts.clear()
            self.copied = 0
            self.log.clear()

    def snapshot(self) -> tuple[dict[str, int], int]:
        with self._lock:
            return dict(self.counts), self.copied

    # -- rules ---------------------------------------------------------------------------

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def lose_response(self, match: Callable[[Request], bool], times: int | None = 1) -> Rule:
        """Forward matching requests, then reset the client's connection without answering."""
        return self._add(Rule(match, LOSE, times))

    def reset_request(
        self, match: Callable[[Request], bool], after: int = 0, times: int | None = 1
    ) -> Rule:
        """Reset the connection of matching requests after ``after`` bytes of their body;
        nothing is forwarded. ``match`` sees the request without its body."""
        return self._add(Rule(match, RESET, times, after=after))

    def respond(
        self,
        match: Callable[[Request], bool],
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> Rule:
        """Answer matching requests with ``status`` (and ``body``) instead of forwarding."""
        return self._add(Rule(match, RESPOND, times, status, body, dict(headers or {})))

    def rewrite(
        self,
        match: Callable[[Request], bool],
        change: Callable[[Request], None],
        times: int | None = None,
    ) -> Rule:
        """Let ``change`` modify matching requests (``headers``, ``target``, ``body``) before
        they are forwarded."""
        return self._add(Rule(match, REWRITE, times, change=change))

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules.clear()

    def _rule(self, request: Request, actions: tuple[str, ...]) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.action in actions and rule._take(request):
                    return rule
        return None

    def _record(self, seen: Seen, copied: int = 0) -> None:
        with self._lock:
            self.log.append(seen)
            if seen.outcome == "forwarded":
                self.counts[seen.kind] += 1
                self.copied += copied


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection reset on purpose is not an error worth a traceback


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: Proxy

    def setup(self) -> None:
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        if self._upstream is not None:
            self._upstream.close()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self, limit: int | None = None) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            if limit is not None:
                return self.rfile.read1(limit) if limit else b""
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if not length:
            return None
        n = int(length) if limit is None else min(limit, int(length))
        return self.rfile.read(n)

    def _abort(self) -> None:
        """Reset the client's connection (RST, not an orderly close)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()

    def _send_upstream(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> http.client.HTTPResponse:
        owner = self.owner
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        sent["Host"] = f"{owner.upstream_host}:{owner.upstream_port}"
        if body is not None or method in ("PUT", "POST"):
            sent["Content-Length"] = str(len(body or b""))
        for attempt in (1, 2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    owner.upstream_host, owner.upstream_port, timeout=600
                )
            try:
                self._upstream.request(method, target, body=body, headers=sent)
                return self._upstream.getresponse()
            except (ConnectionError, http.client.HTTPException):
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _forward(self) -> None:
        owner = self.owner
        request = Request(self.command, self.path, dict(self.headers.items()), None)
        rule = owner._rule(request, (RESET,))
        if rule is not None:
            self._body(rule.after)
            owner._record(Seen(self.command, self.path, "reset", 0))
            self._abort()
            return
        request.body = self._body()
        rule = owner._rule(request, (RESPOND,))
        if rule is not None:
            owner._record(Seen(self.command, self.path, "answered", rule.status))
            self._answer(rule)
            return
        self._pass_on(request)

    def _answer(self, rule: Rule) -> None:
        """Answer the request with ``rule``'s status, headers and body."""
        self.send_response_only(rule.status)
        for name, value in rule.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(rule.body)))
        self.end_headers()
        if self.command != "HEAD" and rule.body:
            self.wfile.write(rule.body)

    def _pass_on(self, request: Request) -> None:
        """Forward the request upstream (rewritten, if a rule says so), record it, and relay
        the answer (unless a rule loses it)."""
        owner = self.owner
        headers: Mapping[str, str] = dict(self.headers.items())
        rule = owner._rule(request, (REWRITE,))
        if rule is not None and rule.change is not None:
            rule.change(request)  # sees and edits lower-case header names
            headers = request.headers
        resp = self._send_upstream(self.command, request.target, headers, request.body)
        data = resp.read()
        kind, copied = self.command, 0
        if owner.classify is not None:
            exchange = Exchange(
                self.command,
                request.target,
                headers,
                resp.status,
                dict(resp.getheaders()),
                data,
                request.body,
            )
            kind, copied = owner.classify(exchange, owner.size_of)
        if owner._rule(request, (LOSE,)) is not None:
            owner._record(Seen(self.command, request.target, "lost", resp.status, kind))
            self._abort()
            return
        owner._record(Seen(self.command, request.target, "forwarded", resp.status, kind), copied)
        self._relay(resp, data)

    def _relay(self, resp: http.client.HTTPResponse, data: bytes) -> None:
        """Send the upstream answer on to the client."""
        owner = self.owner
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
