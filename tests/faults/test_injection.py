"""The interceptor and its policies: the injector numbers calls, BEFORE has no effect,
AFTER (LOSE) and RETRY have one; a policy of one's own decides which calls fail."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest

import targets
from targets.errors import StoreUnavailable, TargetError
from targets.fs.objectstore import PreconditionFailed
from targets.testing.faults import (
    AFTER,
    BEFORE,
    LOSE,
    RETRY,
    Call,
    Injector,
    Interceptor,
    Policy,
    posix_error,
)
from targets.testing.hdfs_model import HDFSModel
from targets.testing.objectstore import MemoryObjectStore
from targets.testing.scheduler import Scheduler


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


# -- the interceptor: policies of one's own ---------------------------------------------------


class _FailRenames(Policy):
    """A policy a user could write: every rename onto a final path fails before it takes
    effect; the store's own errors are noted."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def decide(self, call: Call) -> Call | None:
        if call.op in ("rename", "rename_flags", "link"):
            return dataclasses.replace(call, fault=BEFORE)
        return call

    def finished(self, call: Call, error: BaseException | None) -> None:
        if error is not None:
            self.refused.append(call.op)


def test_a_policy_of_ones_own_faults_the_calls_it_chooses(tmp_path: Any) -> None:
    from targets.fs.local import PosixOps

    policy = _FailRenames()
    ops = policy.wrap(PosixOps(), error=posix_error)
    out = targets.target(str(tmp_path / "out.csv"), ops=ops)
    with pytest.raises(TargetError, match="Input/output error"):
        out.write_bytes(b"data")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the staged file was removed


def test_a_policy_sees_the_errors_the_store_itself_raised() -> None:
    policy = _FailRenames()
    store = policy.wrap(MemoryObjectStore("b"))
    store.put("k", b"x", metadata={}, if_absent=True)
    with pytest.raises(Exception, match="k"):
        store.put("k", b"y", metadata={}, if_absent=True)
    assert policy.refused == ["put"]


def test_the_base_policy_makes_plain_calls_and_leaves_results_unwrapped() -> None:
    model = HDFSModel()
    client = Policy().wrap(model, streams=("create",))
    writer = client.create("/f")
    assert not isinstance(writer, Interceptor)
    writer.write(b"x")
    writer.close()
    assert model.read_file("/f") == b"x"


def test_a_retried_call_takes_effect_twice_and_answers_the_second_time() -> None:
    raw = MemoryObjectStore("b")
    store = Injector(fail={1: RETRY}).wrap(raw)
    with pytest.raises(PreconditionFailed):
        store.put("k", b"x", metadata={}, if_absent=True)  # the retry found its own object
    assert raw.objects() == {"k": b"x"}
    assert [c[0] for c in raw.calls] == ["put", "put"]


def test_lose_is_after_and_the_seam_decides_the_default_error() -> None:
    assert LOSE == AFTER
    with pytest.raises(StoreUnavailable):
        Injector(fail={1: LOSE}).wrap(MemoryObjectStore("b")).head("k")
    with pytest.raises(ConnectionResetError):
        Injector(fail={1: LOSE}).wrap(HDFSModel()).mkdirs("/d")


def test_a_scheduled_actor_can_be_failed_before_its_call() -> None:
    raw = MemoryObjectStore("b")
    with Scheduler() as sched:
        store = sched.wrap(raw)
        a = sched.actor("a")
        a.submit(lambda: store.put("k", b"x", metadata={}, if_absent=True))
        a.arm(BEFORE)
        outcome = a.run()
        assert outcome is not None and isinstance(outcome.error, StoreUnavailable)
        assert [str(c) for c in sched.log] == [
            "a: put('k', <1 bytes>, metadata={}, if_absent=True) [before]"
        ]
    assert raw.objects() == {}
