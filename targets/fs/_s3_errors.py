"""Translating botocore and s3fs errors into `targets.errors`: an S3 error code or HTTP status
mapped once, by one ordered table of exception kinds. Statuses that may leave a request's
outcome unknown become `StoreUnavailable`; missing credentials and a missing bucket are
fatal at once."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Collection, Iterator
from typing import Any

import botocore.exceptions

from targets.errors import (
    CommitError,
    InvalidTarget,
    StoreUnavailable,
    TargetError,
    TargetNotFound,
)
from targets.fs import objectstore

__all__ = ["check_botocore_conditional_writes", "error_code", "map_errors"]


# -- errors ---------------------------------------------------------------------------------

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
}
_UNAVAILABLE_CODES = {
    "ServiceUnavailable",
    "SlowDown",
    "InternalError",
    "RequestTimeout",
    "TooManyRequests",
    "Throttling",
    "429",
    "500",
    "502",
    "503",
    "504",
}
"""Answers botocore retries (server errors, throttling) and that, once its retries are
spent, leave the outcome of the request unknown: `StoreUnavailable`."""
_UNAVAILABLE_STATUSES = {429, 500, 502, 503, 504}


def error_code(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    err = exc.response.get("Error", {}) or {}
    status = int((exc.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode", 0) or 0)
    return str(err.get("Code", "") or status), status


@dataclasses.dataclass(frozen=True)
class Failed:
    """A request that failed: what the error says."""

    url: str
    action: str
    key: str
    where: str
    """`` at <endpoint>``, or nothing."""

    @property
    def bucket(self) -> str:
        return self.url.split("/")[2] if self.url.startswith("s3://") else self.url


_CONDITIONS: dict[str, tuple[type[objectstore.StoreCondition], str]] = {
    "PreconditionFailed": (objectstore.PreconditionFailed, "exists"),
    "ConditionalRequestConflict": (objectstore.ConditionalConflict, "conflict"),
    "NoSuchUpload": (objectstore.NoSuchUpload, "no such upload"),
    "NoSuchKey": (objectstore.ObjectNotFound, "not found"),
    "404": (objectstore.ObjectNotFound, "not found"),
    "NotFound": (objectstore.ObjectNotFound, "not found"),
}
"""S3 error codes that are outcomes the protocols act on (any 412 is ``PreconditionFailed``)."""

_REPLACE = "replace"
"""The action of a conditional replace (a put with ``If-Match``)."""

_WRITES = {"write", _REPLACE, "start an upload to", "upload a part of", "publish"}
"""The actions that create an object: a 404 answered to one of them (other than
``NoSuchUpload`` or ``NoSuchBucket``) never means that an object is missing."""

_ACCESS_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}

_CODE_ERRORS: tuple[tuple[Collection[str], type[TargetError], str], ...] = (
    (
        {"NoSuchBucket"},
        TargetNotFound,
        "cannot {f.action} {f.url}: the bucket {f.bucket!r} does not exist{f.where}; create "
        "it or fix the URL",
    ),
    (
        _CREDENTIAL_CODES,
        TargetError,
        "cannot {f.action} {f.url}: the store rejected the credentials ({code}); check the "
        "key/secret/token storage options or the AWS profile",
    ),
    (
        _ACCESS_CODES,
        TargetError,
        "cannot {f.action} {f.url}: access denied; the credentials need permission for this "
        "bucket and prefix",
    ),
)
"""S3 error codes that are failures, with the error they become and what it says."""

_MAY_RAISE: dict[str, frozenset[type[objectstore.StoreCondition]]] = {
    "write": frozenset({objectstore.PreconditionFailed, objectstore.ConditionalConflict}),
    _REPLACE: frozenset({objectstore.PreconditionFailed, objectstore.ConditionalConflict}),
    "start an upload to": frozenset({objectstore.PreconditionFailed}),
    "upload a part of": frozenset({objectstore.NoSuchUpload, objectstore.PreconditionFailed}),
    "publish": frozenset(
        {objectstore.PreconditionFailed, objectstore.ConditionalConflict, objectstore.NoSuchUpload}
    ),
    "abort an upload to": frozenset({objectstore.NoSuchUpload, objectstore.ObjectNotFound}),
    "list the uploads under": frozenset(),
    "look up": frozenset({objectstore.ObjectNotFound}),
    "read": frozenset({objectstore.ObjectNotFound, objectstore.PreconditionFailed}),
    "list": frozenset(),
    "delete": frozenset({objectstore.PreconditionFailed, objectstore.ObjectNotFound}),
    "copy to": frozenset(
        {
            objectstore.ObjectNotFound,
            objectstore.PreconditionFailed,
            objectstore.ConditionalConflict,
        }
    ),
}
"""The `StoreCondition`s each action may hand to its caller: those its `ObjectStore` method
documents, and those `S3Store` takes in itself (``head`` reads a 404 as "no object",
``abort_upload`` a vanished upload as done). Any other condition the store answers (a 412 to
a listing, ``NoSuchUpload`` to a put) is not one the protocols act on, and becomes a
`TargetError`, so that no condition escapes them. An action not listed passes every
condition."""


def _client_error(exc: botocore.exceptions.ClientError, f: Failed) -> Exception:
    """What an S3 error answer becomes: a `StoreCondition`, or a `targets.errors` error."""
    code, status = error_code(exc)
    if f.action == _REPLACE and status == 404 and code != "NoSuchBucket":
        # A conditional replace (If-Match) of an object that is gone: the version it names
        # is not there, as a 412 would say.
        return objectstore.PreconditionFailed(f.key, "no object to replace (404)")
    if f.action in _WRITES and status == 404 and code not in ("NoSuchUpload", "NoSuchBucket"):
        return _missing_on_write(f)
    if not f.key and status == 404:
        code = "NoSuchBucket"  # a request on the bucket itself (HeadBucket)
    condition = _CONDITIONS.get("PreconditionFailed" if status == 412 else code)
    if condition is not None:
        kind, detail = condition
        allowed = _MAY_RAISE.get(f.action)
        if allowed is None or kind in allowed:
            return kind(f.key, detail)
        return _unexpected_condition(exc, f, kind, code, status)
    for codes, error, message in _CODE_ERRORS:
        if code in codes:
            return error(message.format(f=f, code=code), f.url)
    if code in _UNAVAILABLE_CODES or status in _UNAVAILABLE_STATUSES:
        # A 500 may come after the request took effect: for the commit, the outcome of
        # such a request is unknown, like that of a lost answer.
        return StoreUnavailable(
            f"cannot {f.action} {f.url}: the S3 endpoint{f.where} is unavailable or overloaded "
            f"({code}, HTTP {status}) and kept failing through the retries; try again later",
            f.url,
        )
    message = (exc.response.get("Error", {}) or {}).get("Message", "")
    return TargetError(
        f"cannot {f.action} {f.url}: the store answered {code} (HTTP {status})"
        + (f": {message}" if message else ""),
        f.url,
    )


def _unexpected_condition(
    exc: botocore.exceptions.ClientError,
    f: Failed,
    kind: type[objectstore.StoreCondition],
    code: str,
    status: int,
) -> TargetError:
    """What a condition answered to a request that cannot meet it becomes."""
    message = (exc.response.get("Error", {}) or {}).get("Message", "")
    answered = f"the store answered {code} (HTTP {status})" + (f": {message}" if message else "")
    if kind is objectstore.NoSuchUpload:
        return CommitError(
            f"cannot {f.action} {f.url}: its multipart upload is gone (aborted by another "
            f"process or a lifecycle rule; {answered}); nothing of it was published",
            f.url,
        )
    if kind is objectstore.ObjectNotFound:
        return TargetNotFound(
            f"cannot {f.action} {f.url}: {answered}; check that the bucket {f.bucket!r} exists",
            f.url,
        )
    return TargetError(f"cannot {f.action} {f.url}: {answered}", f.url)


def _missing_on_write(f: Failed) -> Exception:
    """What a 404 answered to a write means: a key the store cannot name (a line break,
    which S3-compatible stores such as moto answer so), or else a bucket that is gone."""
    if "\n" in f.key or "\r" in f.key:
        return InvalidTarget(
            f"cannot {f.action} {f.url!r}: the store cannot hold a key with a line break; "
            "remove it from the name",
            f.url,
        )
    return TargetNotFound(
        f"cannot {f.action} {f.url}: the bucket {f.bucket!r} does not exist{f.where} (the "
        "store answered 404 to a write); create it or fix the URL",
        f.url,
    )


def _no_credentials(exc: Exception, f: Failed) -> Exception:
    return TargetError(
        f"cannot {f.action} {f.url}: no AWS credentials found; pass the key= and secret= "
        "storage options, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, configure a "
        "profile, or pass anon=True for public buckets",
        f.url,
    )


def _invalid_request(exc: Exception, f: Failed) -> Exception:
    return InvalidTarget(f"cannot {f.action} {f.url}: invalid request ({exc})", f.url)


def _unreachable(exc: Exception, f: Failed) -> Exception:
    return StoreUnavailable(
        f"cannot {f.action} {f.url}: cannot reach the S3 endpoint{f.where} "
        f"({type(exc).__name__}); check endpoint_url and the network",
        f.url,
    )


def _client_failure(exc: Exception, f: Failed) -> Exception:
    return TargetError(f"cannot {f.action} {f.url}: {type(exc).__name__}: {exc}", f.url)


_TRANSLATIONS: tuple[
    tuple[type[Exception] | tuple[type[Exception], ...], Callable[[Any, Failed], Exception]], ...
] = (
    (botocore.exceptions.ClientError, _client_error),
    (
        (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError),
        _no_credentials,
    ),
    (botocore.exceptions.ParamValidationError, _invalid_request),
    (
        (
            botocore.exceptions.ConnectionError,  # could not connect (refused, DNS, TLS, timeout)
            botocore.exceptions.HTTPClientError,  # connected, then the connection broke or hung
        ),
        _unreachable,
    ),
    (botocore.exceptions.BotoCoreError, _client_failure),
)
"""What botocore raises, in the order it is matched, and what it becomes."""


@contextlib.contextmanager
def map_errors(url: str, action: str, key: str = "", endpoint: str | None = None) -> Iterator[None]:
    """Translate botocore errors into `targets.errors` (and the `StoreCondition`s the
    protocols act on), raised ``from`` the original. Messages name the URL and what to do,
    never credentials. Anything else passes through."""
    try:
        yield
    except Exception as exc:
        failed = Failed(url, action, key, f" at {endpoint}" if endpoint else "")
        for kinds, translate in _TRANSLATIONS:
            if isinstance(exc, kinds):
                raise translate(exc, failed) from exc
        raise


def check_botocore_conditional_writes(service_model: Any) -> str | None:
    """Why conditional writes cannot be sent with this botocore, or None if they can.

    An old botocore has no ``IfNoneMatch`` member on ``PutObject`` and
    ``CompleteMultipartUpload``; s3fs then drops the condition silently. Here it is refused.
    """
    for op in ("PutObject", "CompleteMultipartUpload"):
        members = service_model.operation_model(op).input_shape.members
        if "IfNoneMatch" not in members:
            return (
                f"the installed botocore has no If-None-Match on {op}, so writes cannot be "
                "made conditional; upgrade it: pip install -U 'botocore>=1.35.20' 'boto3>=1.35.20'"
            )
    return None
