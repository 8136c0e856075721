"""examples/pipeline.py takes its storage options from ``TARGETS_STORAGE_OPTIONS``, as
docs/integrations.md says every example does: run as a program against the test moto server,
it writes there (before, it ignored the variable and went to the public S3 endpoint)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

import targets
from tests.fixtures import StoreRoot
from tests.integrations.conftest import load_example

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "pipeline.py"


def run_pipeline(root: StoreRoot, options: object) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TARGETS_STORAGE_OPTIONS": json.dumps(options),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), root.url, "--rows", "500"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_pipeline_example_writes_to_the_endpoint_in_targets_storage_options(s3_root):
    first = run_pipeline(s3_root, s3_root.options)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("written in") == 3
    report = targets.target(s3_root.child("report.txt"), **s3_root.options)
    assert report.read_text().count("orders") == 4
    assert targets.target(s3_root.child("by_region/"), **s3_root.options).files() == [
        f"region={r}/part-0000.csv" for r in ("east", "north", "south", "west")
    ]
    second = run_pipeline(s3_root, s3_root.options)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("complete, skipped") == 3


def test_pipeline_example_refuses_options_that_are_not_a_json_object(s3_root):
    result = run_pipeline(s3_root, ["endpoint_url"])
    assert result.returncode != 0
    assert "TARGETS_STORAGE_OPTIONS must hold a JSON object" in result.stderr


@pytest.mark.parametrize("name", sorted(p.stem for p in SCRIPT.parent.glob("*.py")))
def test_every_example_reads_its_options_the_same_way(name, monkeypatch):
    """Each example's ``storage_options()``: the JSON object in the variable, ``{}`` when it
    is unset, and a clear exit (not an ``assert``, which ``python -O`` drops) for JSON that
    is not an object."""
    read = load_example(name).storage_options  # as the integration tests load them
    monkeypatch.setenv("TARGETS_STORAGE_OPTIONS", '{"endpoint_url": "http://127.0.0.1:1"}')
    assert read() == {"endpoint_url": "http://127.0.0.1:1"}
    monkeypatch.delenv("TARGETS_STORAGE_OPTIONS")
    assert read() == {}
    monkeypatch.setenv("TARGETS_STORAGE_OPTIONS", '["endpoint_url"]')
    with pytest.raises(SystemExit, match="must hold a JSON object"):
        read()
