"""Helpers for the S3 tests: request counting and fault injection through botocore events."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import urllib3

from targets.fs.s3 import S3FS


@contextlib.contextmanager
def count_requests(fs: S3FS) -> Iterator[collections.Counter[str]]:
    """Count every HTTP request (retries included) the filesystem's commit client sends,
    by operation name."""
    counts: collections.Counter[str] = collections.Counter()

    def before_send(event_name: str, **kwargs: Any) -> None:
        counts[event_name.rsplit(".", 1)[-1]] += 1

    events = fs.client.meta.events
    events.register("before-send.s3", before_send, unique_id="targets-test-count")
    try:
        yield counts
    finally:
        events.unregister("before-send.s3", unique_id="targets-test-count")


@contextlib.contextmanager
def lose_response(
    fs: S3FS, operation: str, matches: Callable[[Any], bool], times: int = 1
) -> Iterator[list[int]]:
    """Make ``operation`` requests that satisfy ``matches(request)`` reach the server and
    succeed there, while the client sees a dropped connection (and botocore retries).

    Yields a list holding the HTTP statuses the server gave to the lost requests.
    """
    http = urllib3.PoolManager()
    lost: list[int] = []

    def before_send(request: Any, **kwargs: Any) -> None:
        if len(lost) >= times or not matches(request):
            return None
        body = request.body
        if hasattr(body, "read"):
            pos = body.tell()
            data = body.read()
            body.seek(pos)
        else:
            data = body
        resp = http.request(
            request.method, request.url, body=data, headers=dict(request.headers), retries=False
        )
        lost.append(resp.status)
        raise botocore.exceptions.ConnectionClosedError(endpoint_url=request.url)

    events = fs.client.meta.events
    name = f"before-send.s3.{operation}"
    events.register(name, before_send, unique_id="targets-test-lose")
    try:
        yield lost
    finally:
        events.unregister(name, unique_id="targets-test-lose")
        http.clear()
