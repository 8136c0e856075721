"""The world family: every world reaches its store the same ways (URLs through its policy's
seam, an `AtomicFS` through any policy's), shows it the same way, and names its commits;
simulated buckets are served by URL scheme while their world is open."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest

import targets
from targets.errors import InvalidTarget
from targets.testing.faults import Injector
from targets.testing.objectstore import MemoryObjectStore, mount_scheme
from targets.testing.worlds import (
    HDFSWorld,
    LocalDiskWorld,
    ObjectStoreWorld,
    PosixWorld,
    World,
)

WORLDS: dict[str, Callable[..., World]] = {
    "posix": PosixWorld,
    "local": LocalDiskWorld,
    "hdfs": HDFSWorld,
    "s3": functools.partial(ObjectStoreWorld, flavor="s3"),
    "gcs": functools.partial(ObjectStoreWorld, flavor="gcs"),
}


@pytest.fixture(params=sorted(WORLDS))
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with WORLDS[request.param]() as w:
        yield w


def test_outputs_written_by_url_are_what_the_world_shows(world: World) -> None:
    world.target("out.bin").write_bytes(b"data")
    with world.target("table/").writer() as w, w.open("sub/part-0", "wb") as f:
        f.write(b"part")
    files = world.files()
    assert files["out.bin"] == b"data"
    assert files["table/sub/part-0"] == b"part"
    assert world.leftovers() == []
    committed = world.committed_names("out.bin") | world.committed_names("table", ["sub/part-0"])
    assert set(world.physical()) == committed
    assert world.recover("table/").startswith("nothing to recover")


def test_an_injected_filesystem_publishes_each_output_once_at_its_marker(world: World) -> None:
    injector = Injector()
    fs = world.fs(injector)
    with fs.open_output(world.fs_path("out.bin")) as w:
        w.write(b"data")
    d = fs.directory_writer(world.fs_path("table"))
    with d.open("part-0", "wb") as f:
        f.write(b"part")
    d.commit()
    published = [world.publish_target(c) for c in injector.calls if c.took_effect]
    assert published.count(world.marker("out.bin", directory=False)) == 1
    assert published.count(world.marker("table", directory=True)) == 1
    assert world.target("out.bin").read_bytes() == b"data"


def test_each_object_store_world_is_served_by_a_scheme_of_its_own_until_it_closes() -> None:
    first = ObjectStoreWorld()
    second = ObjectStoreWorld(flavor="gcs")
    try:
        first.target("out.bin").write_bytes(b"first")
        second.target("out.bin").write_bytes(b"second")
        assert first.url("out.bin").split("://")[0] != second.url("out.bin").split("://")[0]
        assert targets.target(first.url("out.bin")).read_bytes() == b"first"
        assert targets.target(second.url("out.bin")).read_bytes() == b"second"
        assert targets.target(first.url("out.bin")).url == first.url("out.bin")
    finally:
        first.close()
        second.close()
    with pytest.raises(InvalidTarget, match="unknown protocol"):
        targets.target(first.url("out.bin"))


def test_a_mounted_scheme_serves_its_buckets_and_nothing_else() -> None:
    a = MemoryObjectStore("a", scheme="mem-test")
    b = MemoryObjectStore("b", scheme="mem-test")
    with mount_scheme("mem-test", a, b):
        targets.target("mem-test://a/x.csv").write_text("in a\n")
        targets.target("mem-test://b/x.csv").write_text("in b\n")
        assert a.objects() == {"x.csv": b"in a\n"}
        assert b.objects() == {"x.csv": b"in b\n"}
        assert not targets.target("mem-test://c/x.csv").exists()
        with pytest.raises(InvalidTarget, match="already served"):
            mount_scheme("mem-test", MemoryObjectStore("c", scheme="mem-test"))
        with pytest.raises(InvalidTarget, match="takes no storage options"):
            targets.target("mem-test://a/x.csv", key="secret")
    with pytest.raises(InvalidTarget, match="unknown protocol"):
        targets.target("mem-test://a/x.csv")


def test_a_world_over_a_given_store_reaches_it_through_its_policy() -> None:
    store = MemoryObjectStore("given")
    injector = Injector()
    with ObjectStoreWorld(injector, store=store, root="prefix") as world:
        world.target("out.bin").write_bytes(b"data")
        assert world.url("out.bin").startswith("world-s3-")
    assert store.objects() == {"prefix/out.bin": b"data"}
    assert [c.op for c in injector.calls] == ["put"]
