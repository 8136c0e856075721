"""Backends installed as distributions (the ``targets.backends`` entry-point group), each
seen by a new interpreter exactly as after ``pip install``; and the contract suite run
against such a backend, on ``toy://`` URLs.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.registry.distribution import ROOT, TOY_MODULE, environment, install, run_python

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def toy_site(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory holding the installed distribution ``toy-targets-backend``, which
    serves ``toy://`` with a factory and ``toyclass://`` with an `AtomicFS` subclass."""
    site = tmp_path / "site"
    install(
        site,
        "toy-targets-backend",
        {
            "toy": "toy_targets_backend:open_toy",
            "toyclass": "toy_targets_backend:ToyFS",
        },
        {"toy_targets_backend": TOY_MODULE},
    )
    return site


def test_an_installed_backend_serves_its_scheme(toy_site, tmp_path):
    data = tmp_path / "data"
    out = run_python(
        """
        import json, sys
        import targets
        from targets import fs

        assert "toy_targets_backend" not in sys.modules   # nothing imported before use
        served = fs.schemes()
        factory = fs.backend("toy")
        t = targets.target("toy://out/report.csv")
        t.write_text("a,b\\n")
        d = targets.target("toyclass://out/table/")
        with d.writer() as w:
            with w.open("part-0.csv", "w") as f:
                f.write("1\\n")
        print(json.dumps({
            "served": served,
            "factory": f"{factory.__module__}.{factory.__qualname__}",
            "class": type(d.fs).__qualname__,
            "text": t.read_text(),
            "files": d.files(),
        }))
        """,
        toy_site,
        TOY_TARGETS_ROOT=str(data),
    )
    doc = json.loads(out.stdout)
    assert {"toy", "toyclass", "file", "s3"} <= set(doc["served"])
    assert doc["factory"] == "toy_targets_backend.open_toy"
    assert doc["class"] == "ToyFS"
    assert doc["text"] == "a,b\n" and doc["files"] == ["part-0.csv"]
    assert (data / "out" / "report.csv").read_text() == "a,b\n"
    assert (data / "out" / "table" / "_SUCCESS").is_file()


def test_the_contract_suite_passes_on_an_installed_backend(toy_site, tmp_path):
    """tests/conformance, run in a new interpreter on ``toy://`` URLs only: every contract
    test passes there, and the outputs land where the toy backend puts them."""
    data, report = tmp_path / "data", tmp_path / "contract.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/conformance",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        env=environment(
            toy_site, TARGETS_CONTRACT_URL="toy://contract", TOY_TARGETS_ROOT=str(data)
        ),
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None
    cases = [c.get("name", "") for c in suite.iter("testcase")]
    assert int(suite.get("failures", "1")) == int(suite.get("errors", "1")) == 0
    assert int(suite.get("skipped", "1")) == 0
    assert len(cases) == contract_tests_on_one_backend()
    assert all("[url" in name for name in cases), cases
    # each test had its own directory under toy://contract/, on the toy backend's disk
    assert len(list((data / "contract").iterdir())) >= len(cases) // 2


def contract_tests_on_one_backend() -> int:
    """How many tests tests/conformance holds for one backend (the count on ``local``)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/conformance",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return sum(1 for line in result.stdout.splitlines() if "[local" in line)


def test_an_entry_point_whose_module_fails_to_import_names_the_entry_point(tmp_path):
    site = tmp_path / "site"
    install(
        site,
        "broken-targets-backend",
        {"broken": "broken_targets_backend:Backend"},
        {"broken_targets_backend": "raise ImportError('needs libbroken.so')\n"},
    )
    out = run_python(
        """
        import targets
        from targets import fs
        from targets.errors import BackendNotInstalled

        assert "broken" in fs.schemes()      # listed: loaded only when used
        try:
            targets.target("broken://bucket/out.csv")
        except BackendNotInstalled as exc:
            assert isinstance(exc, ImportError)
            print(exc)
        else:
            raise AssertionError("no BackendNotInstalled")
        assert fs.backend("file").__name__ == "LocalFS"   # the other schemes still work
        """,
        site,
    )
    message = out.stdout
    assert "broken://bucket/out.csv" in message
    assert "'broken'" in message and "targets.backends" in message
    assert "broken_targets_backend:Backend" in message and "libbroken.so" in message


def test_an_entry_point_never_takes_a_built_in_scheme_over(toy_site):
    install(
        toy_site,
        "hijack-targets-backend",
        {"s3": "toy_targets_backend:open_toy", "not_a_scheme": "toy_targets_backend:open_toy"},
    )
    out = run_python(
        """
        import logging
        from targets import fs

        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        print(fs.backend("s3").__module__)
        print("not_a_scheme" in fs.schemes())
        """,
        toy_site,
    )
    assert out.stdout.split() == ["targets.fs.s3", "False"]
    assert "'s3'" in out.stderr and "register(..., replace=True)" in out.stderr
    assert "'not_a_scheme'" in out.stderr and "not a URL scheme" in out.stderr


def test_two_distributions_serving_one_scheme_is_an_error_not_a_choice(toy_site, tmp_path):
    other = tmp_path / "other"
    install(
        other,
        "other-toy-backend",
        {"toy": "other_toy_backend:open"},
        {"other_toy_backend": "def open(url, **options):\n    raise AssertionError\n"},
    )
    out = run_python(
        """
        from targets import fs
        from targets.errors import InvalidTarget

        try:
            fs.filesystem("toy://x")
        except InvalidTarget as exc:
            print(exc)
        else:
            raise AssertionError("one of two backends was chosen")
        """,
        toy_site,
        other,
    )
    assert "toy://x" in out.stdout
    assert "toy_targets_backend:open_toy" in out.stdout and "other_toy_backend:open" in out.stdout
    assert "replace=True" in out.stdout


def test_one_distribution_seen_twice_on_the_path_is_one_backend(toy_site, tmp_path):
    run_python(
        """
        import os, targets
        targets.target("toy://once.txt").write_text("x")
        assert open(os.path.join(os.environ["TOY_TARGETS_ROOT"], "once.txt")).read() == "x"
        """,
        toy_site,
        toy_site,
        TOY_TARGETS_ROOT=str(tmp_path / "data"),
    )


def test_register_refuses_a_scheme_an_installed_distribution_serves(toy_site, tmp_path):
    run_python(
        """
        from targets import fs
        from targets.errors import InvalidTarget

        def mine(url, **options):
            raise AssertionError("only registered, never called")

        try:
            fs.register("toy", mine)
        except InvalidTarget as exc:
            assert "replace=True" in str(exc)
        else:
            raise AssertionError("an installed backend was shadowed")
        fs.register("toy", mine, replace=True)
        assert fs.backend("toy") is mine
        """,
        toy_site,
    )
