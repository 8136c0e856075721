"""G10 on the object stores: a live writer is never rolled back, cleaned up or clobbered.

Each test pauses a writer deliberately (at a named request, in its own thread) while another
party runs `recover`, `cleanup` or its own overwrite, on S3 (moto) and GCS
(fake-gcs-server). Each docstring says what the code before leases did.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from targets.errors import CommitError, TargetError, TargetExistsError
from targets.fs import CLAIM, SUCCESS, resolve
from targets.fs._lease import Lease
from targets.fs.objectstore import ObjectStore, ObjectStoreFS
from tests.fixtures import StoreRoot

pytestmark = pytest.mark.timeout(120)

OBJECT_STORES = ["s3", "gcs"]


@pytest.fixture(params=OBJECT_STORES)
def root(request: pytest.FixtureRequest) -> StoreRoot:
    root: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return root


def mount(root: StoreRoot, name: str, **options: Any) -> tuple[ObjectStoreFS, str]:
    fs, path = resolve(root.child(name), **root.options, **options)
    assert isinstance(fs, ObjectStoreFS)
    return fs, path


def keys(fs: ObjectStoreFS, path: str) -> list[str]:
    store, key = fs.locate(path)
    return sorted(o.key[len(key) + 1 :] for o in store.list(key + "/"))


def beside(fs: ObjectStoreFS, path: str) -> list[str]:
    """The hidden siblings of the output (staging prefixes, leases)."""
    store, key = fs.locate(path)
    parent, _, name = key.rpartition("/")
    return sorted(o.key for o in store.list(f"{parent}/.{name}."))


class Pause:
    """Holds the first call of ``method`` on a key ending with ``suffix``, made from a
    thread other than the test's, until `release` (the writer pauses at that request)."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, store: ObjectStore, method: str, suffix: str
    ) -> None:
        self.reached = threading.Event()
        self._release = threading.Event()
        self._done = False
        original = getattr(type(store), method)
        main = threading.get_ident()

        def paused(this: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            if not self._done and key.endswith(suffix) and threading.get_ident() != main:
                self._done = True
                self.reached.set()
                self._release.wait(60)
            return original(this, key, *args, **kwargs)

        monkeypatch.setattr(type(store), method, paused)

    def release(self) -> None:
        self._release.set()


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``fn`` in a thread; the dict gets its ``result`` or ``error``."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def write_dir(fs: ObjectStoreFS, path: str, files: dict[str, bytes], **kw: Any) -> Any:
    w = fs.directory_writer(path, **kw)
    for name, data in files.items():
        with w.open(name, "wb") as f:
            f.write(data)
    return w.commit()


@contextlib.contextmanager
def renewals_stopped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Writers made inside send no background renewal (as if their process were frozen);
    `Lease.ensure` before an irreversible step still renews, conditionally."""
    with monkeypatch.context() as m:
        m.setattr(Lease, "start", lambda self: self)
        yield


# -- 1. recover against a slow, live writer -------------------------------------------------


def test_recover_refuses_a_live_claim_older_than_the_period_and_says_whose(root, monkeypatch):
    """A writer that pauses between its publishes for longer than the lease period keeps its
    claim live by renewing it; `recover` refuses, naming its host and pid, and the writer
    commits whole. Before leases, recover rolled back any claim older than
    ``stale_claim_after`` and the writer then wrote ``_SUCCESS`` over missing files."""
    fs, path = mount(root, "table", stale_claim_after=2)
    store, _ = fs.locate(path)
    pause = Pause(monkeypatch, store, "put", "/b")
    thread, out = in_thread(
        lambda: write_dir(
            fs,
            path,
            {"a": b"1", "b": b"2", "c": b"3"},
        )
    )
    assert pause.reached.wait(30)
    time.sleep(3.0)  # older than the period: only its renewals keep it live
    with pytest.raises(CommitError, match=rf"live.*pid {os.getpid()}") as refused:
        fs.recover(path)
    assert "host" in str(refused.value) and "nothing was changed" in str(refused.value).lower()
    pause.release()
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert keys(fs, path) == [SUCCESS, CLAIM, "a", "b", "c"] or set(keys(fs, path)) == {
        SUCCESS,
        CLAIM,
        "a",
        "b",
        "c",
    }
    assert fs.recover(path).startswith("nothing to recover")


def test_a_fenced_writer_never_writes_success_and_removes_what_it_published(root, monkeypatch):
    """A writer frozen past its lease (no renewals) is taken over by `recover`, which rolls
    it back; when the writer wakes, its conditional renewal fails: it raises `CommitError`,
    writes no ``_SUCCESS`` and leaves none of its files. Before leases the woken writer wrote
    ``_SUCCESS`` over a rolled-back output: ``exists()`` was true with files missing."""
    fs, path = mount(root, "table", stale_claim_after=1)
    store, _ = fs.locate(path)
    with renewals_stopped(monkeypatch):
        pause = Pause(monkeypatch, store, "put", "/b")
        thread, out = in_thread(lambda: write_dir(fs, path, {"a": b"1", "b": b"2"}))
        assert pause.reached.wait(30)
        time.sleep(2.5)  # the lease has run out, by the store's clock
        report = fs.recover(path, how="back")
        assert "back" in report
        pause.release()
        thread.join(30)
    assert isinstance(out.get("error"), CommitError), out
    assert "taken over" in str(out["error"])
    assert SUCCESS not in keys(fs, path)
    assert [k for k in keys(fs, path) if k in ("a", "b")] == []
    assert not fs.exists(path)


def test_recover_in_a_process_whose_clock_is_an_hour_ahead_leaves_a_fresh_claim(
    root, monkeypatch, tmp_path
):
    """Staleness is the store's time since the last renewal, never the local clock against
    the store's: a recover run in a process whose clock is an hour ahead still sees the fresh
    claim of a paused writer as live. Before, the claim's age was local time minus the
    store's LastModified, 3600 s here, and the claim was rolled back at once."""
    fs, path = mount(root, "table")
    store, _ = fs.locate(path)
    pause = Pause(monkeypatch, store, "put", "/b")
    thread, out = in_thread(lambda: write_dir(fs, path, {"a": b"1", "b": b"2"}))
    assert pause.reached.wait(30)
    skew = tmp_path / "skew"
    skew.mkdir()
    (skew / "sitecustomize.py").write_text(SKEWED_CLOCK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(skew), *sys.path]))
    script = (
        "import json, sys, datetime, time, targets\n"
        "assert time.time() - 3500 > float(sys.argv[2])\n"
        "opts = json.loads(sys.argv[3])\n"
        "try:\n"
        "    print(targets.recover(sys.argv[1], **opts))\n"
        "except targets.TargetError as exc:\n"
        "    print('REFUSED', exc); sys.exit(3)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            root.child("table"),
            str(time.time()),
            json.dumps(root.options),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pause.release()
    thread.join(30)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "live" in done.stdout
    assert "error" not in out, out.get("error")
    assert fs.exists(path)


SKEWED_CLOCK = """
import datetime as _dt, time as _time
_AHEAD = 3600.0
_real_time = _time.time
_time.time = lambda: _real_time() + _AHEAD
_real_ns = _time.time_ns
_time.time_ns = lambda: _real_ns() + int(_AHEAD * 1e9)
class _Skewed(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return super().now(tz) + _dt.timedelta(seconds=_AHEAD)
    @classmethod
    def utcnow(cls):
        return super().utcnow() + _dt.timedelta(seconds=_AHEAD)
_dt.datetime = _Skewed
"""


# -- 2. concurrent overwriters --------------------------------------------------------------


def test_a_second_overwriter_is_refused_without_deleting_anything(root, monkeypatch):
    """Two ``if_exists="overwrite"`` writers of one committed output: the first replaces
    the claim and empties the old output; the second, whose conditional replace of the claim
    fails, gets `TargetExistsError` and deletes nothing, so the output ends as exactly the
    first writer's files. Before, both deleted what they listed, unconditionally: the second
    removed the first's new files and claim (a committed manifest with files missing)."""
    fs, path = mount(root, "table")
    write_dir(fs, path, {"old-1": b"o", "old-2": b"o"})
    store, _ = fs.locate(path)
    pause = Pause(monkeypatch, store, "put", "/new-1")
    thread, out = in_thread(
        lambda: write_dir(fs, path, {"new-1": b"A", "new-2": b"A"}, if_exists="overwrite")
    )
    assert pause.reached.wait(30)
    with pytest.raises(TargetExistsError, match="by another writer"):
        write_dir(fs, path, {"other": b"B"}, if_exists="overwrite")
    pause.release()
    thread.join(30)
    assert "error" not in out, out.get("error")
    manifest = out["result"]
    assert sorted(f["name"] for f in manifest["files"]) == ["new-1", "new-2"]
    assert set(keys(fs, path)) == {SUCCESS, CLAIM, "new-1", "new-2"}


def test_an_overwrite_deletes_only_what_the_old_manifest_lists(root):
    """The overwrite deletes the old output's files in the versions its manifest names; an
    object that is not the old output's (written there by hand) is not deleted: the
    overwrite refuses to mix into it instead. Before, every listed object was deleted."""
    fs, path = mount(root, "table")
    write_dir(fs, path, {"old": b"o"})
    store, key = fs.locate(path)
    store.put(key + "/foreign.txt", b"keep", metadata={}, if_absent=True)
    with pytest.raises(TargetExistsError, match=r"foreign\.txt"):
        write_dir(fs, path, {"new": b"n"}, if_exists="overwrite")
    assert store.get(key + "/foreign.txt") == b"keep"
    assert "old" not in keys(fs, path)


# -- 3. cleanup against an idle, live writer ------------------------------------------------


def test_cleanup_leaves_an_idle_live_writers_staging_and_uploads(root, monkeypatch):
    """A writer idle for longer than the lease period (staged files under ``w.path``, a
    pending multipart upload) keeps its lease renewed; ``cleanup(older_than=0)`` removes
    none of it and the writer commits whole. Before, cleanup removed its staging and upload
    and the writer committed a partial output, reported as success."""
    fs, path = mount(root, "table", stale_claim_after=2)
    w = fs.directory_writer(path)
    with fs.fsspec.open(f"{w.path}/staged.csv", "wb") as f:
        f.write(b"s" * 10)
    store, _ = fs.locate(path)
    with w.open("big.bin", "wb") as f:
        f.write(b"b" * (store.part_size + 5))
    time.sleep(3.0)
    report = fs.cleanup(path, older_than=timedelta(0))
    assert report.removed == [] and report.aborted_uploads == []
    manifest = w.commit()
    assert sorted(f["name"] for f in manifest["files"]) == ["big.bin", "staged.csv"]
    assert beside(fs, path) == []  # the writer's lease is gone with it


def test_cleanup_fences_a_frozen_writer_whose_commit_then_fails(root, monkeypatch):
    """A writer frozen past its lease has its staging removed by cleanup, which first takes
    its lease over; the writer, when it commits, raises `CommitError` and publishes nothing.
    Before, it re-created what it wrote next and committed a partial output."""
    fs, path = mount(root, "table", stale_claim_after=1)
    with renewals_stopped(monkeypatch):
        w = fs.directory_writer(path)
        with fs.fsspec.open(f"{w.path}/staged.csv", "wb") as f:
            f.write(b"s")
        time.sleep(2.5)
        report = fs.cleanup(path, older_than=timedelta(0))
        assert len(report.removed) == 1
        with fs.fsspec.open(f"{w.path}/late.csv", "wb") as f:
            f.write(b"l")
        with pytest.raises(CommitError, match="taken over"):
            w.commit()
    assert not fs.exists(path)
    assert keys(fs, path) == []


def test_cleanup_during_a_commit_of_staged_files_is_a_commit_error(root, monkeypatch):
    """A staged object that disappears while the commit copies it (removed by hand, or by
    a cleanup run with ``force`` semantics) fails the commit with `CommitError` and nothing
    published. Before, the server-side copy raised the internal ``ObjectNotFound``."""
    fs, path = mount(root, "table")
    w = fs.directory_writer(path)
    with fs.fsspec.open(f"{w.path}/a.csv", "wb") as f:
        f.write(b"a")
    store, _key = fs.locate(path)
    staged = [o.key for o in store.list(w.path.split("/", 3)[3])]
    original = type(store).copy

    def copy(this: Any, src: str, dst: str, **kw: Any) -> str:
        store.delete(src)
        return original(this, src, dst, **kw)

    monkeypatch.setattr(type(store), "copy", copy)
    with pytest.raises(CommitError, match="gone"):
        w.commit()
    assert staged and not fs.exists(path)
    assert keys(fs, path) == []


# -- a short commit pays nothing for this ---------------------------------------------------


def test_a_short_commit_sends_no_lease_request(root):
    """A commit shorter than half a lease period writes no writer lease and renews nothing:
    the claim is written once, and no ``.targets-lease-`` object is ever created."""
    fs, path = mount(root, "table")
    store, key = fs.locate(path)
    sent: list[tuple[str, bool, Any]] = []
    original = type(store).put

    def put(this: Any, k: str, data: Any, **kw: Any) -> str:
        sent.append((k, kw.get("if_absent", False), kw.get("if_match")))
        return original(this, k, data, **kw)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(type(store), "put", put)
        write_dir(fs, path, {"a": b"1", "b": b"2"})
    assert [k for k, _, _ in sent if k.endswith(CLAIM)] == [key + "/" + CLAIM]
    assert not [k for k, _, _ in sent if ".targets-lease-" in k]
    assert all(match is None for _, _, match in sent)


def test_a_version_1_claim_is_still_recovered(root):
    """Claims written before leases (schema version 1: no holder, no lease) are read and
    rolled back by recover once stale."""
    fs, path = mount(root, "table", stale_claim_after=0)
    store, key = fs.locate(path)
    token = "0" * 32
    meta = {"targets-writer": token}
    store.put(key + "/a", b"1", metadata=meta, if_absent=True)
    claim = {
        "format": "targets-claim",
        "version": 1,
        "writer": token,
        "protocol": "objectstore-claim",
        "claimed_at": "2026-01-01T00:00:00Z",
        "staging": None,
        "files": [{"name": "a", "size": 1, "via": "put"}, {"name": "b", "size": 1, "via": "put"}],
    }
    store.put(key + "/" + CLAIM, json.dumps(claim).encode(), metadata=meta, if_absent=True)
    assert "back" in fs.recover(path)
    assert keys(fs, path) == []


def test_recover_on_a_committed_output_says_there_is_nothing_to_do(root):
    fs, path = mount(root, "table")
    write_dir(fs, path, {"a": b"1"})
    assert fs.recover(path) == f"nothing to recover at {root.child('table')}: it is committed"


def test_errors_of_this_module_are_target_errors():
    """The lease errors a caller can meet are `TargetError`s (CommitError)."""
    assert issubclass(CommitError, TargetError)


def test_a_renewal_whose_earlier_answer_was_lost_is_sent_again_not_raised(root):
    """A renewal took effect but its answer was lost, so the holder's next renewal finds a
    newer version of its own document: the holder adopts that version and renews again from
    it. Before, that renewal raised an internal exception out of the writer's commit (not a
    `TargetError`); the store machine found it."""
    from targets.fs.objectstore.lease import DocumentLease, lease_key, read_lease

    fs, path = mount(root, "out")
    store, key = fs.locate(path)
    token = "a" * 32
    doc = {"format": "targets-lease", "version": 1, "writer": token, "renewals": 0}
    lease = DocumentLease(store, lease_key(key, token), token, doc, None, 60.0)
    lease.lease.renew()  # the first renewal writes the document
    # An earlier renewal that took effect, whose answer this holder never saw:
    lost = DocumentLease(store, lease.key, token, dict(lease.doc), lease.etag, 60.0)
    lost.lease.renew()
    assert lost.etag != lease.etag
    lease.lease.renew()  # finds the newer version: adopts it and renews again
    view = read_lease(store, lease.key, 60.0)
    assert view is not None and view.info.etag == lease.etag
    assert view.doc["renewals"] == 3 and lease.doc["renewals"] == 3
    lease.delete()
