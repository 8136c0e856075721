"""The catalogue of bad inputs: each gives one exact error class, with a message that names
the path and says what to do. docs/errors.md is generated from this catalogue
(``python -m tests.security.test_bad_inputs``); a test fails when the two disagree.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import sys
from collections.abc import Callable

import pytest

import targets
from targets import fs

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "errors.md"
ROOT = "/data"
"""Where the catalogue's outputs live when it is rendered for the docs."""


@dataclasses.dataclass(frozen=True)
class BadInput:
    what: str
    call: Callable[[str], object]
    """Makes the mistake under the given (existing, empty) directory."""
    error: type[Exception]
    hint: str
    """A fragment of the message that says what to do (or what is wrong, precisely)."""
    names_path: bool = True


def existing_file(root: str, name: str = "out.csv") -> str:
    targets.target(f"{root}/{name}").write_text("committed")
    return f"{root}/{name}"


def existing_dir(root: str, name: str = "table") -> str:
    with targets.target(f"{root}/{name}/").writer() as w, w.open("part-0", "wb") as f:
        f.write(b"x")
    return f"{root}/{name}"


def committed_then(action: Callable[[targets.fs.DirectoryWriter], object]):
    def call(root: str) -> object:
        w = targets.target(f"{root}/done/").writer()
        w.commit()
        return action(w)

    return call


def closed_file_write(root: str) -> object:
    f = targets.target(f"{root}/closed.bin").open("wb")
    f.close()
    return f.write(b"late")


def twice_in_one_output(root: str) -> object:
    with targets.target(f"{root}/twice/").writer() as w:
        w.open("part-0", "wb").close()
        return w.open("part-0", "wb")


def tampered_manifest(root: str, content: str) -> object:
    path = existing_dir(root, "tampered")
    pathlib.Path(path, "_SUCCESS").write_text(content)
    return targets.target(path + "/").files()


def never_written(root: str) -> object:
    with targets.target(f"{root}/x").temporary_path():
        pass  # the tool wrote nothing
    return None


def missing_backend(root: str) -> object:
    real = importlib.import_module

    def without_s3fs(name: str, *args: object) -> object:
        if name == "targets.fs.s3":
            raise ModuleNotFoundError("No module named 's3fs'", name="s3fs")
        return real(name, *args)

    importlib.import_module = without_s3fs  # type: ignore[assignment]
    try:
        return targets.target("s3://bucket/out.csv")
    finally:
        importlib.import_module = real


def file_parent(root: str) -> object:
    existing_file(root, "blocker")
    return targets.target(f"{root}/blocker/out.csv").write_text("x")


def dir_where_file(root: str) -> object:
    return targets.target(existing_file(root) + "/").writer()


def file_where_dir(root: str) -> object:
    return targets.target(existing_dir(root)).open("w")


