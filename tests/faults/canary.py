"""Emulator canaries: before any test relies on the S3 or GCS server, check that the server
enforces exclusive creates on every upload path the tests rely on.

A one-winner test run against a server that ignores ``If-None-Match`` (or
``ifGenerationMatch=0``) would not prove anything, and could even pass. So, once per
session, before the first test that uses the server:

- a double exclusive create of one key must be refused the second time with 412, on each
  path: S3 ``PutObject`` and ``CompleteMultipartUpload``; GCS single-request uploads (the
  only kind fake-gcs-server conditions, and the one every GCS decision point uses: small
  files, claims, ``_SUCCESS``);
- 50 trials of 8 threads racing exclusive creates of one fresh key, per path, must each
  end with exactly one winner.

If a canary fails, every test that uses that server fails at set-up with the canary's
findings, loudly, instead of passing against a server that enforces nothing. This module is
a pytest plugin (registered in the root conftest.py); `check` runs the canary on any
`ObjectStore` and is tested in test_canaries.py.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from targets.fs.objectstore.store import ConditionalConflict, ObjectStore, PreconditionFailed

TRIALS = 50
THREADS = 8

Create = Callable[[ObjectStore, str, bytes], None]
"""One exclusive create of a key by one path (raises PreconditionFailed when refused)."""


def put(store: ObjectStore, key: str, data: bytes) -> None:
    store.put(key, data, metadata={}, if_absent=True)


def multipart(store: ObjectStore, key: str, data: bytes) -> None:
    upload_id = store.create_upload(key, metadata={}, if_absent=True)
    try:
        etag = store.upload_part(key, upload_id, 1, data)
        store.complete_upload(key, upload_id, [(1, etag)], if_absent=True)
    except BaseException:
        store.abort_upload(key, upload_id)
        raise


PATHS: dict[str, dict[str, Create]] = {
    "s3": {"PutObject": put, "CompleteMultipartUpload": multipart},
    "gs": {"single-request upload": put},
}
"""The upload paths whose exclusive creates the tests rely on, per URL scheme."""


@dataclasses.dataclass
class Report:
    """What a canary found: one line per failure, and how much it tried."""

    problems: list[str] = dataclasses.field(default_factory=list)
    doubles: int = 0
    races: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    store: ObjectStore,
    prefix: str,
    paths: dict[str, Create] | None = None,
    *,
    trials: int = TRIALS,
    threads: int = THREADS,
) -> Report:
    """Run the canary on ``store`` under ``prefix`` (its objects are deleted afterwards)."""
    report = Report()
    paths = PATHS[store.scheme] if paths is None else paths
    written: list[str] = []
    try:
        for name, create in paths.items():
            key = f"{prefix}/double-{name}-{uuid.uuid4().hex[:8]}"
            written.append(key)
            create(store, key, b"first")
            report.doubles += 1
            try:
                create(store, key, b"second")
                report.problems.append(
                    f"{name}: a second exclusive create of {store.url(key)} was accepted "
                    "(expected 412 Precondition Failed)"
                )
            except PreconditionFailed:
                pass
            if store.get(key) != b"first":
                report.problems.append(f"{name}: the second create replaced the first")
            lost = _races(store, prefix, name, create, trials, threads, written)
            report.races += trials
            if lost:
                report.problems.append(
                    f"{name}: {len(lost)} of {trials} races of {threads} exclusive creates "
                    f"did not have exactly one winner (winners per race: {lost[:5]})"
                )
    finally:
        for key in written:
            store.delete(key)
    return report


def _races(
    store: ObjectStore,
    prefix: str,
    name: str,
    create: Create,
    trials: int,
    threads: int,
    written: list[str],
) -> list[int]:
    """The winner counts of the races that did not have exactly one winner."""
    bad = []
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for trial in range(trials):
            key = f"{prefix}/race-{name}-{trial}-{uuid.uuid4().hex[:8]}"
            written.append(key)
            barrier = threading.Barrier(threads)

            def attempt(i: int, key: str = key, barrier: threading.Barrier = barrier) -> bool:
                barrier.wait()
                try:
                    create(store, key, f"writer {i}".encode())
                    return True
                except (PreconditionFailed, ConditionalConflict):
                    return False

            winners = sum(pool.map(attempt, range(threads)))
            if winners != 1:
                bad.append(winners)
    return bad


def _fail_loudly(server: str, report: Report) -> None:
    if not report.ok:
        pytest.fail(
            f"EMULATOR CANARY FAILED: {server} does not enforce exclusive creates, so the "
            "one-winner tests (races, conflicts, G3, G7) cannot prove anything against it:\n  "
            + "\n  ".join(report.problems),
            pytrace=False,
        )


@pytest.fixture(scope="session")
def s3_canary(s3_server: dict[str, Any]) -> Report:
    """The canary on the session's moto server (once per session)."""
    from targets.fs.s3 import S3FS

    store = S3FS(**s3_server["options"]).store(s3_server["bucket"])
    report = check(store, f"canary-{uuid.uuid4().hex[:8]}")
    _fail_loudly(f"the moto server at {s3_server['endpoint']}", report)
    return report


@pytest.fixture(scope="session")
def gcs_canary(gcs_server: Any) -> Report:
    """The canary on the session's fake-gcs-server (once per session)."""
    from gcsfs.core import GCSFileSystem

    from targets.fs.gcs import GCSStore
    from tests.fixtures.gcs import BUCKET

    gcs = GCSFileSystem(**gcs_server.options(), skip_instance_cache=True)
    report = check(GCSStore(gcs, BUCKET), f"canary-{uuid.uuid4().hex[:8]}")
    _fail_loudly(f"fake-gcs-server at {gcs_server.endpoint}", report)
    return report


@pytest.fixture(autouse=True)
def _emulator_canaries(request: pytest.FixtureRequest) -> None:
    """Every test that uses a server's fixture first needs that server's canary to pass."""
    names = request.fixturenames
    if "s3_server" in names:
        request.getfixturevalue("s3_canary")
    if "gcs_server" in names:
        request.getfixturevalue("gcs_canary")
