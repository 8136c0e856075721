"""Where the contract suite runs: every built-in backend, or any backend a URL reaches.

By default each test runs once per backend of `tests.fixtures.BACKENDS`. To run the suite
against another backend (one registered with `targets.fs.register`, or installed through
the ``targets.backends`` entry-point group), name a directory on it::

    TARGETS_CONTRACT_URL=myscheme://bucket/prefix python -m pytest tests/conformance

Each test then gets a fresh directory under that URL (named by a random token, so runs do
not meet), and only that backend is tested. Storage options, if the backend needs any, go in
``TARGETS_CONTRACT_OPTIONS`` as a JSON object.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.fixtures import BACKENDS, StoreRoot

CONTRACT_URL = "TARGETS_CONTRACT_URL"
"""The environment variable that names a directory URL on the backend to test."""
CONTRACT_OPTIONS = "TARGETS_CONTRACT_OPTIONS"
"""The environment variable that holds that backend's storage options (a JSON object)."""


def url_root() -> StoreRoot:
    """A fresh directory under ``$TARGETS_CONTRACT_URL``, with ``$TARGETS_CONTRACT_OPTIONS``."""
    base = os.environ[CONTRACT_URL].rstrip("/")
    options = json.loads(os.environ.get(CONTRACT_OPTIONS) or "{}")
    if not isinstance(options, dict):
        raise pytest.UsageError(f"{CONTRACT_OPTIONS} must hold a JSON object")
    return StoreRoot(f"{base}/{uuid.uuid4().hex}", options)


@pytest.fixture(params=["url"] if os.environ.get(CONTRACT_URL) else BACKENDS)
def root(request: pytest.FixtureRequest) -> StoreRoot:
    """A fresh, empty directory on each backend of the conformance suite."""
    if request.param == "url":
        return url_root()
    root: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    return root
