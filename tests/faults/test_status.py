"""Every error status a store can answer, classified, with bounded retries.

The fault proxy answers a commit's requests with a status instead of the server. Each
status falls in one class, on S3 and GCS alike:

- conflict (412): `TargetExistsError` at once, nothing of the writer visible;
- retry (409: S3 ConditionalRequestConflict, GCS conflict): sent again, 6 times in all, then
  `CommitError` saying nothing was published;
- unknown (429, 500, 502, 503 SlowDown): the client retries (botocore sends 5 times, gcsfs
  6), then `StoreUnavailable` saying what is known of the outcome;
- fatal (403; 404, the bucket gone mid-commit): one request, then a clear error
  (`TargetError`, `TargetNotFound`).

Never an unbounded loop: every test counts the requests the proxy answered. A directory
commit leaves its claim released (removed, or never written), or marked: left for
`targets recover`, which the error names and which then works.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

import targets
from targets.errors import (
    CommitError,
    MissingParentDirectory,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.testing.proxy import (
    Proxy,
    Request,
    gcs_error,
    gcs_upload_of,
    s3_error,
    s3_request,
)
from tests.fixtures import StoreRoot


@dataclasses.dataclass(frozen=True)
class Case:
    status: int
    code: str
    category: str
    error: type[TargetError]
    sends: dict[str, int]
    """How many times each backend's client sends the request before giving up."""

    def __str__(self) -> str:
        return f"{self.status}-{self.code}"


CASES = [
    Case(412, "PreconditionFailed", "conflict", TargetExistsError, {"s3": 1, "gcs": 1}),
    Case(409, "ConditionalRequestConflict", "retry", CommitError, {"s3": 6, "gcs": 6}),
    Case(429, "TooManyRequests", "unknown", StoreUnavailable, {"s3": 5, "gcs": 6}),
    Case(503, "SlowDown", "unknown", StoreUnavailable, {"s3": 5, "gcs": 6}),
    Case(500, "InternalError", "unknown", StoreUnavailable, {"s3": 5, "gcs": 6}),
    Case(502, "BadGateway", "unknown", StoreUnavailable, {"s3": 5, "gcs": 6}),
    Case(403, "AccessDenied", "fatal", TargetError, {"s3": 1, "gcs": 1}),
]


def answer(backend: str, case: Case) -> tuple[int, bytes, dict[str, str]]:
    body, headers = s3_error(case.code) if backend == "s3" else gcs_error(case.status)
    return case.status, body, headers


def conditional_put_of(backend: str, root: StoreRoot, name: str) -> Callable[[Request], bool]:
    """The conditional single-request write of ``name`` under the root."""
    if backend == "s3":
        return s3_request("PutObject!", f"/{name}")
    return gcs_upload_of(f"{root.url.split('/', 3)[3]}/{name}", conditional=True)


def answered(proxy: Proxy) -> int:
    return sum(1 for s in proxy.log if s.outcome == "answered")


def write_dir(root: StoreRoot, name: str) -> None:
    with targets.target(root.child(name) + "/", **root.options).writer() as w:
        for fname, data in {"a.csv": b"a" * 100, "b.csv": b"b" * 200}.items():
            with w.open(fname, "wb") as f:
                f.write(data)


def keys_under(root: StoreRoot, name: str) -> list[str]:
    afs = targets.fs.filesystem(root.url, **root.options)
    return sorted(p.rsplit("/", 1)[1] for p in afs.listdir(root.child(name)))


@pytest.fixture(params=["s3", "gcs"])
def backend(request: pytest.FixtureRequest) -> tuple[str, Proxy, StoreRoot]:
    proxy, root = request.getfixturevalue(f"{request.param}_proxy")
    # warm up: the S3 capability probe, clients and sessions, outside the counted requests
    targets.target(root.child("warm"), **root.options).write_bytes(b"")
    proxy.reset()
    return request.param, proxy, root


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_file_commit_answered_with_an_error_status(backend: Any, case: Case) -> None:
    name, proxy, root = backend
    proxy.respond(conditional_put_of(name, root, "out.bin"), *answer(name, case), times=None)
    started = time.monotonic()
    with pytest.raises(case.error) as info:
        targets.target(root.child("out.bin"), **root.options).write_bytes(b"mine")
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert answered(proxy) == case.sends[name], proxy.log
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert root.child("out.bin") in message
    if case.category == "retry":
        assert "nothing was published" in message
    if case.category == "unknown":
        assert "outcome is unknown" in message and "write again only if it does not" in message
    proxy.clear()
    assert not targets.target(root.child("out.bin"), **root.options).exists()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_directory_commit_whose_success_is_answered_with_an_error_status(
    backend: Any, case: Case
) -> None:
    name, proxy, root = backend
    proxy.respond(conditional_put_of(name, root, "table/_SUCCESS"), *answer(name, case), times=None)
    with pytest.raises(case.error) as info:
        write_dir(root, "table")
    message = str(info.value)
    assert answered(proxy) == case.sends[name], proxy.log
    proxy.clear()
    d = targets.target(root.child("table") + "/", **root.options)
    assert not d.exists()
    if case.category == "unknown":
        # Marked: the claim and the files stay (the _SUCCESS request may have been carried
        # out), and the error names the command that settles it.
        assert f"targets recover {root.child('table')}" in message
        assert keys_under(root, "table") == ["_targets_claim", "a.csv", "b.csv"]
        targets.fs.filesystem(root.url, stale_claim_after=0, **root.options).recover(
            root.child("table")
        )
        assert d.exists() and d.files() == ["a.csv", "b.csv"]
    else:
        # Released: the writer removed what it had published, and its claim.
        assert keys_under(root, "table") == []
        write_dir(root, "table")
        assert d.exists()


