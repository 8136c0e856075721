"""The Azure bench rows (``python -m bench.azure --quick``, on its own Azurite): request
counts and copied bytes are exact, so they are asserted; times are not."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def rows(azurite) -> dict[str, list[str]]:
    """The bench's rows by claim (the session's Azurite fixture makes sure Azurite is
    installed; the bench starts one of its own)."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.azure", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    table = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in result.stdout.splitlines()
        if line.startswith("| azure")
    ]
    return {r[0]: r for r in table}


def test_a_file_commit_is_one_request(rows):
    row = rows["azure single-file commit (1KiB): exactly 1 request"]
    assert row[1] == "1 (0 B copied)" and row[2] == "met" and row[3] == "PutBlob! 1"


def test_a_file_of_three_blocks_is_four_requests(rows):
    row = rows["azure file of 3 blocks: 3 Put Block + 1 Put Block List"]
    assert row[3] == "PutBlock 3, PutBlockList! 1"


@pytest.mark.parametrize("n", [1, 10, 50])
def test_a_directory_of_n_small_files_is_n_plus_three_requests_and_copies_nothing(rows, n):
    """Claim, one listing, N puts, ``_SUCCESS``."""
    row = rows[f"azure writer(), {n} x 64 KiB: ≤ N + 3 = {n + 3} requests"]
    assert row[1] == f"{n + 3} (0 B copied)" and row[2] == "met"
    assert row[3] == f"ListBlobs 1, PutBlob! {n + 2}"
