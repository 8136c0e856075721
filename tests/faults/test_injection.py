"""The fault injector itself: calls are numbered, BEFORE has no effect, AFTER has one."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from targets.errors import StoreUnavailable
from targets.testing.injection import AFTER, BEFORE, Injector
from targets.testing.objectstore import MemoryObjectStore


def test_calls_are_numbered_in_order_and_pure_helpers_are_not() -> None:
    inj = Injector()
    store = inj.wrap(MemoryObjectStore("b"))
    assert store.url("k") == "s3://b/k"  # pure: not numbered
    store.put("k", b"x", metadata={}, if_absent=True)
    store.head("k")
    assert list(store.list("")) != []
    assert [(c.number, c.op) for c in inj.calls] == [(1, "put"), (2, "head"), (3, "list")]
    assert all(c.took_effect for c in inj.calls)


def test_before_raises_without_effect_and_after_raises_with_effect() -> None:
    raw = MemoryObjectStore("b")
    store = Injector(fail={1: BEFORE, 2: AFTER}).wrap(raw)
    with pytest.raises(StoreUnavailable, match="injected fault before"):
        store.put("k", b"x", metadata={}, if_absent=True)
    assert raw.objects() == {}
    with pytest.raises(StoreUnavailable, match="injected fault after"):
        store.put("k", b"y", metadata={}, if_absent=True)
    assert raw.objects() == {"k": b"y"}
    store.put("k2", b"z", metadata={}, if_absent=True)  # call 3: no fault
    assert raw.objects()["k2"] == b"z"


def test_a_call_the_store_refuses_is_recorded_as_not_taking_effect() -> None:
    inj = Injector()
    store = inj.wrap(MemoryObjectStore("b"))
    store.put("k", b"x", metadata={}, if_absent=True)
    with pytest.raises(Exception, match="k"):
        store.put("k", b"y", metadata={}, if_absent=True)
    assert [c.took_effect for c in inj.calls] == [True, False]
    assert inj.calls[1].error == "PreconditionFailed"
    assert [c.number for c in inj.effects("put")] == [1]


def test_random_faults_are_reproducible_from_the_seed() -> None:
    def run(seed: int) -> list[Any]:
        inj = Injector(rate=0.3, seed=seed)
        store = inj.wrap(MemoryObjectStore("b"))
        for i in range(50):
            with contextlib.suppress(StoreUnavailable):
                store.put(f"k{i}", b"x", metadata={}, if_absent=False)
        return [c.fault for c in inj.calls]

    first = run(7)
    assert first == run(7)
    assert {BEFORE, AFTER, None} <= set(first)
    assert first != run(8)


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="not one of"):
        Injector(fail={1: "sometimes"})
    with pytest.raises(ValueError, match="probability"):
        Injector(rate=2.0)
