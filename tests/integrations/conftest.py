"""Shared by the integration tests: the backends they run on, and the examples as modules."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
from types import ModuleType

import pytest

from tests.fixtures import StoreRoot

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(params=["local", "s3", "gcs"])
def root(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> StoreRoot:
    """A fresh root on each backend, with its storage options also in
    ``TARGETS_STORAGE_OPTIONS`` (where the examples read them)."""
    store: StoreRoot = request.getfixturevalue(f"{request.param}_root")
    monkeypatch.setenv("TARGETS_STORAGE_OPTIONS", json.dumps(store.options))
    return store


def load_example(name: str) -> ModuleType:
    """``examples/<name>.py`` as a module (once per test session)."""
    module_name = f"_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
