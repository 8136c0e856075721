"""Tools writing by path through ``writer().filesystem`` on S3: every file goes straight to
its final key (held back or a pending multipart upload), so the commit copies nothing.

The proof of "nothing copied" is the request log of the client the commit uses
(`tests.s3.helpers.count_requests`): no CopyObject, no UploadPartCopy. The old route, a
separate client writing objects under ``w.path``, still commits, by copying them.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import targets
from targets.errors import InvalidTarget, TargetExistsError
from targets.fs import resolve
from targets.fs.objectstore.pathfs import WriterFileSystem
from targets.fs.s3 import S3FS
from tests.fixtures import StoreRoot
from tests.fixtures.s3 import PART_SIZE
from tests.s3.helpers import count_requests

COPIES = {"CopyObject", "UploadPartCopy"}


def _keys(client: Any, prefix: str) -> list[str]:
    bucket, _, key = prefix.partition("/")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/")
    return sorted(o["Key"][len(key) + 1 :] for p in pages for o in p.get("Contents", []) or [])


def _uploads(client: Any, prefix: str) -> list[str]:
    bucket, _, key = prefix.partition("/")
    found = client.list_multipart_uploads(Bucket=bucket, Prefix=key + "/")
    return [u["Key"] for u in found.get("Uploads", []) or []]


def _table(rows: int) -> pa.Table:
    return pa.table(
        {
            "region": [["eu", "us", "ap"][i % 3] for i in range(rows)],
            "n": list(range(rows)),
            "text": [os.urandom(16).hex() for _ in range(rows)],  # incompressible
        }
    )


def test_write_dataset_through_the_filesystem_copies_nothing(s3, client) -> None:
    """pyarrow's ``write_dataset`` with its default ``existing_data_behavior="error"``
    (it lists the base directory first), partitioned, one file larger than a part: the
    output reads back whole, nothing is visible before the commit, and the commit sends no
    copy request. Staging the files and copying them (the old route) fails the count."""
    fs, root = s3
    path = f"{root}/table"
    table = _table(30_000)  # ~ 1 MiB of random text: each file is larger than a part
    with count_requests(fs) as counts:
        w = fs.directory_writer(path)
        ds.write_dataset(
            table,
            w.path,
            filesystem=w.filesystem,
            format="parquet",
            partitioning=["region"],
            partitioning_flavor="hive",
        )
        assert _keys(client, root) == []  # nothing visible, not even in the staging prefix
        manifest = w.commit()
    assert not COPIES & set(counts), counts
    assert counts["UploadPart"] >= 3  # the large files streamed as pending uploads
    names = sorted(f["name"] for f in manifest["files"])
    assert names == [f"region={r}/part-0.parquet" for r in ("ap", "eu", "us")]
    assert all(f["size"] > PART_SIZE for f in manifest["files"])
    back = ds.dataset(path, filesystem=fs.fsspec, format="parquet", partitioning="hive")
    assert back.to_table().num_rows == table.num_rows
    assert sorted(back.to_table().column("n").to_pylist()) == list(range(30_000))
    assert not [k for k in _keys(client, root) if "targets-tmp" in k]
    assert _uploads(client, path) == []


def test_pandas_and_write_table_through_the_filesystem(s3, s3_root: StoreRoot, client) -> None:
    """pandas' ``to_parquet(path, filesystem=)``, ``to_csv`` into ``filesystem.open``, and
    ``pyarrow.parquet.write_table`` given the bare ``bucket/key`` form: all three files are
    in the committed output, and nothing was copied."""
    fs, root = s3
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    with count_requests(fs) as counts:
        with fs.directory_writer(f"{root}/frame") as w:
            wfs = w.filesystem
            df.to_parquet(w.path + "/x.parquet", filesystem=wfs)
            with wfs.open(w.path + "/sub/y.csv", "w") as f:
                df.to_csv(f, index=False)
            bare = wfs._strip_protocol(w.path)
            pq.write_table(pa.Table.from_pandas(df), bare + "/z.parquet", filesystem=wfs)
            assert _keys(client, root) == []
    assert not COPIES & set(counts), counts
    out = targets.DirectoryTarget(s3_root.child("frame/"), **s3_root.options)
    assert out.files() == ["sub/y.csv", "x.parquet", "z.parquet"]
    got = pd.read_parquet(f"{root}/frame/x.parquet", filesystem=fs.fsspec)
    assert got.equals(df)
    assert fs.open_input(f"{root}/frame/sub/y.csv").read() == b"a,b\n1,x\n2,y\n3,z\n"


def test_the_filesystem_answers_with_what_was_written_through_it(s3) -> None:
    """``exists``/``info``/``ls``/``find`` see the files written so far, under every form
    of the path; ``mkdir`` creates a directory it then reports. A filesystem that
    answered from the store (nothing there before the commit) fails the listing checks."""
    fs, root = s3
    with fs.directory_writer(f"{root}/table") as w:
        wfs = w.filesystem
        assert isinstance(wfs, WriterFileSystem) and wfs is w.filesystem
        bare = wfs._strip_protocol(w.path)
        assert wfs.isdir(w.path) and wfs.find(w.path) == []
        wfs.pipe(w.path + "/a/one.bin", b"1")
        wfs.makedirs(w.path + "/empty", exist_ok=True)
        with wfs.open("/" + bare + "/two.bin", "xb") as f:
            f.write(b"22")
        assert wfs.exists(f"{w.path}/a/one.bin") and wfs.isdir(f"{w.path}/a")
        assert wfs.info(f"{bare}/two.bin") == {"name": f"{bare}/two.bin", "size": 2, "type": "file"}
        assert wfs.ls(w.path, detail=False) == [f"{bare}/a", f"{bare}/empty", f"{bare}/two.bin"]
        assert wfs.find(w.path) == [f"{bare}/a/one.bin", f"{bare}/two.bin"]
        assert not wfs.exists(f"{w.path}/three.bin")
        assert not wfs.exists(f"s3://{root}/elsewhere")  # outside the root
        with pytest.raises(TargetExistsError, match="already written"):
            wfs.pipe(w.path + "/two.bin", b"again")


def test_reads_deletes_and_moves_through_the_filesystem_are_refused(s3, client) -> None:
    """Reading a file written through the filesystem, deleting, moving or copying it, and
    writing outside the root raise `InvalidTarget` naming the path, and the output commits
    untouched. A filesystem that passed these to the store would delete or read nothing
    (the objects are not there yet) without an error."""
    fs, root = s3
    path = f"{root}/table"
    w = fs.directory_writer(path)
    wfs = w.filesystem
    wfs.pipe(w.path + "/a.csv", b"a")
    for act in (
        lambda: wfs.cat(w.path + "/a.csv"),
        lambda: wfs.open(w.path + "/a.csv", "rb"),
        lambda: wfs.open(w.path + "/a.csv", "ab"),
        lambda: wfs.rm(w.path + "/a.csv"),
        lambda: wfs.rm(w.path, recursive=True),
        lambda: wfs.mv(w.path + "/a.csv", w.path + "/b.csv"),
        lambda: wfs.copy(w.path + "/a.csv", w.path + "/b.csv"),
    ):
        with pytest.raises(InvalidTarget, match=r"a\.csv|targets-tmp") as err:
            act()
        assert "before its commit" in str(err.value)
    with pytest.raises(InvalidTarget, match="writes only under"):
        wfs.pipe(f"s3://{root}/elsewhere.csv", b"x")
    with pytest.raises(FileNotFoundError):
        wfs.cat(w.path + "/never.csv")
    w.commit()
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "a.csv"]
    assert _keys(client, root) == ["table/_SUCCESS", "table/_targets_claim", "table/a.csv"]


def test_an_error_inside_the_writer_discards_what_the_filesystem_wrote(s3, client) -> None:
    """A tool that fails halfway: nothing of its files is left, not even a pending upload."""
    fs, root = s3
    with pytest.raises(RuntimeError, match="halfway"), fs.directory_writer(f"{root}/t") as w:
        w.filesystem.pipe(w.path + "/big.bin", b"b" * (PART_SIZE * 2 + 1))
        w.filesystem.pipe(w.path + "/small.bin", b"s")
        raise RuntimeError("halfway")
    assert _keys(client, root) == []
    assert _uploads(client, root) == []


def test_another_client_writing_under_the_path_is_still_copied(s3, s3_root, client) -> None:
    """The old route keeps working: a tool given only ``w.path`` and storage options (its
    own s3fs client) writes there, and the commit copies its objects (the request log
    shows the copy). Files written through ``w.filesystem`` beside it are not copied."""
    fs, root = s3
    path = f"{root}/table"
    other, _ = resolve(s3_root.url, **s3_root.options)
    assert isinstance(other, S3FS) and other is not fs
    with count_requests(fs) as counts:
        with fs.directory_writer(path) as w:
            other.fsspec.pipe(w.path + "/by-url/part-0.csv", b"from a tool's own client")
            w.filesystem.pipe(w.path + "/direct.csv", b"direct")
            assert _keys(client, path) == []
    assert counts["CopyObject"] + counts["UploadPartCopy"] == 1, counts
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "by-url/part-0.csv", "direct.csv"]
    assert fs.open_input(f"{path}/by-url/part-0.csv").read() == b"from a tool's own client"
    assert not [k for k in _keys(client, root) if "targets-tmp" in k]
