"""Jobs of many workers, one commit, on the rename stores: the local disk and the HDFS model.

Each test runs on a real local directory and on `HDFSModel` (a NameNode namespace with a
clock the test moves). A dead driver is simulated by stopping its lease (a dead process
renews nothing) and letting the store's time pass beyond the lease period.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import targets
from targets.errors import CommitError, IncompleteCommit, TargetExistsError, TargetNotFound
from targets.fs.job import MAX_RECORD_BYTES, TaskRecord
from targets.fs.rename.job import RenameJobWriter
from targets.testing.hdfs_model import HDFSModel

ZERO = timedelta(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    kind: str
    root: str
    options: dict[str, Any]
    let_time_pass: Callable[[float], None]
    names: Callable[[], list[str]]
    """Every name under the root, relative; directories end in '/'."""

    def url(self, name: str) -> str:
        return f"{self.root}/{name}"

    def out(self, name: str = "table", **kwargs: Any) -> targets.DirectoryTarget:
        return targets.DirectoryTarget(self.url(name) + "/", **kwargs, **self.options)


def _local_world(tmp_path: Any) -> World:
    root = str(tmp_path)

    def let_time_pass(seconds: float) -> None:
        for top, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(top, name)
                st = os.lstat(path)
                os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))

    def names() -> list[str]:
        out = []
        for top, dirs, files in os.walk(root):
            rel = os.path.relpath(top, root)
            prefix = "" if rel == "." else rel + "/"
            out += [prefix + d + "/" for d in dirs] + [prefix + f for f in files]
        return sorted(out)

    return World("local", root, {}, let_time_pass, names)


def _hdfs_world() -> World:
    clock = Clock()
    model = HDFSModel(clock=clock)
    model.mkdirs("/data", 0o755, True)

    def let_time_pass(seconds: float) -> None:
        clock.now += seconds

    def names() -> list[str]:
        return [n[len("/data/") :] if n.startswith("/data/") else n for n in model.tree("/data")]

    return World("hdfs", "hdfs://model/data", {"client": model}, let_time_pass, names)


@pytest.fixture(params=["local", "hdfs"])
def world(request: Any, tmp_path: Any) -> World:
    return _local_world(tmp_path) if request.param == "local" else _hdfs_world()


def _hidden_left(world: World) -> list[str]:
    return [n for n in world.names() if ".targets-" in n]


def _visible_under(world: World, name: str) -> list[str]:
    """Names under the output ``name`` with no hidden segment."""
    prefix = name + "/"
    found = []
    for n in world.names():
        if not n.startswith(prefix):
            continue
        segments = [s for s in n[len(prefix) :].split("/") if s]
        if segments and not any(s[0] in "._" for s in segments):
            found.append(n)
    return found


def _write(job: targets.Job, task_id: Any, name: str, data: bytes, attempt: int = 0) -> TaskRecord:
    with job.task(task_id, attempt) as t:
        with t.open(name, "wb") as f:
            f.write(data)
    return t.record


def _read(d: targets.DirectoryTarget, name: str) -> bytes:
    with d.fs.open_input(d.fs.join(d.path, name)) as f:
        return f.read()


def _kill(job: targets.Job) -> None:
    """The driver dies: its lease is renewed no more."""
    writer = job._writer
    assert isinstance(writer, RenameJobWriter)
    writer._lease.end()


# -- commits ---------------------------------------------------------------------------------


def test_duplicate_attempts_first_record_wins_and_the_others_are_gone(world: World) -> None:
    """Two attempts of task 0 write different bytes; the record given first is published,
    the other attempt's files are gone. Fails if the last record won, or if the losing
    attempt's staging were left behind."""
    d = world.out()
    with d.job() as job:
        late = _write(job, 0, "part-0", b"second attempt", attempt=1)
        early = _write(job, 0, "part-0", b"first attempt", attempt=0)
        one = _write(job, 1, "part-1", b"one")
        manifest = job.commit([late, one, early])
    assert _read(d, "part-0") == b"second attempt"
    assert sorted(d.files()) == ["part-0", "part-1"]
    assert [f["name"] for f in manifest["files"]] == ["part-0", "part-1"]
    assert _hidden_left(world) == []
    assert sorted(world.names()) == ["table/", "table/_SUCCESS", "table/part-0", "table/part-1"]


