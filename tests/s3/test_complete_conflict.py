"""A 409 (ConditionalRequestConflict) answer to a conditional CompleteMultipartUpload: the
same completion is not sent again; the upload is aborted and the commit fails saying that
nothing was published."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import targets
from targets.errors import CommitError
from targets.testing.proxy import Proxy, s3_error, s3_kind, s3_request
from tests.fixtures import StoreRoot
from tests.fixtures.s3 import PART_SIZE


@pytest.fixture
def proxied(s3_server: dict[str, Any], s3_root: StoreRoot) -> Iterator[tuple[Proxy, StoreRoot]]:
    with Proxy(s3_server["endpoint"], s3_kind) as proxy:
        yield proxy, StoreRoot(s3_root.url, {**s3_root.options, "endpoint_url": proxy.endpoint})


def test_a_409_on_the_completion_is_not_retried_with_the_same_upload(
    proxied: tuple[Proxy, StoreRoot], s3_server: dict[str, Any]
) -> None:
    """Failed on the old behaviour: the same completion was sent again after the 409 (and
    here published the file), which S3 does not allow."""
    proxy, root = proxied
    body, headers = s3_error("ConditionalRequestConflict", "A conflicting operation occurred")
    proxy.respond(s3_request("CompleteMultipartUpload!", "/big.bin"), 409, body, headers)
    out = targets.target(root.child("big.bin"), **root.options)
    with pytest.raises(CommitError, match="nothing was published") as err:
        out.write_bytes(b"x" * (2 * PART_SIZE + 3))
    assert root.child("big.bin") in str(err.value)
    completions = [
        s
        for s in proxy.log
        if s.method == "POST" and "/big.bin?" in s.target and "uploadId=" in s.target
    ]
    assert [(s.outcome, s.status) for s in completions] == [("answered", 409)]
    assert not out.exists()
    client, bucket = s3_server["client"], s3_server["bucket"]
    prefix = root.url.split("/", 3)[3] + "/"
    assert client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []) == []
