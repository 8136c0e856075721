"""Soak: concurrent writers and readers of the same outputs, under random faults, on every
backend; each operation recorded, the history checked (history.py).

Per backend and round, 4 outputs (2 files, one of them larger than a multipart part, and 2
directories), each written by 4 writer threads at once and read by 2 reader threads in a
loop. Faults, all from fixed seeds, loopback only:

- at the store seam of every writer (`targets.testing.faults`): each call fails, half
  before it takes effect, half after, with a probability per backend that makes about one
  commit in four meet a fault;
- on the wire for S3 and GCS (`targets.testing.proxy`, between the clients and moto /
  fake-gcs-server): 3% of uploads lose their answer after the server carried them out, 2%
  are cut off after 1,000 bytes; the clients retry as they do (botocore, gcsfs).

After each round: recovery (``recover`` on every output, as an operator would after
interrupted commits), a final read, ``cleanup``; then nothing may be left but committed
outputs. Run it with::

    python -m pytest -m soak tests/soak -s

It is deselected unless ``-m`` names it (see conftest.py). Each backend runs rounds for
``TARGETS_SOAK_SECONDS`` (default 75; the whole soak stays under 10 minutes), at most
``TARGETS_SOAK_ROUNDS``; round n of a backend always uses the same seeds. The printed
summary is what docs/reliability.md reports.
"""

from __future__ import annotations

import collections
import os
import random
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from targets.errors import TargetError
from targets.fs import objectstore as _objectstore
from targets.fs.base import AtomicFS
from targets.testing.faults import Injector
from targets.testing.proxy import Proxy, Request
from targets.testing.worlds import ObjectStoreWorld, World
from tests.faults._worlds import DIRECTORY, FILE_SIZES, open_world, payload
from tests.faults.test_sweep import classify, commit, mine
from tests.soak.history import ABSENT, CORRUPT, ERROR, FAIL, OK, UNKNOWN, History, check

pytestmark = pytest.mark.soak

SECONDS = float(os.environ.get("TARGETS_SOAK_SECONDS", "75"))
ROUNDS = int(os.environ.get("TARGETS_SOAK_ROUNDS", "100000"))
WRITERS = 4
READERS = 2
OUTPUTS = {
    "default": (("f0", "small"), ("f1", "multipart"), ("d0", "directory"), ("d1", "directory")),
    # fake-gcs-server ignores ifGenerationMatch=0 on resumable uploads (real GCS enforces
    # it; tests/gcs/test_server_facts.py): files larger than one part cannot be raced there.
    "gcs": (("f0", "small"), ("f1", "small"), ("d0", "directory"), ("d1", "directory")),
}
SEAM_RATE = {"local": 0.004, "hdfs": 0.01, "s3": 0.025, "gcs": 0.025}
"""Per call; about one commit in four meets a fault (a local directory commit makes ~60
calls, an S3 one ~10)."""
WIRE_LOSE = 0.03
WIRE_CUT = 0.02

SUMMARY = (ABSENT, CORRUPT, ERROR, OK, FAIL, UNKNOWN)

VERDICT = {
    "ok": OK,
    "published": OK,
    "conflict": FAIL,
    "incomplete": FAIL,
    "failed": FAIL,
    "unknown": UNKNOWN,
    "escaped": UNKNOWN,
}


class Soak:
    """One backend: writers' filesystems (faulty), a plain one, the raw view."""

    def __init__(self, world: World, writer_store: Any = None) -> None:
        self.world = world
        self.rate = SEAM_RATE[world.name]
        self.injected: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.writer_store = writer_store
        self.plain = self._fs(Injector(), stale_claim_after=0.0)

    def _fs(self, injector: Injector, stale_claim_after: float) -> AtomicFS:
        if isinstance(self.world, ObjectStoreWorld):
            return self.world.fs(
                injector, store=self.writer_store, stale_claim_after=stale_claim_after
            )
        return self.world.fs(injector)

    def tally(self, injector: Injector) -> None:
        with self._lock:
            self.injected.update(str(c.fault) for c in injector.injected)

    def writer_fs(self, seed: str) -> tuple[AtomicFS, Injector]:
        injector = Injector(rate=self.rate, seed=seed)
        return self._fs(injector, _objectstore.STALE_CLAIM_AFTER), injector


def identify(fs: AtomicFS, world: World, name: str, kind: str, labels: list[str]) -> str:
    """What a reader sees at the output ``name``: absent, a writer's label, or corrupt."""
    path = world.fs_path(name)
    if kind != "directory":
        if not fs.exists(path):
            return ABSENT
        with fs.open_input(path) as f:
            data = f.read()
        for label in labels:
            if data == payload(label, FILE_SIZES[kind]):
                return label
        raise Corrupt(f"{len(data)} bytes, starting {data[:16]!r}")
    if not fs.isfile(fs.join(path, "_SUCCESS")):
        return ABSENT
    contents = {}
    for fname in DIRECTORY:
        with fs.open_input(fs.join(path, fname)) as f:
            contents[fname] = f.read()
    for label in labels:
        if all(contents[f] == payload(f"{label}/{f}", size) for f, size in DIRECTORY.items()):
            return label
    raise Corrupt(f"files of sizes { {f: len(d) for f, d in contents.items()} }")


class Corrupt(Exception):
    """What a reader saw is no writer's complete output."""


