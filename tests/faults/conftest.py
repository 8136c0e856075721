"""Fixtures of the fault tests: fault proxies in front of the session's servers, and clients
that retry without waiting (the waits are the clients' business, not what is tested)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from targets.testing.proxy import Proxy, gcs_kind, s3_kind
from tests.fixtures import StoreRoot


class _NoSleep:
    """The ``time`` module with a ``sleep`` that returns at once."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        pass


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore, gcsfs and the commit protocols retry at once instead of backing off (the
    number of attempts is unchanged)."""
    import asyncio

    import botocore.endpoint
    import gcsfs.retry

    from targets.fs.objectstore import conditional as _objectstore

    real_sleep = asyncio.sleep

    async def no_wait(delay: float, *args: Any) -> Any:
        return await real_sleep(0)

    monkeypatch.setattr(botocore.endpoint, "time", _NoSleep())
    monkeypatch.setattr(_objectstore, "time", _NoSleep())
    monkeypatch.setattr(gcsfs.retry.asyncio, "sleep", no_wait)


@pytest.fixture(scope="module")
def _s3_proxy(s3_server: dict[str, Any]) -> Iterator[Proxy]:
    with Proxy(s3_server["endpoint"], s3_kind) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def _gcs_proxy(gcs_server: Any) -> Iterator[Proxy]:
    with Proxy(gcs_server.endpoint, gcs_kind) as proxy:
        yield proxy


@pytest.fixture
def s3_proxy(
    _s3_proxy: Proxy, s3_server: dict[str, Any], no_backoff: None
) -> Iterator[tuple[Proxy, StoreRoot]]:
    """A fault proxy in front of the session's moto server (no rules, empty log), and a
    fresh prefix reached through it."""
    proxy = _s3_proxy
    proxy.clear()
    proxy.reset()
    options = {**s3_server["options"], "endpoint_url": proxy.endpoint}
    yield proxy, StoreRoot(f"s3://{s3_server['bucket']}/t-{uuid.uuid4().hex[:12]}", options)
    proxy.clear()


@pytest.fixture
def gcs_proxy(
    _gcs_proxy: Proxy, gcs_server: Any, no_backoff: None
) -> Iterator[tuple[Proxy, StoreRoot]]:
    """A fault proxy in front of the session's fake-gcs-server (no rules, empty log), and a
    fresh prefix reached through it (parts of 256 KiB, so that multipart paths run with
    small files)."""
    from tests.fixtures.gcs import BUCKET

    proxy = _gcs_proxy
    proxy.clear()
    proxy.reset()
    options = {**gcs_server.options(), "endpoint_url": proxy.endpoint, "part_size": 256 << 10}
    yield proxy, StoreRoot(f"gs://{BUCKET}/t-{uuid.uuid4().hex[:12]}", options)
    proxy.clear()
