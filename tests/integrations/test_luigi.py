"""Luigi: tasks whose outputs are targets, built with the local scheduler
(examples/luigi_pipeline.py), on local disk, S3 and GCS."""

from __future__ import annotations

from typing import Any

import targets
from tests.integrations.conftest import load_example

pipeline = load_example("luigi_pipeline")


def test_the_example_builds_once_then_luigi_finds_every_task_complete(root, capsys):
    pipeline.RAN.clear()
    assert pipeline.main([root.url]) == 0
    assert pipeline.RAN == ["Extract", "Split", "Summarise"]
    assert "north: 100 orders" in capsys.readouterr().out

    by_region = targets.DirectoryTarget(root.child("by_region/"), **root.options)
    assert by_region.files() == [f"region={r}/part-0000.csv" for r in sorted(pipeline.REGIONS)]
    assert targets.verify(by_region.url, **root.options).ok

    assert pipeline.main([root.url]) == 0
    assert pipeline.RAN == ["Extract", "Split", "Summarise"]  # the second build ran nothing


def test_a_task_that_dies_mid_write_leaves_no_output_and_runs_again(root, monkeypatch):
    real_writer = targets.DirectoryTarget.writer

    def dying_writer(self: targets.DirectoryTarget) -> Any:
        w = real_writer(self)
        real_open, opened = w.open, []

        def open_then_die(name: str, *args: Any, **kwargs: Any) -> Any:
            opened.append(name)
            if len(opened) == 3:
                raise RuntimeError("the worker was killed after two of four parts")
            return real_open(name, *args, **kwargs)

        w.open = open_then_die
        return w

    pipeline.RAN.clear()
    with monkeypatch.context() as patched:
        patched.setattr(targets.DirectoryTarget, "writer", dying_writer)
        assert pipeline.main([root.url]) == 1
    assert pipeline.RAN == ["Extract", "Split"]
    status = targets.status(root.child("by_region/"), **root.options)
    assert status.state == "absent" and status.stale == status.recent == []  # no part left

    assert pipeline.main([root.url]) == 0
    assert pipeline.RAN == ["Extract", "Split", "Split", "Summarise"]  # Extract was complete
