"""Hostile file names never reach outside the output, on any input."""

from __future__ import annotations

import contextlib
import os
import pathlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import targets

# Names built from the pieces that cause trouble, so that the search hits them often.
PIECES = st.sampled_from(["..", ".", "", "a", "b", "_SUCCESS", "\\", "\x00", "/", "~", " ", "é"])
NAMES = st.one_of(
    st.lists(PIECES, min_size=1, max_size=6).map("/".join),
    st.lists(PIECES, min_size=1, max_size=6).map("".join),
    st.text(max_size=20),
)


def tree(root: pathlib.Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES)
def test_no_name_writes_outside_the_output(tmp_path_factory, name):
    """Invariant: for any name, ``writer().open(name)`` either raises InvalidTarget or writes a
    file that, after the commit, lies inside the output directory; nothing outside changes."""
    base = tmp_path_factory.mktemp("names")
    canary = base / "canary"
    canary.write_bytes(b"outside")
    (base / "sibling").mkdir()
    before = tree(base)
    out = base / "out"
    d = targets.target(str(out) + "/")
    try:
        with d.writer() as w, w.open(name, "wb") as f:
            f.write(b"payload")
    except targets.InvalidTarget:
        assert tree(base) == before
        return
    after = tree(base)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed, "the committed file exists"
    for rel in changed:
        assert os.path.commonpath([str(out), str(base / rel)]) == str(out), rel
    assert canary.read_bytes() == b"outside"
    assert d.files() == [name]


def test_a_symlinked_staging_parent_is_not_followed_out(tmp_path):
    """A symlink inside the staging tree that points outside is never written through: the
    name that uses it as a directory is refused by the filesystem (O_NOFOLLOW on the file,
    and directories are created, never reused across a link we did not make)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    w = targets.target(str(tmp_path / "out") + "/").writer()
    os.symlink(outside, os.path.join(w.path, "sub"))
    try:
        with w.open("sub", "wb"):
            pass
    except targets.TargetError:
        pass
    assert list(outside.iterdir()) == []
    w.discard()
    assert list(outside.iterdir()) == []


def test_a_symlink_planted_at_the_temporary_name_is_refused(tmp_path, monkeypatch):
    """The staging file is created with O_EXCL|O_NOFOLLOW: a symlink an attacker planted at
    the (predictable) temporary name makes the open fail instead of writing through it."""
    from targets.fs._names import temp_name
    from targets.fs.rename import writers

    victim = tmp_path / "victim"
    victim.write_text("precious")
    token = "f" * 32
    monkeypatch.setattr(writers, "new_token", lambda: token)
    (tmp_path / temp_name("out", token)).symlink_to(victim)
    with contextlib.suppress(targets.TargetError):
        targets.target(str(tmp_path / "out")).write_text("attack")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "out").exists()
