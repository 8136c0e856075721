"""``checksums``: a directory output's manifest records each file's sha256 by default, and
names and sizes only with ``checksums=False``, for files written through ``writer()`` and
through a job's tasks alike, on every backend (the job's workers learn it from the job)."""

from __future__ import annotations

import pickle

import pytest

import targets
from targets.errors import InvalidTarget
from tests.fixtures import StoreRoot
from tests.jobs.test_job_contract import BIG, _worker_environment

FILES = {"small.bin": b"s" * 100, "nested/big.bin": b"b" * BIG}
"""One file small enough to travel inline on object stores, one that is a pending upload."""


def _entries(d: targets.DirectoryTarget) -> dict[str, dict[str, object]]:
    return {e["name"]: e for e in d.manifest()["files"]}


def _by_writer(d: targets.DirectoryTarget) -> None:
    with d.writer() as w:
        for name, data in FILES.items():
            with w.open(name, "wb") as f:
                f.write(data)


def _by_job(d: targets.DirectoryTarget) -> None:
    with d.job() as job:
        job_in_a_worker = pickle.loads(pickle.dumps(job))
        with job_in_a_worker.task(0) as t:
            for name, data in FILES.items():
                with t.open(name, "wb") as f:
                    f.write(data)
        job.commit([t.record])


@pytest.mark.parametrize("how", [_by_writer, _by_job], ids=["writer", "job"])
def test_the_manifest_records_each_files_sha256_by_default(
    root: StoreRoot, how, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails if a backend drops the checksum of a file (inline, uploaded or staged)."""
    import hashlib

    _worker_environment(root, monkeypatch)  # the job's copy finds its credentials there
    d = targets.DirectoryTarget(root.child("out/"), **root.options)
    how(d)
    entries = _entries(d)
    assert {n: e.get("sha256") for n, e in entries.items()} == {
        n: hashlib.sha256(data).hexdigest() for n, data in FILES.items()
    }
    assert targets.verify(d.url, **root.options).checksummed == len(FILES)


@pytest.mark.parametrize("how", [_by_writer, _by_job], ids=["writer", "job"])
def test_checksums_false_records_sizes_only_and_the_output_still_verifies(
    root: StoreRoot, how, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails if ``checksums=False`` is lost on the way to the files' writers (a worker's
    copy of the job included) or changes what is committed."""
    _worker_environment(root, monkeypatch)
    d = targets.DirectoryTarget(root.child("out/"), checksums=False, **root.options)
    how(d)
    entries = _entries(d)
    assert {n: (e["size"], "sha256" in e) for n, e in entries.items()} == {
        n: (len(data), False) for n, data in FILES.items()
    }
    for name, data in FILES.items():
        with d.open(name) as f:
            assert f.read() == data
    report = targets.verify(d.url, **root.options)
    assert report.ok and report.checked == len(FILES) and report.checksummed == 0


@pytest.mark.parametrize("bad", ["no", 0, None])
def test_a_checksums_value_that_is_not_a_bool_is_refused(tmp_path, bad) -> None:
    with pytest.raises(InvalidTarget, match="checksums=") as raised:
        targets.DirectoryTarget(str(tmp_path / "out") + "/", checksums=bad)
    assert "True" in str(raised.value) and str(tmp_path / "out") in str(raised.value)
