"""Many tasks, one directory output: a job through a process pool, against its baselines.

    python -m bench.jobs                  # 64 tasks x 8 MiB and 256 tasks x 64 KiB, on the
                                          # local disk and on S3 (moto, in a process of its own)
    python -m bench.jobs --scale 0.02     # the same with fewer, smaller tasks (tests)
    python -m bench.jobs --docs           # also rewrite the job results in docs/performance.md

``TARGETS_BENCH_JOB_SCALE`` sets ``--scale`` too. Each task writes one file; the tasks run in
a `concurrent.futures.ProcessPoolExecutor` of ``--workers`` (default 2) processes started
with ``spawn``, warmed up (imports, clients) before anything is timed. Three paths write
the same bytes, taking turns in every round:

- **targets job**: ``job = DirectoryTarget(url + "/", checksums=False).job()`` (and
  ``durable=False`` locally: like the floor, no hash and no fsync); each task unpickles the
  job, writes its file in ``with job.task(i) as t: t.open(name, "wb")`` and returns
  ``t.record``; the driver calls ``job.commit(records)``.
- **targets job + sha256**: the same with the default ``checksums=True`` (each file's
  sha256 in the manifest): what the hash costs.
- **plain writes (unsafe floor)**: each task writes straight to the final prefix with the
  store's fsspec filesystem (s3fs; ``open`` locally). Readers may see a partial output.
- **staging + copy**: each task writes under a staging prefix with the same client; the
  driver lists it, copies every object to the final prefix (a server-side ``CopyObject``
  on S3, 16 at a time; a byte copy locally) and deletes the staging.

What is reported, per scenario, store and path: the end-to-end time (median over
``--repeats`` rounds, from the driver's first call to the output being complete); the
commit step (the driver's time after the last task returned); the driver's peak memory
growth (Linux ``VmHWM``, as in `bench._run`); and on S3, from one more run of each path
through a `bench._proxy.CountingProxy`, the requests by type (tasks and driver together)
and the bytes the server copied. Ratios are taken within the run: job / floor and
staging-copy / job.

On S3, for files that travel as multipart uploads (over the inline limit), the run also
times each request kind alone on the server (``PutObject``, ``CreateMultipartUpload``,
``UploadPart``, ``CompleteMultipartUpload``, ``CopyObject``; median of a few, one at a
time) and reports the best ratios any write that stays invisible until the commit could
reach on that server: (create + part + complete) / put against the floor, and
(put + copy) / (create + part + complete) for staging + copy.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

KiB, MiB = 1 << 10, 1 << 20
BUCKET = "bench"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START = "<!-- bench:jobs:start -->"
END = "<!-- bench:jobs:end -->"
JOB, FLOOR, COPY = "targets job", "plain writes (unsafe floor)", "staging + copy"
JOB_SUMS = "targets job + sha256"
PATHS = (JOB, JOB_SUMS, FLOOR, COPY)
COPY_THREADS = 16
"""The staging path's copies in flight: the concurrency `targets` publishes with."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    key: str
    tasks: int
    size: int
    """Bytes of the one file each task writes."""

    @property
    def title(self) -> str:
        return f"{self.tasks} tasks x {_human_bytes(self.size)}"


def scenarios(scale: float = 1.0) -> list[Scenario]:
    """The two scenarios, with task counts and sizes multiplied by ``scale`` (at least 2
    tasks of 1 KiB)."""

    def scaled(key: str, tasks: int, size: int) -> Scenario:
        return Scenario(key, max(2, round(tasks * scale)), max(KiB, int(size * scale)))

    return [scaled("jobs-64x8MiB", 64, 8 * MiB), scaled("jobs-256x64KiB", 256, 64 * KiB)]


@dataclasses.dataclass
class Result:
    scenario: Scenario
    store: str
    path: str
    seconds: float
    commit: float
    peak: int
    requests: dict[str, int] | None = None
    copied: int | None = None


