"""The shared ObjectStoreFS on S3: mounting a store, staging URLs, versioned deletes,
interrupted commits, and the AtomicFS housekeeping methods."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import targets
from targets.errors import (
    IsADirectory,
    StoreUnavailable,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import objectstore
from targets.fs.objectstore import ObjectStoreFS, publish
from targets.fs.objectstore.store import ObjectInfo
from targets.fs.s3 import S3FS, S3Store
from targets.testing.objectstore import MemoryObjectStore
from tests.fixtures import StoreRoot
from tests.fixtures.s3 import BUCKET, PART_SIZE


def _write_dir(fs: Any, path: str, files: dict[str, bytes]) -> dict[str, Any]:
    w = fs.directory_writer(path)
    for name, data in files.items():
        with w.open(name) as f:
            f.write(data)
    return w.commit()


def _keys(client: Any, path: str) -> list[str]:
    prefix = path.split("/", 1)[1] + "/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"][len(prefix) :] for p in pages for o in p.get("Contents", []))


# -- mounting a store ------------------------------------------------------------------------


def test_a_store_mounts_as_an_atomic_fs(s3) -> None:
    """What a simulated store does: one ObjectStore per bucket, mounted in one line."""
    fs, root = s3
    afs = ObjectStoreFS.mount(S3Store(fs.client, BUCKET, part_size=PART_SIZE))
    w = afs.open_output(f"{root}/a.csv")
    w.write(b"a")
    w.commit()
    big = afs.open_output(f"s3://{root}/big.bin")  # URLs of the store's scheme work too
    big.write(b"b" * (PART_SIZE + 3))
    big.commit()
    manifest = _write_dir(afs, f"{root}/table", {"p-0": b"0", "p-1": b"1"})
    assert [f["name"] for f in manifest["files"]] == ["p-0", "p-1"]
    assert afs.exists(f"{root}/a.csv") and afs.isfile(f"{root}/table/_SUCCESS")
    assert afs.listdir(root) == [f"{root}/a.csv", f"{root}/big.bin", f"{root}/table"]
    with pytest.raises(TargetExistsError):
        afs.put_if_absent(f"{root}/a.csv", b"again")
    assert afs.open_input(f"{root}/big.bin").read() == b"b" * (PART_SIZE + 3)
    # a bucket that was not mounted does not exist
    assert not afs.exists("elsewhere/x") and not afs.isdir("elsewhere")
    with pytest.raises(TargetNotFound, match="mounted"):
        afs.open_output("elsewhere/x")
    with pytest.raises(targets.TargetError, match="no fsspec filesystem"):
        afs.fsspec  # noqa: B018
    # a writer's own filesystem needs none: it writes through the writer
    with afs.directory_writer(f"{root}/t2") as w:
        w.filesystem.pipe(w.path + "/p", b"p")
    assert afs.isfile(f"{root}/t2/p")


# -- paths for tools -------------------------------------------------------------------------


def test_writer_and_staging_paths_are_urls_that_fsspec_takes(s3_root: StoreRoot, s3) -> None:
    fs, root = s3
    w = fs.directory_writer(f"{root}/table")
    assert w.path.startswith(f"s3://{root}/.table.targets-tmp-")
    assert w.filesystem._strip_protocol(w.path) == w.path.removeprefix("s3://")
    targets.fs.filesystem(w.path, **s3_root.options).fsspec.pipe(w.path + "/a/x", b"x")
    w.filesystem.pipe(w.filesystem._strip_protocol(w.path) + "/b", b"b")  # the bare form
    w.commit()
    assert targets.DirectoryTarget(s3_root.child("table/"), **s3_root.options).files() == [
        "a/x",
        "b",
    ]
    st = fs.staging(f"{root}/out.txt", directory=False)
    assert st.path.startswith(f"s3://{root}/.out.txt.targets-tmp-")
    targets.fs.filesystem(st.path, **s3_root.options).fsspec.pipe(st.path, b"staged")
    st.commit()
    assert fs.open_input(f"{root}/out.txt").read() == b"staged"


# -- deletes after a check ---------------------------------------------------------------------


def test_a_delete_names_the_version_it_checked(s3) -> None:
    fs, root = s3
    store, key = fs.locate(f"{root}/v")
    old = store.put(key, b"1", metadata={}, if_absent=False)
    new = store.put(key, b"2", metadata={}, if_absent=False)
    with pytest.raises(objectstore.PreconditionFailed):
        store.delete(key, if_match=old)
    assert store.get(key) == b"2"
    store.delete(key, if_match=new)
    assert store.head(key) is None
    store.delete(key, if_match=new)  # nothing there: not an error


def test_recover_keeps_an_object_replaced_between_its_check_and_its_delete(
    s3_root: StoreRoot, client, monkeypatch
) -> None:
    fs, path = targets.fs.resolve(s3_root.child("table"), **s3_root.options)
    store, key = fs.locate(path)

    class Killed(BaseException):
        pass

    real_put = store.put

    def put(k: str, data: Any, **kwargs: Any) -> str:
        if k.endswith("/_SUCCESS"):
            raise Killed  # the writer dies before _SUCCESS, its roll-back never runs
        return real_put(k, data, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(store, "put", put)
        m.setattr(publish, "roll_back_own", lambda *a, **k: True)
        with pytest.raises(Killed):
            _write_dir(fs, path, {"a.csv": b"mine", "b.csv": b"mine too"})
    real_head = store.head
    looks: list[str] = []

    def head(k: str) -> Any:
        info = real_head(k)
        looks.append(k)
        if k.endswith("/a.csv") and looks.count(k) == 2:
            # someone replaces it right after recover checked its token, before the delete
            client.put_object(Bucket=BUCKET, Key=k, Body=b"theirs")
        return info

    monkeypatch.setattr(store, "head", head)
    monkeypatch.setattr(fs, "stale_claim_after", 0.0)
    assert "back" in fs.recover(path, how="back")
    assert looks.count(key + "/a.csv") == 2
    assert _keys(client, path) == ["a.csv"]
    assert client.get_object(Bucket=BUCKET, Key=key + "/a.csv")["Body"].read() == b"theirs"


# -- a store that stops answering during a commit ------------------------------------------------


def _unavailable(store: S3Store) -> StoreUnavailable:
    url = store.url("x")
    return StoreUnavailable(f"cannot write {url}: cannot reach the S3 endpoint (test)", url)


def test_interrupted_at_success_is_left_whole_for_recover(s3, client, monkeypatch) -> None:
    """The _SUCCESS request reached the store, its answer did not, and the store still does
    not answer the look that follows: nothing is rolled back (the output is committed), and
    the error says the outcome is unknown. (When the look is answered, the writer token
    settles it: tests/faults.)"""
    fs, root = s3
    path = f"{root}/table"
    store, _ = fs.locate(path)
    real_put = store.put

    def put(key: str, data: Any, **kwargs: Any) -> str:
        etag = real_put(key, data, **kwargs)
        if key.endswith("/_SUCCESS"):
            raise _unavailable(store)
        return etag

    def head(key: str) -> Any:
        if key.endswith("/_SUCCESS"):
            raise _unavailable(store)
        return real_head(key)

    real_head = store.head
    monkeypatch.setattr(store, "put", put)
    monkeypatch.setattr(store, "head", head)
    with pytest.raises(StoreUnavailable) as info:
        _write_dir(fs, path, {"a.csv": b"a"})
    message = str(info.value)
    assert "outcome is unknown" in message and f"targets recover s3://{path}" in message
    monkeypatch.undo()
    assert _keys(client, path) == ["_SUCCESS", "_targets_claim", "a.csv"]
    assert "it is committed" in fs.recover(path)


def test_interrupted_while_publishing_rolls_back_and_says_so(s3, client, monkeypatch) -> None:
    fs, root = s3
    path = f"{root}/table"
    store, _ = fs.locate(path)
    real_put = store.put

    def put(key: str, data: Any, **kwargs: Any) -> str:
        if key.endswith("/b.csv"):
            raise _unavailable(store)
        return real_put(key, data, **kwargs)

    monkeypatch.setattr(store, "put", put)
    with pytest.raises(StoreUnavailable, match="removed again"):
        _write_dir(fs, path, {"a.csv": b"a", "b.csv": b"b"})
    assert _keys(client, path) == []


# -- housekeeping ------------------------------------------------------------------------------


def test_remove_read_and_mkdir_on_prefixes(s3) -> None:
    fs, root = s3
    path = f"{root}/table"
    _write_dir(fs, path, {"a": b"a", "sub/b": b"b"})
    assert fs.isdir(path) and not fs.isfile(path)
    assert fs.listdir(path) == [
        f"{path}/_SUCCESS",
        f"{path}/_targets_claim",
        f"{path}/a",
        f"{path}/sub",
    ]
    with pytest.raises(IsADirectory, match="is a directory"):
        fs.open_input(path)
    with pytest.raises(IsADirectory, match="recursive=True"):
        fs.remove(path, recursive=False)
    with pytest.raises(TargetExistsError):
        fs.mkdir(path, raise_if_exists=True)
    fs.mkdir(f"{root}/new")  # prefixes need no creating
    fs.remove(path)
    assert not fs.exists(path)
    with pytest.raises(TargetNotFound, match="does not exist"):
        fs.remove(path)


def test_a_committed_directory_output_can_be_copied_and_renamed(s3, client) -> None:
    fs, root = s3
    _write_dir(fs, f"{root}/a", {"x": b"x", "y/z": b"z"})
    fs.copy(f"{root}/a", f"{root}/b")
    fs.rename_dont_move(f"{root}/a", f"{root}/c")
    for name in ("b", "c"):
        assert _keys(client, f"{root}/{name}") == ["_SUCCESS", "_targets_claim", "x", "y/z"]
        manifest = json.loads(fs.open_input(f"{root}/{name}/_SUCCESS").read())
        assert [f["name"] for f in manifest["files"]] == ["x", "y/z"]
    assert not fs.exists(f"{root}/a")
    with pytest.raises(TargetExistsError):
        fs.rename_dont_move(f"{root}/b", f"{root}/c")
    assert isinstance(fs, S3FS)


# -- the claim and the listing of the prefix, sent together ------------------------------------


class _Rendezvous(MemoryObjectStore):
    """A simulated bucket that notes, at the claim's put and at the listing of ``out/``,
    whether the other request had started: each waits up to 10 s for it. Sent one after
    the other, the first of the two waits in vain."""

    def __init__(self, flavor: str) -> None:
        super().__init__("bucket", flavor=flavor)
        self.claim_sent = threading.Event()
        self.listed = threading.Event()
        self.listings = 0
        self.overlapped: list[str] = []
        self.before_claim: Callable[[], None] = lambda: None

    def put(self, key: str, data: Any, **kwargs: Any) -> str:
        if key == "out/_targets_claim":
            self.claim_sent.set()
            if self.listed.wait(10):
                self.overlapped.append("claim")
            self.before_claim()
        return super().put(key, data, **kwargs)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix != "out/":
            return super().list(prefix)
        self.listings += 1
        if self.listings == 1 and self.claim_sent.wait(10):
            self.overlapped.append("listing")
        found = super().list(prefix)
        self.listed.set()
        return found


@pytest.mark.parametrize("flavor", ["s3", "gcs"])
def test_the_listing_is_sent_with_the_claim(flavor: str) -> None:
    """Two round trips of fixed latency, not three: the listing of the prefix is in flight
    while the claim is, and a listing that found nothing settles the check."""
    store = _Rendezvous(flavor)
    fs = ObjectStoreFS.mount(store)
    _write_dir(fs, "bucket/out", {"a": b"a", "b": b"b"})
    assert store.overlapped == ["listing", "claim"] or store.overlapped == ["claim", "listing"]
    assert store.listings == 1
    assert fs.isfile("bucket/out/_SUCCESS")


@pytest.mark.parametrize("flavor", ["s3", "gcs"])
def test_what_the_early_listing_found_is_checked_again_after_the_claim(flavor: str) -> None:
    """The early listing saw an object that is gone by the time the claim is made (an old
    output removed meanwhile): a listing after the claim decides, and finds no conflict."""
    store = _Rendezvous(flavor)
    store.put("out/old.csv", b"old", metadata={}, if_absent=True)
    store.before_claim = lambda: store.delete("out/old.csv")
    fs = ObjectStoreFS.mount(store)
    _write_dir(fs, "bucket/out", {"a": b"a"})
    assert store.listings == 2 and "claim" in store.overlapped
    assert sorted(store.objects("out/")) == ["out/_SUCCESS", "out/_targets_claim", "out/a"]


@pytest.mark.parametrize("flavor", ["s3", "gcs"])
def test_a_foreign_object_found_with_the_claim_still_refuses_the_commit(flavor: str) -> None:
    """The decision stays the claim's: a writer that wins it but finds a foreign object
    (listed with the claim, and again after it) aborts its uploads, removes its own claim
    and raises TargetExistsError."""
    store = _Rendezvous(flavor)
    store.put("out/part-00000", b"spark", metadata={}, if_absent=True)
    fs = ObjectStoreFS.mount(store)
    w = fs.directory_writer("bucket/out")
    with w.open("big.bin") as f:
        f.write(b"x" * (3 * store.part_size))  # a multipart upload, pending
    with pytest.raises(TargetExistsError, match="part-00000"):
        w.commit()
    assert store.objects("out/") == {"out/part-00000": b"spark"}
    assert store.pending_uploads("out/") == []


def test_with_publish_concurrency_1_the_listing_follows_the_claim() -> None:
    store = MemoryObjectStore("bucket", flavor="s3")
    fs = ObjectStoreFS.mount(store, publish_concurrency=1)
    _write_dir(fs, "bucket/out", {"a": b"a"})
    order = [c[:2] for c in store.calls if c[0] in ("put", "list") and c[1].startswith("out")]
    assert order[:2] == [("put", "out/_targets_claim"), ("list", "out/")]


@pytest.mark.parametrize("bad", [0, -1, True, "2"])
def test_a_mounted_store_refuses_a_bad_publish_concurrency(bad: Any) -> None:
    with pytest.raises(targets.InvalidTarget, match="publish_concurrency"):
        ObjectStoreFS.mount(MemoryObjectStore("bucket"), publish_concurrency=bad)
