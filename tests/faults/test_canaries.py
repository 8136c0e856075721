"""The emulator canaries (canary.py) pass on the session's servers, and fail, loudly, on a
server that does not enforce exclusive creates."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from targets.testing.objectstore import MemoryObjectStore
from targets.testing.proxy import Proxy, Request
from tests.faults import canary


def test_the_session_servers_pass_their_canaries(s3_canary: Any, gcs_canary: Any) -> None:
    assert s3_canary.ok and gcs_canary.ok
    assert s3_canary.doubles == 2 and s3_canary.races == 2 * canary.TRIALS
    assert gcs_canary.doubles == 1 and gcs_canary.races == canary.TRIALS


def test_a_store_that_ignores_conditions_fails_the_canary() -> None:
    store = MemoryObjectStore("bucket", flavor="s3", honour_conditions=False)
    report = canary.check(store, "c", trials=5)
    assert not report.ok
    assert any("was accepted (expected 412" in p for p in report.problems)
    assert any("did not have exactly one winner" in p for p in report.problems)


def test_a_moto_server_behind_a_proxy_that_drops_if_none_match_fails_the_canary(
    s3_server: dict[str, Any],
) -> None:
    """What a server without conditional writes amounts to: the header never arrives."""
    from targets.fs.s3 import S3FS

    def drop(request: Request) -> None:
        request.headers = {k: v for k, v in request.headers.items() if k != "if-none-match"}

    with Proxy(s3_server["endpoint"]) as proxy:
        proxy.rewrite(lambda r: True, drop)
        options = {**s3_server["options"], "endpoint_url": proxy.endpoint}
        store = S3FS(**options).store(s3_server["bucket"])
        report = canary.check(store, f"c-{uuid.uuid4().hex[:8]}", trials=3)
    assert len(report.problems) >= 2, report
    with pytest.raises(pytest.fail.Exception, match="EMULATOR CANARY FAILED"):
        canary._fail_loudly("the test server", report)


def test_fake_gcs_server_behind_a_proxy_that_drops_the_precondition_fails_the_canary(
    gcs_server: Any,
) -> None:
    from gcsfs.core import GCSFileSystem

    from targets.fs.gcs import GCSStore
    from tests.fixtures.gcs import BUCKET

    def drop(request: Request) -> None:
        request.target = request.target.replace("ifGenerationMatch=0", "")

    with Proxy(gcs_server.endpoint) as proxy:
        proxy.rewrite(lambda r: True, drop)
        options = {**gcs_server.options(), "endpoint_url": proxy.endpoint}
        gcs = GCSFileSystem(**options, skip_instance_cache=True)
        report = canary.check(GCSStore(gcs, BUCKET), f"c-{uuid.uuid4().hex[:8]}", trials=3)
    assert not report.ok
    assert any("was accepted (expected 412" in p for p in report.problems)
