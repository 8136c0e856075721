"""Directory outputs on S3: claim -> publish -> _SUCCESS."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from datetime import timedelta
from typing import Any

import pytest

import targets
from targets.errors import CommitError, IncompleteCommit, InvalidTarget, TargetExistsError
from targets.fs import resolve
from targets.fs.s3 import S3FS
from tests.fixtures.s3 import BUCKET, PART_SIZE
from tests.s3.helpers import count_requests, lose_response


def _keys(client: Any, path: str) -> list[str]:
    prefix = path.split("/", 1)[1] + "/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"][len(prefix) :] for p in pages for o in p.get("Contents", []))


def _uploads(client: Any, path: str) -> list[str]:
    prefix = path.split("/", 1)[1]
    resp = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
    return [u["Key"] for u in resp.get("Uploads", [])]


def _committed(fs: S3FS, path: str) -> bool:
    return fs.isfile(fs.join(path, "_SUCCESS"))


def _write_dir(fs: S3FS, path: str, files: dict[str, bytes], **kwargs: Any) -> dict[str, Any]:
    w = fs.directory_writer(path, **kwargs)
    for name, data in files.items():
        with w.open(name) as f:
            f.write(data)
    return w.commit()


def test_nothing_is_visible_before_the_claim(s3, client) -> None:
    fs, root = s3
    path = f"{root}/table"
    w = fs.directory_writer(path)
    with w.open("small.csv") as f:
        f.write(b"1,2\n")
    with w.open("big.bin") as f:
        f.write(b"b" * (2 * PART_SIZE + 9))
    assert _keys(client, path) == []
    assert _uploads(client, path) == [path.split("/", 1)[1] + "/big.bin"]  # parts, unpublished
    manifest = w.commit()
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "big.bin", "small.csv"]
    assert _uploads(client, path) == []
    assert [f["name"] for f in manifest["files"]] == ["big.bin", "small.csv"]
    assert manifest["files"][1]["size"] == 4
    assert json.loads(fs.open_input(fs.join(path, "_SUCCESS")).read()) == manifest


def test_request_count_and_zero_copies(s3, client) -> None:
    """N files under one part each: claim + one listing + N puts + _SUCCESS, no copy."""
    fs, root = s3
    _write_dir(fs, f"{root}/warm", {"a": b"a"})  # the probe runs once per bucket and process
    n = 20
    with count_requests(fs) as counts:
        _write_dir(fs, f"{root}/table", {f"part-{i:04d}.csv": b"x" * 1000 for i in range(n)})
    assert counts["PutObject"] == n + 2  # the files, the claim, _SUCCESS
    assert counts["ListObjectsV2"] == 1  # is the prefix free of foreign objects?
    assert sum(counts.values()) == n + 3
    assert not any("Copy" in op for op in counts)


def test_loser_gets_exists_and_leaves_nothing(s3, client) -> None:
    fs, root = s3
    path = f"{root}/table"
    _write_dir(fs, path, {"a.csv": b"winner"})
    w = fs.directory_writer(path)
    with w.open("b.csv") as f:
        f.write(b"loser")
    with w.open("c.bin") as f:
        f.write(b"L" * (PART_SIZE + 1))
    with pytest.raises(TargetExistsError, match="already exists"):
        w.commit()
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "a.csv"]
    assert _uploads(client, path) == []


def test_foreign_objects_block_the_commit(s3, client) -> None:
    """A prefix with someone else's data (a Spark output, a stray file) is not ours to mix."""
    fs, root = s3
    path = f"{root}/table"
    client.put_object(Bucket=BUCKET, Key=path.split("/", 1)[1] + "/part-00000.parquet", Body=b"s")
    with pytest.raises(TargetExistsError, match="did not write"):
        _write_dir(fs, path, {"a.csv": b"mine", "big": b"B" * (PART_SIZE + 1)})
    assert _keys(client, path) == ["part-00000.parquet"]
    assert _uploads(client, path) == []


def test_overwrite_replaces_a_committed_output(s3, client) -> None:
    fs, root = s3
    path = f"{root}/table"
    _write_dir(fs, path, {"old-1": b"1", "old-2": b"2"})
    manifest = _write_dir(fs, path, {"new": b"n"}, if_exists="overwrite")
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "new"]
    assert [f["name"] for f in manifest["files"]] == ["new"]


def test_lost_claim_response_still_commits(s3) -> None:
    fs, root = s3
    path = f"{root}/table"
    _write_dir(fs, f"{root}/warm", {"a": b"a"})
    with lose_response(fs, "PutObject", lambda r: r.url.endswith("/_targets_claim")) as lost:
        manifest = _write_dir(fs, path, {"a.csv": b"data"})
    assert lost == [200]
    assert _committed(fs, path)
    assert [f["name"] for f in manifest["files"]] == ["a.csv"]


