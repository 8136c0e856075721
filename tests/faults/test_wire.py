"""Lost answers and cut-off uploads over the wire: a fault proxy (`targets.testing.proxy`)
between the real clients (botocore, gcsfs) and the servers (moto, fake-gcs-server).

A lost answer: the proxy forwards the request, the server carries it out, and the client's
connection is reset without an answer. The client retries by itself and is then told
"precondition failed" about its own write. The commit must report success when the object
carries its own writer token, and a conflict when it is someone else's (G7). A cut-off
upload: the connection is reset after some bytes of the body and nothing reaches the
server; the client retries, and the output appears whole or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

import targets
from targets.errors import StoreUnavailable
from targets.testing.proxy import Proxy, Request, gcs_upload_of, s3_request
from tests.fixtures import StoreRoot

PART = 256 << 10


def body(label: str, size: int) -> bytes:
    line = f"{label} {uuid.uuid4().hex}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def key_of(root: StoreRoot, name: str) -> str:
    """The object key of ``name`` under the root (the URL without scheme and bucket)."""
    return f"{root.url.split('/', 3)[3]}/{name}"


def write_dir(root: StoreRoot, name: str, files: dict[str, bytes]) -> None:
    with targets.target(root.child(name) + "/", **root.options).writer() as w:
        for fname, data in files.items():
            with w.open(fname, "wb") as f:
                f.write(data)


def read_dir(root: StoreRoot, name: str) -> dict[str, bytes]:
    d = targets.target(root.child(name) + "/", **root.options)
    assert d.exists()
    out = {}
    for fname in d.files():
        with d.open(fname, "rb") as f:
            out[fname] = f.read()
    return out


def outcomes(proxy: Proxy, needle: str) -> list[tuple[str, int]]:
    return [(s.outcome, s.status) for s in proxy.log if needle in s.target]


# -- S3 -----------------------------------------------------------------------------------------


def test_s3fs_exclusive_put_calls_its_own_retried_write_a_conflict(s3_proxy: Any) -> None:
    """Why writer tokens: through a lost answer, s3fs's ``pipe_file(mode="create")`` retries
    by itself, gets 412 for its own write and raises FileExistsError, although the object
    it reports as someone else's is its own."""
    import s3fs

    proxy, root = s3_proxy
    options = dict(root.options)
    options.pop("part_size")
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    path = root.url.removeprefix("s3://") + "/s3fs.txt"
    proxy.lose_response(s3_request("PutObject!", "/s3fs.txt"))
    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"mine", mode="create")
    assert outcomes(proxy, "/s3fs.txt")[:2] == [("lost", 200), ("forwarded", 412)]
    assert fs.cat_file(path) == b"mine"  # the "conflict" was its own write


@pytest.mark.parametrize(
    ("size", "kind"),
    [(1000, "PutObject!"), (2 * PART + 3, "CompleteMultipartUpload!")],
    ids=["put", "multipart"],
)
def test_s3_a_lost_answer_is_the_writers_own_success(s3_proxy: Any, size: int, kind: str) -> None:
    proxy, root = s3_proxy
    data = body("mine", size)
    proxy.lose_response(s3_request(kind, "/out.bin"))
    targets.target(root.child("out.bin"), **root.options).write_bytes(data)
    seen = outcomes(proxy, "/out.bin")
    assert ("lost", 200) in seen
    # the client's own retry: refused (412), or for a completion moto repeats the answer
    assert seen[seen.index(("lost", 200)) + 1] in (("forwarded", 412), ("forwarded", 200))
    assert targets.target(root.child("out.bin"), **root.options).read_bytes() == data


def test_s3_a_lost_answer_over_someone_elses_object_is_a_conflict(
    s3_proxy: Any, s3_server: dict[str, Any]
) -> None:
    proxy, root = s3_proxy
    client = s3_server["client"]
    client.put_object(Bucket=s3_server["bucket"], Key=key_of(root, "out.bin"), Body=b"theirs")
    proxy.lose_response(s3_request("PutObject!", "/out.bin"))
    with pytest.raises(targets.TargetExistsError, match="already exists"):
        targets.target(root.child("out.bin"), **root.options).write_bytes(b"mine")
    assert outcomes(proxy, "/out.bin")[:2] == [("lost", 412), ("forwarded", 412)]
    assert targets.target(root.child("out.bin"), **root.options).read_bytes() == b"theirs"


@pytest.mark.parametrize(
    "lost", ["_targets_claim", "a.csv", "big.bin", "_SUCCESS"], ids=lambda x: x
)
def test_s3_a_lost_answer_in_a_directory_commit_still_commits_once(
    s3_proxy: Any, s3_server: dict[str, Any], lost: str
) -> None:
    proxy, root = s3_proxy
    files = {"a.csv": body("a", 100), "big.bin": body("big", PART + 10)}
    kind = "CompleteMultipartUpload!" if lost == "big.bin" else "PutObject!"
    proxy.lose_response(s3_request(kind, f"/table/{lost}"))
    write_dir(root, "table", files)
    assert ("lost", 200) in outcomes(proxy, f"/table/{lost}")
    assert read_dir(root, "table") == files
    listed = s3_server["client"].list_objects_v2(
        Bucket=s3_server["bucket"], Prefix=key_of(root, "")
    )
    names = sorted(o["Key"].rsplit("/", 1)[1] for o in listed["Contents"])
    assert names == ["_SUCCESS", "_targets_claim", "a.csv", "big.bin"]
    uploads = s3_server["client"].list_multipart_uploads(
        Bucket=s3_server["bucket"], Prefix=key_of(root, "")
    )
    assert uploads.get("Uploads", []) == []