CATALOGUE: list[BadInput] = [
    # locations
    BadInput(
        "an empty location",
        lambda r: targets.target(""),
        targets.InvalidTarget,
        "give a path or a URL",
        names_path=False,
    ),
    BadInput(
        "a blank location",
        lambda r: targets.target("  "),
        targets.InvalidTarget,
        "give a path or a URL",
        names_path=False,
    ),
    BadInput(
        "an unknown protocol",
        lambda r: targets.target("ftp://host/out.csv"),
        targets.InvalidTarget,
        "targets supports",
    ),
    BadInput(
        "a file:// URL naming another host",
        lambda r: targets.target("file://otherhost/out.csv"),
        targets.InvalidTarget,
        "must be local",
    ),
    BadInput(
        "a NUL character in a path",
        lambda r: targets.target(f"{r}/a\x00b"),
        targets.InvalidTarget,
        "NUL",
    ),
    BadInput(
        "a lone surrogate in a path (bytes that were not UTF-8)",
        lambda r: targets.target(f"{r}/out\udcff.csv").write_text("x"),
        targets.InvalidTarget,
        "give the name as UTF-8 text",
    ),
    BadInput(
        "a lone surrogate in a name inside a directory output",
        lambda r: targets.target(f"{r}/table/").writer().open("part\udcff", "wb"),
        targets.InvalidTarget,
        "give the name as UTF-8 text",
    ),
    BadInput(
        "a line break in an object store key",
        lambda r: targets.target("s3://bucket/a\nb.csv"),
        targets.InvalidTarget,
        "keys cannot hold",
    ),
    BadInput(
        "a location that is not a path",
        lambda r: targets.target(42),
        targets.InvalidTarget,
        "str, a pathlib.Path or a UPath",
        names_path=False,
    ),
    BadInput(
        "s3:// without a bucket",
        lambda r: targets.target("s3://"),
        targets.InvalidTarget,
        "s3://<bucket>/<key>",
    ),
    BadInput(
        "gs:// without a bucket",
        lambda r: targets.target("gs://"),
        targets.InvalidTarget,
        "gs://<bucket>/<key>",
    ),
    BadInput(
        "hdfs:// without a NameNode and no default",
        lambda r: targets.target("hdfs:///x"),
        targets.InvalidTarget,
        "fs.defaultFS",
    ),
    BadInput(
        "a FileTarget whose path ends in '/'",
        lambda r: targets.FileTarget(f"{r}/out/"),
        targets.InvalidTarget,
        "use DirectoryTarget",
    ),
    BadInput(
        "a backend whose client is not installed",
        missing_backend,
        targets.BackendNotInstalled,
        "pip install 'targets[s3]'",
    ),
    # options and modes
    BadInput(
        "if_exists that is not 'error' or 'overwrite'",
        lambda r: targets.FileTarget(f"{r}/x", if_exists="replace"),
        targets.InvalidTarget,
        "'error', 'overwrite'",
        names_path=False,
    ),
    BadInput(
        "guarantee that is not 'strict' or 'best-effort'",
        lambda r: targets.FileTarget(f"{r}/x", guarantee="maybe"),
        targets.InvalidTarget,
        "'strict', 'best-effort'",
        names_path=False,
    ),
    BadInput(
        "a storage option a local path does not take",
        lambda r: targets.FileTarget(f"{r}/x", key="AKIA"),
        targets.InvalidTarget,
        "unknown storage options ['key']",
    ),
    BadInput(
        "a misspelt S3 storage option",
        lambda r: targets.target("s3://bucket/out.csv", endpoit_url="http://127.0.0.1:9000"),
        targets.InvalidTarget,
        "unknown storage options ['endpoit_url']",
    ),
    BadInput(
        "a misspelt GCS storage option",
        lambda r: targets.target("gs://bucket/out.csv", endpoit_url="http://127.0.0.1:4443"),
        targets.InvalidTarget,
        "unknown storage options ['endpoit_url']",
    ),
    BadInput(
        "a '..' segment in an S3 key",
        lambda r: targets.target("s3://bucket/a/../out.csv"),
        targets.InvalidTarget,
        "S3 would store it under that literal key",
    ),
    BadInput(
        "a '..' segment in a GCS name",
        lambda r: targets.target("gs://bucket/a/../out.csv"),
        targets.InvalidTarget,
        "GCS would store it under another name",
    ),
    BadInput(
        "a format that is not a Luigi Format",
        lambda r: targets.FileTarget(f"{r}/x", format=object()),
        targets.InvalidTarget,
        "pipe_reader and pipe_writer",
    ),
    BadInput(
        "append mode",
        lambda r: targets.target(f"{r}/x").open("a"),
        targets.InvalidTarget,
        "appending cannot be atomic",
    ),
    BadInput(
        "read-write mode",
        lambda r: targets.target(f"{r}/x").open("r+"),
        targets.InvalidTarget,
        "use 'r', 'rb', 'w' or 'wb'",
    ),
    BadInput(
        "writing a file of a committed directory through open()",
        lambda r: targets.target(existing_dir(r) + "/").open("part-0", "w"),
        targets.InvalidTarget,
        "write them through writer()",
    ),
    BadInput(
        "a flag that is a path",
        lambda r: targets.FlagTarget(r, flag="a/b"),
        targets.InvalidTarget,
        "plain file name",
    ),
    # names inside a directory output
    BadInput(
        "a file name that climbs out ('..')",
        lambda r: targets.target(f"{r}/t/").writer().open("../x"),
        targets.InvalidTarget,
        "'..' segment",
    ),
    BadInput(
        "an absolute file name",
        lambda r: targets.target(f"{r}/t/").writer().open("/x"),
        targets.InvalidTarget,
        "give a name relative to the output",
    ),
    BadInput(
        "a backslash in a file name",
        lambda r: targets.target(f"{r}/t/").writer().open("a\\b"),
        targets.InvalidTarget,
        "use '/' to separate directories",
    ),
    BadInput(
        "an empty segment in a file name",
        lambda r: targets.target(f"{r}/t/").writer().open("a//b"),
        targets.InvalidTarget,
        "empty segment",
    ),
    BadInput(
        "writing _SUCCESS yourself",
        lambda r: targets.target(f"{r}/t/").writer().open("_SUCCESS"),
        targets.InvalidTarget,
        "written at commit",
    ),
    BadInput(
        "writing one file twice in one output",
        twice_in_one_output,
        targets.TargetExistsError,
        "already written in this output",
    ),
    # life cycle
    BadInput(
        "committing a writer twice",
        committed_then(lambda w: w.commit()),
        targets.InvalidTarget,
        "open a new one",
    ),
    BadInput(
        "opening a file in a committed writer",
        committed_then(lambda w: w.open("x")),
        targets.InvalidTarget,
        "open a new one",
    ),
    BadInput("writing after close()", closed_file_write, targets.InvalidTarget, "open a new one"),
    BadInput(
        "a temporary_path() the tool never wrote",
        never_written,
        targets.CommitError,
        "nothing was written",
    ),
    # what is already on the filesystem
    BadInput(
        "an output that already exists",
        lambda r: targets.target(existing_file(r)).write_text("again"),
        targets.TargetExistsError,
        "if_exists='overwrite'",
    ),
    BadInput(
        "a directory output that already exists",
        lambda r: targets.target(existing_dir(r) + "/").writer(),
        targets.TargetExistsError,
        "if_exists='overwrite'",
    ),
    BadInput(
        "a parent that is a file", file_parent, targets.NotADirectory, "is a file, not a directory"
    ),
    BadInput(
        "a file output where a directory is",
        file_where_dir,
        targets.IsADirectory,
        "use a DirectoryTarget",
    ),
    BadInput(
        "a directory output where a file is",
        dir_where_file,
        targets.NotADirectory,
        "use a FileTarget",
    ),
    BadInput(
        "reading an output that does not exist",
        lambda r: targets.target(f"{r}/missing.csv").read_bytes(),
        targets.TargetNotFound,
        "has the step that writes it run?",
    ),
    BadInput(
        "removing an output that does not exist",
        lambda r: targets.target(f"{r}/missing.csv").remove(),
        targets.TargetNotFound,
        "nothing was removed",
    ),
    BadInput(
        "the manifest of an uncommitted directory",
        lambda r: targets.target(f"{r}/nothing/").manifest(),
        targets.TargetNotFound,
        "not committed",
    ),
    BadInput(
        "renaming something that does not exist",
        lambda r: fs.filesystem(r).rename_dont_move(f"{r}/nope", f"{r}/z"),
        targets.TargetNotFound,
        "nothing was renamed",
    ),
    BadInput(
        "a _SUCCESS that is not JSON",
        lambda r: tampered_manifest(r, "{truncated"),
        targets.CorruptManifest,
        "rewrite it",
    ),
    BadInput(
        "a _SUCCESS listing a name outside the output",
        lambda r: tampered_manifest(
            r,
            '{"format": "targets-manifest", "version": 1, "writer": "w", '
            '"files": [{"name": "../../etc/passwd", "size": 1}]}',
        ),
        targets.CorruptManifest,
        "not a safe relative name",
    ),
    BadInput(
        "a _SUCCESS from a newer version",
        lambda r: tampered_manifest(
            r, '{"format": "targets-manifest", "version": 99, "writer": "w", "files": []}'
        ),
        targets.CorruptManifest,
        "upgrade",
    ),
]