@dataclasses.dataclass
class Bound:
    """What the job's unavoidable steps cost here, alone (ms, median), for one scenario; and
    the best ratios that allows.

    On S3 (files that travel as multipart uploads): one request of each kind, and the
    completions sent `COPY_THREADS` at a time. A deferred upload per file stands against
    the floor's one PUT: the best job is the floor's time scaled by (create + part) / put,
    for the tasks, plus the completions, which must wait for every task. Locally: each
    file's share of one listing of the directory holding them (the tasks create their
    files where the commit keeps them, and the commit lists that tree once to find the
    files no chosen record claims); the best job is the floor's time plus that listing."""

    scenario: Scenario
    store: str
    ms: dict[str, float]

    def best(self, floor: float, copy: float) -> tuple[float, float]:
        """(least job / floor, most staging-copy / job), given the measured floor and
        staging-copy end-to-end seconds."""
        n = self.scenario.tasks
        if self.store == "local":
            job = floor + n * self.ms["list"] / 1e3
        else:
            # The tasks' create + part run as the floor's PUTs do; the completions wait for
            # every task, in flight as the commit sends them.
            tasks = floor * (self.ms["create"] + self.ms["part"]) / self.ms["put"]
            job = tasks + n * self.ms["complete_batch"] / 1e3
        return job / floor, copy / job


# -- the stores, as the driver and the tasks see them ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Store:
    """Where outputs go, and how a process reaches it (picklable: sent to the tasks)."""

    name: str
    """``local`` or ``s3``."""
    root: str
    """A directory path (local) or an ``s3://bucket/prefix`` URL under which batches go."""
    options: dict[str, Any]
    """Storage options for `targets` and for s3fs (S3), with the credentials of the
    test server (dummy ones)."""

    def batch(self) -> str:
        url = f"{self.root}/batch-{uuid.uuid4().hex[:10]}"
        if self.name == "local":
            os.makedirs(url)
        return url

    def target_options(self, checksums: bool = False) -> dict[str, Any]:
        """Options for `targets`: like the floor, no sha256 unless ``checksums`` and, locally,
        ``durable=False`` (no fsync)."""
        local = {"durable": False} if self.name == "local" else dict(self.options)
        return {**local, "checksums": checksums}


_clients: dict[tuple[str, str], Any] = {}
_payloads: dict[int, bytes] = {}


def _client(store: Store) -> Any:
    """This process's fsspec filesystem on ``store`` (made once)."""
    key = (store.name, json.dumps(store.options, sort_keys=True))
    if key not in _clients:
        if store.name == "local":
            import fsspec.implementations.local

            _clients[key] = fsspec.implementations.local.LocalFileSystem()
        else:
            import s3fs

            _clients[key] = s3fs.S3FileSystem(
                **store.options, skip_instance_cache=True, use_listings_cache=False
            )
    return _clients[key]


def _boto(store: Store) -> Any:
    import boto3

    o = store.options
    return boto3.client(
        "s3",
        endpoint_url=o["endpoint_url"],
        region_name=o["client_kwargs"]["region_name"],
        aws_access_key_id=o["key"],
        aws_secret_access_key=o["secret"],
    )


def _payload(size: int) -> bytes:
    """The bytes every task writes (made once per process and size)."""
    if size not in _payloads:
        _payloads[size] = os.urandom(size)
    return _payloads[size]


def _name(task: int) -> str:
    return f"part-{task:05d}.bin"


# -- task bodies (run in the pool's processes) -------------------------------------------------


def warm(store: Store, size: int) -> int:
    """Import what the tasks use and make this process's client; return the pid."""
    import targets  # noqa: F401

    _client(store)
    _payload(size)
    time.sleep(0.2)  # so that every worker of the pool gets one
    return os.getpid()


def task_job(job: Any, task: int, size: int) -> Any:
    """One task of the job: one file by name; the record goes back to the driver."""
    with job.task(task) as t, t.open(_name(task), "wb") as f:
        f.write(_payload(size))
    return t.record


def task_plain(store: Store, base: str, task: int, size: int) -> str:
    """One task writing its file straight under ``base`` with the store's own client."""
    path = f"{base}/{_name(task)}"
    if store.name == "local":
        with open(path, "wb") as f:
            f.write(_payload(size))
    else:
        _client(store).pipe_file(path, _payload(size))
    return path


# -- the paths (run in the driver) -------------------------------------------------------------


def _gather(futures: list[concurrent.futures.Future[Any]]) -> list[Any]:
    return [f.result() for f in futures]


def run_job(
    pool: Any, store: Store, url: str, s: Scenario, mark: Callable[[], None], sums: bool = False
) -> None:
    import targets

    d = targets.DirectoryTarget(url + "/", **store.target_options(checksums=sums))
    job = d.job()
    records = _gather([pool.submit(task_job, job, i, s.size) for i in range(s.tasks)])
    mark()
    job.commit(records)


def run_floor(pool: Any, store: Store, url: str, s: Scenario, mark: Callable[[], None]) -> None:
    if store.name == "local":
        os.makedirs(url)
    _gather([pool.submit(task_plain, store, url, i, s.size) for i in range(s.tasks)])
    mark()