def test_writer_path_is_staged_then_copied(s3, client) -> None:
    """Tools that write by path with a client of their own use a hidden staging prefix,
    copied at the commit (through ``w.filesystem`` nothing is copied:
    tests/s3/test_path_writes.py)."""
    fs, root = s3
    path = f"{root}/table"
    w = fs.directory_writer(path)
    fs.fsspec.pipe(w.path + "/tool/part-0.csv", b"from a tool")
    with w.open("direct.csv") as f:
        f.write(b"direct")
    assert _keys(client, path) == []
    w.commit()
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "direct.csv", "tool/part-0.csv"]
    assert fs.open_input(f"{path}/tool/part-0.csv").read() == b"from a tool"
    assert not [k for k in _keys(client, root) if ".targets-tmp-" in k]


def test_staging_directory_commit(s3, client) -> None:
    fs, root = s3
    path = f"{root}/table"
    st = fs.staging(path, directory=True)
    fs.fsspec.pipe(st.path + "/x.csv", b"x")
    fs.fsspec.pipe(st.path + "/_SUCCESS", b"")  # a tool's own marker is replaced by ours
    manifest = st.commit()
    assert [f["name"] for f in manifest["files"]] == ["x.csv"]
    assert _keys(client, root) == ["table/_SUCCESS", "table/_targets_claim", "table/x.csv"]


# -- a writer killed between the claim and _SUCCESS -----------------------------------------


def _crash_writer(url: str, options: dict[str, Any], files: dict[str, int], die_at: str) -> None:
    """Commit a directory output and SIGKILL this process at the first request whose key
    ends with ``die_at`` (after the claim, before _SUCCESS)."""
    fs, path = resolve(url, **options, publish_concurrency=1)
    assert isinstance(fs, S3FS)
    claimed = []

    def before_send(request: Any, **kwargs: Any) -> None:
        if request.url.split("?")[0].endswith("/_targets_claim"):
            claimed.append(True)
        elif claimed and request.url.split("?")[0].endswith(die_at):
            os.kill(os.getpid(), signal.SIGKILL)

    fs.client.meta.events.register("before-send.s3", before_send)
    w = fs.directory_writer(path)
    for name, size in sorted(files.items()):
        with w.open(name) as f:
            f.write(name.encode()[:1] * size)
    w.commit()


def _crash(url: str, options: dict[str, Any], files: dict[str, int], die_at: str) -> None:
    proc = multiprocessing.get_context("spawn").Process(
        target=_crash_writer, args=(url, options, files, die_at)
    )
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL


def test_killed_writer_rolls_forward(s3_root, client) -> None:
    """Only multipart files: every listed file survives the writer, recovery finishes it."""
    url = s3_root.child("table")
    files = {"a.bin": PART_SIZE + 1, "b.bin": PART_SIZE + 2}
    _crash(url, s3_root.options, files, "/_SUCCESS")
    fs2, path = resolve(url, **s3_root.options, stale_claim_after=0)
    assert not _committed(fs2, path)
    with pytest.raises(IncompleteCommit, match="targets recover"):
        _write_dir(fs2, path, {"new": b"n"})
    report = fs2.recover(path)
    assert "forward" in report
    assert _committed(fs2, path)
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "a.bin", "b.bin"]
    assert fs2.open_input(f"{path}/b.bin").read() == b"b" * (PART_SIZE + 2)
    assert _uploads(client, path) == []
    assert "nothing to recover" in fs2.recover(path)


def test_killed_writer_rolls_back_deleting_only_its_own_objects(s3_root, client) -> None:
    url = s3_root.child("table")
    files = {"a.csv": 10, "b.bin": PART_SIZE + 1, "c.csv": 10}
    _crash(url, s3_root.options, files, "/c.csv")  # a.csv published, c.csv never sent
    fs2, path = resolve(url, **s3_root.options, stale_claim_after=0)
    assert not _committed(fs2, path)
    assert "a.csv" in _keys(client, path)
    # Someone replaces a listed file meanwhile: it lacks the writer's token, so it stays.
    key = path.split("/", 1)[1]
    client.put_object(Bucket=BUCKET, Key=key + "/a.csv", Body=b"foreign")
    with pytest.raises(CommitError, match="gone"):
        fs2.recover(path, how="forward")
    report = fs2.recover(path)
    assert "back" in report
    assert _keys(client, path) == ["a.csv"]
    assert fs2.open_input(f"{path}/a.csv").read() == b"foreign"
    assert _uploads(client, path) == []


def test_killed_writer_rolls_back_to_a_clean_state(s3_root, client) -> None:
    url = s3_root.child("table")
    _crash(url, s3_root.options, {"a.csv": 10, "b.bin": PART_SIZE + 1}, "/_SUCCESS")
    fs2, path = resolve(url, **s3_root.options)
    assert not _committed(fs2, path)
    with pytest.raises(TargetExistsError, match="being committed"):  # a fresh claim
        _write_dir(fs2, path, {"new": b"n"})
    with pytest.raises(CommitError, match="may still be publishing"):
        fs2.recover(path, how="back")
    fs2, path = resolve(url, **s3_root.options, stale_claim_after=0)
    assert "back" in fs2.recover(path, how="back")
    assert _keys(client, path) == []
    assert _uploads(client, path) == []
    _write_dir(fs2, path, {"new": b"n"})
    assert _committed(fs2, path)