def test_an_attempt_whose_name_was_taken_is_published_when_its_record_comes_first(
    world: World,
) -> None:
    """Attempt 1 creates ``part-0`` first (it holds the name in the job's open tree);
    attempt 0 stages its own ``part-0`` aside. Attempt 0's record is given first: its bytes
    are published and attempt 1's file is gone. Fails if the file holding the name won."""
    d = world.out()
    with d.job() as job:
        holder = _write(job, 0, "part-0", b"holds the name", attempt=1)
        aside = _write(job, 0, "part-0", b"staged aside", attempt=0)
        assert holder.files[0].handle != aside.files[0].handle
        job.commit([aside, holder])
    assert _read(d, "part-0") == b"staged aside"
    assert d.files() == ["part-0"]
    assert _hidden_left(world) == []


def test_a_straggler_writing_while_the_commit_runs_adds_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A straggler that opens a file after the commit closed the open tree is told the job
    is committing; one that opened its file before keeps writing to it through the
    commit. Neither reaches the output. Fails if a file created or written by an attempt
    no record chose is published."""
    d = world.out()
    original = RenameJobWriter._keep_chosen
    early = late = None

    def paused(self: RenameJobWriter, *args: Any, **kwargs: Any) -> Any:
        for name in ("late-9", "sub/late-9"):
            with pytest.raises(CommitError, match="job is committing"):
                late.open(name, "wb")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RenameJobWriter, "_keep_chosen", paused)
    with d.job() as job:
        kept = _write(job, 1, "part-1", b"one")
        early, late = job.task(8), job.task(9)
        f = early.open("early-8", "wb")
        f.write(b"before the commit")
        f.flush()
        job.commit([kept])
    with contextlib.suppress(Exception):  # its file is gone: the store may say so
        f.write(b" and after it")
        f.close()
    assert d.files() == ["part-1"]
    assert [n for n in world.names() if "early-8" in n or "late-9" in n or "sub" in n] == []
    assert _hidden_left(world) == []


def test_an_unreported_attempt_is_removed_at_commit(world: World) -> None:
    """An attempt that ended but was never reported (its worker was lost) leaves nothing:
    neither its files nor its directory. Fails if only reported attempts were cleaned."""
    d = world.out()
    with d.job() as job:
        _write(job, 7, "lost-7", b"lost")
        straggler = job.task(8)  # still open at the commit
        with straggler.open("half-8", "wb") as f:
            f.write(b"half")
        kept = _write(job, 1, "part-1", b"one")
        job.commit([kept])
    assert d.files() == ["part-1"]
    assert [n for n in world.names() if "lost-7" in n or "half-8" in n] == []
    assert _hidden_left(world) == []
    with pytest.raises(CommitError, match="job is over"):
        straggler.commit()


def _staged(world: World, d: targets.DirectoryTarget, needle: str) -> str:
    """The backend path of the one staged name holding ``needle``."""
    [rel] = [n for n in world.names() if needle in n and not n.endswith("/")]
    return d.fs.join(os.path.dirname(d.path), rel)


def test_an_attempt_of_a_job_that_is_over_fails_at_its_first_write(world: World) -> None:
    """Opening an attempt asks nothing of the store, but a worker's attempt of an aborted
    job fails with `CommitError` when it writes by name or reads ``t.path``, and stages
    nothing. Fails if a straggler could stage files where no one cleans up."""
    d = world.out()
    job = d.job()
    copy = pickle.loads(pickle.dumps(job))
    job.abort()
    t = copy.task(0)
    with pytest.raises(CommitError, match="job is over"):
        t.open("part-0", "wb")
    with pytest.raises(CommitError, match="job is over"):
        _ = t.path
    with pytest.raises(CommitError, match="job is over"):
        t.commit()
    assert world.names() == []


def test_a_chosen_file_removed_from_the_staging_fails_the_commit(world: World) -> None:
    """A chosen file staged by name that is gone at the commit (a cleanup removed it) is
    `CommitError` naming it; nothing is published and a new job can claim the output.
    Fails if the commit published the attempt without it."""
    d = world.out()
    job = d.job()
    records = [_write(job, i, f"part-{i}", b"x" * (i + 1)) for i in range(3)]
    d.fs.store.delete(_staged(world, d, ".targets-open/part-1"))
    with pytest.raises(CommitError, match=r"'part-1'.*is gone"):
        job.commit(records)
    assert not d.exists()
    assert _visible_under(world, "table") == []
    assert _hidden_left(world) == []
    with d.job() as again:
        again.commit([_write(again, 0, "part-0", b"0")])
    assert d.files() == ["part-0"]


def test_a_file_written_by_path_that_changed_size_fails_the_commit(world: World) -> None:
    """A file a tool wrote under ``t.path`` that holds another size at the commit than
    its record says (written again by a straggler) is `CommitError` naming it and its
    size; nothing is published. Fails if the commit trusted the record's size."""
    d = world.out()
    job = d.job()
    with job.task(0) as t:
        with t.filesystem.open(f"{t.path}/by-path.bin", "wb") as f:
            f.write(b"12345")
    staged = _staged(world, d, "/by-path.bin")
    store = d.fs.store
    store.delete(staged)
    sink = store.create(staged)
    sink.write(b"123")
    sink.close()
    with pytest.raises(CommitError, match=r"'by-path\.bin'.*holds 3 bytes"):
        job.commit([t.record])
    assert not d.exists()
    assert _hidden_left(world) == []


