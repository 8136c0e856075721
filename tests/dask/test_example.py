"""examples/dask_pipeline.py runs as a program on its embedded default: a LocalCluster of
its own and the local disk."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "dask_pipeline.py"


def test_the_dask_example_runs_with_no_arguments(tmp_path: pathlib.Path) -> None:
    """Fails if the example cannot start its cluster, write its output through a job, or
    read every row back from exactly the committed files."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "orders: committed 32 files from 8 partitions" in done.stdout
    assert "orders: read 20000 rows from 32 files" in done.stdout
    orders = tmp_path / "example-output" / "dask" / "orders"
    assert (orders / "_SUCCESS").is_file()
    assert sorted(p.name for p in orders.iterdir()) == [
        "_SUCCESS",
        "region=east",
        "region=north",
        "region=south",
        "region=west",
    ]