def run_copy(pool: Any, store: Store, url: str, s: Scenario, mark: Callable[[], None]) -> None:
    staging = url + ".staging"
    if store.name == "local":
        os.makedirs(staging)
    _gather([pool.submit(task_plain, store, staging, i, s.size) for i in range(s.tasks)])
    mark()
    if store.name == "local":
        os.makedirs(url)
        names = sorted(os.listdir(staging))
        with concurrent.futures.ThreadPoolExecutor(COPY_THREADS) as threads:
            done = threads.map(lambda n: shutil.copyfile(f"{staging}/{n}", f"{url}/{n}"), names)
            list(done)
        shutil.rmtree(staging)
        return
    client = _boto(store)
    bucket, _, prefix = staging.removeprefix("s3://").partition("/")
    final = url.removeprefix(f"s3://{bucket}/")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    keys = [o["Key"] for p in pages for o in p.get("Contents", []) or []]

    def copy(key: str) -> None:
        dst = f"{final}/{key[len(prefix) + 1 :]}"
        client.copy_object(Bucket=bucket, Key=dst, CopySource={"Bucket": bucket, "Key": key})

    with concurrent.futures.ThreadPoolExecutor(COPY_THREADS) as threads:
        list(threads.map(copy, keys))
    for i in range(0, len(keys), 1000):
        objects = [{"Key": k} for k in keys[i : i + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": objects})


def run_job_sums(pool: Any, store: Store, url: str, s: Scenario, mark: Callable[[], None]) -> None:
    run_job(pool, store, url, s, mark, sums=True)


RUNNERS: dict[str, Callable[[Any, Store, str, Scenario, Callable[[], None]], None]] = {
    JOB: run_job,
    JOB_SUMS: run_job_sums,
    FLOOR: run_floor,
    COPY: run_copy,
}


# -- measuring ---------------------------------------------------------------------------------


def _remove(store: Store, batch: str) -> None:
    if store.name == "local":
        shutil.rmtree(batch, ignore_errors=True)
        return
    client = _boto(store)
    prefix = batch.removeprefix(f"s3://{BUCKET}/") + "/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    for page in pages:
        keys = [{"Key": o["Key"]} for o in page.get("Contents", []) or []]
        if keys:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})


def _one(pool: Any, store: Store, path: str, s: Scenario) -> tuple[float, float, int]:
    """Run ``path`` once into a fresh batch: (seconds, commit seconds, peak memory)."""
    from bench._run import _memory

    batch = store.batch()
    try:
        marked: list[float] = []
        baseline = _memory.start()
        started = time.perf_counter()
        RUNNERS[path](pool, store, f"{batch}/out", s, lambda: marked.append(time.perf_counter()))
        ended = time.perf_counter()
        peak = _memory.peak_above(baseline)
    finally:
        _remove(store, batch)
    return ended - started, ended - marked[0], peak


def _count(
    pool: Any, store: Store, proxy: Any, path: str, s: Scenario
) -> tuple[dict[str, int], int]:
    batch = store.batch()
    try:
        proxy.reset()
        RUNNERS[path](pool, store, f"{batch}/out", s, lambda: None)
        return proxy.snapshot()
    finally:
        _remove(store, batch)


def measure(
    pool: Any,
    store: Store,
    counted: tuple[Store, Any] | None,
    s: Scenario,
    repeats: int,
    say: Callable[[str], None],
    warmups: int = 1,
) -> list[Result]:
    """Every path of ``s`` on ``store``, taking turns in each of ``repeats`` rounds after
    ``warmups`` untimed runs each (and counted once through ``counted``'s proxy, when
    given)."""
    for _ in range(warmups):
        for path in PATHS:
            say(f"{s.title}, {store.name}: warm-up {path}")
            _one(pool, store, path, s)
    samples: dict[str, list[tuple[float, float, int]]] = {p: [] for p in PATHS}
    for r in range(repeats):
        for path in PATHS:
            say(f"{s.title}, {store.name}: {path} ({r + 1}/{repeats})")
            samples[path].append(_one(pool, store, path, s))
    results = []
    for path in PATHS:
        runs = samples[path]
        result = Result(
            s,
            store.name,
            path,
            seconds=statistics.median(x for x, _, _ in runs),
            commit=statistics.median(c for _, c, _ in runs),
            peak=int(statistics.median(p for _, _, p in runs)),
        )
        if counted is not None:
            say(f"{s.title}, {store.name}: counting {path}")
            if path == JOB:  # the once-per-bucket probe of conditional writes, uncounted
                _count(pool, counted[0], counted[1], path, Scenario("warm", 2, KiB))
            result.requests, result.copied = _count(pool, counted[0], counted[1], path, s)
        elif store.name == "local":
            result.copied = s.tasks * s.size if path == COPY else 0
        results.append(result)
    return results


