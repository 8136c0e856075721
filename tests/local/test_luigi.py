"""FileTarget and DirectoryTarget inside real Luigi runs (the local scheduler)."""

from __future__ import annotations

import gzip
from datetime import timedelta

import luigi
import luigi.format
import pytest

import targets

RUNS: list[str] = []


class Extract(luigi.Task):
    root = luigi.Parameter()

    def output(self):
        return targets.FileTarget(f"{self.root}/raw.csv")

    def run(self):
        RUNS.append("extract")
        with self.output().open("w") as f:
            f.write("id,amount\n1,10\n2,32\n")


class Summarise(luigi.Task):
    root = luigi.Parameter()

    def requires(self):
        return Extract(root=self.root)

    def output(self):
        return targets.DirectoryTarget(f"{self.root}/summary/")

    def run(self):
        RUNS.append("summarise")
        with self.input().open("r") as f:
            rows = f.read().splitlines()[1:]
        total = sum(int(r.split(",")[1]) for r in rows)
        with self.output().writer() as w, w.open("total.txt", "w") as out:
            out.write(f"{total}\n")


class Fails(luigi.Task):
    root = luigi.Parameter()

    def output(self):
        return targets.FileTarget(f"{self.root}/never.csv")

    def run(self):
        f = self.output().open("w")
        f.write("half a row")
        raise RuntimeError("the task died mid-write")


def build(*tasks) -> bool:
    return luigi.build(list(tasks), local_scheduler=True, log_level="ERROR")


def test_luigi_runs_tasks_once_and_sees_outputs_complete(tmp_path):
    RUNS.clear()
    assert build(Summarise(root=str(tmp_path)))
    assert RUNS == ["extract", "summarise"]
    assert (tmp_path / "summary" / "total.txt").read_text() == "42\n"
    assert build(Summarise(root=str(tmp_path)))
    assert RUNS == ["extract", "summarise"]  # the second build ran nothing


def test_a_failing_luigi_task_leaves_no_output_and_is_not_complete(tmp_path):
    assert not build(Fails(root=str(tmp_path)))
    assert not Fails(root=str(tmp_path)).complete()
    # Luigi keeps the traceback, so the unclosed file may not be collected yet: its
    # staging file is hidden, never at the final name, and cleanup removes it.
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    targets.cleanup(str(tmp_path), older_than=timedelta(0))
    assert list(tmp_path.iterdir()) == []


def test_luigi_formats_wrap_the_stream(tmp_path):
    t = targets.FileTarget(str(tmp_path / "data.gz"), format=luigi.format.Gzip)
    with t.open("w") as f:
        f.write(b"compressed by a Luigi format\n")
    assert gzip.decompress((tmp_path / "data.gz").read_bytes()) == b"compressed by a Luigi format\n"
    with t.open("r") as f:
        assert f.read() == b"compressed by a Luigi format\n"


def test_luigi_format_error_discards(tmp_path):
    t = targets.FileTarget(str(tmp_path / "data.txt"), format=luigi.format.UTF8)
    with pytest.raises(RuntimeError), t.open("w") as f:
        f.write("partial")
        raise RuntimeError
    assert not t.exists()
    assert list(tmp_path.iterdir()) == []


def test_luigi_temporary_path_idiom(tmp_path):
    t = targets.FileTarget(str(tmp_path / "out.txt"))
    with t.temporary_path() as tmp, open(tmp, "w") as f:
        f.write("via temporary_path")
    assert t.read_text() == "via temporary_path"
