"""What committing an output costs on Azure Blob Storage: exact request counts and copied
bytes on the wire, and times, on Azurite (127.0.0.1, started and stopped here).

    python -m bench.azure            # the rows below, with 5 timed repeats each
    python -m bench.azure --quick    # 2 repeats (tests/azure/test_bench_rows.py runs it)

Rows, as bench's verdict table states them for S3 and GCS:

- a single-file commit (1 KiB) is exactly 1 request (a conditional Put Blob);
- a file of 3 blocks is its 3 Put Block requests and 1 conditional Put Block List;
- ``writer()`` with N small files (N = 1, 10, 50 x 64 KiB) is at most N + 3 requests
  (claim, one listing, N puts, ``_SUCCESS``), and the server copies 0 bytes.

Requests are counted by a `targets.testing.proxy.Proxy` in front of Azurite
(`targets.testing.azurite.azure_kind` names them); the once-per-container probe that the
account honours ``If-None-Match`` runs before counting. Times go to Azurite directly and
are Azurite's on this machine (in memory, on loopback): they say nothing of Azure's
latency, which the request counts project onto (`bench._model`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import targets

CONTAINER = "bench"
KiB = 1 << 10
PART = 256 * KiB
"""The block size of the runs (so that a 3-block file stays small)."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One claim about a commit, what was measured, and whether the claim is met."""

    claim: str
    requests: dict[str, int]
    copied: int
    limit: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def met(self) -> bool:
        return self.total <= self.limit and self.copied == 0


def _file(size: int) -> Callable[[str, dict[str, Any]], None]:
    data = b"x" * size

    def write(url: str, options: dict[str, Any]) -> None:
        with targets.FileTarget(url, **options).open("wb") as f:
            f.write(data)

    return write


def _directory(n: int, size: int) -> Callable[[str, dict[str, Any]], None]:
    data = b"r" * size

    def write(url: str, options: dict[str, Any]) -> None:
        with targets.DirectoryTarget(url + "/", **options).writer() as w:
            for i in range(n):
                with w.open(f"part-{i:05d}", "wb") as f:
                    f.write(data)

    return write


def _cases() -> list[tuple[str, Callable[[str, dict[str, Any]], None], int]]:
    """(claim, what to write, the most requests it may take)."""
    cases = [
        ("azure single-file commit (1KiB): exactly 1 request", _file(KiB), 1),
        ("azure file of 3 blocks: 3 Put Block + 1 Put Block List", _file(2 * PART + 3), 4),
    ]
    for n in (1, 10, 50):
        cases.append(
            (
                f"azure writer(), {n} x 64 KiB: ≤ N + 3 = {n + 3} requests",
                _directory(n, 64 * KiB),
                n + 3,
            )
        )
    return cases


@contextlib.contextmanager
def _azurite() -> Iterator[tuple[dict[str, Any], dict[str, Any], Any]]:
    """(direct options, counted options, the counting proxy), on a fresh Azurite."""
    from targets.testing.azurite import azure_kind
    from targets.testing.proxy import Proxy
    from targets.testing.servers import azurite_server

    with azurite_server(containers=[CONTAINER]) as server:
        admin = server.client()

        def size_of(path: str) -> int:
            _, container, blob = path.strip("/").split("/", 2)
            return int(admin.get_blob_client(container, blob).get_blob_properties().size)

        with Proxy(f"http://127.0.0.1:{server.port}", azure_kind, size_of) as proxy:
            direct = {**server.options(), "part_size": PART}
            counted = {**server.options(proxy.endpoint), "part_size": PART}
            yield direct, counted, proxy


def measure(repeats: int) -> list[Row]:
    """Every row: counted once through the proxy, timed ``repeats`` times directly."""
    rows = []
    with _azurite() as (direct, counted, proxy):
        base = f"az://{CONTAINER}/run-{uuid.uuid4().hex[:10]}"
        for name, options in (("direct", direct), ("counted", counted)):
            _file(1)(f"{base}/warm-{name}", options)  # the probe: once per account and container
        for number, (claim, write, limit) in enumerate(_cases()):
            proxy.reset()
            write(f"{base}/counted-{number}", counted)
            requests, copied = proxy.snapshot()
            seconds = []
            for repeat in range(repeats):
                start = time.perf_counter()
                write(f"{base}/timed-{number}-{repeat}", direct)
                seconds.append(time.perf_counter() - start)
            rows.append(Row(claim, requests, copied, limit, statistics.median(seconds)))
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| target | measured | verdict | requests by kind | median time |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.requests.items()))
        lines.append(
            f"| {r.claim} | {r.total} ({r.copied} B copied) | {'met' if r.met else 'NOT MET'} "
            f"| {kinds} | {r.seconds * 1000:.1f} ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.azure", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 timed repeats instead of 5")
    args = parser.parse_args(argv)
    try:
        rows = measure(2 if args.quick else 5)
    except Exception as exc:  # Azurite missing: say how to get it
        from targets.testing.azurite import AzuriteUnavailable

        if not isinstance(exc, AzuriteUnavailable):
            raise
        print(f"Azure skipped: {exc}", file=sys.stderr)
        return 0
    print("## Azure (Azurite on loopback)\n")
    print(table(rows))
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
