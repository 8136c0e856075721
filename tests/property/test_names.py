"""The quick check of plain file names agrees with the full rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from targets.fs import _names

_ALPHABET = st.sampled_from([*"aZ09_.=+-/\\~ ", "\x00", "é", "\ud800"])


@given(st.text(_ALPHABET, max_size=12) | st.from_regex(_names._PLAIN_NAME, fullmatch=True))
def test_a_name_the_quick_check_accepts_passes_every_rule(name: str) -> None:
    """Invariant: every name `_PLAIN_NAME` accepts, which `check_relative_name` returns
    without checking the rules one by one, is one the full rules accept too."""
    if _names._PLAIN_NAME.fullmatch(name):
        assert _names._name_problem(name) is None


def test_the_quick_check_accepts_common_part_names_and_refuses_reserved_ones() -> None:
    quick = _names._PLAIN_NAME.fullmatch
    assert all(quick(n) for n in ("part-00001.bin", "part.0.parquet", "a", "x=1"))
    assert not any(quick(n) for n in ("_SUCCESS", ".hidden", "a/b", "..", "é", "a" * 201))