@pytest.mark.parametrize(
    ("size", "kind"),
    [(200_000, "PutObject!"), (2 * PART + 3, "UploadPart")],
    ids=["put", "part"],
)
def test_s3_an_upload_cut_off_midway_is_retried_and_never_half_visible(
    s3_proxy: Any, size: int, kind: str
) -> None:
    proxy, root = s3_proxy
    data = body("mine", size)
    proxy.reset_request(s3_request(kind, "/out.bin"), after=10_000)
    targets.target(root.child("out.bin"), **root.options).write_bytes(data)
    assert ("reset", 0) in outcomes(proxy, "/out.bin")
    assert targets.target(root.child("out.bin"), **root.options).read_bytes() == data


def test_s3_an_endpoint_that_always_cuts_uploads_off_fails_within_the_retry_budget(
    s3_proxy: Any, s3_server: dict[str, Any]
) -> None:
    """botocore's default (legacy) retry mode sends a request 5 times; then the commit
    ends with StoreUnavailable naming the output and what to do, nothing visible."""
    proxy, root = s3_proxy
    proxy.reset_request(s3_request("PutObject!", "/out.bin"), after=100, times=None)
    with pytest.raises(StoreUnavailable) as info:
        targets.target(root.child("out.bin"), **root.options).write_bytes(body("x", 5000))
    message = str(info.value)
    assert root.child("out.bin") in message and "write again only if it does not" in message
    assert [o for o, _ in outcomes(proxy, "/out.bin") if o == "reset"] == ["reset"] * 5
    proxy.clear()
    assert not targets.target(root.child("out.bin"), **root.options).exists()


# -- GCS ----------------------------------------------------------------------------------------


def final_chunk(request: Request) -> bool:
    """The chunk that finalises a resumable upload (its Content-Range has a total)."""
    content_range = request.headers.get("content-range", "")
    return request.method == "PUT" and "upload_id" in request.query and "/*" not in content_range


@pytest.mark.parametrize("size", [1000, 2 * PART + 3], ids=["single-request", "resumable"])
def test_gcs_a_lost_answer_is_the_writers_own_success(gcs_proxy: Any, size: int) -> None:
    proxy, root = gcs_proxy
    data = body("mine", size)
    match: Callable[[Request], bool] = (
        gcs_upload_of(key_of(root, "out.bin")) if size < PART else final_chunk
    )
    proxy.lose_response(match)
    targets.target(root.child("out.bin"), **root.options).write_bytes(data)
    statuses = [st for o, st in outcomes(proxy, "") if o == "lost"]
    assert statuses == [200]
    assert targets.target(root.child("out.bin"), **root.options).read_bytes() == data


def test_gcs_a_lost_answer_over_someone_elses_object_is_a_conflict(gcs_proxy: Any) -> None:
    proxy, root = gcs_proxy
    theirs = targets.target(root.child("out.bin"), **root.options)
    theirs.write_bytes(b"theirs")
    proxy.lose_response(gcs_upload_of(key_of(root, "out.bin")))
    with pytest.raises(targets.TargetExistsError, match="already exists"):
        targets.target(root.child("out.bin"), **root.options).write_bytes(b"mine")
    assert [st for o, st in outcomes(proxy, "") if o == "lost"] == [412]
    assert theirs.read_bytes() == b"theirs"


@pytest.mark.parametrize("lost", ["_targets_claim", "a.csv", "big.bin", "_SUCCESS"])
def test_gcs_a_lost_answer_in_a_directory_commit_still_commits_once(
    gcs_proxy: Any, lost: str
) -> None:
    proxy, root = gcs_proxy
    files = {"a.csv": body("a", 100), "big.bin": body("big", PART + 10)}
    match = final_chunk if lost == "big.bin" else gcs_upload_of(key_of(root, f"table/{lost}"))
    proxy.lose_response(match)
    write_dir(root, "table", files)
    assert [st for o, st in outcomes(proxy, "") if o == "lost"] == [200]
    assert read_dir(root, "table") == files
    listed = targets.fs.filesystem(root.url, **root.options).listdir(root.child("table"))
    assert sorted(p.rsplit("/", 1)[1] for p in listed) == [
        "_SUCCESS",
        "_targets_claim",
        "a.csv",
        "big.bin",
    ]


def test_gcs_an_upload_cut_off_midway_is_retried_and_never_half_visible(gcs_proxy: Any) -> None:
    proxy, root = gcs_proxy
    data = body("mine", 2 * PART + 3)
    proxy.reset_request(lambda r: r.method == "PUT" and "upload_id" in r.query, after=10_000)
    targets.target(root.child("out.bin"), **root.options).write_bytes(data)
    assert ("reset", 0) in outcomes(proxy, "upload_id")
    assert targets.target(root.child("out.bin"), **root.options).read_bytes() == data


def test_gcs_an_endpoint_that_always_cuts_uploads_off_fails_within_the_retry_budget(
    gcs_proxy: Any,
) -> None:
    """gcsfs sends a request 6 times; then the commit ends with StoreUnavailable naming the
    output and what to do, nothing visible."""
    proxy, root = gcs_proxy
    proxy.reset_request(lambda r: r.query.get("uploadType") == "multipart", times=None)
    with pytest.raises(StoreUnavailable) as info:
        targets.target(root.child("out.bin"), **root.options).write_bytes(b"x" * 5000)
    assert root.child("out.bin") in str(info.value)
    assert [s.outcome for s in proxy.log].count("reset") == 6
    proxy.clear()
    assert not targets.target(root.child("out.bin"), **root.options).exists()