def test_nothing_is_visible_before_the_commit(world: World) -> None:
    """Before the commit the output does not exist, lists nothing, and no non-hidden name
    is under it; after it, only the data and ``_SUCCESS``."""
    d = world.out()
    with d.job() as job:
        rec = _write(job, 0, "a/part-0", b"zero")
        assert not d.exists()
        with pytest.raises(TargetNotFound):
            d.files()
        assert _visible_under(world, "table") == []
        assert [n for n in world.names() if not n.startswith(".")] == []
        job.commit([rec])
    assert d.exists()
    assert sorted(world.names()) == ["table/", "table/_SUCCESS", "table/a/", "table/a/part-0"]


def test_a_name_collision_fails_the_commit_and_a_fresh_job_works(world: World) -> None:
    """Tasks 0 and 1 both write ``part``: `CommitError` naming it, the output absent, nothing
    of the job left, and a new job commits right after. Fails if the second file replaced
    the first silently."""
    d = world.out()
    with d.job() as job:
        records = [_write(job, 0, "part", b"zero"), _write(job, 1, "part", b"one")]
        with pytest.raises(CommitError, match="'part'"):
            job.commit(records)
    assert not d.exists() and _hidden_left(world) == []
    with d.job() as job:
        job.commit([_write(job, 0, "part", b"fresh")])
    assert _read(d, "part") == b"fresh"


def test_abort_leaves_nothing_and_a_fresh_job_works(world: World) -> None:
    d = world.out()
    job = d.job()
    _write(job, 0, "part-0", b"zero")
    job.abort()
    assert not d.exists() and _hidden_left(world) == []
    with d.job() as job:
        job.commit([_write(job, 0, "part-0", b"again")])
    assert d.files() == ["part-0"]


def test_an_exception_in_a_task_discards_its_files_right_then(world: World) -> None:
    """The attempt's directory is gone as soon as the ``with`` block raises, before the job
    ends. Fails if the discard waited for the job's commit or abort."""
    d = world.out()
    with d.job() as job:
        with pytest.raises(RuntimeError), job.task(3) as t:
            with t.open("part-3", "wb") as f:
                f.write(b"doomed")
            raise RuntimeError("the task failed")
        assert [n for n in world.names() if "i3-0-" in n] == []
        job.commit([_write(job, 3, "part-3", b"retried", attempt=1)])
    assert _read(d, "part-3") == b"retried"


def test_tools_write_under_the_task_path(world: World) -> None:
    """``t.path`` is writable at once: pyarrow writes Parquet there through
    ``t.filesystem``, and (on the local disk) plain ``open`` writes beside it; both are
    in the record and the output."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = world.out()
    table = pa.table({"x": [1, 2, 3]})
    with d.job() as job:
        with job.task(0) as t:
            pq.write_table(table, f"{t.path}/part-0.parquet", filesystem=t.filesystem)
            if world.kind == "local":
                with open(os.path.join(t.path, "plain.txt"), "w") as f:
                    f.write("plain")
        names = sorted(p.name for p in t.record.files)
        job.commit([t.record])
    expected = ["part-0.parquet", "plain.txt"] if world.kind == "local" else ["part-0.parquet"]
    assert names == expected and sorted(d.files()) == expected
    assert pq.read_table(pa.BufferReader(_read(d, "part-0.parquet"))).equals(table)


def test_a_file_gone_while_the_attempt_lists_its_directory_fails_the_task(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file a tool wrote under ``t.path`` that is listed, then gone before it is looked
    up (removed by a cleanup in between), fails the attempt naming it; it is never left
    out of the record (which would publish the output without it)."""
    world = _local_world(tmp_path)
    d = world.out()
    real = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path).endswith("gone.txt"):
            raise FileNotFoundError(2, "No such file or directory", path)
        return real(path, *args, **kwargs)

    with d.job() as job:
        with pytest.raises(CommitError, match=r"gone\.txt.*vanished"), job.task(0) as t:
            for name in ("kept.txt", "gone.txt"):
                with open(os.path.join(t.path, name), "w") as f:
                    f.write(name)
            monkeypatch.setattr(os, "stat", stat)
        monkeypatch.setattr(os, "stat", real)
        job.abort()
    assert _hidden_left(world) == [] and not d.exists()


