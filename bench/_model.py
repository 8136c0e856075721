"""A cost model: measured request counts and copied bytes, projected onto real S3 and GCS.

For one path, the benchmark measures, on the loopback servers, the requests of the commit
step and the bytes copied server-side for directories of N = 1 ... 1000 files. Those grow
linearly: ``requests(N) = fixed + per_file * N`` and ``copied = copy_fraction * bytes``.
The projected commit time of an output of ``N`` files holding ``B`` bytes on a real store
is then::

    latency * (fixed + ceil(per_file * N / concurrency))      request round trips
    + copy_fraction * B / (copy_rate * concurrency)           server-side copying

and never less than ``per_file * N / write_rate`` (the store's request-rate limit). The
client's upload of the data itself is the same for every path and is left out. The store
figures are published ones (`S3`, `GCS`; sources in their docstrings and in
docs/performance.md); ``concurrency`` is how many requests the path's client keeps in
flight during its commit (`CONCURRENCY`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from bench._run import Result


@dataclasses.dataclass(frozen=True)
class StoreFigures:
    name: str
    latency: float
    """Seconds per small request (median)."""
    write_rate: float
    """Write requests per second the store accepts before throttling."""
    copy_rate: float | None
    """Bytes per second of one server-side copy; None: a copy costs one request whatever
    its size."""


S3 = StoreFigures("S3", latency=0.030, write_rate=3500.0, copy_rate=10e6)
"""AWS: small requests have median latencies "in the range of tens of milliseconds" (S3
performance whitepaper, "Timeouts and retries for latency-sensitive applications"): 30 ms
here. At least 3,500 PUT/COPY/POST/DELETE requests per second per partitioned prefix (S3
user guide, "Best practices design patterns: optimizing Amazon S3 performance"). A
server-side copy runs at 6-10 MB/s (Loughran, Blue et al., "A Zero-Rename Committer:
Object-storage as a Destination for Apache Hadoop and Spark", 2017: the measured in-S3 copy
rate): 10 MB/s here, the kinder end."""

GCS = StoreFigures("GCS", latency=0.030, write_rate=1000.0, copy_rate=None)
"""Google publishes no request latency; the S3 figure is assumed. Buckets start at about
1,000 object writes per second (Cloud Storage docs, "Request rate and access distribution
guidelines"). A rewrite within one location and storage class completes in a single
request (JSON API reference, objects.rewrite), so a copy is modelled as one request."""

CONCURRENCY: dict[str, int] = {
    "targets: open() / writer()": 16,  # PUBLISH_THREADS in targets.fs._objectstore
    "targets: temporary_path()": 16,
    "fsspec: temp + mv": 10,  # s3fs/aiobotocore: 10 connections by default
    "fsspec: transaction": 1,  # files are committed one after another
    "fsspec: open() on final path": 1,
    "Luigi: open('w')": 1,
    "Luigi: temporary_path()": 10,  # 100 threads over boto3's 10 connections
    "obstore: put(mode=create)": 1,  # one call per file, as written here
    "obstore: put temp + rename": 1,
    "plain writes (floor)": 1,
}


@dataclasses.dataclass(frozen=True)
class Fit:
    path: str
    backend: str
    fixed: float
    per_file: float
    copy_fraction: float
    concurrency: int

    @property
    def commits(self) -> bool:
        """Whether the path has a commit step at all (plain and per-file writes do not:
        their files are visible as they are written)."""
        return bool(self.fixed or self.per_file)

    def commit_time(self, store: StoreFigures, files: int, size: int) -> float:
        requests = self.fixed + self.per_file * files
        rounds = self.fixed + math.ceil(self.per_file * files / self.concurrency)
        seconds = store.latency * rounds
        copied = self.copy_fraction * files * size
        if copied and store.copy_rate is not None:  # else the copy requests say it all
            seconds += copied / (store.copy_rate * self.concurrency)
        return max(seconds, requests / store.write_rate)


def fit(results: Sequence[Result], backend: str) -> list[Fit]:
    """Per path, the straight line through its commit-step request counts over the
    directory scenarios on ``backend`` (least squares in N), and its copied fraction."""
    by_path: dict[str, list[Result]] = {}
    for r in results:
        if r.backend == backend and r.scenario.kind == "dir" and r.commit_requests is not None:
            by_path.setdefault(r.path.name, []).append(r)
    fits = []
    for name, rs in by_path.items():
        if len(rs) < 2:
            continue
        xs = [float(r.scenario.files) for r in rs]
        ys = [float(r.total_commit_requests or 0) for r in rs]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        written = sum(r.scenario.files * r.scenario.size for r in rs)
        copied = sum(r.copied or 0 for r in rs)
        fits.append(
            Fit(
                name,
                backend,
                fixed=max(0.0, my - slope * mx),
                per_file=max(0.0, slope),
                copy_fraction=copied / written if written else 0.0,
                concurrency=CONCURRENCY.get(name, 1),
            )
        )
    return fits
