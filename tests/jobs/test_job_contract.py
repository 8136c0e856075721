"""The job and task contract (many workers, one commit), on every backend.

Each test names the promise of `targets.fs.job` it checks. The store is looked at directly
(everything under the test's fresh root, hidden names and pending uploads included), so a
backend that leaves a staging directory, a lease, a spilled record or an upload behind fails.
"""

from __future__ import annotations

import multiprocessing
import pickle
from typing import Any

import pytest

import targets
from targets.fs.base import WriterState
from targets.fs.objectstore import ObjectStoreFS
from tests.fixtures import StoreRoot
from tests.jobs import workers

BIG = 300 * 1024
"""Larger than any inline limit: on object stores a file of this size is a pending upload."""


def everything(root: StoreRoot) -> list[str]:
    """Every file or object under the root (hidden ones too), relative to it, and every
    pending upload under it (as ``upload:<key>``)."""
    afs, path = targets.fs.resolve(root.url, **root.options)
    found: list[str] = []
    if isinstance(afs, ObjectStoreFS):
        store, prefix = afs.locate(path)
        found += [o.key[len(prefix) + 1 :] for o in store.list(prefix + "/")]
        found += [f"upload:{u.key[len(prefix) + 1 :]}" for u in store.list_uploads(prefix + "/")]
    else:
        fs = afs.fsspec
        base = fs._strip_protocol(path).rstrip("/")
        found += [p[len(base) + 1 :] for p in fs.find(base, withdirs=False)]
    return sorted(found)


def visible(root: StoreRoot, name: str) -> list[str]:
    """The files under output ``name`` that no reader skips (no hidden path segment)."""
    return [
        p
        for p in everything(root)
        if p.startswith(name + "/")
        and not any(seg[:1] in "._" for seg in p[len(name) + 1 :].split("/"))
    ]


def committed_only(root: StoreRoot, name: str, files: list[str]) -> None:
    """The output holds its files and ``_SUCCESS`` (and an object store's claim), nothing
    else is anywhere under the root."""
    allowed = {f"{name}/{f}" for f in files} | {f"{name}/_SUCCESS", f"{name}/_targets_claim"}
    left = [p for p in everything(root) if p not in allowed]
    assert left == [], f"left behind by the job: {left}"
    assert {f"{name}/{f}" for f in files} | {f"{name}/_SUCCESS"} <= set(everything(root))


def read(d: targets.DirectoryTarget, name: str) -> bytes:
    with d.open(name) as f:
        data: bytes = f.read()
    return data


def write(job: targets.Job, task_id: Any, files: dict[str, bytes], attempt: int = 0) -> Any:
    with job.task(task_id, attempt) as t:
        for name, data in files.items():
            with t.open(name, "wb") as f:
                f.write(data)
    return t.record


def test_nothing_of_any_task_is_visible_before_the_commit(root: StoreRoot) -> None:
    d = targets.DirectoryTarget(root.child("table/"), **root.options)
    job = d.job()
    records = [
        write(job, 0, {"part-0.bin": b"zero" * 10, "big-0.bin": b"z" * BIG}),
        write(job, 1, {"sub/part-1.bin": b"one"}),
    ]
    assert not d.exists()
    with pytest.raises(targets.TargetNotFound):
        d.files()
    assert visible(root, "table") == []
    manifest = job.commit(records)
    names = ["big-0.bin", "part-0.bin", "sub/part-1.bin"]
    assert sorted(f["name"] for f in manifest["files"]) == names
    assert d.exists() and d.files() == ["big-0.bin", "part-0.bin", "sub/part-1.bin"]
    assert read(d, "big-0.bin") == b"z" * BIG
    assert read(d, "sub/part-1.bin") == b"one"
    committed_only(root, "table", ["big-0.bin", "part-0.bin", "sub/part-1.bin"])
    assert job.state is WriterState.COMMITTED


def test_the_first_record_of_a_task_wins_and_every_other_attempt_is_discarded(
    root: StoreRoot,
) -> None:
    """Duplicate attempts of one task, open at once, write different bytes to the same
    names; the record given first is published, the other attempt leaves nothing (a
    backend that published both, or the last, fails on the bytes or on the leftovers)."""
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    first = job.task(7, attempt=0)
    second = job.task(7, attempt=1)
    with first, second:
        for t, fill in ((first, b"A"), (second, b"B")):
            with t.open("part-7.bin", "wb") as f:
                f.write(fill * BIG)
            with t.open("small-7.bin", "wb") as f:
                f.write(fill * 3)
    other = write(job, "eight", {"part-8.bin": b"eight"})
    job.commit([second.record, other, first.record])
    assert read(d, "part-7.bin") == b"B" * BIG
    assert read(d, "small-7.bin") == b"BBB"
    committed_only(root, "t", ["part-7.bin", "part-8.bin", "small-7.bin"])


