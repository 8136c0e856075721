"""The docs that are generated from code are up to date; the README's commands are real."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import targets

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "_generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_guarantees_table_matches_the_declared_capabilities():
    generator = load_generator()
    page = (ROOT / "docs" / "guarantees.md").read_text()
    assert generator.render(page) == page, "run: python docs/_generate.py"
    assert generator.guarantees_table() in page


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.splitlines() if line.startswith("pip install")]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_example_pipeline_runs_then_finds_everything_complete(tmp_path):
    script = ROOT / "examples" / "pipeline.py"
    out = tmp_path / "run"
    first = subprocess.run(
        [sys.executable, str(script), str(out), "--rows", "2000"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert first.stdout.count("written in") == 3
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    second = subprocess.run(
        [sys.executable, str(script), str(out), "--rows", "2000"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert second.stdout.count("complete, skipped") == 3
    assert "nothing to do" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert targets.target(str(out) + "/by_region/").files() == [
        f"region={r}/part-0000.csv" for r in ("east", "north", "south", "west")
    ]
