"""`targets.fs.register` / `unregister` / `backend` / `schemes`, in this process.

Each test registers under a scheme of its own and unregisters it afterwards, so that the
registry is as it was for the next test.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import targets
from targets import fs
from targets.errors import InvalidTarget
from tests.registry.distribution import run_python


@pytest.fixture
def scheme() -> Iterator[str]:
    """A scheme nobody serves, unregistered after the test."""
    name = f"toy-{uuid.uuid4().hex[:8]}"
    yield name
    fs.unregister(name)


def rooted(root: pathlib.Path) -> fs.BackendFactory:
    """A factory that serves ``<scheme>://<path>`` as ``<path>`` under ``root``, locally."""

    def factory(url: str, **storage_options: Any) -> tuple[fs.AtomicFS, str]:
        _, _, rest = url.partition("://")
        return fs.resolve(os.path.join(root, rest), **storage_options)

    return factory


def test_a_registered_factory_serves_its_scheme_until_unregistered(scheme, tmp_path):
    factory = rooted(tmp_path)
    fs.register(scheme, factory)
    assert scheme in fs.schemes() and fs.backend(scheme) is factory
    t = targets.target(f"{scheme}://report.csv")
    t.write_text("a\n")
    assert (tmp_path / "report.csv").read_text() == "a\n"
    with pytest.raises(targets.TargetExistsError):
        t.write_text("b\n")

    fs.unregister(scheme)
    assert scheme not in fs.schemes()
    with pytest.raises(InvalidTarget, match="unknown protocol"):
        targets.target(f"{scheme}://report.csv")
    fs.unregister(scheme)  # unknown now: ignored


def test_a_registered_atomicfs_class_is_opened_with_its_from_url(scheme, tmp_path):
    local = fs.backend_class("file")

    class Rooted(local):  # type: ignore[misc,valid-type]
        @classmethod
        def from_url(cls, url: str, **storage_options: Any) -> tuple[fs.AtomicFS, str]:
            _, path = rooted(tmp_path)(url, **storage_options)
            return cls(), path

    fs.register(scheme, Rooted)
    assert fs.backend_class(scheme) is Rooted
    afs, path = fs.resolve(f"{scheme}://table")
    assert type(afs) is Rooted and path == str(tmp_path / "table")


def test_schemes_are_case_insensitive(scheme, tmp_path):
    fs.register(scheme.upper(), rooted(tmp_path))
    assert scheme in fs.schemes()
    targets.target(f"{scheme.upper()}://x.txt").write_text("x")
    assert targets.target(f"{scheme}://x.txt").read_text() == "x"


def test_a_served_scheme_is_not_shadowed_without_replace(scheme, tmp_path):
    first, second = rooted(tmp_path / "first"), rooted(tmp_path / "second")
    fs.register(scheme, first)
    with pytest.raises(InvalidTarget, match="replace=True") as info:
        fs.register(scheme, second)
    assert f"{scheme}://" in str(info.value)
    assert fs.backend(scheme) is first
    fs.register(scheme, second, replace=True)
    assert fs.backend(scheme) is second


@pytest.mark.parametrize("builtin", ["file", "s3", "gs", "hdfs", "S3"])
def test_a_built_in_scheme_is_replaced_only_on_request_and_comes_back(builtin, tmp_path):
    before = fs.backend(builtin)
    with pytest.raises(InvalidTarget, match="already served"):
        fs.register(builtin, rooted(tmp_path))
    assert fs.backend(builtin) is before
    mine = rooted(tmp_path)
    fs.register(builtin, mine, replace=True)
    try:
        assert fs.backend(builtin) is mine
    finally:
        fs.unregister(builtin)
    assert fs.backend(builtin) is before


@pytest.mark.parametrize(
    "bad", ["", "1abc", "my scheme", "a_b", "s3://", "é", "a.b", "-x", "+x", "toy/"]
)
def test_a_bad_scheme_name_is_refused(bad, tmp_path):
    with pytest.raises(InvalidTarget, match="not a URL scheme"):
        fs.register(bad, rooted(tmp_path))
    with pytest.raises(InvalidTarget, match="not a URL scheme"):
        fs.unregister(bad)
    assert bad.lower() not in fs.schemes()


def test_a_factory_must_be_callable(scheme):
    with pytest.raises(InvalidTarget, match="AtomicFS subclass or a factory"):
        fs.register(scheme, 42)  # type: ignore[arg-type]
    assert scheme not in fs.schemes()


@pytest.mark.parametrize(
    ("made", "said"),
    [
        ((object(), "path"), "(object, str)"),
        ("just a path", "a str"),
        (None, "a NoneType"),
        ((1, 2, 3), "(int, int, int)"),
    ],
)
def test_a_factory_that_gives_no_atomicfs_is_an_invalid_target(scheme, made, said):
    fs.register(scheme, lambda url, **options: made)
    url = f"{scheme}://bucket/out.csv"
    with pytest.raises(InvalidTarget) as info:
        targets.target(url).exists()
    message = str(info.value)
    assert url in message and said in message and "(AtomicFS, path)" in message
    assert info.value.path == url


def test_a_factory_that_gives_a_bare_atomicfs_says_what_it_should_give(scheme, tmp_path):
    fs.register(scheme, lambda url, **options: fs.filesystem(str(tmp_path)))
    with pytest.raises(InvalidTarget, match=r"gave a LocalFS, not an \(AtomicFS, path\) pair"):
        fs.resolve(f"{scheme}://x")


def test_storage_options_reach_the_factory(scheme, tmp_path):
    seen: dict[str, Any] = {}

    def factory(url: str, **storage_options: Any) -> tuple[fs.AtomicFS, str]:
        seen.update(storage_options)
        return fs.resolve(str(tmp_path / "x"))

    fs.register(scheme, factory)
    targets.target(f"{scheme}://x", token="t", endpoint="e").exists()
    assert seen == {"token": "t", "endpoint": "e"}


def test_an_unknown_scheme_says_what_is_served(scheme, tmp_path):
    fs.register(scheme, rooted(tmp_path))
    with pytest.raises(InvalidTarget) as info:
        targets.target("nosuch://bucket/out.csv")
    message = str(info.value)
    assert "nosuch://bucket/out.csv" in message and "'nosuch://'" in message
    for served in ("file://", "s3://", "gs://", "hdfs://", "webhdfs://", f"{scheme}://"):
        assert served in message
    assert "targets.fs.register" in message
    assert info.value.path == "nosuch://bucket/out.csv"


def test_backend_class_refuses_a_scheme_served_by_a_factory(scheme, tmp_path):
    fs.register(scheme, rooted(tmp_path))
    with pytest.raises(InvalidTarget, match="factory"):
        fs.backend_class(scheme)


def test_built_in_schemes_are_listed_without_importing_their_clients():
    out = run_python(
        """
        import sys
        from targets import fs

        served = fs.schemes()
        assert served == sorted(served)
        assert not [m for m in ("targets.fs.s3", "targets.fs.gcs", "s3fs", "gcsfs")
                    if m in sys.modules]
        print(" ".join(served))
        """
    )
    for builtin in ("file", "local", "s3", "s3a", "gs", "gcs", "hdfs", "webhdfs"):
        assert builtin in out.stdout.split()
