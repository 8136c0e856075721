"""pandas writing Parquet and CSV through targets: a file appears whole, or not at all.

    python examples/pandas_outputs.py                       # under ./example-output/pandas
    python examples/pandas_outputs.py gs://bucket/run1      # any URL targets supports

Storage options come from ``TARGETS_STORAGE_OPTIONS`` (a JSON object). ``to_parquet`` and
``to_csv`` accept an open binary file: hand them ``target.open("wb")`` inside a ``with``
block. The file is committed when the block ends; if pandas raises halfway, nothing appears
at the output's path and the next run writes it again.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pandas as pd

import targets


def storage_options() -> dict[str, Any]:
    """The JSON object in ``TARGETS_STORAGE_OPTIONS``, as the ``targets`` command reads it."""
    text = os.environ.get("TARGETS_STORAGE_OPTIONS", "").strip()
    options = json.loads(text) if text else {}
    if not isinstance(options, dict):
        raise SystemExit("TARGETS_STORAGE_OPTIONS must hold a JSON object of storage options")
    return options


def orders() -> pd.DataFrame:
    regions = ["north", "south", "east", "west"]
    return pd.DataFrame(
        {
            "order_id": range(500),
            "region": [regions[i % 4] for i in range(500)],
            "amount_cents": [100 + (13 * i) % 900 for i in range(500)],
        }
    )


def write_parquet(out: targets.FileTarget, df: pd.DataFrame) -> None:
    with out.open("wb") as f:
        df.to_parquet(f, index=False)


def write_csv(out: targets.FileTarget, df: pd.DataFrame) -> None:
    with out.open("wb") as f:  # binary: pandas encodes, the target commits the bytes
        df.to_csv(f, index=False)


def read_parquet(out: targets.FileTarget) -> pd.DataFrame:
    # Parquet readers seek, and ``open("rb")`` on an object store is a plain stream: read
    # through the store's fsspec filesystem, whose files can seek (reads need no commit).
    with out.fs.fsspec.open(out.path, "rb") as f:
        return pd.read_parquet(f)


def read_csv(out: targets.FileTarget) -> pd.DataFrame:
    with out.open("rb") as f:
        return pd.read_csv(f)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = (args[0] if args else "example-output/pandas").rstrip("/")
    options = storage_options()
    df = orders()
    for name, write, read in (
        ("orders.parquet", write_parquet, read_parquet),
        ("orders.csv", write_csv, read_csv),
    ):
        out = targets.FileTarget(f"{root}/{name}", **options)
        if out.exists():
            print(f"{out.url}: complete, skipped")
            continue
        write(out, df)
        print(f"{out.url}: {len(read(out))} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
