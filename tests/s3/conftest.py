from __future__ import annotations

from typing import Any

import pytest

from targets.fs import resolve
from targets.fs.s3 import S3FS
from tests.fixtures import StoreRoot


@pytest.fixture
def s3(s3_root: StoreRoot) -> tuple[S3FS, str]:
    """The S3 filesystem of a fresh prefix, and that prefix's backend path."""
    fs, path = resolve(s3_root.url, **s3_root.options)
    assert isinstance(fs, S3FS)
    return fs, path


@pytest.fixture
def client(s3_server: dict[str, Any]) -> Any:
    """A plain boto3 client on the test server, for looking behind the backend's back."""
    return s3_server["client"]
