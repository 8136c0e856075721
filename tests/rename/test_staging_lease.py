"""G10 on the rename stores: maintenance never breaks a live writer.

A writer is paused on purpose (it simply stops calling the library) while `cleanup` and
`recover` run, on the real local disk, on the simulated POSIX filesystem and on the HDFS
model. The store's clock is a fake one where the store has one (`SimulatedPosix`,
`HDFSModel`); on the real disk, the passing of time is the staging's times set back. The
writer's own clock is `targets.fs.rename.lease.holder_clock`, moved forward to make its
lease run out without waiting.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import targets
from targets.fs import local
from targets.fs.rename import lease as lease_module
from targets.testing.hdfs_model import HDFSModel
from targets.testing.posix import SimulatedPosix

ZERO = timedelta(0)


class Clock:
    """A store's clock that a test moves forward."""

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
    """Make ``seconds`` pass in the store's clock, for everything in it."""
    names: Callable[[], list[str]]
    """Every name under the root (relative; directories end in '/')."""

    def url(self, name: str) -> str:
        return f"{self.root}/{name}"


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


def _simulated_world() -> World:
    clock = Clock()
    sim = SimulatedPosix(clock=clock)
    sim.makedirs("/data")

    def let_time_pass(seconds: float) -> None:
        clock.now += seconds

    return World("simulated", "/data", {"ops": sim}, let_time_pass, lambda: sim.tree("/data"))


def _hdfs_world() -> World:
    clock = Clock()
    model = HDFSModel(clock=clock)
    model.mkdirs("/data", 0o755, True)

    def let_time_pass(seconds: float) -> None:
        clock.now += seconds

    return World(
        "hdfs", "hdfs://model/data", {"client": model}, let_time_pass, lambda: model.tree("/data")
    )


@pytest.fixture(params=["local", "simulated", "hdfs"])
def world(request: Any, tmp_path: Any) -> World:
    if request.param == "local":
        return _local_world(tmp_path)
    if request.param == "simulated":
        return _simulated_world()
    return _hdfs_world()


@pytest.fixture
def holder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], None]]:
    """``holder(seconds)``: the writers' own clock jumps forward (their leases run out)."""
    offset = [0.0]
    monkeypatch.setattr(lease_module, "holder_clock", lambda: time.monotonic() + offset[0])

    def jump(seconds: float) -> None:
        offset[0] += seconds

    yield jump


def _hidden(world: World) -> list[str]:
    return [n for n in world.names() if ".targets-" in n]


def _write_through_filesystem(w: Any, name: str, data: bytes) -> None:
    fs = w.filesystem
    with fs.open(f"{w.path}/{name}", "wb") as f:
        f.write(data)


# -- (a) an idle live writer keeps its staging -------------------------------------------------


def test_cleanup_keeps_the_staging_of_an_idle_live_directory_writer(world: World) -> None:
    """A directory writer writes a file through ``open()`` and one through ``w.filesystem``,
    then idles while ``cleanup(older_than=0)`` runs: its staging is kept (its lease is
    live), and the writer then commits all three files. The old cleanup removed the staging
    (older_than=0 made everything stale); the writer re-created it with what it wrote next
    and committed a partial output as a success (HDFS ``w.open``; ``w.path`` everywhere)."""
    d = targets.target(world.url("table") + "/", **world.options)
    with d.writer() as w:
        with w.open("part-0", "wb") as f:
            f.write(b"zero")
        _write_through_filesystem(w, "part-1", b"one")
        report = targets.cleanup(world.url("table"), older_than=ZERO, **world.options)
        assert report.removed == []
        assert len(report.kept_recent) == 1 and ".table.targets-tmp-" in report.kept_recent[0]
        with w.open("part-2", "wb") as f:
            f.write(b"two")
    assert sorted(d.files()) == ["part-0", "part-1", "part-2"]
    assert _hidden(world) == []


def test_cleanup_keeps_the_staged_file_of_an_idle_live_file_writer(world: World) -> None:
    """A file writer paused between two writes survives ``cleanup(older_than=0)`` and
    commits all it wrote (the old cleanup removed its staged file)."""
    t = targets.target(world.url("out.bin"), **world.options)
    f = t.open("wb")
    f.write(b"a" * 10)
    f.flush()
    report = targets.cleanup(world.url("out.bin"), older_than=ZERO, **world.options)
    assert report.removed == [] and len(report.kept_recent) == 1
    f.write(b"b" * 10)
    f.close()
    assert t.read_bytes() == b"a" * 10 + b"b" * 10


