"""``help()`` explains every public parameter of the targets (issue 14).

The docstrings are what ``help(targets.FileTarget)`` prints and what the reference page
renders (mkdocstrings, Google style). Before, ``format``, ``if_exists``, ``guarantee``,
``durable`` and the storage options were named in no docstring.
"""

from __future__ import annotations

import inspect
import pydoc
import re

import pytest

import targets

OPTIONS = ("format", "if_exists", "guarantee", "durable", "storage_options")


def _documented(doc: str) -> set[str]:
    """The names in the docstring's ``Args:`` section."""
    section = doc.split("Args:", 1)[1].split("\n\n", 1)[0] if "Args:" in doc else ""
    return set(re.findall(r"^\s{4}(?:\*\*)?(\w+):", section, re.MULTILINE))


@pytest.mark.parametrize("cls", [targets.FileTarget, targets.DirectoryTarget, targets.FlagTarget])
def test_every_constructor_parameter_is_documented(cls):
    params = set(inspect.signature(cls).parameters)
    doc = inspect.getdoc(cls) or ""
    assert params <= _documented(doc), params - _documented(doc)
    rendered = pydoc.render_doc(cls)  # what help() prints
    assert all(f"{p}:" in rendered for p in params)


def test_target_documents_what_its_kwargs_take():
    doc = inspect.getdoc(targets.target) or ""
    assert {"path", "kwargs"} <= _documented(doc)
    for name in OPTIONS[:-1]:
        assert f"``{name}``" in doc, name
    assert "storage options" in doc
    assert "cannot see a trailing" in doc  # what a type checker can know


def test_file_target_open_documents_its_modes_and_types():
    doc = inspect.getdoc(targets.FileTarget.open) or ""
    assert {"mode", "encoding", "kwargs"} <= _documented(doc)
    for mode in ('"r"', '"rb"', '"w"', '"wb"', '"x"', '"xb"'):
        assert mode in doc, mode
