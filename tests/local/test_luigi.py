"""FileTarget and DirectoryTarget inside real Luigi runs (the local scheduler)."""

from __future__ import annotations

import gzip
import pathlib
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
    # staging file is hidden, never at the final name. While the writer object lives its
    # lease is live, so even cleanup(older_than=0) keeps it (it used to remove it); once
    # the process is gone, the lease runs out and cleanup removes it.
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    staged = [p for p in tmp_path.iterdir()]
    report = targets.cleanup(str(tmp_path), older_than=timedelta(0))
    assert report.removed == [] and report.kept_recent == [str(p) for p in staged]


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


# -- luigi.contrib habits: a tree written by path, a Spark output as a dependency -------


class WriteTree(luigi.Task):
    """A task in the luigi.contrib style: a tool writes a whole tree under a path."""

    root = luigi.Parameter()
    die_after_first_file = luigi.BoolParameter(default=False)

    def output(self):
        return targets.DirectoryTarget(f"{self.root}/by_region/")

    def run(self):
        RUNS.append("tree")
        with self.output().temporary_path() as tmp:
            for region, amount in (("north", 42), ("south", 7)):
                part = pathlib.Path(tmp, f"region={region}", "part-00000.csv")
                part.parent.mkdir(parents=True)
                part.write_text(f"amount\n{amount}\n")
                if self.die_after_first_file:
                    raise RuntimeError("the tool died after one partition")


def test_luigi_builds_a_directory_output_written_through_temporary_path(tmp_path):
    RUNS.clear()
    assert build(WriteTree(root=str(tmp_path)))
    out = targets.DirectoryTarget(str(tmp_path / "by_region"))
    assert out.exists()
    assert out.files() == ["region=north/part-00000.csv", "region=south/part-00000.csv"]
    with out.open("region=south/part-00000.csv", "r") as f:
        assert f.read() == "amount\n7\n"
    assert build(WriteTree(root=str(tmp_path)))
    assert RUNS == ["tree"]  # complete: the second build ran nothing


def test_a_tree_task_that_dies_inside_temporary_path_leaves_nothing_and_reruns(tmp_path):
    RUNS.clear()
    assert not build(WriteTree(root=str(tmp_path), die_after_first_file=True))
    assert not WriteTree(root=str(tmp_path)).complete()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    assert build(WriteTree(root=str(tmp_path)))
    assert RUNS == ["tree", "tree"]
    assert targets.DirectoryTarget(str(tmp_path / "by_region")).files() == [
        "region=north/part-00000.csv",
        "region=south/part-00000.csv",
    ]


class SparkOutput(luigi.ExternalTask):
    """A directory another tool (Spark) writes, complete once its ``_SUCCESS`` is there."""

    root = luigi.Parameter()

    def output(self):
        return targets.FlagTarget(f"{self.root}/spark/orders/")


class CountOrders(luigi.Task):
    root = luigi.Parameter()

    def requires(self):
        return SparkOutput(root=self.root)

    def output(self):
        return targets.FileTarget(f"{self.root}/order_count.txt")

    def run(self):
        RUNS.append("count")
        flag = self.input()
        rows = 0
        for name in flag.files():
            with flag.open(name, "r") as f:
                rows += len(f.read().splitlines())
        self.output().write_text(f"{rows}\n")


def _spark_writes_parts(directory: pathlib.Path) -> None:
    """What a Spark job leaves before its commit: part files and hidden checksums."""
    directory.mkdir(parents=True)
    (directory / "part-00000-3f1c.csv").write_text("1,north\n2,south\n")
    (directory / "part-00001-3f1c.csv").write_text("3,north\n")
    (directory / ".part-00000-3f1c.csv.crc").write_bytes(b"\x00crc")


def test_a_spark_output_gates_its_consumer_on_success(tmp_path):
    RUNS.clear()
    spark_dir = tmp_path / "spark" / "orders"
    _spark_writes_parts(spark_dir)
    # the job has not committed: the consumer must not run on the parts written so far
    result = luigi.build(
        [CountOrders(root=str(tmp_path))],
        local_scheduler=True,
        log_level="ERROR",
        detailed_summary=True,
    )
    assert result.status == luigi.LuigiStatusCode.MISSING_EXT
    assert RUNS == []
    assert not (tmp_path / "order_count.txt").exists()

    (spark_dir / "_SUCCESS").write_bytes(b"")  # Spark's empty marker
    assert build(CountOrders(root=str(tmp_path)))
    assert RUNS == ["count"]
    assert (tmp_path / "order_count.txt").read_text() == "3\n"  # the checksum is not data
