"""Jobs on object stores (targets.fs.objectstore.job): the simulated store, then the real
servers (moto, fake-gcs-server, Azurite).

The simulated store shows every key and every pending upload (GCS sessions too), and
counts requests; so a job that leaves an upload, a spilled record or a staging object
behind, publishes the wrong attempt, or sends more requests than its protocol says fails.
"""

from __future__ import annotations

import collections
import datetime
import pickle
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import pytest

import targets
from targets.fs.job import MAX_RECORD_BYTES, TaskRecord
from targets.fs.objectstore import ObjectStoreFS
from targets.fs.objectstore.job import ObjectJobWriter, ObjectTaskWriter
from targets.testing.objectstore import MemoryObjectStore
from tests.fixtures import StoreRoot

PART = 256 << 10
BIG = PART + 1000
"""Larger than one part (and any inline limit): a pending multipart upload."""


class PausingStore(MemoryObjectStore):
    """A simulated store that runs ``pause(key)`` before it carries out a put of a key
    ending in ``pause_on``: a driver that stops for a while between two steps."""

    pause_on = "\0"
    pause: Callable[[str], None] = staticmethod(lambda key: None)

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
        if_match: str | None = None,
    ) -> str:
        if key.endswith(self.pause_on):
            self.pause(key)
        return super().put(key, data, metadata=metadata, if_absent=if_absent, if_match=if_match)


def mounted(flavor: str = "s3", **options: Any) -> tuple[MemoryObjectStore, ObjectStoreFS]:
    store = PausingStore("b", flavor=flavor, part_size=PART)
    return store, ObjectStoreFS.mount(store, **options)


def task(
    job: ObjectJobWriter, task_id: Any, files: dict[str, bytes], attempt: int = 0
) -> TaskRecord:
    with job.task(task_id, attempt) as t:
        for name, data in files.items():
            with t.open(name, "wb") as f:
                f.write(data)
    return t.record


def left(store: MemoryObjectStore, prefix: str = "out/") -> list[str]:
    """Every key under ``prefix`` and every pending upload (``upload:<key>``)."""
    keys = [k[len(prefix) :] for k in store.objects(prefix)]
    return sorted(keys + [f"upload:{k[len(prefix) :]}" for k in store.pending_uploads(prefix)])


def visible(store: MemoryObjectStore, prefix: str = "out/") -> list[str]:
    """The objects under ``prefix`` that no reader skips (pending uploads are invisible)."""
    keys = [k[len(prefix) :] for k in store.objects(prefix)]
    return [k for k in keys if not any(s[:1] in "._" for s in k.split("/"))]


