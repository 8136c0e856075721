"""Inputs that used to let an internal exception escape: a name with a lone surrogate
(`UnicodeEncodeError`) and a 404 answered to a PUT (the store's `ObjectNotFound`). Each now
gives a documented `targets.TargetError` that names the URL and says what to do."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import targets
from targets.testing.proxy import Proxy, s3_error, s3_request
from tests.fixtures import StoreRoot

SURROGATE = "out\udcff.csv"
"""What ``os.fsdecode`` makes of the bytes ``b"out\\xff.csv"``: no UTF-8 form."""


@pytest.fixture(params=["local", "s3", "hdfs"])
def root(request: pytest.FixtureRequest) -> StoreRoot:
    return request.getfixturevalue(f"{request.param}_root")


def test_a_file_url_with_a_lone_surrogate_is_refused_naming_it_escaped(root):
    """Failed on the old code: S3 raised a raw UnicodeEncodeError, and local and HDFS each
    did what their client made of the bytes."""
    with pytest.raises(targets.InvalidTarget) as caught:
        targets.target(root.child(SURROGATE), **root.options).write_text("x")
    message = str(caught.value)
    assert "out\\udcff.csv" in message and "UTF-8" in message
    message.encode("utf-8")  # the message itself can be printed
    assert caught.value.path.endswith("out\\udcff.csv")


def test_a_name_with_a_lone_surrogate_inside_a_directory_output_is_refused(root):
    """Failed on the old code with a raw UnicodeEncodeError from the name check itself."""
    url = root.child("table/")
    with targets.target(url, **root.options).writer() as w:
        with pytest.raises(targets.InvalidTarget) as caught:
            w.open("part\udcff", "wb")
        w.open("part-0", "wb").close()
    message = str(caught.value)
    assert "'part\\udcff'" in message and "UTF-8" in message
    assert targets.target(url, **root.options).files() == ["part-0"]


@pytest.mark.parametrize("code", ["NoSuchKey", None], ids=["NoSuchKey", "bare-404"])
def test_a_put_answered_404_says_the_bucket_is_gone(s3_server: dict[str, Any], code):
    """A 404 answered to a PUT (as when the bucket is deleted under the writer, through a
    store or proxy that does not say NoSuchBucket). Failed on the old code, where the 404
    became the store's internal ObjectNotFound and escaped to the caller."""
    bucket = s3_server["bucket"]
    key = f"t-{uuid.uuid4().hex[:12]}/out.csv"
    body, headers = s3_error(code) if code else (b"", {})
    with Proxy(s3_server["endpoint"]) as proxy:
        options = {**s3_server["options"], "endpoint_url": proxy.endpoint}
        proxy.respond(s3_request("PutObject!", key), 404, body, headers, times=None)
        with pytest.raises(targets.TargetNotFound) as caught:
            targets.target(f"s3://{bucket}/{key}", **options).write_text("x")
    message = str(caught.value)
    assert f"s3://{bucket}/{key}" in message
    assert f"the bucket {bucket!r} does not exist" in message and "create it or fix" in message


def test_an_s3_url_with_a_line_break_is_refused_up_front(s3_root):
    """moto answers 404 to a PUT of a key with a line break (GCS forbids such names).
    Failed on the old code: the 404 became the store's internal ObjectNotFound and escaped,
    and a read of the same URL said the object did not exist."""
    url = s3_root.child("a\nb.csv")
    for attempt in (lambda t: t.write_text("x"), lambda t: t.read_text()):
        with pytest.raises(targets.InvalidTarget) as caught:
            attempt(targets.target(url, **s3_root.options))
        assert repr(url) in str(caught.value) and "line break" in str(caught.value)


def test_a_name_with_a_line_break_in_an_s3_directory_output_is_refused(s3_root):
    """Inside a directory output the name reaches the store: the 404 moto answers to its PUT
    is translated to InvalidTarget naming the key. Failed on the old code with the internal
    ObjectNotFound."""
    url = s3_root.child("table/")
    with pytest.raises(targets.InvalidTarget) as caught:
        with targets.target(url, **s3_root.options).writer() as w, w.open("a\nb", "wb") as f:
            f.write(b"x")
    assert "line break" in str(caught.value) and "table/" in str(caught.value)
    assert not targets.target(url, **s3_root.options).exists()