def test_cleanup_keeps_a_temporary_path_that_a_tool_is_writing(world: World) -> None:
    """``temporary_path()``: the tool's staging is live while the context is open."""
    d = targets.target(world.url("tool") + "/", **world.options)
    with d.temporary_path() as tmp:
        fs = d.fs.fsspec
        fs.makedirs(tmp, exist_ok=True)
        with fs.open(f"{tmp}/a", "wb") as f:
            f.write(b"a")
        report = targets.cleanup(world.url("tool"), older_than=ZERO, **world.options)
        assert report.removed == []
        with fs.open(f"{tmp}/b", "wb") as f:
            f.write(b"b")
    assert sorted(d.files()) == ["a", "b"]


def test_a_renewed_lease_is_stamped_in_the_stores_clock(world: World) -> None:
    """A writer that lives longer than the lease period renews its lease: the store stamps
    its staging (HDFS: a change inside it, the NameNode's time), so a cleanup two minutes
    later (store time) still keeps it."""
    d = targets.target(world.url("long") + "/", **world.options)
    w = d.writer()
    with w.open("part-0", "wb") as f:
        f.write(b"zero")
    world.let_time_pass(120)
    w._lease.lease.renew()  # what the renewal thread does every half period
    report = targets.cleanup(world.url("long"), older_than=ZERO, **world.options)
    assert report.removed == [] and len(report.kept_recent) == 1
    w.commit()
    assert d.files() == ["part-0"]
    assert _hidden(world) == []


def test_a_short_commit_sends_no_renewal(world: World) -> None:
    """A writer that finishes within half a lease period renews nothing: no stamp, no
    lease marker, no extra request."""
    d = targets.target(world.url("short") + "/", **world.options)
    with d.writer() as w:
        with w.open("p", "wb") as f:
            f.write(b"p")
        lease = w._lease.lease
    t = targets.target(world.url("short.bin"), **world.options)
    with t.open("wb") as f:
        f.write(b"x")
        file_lease = f._writer._lease.lease if hasattr(f, "_writer") else None
    assert lease.renewals == 0
    assert file_lease is None or file_lease.renewals == 0
    if world.kind == "hdfs":
        model = world.options["client"]
        assert [c for c in model.calls if "targets-lease" in str(c)] == []
    if world.kind == "simulated":
        assert [c for c in world.options["ops"].calls if c[0] == "utime"] == []


# -- (b) a writer whose lease ran out ---------------------------------------------------------


def test_a_writer_whose_lease_ran_out_is_cleaned_up_and_its_commit_fails(
    world: World, holder: Callable[[float], None]
) -> None:
    """The writer stops renewing (paused longer than the lease period, by its own clock and
    the store's): cleanup removes its staging, and the writer, resumed, raises
    `CommitError` naming the output; nothing is published. The old writer re-created its
    staging with the next file and committed a partial output as a success."""
    d = targets.target(world.url("table") + "/", **world.options)
    w = d.writer()
    with w.open("part-0", "wb") as f:
        f.write(b"zero")
    holder(3600)
    world.let_time_pass(3600)
    report = targets.cleanup(world.url("table"), older_than=ZERO, **world.options)
    assert len(report.removed) == 1 and ".table.targets-tmp-" in report.removed[0]
    with w.open("part-1", "wb") as f:
        f.write(b"one")
    with pytest.raises(targets.CommitError, match="table") as raised:
        w.commit()
    assert "nothing was published" in str(raised.value)
    assert not d.exists()
    assert _hidden(world) == []


def test_a_directory_writer_whose_file_vanished_fails_even_with_its_lease(world: World) -> None:
    """Whatever removed it, a file written through ``open()`` that is no longer in the
    staging at commit is a `CommitError` naming it, never left out of the manifest."""
    d = targets.target(world.url("table") + "/", **world.options)
    w = d.writer()
    with w.open("part-0", "wb") as f:
        f.write(b"zero")
    with w.open("part-1", "wb") as f:
        f.write(b"one")
    staging = w._tmp
    d.fs.store.delete(f"{staging}/part-0", recursive=False)
    with pytest.raises(targets.CommitError, match="part-0"):
        w.commit()
    assert not d.exists()