def provoke(entry: BadInput, root: str) -> Exception:
    try:
        entry.call(root)
    except Exception as exc:
        return exc
    raise AssertionError(f"{entry.what}: no error")


def test_the_catalogue_has_at_least_thirty_entries():
    assert len(CATALOGUE) >= 30
    assert len({e.what for e in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.what for e in CATALOGUE])
def test_bad_input_gives_its_exact_error_naming_the_path(entry, tmp_path):
    exc = provoke(entry, str(tmp_path))
    assert type(exc) is entry.error, f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, targets.TargetError)
    message = str(exc)
    assert entry.hint in message
    if entry.names_path:
        assert exc.path, "the error carries the path it concerns"
        assert str(tmp_path) in message or exc.path in message
    assert "Traceback" not in message


def render(root: pathlib.Path) -> str:
    rows = [
        "# Errors",
        "",
        "Every mistake below raises exactly the error shown, with a message that names the",
        "path and says what to do. All errors are `targets.TargetError`s, and subclass the",
        "matching builtin (`FileExistsError`, `FileNotFoundError`, `ValueError`...), so code",
        "written for plain files keeps working. This page is generated from the catalogue in",
        "tests/security/test_bad_inputs.py (`python -m tests.security.test_bad_inputs`), which",
        f"a test runs; `{ROOT}` stands for the directory of the outputs.",
        "",
        "| mistake | error | message |",
        "|---|---|---|",
    ]
    for i, entry in enumerate(CATALOGUE):
        case = root / f"case-{i}"
        case.mkdir()
        exc = provoke(entry, str(case))
        message = str(exc).replace(str(case), ROOT)
        message = _stable(message).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {entry.what} | `{type(exc).__name__}` | {message} |")
    return "\n".join(rows) + "\n"


def _stable(message: str) -> str:
    """Replace what changes from run to run (tokens, object addresses) by placeholders."""
    import re

    message = re.sub(r"targets-(tmp|old)-[0-9a-f]{32}", r"targets-\1-<token>", message)
    message = re.sub(r" at 0x[0-9a-f]+", "", message)
    # S3's and GCS's valid options are read from the installed s3fs and gcsfs
    message = re.sub(
        r"\b(S3|GCS) takes .*",
        r"\1 takes <its client library's options and its own, listed>",
        message,
    )
    return message


def test_docs_errors_page_is_generated_from_the_catalogue(tmp_path):
    assert DOC.read_text() == render(tmp_path), "run: python -m tests.security.test_bad_inputs"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        DOC.write_text(render(pathlib.Path(tmp)))
    sys.exit(0)
