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


def test_job_scenarios_report_every_path_with_nothing_copied_by_the_job(tmp_path) -> None:
    """``python -m bench.jobs`` at 1/100 of its sizes, on local and S3: every scenario has
    the job (without and with sha256), the unsafe floor and staging + copy, with times,
    commit step and driver memory; on S3 the job's requests hold no copy and the server
    copied 0 bytes while the staging path copied every byte (a job that staged and copied
    fails both checks)."""
    import json

    out = tmp_path / "jobs.json"
    tiny = ["--scale", "0.01", "--repeats", "1", "--warmups", "0", "--json", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "bench.jobs", *tiny],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(out.read_text())
    found = doc["results"]
    paths = {"targets job", "targets job + sha256", "plain writes (unsafe floor)", "staging + copy"}
    keys = {(r["scenario"]["key"], r["store"], r["path"]) for r in found}
    assert keys == {
        (s, store, p)
        for s in ("jobs-64x8MiB", "jobs-256x64KiB")
        for store in ("local", "s3")
        for p in paths
    }
    for r in found:
        assert r["seconds"] > 0 and 0 <= r["commit"] <= r["seconds"] and r["peak"] >= 0
        whole = r["scenario"]["tasks"] * r["scenario"]["size"]
        assert r["copied"] == (whole if r["path"] == "staging + copy" else 0), r
        if r["store"] == "s3":
            kinds = set(r["requests"])
            copies = {"CopyObject", "UploadPartCopy"} & kinds
            assert bool(copies) == (r["path"] == "staging + copy"), r
    assert "| s3 job, 2 tasks x 81.9 KiB: 0 bytes copied | 0 B | met | — |" in result.stdout
    # The unavoidable steps are timed alone: S3 requests where files travel as uploads
    # (over the inline limit), and the local listing of every scenario.
    timed = {(b["scenario"]["key"], b["store"]): set(b["ms"]) for b in doc["bounds"]}
    assert timed == {
        ("jobs-64x8MiB", "s3"): {"put", "create", "part", "complete", "copy", "complete_batch"},
        ("jobs-64x8MiB", "local"): {"list"},
        ("jobs-256x64KiB", "local"): {"list"},
    }
    assert all(ms > 0 for b in doc["bounds"] for ms in b["ms"].values())
    assert "best possible here" in result.stdout
