"""Luigi tasks whose outputs are targets, run with Luigi's local scheduler.

    python examples/luigi_pipeline.py                       # under ./example-output/luigi
    python examples/luigi_pipeline.py s3://bucket/run1      # any URL targets supports

Storage options (an endpoint, credentials) come from ``TARGETS_STORAGE_OPTIONS`` (a JSON
object), never from task parameters: Luigi prints task ids, and parameters are part of them.

``Extract`` writes a file, ``Split`` a directory output (one part per region, committed
together with its ``_SUCCESS`` manifest), ``Summarise`` a report read back through the
manifest. Luigi calls a task complete when its ``output().exists()``: with targets that means
committed, so a task killed halfway is simply run again, and a second build runs nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from typing import Any

import luigi

import targets

REGIONS = ("north", "south", "east", "west")
RAN: list[str] = []
"""The tasks that ran in this process, in order (for the tests)."""


def storage_options() -> dict[str, Any]:
    """The JSON object in ``TARGETS_STORAGE_OPTIONS``, as the ``targets`` command reads it."""
    text = os.environ.get("TARGETS_STORAGE_OPTIONS", "").strip()
    options = json.loads(text) if text else {}
    if not isinstance(options, dict):
        raise SystemExit("TARGETS_STORAGE_OPTIONS must hold a JSON object of storage options")
    return options


class Extract(luigi.Task):
    root = luigi.Parameter()

    def output(self) -> targets.FileTarget:
        return targets.FileTarget(f"{self.root}/orders.csv", **storage_options())

    def run(self) -> None:
        RAN.append("Extract")
        with self.output().open("w") as f:  # committed when the block ends cleanly
            writer = csv.writer(f)
            writer.writerow(["order_id", "region", "amount_cents"])
            for i in range(400):
                writer.writerow([i, REGIONS[i % 4], 100 + 7 * i])


class Split(luigi.Task):
    root = luigi.Parameter()

    def requires(self) -> Extract:
        return Extract(root=self.root)

    def output(self) -> targets.DirectoryTarget:
        return targets.DirectoryTarget(f"{self.root}/by_region/", **storage_options())

    def run(self) -> None:
        RAN.append("Split")
        with self.input().open("r") as f:
            rows = list(csv.DictReader(f))
        with self.output().writer() as w:  # every part appears together, or none does
            for region in REGIONS:
                with w.open(f"region={region}/part-0000.csv", "w") as out:
                    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(r for r in rows if r["region"] == region)


class Summarise(luigi.Task):
    root = luigi.Parameter()

    def requires(self) -> Split:
        return Split(root=self.root)

    def output(self) -> targets.FileTarget:
        return targets.FileTarget(f"{self.root}/summary.txt", **storage_options())

    def run(self) -> None:
        RAN.append("Summarise")
        parts = self.input()
        lines = []
        for name in parts.files():  # the manifest's list, not a directory listing
            with parts.open(name, "r") as f:
                rows = list(csv.DictReader(io.StringIO(f.read())))
            total = sum(int(r["amount_cents"]) for r in rows) / 100
            lines.append(f"{rows[0]['region']}: {len(rows)} orders, {total:.2f}")
        self.output().write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = (args[0] if args else "example-output/luigi").rstrip("/")
    ok = luigi.build([Summarise(root=root)], local_scheduler=True, log_level="WARNING")
    if not ok:
        print("the build failed; no partial output was left behind", file=sys.stderr)
        return 1
    print(Summarise(root=root).output().read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