def test_an_attempt_that_never_reported_leaves_nothing_after_the_commit(root: StoreRoot) -> None:
    """A killed worker's attempt (never reported, its upload still pending) is found and
    removed by the commit."""
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    lost = job.task(3, attempt=0)
    with lost.open("part-3.bin", "wb") as f:
        f.write(b"L" * BIG)
    with lost.open("small-3.bin", "wb") as f:
        f.write(b"lost")
    # the worker dies here: its attempt is never ended, nor reported
    retried = write(job, 3, {"part-3.bin": b"R" * BIG, "small-3.bin": b"kept"}, attempt=1)
    job.commit([retried])
    assert read(d, "part-3.bin") == b"R" * BIG
    assert read(d, "small-3.bin") == b"kept"
    committed_only(root, "t", ["part-3.bin", "small-3.bin"])
    lost.discard()  # the process's own clean-up, late: changes nothing committed
    assert read(d, "part-3.bin") == b"R" * BIG


def test_two_tasks_writing_one_name_fail_the_commit_naming_it(root: StoreRoot) -> None:
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    records = [write(job, i, {"same.bin": b"x" * BIG, f"own-{i}.bin": b"y"}) for i in range(2)]
    with pytest.raises(targets.CommitError, match=r"same\.bin"):
        job.commit(records)
    assert not d.exists() and visible(root, "t") == []
    assert everything(root) == []
    assert job.state is WriterState.DISCARDED
    again = d.job()  # a failed commit ended the job: the output can be claimed again
    again.commit([write(again, 0, {"same.bin": b"ok"})])
    assert read(d, "same.bin") == b"ok"


def test_a_file_named_like_another_files_directory_fails_the_commit(root: StoreRoot) -> None:
    """Task 0 writes ``a``, task 1 writes ``a/b``: no disk can hold both, so the commit
    refuses them on every backend, naming both. Fails if an object store published both
    keys, or a rename store failed with an unrelated error."""
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    records = [write(job, 0, {"a": b"a file"}), write(job, 1, {"a/b": b"under a"})]
    with pytest.raises(targets.CommitError, match=r"the file 'a' .* 'a/b' under a directory"):
        job.commit(records)
    assert not d.exists() and visible(root, "t") == []
    assert everything(root) == []


def test_abort_leaves_the_output_absent_and_nothing_behind(root: StoreRoot) -> None:
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    write(job, 0, {"a.bin": b"a" * BIG, "b.bin": b"b"})
    unfinished = job.task(1)
    with unfinished.open("c.bin", "wb") as f:
        f.write(b"c" * BIG)
    job.abort()
    job.abort()  # twice is fine
    assert not d.exists() and everything(root) == []
    with pytest.raises(targets.InvalidTarget, match=r"aborted|discarded"):
        job.commit([])
    d.job().abort()  # and a new job can claim it


def test_an_exception_in_the_job_block_aborts_it(root: StoreRoot) -> None:
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    with pytest.raises(RuntimeError, match="engine failed"):
        with d.job() as job:
            write(job, 0, {"a.bin": b"a" * BIG})
            raise RuntimeError("engine failed")
    assert not d.exists() and everything(root) == []


def test_a_task_that_raises_discards_its_files_at_once(root: StoreRoot) -> None:
    """Not at the commit: right when the task's block ends with the exception."""
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    with pytest.raises(ValueError, match="bad row"):
        with job.task(0) as t:
            with t.open("doomed-big.bin", "wb") as f:
                f.write(b"d" * BIG)
            with t.open("doomed-small.bin", "wb") as f:
                f.write(b"d")
            raise ValueError("bad row")
    assert t.state is WriterState.DISCARDED
    assert [p for p in everything(root) if "doomed" in p] == []
    with pytest.raises(targets.InvalidTarget, match="no record"):
        _ = t.record
    job.abort()


def test_a_committed_output_refuses_a_job_at_once(root: StoreRoot) -> None:
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    with d.writer() as w:
        with w.open("old.bin", "wb") as f:
            f.write(b"old")
    with pytest.raises(targets.TargetExistsError):
        d.job()
    assert d.files() == ["old.bin"]


def test_a_second_job_on_a_live_job_is_refused_not_judged_incomplete(root: StoreRoot) -> None:
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    with d.job() as job:
        with pytest.raises(targets.TargetExistsError) as refused:
            targets.DirectoryTarget(root.child("t/"), **root.options).job()
        assert not isinstance(refused.value, targets.IncompleteCommit)
        job.commit([write(job, 0, {"a.bin": b"a"})])
    assert d.files() == ["a.bin"]


