"""The sabotage check: the property machine must catch broken commit strategies.

Each strategy of targets.testing.sabotage is a way of committing that pipelines really
used (``mv``, check-then-rename, copy-then-delete without a claim). Run through the same
machine as the library, within the same budget (the active Hypothesis profile), each must
break a guarantee, and Hypothesis must shrink the run to a short program that shows how.
This is what proves that the properties can fail: a machine that passes these strategies
checks nothing.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from targets.fs._lease import Lease
from targets.testing.machine import GuaranteeViolation, TargetsMachine
from targets.testing.sabotage import CheckThenRename, CopyThenDelete, NaiveMove
from targets.testing.worlds import HDFSWorld, ObjectStoreWorld, PosixWorld

# A thorough run takes many minutes per machine; a hang is caught by the scheduler's own
# timeout (StuckActor) instead of pytest-timeout's.
pytestmark = [pytest.mark.property, pytest.mark.timeout(0)]

WORLDS = {
    "posix": PosixWorld,
    "hdfs": HDFSWorld,
    "s3": functools.partial(ObjectStoreWorld, flavor="s3"),
    "gcs": functools.partial(ObjectStoreWorld, flavor="gcs"),
}

CASES = [
    ("posix", NaiveMove),
    ("posix", CheckThenRename),
    ("hdfs", NaiveMove),
    ("hdfs", CheckThenRename),
    ("s3", CopyThenDelete),
    ("gcs", CopyThenDelete),
]


@pytest.mark.parametrize(("world", "strategy"), CASES, ids=[f"{w}-{s.name}" for w, s in CASES])
def test_the_machine_finds_a_broken_strategy(world, strategy):
    """Invariant: for each broken strategy, some interleaving (no crash, no fault: only the
    order of the writers' calls) breaks G1, G2 or G3, and the default budget finds it.

    Only the generate phase runs: the test asks whether the search finds the breakage;
    shrinking what it found took most of the suite's time here and proves nothing more."""
    machine = type(
        f"{world}_{strategy.__name__}",
        (TargetsMachine,),
        {"world_factory": WORLDS[world], "strategy": strategy(), "faults": frozenset()},
    )
    with pytest.raises(GuaranteeViolation) as found:
        run_state_machine_as_test(
            machine,
            settings=settings(
                database=None,
                report_multiple_bugs=False,
                phases=(Phase.generate,),
            ),
        )
    program = "\n".join(
        line
        for note in getattr(found.value, "__notes__", [])
        for line in note.splitlines()
        if "outputs_are_whole" not in line
    )
    print(f"\n{world} / {strategy.name}: {found.value}\n{program}")
    assert found.value.guarantee in ("G1", "G2", "G3")
    assert "state.teardown()" in program  # the program that replays it


@pytest.mark.parametrize("flavor", ["s3", "gcs"])
def test_the_machine_finds_a_writer_that_ignores_its_lease(flavor, monkeypatch):
    """Invariant: with fencing removed (a writer never checks its lease before it publishes
    or writes ``_SUCCESS``), some run in which a writer pauses past its lease while
    ``recover`` or ``cleanup`` takes its work over ends with a committed output that is not
    one writer's whole files (G1/G5), and the budget below finds it. This is what proves
    that the machine's G10 rules can fail. The budget is 1,000 runs: Hypothesis 6.170
    finds it after about 100-400 of them, where earlier versions found it sooner."""
    monkeypatch.setattr(Lease, "ensure", lambda self: None)
    machine = type(
        f"{flavor}_no_fencing",
        (TargetsMachine,),
        {
            "world_factory": functools.partial(ObjectStoreWorld, flavor=flavor, leases=True),
            "faults": frozenset(),
        },
    )
    with pytest.raises(GuaranteeViolation) as found:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=1000,  # a pause past the lease is a rare program
                database=None,
                report_multiple_bugs=False,
                phases=(Phase.generate,),
            ),
        )
    print(f"\n{flavor} without fencing: {found.value}")
    assert found.value.guarantee in ("G1", "G3", "G5", "G8")
