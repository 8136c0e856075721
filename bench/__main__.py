"""What a commit costs, as ratios against a plain write measured in the same run.

    python -m bench            # full run
    python -m bench --quick    # a few seconds, for CI

Local scenarios for now (object stores follow): one file of 1 KiB and of 1 MiB committed
through ``FileTarget`` (durable=False and durable=True) against a plain ``open``/``write``,
and a directory of N files through ``DirectoryTarget.writer()`` against plain writes into a
directory. Each figure is the median of repeated runs; ratios are what to compare.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import targets


def median_seconds(
    actions: dict[str, Callable[[int], None]], repeats: int, inner: int
) -> dict[str, float]:
    """For each action, the median over ``repeats`` of the mean time of ``inner`` calls of
    ``action(i)``. Actions take turns within each repeat, so drift in the machine's state
    (page cache, directory size) affects them alike."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    counter = 0
    for _ in range(repeats):
        for name, action in actions.items():
            started = time.perf_counter()
            for _ in range(inner):
                action(counter)
                counter += 1
            samples[name].append((time.perf_counter() - started) / inner)
    return {name: statistics.median(values) for name, values in samples.items()}


def file_scenarios(root: str, repeats: int, inner: int) -> list[tuple[str, float, float]]:
    rows = []
    for label, size in (("1 KiB", 1024), ("1 MiB", 1 << 20)):
        data = os.urandom(size)
        base = os.path.join(root, f"file-{size}")
        os.mkdir(base)

        def plain(i: int, data: bytes = data, base: str = base) -> None:
            with open(f"{base}/plain-{i}", "wb") as f:
                f.write(data)

        def commit(i: int, durable: bool, data: bytes = data, base: str = base) -> None:
            t = targets.FileTarget(f"{base}/t{int(durable)}-{i}", durable=durable)
            with t.open("wb") as f:
                f.write(data)

        fast = median_seconds({"plain": plain, "ours": lambda i: commit(i, False)}, repeats, inner)
        floor = fast["plain"]
        durable = median_seconds({"ours": lambda i: commit(i, True)}, repeats, max(1, inner // 10))
        rows += [
            (f"file {label}, plain write (floor)", floor, 1.0),
            (f"file {label}, durable=False", fast["ours"], fast["ours"] / floor),
            (f"file {label}, durable=True", durable["ours"], durable["ours"] / floor),
        ]
    return rows


def directory_scenarios(root: str, repeats: int, files: int) -> list[tuple[str, float, float]]:
    data = os.urandom(64 * 1024)

    def plain(i: int) -> None:
        out = os.path.join(root, f"plain-{i}")
        os.mkdir(out)
        for n in range(files):
            with open(f"{out}/part-{n:05d}", "wb") as f:
                f.write(data)

    def commit(i: int) -> None:
        d = targets.DirectoryTarget(os.path.join(root, f"dir-{i}"), durable=False)
        with d.writer() as w:
            for n in range(files):
                with w.open(f"part-{n:05d}", "wb") as f:
                    f.write(data)

    timed = median_seconds({"plain": plain, "ours": commit}, repeats, 1)
    floor, ours = timed["plain"], timed["ours"]
    return [
        (f"directory {files} x 64 KiB, plain writes (floor)", floor, 1.0),
        (f"directory {files} x 64 KiB, writer(), durable=False", ours, ours / floor),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Commit-path benchmarks")
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    args = parser.parse_args(argv)
    repeats, inner, files = (5, 50, 100) if args.quick else (15, 300, 1000)
    root = tempfile.mkdtemp(prefix="targets-bench-")
    try:
        print("| scenario | median per commit | ratio to floor |")
        print("|---|---:|---:|")
        steps = [
            lambda: file_scenarios(root, repeats, inner),
            lambda: directory_scenarios(root, repeats, files),
        ]
        for n, step in enumerate(steps, 1):
            print(f"  running step {n}/{len(steps)}...", file=sys.stderr, flush=True)
            for name, seconds, ratio in step():
                print(f"| {name} | {seconds * 1e6:,.0f} µs | {ratio:.2f}x |", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
