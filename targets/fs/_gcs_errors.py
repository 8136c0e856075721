"""Translating gcsfs, aiohttp and HTTP errors into `targets.errors`: one ordered table of
exception kinds, one function. Statuses that may leave a request's outcome unknown become
`StoreUnavailable`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import requests.exceptions
from fsspec.exceptions import FSTimeoutError
from gcsfs.retry import HttpError

from targets.errors import (
    CommitError,
    MissingParentDirectory,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import objectstore

__all__ = ["BucketNotFound", "map_errors"]


# -- errors ---------------------------------------------------------------------------


_UNAVAILABLE_CODES = {408, 429, 500, 502, 503, 504}
"""Answers gcsfs retries and that, once its retries are spent, leave the outcome of the
request unknown: `StoreUnavailable`."""


class BucketNotFound(FileNotFoundError):
    """The bucket itself does not exist (as opposed to one object in it)."""


@dataclasses.dataclass(frozen=True)
class _Failed:
    """A request that failed: what the error says."""

    url: str
    action: str
    failure: type[TargetError]
    """The error for a failure that is not a condition, a missing object or an outage."""
    where: str
    """`` at <endpoint>``, or nothing."""


def _bucket_not_found(exc: Exception, f: _Failed) -> TargetError:
    bucket = f.url.split("://", 1)[-1].split("/", 1)[0]
    return (TargetNotFound if f.action == "read" else MissingParentDirectory)(
        f"cannot {f.action} {f.url}: the bucket {bucket!r} does not exist{f.where} (or these "
        "credentials cannot see it); create the bucket first or fix the URL",
        f.url,
    )


def _already_exists(exc: Exception, f: _Failed) -> TargetError:
    return TargetExistsError(
        f"cannot {f.action} {f.url}: it already exists, or another writer committed first; "
        "remove it, write elsewhere, or pass if_exists='overwrite'",
        f.url,
    )


def _no_object(exc: Exception, f: _Failed) -> TargetError:
    return TargetNotFound(f"cannot {f.action} {f.url}: there is no such object", f.url)


def _http_error(exc: HttpError, f: _Failed) -> TargetError:
    if exc.code in _UNAVAILABLE_CODES:
        # A 500 may come after the request took effect: for the commit, the outcome of
        # such a request is unknown, like that of a lost answer.
        return StoreUnavailable(
            f"cannot {f.action} {f.url}: GCS{f.where} is unavailable or overloaded "
            f"({exc.code}) and kept failing through the retries; try again later",
            f.url,
        )
    return f.failure(f"cannot {f.action} {f.url}: GCS answered {exc.code}: {exc.message}", f.url)


def _bad_gateway(exc: Exception, f: _Failed) -> TargetError:
    return StoreUnavailable(
        f"cannot {f.action} {f.url}: GCS{f.where} answered 502 (bad gateway) through the "
        "retries; try again later",
        f.url,
    )


def _unreachable(exc: Exception, f: _Failed) -> TargetError:
    return StoreUnavailable(
        f"cannot {f.action} {f.url}: could not reach GCS{f.where} ({type(exc).__name__}); "
        "check the endpoint and the network",
        f.url,
    )


def _rejected(exc: Exception, f: _Failed) -> TargetError:
    return f.failure(f"cannot {f.action} {f.url}: GCS rejected the request ({exc})", f.url)


def _os_error(exc: Exception, f: _Failed) -> TargetError:
    if str(exc).startswith("Forbidden"):
        return f.failure(
            f"cannot {f.action} {f.url}: GCS answered 403 Forbidden; check that the "
            "credentials may read and write this bucket",
            f.url,
        )
    return f.failure(f"cannot {f.action} {f.url}: {type(exc).__name__}: {exc}", f.url)


_CLIENT_PACKAGES = frozenset({"google", "gcsfs", "requests", "aiohttp", "fsspec"})


def _package(module: object) -> str:
    return str(module or "").split(".", 1)[0]


def _raised_in_client(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by the client's own code: a builtin exception such as
    fsspec's ``RuntimeError("Loop is not running")`` (a gcsfs instance used after a fork or
    at interpreter exit) or aiohttp's ``RuntimeError("Session is closed")``."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and _package(last.tb_frame.f_globals.get("__name__")) in (
        _CLIENT_PACKAGES
    )


def _client_failure(exc: Exception, f: _Failed) -> TargetError | None:
    if _package(type(exc).__module__) in _CLIENT_PACKAGES:
        # google-auth errors can quote credential files: say only what kind of error.
        return f.failure(
            f"cannot {f.action} {f.url}: the GCS client failed ({type(exc).__name__}); "
            "check the credentials (token=...) and the endpoint",
            f.url,
        )
    if _raised_in_client(exc):
        return f.failure(
            f"cannot {f.action} {f.url}: the GCS client failed ({type(exc).__name__}: {exc})",
            f.url,
        )
    return None  # not the client's: not ours to translate


_TRANSLATIONS: tuple[
    tuple[
        type[Exception] | tuple[type[Exception], ...], Callable[[Any, _Failed], TargetError | None]
    ],
    ...,
] = (
    (BucketNotFound, _bucket_not_found),
    (FileExistsError, _already_exists),
    (FileNotFoundError, _no_object),
    (HttpError, _http_error),
    (requests.exceptions.ProxyError, _bad_gateway),  # gcsfs's name for a 502 answer
    ((aiohttp.ClientError, asyncio.TimeoutError, FSTimeoutError), _unreachable),
    (ValueError, _rejected),  # gcsfs: 400 answers that say "invalid", requester pays
    (OSError, _os_error),  # gcsfs: 403 arrives as OSError("Forbidden: <url>\n<message>")
    (Exception, _client_failure),
)
"""What gcsfs, aiohttp and google-auth raise, in the order it is matched (the first match
decides: a missing bucket is also a `FileNotFoundError`, a timeout also an `OSError`), and
what it becomes."""


@contextlib.contextmanager
def map_errors(
    url: str,
    action: str,
    *,
    failure: type[TargetError] = CommitError,
    endpoint: str | None = None,
) -> Iterator[None]:
    """Translate what gcsfs, aiohttp and google-auth raise while doing ``action`` on ``url``.

    The one place where client exceptions become `targets.errors` (raised ``from`` the
    original). `objectstore.StoreCondition` outcomes pass through untouched: the protocols
    act on them. Messages name the action, the URL and what to do; storage options and
    credentials never appear in them.
    """
    try:
        yield
    except (TargetError, objectstore.StoreCondition):
        raise
    except Exception as exc:
        failed = _Failed(url, action, failure, f" at {endpoint}" if endpoint else "")
        error = _translate(exc, failed)
        if error is None:
            raise
        raise error from exc


def _translate(exc: Exception, failed: _Failed) -> TargetError | None:
    for kinds, translate in _TRANSLATIONS:
        if isinstance(exc, kinds):
            return translate(exc, failed)
    return None