def run_round(soak: Soak, history: History, backend: str, n: int, problems: list[str]) -> None:
    world = soak.world
    outputs = OUTPUTS.get(backend, OUTPUTS["default"])
    stop = threading.Event()
    names = {name: f"r{n}-{name}" for name, _ in outputs}
    labels = {name: [f"{names[name]}-w{w}" for w in range(WRITERS)] for name, _ in outputs}

    def write(name: str, kind: str, w: int) -> None:
        label = labels[name][w]
        fs, injector = soak.writer_fs(f"{backend}-{label}")
        op = history.invoke(names[name], "write", f"w{w}", writer=label)
        exc = commit(fs, world.fs_path(names[name]), kind, label)
        soak.tally(injector)
        verdict = classify(exc)
        if verdict == "escaped":
            problems.append(f"{label}: a client exception escaped: {exc!r}")
        history.complete(op, VERDICT[verdict], "" if exc is None else str(exc)[:300])

    def read(name: str, kind: str, r: int) -> None:
        while not stop.is_set():
            op = history.invoke(names[name], "read", f"r{r}")
            try:
                result = identify(soak.plain, world, names[name], kind, labels[name])
            except Corrupt as exc:
                result, op.detail = CORRUPT, str(exc)
            except TargetError as exc:
                result, op.detail = ERROR, f"{type(exc).__name__}: {exc}"[:300]
            history.complete(op, result, op.detail)
            time.sleep(0.002)

    readers = [
        threading.Thread(target=read, args=(name, kind, r))
        for name, kind in outputs
        for r in range(READERS)
    ]
    writers = [
        threading.Thread(target=write, args=(name, kind, w))
        for name, kind in outputs
        for w in range(WRITERS)
    ]
    random.Random(f"{backend}-{n}").shuffle(writers)
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(120)
        assert not t.is_alive(), "a writer hung"
    stop.set()
    for t in readers:
        t.join(30)
    for name, kind in outputs:
        path = world.fs_path(names[name])
        soak.plain.recover(path)
        try:
            final = identify(soak.plain, world, names[name], kind, labels[name])
        except Corrupt as exc:
            final = CORRUPT
            problems.append(f"{backend} {names[name]}: the final output is corrupt: {exc}")
        history.final[names[name]] = final
        soak.plain.cleanup(path, older_than=timedelta(0))
        committed = history.final[names[name]] != ABSENT
        left = [e for e in world.physical() if mine(e, names[name])]
        if committed:
            keep = world.committed_names(names[name], DIRECTORY if kind == "directory" else None)
            left = [e for e in left if e not in keep]
        if left:
            problems.append(f"{backend} {names[name]}: left behind after cleanup: {left}")


def wire_faults(proxy: Proxy, seed: str) -> collections.Counter[str]:
    """Random lost answers and cut-off uploads on the proxy; returns the live tally."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def chance(p: float) -> Any:
        def match(request: Request) -> bool:
            if request.method not in ("PUT", "POST"):
                return False
            with lock:
                return rng.random() < p

        return match

    proxy.lose_response(chance(WIRE_LOSE), times=None)
    proxy.reset_request(chance(WIRE_CUT), after=1000, times=None)
    return collections.Counter()


def through_proxy(backend: str, request: pytest.FixtureRequest) -> tuple[Proxy | None, Any]:
    """For S3 and GCS: a proxy in front of the session's server, and a client of the bucket
    that reaches it through the proxy (the writers' store)."""
    if backend == "s3":
        from targets.fs.s3 import S3FS

        s3 = request.getfixturevalue("s3_server")
        proxy = Proxy(s3["endpoint"])
        through = S3FS(**{**s3["options"], "endpoint_url": proxy.endpoint}).store(s3["bucket"])
        return proxy, through
    if backend == "gcs":
        from gcsfs.core import GCSFileSystem

        from targets.fs.gcs import GCSStore
        from tests.fixtures.gcs import BUCKET

        server = request.getfixturevalue("gcs_server")
        proxy = Proxy(server.endpoint)
        gcs = GCSFileSystem(
            **{**server.options(), "endpoint_url": proxy.endpoint}, skip_instance_cache=True
        )
        return proxy, GCSStore(gcs, BUCKET, part_size=256 << 10)
    return None, None


def soak_backend(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
    with open_world(backend, request, tmp_path) as world:
        proxy, through = through_proxy(backend, request)
        soak = Soak(world, through)
        if proxy is not None:
            wire_faults(proxy, f"wire-{backend}")
        history = History()
        problems: list[str] = []
        started = time.monotonic()
        rounds = 0
        try:
            for n in range(ROUNDS):
                if time.monotonic() - started > SECONDS:
                    break
                run_round(soak, history, backend, n, problems)
                rounds += 1
        finally:
            if proxy is not None:
                proxy.close()
        elapsed = time.monotonic() - started
        counts = collections.Counter(
            f"{op.kind} {op.result if op.result in SUMMARY else 'output'}" for op in history.ops
        )
        errors = [op.detail for op in history.ops if op.result == ERROR]
        winners = sum(1 for v in history.final.values() if v != ABSENT)
        wire = collections.Counter(s.outcome for s in proxy.log) if proxy is not None else {}
        print(
            f"\nsoak {backend}: {rounds} rounds in {elapsed:.0f} s, {len(history.final)} outputs "
            f"({winners} committed), {sum(counts.values())} operations: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + f"; seam faults: {dict(soak.injected)}"
            + (f"; wire: {dict(wire)}" if wire else "")
            + (f"; read errors: {errors[:3]}" if errors else "")
        )
        violations = check(history)
        assert rounds >= 3, f"only {rounds} rounds ran in {SECONDS:.0f} s"
        assert counts["write ok"] >= rounds, "most outputs should commit despite the faults"
        assert not problems, "\n".join(problems[:20])
        assert not violations, "\n".join(violations[:20])


@pytest.mark.parametrize("backend", ["local", "hdfs", "s3", "gcs"])
def test_soak_history_is_linearizable_per_output(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    soak_backend(backend, request, tmp_path)
