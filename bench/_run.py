"""Scenarios, and how each path is measured in them.

For every scenario, backend and path:

- **wall time**: the median, over ``repeats`` rounds, of the mean time of ``inner`` outputs
  written one after another (each to a fresh name). The paths take turns within every
  round, so slow drift of the machine (page cache, server memory) affects them alike.
- **commit step**: the part of that time after the last byte was handed to the client
  (see `bench._paths.Job.mark`), median likewise.
- **peak memory**: how far this process's peak resident size (Linux ``VmHWM``, reset
  through ``/proc/self/clear_refs`` before each output) rose above its size before the
  output; median over the timed outputs. The servers run in other processes and are not
  counted.
- **requests** and **bytes copied server-side**: one more output written through a
  `bench._proxy.CountingProxy`, split at ``mark`` into the write phase and the commit
  step. Every path has written one uncounted output through the proxy before, so a
  client's one-time requests (this library's once-per-bucket probe of conditional
  writes) are not charged to every commit.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench._paths import PATHS, Job, Path
from bench._proxy import CountingProxy
from bench._stores import Backend

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclasses.dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    kind: str
    """``file``, ``dir``, ``parquet`` or ``big`` (one large file through ``writer()``,
    written in 8 MiB chunks)."""
    size: int
    """Bytes per file; rows for ``parquet``."""
    files: int = 1
    repeats: int = 3
    inner: dict[str, int] = dataclasses.field(default_factory=dict)
    """Outputs per round, per backend (default 1)."""
    backends: tuple[str, ...] = ("local", "s3", "gcs")
    paths: tuple[str, ...] | None = None
    """Only these paths (by name); all that apply when None."""
    count: bool = True
    """Whether to count requests (one more output per path, through the proxy)."""

    def paths_for(self, backend: Backend) -> list[Path]:
        chosen = [p for p in PATHS if self.paths is None or p.name in self.paths]
        kind = "dir" if self.kind == "big" else self.kind
        return [p for p in chosen if p.applies(backend, kind)]


@dataclasses.dataclass
class Result:
    scenario: Scenario
    backend: str
    path: Path
    seconds: float
    commit: float
    peak: int
    requests: dict[str, int] | None = None
    commit_requests: dict[str, int] | None = None
    copied: int | None = None

    @property
    def total_requests(self) -> int | None:
        return None if self.requests is None else sum(self.requests.values())

    @property
    def total_commit_requests(self) -> int | None:
        return None if self.commit_requests is None else sum(self.commit_requests.values())


def to_json(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Results as JSON-ready dicts (paths by name), for `from_json`."""
    out = []
    for r in results:
        doc = dataclasses.asdict(r)
        doc["path"] = r.path.name
        out.append(doc)
    return out


def from_json(docs: Sequence[dict[str, Any]]) -> list[Result]:
    """The results `to_json` wrote (with this version's paths, matched by name)."""
    by_name = {p.name: p for p in PATHS}
    results = []
    for doc in docs:
        fields = dict(doc)
        scenario = dict(fields.pop("scenario"))
        if scenario.get("paths") is not None:
            scenario["paths"] = tuple(scenario["paths"])
        scenario["backends"] = tuple(scenario["backends"])
        fields["path"] = by_name[fields["path"]]
        results.append(Result(scenario=Scenario(**scenario), **fields))
    return results


def payload(scenario: Scenario) -> Any:
    """The data every path writes in ``scenario`` (the same object for all of them)."""
    if scenario.kind == "parquet":
        import numpy as np
        import pyarrow as pa

        rng = np.random.default_rng(0)
        n = scenario.size
        regions = np.array(["north", "south", "east", "west", "centre", "isles", "coast", "hills"])
        return pa.table(
            {
                "id": np.arange(n, dtype=np.int64),
                "amount": rng.random(n),
                "region": regions[rng.integers(0, len(regions), n)],
            }
        )
    if scenario.kind == "big":
        return os.urandom(min(scenario.size, 8 * MiB))
    return os.urandom(scenario.size)


class _Memory:
    """Peak resident size of this process during one output (Linux only; 0 elsewhere)."""

    def __init__(self) -> None:
        self.ok = os.path.exists("/proc/self/clear_refs")

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        return 0

    def start(self) -> int:
        if not self.ok:
            return 0
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            self.ok = False
            return 0
        return self._status("VmRSS:")

    def peak_above(self, baseline: int) -> int:
        return max(0, self._status("VmHWM:") - baseline) if self.ok else 0


