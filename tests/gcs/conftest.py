"""Fixtures for the GCS tests: a fresh backend on the session's fake-gcs-server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from gcsfs.core import GCSFileSystem

from targets.fs.gcs import GCSFS
from tests.fixtures import StoreRoot
from tests.gcs._faults import RequestLog

_foreign_connects: list[Any] = []
_guard_on = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Every socket connect of this process, including aiohttp's: anything but loopback
    # (and local sockets) is recorded, and the test that caused it fails.
    if _guard_on and event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and address and address[0] not in ("127.0.0.1", "::1"):
            _foreign_connects.append(address)


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    """Fails any GCS test that opened a connection to anything but 127.0.0.1."""
    global _guard_on
    _foreign_connects.clear()
    _guard_on = True
    try:
        yield
    finally:
        _guard_on = False
    assert not _foreign_connects, f"connections left loopback: {_foreign_connects}"


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> RequestLog:
    """The requests sent through gcsfs's request layer during the test."""
    return RequestLog().install(monkeypatch)


@pytest.fixture
def gcs(gcs_root: StoreRoot) -> GCSFileSystem:
    """A gcsfs client of its own (not fsspec's shared instance), for fault injection."""
    return GCSFileSystem(**gcs_root.options, use_listings_cache=False, skip_instance_cache=True)


@pytest.fixture
def afs(gcs: GCSFileSystem) -> GCSFS:
    """The GCS backend over the test's own client, with the smallest part (256 KiB)."""
    return GCSFS(gcs, part_size=256 * 1024, stale_claim_after=0.0)


@pytest.fixture
def base(gcs_root: StoreRoot) -> str:
    """The test's prefix as a backend path: ``bucket/<unique>``."""
    return gcs_root.url.removeprefix("gs://")


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """gcsfs waits 1-2 s, then 2-3 s... between retries; here it does not wait."""
    import gcsfs.retry

    real_sleep = gcsfs.retry.asyncio.sleep

    async def no_wait(delay: float, *args: Any) -> Any:
        return await real_sleep(0)

    monkeypatch.setattr(gcsfs.retry.asyncio, "sleep", no_wait)
