"""pyarrow datasets written into a directory output: all files appear together, or none.

    python examples/pyarrow_dataset.py                      # under ./example-output/pyarrow
    python examples/pyarrow_dataset.py s3://bucket/run1     # any URL targets supports

Storage options come from ``TARGETS_STORAGE_OPTIONS`` (a JSON object). Tools that write
many files by path get ``writer().path`` and ``writer().filesystem`` (an fsspec filesystem
that pyarrow accepts as is); the files they write there are committed together, with a
``_SUCCESS`` manifest, when the ``with`` block ends. pyarrow's dataset readers skip
``_SUCCESS`` and the other hidden names, so the committed output reads back as a dataset.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

import targets


def storage_options() -> dict[str, Any]:
    """The JSON object in ``TARGETS_STORAGE_OPTIONS``, as the ``targets`` command reads it."""
    text = os.environ.get("TARGETS_STORAGE_OPTIONS", "").strip()
    options = json.loads(text) if text else {}
    if not isinstance(options, dict):
        raise SystemExit("TARGETS_STORAGE_OPTIONS must hold a JSON object of storage options")
    return options


def sales() -> pa.Table:
    regions = ["north", "south", "east", "west"]
    return pa.table(
        {
            "order_id": list(range(1000)),
            "region": [regions[i % 4] for i in range(1000)],
            "amount_cents": [100 + (37 * i) % 5000 for i in range(1000)],
        }
    )


def write_with_write_to_dataset(out: targets.DirectoryTarget, table: pa.Table) -> None:
    """``pq.write_to_dataset``: hive-partitioned Parquet files under the writer's path."""
    with out.writer() as w:
        pq.write_to_dataset(
            table, root_path=w.path, partition_cols=["region"], filesystem=w.filesystem
        )


def write_with_write_dataset(out: targets.DirectoryTarget, table: pa.Table) -> None:
    """``pyarrow.dataset.write_dataset``: the same, with file names of our choosing."""
    with out.writer() as w:
        ds.write_dataset(
            table,
            w.path,
            filesystem=w.filesystem,
            format="parquet",
            partitioning=["region"],
            partitioning_flavor="hive",
            basename_template="part-{i}.parquet",
        )


def read_back(out: targets.DirectoryTarget) -> pa.Table:
    """The committed dataset, read from its final location."""
    dataset = ds.dataset(out.path, filesystem=out.fs.fsspec, format="parquet", partitioning="hive")
    return dataset.to_table()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = (args[0] if args else "example-output/pyarrow").rstrip("/")
    options = storage_options()
    table = sales()
    for name, write in (
        ("write_to_dataset", write_with_write_to_dataset),
        ("write_dataset", write_with_write_dataset),
    ):
        out = targets.DirectoryTarget(f"{root}/{name}/", **options)
        if out.exists():
            print(f"{out.url}: complete, skipped")
            continue
        write(out, table)
        back = read_back(out)
        print(f"{out.url}: {len(out.files())} files, {back.num_rows} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
