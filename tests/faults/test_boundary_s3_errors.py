"""The S3 adapter's half of the error boundary: every error botocore can raise, answered to
every kind of request the adapter sends, becomes a `TargetError` or one of the
`StoreCondition`s that the `ObjectStore` method sending that request documents (and so the
protocols act on). Nothing else leaves `targets.fs._s3_errors.map_errors`.

The table of what each request may raise is written from the `ObjectStore` docstrings
(targets/fs/objectstore/store.py) and the adapter's own handling (``head`` takes a 404 for
"no object", ``abort_upload`` takes a vanished upload for done), not from the
translation it checks.
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from targets.errors import StoreUnavailable, TargetError, TargetNotFound
from targets.fs._s3_errors import map_errors
from targets.fs.objectstore.store import (
    ConditionalConflict,
    NoSuchUpload,
    ObjectNotFound,
    PreconditionFailed,
    StoreCondition,
)

ACTIONS: dict[str, set[type[StoreCondition]]] = {
    "write": {PreconditionFailed, ConditionalConflict},  # put
    "replace": {PreconditionFailed, ConditionalConflict},  # put with if_match
    "start an upload to": {PreconditionFailed},  # create_upload
    "upload a part of": {NoSuchUpload, PreconditionFailed},  # upload_part
    "publish": {PreconditionFailed, ConditionalConflict, NoSuchUpload},  # complete_upload
    "abort an upload to": {NoSuchUpload, ObjectNotFound},  # abort_upload suppresses both
    "list the uploads under": set(),
    "look up": {ObjectNotFound},  # head: None for a 404
    "read": {ObjectNotFound, PreconditionFailed},  # get, open_read
    "list": set(),
    "delete": {PreconditionFailed, ObjectNotFound},  # a conditional delete takes 404 as done
    "copy to": {ObjectNotFound, PreconditionFailed, ConditionalConflict},
}
"""What each kind of request may raise besides a `TargetError`."""


def client_error(code: str, status: int, operation: str = "PutObject") -> Exception:
    error: Exception = botocore.exceptions.ClientError(
        {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )
    return error


ANSWERS = [
    ("NoSuchKey", 404),
    ("404", 404),
    ("NotFound", 404),
    ("NoSuchUpload", 404),
    ("NoSuchBucket", 404),
    ("PreconditionFailed", 412),
    ("ConditionalRequestConflict", 409),
    ("OperationAborted", 409),
    ("InvalidRequest", 400),
    ("InvalidPart", 400),
    ("EntityTooSmall", 400),
    ("RequestTimeout", 400),
    ("AccessDenied", 403),
    ("InvalidAccessKeyId", 403),
    ("PermanentRedirect", 301),
    ("InvalidRange", 416),
    ("NotImplemented", 501),
    ("InternalError", 500),
    ("SlowDown", 503),
    ("Teapot", 418),
]
"""Error answers S3 and S3-compatible stores send (code, HTTP status)."""

FAILURES: list[Exception] = [
    botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    botocore.exceptions.ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
    botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    botocore.exceptions.ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
    botocore.exceptions.ResponseStreamingError(error="connection broken"),
    botocore.exceptions.IncompleteReadError(actual_bytes=1, expected_bytes=2),
    botocore.exceptions.NoCredentialsError(),
    botocore.exceptions.ParamValidationError(report="bad parameter"),
    botocore.exceptions.NoRegionError(),
]
"""What botocore raises when there is no answer (or no request)."""


def translated(exc: Exception, action: str, key: str = "out/part-0") -> BaseException:
    with pytest.raises(BaseException) as raised:
        with map_errors(f"s3://bucket/{key}", action, key, "http://127.0.0.1:9"):
            raise exc
    return raised.value


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize(("code", "status"), ANSWERS, ids=[c for c, _ in ANSWERS])
def test_every_error_answer_becomes_a_target_error_or_a_condition_the_request_may_raise(
    action: str, code: str, status: int
) -> None:
    error = translated(client_error(code, status), action)
    allowed: tuple[type[BaseException], ...] = (TargetError, *ACTIONS[action])
    assert isinstance(error, allowed), f"{code} ({status}) to {action!r}: {error!r}"


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("failure", FAILURES, ids=lambda e: type(e).__name__)
def test_every_failure_without_an_answer_becomes_a_target_error(
    action: str, failure: Exception
) -> None:
    error = translated(failure, action)
    assert isinstance(error, TargetError), f"{type(failure).__name__} in {action!r}: {error!r}"


@pytest.mark.parametrize(
    "failure",
    [f for f in FAILURES if "Timeout" in type(f).__name__ or "Connection" in type(f).__name__],
    ids=lambda e: type(e).__name__,
)
def test_a_timeout_or_a_broken_connection_is_store_unavailable(failure: Exception) -> None:
    """The commit protocols treat `StoreUnavailable` as "outcome unknown" and settle it by
    the writer token; any other error would be taken for a refusal."""
    assert isinstance(translated(failure, "write"), StoreUnavailable)


def test_a_404_to_a_request_on_the_bucket_itself_says_the_bucket_is_missing() -> None:
    """``server_time`` asks the bucket (``HeadBucket``, no key): a 404 there means no bucket,
    which must not reach a caller as the internal "no such object"."""
    error = translated(client_error("404", 404, "HeadBucket"), "look up", key="")
    assert isinstance(error, TargetNotFound)
    assert "bucket" in str(error)
