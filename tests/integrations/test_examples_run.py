"""Each integration example runs as a program, as its docstring says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integrations.conftest import EXAMPLES

EXPECTED = {
    "luigi_pipeline.py": "north: 100 orders",
    "pyarrow_dataset.py": "4 files, 1000 rows",
    "pandas_outputs.py": "500 rows",
    "upath_outputs.py": "is committed: 1 file(s), 15 bytes",
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_from_the_command_line(script, tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert EXPECTED[script] in done.stdout