def test_a_file_writer_whose_lease_ran_out_fails_at_close(
    world: World, holder: Callable[[float], None]
) -> None:
    """The staged file of a file writer whose lease ran out is removed by cleanup; the
    writer's close raises `CommitError` and publishes nothing."""
    t = targets.target(world.url("out.bin"), **world.options)
    f = t.open("wb")
    f.write(b"a" * 10)
    f.flush()
    holder(3600)
    world.let_time_pass(3600)
    report = targets.cleanup(world.url("out.bin"), older_than=ZERO, **world.options)
    assert len(report.removed) == 1
    f.write(b"b")
    with pytest.raises(targets.CommitError, match=r"out\.bin"):
        f.close()
    assert not t.exists()


# -- (c) a temporary renamed into place between the listing and the delete ----------------------


def _publish_under_cleanup(world: World) -> tuple[str, str, Callable[[], None]]:
    """A staged directory, stale by the store's clock, and a hook that renames it into
    place (as its writer's publish would) just before cleanup's next rename or delete."""
    token = "e" * 32
    tmp = f"{world.root}/.table.targets-tmp-{token}"
    final = f"{world.root}/table"
    afs, tmp_path = targets.fs.resolve(tmp, **world.options)
    _, final_path = targets.fs.resolve(final, **world.options)
    store = afs.store
    store.mkdir(tmp_path)
    for name in ("part-0", "part-1", "_SUCCESS"):
        sink = store.create(f"{tmp_path}/{name}")
        sink.write(b"" if name == "_SUCCESS" else name.encode())  # a Hadoop-style marker
        sink.close()
    world.let_time_pass(3600)

    def publish() -> None:
        store.rename_noreplace(tmp_path, final_path)

    return tmp, final, publish


def test_cleanup_never_follows_a_staging_renamed_into_place(world: World, tmp_path: Any) -> None:
    """Cleanup judges a staged directory stale; just before it acts, the directory is
    renamed into place (a writer publishing it). Cleanup's rename to a trash name finds it
    gone and skips it: the committed files are untouched and nothing is reported removed.
    The old cleanup deleted the temporary by its old name and reported it removed though it
    was a committed output by then (a walk through a directory descriptor deleted its files).
    """
    _, final, publish = _publish_under_cleanup(world)
    if world.kind == "hdfs":
        world.options["client"].before_next("rename", lambda _: publish())
    elif world.kind == "simulated":
        world.options["ops"].before_next("rename_flags", lambda _: publish())
    else:
        hooked = _HookedPosix(publish)
        world.options["ops"] = hooked
    report = targets.cleanup(world.root, older_than=ZERO, **world.options)
    assert report.removed == []
    d = targets.target(final + "/", **world.options)
    assert sorted(d.files()) == ["part-0", "part-1"]
    assert [n for n in world.names() if ".targets-" in n] == []


