"""A Dask pipeline whose Parquet output appears whole or not at all.

    python examples/dask_pipeline.py                    # a LocalCluster, ./example-output/
    python examples/dask_pipeline.py s3://bucket/run1   # any URL targets supports

Two steps on a `distributed.LocalCluster` of two worker processes (on 127.0.0.1, no
dashboard): ``orders/`` — made-up orders written by the workers as Parquet, one file per
partition and region (``region=<name>/part.<i>.parquet``), committed once with a
``_SUCCESS`` manifest — then a report read back from exactly the files that manifest lists.
A second run finds ``orders/`` committed and only reads it. Kill the run (or one of its
workers) at any moment: ``orders/`` is either complete or absent, never partial.

Storage options (an endpoint, credentials) come from ``TARGETS_STORAGE_OPTIONS``, a JSON
object, as for the ``targets`` command::

    TARGETS_STORAGE_OPTIONS='{"endpoint_url": "http://127.0.0.1:9000", "key": "...",
        "secret": "..."}' python examples/dask_pipeline.py s3://bucket/run1

Workers open the output from a pickled target, which carries no credentials; they find
theirs in their environment. For the local cluster started here, an S3 ``key`` and
``secret`` given in the options are handed to the workers as ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np
import pandas as pd

import targets

REGIONS = ["north", "south", "east", "west"]
PARTITIONS = 8
ROWS_PER_PARTITION = 2_500


def storage_options() -> dict[str, Any]:
    """The JSON object in ``TARGETS_STORAGE_OPTIONS``, as the ``targets`` command reads it."""
    text = os.environ.get("TARGETS_STORAGE_OPTIONS", "").strip()
    options = json.loads(text) if text else {}
    if not isinstance(options, dict):
        raise SystemExit("TARGETS_STORAGE_OPTIONS must hold a JSON object of storage options")
    return options


def make_orders(index: int) -> pd.DataFrame:
    """Partition ``index`` of the made-up orders (the same on every run)."""
    rng = np.random.default_rng(index)
    first = index * ROWS_PER_PARTITION
    return pd.DataFrame(
        {
            "order_id": np.arange(first, first + ROWS_PER_PARTITION, dtype="int64"),
            "region": rng.choice(REGIONS, ROWS_PER_PARTITION),
            "amount_cents": rng.integers(100, 100_000, ROWS_PER_PARTITION),
        }
    )


def write_orders(orders: targets.DirectoryTarget) -> None:
    """Step 1: the orders as Parquet, written by the workers, committed once."""
    import dask.dataframe as dd

    from targets.dask import to_parquet

    frame = dd.from_map(make_orders, range(PARTITIONS), meta=make_orders(0).iloc[:0])
    manifest = to_parquet(frame, orders, partition_on=["region"])
    print(f"orders: committed {len(manifest['files'])} files from {PARTITIONS} partitions")


def report(orders: targets.DirectoryTarget) -> None:
    """Step 2: totals per region, from exactly the files of the committed manifest."""
    from targets.dask import read_parquet

    frame = read_parquet(orders)
    totals = frame.groupby("region", observed=True)["amount_cents"].agg(
        ["count", "sum"], split_out=1
    )
    totals = totals.compute().sort_index()
    print(f"orders: read {int(totals['count'].sum())} rows from {len(orders.files())} files")
    for region, row in totals.iterrows():
        print(f"  {region:<6} {int(row['count']):>6} orders {row['sum'] / 100:>14,.2f}")


def worker_environment(options: dict[str, Any]) -> None:
    """Hand an S3 key and secret to the local workers by environment (pickles carry none)."""
    if "key" in options and "secret" in options:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", str(options["key"]))
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", str(options["secret"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="example-output/dask", help="path or URL")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    options = storage_options()
    worker_environment(options)
    orders = targets.DirectoryTarget(f"{args.root.rstrip('/')}/orders/", **options)
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with cluster, Client(cluster):
        if orders.exists():
            print(f"orders: {orders.url} is complete; not written again")
        else:
            write_orders(orders)
        report(orders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
