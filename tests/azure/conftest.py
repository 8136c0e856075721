"""Fixtures for the Azure tests: the session's Azurite, directly or through a loopback proxy
that counts requests and loses answers on purpose."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import targets
from targets.fs.azure import AzureStore
from targets.testing.azurite import azure_kind
from targets.testing.proxy import Proxy
from targets.testing.servers import AzuriteServer
from tests.fixtures import StoreRoot
from tests.fixtures.azure import CONTAINER, PART_SIZE

_foreign_connects: list[Any] = []
_guard_on = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Every socket connect of this process: anything but loopback (and local sockets) is
    # recorded, and the test that caused it fails.
    if _guard_on and event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and address and address[0] not in ("127.0.0.1", "::1"):
            _foreign_connects.append(address)


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    """Fails any Azure test that opened a connection to anything but 127.0.0.1."""
    global _guard_on
    _foreign_connects.clear()
    _guard_on = True
    try:
        yield
    finally:
        _guard_on = False
    assert not _foreign_connects, f"connections left loopback: {_foreign_connects}"


@pytest.fixture
def proxy(azurite: AzuriteServer) -> Iterator[Proxy]:
    """A proxy in front of the session's Azurite that names requests as `azure_kind` does."""

    def size_of(path: str) -> int:
        _, container, blob = path.strip("/").split("/", 2)
        client = azurite.client().get_blob_client(container, blob)
        return int(client.get_blob_properties().size)

    with Proxy(f"http://127.0.0.1:{azurite.port}", azure_kind, size_of) as p:
        yield p


@pytest.fixture
def proxied_root(azurite: AzuriteServer, proxy: Proxy) -> StoreRoot:
    """A fresh prefix whose storage options send every request through `proxy`."""
    return StoreRoot(
        url=f"az://{CONTAINER}/t-{uuid.uuid4().hex[:12]}",
        options={**azurite.options(proxy.endpoint), "part_size": PART_SIZE},
    )


def store_of(root: StoreRoot) -> tuple[AzureStore, str]:
    """The container's `AzureStore` and the test's key prefix."""
    afs, path = targets.fs.resolve(root.url, **root.options)
    store, key = afs.locate(path)
    assert isinstance(store, AzureStore)
    return store, key
