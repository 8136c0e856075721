"""Every error answer and transport failure the Azure client raises, over every action of
`AzureStore`: each becomes a condition that action's `ObjectStore` method documents, or a
`targets.errors.TargetError`; none escapes as a client exception, and none names a
credential."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
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
from targets.fs._azure_errors import _MAY_RAISE, map_errors

URL = "az://box/t/out.bin"
SAS = "sig=sentinelSASsignature0d15ea5e"


def answer(kind: type[HttpResponseError], status: int, code: str) -> HttpResponseError:
    exc = kind(message=f"the server said so ({SAS})")
    exc.status_code = status
    exc.error_code = code
    return exc


ANSWERS = [
    (ResourceModifiedError, 412, "ConditionNotMet"),
    (ResourceExistsError, 409, "BlobAlreadyExists"),
    (ResourceNotFoundError, 404, "BlobNotFound"),
    (ResourceNotFoundError, 404, "ContainerNotFound"),
    (HttpResponseError, 400, "InvalidBlockList"),
    (HttpResponseError, 400, "InvalidMetadata"),
    (HttpResponseError, 400, "OutOfRangeInput"),
    (ClientAuthenticationError, 403, "AuthenticationFailed"),
    (HttpResponseError, 403, "AuthorizationPermissionMismatch"),
    (HttpResponseError, 409, "LeaseIdMissing"),
    (HttpResponseError, 500, "InternalError"),
    (HttpResponseError, 503, "ServerBusy"),
]


@pytest.mark.parametrize("action", sorted(_MAY_RAISE))
@pytest.mark.parametrize(("kind", "status", "code"), ANSWERS, ids=[a[2] for a in ANSWERS])
def test_every_answer_to_every_action_is_a_documented_condition_or_a_target_error(
    action, kind, status, code
):
    with pytest.raises(Exception) as info, map_errors(URL, action, "t/out.bin"):
        raise answer(kind, status, code)
    error = info.value
    if isinstance(error, objectstore.StoreCondition):
        assert type(error) in _MAY_RAISE[action], (action, code, error)
    else:
        assert isinstance(error, TargetError), (action, code, error)
        assert SAS not in str(error)


@pytest.mark.parametrize(
    ("code", "status", "action", "expected"),
    [
        ("ContainerNotFound", 404, "write", MissingParentDirectory),
        ("ContainerNotFound", 404, "read", TargetNotFound),
        ("ServerBusy", 503, "publish", StoreUnavailable),
        ("InvalidMetadata", 400, "write", InvalidTarget),
        ("ConditionNotMet", 412, "list", TargetError),
        ("BlobNotFound", 404, "list", TargetNotFound),
    ],
)
def test_what_an_answer_becomes(code, status, action, expected):
    with pytest.raises(expected), map_errors(URL, action, "t/out.bin"):
        raise answer(HttpResponseError, status, code)


@pytest.mark.parametrize("failure", [ServiceRequestError, ServiceResponseError])
def test_a_connection_that_fails_or_breaks_is_store_unavailable(failure):
    with pytest.raises(StoreUnavailable) as info, map_errors(URL, "write", "t/out.bin"):
        raise failure(f"connection to https://acct.blob.core.windows.net/?{SAS} failed")
    assert SAS not in str(info.value)


def test_a_credential_that_gives_no_token_says_what_to_pass():
    with pytest.raises(TargetError, match="credential") as info, map_errors(URL, "write"):
        raise ClientAuthenticationError(f"no token ({SAS})")
    assert SAS not in str(info.value)


def test_other_exceptions_pass_through():
    with pytest.raises(KeyError), map_errors(URL, "write"):
        raise KeyError("not the client's")
