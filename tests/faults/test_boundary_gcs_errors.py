"""The GCS adapter's half of the error boundary: whatever gcsfs, aiohttp, fsspec or
google-auth raise while the adapter runs a request leaves
`targets.fs._gcs_errors.map_errors` as a `TargetError` (a `StoreUnavailable` when the
outcome is unknown); the `StoreCondition`s the adapter raises itself pass through untouched
(the protocols act on them). Errors of this library's own code are not disguised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import fsspec.asyn
import pytest
import requests.exceptions
from fsspec.exceptions import FSTimeoutError
from gcsfs.retry import HttpError

from targets.errors import StoreUnavailable, TargetError
from targets.fs._gcs_errors import BucketNotFound, map_errors
from targets.fs.objectstore.store import NoSuchUpload, PreconditionFailed

URL = "gs://bucket/out/part-0"


def translated(raise_it: Callable[[], None], action: str = "write") -> BaseException:
    with pytest.raises(BaseException) as raised:
        with map_errors(URL, action, endpoint="http://127.0.0.1:9"):
            raise_it()
    return raised.value


def raising(exc: BaseException) -> Callable[[], None]:
    def raise_it() -> None:
        raise exc

    return raise_it


def http(code: int) -> HttpError:
    return HttpError({"code": code, "message": f"injected {code}"})


CLIENT_ERRORS: list[BaseException] = [
    *(http(code) for code in (400, 401, 403, 404, 409, 412, 416, 429, 500, 502, 503, 504)),
    BucketNotFound("bucket"),
    FileNotFoundError("b/bucket/o/out: no such object"),
    FileExistsError("b/bucket/o/out: 412"),
    OSError("Forbidden: https://storage.googleapis.com/b/bucket\nno access"),
    OSError("something else"),
    ValueError("Bad Request: invalid argument"),
    requests.exceptions.ProxyError("502"),
    aiohttp.ClientConnectionError("refused"),
    aiohttp.ServerDisconnectedError(),
    aiohttp.ClientPayloadError("cut off"),
    asyncio.TimeoutError(),
    FSTimeoutError(),
    ConnectionResetError(104, "Connection reset by peer"),
]
"""What gcsfs and the libraries under it raise for an answer, or for no answer."""

UNKNOWN_OUTCOME = (
    *(http(code) for code in (429, 500, 502, 503, 504)),
    requests.exceptions.ProxyError("502"),
    aiohttp.ClientConnectionError("refused"),
    aiohttp.ServerDisconnectedError(),
    asyncio.TimeoutError(),
    FSTimeoutError(),
)


@pytest.mark.parametrize("action", ["write", "read", "publish", "list", "delete"])
@pytest.mark.parametrize("error", CLIENT_ERRORS, ids=lambda e: f"{type(e).__name__}-{e}"[:40])
def test_every_client_error_becomes_a_target_error(action: str, error: BaseException) -> None:
    assert isinstance(translated(raising(error), action), TargetError)


@pytest.mark.parametrize("error", UNKNOWN_OUTCOME, ids=lambda e: f"{type(e).__name__}-{e}"[:40])
def test_a_timeout_a_broken_connection_or_an_overloaded_store_is_store_unavailable(
    error: BaseException,
) -> None:
    """The commit protocols settle `StoreUnavailable` by the writer token; any other error
    would be taken for a refusal."""
    assert isinstance(translated(raising(error)), StoreUnavailable)


@pytest.mark.parametrize(
    "condition", [PreconditionFailed("k", "412"), NoSuchUpload("k", "gone")], ids=repr
)
def test_the_adapters_own_conditions_pass_through(condition: BaseException) -> None:
    assert translated(raising(condition)) is condition


def test_a_builtin_error_raised_by_the_client_is_a_target_error() -> None:
    """fsspec raises ``RuntimeError("Loop is not running")`` for a gcsfs instance whose
    event loop is gone (after a fork, at interpreter exit). The old behaviour: a builtin
    exception raised by the client's code, not of a client class, passed through."""

    def closed_loop() -> None:
        loop = asyncio.new_event_loop()
        loop.close()
        fsspec.asyn.sync(loop, asyncio.sleep, 0)

    error = translated(closed_loop)
    assert isinstance(error, TargetError)
    assert "Loop is not running" in str(error)


def test_an_error_of_this_librarys_own_code_is_not_disguised() -> None:
    """A bug (a KeyError raised here, not by the client) reaches the caller as itself."""
    error = translated(raising(KeyError("ours")))
    assert type(error) is KeyError