def test_files_opened_by_name_are_staged_without_a_directory_per_attempt(world: World) -> None:
    """A file of ``t.open``, top-level or nested, is created under its own name in the job's
    open tree (no directory to make and remove per attempt, nothing to rename at the
    commit); reading ``t.path`` makes the attempt's directory, and files from both are
    committed. Fails if an attempt that only opens names creates its directory, or if a
    file of the open tree is not committed."""
    d = world.out()
    with d.job() as job:
        with job.task(0) as t:
            with t.open("part-0", "wb") as f:
                f.write(b"flat")
            with t.open("sub/part-2", "wb") as f:
                f.write(b"nested by name")
        dirs = [n for n in world.names() if ".targets-job-" in n and n.endswith("/")]
        assert [n for n in dirs if "/i0-0-" in n] == []
        in_tree = [n for n in world.names() if "/.targets-open/" in n and not n.endswith("/")]
        assert sorted(n.split("/.targets-open/")[1] for n in in_tree) == ["part-0", "sub/part-2"]
        with job.task(1) as u:
            with u.filesystem.open(f"{u.path}/part-1", "wb") as f:
                f.write(b"by path")
        assert [n for n in world.names() if "/i1-0-" in n and n.endswith("/")] != []
        job.commit([t.record, u.record])
    assert sorted(d.files()) == ["part-0", "part-1", "sub/part-2"]
    assert _read(d, "part-0") == b"flat" and _read(d, "sub/part-2") == b"nested by name"
    assert _read(d, "part-1") == b"by path"
    assert _hidden_left(world) == []


def test_nested_names_share_directories_and_only_chosen_files_are_published(
    world: World,
) -> None:
    """Tasks write into shared directories of the open tree (``region=eu/``); an unreported
    attempt wrote into one of them and into one of its own, and a duplicate attempt found
    its nested name taken and staged it aside, then won. The output holds exactly the
    chosen files and their directories: no file and no empty directory of an attempt no
    record chose. Fails if the commit kept a directory or a file only unchosen attempts
    wrote."""
    d = world.out()
    with d.job() as job:
        eu = _write(job, 0, "region=eu/part-0", b"eu 0")
        holder = _write(job, 1, "region=eu/part-1", b"holds the name", attempt=0)
        aside = _write(job, 1, "region=eu/part-1", b"staged aside", attempt=1)
        us = _write(job, 2, "region=us/part-2", b"us 2")
        _write(job, 3, "region=eu/lost-3", b"never reported")
        _write(job, 4, "region=xx/lost-4", b"never reported")
        assert holder.files[0].handle != aside.files[0].handle
        job.commit([eu, aside, holder, us])
    assert sorted(d.files()) == ["region=eu/part-0", "region=eu/part-1", "region=us/part-2"]
    assert _read(d, "region=eu/part-1") == b"staged aside"
    assert sorted(world.names()) == [
        "table/",
        "table/_SUCCESS",
        "table/region=eu/",
        "table/region=eu/part-0",
        "table/region=eu/part-1",
        "table/region=us/",
        "table/region=us/part-2",
    ]


def test_an_attempt_finding_a_file_where_it_needs_a_directory_stages_aside(
    world: World,
) -> None:
    """One attempt wrote a file ``a`` in the open tree; another task's attempt needs ``a/``
    as a directory there, so it stages ``a/b`` in its own directory instead. Publishing
    both is refused as the collision it is, naming both; publishing the second alone
    works."""
    d = world.out()
    for both in (True, False):
        with d.job() as job:
            file_a = _write(job, 0, "a", b"a file")
            dir_a = _write(job, 1, "a/b", b"under a")
            assert dir_a.files[0].handle == {}
            if both:
                with pytest.raises(CommitError, match=r"the file 'a' .* 'a/b' under a direct"):
                    job.commit([file_a, dir_a])
                assert not d.exists() and _hidden_left(world) == []
            else:
                job.commit([dir_a])
    assert d.files() == ["a/b"] and _read(d, "a/b") == b"under a"


