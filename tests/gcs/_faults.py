"""Seams into gcsfs's request layer for the GCS tests: request logs and lost responses.

`RequestLog` wraps ``GCSFileSystem._request`` (the layer every gcsfs JSON API call passes
through, above gcsfs's own retries). `LoseResponses` sits under it, on the aiohttp session:
the chosen request reaches the server and is carried out, then the client sees the
connection drop, as when a response is lost in the network; gcsfs then retries it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from fsspec.asyn import sync
from gcsfs.core import GCSFileSystem

Matcher = Callable[[str, str, dict[str, Any], dict[str, str], bytes], bool]
"""(method, url, query parameters, headers, body) -> whether to lose this request's
response."""


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    url: str
    params: dict[str, Any]

    @property
    def kind(self) -> str:
        """A short name: upload-multipart, upload-resumable, chunk, get, list, delete..."""
        path = urlsplit(self.url).path
        upload = self.params.get("uploadType")
        if upload:
            return f"upload-{upload}"
        if "upload_id=" in self.url:
            return "chunk" if self.method == "PUT" else f"session-{self.method.lower()}"
        if "/rewriteTo/" in path:
            return "rewrite"
        if "/copyTo/" in path or "/compose" in path:
            return "copy"
        if self.method == "DELETE":
            return "delete"
        if path.rstrip("/").endswith("/o"):
            return "list"
        return self.method.lower()


class RequestLog:
    """Every request a `GCSFileSystem` sends through ``_request``, in order."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def install(self, monkeypatch: Any) -> RequestLog:
        original = GCSFileSystem._request
        log = self

        async def logged(fs: GCSFileSystem, method: str, path: str, *args: Any, **kwargs: Any):
            url = fs._format_path(path, args)
            params = {
                k: v
                for k, v in kwargs.items()
                if v is not None and k not in ("headers", "json", "data")
            }
            log.requests.append(Request(method, url, params))
            return await original(fs, method, path, *args, **kwargs)

        monkeypatch.setattr(GCSFileSystem, "_request", logged)
        return self

    def clear(self) -> None:
        self.requests.clear()

    def kinds(self) -> list[str]:
        return [r.kind for r in self.requests]


class _Ctx:
    def __init__(self, owner: LoseResponses, method: str, url: Any, kwargs: dict[str, Any]):
        self.owner, self.method, self.url, self.kwargs = owner, method, url, kwargs
        self.cm: Any = None

    async def __aenter__(self) -> Any:
        self.cm = self.owner.session.request(self.method, self.url, **self.kwargs)
        response = await self.cm.__aenter__()
        if self.owner.should_lose(self.method, str(self.url), self.kwargs):
            await response.read()  # the server has done it
            await self.cm.__aexit__(None, None, None)
            self.owner.lost.append((self.method, str(self.url), response.status))
            if self.owner.then is not None:
                await self.owner.then()
            raise aiohttp.ServerDisconnectedError()
        return response

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.cm.__aexit__(*exc)


class LoseResponses:
    """Make ``gcs`` lose the response of requests that ``match`` (each at most ``times``)."""

    def __init__(
        self,
        gcs: GCSFileSystem,
        match: Matcher,
        times: int = 1,
        then: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """``then`` runs (on gcsfs's loop) after a response is lost, before the retry."""
        self.gcs, self.match, self.times, self.then = gcs, match, times, then
        self.lost: list[tuple[str, str, int]] = []
        sync(gcs.loop, gcs._set_session)
        self.session: aiohttp.ClientSession = gcs._session

    def should_lose(self, method: str, url: str, kwargs: dict[str, Any]) -> bool:
        if len(self.lost) >= self.times:
            return False
        data = kwargs.get("data")
        body = data.getvalue() if hasattr(data, "getvalue") else b""
        params = dict(kwargs.get("params") or {})
        return self.match(method, url, params, dict(kwargs.get("headers") or {}), body)

    def request(self, method: str, url: Any, **kwargs: Any) -> _Ctx:
        return _Ctx(self, method, url, kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def __enter__(self) -> LoseResponses:
        self.gcs._session = self
        return self

    def __exit__(self, *exc: Any) -> None:
        self.gcs._session = self.session


def single_request_upload_of(key: str) -> Matcher:
    """Matches the single-request (multipart) upload of the object ``key``."""
    needle = f'"name": "{key}"'.encode()

    def match(
        method: str, url: str, params: dict[str, Any], headers: dict[str, str], body: bytes
    ) -> bool:
        return method == "POST" and params.get("uploadType") == "multipart" and needle in body

    return match


def final_chunk_of_session() -> Matcher:
    """Matches the chunk that finalises a resumable upload (its Content-Range has a total)."""

    def match(
        method: str, url: str, params: dict[str, Any], headers: dict[str, str], body: bytes
    ) -> bool:
        content_range = headers.get("Content-Range", "")
        return method == "PUT" and "upload_id=" in url and not content_range.endswith("/*")

    return match


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)