# -- cleanup ---------------------------------------------------------------------------------


def test_cleanup_removes_stale_temporaries_and_nothing_else(s3, s3_root, client) -> None:
    fs, root = s3
    path = f"{root}/table"
    _write_dir(fs, path, {"a.csv": b"committed"})
    other = f"{root}/other"
    w = fs.directory_writer(other)
    fs.fsspec.pipe(w.path + "/staged.csv", b"s")  # a staging prefix beside `other`
    with w.open("big.bin") as f:
        f.write(b"x" * (PART_SIZE + 1))  # a pending upload under `other`
    fresh = fs.cleanup(other, older_than=timedelta(hours=1))
    assert fresh.removed == []
    assert [u for u in fresh.kept_recent if "targets-tmp" in u]
    # moto dates every multipart upload 2010-11-10, so on moto each one is stale.
    assert len(fresh.aborted_uploads) == 1
    assert _uploads(client, other) == []
    # The writer is now taken for dead: judged with a lease period of 0, its staging is
    # stale (a live writer's stays, tests/leases).
    dead, _ = resolve(s3_root.url, **s3_root.options, stale_claim_after=0)
    dry = dead.cleanup(other, older_than=timedelta(0), dry_run=True)
    assert len(dry.removed) == 1
    assert [k for k in _keys(client, root) if "targets-tmp" in k]
    report = dead.cleanup(other, older_than=timedelta(0))
    assert len(report.removed) == 1 and ".other.targets-tmp-" in report.removed[0]
    assert not [k for k in _keys(client, root) if "targets-tmp" in k]
    # What is left beside `other` is the record that fences its writer (its lease, taken
    # over), which a later cleanup removes once it is stale itself.
    fence = [k for k in _keys(client, root) if k.startswith(".other.targets-lease-")]
    assert len(fence) == 1
    assert [k for k in _keys(client, root) if k not in fence] == [
        "table/_SUCCESS",
        "table/_targets_claim",
        "table/a.csv",
    ]
    assert fs.cleanup(path, older_than=timedelta(0)).removed == []


def test_recover_with_force_settles_a_claim_that_is_not_yet_stale(s3_root, client) -> None:
    """``force=True`` is for a writer known to be dead: its fresh claim is rolled back at
    once instead of being refused until it is stale."""
    url = s3_root.child("table")
    _crash(url, s3_root.options, {"a.csv": 10, "b.bin": PART_SIZE + 1}, "/_SUCCESS")
    fs2, path = resolve(url, **s3_root.options)  # stale_claim_after: the default, 60 s
    with pytest.raises(CommitError, match="may still be publishing"):
        fs2.recover(path, how="back")
    assert "back" in fs2.recover(path, how="back", force=True)
    assert _keys(client, path) == []
    assert _uploads(client, path) == []
    assert "nothing to recover" in fs2.recover(path, force=True)


# -- publish_concurrency --------------------------------------------------------------------


def test_publish_concurrency_1_commits_with_one_request_at_a_time(s3_root, client) -> None:
    fs, path = resolve(s3_root.child("table"), **s3_root.options, publish_concurrency=1)
    assert isinstance(fs, S3FS) and fs.publish_concurrency == 1
    threads: set[int] = set()

    def before_send(request: Any, **kwargs: Any) -> None:
        threads.add(threading.get_ident())

    fs.client.meta.events.register("before-send.s3", before_send)
    try:
        files = {f"part-{i}.csv": f"{i}\n".encode() for i in range(5)}
        files["big.bin"] = b"b" * (PART_SIZE + 1)
        manifest = _write_dir(fs, path, files)
    finally:
        fs.client.meta.events.unregister("before-send.s3", before_send)
    assert threads == {threading.get_ident()}  # every request from the writer's own thread
    assert sorted(f["name"] for f in manifest["files"]) == sorted(files)
    assert _committed(fs, path)
    assert fs.open_input(f"{path}/part-3.csv").read() == b"3\n"


@pytest.mark.parametrize("bad", [0, -2, 1.5, "4", True])
def test_publish_concurrency_must_be_a_positive_int(s3_root, bad: Any) -> None:
    with pytest.raises(InvalidTarget, match="publish_concurrency"):
        resolve(s3_root.child("table"), **s3_root.options, publish_concurrency=bad)
    with pytest.raises(InvalidTarget, match=r"publish_concurrency=0 is not a positive"):
        targets.target(s3_root.child("out/"), **s3_root.options, publish_concurrency=0)