def test_a_name_written_by_open_and_by_path_in_one_attempt_is_refused(world: World) -> None:
    """Fails if the attempt's record silently keeps one of the two files of one name."""
    d = world.out()
    with d.job() as job:
        with pytest.raises(CommitError, match="twice"), job.task(0) as t:
            with t.open("part-0", "wb") as f:
                f.write(b"by open")
            with t.filesystem.open(f"{t.path}/part-0", "wb") as f:
                f.write(b"by path")
        assert [n for n in world.names() if "/i0-0-" in n] == []
        job.commit([_write(job, 0, "part-0", b"again", attempt=1)])
    assert _read(d, "part-0") == b"again"


def test_overwrite_replaces_a_committed_output(world: World) -> None:
    d = world.out()
    with d.writer() as w, w.open("old", "wb") as f:
        f.write(b"old")
    with world.out(if_exists="overwrite").job() as job:
        job.commit([_write(job, 0, "new", b"new")])
    assert d.files() == ["new"] and _hidden_left(world) == []


# -- claims ----------------------------------------------------------------------------------


def test_a_second_job_on_a_live_job_is_refused_naming_it(world: World) -> None:
    d = world.out()
    with d.job() as job:
        with pytest.raises(
            TargetExistsError, match=f"live job.*{job.token}.*process {os.getpid()}"
        ):
            d.job()
        job.commit([_write(job, 0, "p", b"p")])
    with pytest.raises(TargetExistsError):
        d.job()  # committed now


def test_a_job_on_a_committed_output_is_refused(world: World) -> None:
    d = world.out()
    with d.writer() as w, w.open("p", "wb") as f:
        f.write(b"p")
    with pytest.raises(TargetExistsError):
        d.job()
    assert _hidden_left(world) == []


def test_a_second_job_on_a_dead_job_says_to_recover(world: World) -> None:
    """The first driver died (no renewal for longer than the lease): the second job gets
    `IncompleteCommit` naming ``targets recover``; recover rolls the dead job back,
    its unreported attempt included, and a new job then commits."""
    d = world.out()
    dead = d.job()
    _write(dead, 0, "never-reported", b"lost")
    _kill(dead)
    world.let_time_pass(120)
    with pytest.raises(IncompleteCommit, match="targets recover"):
        d.job()
    message = targets.recover(d.url, **world.options)
    assert "rolled back" in message and dead.token in message
    assert _hidden_left(world) == []
    with d.job() as job:
        job.commit([_write(job, 0, "part-0", b"zero")])
    assert d.files() == ["part-0"]


def test_recover_refuses_a_live_job(world: World) -> None:
    d = world.out()
    with d.job() as job:
        rec = _write(job, 0, "p", b"p")
        message = targets.recover(d.url, **world.options)
        assert "live" in message and job.token in message
        job.commit([rec])
    assert d.files() == ["p"]


def test_cleanup_leaves_a_live_job_alone_and_removes_a_dead_one(world: World) -> None:
    """``cleanup(older_than=0)`` keeps an idle live job whole (it then commits); a dead
    job's staging and claim go. Fails if cleanup judged the job by ``older_than`` alone."""
    d = world.out()
    with d.job() as job:
        rec = _write(job, 0, "p", b"p")
        report = targets.cleanup(d.url, older_than=ZERO, **world.options)
        assert report.removed == [] and len(report.kept_recent) >= 2
        job.commit([rec])
    assert d.files() == ["p"]
    other = world.out("other")
    dead = other.job()
    _write(dead, 0, "q", b"q")
    _kill(dead)
    world.let_time_pass(120)
    report = targets.cleanup(other.url, older_than=ZERO, **world.options)
    assert any("targets-jobclaim" in r for r in report.removed)
    assert _hidden_left(world) == []


def test_a_single_writer_racing_a_job_one_wins(world: World) -> None:
    """A directory writer opened before the job commits while the job is open: the job's
    commit is then refused (`TargetExistsError`) and leaves nothing; the writer's output
    stands (G3)."""
    d = world.out()
    with d.writer() as w:
        job = d.job()
        rec = _write(job, 0, "from-job", b"job")
        with w.open("from-writer", "wb") as f:
            f.write(b"writer")
    with pytest.raises(TargetExistsError):
        job.commit([rec])
    assert d.files() == ["from-writer"] and _hidden_left(world) == []


