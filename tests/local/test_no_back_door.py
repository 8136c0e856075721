"""No back door around the commit (issue 14).

Every target used to be ``os.PathLike`` (``__fspath__`` returned the final path), so
``open(t, "w")``, ``shutil.copy(src, t)`` and ``df.to_csv(t)`` wrote straight to the final
path: partial on a crash, and replacing an existing output without a word. Each test here
failed on that code: the write went through, and the existing output was clobbered.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

import targets

NOT_A_PATH = r"is not a path: .*temporary_path\(\).*\.path"


@pytest.fixture
def committed(tmp_path: pathlib.Path) -> targets.FileTarget:
    t = targets.FileTarget(tmp_path / "out.csv")
    t.write_text("committed\n")
    return t


def _unchanged(t: targets.FileTarget) -> None:
    assert t.read_text() == "committed\n"
    assert sorted(os.listdir(os.path.dirname(t.path))) == ["out.csv"]


def test_builtin_open_for_writing_is_refused_and_names_the_routes(committed):
    with pytest.raises(TypeError, match=NOT_A_PATH):
        open(committed, "w")  # noqa: SIM115
    _unchanged(committed)


def test_shutil_copy_onto_a_target_is_refused(committed, tmp_path):
    src = tmp_path / "src.csv"
    src.write_text("other\n")
    with pytest.raises(TypeError, match=NOT_A_PATH):
        shutil.copy(src, committed)
    src.unlink()
    _unchanged(committed)


def test_pandas_to_csv_with_a_target_is_refused(committed):
    pd = pytest.importorskip("pandas")
    with pytest.raises(TypeError, match=NOT_A_PATH):
        pd.DataFrame({"id": [1]}).to_csv(committed)
    _unchanged(committed)


def test_pandas_to_csv_through_open_commits(tmp_path):
    """The route the error names: a file object pandas writes into, committed on close."""
    pd = pytest.importorskip("pandas")
    t = targets.FileTarget(tmp_path / "o.csv")
    with t.open("w") as f:
        pd.DataFrame({"id": [1]}).to_csv(f, index=False)
    assert t.read_text() == "id\n1\n"


@pytest.mark.parametrize("kind", ["file", "directory", "flag"])
def test_no_target_is_a_path(tmp_path, kind):
    t = {
        "file": lambda: targets.FileTarget(tmp_path / "f"),
        "directory": lambda: targets.DirectoryTarget(tmp_path / "d"),
        "flag": lambda: targets.FlagTarget(tmp_path / "s"),
    }[kind]()
    with pytest.raises(TypeError, match=NOT_A_PATH):
        os.fspath(t)
    with pytest.raises(TypeError, match=NOT_A_PATH):
        pathlib.Path(t)


def test_reads_keep_their_routes(committed):
    with open(committed.path) as f:
        assert f.read() == "committed\n"
    with committed.open("r") as f:
        assert f.read() == "committed\n"


def test_a_target_names_another_target_by_url_not_by_path(committed):
    """``target(t)`` used to go through ``os.fspath``; it now takes the URL and options."""
    again = targets.target(committed)
    assert isinstance(again, targets.FileTarget) and again.url == committed.url
    assert again.read_text() == "committed\n"


@pytest.mark.parametrize("after", ["close", "discard"])
@pytest.mark.parametrize("call", ["write", "writelines"])
def test_text_write_after_close_raises_invalid_target(tmp_path, after, call):
    """Was io's plain ``ValueError('I/O operation on closed file.')``."""
    t = targets.FileTarget(tmp_path / "t.txt")
    f = t.open("w")
    f.write("x")
    getattr(f, after)()
    with pytest.raises(targets.InvalidTarget, match=r"t\.txt is already .*open a new one"):
        if call == "write":
            f.write("y")
        else:
            f.writelines(["y"])
    assert t.exists() == (after == "close")
