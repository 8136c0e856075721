"""Tools writing by path through ``writer().filesystem`` on GCS (fake-gcs-server): files go
straight to their final names (held back, or resumable sessions finalised at the commit),
so the commit sends no copy or rewrite request; a separate client's objects under
``w.path`` are still copied."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.dataset as ds

from targets.fs.gcs import GCSFS
from tests.gcs._faults import RequestLog

PART = 256 * 1024


def _keys(afs: GCSFS, path: str) -> list[str]:
    store, prefix = afs.locate(path)
    return sorted(o.key[len(prefix) + 1 :] for o in store.list(prefix + "/"))


def test_write_dataset_through_the_filesystem_copies_nothing(gcs, base, requests: RequestLog):
    """pyarrow's ``write_dataset`` (default ``existing_data_behavior="error"``), files
    larger than a part: nothing visible before the commit, the dataset reads back whole,
    and no request of the whole run is a copy or a rewrite (the old route sent one per
    file)."""
    afs = GCSFS(gcs, part_size=PART)
    table = pa.table(
        {"k": [i % 2 for i in range(20_000)], "v": [os.urandom(16).hex() for _ in range(20_000)]}
    )
    path = f"{base}/table"
    w = afs.directory_writer(path)
    ds.write_dataset(
        table,
        w.path,
        filesystem=w.filesystem,
        format="parquet",
        partitioning=["k"],
        partitioning_flavor="hive",
    )
    assert _keys(afs, base) == []
    manifest = w.commit()
    kinds = requests.kinds()
    assert "copy" not in kinds and "rewrite" not in kinds, kinds
    assert "upload-resumable" in kinds  # the files were larger than a part
    assert sorted(f["name"] for f in manifest["files"]) == [
        "k=0/part-0.parquet",
        "k=1/part-0.parquet",
    ]
    back = ds.dataset(path, filesystem=gcs, format="parquet", partitioning="hive").to_table()
    assert sorted(back.column("v").to_pylist()) == sorted(table.column("v").to_pylist())
    assert not [k for k in _keys(afs, base) if "targets-tmp" in k]


def test_a_separate_client_under_the_path_is_still_copied(gcs, base, requests: RequestLog):
    """The old route: a client of its own writing under ``w.path`` is staged and copied
    (one rewrite or copy request); a file beside it through ``w.filesystem`` is not."""
    afs = GCSFS(gcs, part_size=PART)
    with afs.directory_writer(f"{base}/t") as w:
        gcs.pipe_file(w.path + "/by-url.csv", b"u")
        w.filesystem.pipe(w.path + "/direct.csv", b"d")
    kinds = requests.kinds()
    assert kinds.count("copy") + kinds.count("rewrite") == 1, kinds
    assert _keys(afs, f"{base}/t") == ["_SUCCESS", "_targets_claim", "by-url.csv", "direct.csv"]
