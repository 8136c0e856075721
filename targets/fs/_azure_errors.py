"""Translating azure-core and azure-storage-blob errors into `targets.errors`: one ordered
table of exception kinds, one function. An Azure error code or HTTP status is mapped once;
statuses that may leave a request's outcome unknown become `StoreUnavailable`, a missing
container is a `FileNotFoundError` (as a missing bucket is on S3 and GCS).

Messages name the action, the URL and the error code, never the client's own message text:
Azure's messages and request URLs can carry a SAS token (``sig=``), so none of them is
quoted.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from targets.errors import (
    InvalidTarget,
    MissingParentDirectory,
    StoreUnavailable,
    TargetError,
    TargetNotFound,
)
from targets.fs import objectstore

__all__ = ["error_code", "map_errors"]

_UNAVAILABLE_STATUSES = {408, 429, 500, 502, 503, 504}
"""Answers the client retries (server errors, throttling) and that, once its retries are
spent, leave the outcome of the request unknown: `StoreUnavailable`."""

_CONDITIONS: dict[str, tuple[type[objectstore.StoreCondition], str]] = {
    "ConditionNotMet": (objectstore.PreconditionFailed, "another version is there (412)"),
    "BlobAlreadyExists": (objectstore.PreconditionFailed, "a blob exists (409)"),
    "BlobNotFound": (objectstore.ObjectNotFound, "not found"),
}
"""Azure error codes that are outcomes the protocols act on (any 412 is
``PreconditionFailed``)."""

_TAKEN = frozenset({objectstore.PreconditionFailed, objectstore.ConditionalConflict})
_MAY_RAISE: dict[str, frozenset[type[objectstore.StoreCondition]]] = {
    "write": _TAKEN | {objectstore.ObjectNotFound},
    "upload a part of": frozenset({objectstore.NoSuchUpload, objectstore.PreconditionFailed}),
    "publish": _TAKEN | {objectstore.NoSuchUpload},
    "abort an upload to": frozenset({objectstore.ObjectNotFound}),
    "list the uploads under": frozenset({objectstore.ObjectNotFound}),
    "look up": frozenset({objectstore.ObjectNotFound}),
    "read": frozenset({objectstore.ObjectNotFound, objectstore.PreconditionFailed}),
    "list": frozenset(),
    "delete": frozenset({objectstore.PreconditionFailed, objectstore.ObjectNotFound}),
    "copy to": _TAKEN | {objectstore.ObjectNotFound},
}
"""The `StoreCondition`s each action may hand to its caller: those its `ObjectStore` method
documents, and those `AzureStore` takes in itself (a 404 to a look-up is "no blob", to an
If-Match put "nothing to replace", to a block list "committed or dropped since"). Any other
condition Azure answers (a 412 to a listing, a 409 to a read) is not one the protocols act
on, and becomes a `TargetError`, so that no condition escapes them. An action not listed
passes every condition."""

_READS = {"read", "look up", "list"}
"""Actions for which a missing container is `TargetNotFound` (for writes it is
`MissingParentDirectory`: the place to write into is missing)."""

_CREDENTIAL_CODES = {
    "AuthenticationFailed",
    "InvalidAuthenticationInfo",
    "NoAuthenticationInformation",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "AuthorizationResourceTypeMismatch",
    "InsufficientAccountPermissions",
}


def error_code(exc: HttpResponseError) -> tuple[str, int]:
    """(the Azure error code, or the status as text; the HTTP status) of an error answer."""
    status = int(exc.status_code or 0)
    code = getattr(exc, "error_code", None)
    text = getattr(code, "value", code)  # a StorageErrorCode member or a plain str
    return str(text or status), status


@dataclasses.dataclass(frozen=True)
class Failed:
    """A request that failed: what the error says."""

    url: str
    action: str
    key: str
    where: str
    """`` at <account URL>``, or nothing."""

    @property
    def container(self) -> str:
        return self.url.partition("://")[2].partition("/")[0]


def _http_error(exc: HttpResponseError, f: Failed) -> Exception:
    """What an Azure error answer becomes: a `StoreCondition`, or a `targets.errors` error."""
    code, status = error_code(exc)
    if code == "ContainerNotFound":
        kind = TargetNotFound if f.action in _READS else MissingParentDirectory
        return kind(
            f"cannot {f.action} {f.url}: the container {f.container!r} does not exist{f.where} "
            "(or these credentials cannot see it); create the container first or fix the URL",
            f.url,
        )
    condition = _CONDITIONS.get("ConditionNotMet" if status == 412 else code)
    if condition is not None:
        kind_, detail = condition
        allowed = _MAY_RAISE.get(f.action)
        if allowed is None or kind_ in allowed:
            return kind_(f.key, detail)
        answered = f"Azure Blob Storage answered {code} (HTTP {status})"
        if kind_ is objectstore.ObjectNotFound:
            return TargetNotFound(f"cannot {f.action} {f.url}: {answered}", f.url)
        return TargetError(f"cannot {f.action} {f.url}: {answered}", f.url)
    if code in _CREDENTIAL_CODES or status in (401, 403):
        return TargetError(
            f"cannot {f.action} {f.url}: the store refused the credentials or their access "
            f"({code}, HTTP {status}); check account_key / sas_token / connection_string / "
            "credential, and that they may read and write this container",
            f.url,
        )
    if code == "InvalidMetadata":
        return InvalidTarget(
            f"cannot {f.action} {f.url}: Azure refused the metadata names (they must be C# "
            "identifiers)",
            f.url,
        )
    if status in _UNAVAILABLE_STATUSES:
        # A 500 may come after the request took effect: for the commit, the outcome of
        # such a request is unknown, like that of a lost answer.
        return StoreUnavailable(
            f"cannot {f.action} {f.url}: Azure Blob Storage{f.where} is unavailable or "
            f"overloaded ({code}, HTTP {status}) and kept failing through the retries; try "
            "again later",
            f.url,
        )
    return TargetError(
        f"cannot {f.action} {f.url}: Azure Blob Storage answered {code} (HTTP {status})", f.url
    )


def _credentials(exc: Exception, f: Failed) -> Exception:
    return TargetError(
        f"cannot {f.action} {f.url}: no usable Azure credentials ({type(exc).__name__}); pass "
        "account_key=, sas_token=, connection_string= or credential=, or anon=True for a "
        "public container",
        f.url,
    )


def _authentication(exc: ClientAuthenticationError, f: Failed) -> Exception:
    """A refused answer (401/403) is an error answer; without a status, no credential could
    be had at all."""
    return _http_error(exc, f) if exc.status_code else _credentials(exc, f)


def _unreachable(exc: Exception, f: Failed) -> Exception:
    return StoreUnavailable(
        f"cannot {f.action} {f.url}: cannot reach Azure Blob Storage{f.where} "
        f"({type(exc).__name__}); check the account URL and the network",
        f.url,
    )


def _client_failure(exc: Exception, f: Failed) -> Exception:
    return TargetError(
        f"cannot {f.action} {f.url}: the Azure client failed ({type(exc).__name__})", f.url
    )


_TRANSLATIONS: tuple[
    tuple[type[Exception] | tuple[type[Exception], ...], Callable[[Any, Failed], Exception]], ...
] = (
    # an authentication failure before any answer (a credential that cannot get a token);
    # a 401/403 answer is also a ClientAuthenticationError, an HttpResponseError: that one
    # has a status and goes to _http_error below
    (ClientAuthenticationError, _authentication),
    (HttpResponseError, _http_error),
    # could not connect (refused, DNS, TLS, timeout), or connected and then the connection
    # broke or the answer did not come: the outcome of a write is unknown
    ((ServiceRequestError, ServiceResponseError), _unreachable),
    (AzureError, _client_failure),
)
"""What azure-core raises, in the order it is matched, and what it becomes."""


@contextlib.contextmanager
def map_errors(url: str, action: str, key: str = "", endpoint: str | None = None) -> Iterator[None]:
    """Translate Azure client errors raised while doing ``action`` on ``url`` into
    `targets.errors` (and the `objectstore.StoreCondition` outcomes the protocols act on),
    raised ``from`` the original. Anything else passes through."""
    try:
        yield
    except (TargetError, objectstore.StoreCondition):
        raise
    except Exception as exc:
        failed = Failed(url, action, key, f" at {endpoint}" if endpoint else "")
        for kinds, translate in _TRANSLATIONS:
            if isinstance(exc, kinds):
                raise translate(exc, failed) from exc
        raise
