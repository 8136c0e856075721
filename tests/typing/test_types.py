"""What a user's type checker learns from the installed package (issue 14).

mypy runs in a subprocess on a small program in a directory outside the source tree, so it
finds ``targets`` only the way a user's checker does: through the installed distribution
(its editable install must be a path entry mypy can follow) and its ``py.typed``. Before,
mypy reported ``import-not-found`` for ``targets``, and ``open()`` was ``Any`` so a bytes
write to a text file passed.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mypy")

pytestmark = pytest.mark.slow

PROGRAM = """
from targets import DirectoryTarget, FileTarget, FlagTarget, target

t = FileTarget("out/report.csv")
reveal_type(t.open())
reveal_type(t.open("r"))
reveal_type(t.open("rb"))
reveal_type(t.open("w"))
reveal_type(t.open("wb"))
reveal_type(t.open("x"))
reveal_type(DirectoryTarget("out/table/").open("part-0"))
reveal_type(FlagTarget("out/spark/").open("part-0", "r"))
reveal_type(target("out/any"))
reveal_type(target("out/zipped.gz", format=None))

with t.open("w") as f:
    f.write(b"bytes to a text file")
with t.open("wb") as g:
    g.write("text to a binary file")
with open(t, "w") as h:
    pass
"""

REVEALED = [
    "typing.IO[str]",
    "typing.IO[str]",
    "typing.IO[bytes]",
    "targets._files.AtomicTextFile",
    "targets._files.AtomicBinaryFile",
    "targets._files.AtomicTextFile",
    "typing.IO[bytes]",
    "typing.IO[str]",
    "targets._target.FileTarget | targets._target.DirectoryTarget",
    "targets._target.FileTarget",
]


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    here = tmp_path_factory.mktemp("user_program")
    (here / "program.py").write_text(textwrap.dedent(PROGRAM))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "program.py"],
        cwd=here,  # outside the source tree: targets comes from the installed distribution
        capture_output=True,
        text=True,
        timeout=240,
    )
    return done.stdout.splitlines()


def test_mypy_finds_the_installed_package(mypy_output):
    text = "\n".join(mypy_output)
    assert "import-not-found" not in text and "import-untyped" not in text, text


def test_open_is_typed_by_mode(mypy_output):
    revealed = [
        _plain(re.sub(r'.*Revealed type is "(.*)"', r"\1", line))
        for line in mypy_output
        if "Revealed type is" in line
    ]
    assert revealed == REVEALED, "\n".join(mypy_output)


def _plain(type_text: str) -> str:
    """One spelling across mypy versions: ``IO[str]``, ``A | B``."""
    text = type_text.replace("builtins.", "")
    union = re.fullmatch(r"Union\[(.*)\]", text)
    return " | ".join(union.group(1).split(", ")) if union else text


def test_mypy_rejects_wrong_writes_and_a_target_as_a_path(mypy_output):
    errors = [line for line in mypy_output if ": error:" in line]
    lines = {int(line.split(":")[1]) for line in errors}
    source = textwrap.dedent(PROGRAM).splitlines()
    wanted = {
        n for n, text in enumerate(source, 1) if ".write(" in text or text.startswith("with open(")
    }
    assert lines == wanted, "\n".join(mypy_output)


def test_py_typed_ships_with_the_package():
    import targets

    assert (pathlib.Path(targets.__file__).parent / "py.typed").is_file()


def test_the_package_is_mypy_strict_clean():
    """`mypy --strict` over targets/ (configured in pyproject.toml) reports nothing: the
    public API's types are what users' type checkers learn from. Run here so that the
    README's one test command (and so CI) checks it."""
    root = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
