"""The docs site builds with warnings as errors, and every code sample in it runs.

Samples are the fenced blocks of docs/*.md and README.md:

- ```python blocks run in order, one namespace per page, in a fresh working directory
  per page (so a page can build on its earlier samples, as a reader would);
- ```console blocks: every ``$ targets ...`` line runs through the command, in the same
  directory; it must exit 0, or the status named by a trailing ``# exit N`` comment;
- a block right after ``<!-- sample: not run (why) -->`` is skipped: samples that need a
  cloud account or a cluster. There are few, and each says why.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner

from targets.cli import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
NOT_RUN = re.compile(r"^<!--\s*sample:\s*not run\s*\((?P<why>[^)]+)\)\s*-->$")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)")
MAX_NOT_RUN = 5


@dataclasses.dataclass
class Block:
    page: pathlib.Path
    line: int
    lang: str
    code: str
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: pathlib.Path) -> list[Block]:
    """The fenced blocks of ``page``, with the not-run reason of each (if marked)."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        previous = next((s for s in reversed(lines[:start]) if s.strip()), "")
        marker = NOT_RUN.match(previous.strip())
        found.append(
            Block(page, start + 1, m["lang"], "\n".join(body) + "\n", marker and marker["why"])
        )
        i += 1
    return found


def runnable(page: pathlib.Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang in ("python", "console") and b.not_run is None]


def run_console(block: Block) -> None:
    for text in block.code.splitlines():
        if not text.startswith("$ "):
            continue
        command, _, comment = text[2:].partition(" #")
        argv = shlex.split(command)
        assert argv[0] == "targets", f"{block}: only `targets` commands run here: {text}"
        expected = int(m[1]) if (m := re.search(r"exit (\d+)", comment)) else 0
        result = CliRunner().invoke(cli, argv[1:], catch_exceptions=False)
        assert result.exit_code == expected, f"{block}: {text}\n{result.output}"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_sample_of_the_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_sample_{page.stem}"}
    for block in runnable(page):
        if block.lang == "console":
            run_console(block)
            continue
        code = compile(block.code, str(block), "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            raise AssertionError(f"the sample at {block} failed: {exc!r}") from exc


def test_the_samples_are_found_and_few_are_not_run():
    every = [b for page in PAGES for b in blocks(page)]
    python = [b for b in every if b.lang == "python"]
    skipped = [b for b in every if b.not_run is not None]
    assert len(python) >= 30, "the collector lost track of the samples"
    assert sum(b.lang == "console" for b in every) >= 4
    assert len(skipped) <= MAX_NOT_RUN, [str(b) for b in skipped]
    for b in skipped:
        assert b.lang == "python" and len(b.not_run.strip()) > 10, f"{b}: say why it is not run"
    marker_lines = [
        (page, n)
        for page in PAGES
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if "sample:" in line and line.startswith("<!--")
    ]
    assert len(marker_lines) == len(skipped), "a marker that is not right before a sample"


def test_every_docs_page_is_in_the_site_navigation():
    config = (ROOT / "mkdocs.yml").read_text()
    in_nav = set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", config, re.M))
    assert in_nav == {p.name for p in DOCS.glob("*.md")}


def test_the_cli_page_covers_every_command_and_option():
    page = (DOCS / "cli.md").read_text()
    for name, command in cli.commands.items():
        assert f"targets {name}" in page, name
        for param in command.params:
            for flag in param.opts:
                if flag.startswith("--") and flag != "--help":
                    assert flag in page, f"targets {name} {flag} is not documented"


def test_the_docs_site_builds_with_warnings_as_errors(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    for page in DOCS.glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"
    reference = (site / "reference" / "index.html").read_text()
    for name in ("targets.FileTarget", "targets.status", "targets.fs.filesystem"):
        assert f'id="{name}"' in reference, f"{name} is missing from the API reference"
    assert reference.count('class="doc doc-object doc-') > 40
    # the diagrams are pre-rendered SVGs now, not Mermaid blocks for a script from a CDN
    commits = (site / "commits" / "index.html").read_text()
    assert 'class="mermaid"' not in commits and commits.count('src="../img/commit-') == 6
