"""Markdown tables, the targets' verdicts and the plots of one benchmark run."""

from __future__ import annotations

import dataclasses
import os
import platform
import re
from collections.abc import Sequence
from typing import Any

from bench import _model
from bench._run import GiB, KiB, MiB, Result, floor_of

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def human_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:,.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:,.1f} ms"
    return f"{s * 1e6:,.0f} µs"


def _kinds(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "—"
    if not counts:
        return "none"
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def ratio(result: Result, results: Sequence[Result]) -> float | None:
    floor = floor_of(results, result.scenario, result.backend)
    return result.seconds / floor.seconds if floor and floor.seconds else None


def results_table(results: Sequence[Result]) -> str:
    """One row per scenario, store and path: ratios to the plain-write floor first."""
    lines = [
        "| scenario | store | path | x floor | time | commit step | requests | "
        "commit-step requests | copied server-side | peak memory |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        x = ratio(r, results)
        lines.append(
            f"| {r.scenario.title} | {r.backend} | {r.path.name} "
            f"| {'—' if x is None else f'{x:.2f}x'} | {human_seconds(r.seconds)} "
            f"| {human_seconds(r.commit)} "
            f"| {'—' if r.total_requests is None else r.total_requests} "
            f"| {_kinds(r.commit_requests)} "
            f"| {'—' if r.copied is None else human_bytes(r.copied)} "
            f"| {human_bytes(r.peak)} |"
        )
    return "\n".join(lines)


@dataclasses.dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None
    """None: not measured in this run."""


def _find(results: Sequence[Result], key: str, backend: str, path: str) -> Result | None:
    for r in results:
        if r.scenario.key == key and r.backend == backend and r.path.name == path:
            return r
    return None


OURS = "targets: open() / writer()"
BARE = "bare temp + renameat2 (reference)"


LUIGI = "Luigi: open('w')"


def _against(results: Sequence[Result], key: str, path: str, bound: float) -> Verdict:
    """Targets' local file commit (durable=False) against another path in the same run."""
    ours, other = _find(results, key, "local", OURS), _find(results, key, "local", path)
    target = f"local file commit, durable=False, {key[5:]}: ≤ {bound}x {path}"
    if ours is None or other is None or not other.seconds:
        return Verdict(target, "not run", None)
    x = ours.seconds / other.seconds
    floor = ratio(ours, results)
    plain = "" if floor is None else f" ({floor:.2f}x a plain write)"
    return Verdict(target, f"{x:.2f}x{plain}", x <= bound)


def verdicts(results: Sequence[Result]) -> list[Verdict]:
    """The issue's targets, checked against this run."""
    out = [
        _against(results, key, path, bound)
        for key in ("file-1KiB", "file-1MiB")
        for path, bound in ((BARE, 1.15), (LUIGI, 1.0))
    ]
    for backend in ("s3", "gcs"):
        for key in ("file-1KiB", "file-1MiB"):
            r = _find(results, key, backend, OURS)
            n = r.total_requests if r else None
            out.append(
                Verdict(
                    f"{backend} single-file commit ({key[5:]}): exactly 1 request",
                    "not run" if n is None else f"{n} ({_kinds(r.requests if r else None)})",
                    None if n is None else n == 1,
                )
            )
        for path in ("fsspec: temp + mv", "Luigi: temporary_path()"):
            r = _find(results, "file-1MiB", backend, path)
            if r is None or r.requests is None:
                continue
            n, copied = r.total_requests or 0, r.copied or 0
            out.append(
                Verdict(
                    f"{backend} {path} (1 MiB file): ≥ 3 requests and a whole-file copy",
                    f"{n} requests, {human_bytes(copied)} copied",
                    n >= 3 and copied >= r.scenario.size,
                )
            )
    big = max((r.scenario.files for r in results if r.scenario.key.startswith("dir-")), default=0)
    key = f"dir-{big}"
    ours = _find(results, key, "s3", OURS)
    if ours is not None:
        n = ours.total_requests
        out.append(
            Verdict(
                f"s3 writer(), {big} x 64 KiB: zero bytes copied",
                "—" if ours.copied is None else human_bytes(ours.copied),
                None if ours.copied is None else ours.copied == 0,
            )
        )
        out.append(
            Verdict(
                f"s3 writer(), {big} x 64 KiB: ≤ N + 2 = {big + 2} requests",
                "—" if n is None else f"{n} ({_kinds(ours.requests)})",
                None if n is None else n <= big + 2,
            )
        )
        x = ratio(ours, results)
        parallel = _find(results, key, "s3", "plain writes, 16 at a time")
        against = (
            f"; {ours.seconds / parallel.seconds:.2f}x plain writes 16 at a time (the "
            "concurrency targets publishes with)"
            if parallel
            else ""
        )
        out.append(
            Verdict(
                f"s3 writer(), {big} x 64 KiB: ≤ 1.3x the plain-write floor",
                "—" if x is None else f"{x:.2f}x plain writes one after another{against}",
                None if x is None else x <= 1.3,
            )
        )
        copying = [
            r
            for r in results
            if r.scenario.key == key
            and r.backend == "s3"
            and r.path.copies
            and r.path.family != "targets"
        ]
        if copying:
            slowest_fast = min(copying, key=lambda r: r.seconds)
            speedup = slowest_fast.seconds / ours.seconds
            out.append(
                Verdict(
                    f"s3 writer(), {big} x 64 KiB: ≥ 2x faster than every copy-based path",
                    f"{speedup:.2f}x faster than the fastest of them ({slowest_fast.path.name})",
                    speedup >= 2.0,
                )
            )
    for backend in ("s3", "gcs"):
        tool = _find(results, "parquet", backend, "targets: writer().path (tool)")
        if tool is not None:
            out.append(
                Verdict(
                    f"{backend} pyarrow write_dataset through writer().filesystem: zero bytes "
                    "copied",
                    "not counted" if tool.copied is None else human_bytes(tool.copied),
                    None if tool.copied is None else tool.copied == 0,
                )
            )
    for backend in ("local", "s3", "gcs"):
        rs = sorted(
            (r for r in results if r.scenario.kind == "big" and r.backend == backend),
            key=lambda r: r.scenario.size,
        )
        if len(rs) >= 2:
            small, large = rs[0], rs[-1]
            grow = large.commit / small.commit if small.commit else float("inf")
            byte_ratio = large.scenario.size / small.scenario.size
            what = (
                f"{backend} writer() commit step, 1 x {human_bytes(large.scenario.size)} vs "
                f"1 x {human_bytes(small.scenario.size)}"
            )
            if small.commit_requests is not None and large.commit_requests is not None:
                out.append(
                    Verdict(
                        f"{what}: the same requests, nothing copied",
                        f"{small.total_commit_requests} vs {large.total_commit_requests} "
                        f"requests ({_kinds(large.commit_requests)}); "
                        f"{human_bytes(large.copied or 0)} copied",
                        small.total_commit_requests == large.total_commit_requests
                        and not large.copied,
                    )
                )
            out.append(
                Verdict(
                    f"{what}: time grows with files, not bytes (less than 1/100 as fast as "
                    "the bytes)",
                    f"{human_seconds(large.commit)} vs {human_seconds(small.commit)}: "
                    f"{grow:.1f}x for {byte_ratio:.0f}x the bytes",
                    grow < byte_ratio / 100,
                )
            )
    return out


def verdict_table(vs: Sequence[Verdict]) -> str:
    lines = ["| target | measured | |", "|---|---|---|"]
    for v in vs:
        mark = "not run" if v.met is None else ("met" if v.met else "**missed**")
        lines.append(f"| {v.target} | {v.measured} | {mark} |")
    return "\n".join(lines)


def model_table(results: Sequence[Result]) -> str:
    """Projected commit times on real S3 and GCS, from this run's counts."""
    cases = [(1000, 64 * KiB), (10_000, 10 * MiB), (100_000, 10 * MiB)]
    head = " | ".join(f"{n:,} x {human_bytes(size)}" for n, size in cases)
    lines = [
        f"| store | path | requests in commit | copied | {head} |",
        "|---|---|---|---:|" + "---:|" * len(cases),
    ]
    for backend, store in (("s3", _model.S3), ("gcs", _model.GCS)):
        for f in _model.fit(results, backend):
            if not f.commits:
                continue
            times = " | ".join(human_seconds(f.commit_time(store, n, size)) for n, size in cases)
            lines.append(
                f"| {store.name} | {f.path} | {f.fixed:.0f} + {f.per_file:.2f}·N "
                f"| {f.copy_fraction:.0%} of the bytes | {times} |"
            )
    return "\n".join(lines)


def plot(results: Sequence[Result], out_dir: str) -> list[str]:
    """commit-cost.png (time per output vs N files, per path and store) and
    projected-commit.png (the model on S3 and GCS up to 100,000 files); the file names
    written, or none when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        return []
    os.makedirs(out_dir, exist_ok=True)
    figures = _Figures(plt, out_dir)
    written = [_plot_commit_cost(figures, results), _plot_projection(figures, results)]
    return [path for path in written if path is not None]


class _Figures:
    """What the plots share: one colour and line style per path, one legend per figure."""

    def __init__(self, plt: Any, out_dir: str) -> None:
        from bench._paths import PATHS

        self.plt = plt
        self.out_dir = out_dir
        self.order = [p.name for p in PATHS]
        palette = plt.get_cmap("tab20").colors
        self.colour = {name: palette[i % len(palette)] for i, name in enumerate(self.order)}

    def panels(
        self, n: int, width: float, height: float, *, stacked: bool = False
    ) -> tuple[Any, list[Any]]:
        """A figure of ``n`` panels, each ``width`` x ``height`` inches: side by side, or one
        above the other when ``stacked`` (a figure as wide as one panel stays readable when
        the docs shrink it to the page width)."""
        rows, cols = (n, 1) if stacked else (1, n)
        fig, axes = self.plt.subplots(rows, cols, figsize=(width * cols, height * rows))
        return fig, list(axes) if n > 1 else [axes]

    def style(self, name: str) -> dict[str, object]:
        floor = name.startswith("plain")
        ours = name.startswith("targets")
        return {
            "color": self.colour.get(name, "grey"),
            "linestyle": "--" if floor else ("-" if ours else ":"),
            "linewidth": 2.4 if ours or floor else 1.4,
            "marker": "o",
            "markersize": 4,
            "label": name,
        }

    def save(
        self, fig: Any, axes: Sequence[Any], name: str, *, bottom: float, ncol: int = 4
    ) -> str:
        """Add one legend for every panel below them (``ncol`` columns), write ``name``, and
        close ``fig``."""
        handles: dict[str, Any] = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        order = [n for n in self.order if n in handles]
        fig.legend(
            [handles[n] for n in order],
            order,
            loc="lower center",
            ncol=ncol,
            fontsize=8 if ncol > 2 else 9,
            frameon=False,
        )
        fig.tight_layout(rect=(0, bottom, 1, 1))
        path = os.path.join(self.out_dir, name)
        fig.savefig(path, dpi=110)
        self.plt.close(fig)
        return path


def _log_axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    """Log-log axes whose ticks read as numbers (1, 10, 1,000) and times (1 ms, 10 s), not
    powers of ten."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick_seconds(v)))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def _tick_seconds(s: float) -> str:
    """A tick label for a power of ten of seconds: 100 µs, 10 ms, 1 s, 1,000 s."""
    if s >= 1:
        return f"{s:,.0f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.0f} ms"
    return f"{s * 1e6:.0f} µs"


def _plot_commit_cost(figures: _Figures, results: Sequence[Result]) -> str | None:
    """Measured time per directory output against its number of files: one panel per store,
    one above the other, log-log, 7 inches wide (legible at the docs' page width); None when
    the run measured no directory output."""
    dirs = [r for r in results if r.scenario.kind == "dir"]
    backends = [b for b in ("local", "s3", "gcs") if any(r.backend == b for r in dirs)]
    if not backends:
        return None
    fig, axes = figures.panels(len(backends), 7.0, 3.6, stacked=True)
    for ax, backend in zip(axes, backends, strict=True):
        by_path: dict[str, list[Result]] = {}
        for r in dirs:
            if r.backend == backend:
                by_path.setdefault(r.path.name, []).append(r)
        for name, rs in by_path.items():
            rs.sort(key=lambda r: r.scenario.files)
            ax.plot([r.scenario.files for r in rs], [r.seconds for r in rs], **figures.style(name))
        _log_axes(
            ax,
            f"{backend}: a directory of N x 64 KiB, end to end (median)",
            "N files in the output",
            "time per output",
        )
    legend_inches = 1.4  # eleven paths in two columns below the last panel
    bottom = legend_inches / (3.6 * len(backends))
    return figures.save(fig, axes, "commit-cost.png", bottom=bottom, ncol=2)


def _plot_projection(figures: _Figures, results: Sequence[Result]) -> str | None:
    """The cost model's commit step on S3 and GCS for N x 10 MiB, up to 100,000 files; None
    when the run has nothing to fit the model to."""
    fits = [
        (store, _model.fit(results, b)) for b, store in (("s3", _model.S3), ("gcs", _model.GCS))
    ]
    fits = [(store, fs) for store, fs in fits if fs]
    if not fits:
        return None
    fig, axes = figures.panels(len(fits), 5.8, 5.2)
    ns = [10**k for k in range(0, 6)]
    for ax, (store, fs) in zip(axes, fits, strict=True):
        for f in fs:
            if f.commits:
                ys = [f.commit_time(store, n, 10 * MiB) for n in ns]
                ax.plot(ns, ys, **figures.style(f.path))
        _log_axes(
            ax,
            f"projected commit step on {store.name}, N x 10 MiB",
            "N files (100,000 x 10 MiB ≈ 1 TB)",
            "time (model, see bench/_model.py)",
        )
    return figures.save(fig, axes, "projected-commit.png", bottom=0.12)


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def results_block(results: Sequence[Result], notes: Sequence[str], images: Sequence[str]) -> str:
    """The generated part of docs/performance.md."""
    parts = [
        START,
        "",
        f"_Generated by `python -m bench` on {machine()}; numbers are from one run._",
        "",
        "### Targets",
        "",
        verdict_table(verdicts(results)),
        "",
        "### All measurements",
        "",
        results_table(results),
        "",
        "### Projected commit step on real stores",
        "",
        model_table(results),
        "",
    ]
    for image in images:
        name = os.path.basename(image)
        parts += [f"![{name}](img/{name})", ""]
    if notes:
        parts += ["Notes from this run:", "", *[f"- {n}" for n in notes], ""]
    parts.append(END)
    return "\n".join(parts)


def write_docs(path: str, block: str) -> None:
    """Replace the generated block of ``path`` (between the markers), keeping the rest."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = f"# Performance\n\n{START}\n{END}\n"
    if START not in text:
        text = text.rstrip() + f"\n\n{START}\n{END}\n"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    text = pattern.sub(lambda _: block, text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