def test_a_single_writer_is_refused_at_once_while_a_job_is_live(world: World) -> None:
    """``writer()`` and a directory ``temporary_path()`` fail when opened, naming the live
    job, instead of writing everything to lose at publish; once the job is dead (its lease
    stale), its claim is no obstacle to them. Fails if the writer only finds out at its
    publish, or if a dead job's claim blocks a writer."""
    d = world.out()
    job = d.job()
    with pytest.raises(TargetExistsError, match=f"live job.*{job.token}"):
        d.writer()
    with pytest.raises(TargetExistsError, match="live job"), d.temporary_path():
        pass
    _kill(job)
    world.let_time_pass(120)
    with d.writer() as w, w.open("from-writer", "wb") as f:
        f.write(b"writer")
    assert d.files() == ["from-writer"]


@pytest.mark.parametrize(
    "pause_in", ["_verify", "_close_tree", "_keep_chosen", "_assemble", "_seal", "_fence"]
)
def test_a_driver_paused_while_recover_forces_a_rollback_publishes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, pause_in: str
) -> None:
    """The driver pauses inside a step between choosing the attempts and publishing;
    meanwhile another process runs ``recover(force=True)``. The commit raises `CommitError`
    and no ``_SUCCESS`` appears. Fails if the driver published what it had staged (with
    ``_fence`` paused after its check: if the publish did not depend on the staging that
    recover removes)."""
    d = world.out()
    original = getattr(RenameJobWriter, pause_in)

    def paused(self: RenameJobWriter, *args: Any, **kwargs: Any) -> Any:
        if pause_in == "_fence":
            result = original(self, *args, **kwargs)
            if not kwargs.get("last"):
                return result
        else:
            result = None
        targets.recover(d.url, force=True, **world.options)  # the other process
        return result if pause_in == "_fence" else original(self, *args, **kwargs)

    monkeypatch.setattr(RenameJobWriter, pause_in, paused)
    with d.job() as job:
        rec = _write(job, 0, "p", b"p")
        with pytest.raises(CommitError):
            job.commit([rec])
    assert not d.exists()
    assert [n for n in world.names() if n.endswith("_SUCCESS")] == []


# -- records ---------------------------------------------------------------------------------


def test_the_record_of_twenty_thousand_files_stays_small(tmp_path: Any) -> None:
    """A task writing 20,000 small files under ``t.path``: its record (JSON and pickle)
    stays under 1 MiB because the file list is spilled beside the attempt; the commit
    publishes every file. Fails if the record carried the list inline."""
    world = _local_world(tmp_path)
    d = world.out(durable=False)
    with d.job() as job:
        with job.task(0) as t:
            os.makedirs(os.path.join(t.path, "sub"))
            for i in range(20_000):
                with open(os.path.join(t.path, "sub", f"part-{i:05d}"), "wb") as f:
                    f.write(b"x")
        rec = t.record
        assert rec.spilled is not None and rec.files == ()
        assert rec.encoded_size() < MAX_RECORD_BYTES
        assert len(pickle.dumps(rec)) < MAX_RECORD_BYTES
        manifest = job.commit([rec])
    assert len(manifest["files"]) == 20_000
    assert len(os.listdir(os.path.join(world.root, "table", "sub"))) == 20_000
    assert _hidden_left(world) == []


def _task_in_subprocess(args: tuple[bytes, int]) -> TaskRecord:
    blob, task_id = args
    job = pickle.loads(blob)
    with job.task(task_id) as t:
        with t.open(f"part-{task_id}", "wb") as f:
            f.write(b"from %d" % os.getpid())
    record: TaskRecord = t.record
    return record


@pytest.mark.parametrize("pickler", ["pickle", "cloudpickle"])
def test_tasks_run_from_a_pickled_job_in_other_processes(tmp_path: Any, pickler: str) -> None:
    """The job pickles small (no lease, no client); spawned processes open tasks from the
    copy and return records; the driver commits them. Fails if the copy needed the
    driver's lease or state."""
    dumps = pickle.dumps if pickler == "pickle" else pytest.importorskip("cloudpickle").dumps
    d = targets.DirectoryTarget(str(tmp_path / "table") + "/")
    with d.job() as job:
        blob = dumps(job)
        assert len(blob) < 4096
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            records = pool.map(_task_in_subprocess, [(blob, i) for i in range(3)])
        job.commit(records)
    assert sorted(d.files()) == ["part-0", "part-1", "part-2"]
    assert all(_read(d, f"part-{i}") != b"from %d" % os.getpid() for i in range(3))