def test_a_single_writer_during_a_live_job_is_refused_and_the_job_still_commits(
    root: StoreRoot,
) -> None:
    """A directory writer on the output of a live job fails (at once on rename stores, at
    its claim on object stores) and leaves nothing; the job then commits its own files only.
    Fails if the writer's file ends up in the output or the writer takes the output."""
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    record = write(job, 0, {"from-job.bin": b"job"})
    with pytest.raises(targets.TargetExistsError), d.writer() as w:
        with w.open("from-writer.bin", "wb") as f:
            f.write(b"writer")
    job.commit([record])
    assert d.files() == ["from-job.bin"]
    committed_only(root, "t", ["from-job.bin"])


def test_the_task_path_is_writable_at_once_through_its_filesystem(root: StoreRoot) -> None:
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    with job.task("by-path") as t:
        fs = t.filesystem
        fs.makedirs(f"{t.path}/nested", exist_ok=True)  # as tools do (pyarrow's create_dir)
        with fs.open(f"{t.path}/nested/by-path.bin", "wb") as f:
            f.write(b"p" * BIG)
        with t.open("by-name.bin", "wb") as f:
            f.write(b"n")
    assert visible(root, "t") == []
    job.commit([t.record])
    assert d.files() == ["by-name.bin", "nested/by-path.bin"]
    assert read(d, "nested/by-path.bin") == b"p" * BIG
    committed_only(root, "t", ["by-name.bin", "nested/by-path.bin"])


def test_records_and_pickled_jobs_are_small_and_hold_no_credential(
    root: StoreRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _worker_environment(root, monkeypatch)  # the copy finds its credentials there
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    record = write(job, "k", {f"f-{i}.bin": b"r" * 100 for i in range(50)})
    pickled = pickle.dumps(job)
    assert len(pickled) < 16 * 1024
    assert len(pickle.dumps(record)) < 1024 * 1024
    for secret in ("secret", "key", "connection_string"):
        value = root.options.get(secret)
        if isinstance(value, str) and len(value) > 8:
            assert value.encode() not in pickled
            assert value.encode() not in pickle.dumps(record)
    copy = pickle.loads(pickled)
    with pytest.raises(targets.InvalidTarget, match="only the process that opened it"):
        copy.commit([record])
    job.commit([record, write(copy, "from-copy", {"c.bin": b"c"})])
    assert "c.bin" in d.files() and len(d.files()) == 51


def test_a_worker_unpickling_the_job_for_every_task_makes_one_copy(
    root: StoreRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine sends the job with each task: the job is pickled once, and a process
    unpickling it again reuses its first copy (its target and client resolved once).
    Fails if every task paid to pickle the job and resolve its filesystem again."""
    _worker_environment(root, monkeypatch)
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    first = pickle.dumps(job)
    assert pickle.dumps(job) == first
    copy = pickle.loads(first)
    again = pickle.loads(pickle.dumps(job))
    assert again is copy and again.target.fs is copy.target.fs
    job.commit([write(again, 0, {"a.bin": b"a"})])
    assert d.files() == ["a.bin"]


def _worker_environment(root: StoreRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The credentials a worker finds in its environment (pickles carry none)."""
    options = root.options
    if "secret" in options:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["key"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", options["secret"])
    if "connection_string" in options:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", options["connection_string"])


def test_tasks_run_in_other_processes_from_a_pickled_job(
    shared_root: StoreRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks 0 and 1 get the job by pickle, task 2 by cloudpickle (as Dask sends it)."""
    import cloudpickle  # type: ignore[import-untyped]

    root = shared_root
    _worker_environment(root, monkeypatch)
    d = targets.DirectoryTarget(root.child("t/"), **root.options)
    job = d.job()
    by_pickle, by_cloudpickle = pickle.dumps(job), cloudpickle.dumps(job)
    tasks = [(by_pickle, 0, False), (by_pickle, 1, False), (by_cloudpickle, 2, True)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pickled = pool.starmap(workers.write_part, tasks)
    job.commit([pickle.loads(p) for p in pickled])
    assert d.files() == [f"part-{i:04d}.txt" for i in range(3)]
    assert read(d, "part-0002.txt") == b"task 2\n"
    committed_only(root, "t", d.files())


def test_a_record_of_another_job_is_refused_and_publishes_nothing(root: StoreRoot) -> None:
    one = targets.DirectoryTarget(root.child("one/"), **root.options).job()
    two = targets.DirectoryTarget(root.child("two/"), **root.options).job()
    foreign = write(two, 0, {"a.bin": b"a"})
    with pytest.raises(targets.InvalidTarget, match="belongs to job"):
        one.commit([foreign])
    two.abort()
    assert everything(root) == []


def test_bad_task_ids_and_attempts_are_refused(root: StoreRoot) -> None:
    job = targets.DirectoryTarget(root.child("t/"), **root.options).job()
    for bad in (None, 1.5, "", True, ("a",)):
        with pytest.raises(targets.InvalidTarget, match="task id"):
            job.task(bad)  # type: ignore[arg-type]
    with pytest.raises(targets.InvalidTarget, match="attempt"):
        job.task(0, attempt=-1)
    job.abort()
