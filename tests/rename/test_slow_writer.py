"""A slow but live writer on the rename protocol, paused mid-commit while maintenance runs.

What is pinned here is G1-G3 under that interleaving (no mix, nothing lost, the loser
raises); G10 (maintenance refusing live work) is in tests/rename/test_staging_lease.py.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import targets
from targets.testing.hdfs_model import HDFSModel

URL = "hdfs://model/out/"


def _files(model: HDFSModel) -> dict[str, bytes]:
    d = targets.target(URL, client=model)
    return {name: d.fs.open_input(f"/out/{name}").read() for name in d.files()}


def test_recover_while_an_overwrite_is_paused_between_its_two_renames():
    """An HDFS directory overwrite renames the old output aside, then publishes the new one.
    With the writer paused between the two renames, `recover` refuses (the aside is younger
    than the lease period: the overwrite may be running; it used to restore it at once) and
    changes nothing; `recover(force=True)` puts the old output back; the
    writer, resumed, finds its final path taken, removes its staged tree and raises
    `TargetExistsError`. The output is the old one, whole, at every moment after recover;
    nothing of either writer is left beside it."""
    model = HDFSModel()
    with targets.target(URL, client=model).writer() as w, w.open("part-0", "wb") as f:
        f.write(b"old")
    paused, release = threading.Event(), threading.Event()

    def pause(_: HDFSModel) -> None:
        paused.set()
        release.wait(10)

    # the first rename moves the old output aside; pause just before the second (publish)
    model.before_next("rename", lambda m: m.before_next("rename", pause))
    outcome: dict[str, Any] = {}

    def overwrite() -> None:
        try:
            new = targets.target(URL, client=model, if_exists="overwrite")
            with new.writer() as w, w.open("part-0", "wb") as f:
                f.write(b"new")
        except BaseException as exc:  # reported to the test below
            outcome["error"] = exc

    writer = threading.Thread(target=overwrite)
    writer.start()
    assert paused.wait(10), "the overwrite never reached its publishing rename"
    refused = targets.recover(URL, client=model)
    assert refused.startswith("not recovered") and "force=True" in refused
    assert not targets.target(URL, client=model).fs.exists("/out")
    said = targets.recover(URL, client=model, force=True)
    assert "restored" in said
    assert _files(model) == {"part-0": b"old"}
    release.set()
    writer.join(10)
    assert isinstance(outcome.get("error"), targets.TargetExistsError)
    assert _files(model) == {"part-0": b"old"}
    leftovers = [p for p in model.tree("/") if ".targets-" in p]
    assert leftovers == []


@pytest.mark.parametrize("root", ["posix", "hdfs"])
def test_a_file_commit_paused_before_publishing_survives_a_cleanup_of_older_temporaries(
    root: str, tmp_path: Any
) -> None:
    """A writer paused after writing, before its publishing rename, while a cleanup removes
    temporaries older than an hour: its fresh temporary is kept, and it commits whole."""
    if root == "posix":
        url, options = str(tmp_path / "out.csv"), {}
    else:
        url, options = "hdfs://model/data/out.csv", {"client": HDFSModel()}
    from datetime import timedelta

    t = targets.target(url, **options)
    f = t.open("wb")
    f.write(b"complete")
    report = targets.cleanup(url, older_than=timedelta(hours=1), **options)
    assert report.removed == [] and len(report.kept_recent) == 1
    f.close()
    assert t.read_bytes() == b"complete"
