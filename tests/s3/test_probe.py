"""The probe that an S3 store honours ``If-None-Match``, through a fault proxy: a lost
answer is settled by the probe's token, the probe object and upload never leak, and a
store that ignores the condition on ``CompleteMultipartUpload`` only is found out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import targets
from targets.errors import UnsupportedGuarantee
from targets.fs import s3 as s3_module
from targets.testing.proxy import Proxy, Request, s3_kind, s3_request
from tests.fixtures import StoreRoot

PROBE = ".targets-probe-"


@pytest.fixture
def proxied(
    s3_server: dict[str, Any], s3_root: StoreRoot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Proxy, StoreRoot]]:
    """A fault proxy in front of moto, a fresh prefix reached through it, and no probe
    answer remembered from earlier tests."""
    monkeypatch.setattr(s3_module, "_probed", {})
    with Proxy(s3_server["endpoint"], s3_kind) as proxy:
        options = {**s3_root.options, "endpoint_url": proxy.endpoint}
        yield proxy, StoreRoot(s3_root.url, options)


def leftovers(s3_server: dict[str, Any], root: StoreRoot) -> tuple[list[str], list[str]]:
    """Probe objects and pending uploads left under the root."""
    client, bucket = s3_server["client"], s3_server["bucket"]
    prefix = root.url.split("/", 3)[3] + "/"
    objects = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    return [o["Key"] for o in objects if PROBE in o["Key"]], [u["Key"] for u in uploads]


def test_a_lost_answer_to_the_probe_put_is_settled_by_its_token(
    proxied: tuple[Proxy, StoreRoot], s3_server: dict[str, Any]
) -> None:
    """The first probe put is carried out but its answer lost; botocore's retry gets 412.
    Failed on the old behaviour: that 412 escaped as the internal ``PreconditionFailed``
    (not a `TargetError`) and the probe object was left behind."""
    proxy, root = proxied
    proxy.lose_response(s3_request("PutObject!", PROBE))
    targets.target(root.child("out.txt"), **root.options).write_bytes(b"data")
    seen = [(s.outcome, s.status) for s in proxy.log if PROBE in s.target]
    assert seen[:2] == [("lost", 200), ("forwarded", 412)]
    assert targets.target(root.child("out.txt"), **root.options).read_bytes() == b"data"
    assert leftovers(s3_server, root) == ([], [])


def _strip_condition(request: Request) -> None:
    request.headers = {k: v for k, v in request.headers.items() if k.lower() != "if-none-match"}


def test_a_store_ignoring_the_condition_on_completions_only_is_refused(
    proxied: tuple[Proxy, StoreRoot], s3_server: dict[str, Any]
) -> None:
    """Conditional puts honoured, conditional completions not: strict targets refuse with
    `UnsupportedGuarantee`, and nothing of the probe is left. Failed on the old behaviour:
    the probe sent only puts and reported the store as honouring conditional writes."""
    proxy, root = proxied
    proxy.rewrite(s3_request("CompleteMultipartUpload!"), _strip_condition)
    with pytest.raises(UnsupportedGuarantee, match="If-None-Match"):
        targets.target(root.child("out.txt"), **root.options).write_bytes(b"data")
    assert not targets.target(root.child("out.txt"), **root.options).exists()
    assert leftovers(s3_server, root) == ([], [])


def test_the_probe_sends_a_conditional_completion_and_cleans_up(
    proxied: tuple[Proxy, StoreRoot], s3_server: dict[str, Any]
) -> None:
    """A store that honours the condition on both requests passes; the probe object is
    deleted and its upload aborted."""
    proxy, root = proxied
    targets.target(root.child("out.txt"), **root.options).write_bytes(b"data")
    seen = [(s.method, s.kind) for s in proxy.log if PROBE in s.target]
    assert ("POST", "CompleteMultipartUpload!") in seen
    assert [m for m, _ in seen].count("DELETE") >= 2  # the upload aborted, the object deleted
    assert leftovers(s3_server, root) == ([], [])
