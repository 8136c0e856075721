"""Regenerate the generated parts of the docs: ``python docs/_generate.py``.

tests/test_docs.py fails when a generated part is out of date, so the docs cannot drift
from the code.
"""

from __future__ import annotations

import pathlib
import re

from targets import fs

DOCS = pathlib.Path(__file__).parent
DOCUMENTED_PROTOCOLS = ("file", "s3", "gs", "az", "hdfs", "webhdfs")
"""The backends in the guarantees table: every backend that has landed."""

START, END = "<!-- capabilities:start -->", "<!-- capabilities:end -->"


def guarantees_table() -> str:
    return fs.capability_table(DOCUMENTED_PROTOCOLS)


def render(text: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{START}\n{guarantees_table()}{END}", text)


def main() -> None:
    page = DOCS / "guarantees.md"
    page.write_text(render(page.read_text()))


if __name__ == "__main__":
    main()
