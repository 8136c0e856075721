"""Credentials never appear in what the library shows: logs, reprs, messages, pickles."""

from __future__ import annotations

import logging
import pickle

import pytest

import targets

KEY = "AKIASENTINELKEY00001"
SECRET = "sentinel-secret-d4c0ffee"
SESSION = "sentinel-session-token-b16b00b5"
BEARER = "sentinel-gcs-access-token-5ca1ab1e"
SECRETS = (KEY, SECRET, SESSION, BEARER)

# botocore's own DEBUG log prints request headers, the session token among them (see
# docs/errors.md); that is botocore's output, not ours, so its loggers are left out here.
THIRD_PARTY = (
    "botocore",
    "boto3",
    "aiobotocore",
    "s3transfer",
    "urllib3",
    "gcsfs",
    "fsspec",
    "google",
    "aiohttp",
    "asyncio",
)


def s3_options(root) -> dict:
    return {**root.options, "key": KEY, "secret": SECRET, "token": SESSION}


def gcs_options(root) -> dict:
    from google.oauth2.credentials import Credentials

    return {**root.options, "token": Credentials(token=BEARER)}


def shown(*objects) -> str:
    """Everything a user or a log could see of ``objects``."""
    parts = []
    for obj in objects:
        parts += [repr(obj), str(obj)]
        try:
            parts.append(pickle.dumps(obj).decode("latin-1"))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            parts.append(str(exc))
    return "\n".join(parts)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize("backend", ["s3", "gcs"])
def test_a_full_commit_at_debug_shows_no_credential(backend, request, caplog):
    root = request.getfixturevalue(f"{backend}_root")
    options = s3_options(root) if backend == "s3" else gcs_options(root)
    caplog.set_level(logging.DEBUG)
    f = targets.FileTarget(root.child("out.csv"), **options)
    f.write_text("a,b\n")
    d = targets.DirectoryTarget(root.child("table") + "/", **options)
    with d.writer() as w, w.open("part-0", "wb") as part:
        part.write(b"x")
    errors = []
    for attempt in (lambda: f.write_text("again"), lambda: d.writer().commit()):
        with pytest.raises(targets.TargetError) as info:
            attempt()
        errors.append(info.value)
    ours = [r for r in caplog.records if not r.name.startswith(THIRD_PARTY)]
    assert any(r.name == "targets" for r in ours), "the commits were logged"
    assert_clean("\n".join(r.getMessage() for r in ours))
    assert_clean(shown(f, d, f.fs, d.fs, *errors))
    assert_clean("\n".join(str(e.__cause__ or "") for e in errors))


def test_pickled_targets_carry_no_credentials_and_say_so(s3_root):
    t = targets.FileTarget(s3_root.child("out.csv"), **s3_options(s3_root))
    data = pickle.dumps(t)
    assert_clean(data.decode("latin-1"))
    back = pickle.loads(data)
    assert back.url == t.url
    assert back.dropped_options == ("key", "secret", "token")


def test_an_error_from_a_bad_endpoint_shows_no_credential():
    options = {"endpoint_url": "http://127.0.0.1:9", "key": KEY, "secret": SECRET, "token": SESSION}
    with pytest.raises(targets.TargetError) as info:
        targets.FileTarget("s3://bucket/out.csv", **options).write_text("x")
    assert_clean(str(info.value) + repr(info.value) + str(info.value.__cause__))
