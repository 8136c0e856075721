"""The history checker finds each kind of violation, and passes a correct history (runs in
the default suite; the soak itself is test_soak.py)."""

from __future__ import annotations

import pytest

from tests.soak.history import ABSENT, CORRUPT, FAIL, OK, UNKNOWN, History, Op, check


def history(*ops: tuple[str, str, str, float, float, str], final: str = ABSENT) -> History:
    """ops: (kind, actor, writer-or-result, invoked, completed, result)."""
    h = History()
    for kind, actor, who, invoked, completed, result in ops:
        writer = who if kind == "write" else ""
        h.ops.append(Op("t", kind, actor, invoked, completed, result, writer))
    h.final["t"] = final
    return h


GOOD = [
    ("write", "w1", "A", 0.0, 2.0, OK),
    ("write", "w2", "B", 0.0, 2.5, FAIL),
    ("write", "w3", "C", 0.0, 3.0, UNKNOWN),
    ("read", "r1", "", 0.5, 0.6, ABSENT),
    ("read", "r1", "", 1.5, 1.7, "A"),
    ("read", "r2", "", 1.8, 1.9, "A"),
]


def test_a_correct_history_passes() -> None:
    assert check(history(*GOOD, final="A")) == []


def test_an_unknown_writer_may_be_the_winner_when_none_succeeded() -> None:
    ops = [
        ("write", "w1", "A", 0.0, 2.0, UNKNOWN),
        ("write", "w2", "B", 0.0, 2.0, FAIL),
        ("read", "r1", "", 2.5, 2.6, "A"),
    ]
    assert check(history(*ops, final="A")) == []


@pytest.mark.parametrize(
    ("change", "final", "found"),
    [
        ([("write", "w4", "D", 0.0, 1.0, OK)], "A", "2 writers succeeded"),
        ([("read", "r3", "", 2.0, 2.1, CORRUPT)], "A", "partial or mixed"),
        ([("read", "r3", "", 2.0, 2.1, "C")], "A", "outputs of several writers"),
        ([("read", "r3", "", 1.8, 2.0, ABSENT)], "A", "saw nothing after"),
        ([], ABSENT, "at the end the output is absent"),
        ([], "C", "outputs of several writers"),
        ([("read", "r3", "", 0.0, 0.1, "X")], "A", "outputs of several writers"),
    ],
    ids=[
        "two-winners",
        "corrupt",
        "two-contents",
        "absent-after-seen",
        "lost-success",
        "final-differs",
        "phantom",
    ],
)
def test_each_violation_is_found(change: list, final: str, found: str) -> None:
    problems = check(history(*GOOD, *change, final=final))
    assert any(found in p for p in problems), problems


def test_a_failed_writers_bytes_read_is_found() -> None:
    ops = [("write", "w1", "B", 0.0, 1.0, FAIL), ("read", "r1", "", 1.5, 1.6, "B")]
    problems = check(history(*ops, final="B"))
    assert any("said nothing was published" in p for p in problems), problems


def test_a_read_before_its_writer_started_is_found() -> None:
    ops = [("write", "w1", "A", 5.0, 6.0, OK), ("read", "r1", "", 1.0, 2.0, "A")]
    problems = check(history(*ops, final="A"))
    assert any("before that writer started" in p for p in problems), problems