class _HookedPosix(local.PosixOps):
    """The real filesystem, with ``action`` run once just before the next flagged rename."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def rename_flags(self, src: str, dst: str, flags: int, **kw: Any) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()
        super().rename_flags(src, dst, flags, **kw)


def test_cleanup_renames_a_stale_temporary_to_trash_before_deleting_it(world: World) -> None:
    """A stale staging goes by a rename to ``.<name>.targets-trash-<token>`` and a delete of
    that name; the trash kind is a temporary (`cleanup` removes a leftover one)."""
    tmp, _, _ = _publish_under_cleanup(world)
    report = targets.cleanup(world.root, older_than=ZERO, **world.options)
    assert report.removed == [tmp]
    assert world.names() == []
    if world.kind == "hdfs":
        renames = [c for c in world.options["client"].calls if c[0] == "rename"]
        assert len(renames) == 1 and ".table.targets-trash-" in renames[0][2]


# -- (d) an overwrite's aside -----------------------------------------------------------------


def test_hdfs_an_aside_left_by_a_crash_is_kept_by_cleanup_and_restored_by_recover() -> None:
    """An HDFS directory overwrite dies right after renaming the old output aside. The old
    output was committed two hours earlier (store time), and a rename keeps its times; the
    overwrite stamped the aside (its lease marker) first. ``cleanup(older_than=0)`` keeps
    the aside (the old cleanup deleted it, so nothing could be recovered); recover refuses
    while the stamp is younger than the lease period, then restores it."""
    world = _hdfs_world()
    model: HDFSModel = world.options["client"]
    url = world.url("out") + "/"
    with targets.target(url, **world.options).writer() as w, w.open("part-0", "wb") as f:
        f.write(b"old")
    world.let_time_pass(7200)
    paused, release = threading.Event(), threading.Event()

    def pause(_: HDFSModel) -> None:
        paused.set()
        release.wait(30)

    # the first rename moves the old output aside; the writer dies (pauses) before the second
    model.before_next("rename", lambda m: m.before_next("rename", pause))
    outcome: dict[str, Any] = {}

    def overwrite() -> None:
        try:
            new = targets.target(url, if_exists="overwrite", **world.options)
            with new.writer() as w, w.open("part-0", "wb") as f:
                f.write(b"new")
        except BaseException as exc:  # reported to the test below
            outcome["error"] = exc

    writer = threading.Thread(target=overwrite)
    writer.start()
    try:
        assert paused.wait(30), "the overwrite never reached its publishing rename"
        report = targets.cleanup(world.url("out"), older_than=ZERO, **world.options)
        assert report.removed == []
        assert any(".out.targets-old-" in k for k in report.kept_recent)
        said = targets.recover(url, **world.options)
        assert said.startswith("not recovered") and "may still be running" in said
        world.let_time_pass(120)
        said = targets.recover(url, **world.options)
        assert "restored" in said
        assert targets.target(url, **world.options).files() == ["part-0"]
        assert model.read_file("/data/out/part-0") == b"old"
    finally:
        release.set()
        writer.join(30)
    assert isinstance(outcome.get("error"), targets.TargetExistsError)
    assert model.read_file("/data/out/part-0") == b"old"
    assert [n for n in model.tree("/data") if ".targets-" in n] == []


def test_hdfs_an_overwrite_leaves_no_stamp_behind() -> None:
    """The aside's lease marker goes with the aside once the overwrite is done."""
    world = _hdfs_world()
    url = world.url("out") + "/"
    for data in (b"one", b"two"):
        d = targets.target(url, if_exists="overwrite", **world.options)
        with d.writer() as w, w.open("p", "wb") as f:
            f.write(data)
    assert world.names() == ["out/", "out/_SUCCESS", "out/p"]


def test_stale_claim_after_is_checked() -> None:
    with pytest.raises(targets.InvalidTarget, match="stale_claim_after"):
        targets.target("hdfs://model/x", client=HDFSModel(), stale_claim_after=0)
    with pytest.raises(targets.InvalidTarget, match="stale_claim_after"):
        targets.target("/tmp/x", stale_claim_after="soon")


def test_a_tool_writing_by_path_after_its_lease_ran_out_cannot_commit(
    world: World, holder: Callable[[float], None]
) -> None:
    """A tool writes into ``w.path``; the writer's lease runs out and cleanup removes the
    staging; the tool re-creates it with what it writes next. The commit raises
    `CommitError` (the lease ran out) instead of publishing that part as the whole output,
    which the old writer did."""
    d = targets.target(world.url("table") + "/", **world.options)
    w = d.writer()
    _write_through_filesystem(w, "part-0", b"zero")
    holder(3600)
    world.let_time_pass(3600)
    report = targets.cleanup(world.url("table"), older_than=ZERO, **world.options)
    assert len(report.removed) == 1
    w.filesystem.makedirs(w.path, exist_ok=True)
    _write_through_filesystem(w, "part-1", b"one")
    with pytest.raises(targets.CommitError, match="lease"):
        w.commit()
    assert not d.exists()


def test_the_renewal_thread_renews_a_lease_from_half_its_period(
    world: World, holder: Callable[[float], None]
) -> None:
    """The process's renewal thread renews a writer's lease once half its period has passed
    by the writer's clock (here: a jump of 31 s of a 60 s lease), stamping the staging in
    the store's clock; the writer then commits whole and leaves nothing behind."""
    d = targets.target(world.url("renewed") + "/", **world.options)
    w = d.writer()
    with w.open("part-0", "wb") as f:
        f.write(b"zero")
    lease = w._lease.lease
    world.let_time_pass(120)
    holder(31)
    with lease_module._RENEWER._cond:
        lease_module._RENEWER._cond.notify()  # re-read the clock that just jumped
    deadline = time.monotonic() + 30
    while lease.renewals == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lease.renewals == 1
    report = targets.cleanup(world.url("renewed"), older_than=ZERO, **world.options)
    assert report.removed == [] and len(report.kept_recent) == 1
    w.commit()
    assert d.files() == ["part-0"]
    assert _hidden(world) == []