_memory = _Memory()


def _job(backend: Backend, scenario: Scenario, batch: str, n: int, data: Any) -> Job:
    kind = scenario.kind
    files = scenario.files
    if kind == "big":
        kind, files = "big", max(1, scenario.size // len(data))
    return Job(backend, kind, f"{batch}/out-{n}", data, files, lambda: None)


def _one(path: Path, job: Job) -> tuple[float, float, int]:
    """Write one output; (seconds, seconds after ``mark``, peak memory growth)."""
    marked: list[float] = []
    job.mark = lambda: marked.append(time.perf_counter())
    baseline = _memory.start()
    started = time.perf_counter()
    path.write(job)
    ended = time.perf_counter()
    peak = _memory.peak_above(baseline)
    commit = ended - (marked[0] if marked else ended)
    return ended - started, commit, peak


def _count(
    path: Path, backend: Backend, proxy: CountingProxy, scenario: Scenario, data: Any
) -> tuple[dict[str, int], dict[str, int], int]:
    """(requests of the whole output, requests of its commit step, bytes copied)."""
    batch = backend.new_batch()
    try:
        proxy.reset()
        job = _job(backend, scenario, batch, 1, data)
        at_mark: list[dict[str, int]] = []
        job.mark = lambda: at_mark.append(proxy.snapshot()[0])
        path.write(job)
        total, copied = proxy.snapshot()
    finally:
        backend.remove_batch(batch)
    before = at_mark[0] if at_mark else total
    commit = {k: v - before.get(k, 0) for k, v in total.items() if v - before.get(k, 0)}
    return total, commit, copied


def measure(
    scenario: Scenario,
    backend: Backend,
    counted: tuple[Backend, CountingProxy] | None,
    tick: Callable[[str], None],
    warmed: set[tuple[int, str, str]],
) -> list[Result]:
    """Every applicable path of ``scenario`` on ``backend``, timed (and counted through
    ``counted``, the same store behind a proxy, when given). A path writes one untimed,
    uncounted output first on each backend and for each kind of output (imports, clients,
    connections, this library's once-per-bucket probe); ``warmed`` remembers which."""
    data = payload(scenario)
    paths = scenario.paths_for(backend)
    inner = scenario.inner.get(backend.name, 1)
    targets = [backend] if counted is None else [backend, counted[0]]
    for path in paths:
        tick(f"{scenario.title}, {backend.name}: warm-up {path.name}")
        for b in targets:
            if (id(b), path.name, scenario.kind) in warmed:
                continue
            warmed.add((id(b), path.name, scenario.kind))
            batch = b.new_batch()
            try:
                path.write(_job(b, scenario, batch, 0, data))
            finally:
                b.remove_batch(batch)
    samples: dict[str, list[tuple[float, float, int]]] = {p.name: [] for p in paths}
    for r in range(scenario.repeats):
        for path in paths:
            tick(f"{scenario.title}, {backend.name}: {path.name} ({r + 1}/{scenario.repeats})")
            batch = backend.new_batch()
            runs = [_one(path, _job(backend, scenario, batch, n, data)) for n in range(inner)]
            backend.remove_batch(batch)
            samples[path.name].append(
                (
                    statistics.fmean(s for s, _, _ in runs),
                    statistics.fmean(c for _, c, _ in runs),
                    int(statistics.median(p for _, _, p in runs)),
                )
            )
    results = []
    for path in paths:
        rounds = samples[path.name]
        result = Result(
            scenario,
            backend.name,
            path,
            seconds=statistics.median(s for s, _, _ in rounds),
            commit=statistics.median(c for _, c, _ in rounds),
            peak=int(statistics.median(p for _, _, p in rounds)),
        )
        if counted is not None and scenario.count:
            tick(f"{scenario.title}, {backend.name}: counting {path.name}")
            result.requests, result.commit_requests, result.copied = _count(
                path, counted[0], counted[1], scenario, data
            )
        results.append(result)
    return results


def units(scenario: Scenario, backend: Backend, counted: bool) -> int:
    """How many times `measure` calls ``tick`` (for the progress bar)."""
    n = len(scenario.paths_for(backend))
    return n * (1 + scenario.repeats + (1 if counted and scenario.count else 0))


def floor_of(results: Sequence[Result], scenario: Scenario, backend: str) -> Result | None:
    for r in results:
        if r.scenario == scenario and r.backend == backend and r.path.family == "floor":
            return r
    return None
