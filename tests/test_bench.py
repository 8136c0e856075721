"""The quick benchmark runs on every backend and reports ratios and exact request counts.

How fast anything is, is bench/'s business, not the tests': only what cannot vary between
runs is asserted here (the table shapes, and request counts, which are exact).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def rows(output: str, first_cell: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in output.splitlines()
        if line.startswith(f"| {first_cell}")
    ]


def test_every_backend_and_path_family_is_measured_with_a_ratio(quick: str) -> None:
    measured = rows(quick, "file 1 KiB")
    assert {r[1] for r in measured} == {"local", "s3", "gcs"}
    paths = {r[2] for r in measured}
    for family in ("plain writes", "targets:", "fsspec:", "Luigi:", "obstore:"):
        assert any(p.startswith(family) for p in paths), family
    assert all(r[3].endswith("x") for r in measured)
    assert {r[0] for r in rows(quick, "directory")} >= {"directory 50 x 64 KiB"}


def test_request_counts_are_exact(quick: str) -> None:
    verdicts = {r[0]: r for r in rows(quick, "") if len(r) == 3}
    for backend in ("s3", "gcs"):
        one = verdicts[f"{backend} single-file commit (1KiB): exactly 1 request"]
        assert one[1].startswith("1 (") and one[2] == "met"
    n = verdicts["s3 writer(), 50 x 64 KiB: zero bytes copied"]
    assert n[1] == "0 B"
    # claim, one listing, 50 puts, _SUCCESS: N + 3 by design (docs/performance.md)
    assert verdicts["s3 writer(), 50 x 64 KiB: ≤ N + 2 = 52 requests"][1].startswith("53 (")
