"""The docs that are generated from code are up to date; the README's commands are real."""

from __future__ import annotations

import html.parser
import importlib.util
import pathlib
import re
import struct
import subprocess
import sys

import pytest

import targets

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "_generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_guarantees_table_matches_the_declared_capabilities():
    generator = load_generator()
    page = (ROOT / "docs" / "guarantees.md").read_text()
    assert generator.render(page) == page, "run: python docs/_generate.py"
    assert generator.guarantees_table() in page


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.splitlines() if line.startswith("pip install")]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_example_pipeline_runs_then_finds_everything_complete(tmp_path):
    script = ROOT / "examples" / "pipeline.py"
    out = tmp_path / "run"
    first = subprocess.run(
        [sys.executable, str(script), str(out), "--rows", "2000"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert first.stdout.count("written in") == 3
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    second = subprocess.run(
        [sys.executable, str(script), str(out), "--rows", "2000"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert second.stdout.count("complete, skipped") == 3
    assert "nothing to do" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert targets.target(str(out) + "/by_region/").files() == [
        f"region={r}/part-0000.csv" for r in ("east", "north", "south", "west")
    ]


# -- the site works offline ----------------------------------------------------------------------


class _Resources(html.parser.HTMLParser):
    """The scripts, stylesheets and images a page loads (``<a href>`` is a link the reader
    follows, not a resource), and whether it has a Mermaid block left to render in the
    browser."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.mermaid = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img", "source", "iframe", "embed", "object", "image", "use"):
            self.loads += [v for k, v in a.items() if k in ("src", "srcset", "data", "href") and v]
        elif tag == "link":  # stylesheets, icons, preloads, preconnects: all fetched
            self.loads += [a["href"] or ""] if a.get("href") else []
        if "mermaid" in (a.get("class") or "").split():
            self.mermaid = True


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


def test_built_site_loads_nothing_from_outside_it(site):
    """Every script, stylesheet and image of every built page is a file of the site: no CDN
    (Mermaid used to come from one, the theme's fonts from Google Fonts), no remote image.
    Plain hyperlinks to other sites are fine."""
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    outside = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
    for page in pages:
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        remote = [u for u in parser.loads if outside.match(u) and not u.startswith("data:")]
        assert remote == [], (page.relative_to(site), remote)
        assert not parser.mermaid, f"{page.relative_to(site)}: a diagram left to a script"
        for url in parser.loads:
            if not outside.match(url):
                local = url.split("#")[0].split("?")[0]
                base = site if local.startswith("/") else page.parent  # 404.html: absolute
                target = (base / local.lstrip("/")).resolve()
                target = target / "index.html" if target.is_dir() else target  # rel=next
                assert target.is_file(), (page.relative_to(site), url)
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        assert not re.search(r"(@import|url\()\s*['\"]?(https?:)?//", text), sheet


def test_every_diagram_is_a_committed_svg_with_its_source_beside_it(site):
    """The commit diagrams are SVG files under docs/img/ (pre-rendered from the Mermaid
    source next to each, ``*.mmd``); no page has a ```mermaid block left, and each SVG is
    self-contained (loads nothing)."""
    docs = ROOT / "docs"
    for page in docs.rglob("*.md"):
        assert "```mermaid" not in page.read_text(encoding="utf-8"), page
    used = re.findall(r"\]\(img/([\w-]+\.svg)\)", (docs / "commits.md").read_text())
    assert len(used) == 6
    for name in used:
        svg = (docs / "img" / name).read_text(encoding="utf-8")
        assert svg.lstrip().startswith("<svg") and "<text" in svg
        assert not re.search(r"(?:href|src)=\"(?:https?:)?//", svg), name
        assert (docs / "img" / name).with_suffix(".mmd").is_file(), name
        assert (site / "img" / name).is_file()
    assert not list((site / "img").glob("*.mmd"))  # sources stay out of the site


def png_size(path: pathlib.Path) -> tuple[int, int]:
    """A PNG's width and height, from its header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_commit_cost_plot_is_readable_at_page_width():
    """docs/img/commit-cost.png is at most as wide as the page's text (about 800 px), so
    that the docs show it without shrinking its labels; it used to be three panels side by
    side, 1782 px wide."""
    width, height = png_size(ROOT / "docs" / "img" / "commit-cost.png")
    assert width <= 800 and height > width


def test_commit_cost_plot_has_one_log_log_labelled_panel_per_store(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from bench import _report
    from bench._paths import PATHS
    from bench._run import Result, Scenario

    results = [
        Result(
            Scenario(f"dir-{n}", f"directory {n}", "dir", 64 * 1024, files=n),
            backend,
            path,
            seconds=n * 1e-3,
            commit=0.0,
            peak=0,
        )
        for backend in ("local", "s3", "gcs")
        for n in (1, 10, 100)
        for path in PATHS[:3]
    ]
    panels: dict[str, list[tuple[str, ...]]] = {}
    real_save = _report._Figures.save

    def save(self, fig, axes, name, **kwargs):
        panels[name] = [
            (ax.get_title(), ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel())
            for ax in axes
        ]
        return real_save(self, fig, axes, name, **kwargs)

    monkeypatch.setattr(_report._Figures, "save", save)
    written = _report.plot(results, str(tmp_path))
    assert str(tmp_path / "commit-cost.png") in written
    titles = [title for title, *_ in panels["commit-cost.png"]]
    assert [t.split(":")[0] for t in titles] == ["local", "s3", "gcs"]
    for _, xscale, yscale, xlabel, ylabel in panels["commit-cost.png"]:
        assert (xscale, yscale) == ("log", "log") and xlabel and ylabel
    width, height = png_size(tmp_path / "commit-cost.png")
    assert width <= 800 and height > width
