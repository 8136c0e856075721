"""The manifest's encoding is JSON's own, byte for byte."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from targets.fs import _manifest
from targets.fs.base import PartRecord

_TEXT = st.text(st.characters(codec=None), max_size=8)
_VALUES = st.one_of(
    _TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)
) | st.lists(st.integers(), max_size=2)
_ENTRIES = st.one_of(
    st.builds(lambda n, s: {"name": n, "size": s}, _TEXT, st.integers()),
    st.builds(lambda n, h, s: {"name": n, "sha256": h, "size": s}, _TEXT, _TEXT, st.integers()),
    st.dictionaries(st.sampled_from(["name", "size", "sha256", "via"]), _VALUES, max_size=4),
)
_MANIFESTS = st.fixed_dictionaries(
    {"format": _TEXT, "version": st.integers(), "files": st.lists(_ENTRIES, max_size=4)},
    optional={"writer": _VALUES, "protocol": _TEXT, "extra": _VALUES},
)


def _reference(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


@given(_MANIFESTS)
def test_the_encoding_is_jsons_indented_encoding_byte_for_byte(manifest: dict[str, Any]) -> None:
    """Invariant: for any manifest-shaped document (text of any code point, lone
    surrogates included, integers of any size, and values or entries of other kinds that
    take the slow path), `encode` gives exactly ``json.dumps(..., indent=2,
    sort_keys=True)`` and a newline: a reader sees one format, whoever wrote it."""
    assert _manifest.encode(manifest) == _reference(manifest)


def test_a_built_manifest_takes_the_quick_path_and_matches() -> None:
    parts = [PartRecord(f"part-{i}", i, "ab" * 32 if i % 2 else None) for i in range(5)]
    manifest = _manifest.build("0" * 32, parts, "local-rename-noreplace")
    assert _manifest._encode_plain(manifest) == _reference(manifest)
