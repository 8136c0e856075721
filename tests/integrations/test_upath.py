"""``universal_pathlib.UPath`` accepted wherever a URL is (examples/upath_outputs.py), with the
storage options it carries, on local disk, S3 and GCS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from upath import UPath

import targets
from tests.integrations.conftest import load_example

example = load_example("upath_outputs")


@pytest.fixture
def upath(root) -> UPath:
    return UPath(root.url, **root.options)


def test_the_example_writes_through_upaths(upath):
    lines = example.run(upath)
    assert [line.split()[0] for line in lines] == ["wrote", "wrote", lines[2].split()[0]]
    assert lines[2].endswith("is committed: 1 file(s), 15 bytes")
    assert example.run(upath)[-1] == lines[2]  # the second run wrote nothing


def test_every_entry_point_takes_a_upath(upath, root):
    report = targets.target(upath / "report.csv")
    assert isinstance(report, targets.FileTarget)
    report.write_text("a\n")
    assert targets.FileTarget(root.child("report.csv"), **root.options).read_text() == "a\n"

    copy = report.copy(upath / "copy.csv")
    assert copy.read_text() == "a\n"
    table = targets.DirectoryTarget(upath / "table")
    with table.writer() as w, w.open("p.csv", "w") as f:
        f.write("x\n")
    assert targets.FlagTarget(upath / "table").exists()
    assert targets.fs.filesystem(upath).protocol == report.fs.protocol
    assert targets.status(upath / "table").state == "committed"
    assert targets.verify(upath / "table").ok
    assert targets.cleanup(upath, older_than=timedelta(0)).removed == []
    assert "nothing to recover" in targets.recover(upath / "table")
    with pytest.raises(targets.TargetExistsError):
        targets.target(upath / "report.csv").write_text("b\n")
