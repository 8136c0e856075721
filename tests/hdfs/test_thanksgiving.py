"""The Thanksgiving bug, replayed on the HDFS model.

Run 1 committed ``output``. Run 2 staged a new output and published it with ``hadoop fs -mv``
(the old rename): because ``output`` existed, the new data landed *inside* it. The "fix",
``mkdir output; mv tmp/* output``, let a downstream job that gates on ``output`` existing
start on a half-moved directory. Through a target neither can happen."""

from __future__ import annotations

import pytest

import targets
from targets.testing.hdfs_model import HDFSModel

PARTS = {"part-0": b"a" * 10, "part-1": b"b" * 20, "part-2": b"c" * 30}


def commit_run_one(root, **kwargs) -> targets.DirectoryTarget:
    d = targets.target(root.child("output") + "/", **root.options, **kwargs)
    with d.writer() as w:
        for name, data in PARTS.items():
            with w.open(name, "wb") as f:
                f.write(data)
    return d


def test_naive_mv_nests_the_new_output_inside_the_old_one(hdfs_model: HDFSModel):
    for name, data in PARTS.items():
        hdfs_model.write_file(f"/store/output/{name}", data)
        hdfs_model.write_file(f"/store/output-tmp-2/{name}", data.upper())

    assert hdfs_model.rename_old("/store/output-tmp-2", "/store/output") is True

    tree = hdfs_model.tree("/store/output")
    assert "output-tmp-2/" in tree  # output/tmp...: the new run is nested in the old output
    assert "output-tmp-2/part-0" in tree
    assert hdfs_model.read_file("/store/output/part-0") == b"a" * 10  # and the old data stays


def test_through_a_target_the_second_run_raises_and_leaves_output_untouched(hdfs_root, hdfs_model):
    d = targets.target(hdfs_root.child("output") + "/", **hdfs_root.options)
    second = d.writer()  # run 2 starts before run 1 commits: only the commit can decide
    with second.open("part-0", "wb") as f:
        f.write(b"run two")
    commit_run_one(hdfs_root)
    before = hdfs_model.tree("/store/output")

    with pytest.raises(targets.TargetExistsError):
        second.commit()

    assert hdfs_model.tree("/store/output") == before
    assert not any(".targets-tmp-" in p for p in hdfs_model.tree("/store"))
    assert d.files() == sorted(PARTS)
    assert any(call[0] == "rename" and call[3] is False for call in hdfs_model.calls)
    # and a late run 3 is refused before it writes anything
    with pytest.raises(targets.TargetExistsError):
        d.writer()
    assert hdfs_model.tree("/store/output") == before


def test_mkdir_then_move_fix_lets_downstream_see_a_half_moved_directory(hdfs_model):
    for name, data in PARTS.items():
        hdfs_model.write_file(f"/store/tmp/{name}", data)
    seen: list[list[str]] = []

    def downstream(model: HDFSModel, op: str, path: str) -> None:
        try:  # Luigi's HdfsTarget.exists(): the path exists
            model.get_file_info("/store/output")
        except FileNotFoundError:
            return
        seen.append(sorted(s.path.rsplit("/", 1)[1] for s in model.list_status("/store/output")))

    hdfs_model.observe(downstream)
    hdfs_model.mkdirs("/store/output")
    for name in PARTS:
        hdfs_model.rename_old(f"/store/tmp/{name}", "/store/output")

    partial = [names for names in seen if names != sorted(PARTS)]
    assert partial  # downstream started on an incomplete input


def test_downstream_gating_on_exists_never_sees_a_half_moved_directory(hdfs_root, hdfs_model):
    d = targets.target(hdfs_root.child("output") + "/", **hdfs_root.options)
    observations: list[tuple[str, bool]] = []

    def downstream(model: HDFSModel, op: str, path: str) -> None:
        gate = targets.target(hdfs_root.child("output") + "/", **hdfs_root.options)
        if gate.exists():
            files = {name: gate.open(name).read() for name in gate.files()}
            assert files == PARTS, f"downstream saw a partial output after {op} {path}"
        observations.append((op, gate.exists()))

    hdfs_model.observe(downstream)
    commit_run_one(hdfs_root)

    assert len(observations) > 10  # the reader looked after every namespace change
    assert [ok for _, ok in observations].count(True) == 1  # complete only once published
    assert observations[-1] == ("rename", True)
    assert d.exists()