def test_a_conflict_refusal_once_is_retried_and_the_commit_succeeds(backend: Any) -> None:
    name, proxy, root = backend
    case = CASES[1]
    proxy.respond(conditional_put_of(name, root, "out.bin"), *answer(name, case), times=2)
    targets.target(root.child("out.bin"), **root.options).write_bytes(b"mine")
    assert answered(proxy) == 2
    assert targets.target(root.child("out.bin"), **root.options).read_bytes() == b"mine"


def test_an_always_503_store_ends_within_the_retry_budget_with_the_claim_released(
    backend: Any,
) -> None:
    """Every request of the commit is answered 503: the claim (and the listing of the
    prefix, sent with it), then the look at the claim. The writer stops after the claim's
    and the listing's retries (at the same time) and the look's; nothing is left."""
    name, proxy, root = backend
    case = CASES[3]
    prefix = root.url.split("/", 3)[3]

    def everything(request: Request) -> bool:
        where = (
            request.target
            if name == "s3"
            else request.target + (request.body or b"").decode("latin-1")
        )
        return prefix in urllib.parse.unquote(where)

    proxy.respond(everything, *answer(name, case), times=None)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        write_dir(root, "table")
    elapsed = time.monotonic() - started
    # the claim and the listing sent with it, and one look
    assert answered(proxy) == 3 * case.sends[name], proxy.log
    assert elapsed < 10, f"{elapsed:.1f} s"
    message = str(info.value)
    assert f"{root.child('table')}" in message and "interrupted at its claim" in message
    proxy.clear()
    assert keys_under(root, "table") == []


def test_a_bucket_gone_mid_commit_is_a_clear_error_without_retries(backend: Any) -> None:
    """The bucket disappears after the claim: every later request is answered 404 (S3
    NoSuchBucket; GCS 404, the bucket's own lookup included). One request each, no retry,
    and the error names the bucket."""
    name, proxy, root = backend
    bucket = root.url.split("/")[2]
    claimed = []

    def after_the_claim(request: Request) -> bool:
        if claimed:
            return True
        target = urllib.parse.unquote(request.target)
        if request.method == "GET" and "prefix=" in target and "table/" in target:
            return True  # the listing leaves with the claim, and may reach the store first
        if "_targets_claim" in urllib.parse.unquote(request.target) or (
            request.body is not None and b"_targets_claim" in request.body
        ):
            claimed.append(request)
        return False

    if name == "s3":
        body, headers = s3_error("NoSuchBucket", "The specified bucket does not exist")
    else:
        body, headers = gcs_error(404, "The specified bucket does not exist.")
    proxy.respond(after_the_claim, 404, body, headers, times=None)
    with pytest.raises(FileNotFoundError, match=f"bucket '{bucket}' does not exist") as info:
        write_dir(root, "table")
    assert isinstance(info.value, (TargetNotFound, MissingParentDirectory))
    assert answered(proxy) <= 6, proxy.log  # the listing, a look or two, the roll-back


def test_the_classes_cover_every_status_the_issue_names() -> None:
    statuses = {c.status for c in CASES} | {404}
    assert statuses >= {412, 409, 429, 503, 500, 404, 403}
    assert {c.category for c in CASES} | {"fatal"} == {"conflict", "retry", "unknown", "fatal"}
    json.dumps([dataclasses.asdict(c) | {"error": c.error.__name__} for c in CASES])


def test_a_commit_whose_roll_back_is_refused_too_says_to_run_recover(backend: Any) -> None:
    """Found: when publishing failed (403 on a file) and the roll-back was refused as well
    (403 on the deletes), the error did not say that the claim was left behind."""
    name, proxy, root = backend
    case = CASES[-1]
    proxy.respond(conditional_put_of(name, root, "table/b.csv"), *answer(name, case))

    def deletes(request: Request) -> bool:
        return request.method == "DELETE" and "table" in urllib.parse.unquote(request.target)

    proxy.respond(deletes, *answer(name, case), times=None)
    with pytest.raises(TargetError, match=r"access denied|403") as info:
        write_dir(root, "table")
    assert f"run `targets recover {root.child('table')}`" in str(info.value)
    proxy.clear()
    assert "_targets_claim" in keys_under(root, "table")
    afs = targets.fs.filesystem(root.url, stale_claim_after=0, **root.options)
    assert "rolled" in afs.recover(root.child("table"))
    assert keys_under(root, "table") == []