def _listing_cost(store: Store, s: Scenario) -> Bound:
    """One file's share of listing a directory of ``s.tasks`` files of ``s``'s size, median
    of 5 runs, as the job's commit lists its closed tree."""
    batch = store.batch()
    runs = []
    try:
        for r in range(5):
            tree = f"{batch}/tree-{r}"
            os.makedirs(tree)
            for i in range(s.tasks):
                with open(f"{tree}/{_name(i)}", "wb") as f:
                    f.write(_payload(s.size))
            started = time.perf_counter()
            listed = os.listdir(tree)
            runs.append((time.perf_counter() - started) * 1e3 / s.tasks)
            assert len(listed) == s.tasks
    finally:
        _remove(store, batch)
    return Bound(s, store.name, {"list": statistics.median(runs)})


def server_costs(store: Store, s: Scenario, repeats: int = 5) -> Bound | None:
    """Time each request kind alone on ``store``'s server, for files of ``s``'s size; None
    where a job's file travels inline in its record (no deferred upload to weigh)."""
    from targets.fs.objectstore.job import INLINE_FILE_MAX

    if store.name == "local":
        return _listing_cost(store, s)
    if store.name != "s3" or s.size <= INLINE_FILE_MAX:
        return None
    client, data = _boto(store), _payload(s.size)
    bucket, _, prefix = store.batch().removeprefix("s3://").partition("/")
    samples: dict[str, list[float]] = {}

    def timed(kind: str, call: Callable[..., Any], **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = call(Bucket=bucket, **kwargs)
        samples.setdefault(kind, []).append((time.perf_counter() - started) * 1e3)
        return out

    try:
        for i in range(repeats):
            key = f"{prefix}/probe-{i}"
            timed("put", client.put_object, Key=key, Body=data)
            up = {"Key": key + ".mp"}
            up["UploadId"] = timed("create", client.create_multipart_upload, **up)["UploadId"]
            etag = timed("part", client.upload_part, PartNumber=1, Body=data, **up)["ETag"]
            parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
            timed("complete", client.complete_multipart_upload, MultipartUpload=parts, **up)
            source = {"Bucket": bucket, "Key": key}
            timed("copy", client.copy_object, Key=key + ".cp", CopySource=source)
        ms = {k: statistics.median(v) for k, v in samples.items()}
        ms["complete_batch"] = _completes_in_flight(client, bucket, f"{prefix}/batch", data)
    finally:
        _remove(store, f"s3://{bucket}/{prefix}")
    return Bound(s, store.name, ms)


def _completes_in_flight(client: Any, bucket: str, prefix: str, data: bytes) -> float:
    """Milliseconds per completion when `COPY_THREADS` uploads of ``data`` are completed at
    once, as a job's commit sends them (its concurrency is the same)."""
    uploads = []
    for i in range(COPY_THREADS):
        key = f"{prefix}-{i}"
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=data)[
            "ETag"
        ]
        uploads.append((key, upload, etag))

    def complete(u: tuple[str, str, str]) -> None:
        key, upload, etag = u
        parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload=parts
        )

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(COPY_THREADS) as threads:
        list(threads.map(complete, uploads))
    return (time.perf_counter() - started) * 1e3 / len(uploads)


# -- the stores and the pool -------------------------------------------------------------------


