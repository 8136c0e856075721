"""Bad input: clear errors naming the URL and what to do; no noise, no credentials shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import targets
from targets.errors import InvalidTarget, StoreUnavailable, TargetNotFound
from targets.fs import resolve
from tests.fixtures import StoreRoot

SECRET = "testing-secret-do-not-print"


def test_url_without_bucket_or_key(s3_root: StoreRoot) -> None:
    with pytest.raises(InvalidTarget, match="names no bucket"):
        resolve("s3://", **s3_root.options)
    with pytest.raises(InvalidTarget, match="is a bucket, not an object"):
        targets.FileTarget("s3://some-bucket", **s3_root.options).write_bytes(b"x")


def test_missing_bucket(s3_root: StoreRoot) -> None:
    t = targets.FileTarget("s3://no-such-bucket-here/out.csv", **s3_root.options)
    with pytest.raises(TargetNotFound) as info:
        t.write_bytes(b"x")
    message = str(info.value)
    assert "s3://no-such-bucket-here/out.csv" in message
    assert "bucket 'no-such-bucket-here' does not exist" in message
    assert "create it or fix the URL" in message
    assert not t.exists()
    with pytest.raises(TargetNotFound, match="does not exist"):
        t.read_bytes()


def test_unreachable_endpoint_is_named(s3_root: StoreRoot) -> None:
    options = {**s3_root.options, "endpoint_url": "http://127.0.0.1:9"}
    options["config_kwargs"] = {"retries": {"max_attempts": 1}, "connect_timeout": 1}
    with pytest.raises(
        StoreUnavailable, match=re.escape("cannot reach the S3 endpoint at http://127.0.0.1:9")
    ) as info:
        targets.FileTarget(s3_root.child("x"), **options).write_bytes(b"x")
    assert isinstance(info.value, ConnectionError)
    # The commit stopped at the capability probe, before its own request.
    assert "interrupted before anything was published" in str(info.value)
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        targets.FileTarget(s3_root.child("x"), **options).exists()


_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import targets
    from targets.errors import TargetError

    options = json.loads(sys.argv[1])
    root = sys.argv[2]
    out = {}
    cases = {
        "no_credentials": lambda: targets.FileTarget(
            root + "/a.txt", endpoint_url=options["endpoint_url"],
            client_kwargs=options["client_kwargs"]).write_bytes(b"x"),
        "missing_bucket": lambda: targets.FileTarget(
            "s3://no-such-bucket-here/a.txt", **options).write_bytes(b"x"),
        "missing_bucket_dir": lambda: targets.DirectoryTarget(
            "s3://no-such-bucket-here/table/", **options).exists(),
        "no_key": lambda: targets.FileTarget("s3://", **options).write_bytes(b"x"),
        "read_missing": lambda: targets.FileTarget(root + "/nope", **options).read_bytes(),
    }
    for name, case in cases.items():
        try:
            out[name] = ["returned", repr(case())]
        except TargetError as exc:
            out[name] = [type(exc).__name__, str(exc)]
    t = targets.FileTarget(root + "/b.txt", **options)
    out["reprs"] = [repr(t), repr(t.fs), repr(t.fs.store("b")), repr(t.fs.open_output("b/k"))]
    print(json.dumps(out))
    """
)


def test_errors_in_a_fresh_process_are_quiet_and_hide_credentials(
    s3_root: StoreRoot, s3_server: dict[str, Any]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",  # never ask an instance metadata service
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONWARNINGS="default",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(s3_root.options), s3_root.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no tracebacks, warnings or log lines from the clients
    assert SECRET not in proc.stdout
    assert "aiobotocore" not in proc.stdout and "Traceback" not in proc.stdout
    out = json.loads(proc.stdout)
    assert out["no_credentials"][0] == "TargetError"
    assert "no AWS credentials found" in out["no_credentials"][1]
    assert s3_root.url + "/a.txt" in out["no_credentials"][1]
    assert out["missing_bucket"][0] == "TargetNotFound"
    assert "does not exist" in out["missing_bucket"][1]
    assert out["missing_bucket_dir"] == ["returned", "False"]
    assert out["no_key"][0] == "InvalidTarget"
    assert out["read_missing"][0] == "TargetNotFound"
    assert all(SECRET not in r and "testing-key" not in r for r in out["reprs"])
