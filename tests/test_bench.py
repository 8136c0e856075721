"""The benchmark runs (how fast is bench/'s business, not the tests')."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs_and_reports_ratios():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    rows = [line for line in result.stdout.splitlines() if line.startswith("| file")]
    assert len(rows) == 6
    assert all(line.rstrip(" |").endswith("x") for line in rows)