@contextlib.contextmanager
def stores(wanted: list[str], local_root: str | None) -> Iterator[list[tuple[Store, Any]]]:
    """(store, its counted twin and proxy, or None), servers started here."""
    from bench._proxy import CountingProxy, s3_kind

    with contextlib.ExitStack() as stack:
        out: list[tuple[Store, Any]] = []
        if "local" in wanted:
            root = tempfile.mkdtemp(prefix="targets-bench-jobs-", dir=local_root)
            stack.callback(shutil.rmtree, root, True)
            out.append((Store("local", root, {}), None))
        if "s3" in wanted:
            from targets.testing import servers

            s3 = stack.enter_context(servers.moto_server(buckets=[BUCKET], separate_process=True))
            admin = s3.client()

            def size(path: str) -> int:
                bucket, _, key = path.lstrip("/").partition("/")
                return int(admin.head_object(Bucket=bucket, Key=key)["ContentLength"])

            proxy = stack.enter_context(CountingProxy(s3.endpoint, s3_kind, size))
            run = uuid.uuid4().hex[:8]
            direct = Store("s3", f"s3://{BUCKET}/jobs-{run}", s3.options())
            through = Store(
                "s3",
                f"s3://{BUCKET}/jobs-counted-{run}",
                {**s3.options(), "endpoint_url": proxy.endpoint},
            )
            out.append((direct, (through, proxy)))
        yield out


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """``workers`` processes started with ``spawn`` (no state inherited from the driver
    but its environment, which holds the test server's dummy credentials)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield pool


# -- the report --------------------------------------------------------------------------------


def _human_bytes(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:,.1f} {unit}".replace(".0 ", " ")
    return f"{n:,.0f} B"


def _seconds(s: float) -> str:
    return f"{s:,.2f} s" if s >= 1 else f"{s * 1e3:,.0f} ms"


def _kinds(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "—"
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _find(results: list[Result], s: Scenario, store: str, path: str) -> Result | None:
    for r in results:
        if r.scenario == s and r.store == store and r.path == path:
            return r
    return None


def ratios(results: list[Result], s: Scenario, store: str) -> tuple[float, float] | None:
    """(job / floor, staging-copy / job) end to end, or None if a path is missing."""
    job, floor, copy = (_find(results, s, store, p) for p in (JOB, FLOOR, COPY))
    if job is None or floor is None or copy is None:
        return None
    return job.seconds / floor.seconds, copy.seconds / job.seconds


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | store | path | time | x floor | commit step | driver memory | requests "
        "| copied server-side |",
        "|---|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        floor = _find(results, r.scenario, r.store, FLOOR)
        x = f"{r.seconds / floor.seconds:.2f}x" if floor and floor.seconds else "—"
        copied = "—" if r.copied is None else _human_bytes(r.copied)
        lines.append(
            f"| {r.scenario.title} | {r.store} | {r.path} | {_seconds(r.seconds)} | {x} "
            f"| {_seconds(r.commit)} | {_human_bytes(r.peak)} | {_kinds(r.requests)} "
            f"| {copied} |"
        )
    return "\n".join(lines)


def _bound(bounds: list[Bound], s: Scenario, store: str) -> Bound | None:
    return next((b for b in bounds if b.scenario == s and b.store == store), None)


def verdicts(results: list[Result], bounds: list[Bound] | None = None) -> str:
    """The issue's targets, met or not; where the server's own request costs rule a target
    out for any write invisible until the commit, the best ratio they allow."""
    lines = ["| target | measured | met | best possible here |", "|---|---|---|---|"]
    seen = {(r.scenario, r.store) for r in results}
    for s, store in sorted(seen, key=lambda k: (k[1], k[0].key)):
        pair = ratios(results, s, store)
        if pair is None:
            continue
        x_floor, x_copy = pair
        bound = _bound(bounds or [], s, store)
        floor, copy = (_find(results, s, store, p) for p in (FLOOR, COPY))
        best = (
            None
            if bound is None or not floor or not copy
            else bound.best(floor.seconds, copy.seconds)
        )
        best_floor = "—" if best is None else f"{best[0]:.2f}x"
        best_copy = "—" if best is None else f"{best[1]:.2f}x"
        where = f"{store} job, {s.title}"
        lines.append(
            f"| {where}: ≤ 1.2x the unsafe floor | {x_floor:.2f}x | "
            f"{'met' if x_floor <= 1.2 else 'NOT met'} | {best_floor} |"
        )
        lines.append(
            f"| {where}: ≥ 2x faster than staging + copy | {x_copy:.2f}x | "
            f"{'met' if x_copy >= 2 else 'NOT met'} | {best_copy} |"
        )
        job = _find(results, s, store, JOB)
        if job is not None and job.copied is not None:
            lines.append(
                f"| {where}: 0 bytes copied | {_human_bytes(job.copied)} | "
                f"{'met' if job.copied == 0 else 'NOT met'} | — |"
            )
    return "\n".join(lines)


def costs(bounds: list[Bound]) -> str:
    """The unavoidable steps alone, per scenario: S3 requests, or a local listing."""
    s3 = [b for b in bounds if b.store == "s3"]
    local = [b for b in bounds if b.store == "local"]
    lines: list[str] = []
    if s3:
        kinds = ("put", "create", "part", "complete", "copy", "complete_batch")
        names = (
            "PutObject | CreateMultipartUpload | UploadPart | CompleteMultipartUpload | "
            f"CopyObject | CompleteMultipartUpload, {COPY_THREADS} in flight"
        )
        lines += [
            "Each request alone on the S3 server (median of 5, one at a time; the last column "
            f"per completion with {COPY_THREADS} sent at once), for files that travel as "
            "multipart uploads:",
            "",
            f"| file size | {names} |",
            "|---|" + "---:|" * len(kinds),
        ]
        for b in s3:
            cells = " | ".join(f"{b.ms[k]:.1f} ms" for k in kinds)
            lines.append(f"| {_human_bytes(b.scenario.size)} | {cells} |")
    if local:
        lines += [
            *([""] if lines else []),
            "Each file's share of listing the closed tree on the local disk (the commit's one "
            "unavoidable step that grows with the files; median of 5 runs over as many files "
            "as the scenario has):",
            "",
            "| scenario | listing, per file |",
            "|---|---:|",
        ]
        lines += [f"| {b.scenario.title} | {b.ms['list'] * 1e3:.2f} µs |" for b in local]
    return "\n".join(lines)


def to_json(results: list[Result], bounds: list[Bound]) -> dict[str, Any]:
    return {
        "results": [dataclasses.asdict(r) for r in results],
        "bounds": [dataclasses.asdict(b) for b in bounds],
    }


def from_json(doc: dict[str, Any]) -> tuple[list[Result], list[Bound]]:
    results = [Result(**{**d, "scenario": Scenario(**d["scenario"])}) for d in doc["results"]]
    bounds = [Bound(**{**d, "scenario": Scenario(**d["scenario"])}) for d in doc["bounds"]]
    return results, bounds


def _report_text(results: list[Result], bounds: list[Bound]) -> list[str]:
    out = [verdicts(results, bounds), "", table(results)]
    if bounds:
        out += ["", costs(bounds)]
    return out


def write_docs(results: list[Result], bounds: list[Bound], workers: int) -> None:
    path = os.path.join(ROOT, "docs", "performance.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    import platform

    block = "\n".join(
        [
            START,
            f"Measured with `python -m bench.jobs` on {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{workers} worker processes (spawn); S3 is moto on 127.0.0.1.",
            "",
            *_report_text(results, bounds),
            END,
        ]
    )
    if START in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Jobs: many tasks, one output\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.jobs", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("TARGETS_BENCH_JOB_SCALE", "1")),
        help="multiply task counts and sizes (default 1, or TARGETS_BENCH_JOB_SCALE)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument(
        "--warmups", type=int, default=1, help="untimed runs of each path first (default 1)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backends", default="local,s3", help="comma-separated: local, s3")
    parser.add_argument("--local-root", default=None)
    parser.add_argument("--docs", action="store_true", help="rewrite the job results in docs")
    parser.add_argument("--json", metavar="FILE", help="also write the results there")
    parser.add_argument(
        "--render", metavar="FILE", help="measure nothing: report what --json wrote"
    )
    args = parser.parse_args(argv)
    if args.render:
        with open(args.render, encoding="utf-8") as f:
            return report(*from_json(json.load(f)), args.docs, args.workers)

    def say(what: str) -> None:
        print(f"[jobs] {what}", file=sys.stderr, flush=True)

    results: list[Result] = []
    bounds: list[Bound] = []
    plan = scenarios(args.scale)
    with (
        stores(args.backends.split(","), args.local_root) as chosen,
        process_pool(args.workers) as pool,
    ):
        for store, counted in chosen:
            for twin in [store] + ([counted[0]] if counted else []):
                warming = [
                    pool.submit(warm, twin, s.size) for s in plan for _ in range(2 * args.workers)
                ]
                pids = {f.result() for f in warming}
                say(f"warmed {len(pids)} workers on {twin.name}")
            for s in plan:
                results += measure(pool, store, counted, s, args.repeats, say, args.warmups)
                say(f"{s.title}, {store.name}: timing each request kind alone")
                bound = server_costs(store, s)
                if bound is not None:
                    bounds.append(bound)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(to_json(results, bounds), f, indent=1)
    return report(results, bounds, args.docs, args.workers)


def report(results: list[Result], bounds: list[Bound], docs: bool, workers: int) -> int:
    print("## Jobs\n")
    print("\n".join(_report_text(results, bounds)))
    if docs:
        write_docs(results, bounds, workers)
        print("\nwrote docs/performance.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