@pytest.fixture(params=["s3", "gcs"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_duplicate_attempts_the_first_record_wins_and_nothing_else_stays(flavor: str) -> None:
    """Two attempts of one task write different bytes (a big file each, a small one each);
    the record given first is published. Fails if the other attempt's upload, or the wrong
    bytes, survive."""
    store, afs = mounted(flavor)
    job = afs.job("b/out")
    a = task(job, 1, {"big.bin": b"A" * BIG, "small.bin": b"a"}, attempt=0)
    b = task(job, 1, {"big.bin": b"B" * BIG, "small.bin": b"b"}, attempt=1)
    assert visible(store) == []
    manifest = job.commit([b, a])
    assert store.objects("out/")["out/big.bin"] == b"B" * BIG
    assert store.objects("out/")["out/small.bin"] == b"b"
    assert left(store) == ["_SUCCESS", "_targets_claim", "big.bin", "small.bin"]
    assert sorted(f["name"] for f in manifest["files"]) == ["big.bin", "small.bin"]


def test_an_unreported_attempt_with_an_upload_in_progress_is_aborted_by_the_commit() -> None:
    """A worker killed mid-file: its multipart upload is pending, its attempt never ended.
    (S3 flavour: GCS sessions cannot be listed, see docs.) Fails if an upload is left."""
    store, afs = mounted("s3")
    job = afs.job("b/out")
    killed = job.task(0)
    with killed.open("big.bin", "wb") as f:
        f.write(b"K" * (2 * PART + 5))
    assert store.pending_uploads("out/") == ["out/big.bin"]
    job.commit([task(job, 0, {"big.bin": b"R" * BIG}, attempt=1)])
    assert left(store) == ["_SUCCESS", "_targets_claim", "big.bin"]
    assert store.objects("out/")["out/big.bin"] == b"R" * BIG


def test_a_name_written_by_two_tasks_fails_naming_it_and_a_fresh_job_works(flavor: str) -> None:
    store, afs = mounted(flavor)
    job = afs.job("b/out")
    records = [task(job, i, {"same.bin": b"x" * BIG, f"own-{i}": b"y"}) for i in range(2)]
    with pytest.raises(targets.CommitError, match=r"same\.bin"):
        job.commit(records)
    assert left(store) == []
    again = afs.job("b/out")
    again.commit([task(again, 0, {"same.bin": b"ok"})])
    assert store.objects("out/")["out/same.bin"] == b"ok"


def test_abort_leaves_nothing_and_a_raising_task_discards_at_once(flavor: str) -> None:
    """The failing task's upload is gone right when its block ends, before any abort; then
    the abort removes the rest (the claim too)."""
    store, afs = mounted(flavor)
    job = afs.job("b/out")
    task(job, 0, {"kept.bin": b"k" * BIG})
    with pytest.raises(ValueError, match="boom"):
        with job.task(1) as t:
            with t.open("doomed.bin", "wb") as f:
                f.write(b"d" * BIG)
            raise ValueError("boom")
    assert store.pending_uploads("out/") == ["out/kept.bin"]
    job.abort()
    assert left(store) == []


def test_a_live_job_refuses_a_second_job_naming_its_holder() -> None:
    _, afs = mounted()
    job = afs.job("b/out")
    with pytest.raises(targets.TargetExistsError, match=r"live job.*pid") as refused:
        afs.job("b/out")
    assert not isinstance(refused.value, targets.IncompleteCommit)
    job.abort()


def test_a_dead_job_is_an_incomplete_commit_that_recover_rolls_back() -> None:
    """The driver stops renewing (it died); a judge with a zero lease period sees its
    claim as stale: IncompleteCommit, and recover removes the claim, the attempts'
    uploads and spilled records. The driver, if it wakes, cannot commit."""
    store, afs = mounted()
    judge = ObjectStoreFS.mount(store, stale_claim_after=0)
    job = afs.job("b/out")
    record = task(job, 0, {"big.bin": b"x" * BIG})
    task(job, 1, {f"f{i}": b"." for i in range(6000)})  # spilled
    assert any("_targets_job-" in k for k in left(store))
    assert job._claimed.lease is not None
    job._claimed.lease.release()  # dead: renews nothing more
    with pytest.raises(targets.IncompleteCommit, match="targets recover"):
        judge.job("b/out")
    said = judge.recover("b/out")
    assert "rolled" in said and "back" in said
    assert left(store) == []
    with pytest.raises(targets.CommitError):
        job.commit([record])
    assert left(store) == []


def test_a_paused_driver_fenced_by_a_forced_recover_writes_no_success() -> None:
    """G10: the driver pauses while publishing (inside the put of its last file); another
    party forces a recovery meanwhile. The driver's background renewal finds its claim
    taken over, so it raises CommitError, removes what it published and never writes
    _SUCCESS. Fails if the driver checks nothing after its pause."""
    store, afs = mounted(stale_claim_after=2, publish_concurrency=1)
    other = ObjectStoreFS.mount(store)
    job = afs.job("b/out")
    records = [task(job, i, {f"part-{i}.bin": b"p" * 100}) for i in range(3)]
    said: list[str] = []

    def pause(key: str) -> None:
        said.append(other.recover("b/out", force=True))
        time.sleep(1.6)  # more than half the 2 s lease: a renewal happens meanwhile

    store.pause_on, store.pause = "part-2.bin", pause
    with pytest.raises(targets.CommitError, match="taken over"):
        job.commit(records)
    assert said and "rolled" in said[0]
    assert visible(store) == [] and left(store) == []


def test_a_record_of_20000_tiny_files_is_spilled_and_stays_small() -> None:
    store, afs = mounted()
    job = afs.job("b/out")
    names = {f"d/{i:05d}.txt": b"%d" % i for i in range(20_000)}
    record = task(job, "many", names)
    assert record.spilled is not None and record.files == ()
    assert len(pickle.dumps(record)) < MAX_RECORD_BYTES and record.encoded_size() < 4096
    job.commit([record])
    objects = store.objects("out/")
    assert len(objects) == 20_002 and objects["out/d/12345.txt"] == b"12345"
    assert not any("_targets_job-" in k for k in objects)


def test_small_files_cost_one_conditional_put_each_plus_claim_and_success() -> None:
    """1,000 tasks of one 64 KiB file each: the commit sends one conditional put per file,
    the claim's replacement, _SUCCESS, one listing of uploads and one of the job's hidden
    prefix; nothing else (no upload, no copy, no head)."""
    store, afs = mounted()
    job = afs.job("b/out")
    records = [task(job, i, {f"part-{i:04d}": bytes([i % 256]) * (64 << 10)}) for i in range(1000)]
    assert store.pending_uploads() == []
    store.calls.clear()
    job.commit(records)
    kinds = collections.Counter(c[0] for c in store.calls)
    data_puts = [c for c in store.calls if c[0] == "put" and "/part-" in c[1]]
    assert len(data_puts) == 1000 and all(c[2] is True for c in data_puts)
    assert kinds == {"put": 1002, "list_uploads": 1, "list": 1}
    assert [c[1] for c in store.calls if c[0] == "put"][-1] == "out/_SUCCESS"


def test_tools_writing_by_path_are_published_and_their_staging_removed() -> None:
    """A file written through ``t.filesystem`` is the attempt's own (no copy); an object
    another client put under ``t.path`` is copied; the staging is gone after the commit."""
    from fsspec.implementations.memory import MemoryFileSystem

    store, _ = mounted()
    shadow = MemoryFileSystem()
    afs = ObjectStoreFS.mount(store, fsspec=shadow)
    job = afs.job("b/out")
    with job.task(0) as t:
        assert isinstance(t, ObjectTaskWriter)
        staged = t.path.partition("://")[2].partition("/")[2]
        store.put(staged + "/by-path.bin", b"p", metadata={}, if_absent=True)
        with t.filesystem.open(t.path + "/nested/through-fs.bin", "wb") as f:
            f.write(b"z" * BIG)
    store.calls.clear()
    job.commit([t.record])
    assert left(store) == ["_SUCCESS", "_targets_claim", "by-path.bin", "nested/through-fs.bin"]
    copies = [c[2] for c in store.calls if c[0] == "copy"]
    assert copies == ["out/by-path.bin"]  # the file written through t.filesystem: no copy
    assert store.objects()["out/nested/through-fs.bin"] == b"z" * BIG


# -- the real servers ---------------------------------------------------------------------


@pytest.fixture(params=["s3", "gcs", "azure"])
def server_root(request: pytest.FixtureRequest) -> StoreRoot:
    root: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return root


def test_a_large_file_from_another_process_round_trips_on_each_server(
    server_root: StoreRoot,
) -> None:
    """A file of several parts is written by an attempt opened from a second filesystem
    (its own store, as in a worker process: on GCS the session is handed over) and a
    duplicate attempt's upload is discarded; the bytes read back are the chosen ones, and
    no upload or hidden object is left. Fails if the driver cannot complete an upload it
    did not create."""
    url = server_root.child("big")
    afs, path = targets.fs.resolve(url, **server_root.options)
    assert isinstance(afs, ObjectStoreFS)
    worker, _ = type(afs).from_url(url, **server_root.options)
    assert isinstance(worker, ObjectStoreFS)
    job = afs.job(path)
    data = bytes(range(256)) * ((3 * PART + 777) // 256)
    with worker.job_task(path, job.spec(), 0) as t:
        with t.open("big.bin", "wb") as f:
            f.write(data)
        with t.open("small.txt", "w") as f:
            f.write("hello")
    loser = task(job, 0, {"big.bin": b"L" * BIG}, attempt=1)  # type: ignore[arg-type]
    job.commit([t.record, loser])
    d = targets.DirectoryTarget(url + "/", **server_root.options)
    assert d.files() == ["big.bin", "small.txt"]
    assert d.open("big.bin").read() == data
    store, key = afs.locate(path)
    assert list(store.list_uploads(key + "/")) == []
    assert sorted(o.key[len(key) + 1 :] for o in store.list(key + "/")) == [
        "_SUCCESS",
        "_targets_claim",
        "big.bin",
        "small.txt",
    ]


def test_cleanup_leaves_a_live_job_alone_and_removes_a_stragglers_leftovers() -> None:
    """By the store's clock: two minutes on, a job that renewed its claim keeps its
    attempts' uploads and hidden prefix through cleanup(older_than=0); after its commit, a
    straggler's upload and spilled record are removed once stale, the output untouched.
    Fails if cleanup judges a live job by the age of its uploads, or forgets the hidden
    prefix."""
    clock = [datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)]
    store = MemoryObjectStore("b", part_size=PART, clock=lambda: clock[0])
    afs = ObjectStoreFS.mount(store)
    job = afs.job("b/out")
    record = task(job, 0, {"a.bin": b"a" * BIG})
    task(job, 1, {f"f{i}": b"." for i in range(6000)})  # spilled, never reported
    clock[0] += datetime.timedelta(minutes=2)
    assert job._claimed.lease is not None
    job._claimed.lease.lease.renew()  # the background renewal, in the store's time
    afs.cleanup("b/out", older_than=datetime.timedelta(0))
    assert store.pending_uploads("out/") == ["out/a.bin"]
    assert any("_targets_job-" in k for k in store.objects("out/"))
    spec = job.spec()
    job.commit([record])
    straggler = afs.job_task("b/out", spec, 2)  # a worker still running
    with straggler.open("late.bin", "wb") as f:
        f.write(b"s" * BIG)
    with afs.job_task("b/out", spec, 3) as late:
        for i in range(6000):
            with late.open(f"g{i}", "wb") as f:
                f.write(b".")
    assert late.record.spilled is not None
    clock[0] += datetime.timedelta(minutes=2)
    report = afs.cleanup("b/out", older_than=datetime.timedelta(0))
    assert report.aborted_uploads and report.removed
    assert left(store) == ["_SUCCESS", "_targets_claim", "a.bin"]
