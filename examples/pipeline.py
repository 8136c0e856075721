"""A three-step pipeline whose outputs appear whole or not at all.

    python examples/pipeline.py                    # writes under ./example-output/
    python examples/pipeline.py s3://bucket/run1   # any URL targets supports

Steps: ``orders.csv`` (a file) -> ``by_region/`` (a directory, one part per region, with a
``_SUCCESS`` manifest) -> ``report.txt`` (a file). Each step runs only if its output does
not exist yet, so a second run finds every output complete and writes nothing. Kill it at
any moment: no step ever leaves a partial output behind, and the next run redoes exactly
the steps whose outputs are missing.

Storage options (an endpoint, credentials) come from ``TARGETS_STORAGE_OPTIONS``, a JSON
object, as for the ``targets`` command::

    TARGETS_STORAGE_OPTIONS='{"endpoint_url": "http://127.0.0.1:9000"}' \
        python examples/pipeline.py s3://bucket/run1
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import targets

REGIONS = ["north", "south", "east", "west"]


def storage_options() -> dict[str, Any]:
    """The JSON object in ``TARGETS_STORAGE_OPTIONS``, as the ``targets`` command reads it."""
    text = os.environ.get("TARGETS_STORAGE_OPTIONS", "").strip()
    options = json.loads(text) if text else {}
    if not isinstance(options, dict):
        raise SystemExit("TARGETS_STORAGE_OPTIONS must hold a JSON object of storage options")
    return options


def generate(out: targets.FileTarget, rows: int) -> None:
    """Step 1: a CSV of made-up orders."""
    rng = random.Random(42)
    with out.open("w") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "region", "amount_cents"])
        for order_id in range(rows):
            writer.writerow([order_id, rng.choice(REGIONS), rng.randint(100, 100_000)])


def partition(src: targets.FileTarget, out: targets.DirectoryTarget) -> None:
    """Step 2: one part file per region, committed together with a manifest."""
    by_region: dict[str, list[list[str]]] = defaultdict(list)
    with src.open("r") as f:
        reader = csv.reader(f)
        header = next(reader)
        for row in reader:
            by_region[row[1]].append(row)
    with out.writer() as w:
        for region in sorted(by_region):
            with w.open(f"region={region}/part-0000.csv", "w") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                writer.writerows(by_region[region])


def report(src: targets.DirectoryTarget, out: targets.FileTarget) -> None:
    """Step 3: totals per region, read back through the manifest."""
    lines = []
    for name in src.files():
        with src.open(name, "r") as f:
            rows = list(csv.DictReader(io.StringIO(f.read())))
        total = sum(int(r["amount_cents"]) for r in rows) / 100
        lines.append(f"{rows[0]['region']:>6}: {len(rows):6d} orders, {total:14,.2f} total")
    out.write_text("\n".join(lines) + "\n")


def run_step(
    name: str, output: targets.FileTarget | targets.DirectoryTarget, action: Callable[[], None]
) -> bool:
    """Run ``action`` unless ``output`` is complete; True if it ran."""
    if output.exists():
        print(f"  {name:<10} complete, skipped   {output.url}")
        return False
    started = time.perf_counter()
    action()
    print(f"  {name:<10} written in {time.perf_counter() - started:5.2f} s  {output.url}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "root",
        nargs="?",
        default="example-output",
        help="where to write (a path or URL; default: ./example-output)",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="orders to generate")
    args = parser.parse_args(argv)
    root = args.root.rstrip("/")

    options = storage_options()
    try:
        orders = targets.target(f"{root}/orders.csv", **options)
        regions = targets.target(f"{root}/by_region/", **options)
        summary = targets.target(f"{root}/report.txt", **options)
        print(f"pipeline at {root}")
        ran = [
            run_step("orders", orders, lambda: generate(orders, args.rows)),
            run_step("by_region", regions, lambda: partition(orders, regions)),
            run_step("report", summary, lambda: report(regions, summary)),
        ]
    except targets.TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.read_text(), end="")
    print("all outputs complete;", f"{sum(ran)} step(s) ran" if any(ran) else "nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
