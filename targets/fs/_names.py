"""Writer tokens, the names of temporaries, and the check on relative names.

A temporary is a hidden sibling of the output it stages, named so that it is unique,
recognisable by `targets cleanup`, and skipped by Hadoop, Spark and pyarrow listings::

    .<name>.targets-tmp-<token>     staging for the output <name>
    .<name>.targets-old-<token>     a replaced output on its way out
"""

from __future__ import annotations

import os
import re

from targets.errors import InvalidTarget

SUCCESS = "_SUCCESS"
"""The marker file of a committed directory output; it holds the manifest."""

CLAIM = "_targets_claim"
"""The claim object inside a directory output on an object store: the one decision point
between concurrent writers (docs/protocols-objectstore.md). A claim without `SUCCESS` is a
commit in progress, or one that was interrupted (`targets recover` settles it)."""

_MAX_NAME = 255
_TEMP_RE = re.compile(r"^\.(?P<name>.*)\.targets-(?P<kind>tmp|old)-(?P<token>[0-9a-f]{32})$")


def new_token() -> str:
    """A fresh writer token: 32 hex digits, unique per writer (128 random bits)."""
    return os.urandom(16).hex()


def temp_name(name: str, token: str, kind: str = "tmp") -> str:
    """The hidden sibling name for output ``name``, staged by writer ``token``."""
    suffix = f".targets-{kind}-{token}"
    keep = _MAX_NAME - 1 - len(suffix)
    return f".{name[:keep]}{suffix}"


def parse_temp_name(name: str) -> tuple[str, str, str] | None:
    """``(output name, kind, token)`` if ``name`` is one of our temporaries, else None."""
    m = _TEMP_RE.match(name)
    if m is None:
        return None
    return m["name"], m["kind"], m["token"]


def is_temp_name(name: str) -> bool:
    return _TEMP_RE.match(name) is not None


def check_relative_name(name: str, output: str) -> str:
    """Return ``name`` if it is a safe relative file name inside the output ``output``.

    Rejected: empty names and segments, absolute paths, ``.`` and ``..`` segments,
    backslashes, NUL, the reserved ``_SUCCESS`` and names of this library's temporaries.
    No name that passes can reach outside the output.
    """
    problem = None
    if not isinstance(name, str):
        problem = f"must be a str, not {type(name).__name__}"
    elif not name:
        problem = "is empty"
    elif "\x00" in name:
        problem = "contains a NUL character"
    elif "\\" in name:
        problem = "contains a backslash; use '/' to separate directories"
    elif name.startswith("/"):
        problem = "is absolute; give a name relative to the output"
    else:
        parts = name.split("/")
        if any(p == "" for p in parts):
            problem = "has an empty segment ('//' or a trailing '/')"
        elif any(p in (".", "..") for p in parts):
            problem = "has a '.' or '..' segment"
        elif parts[0] == SUCCESS:
            problem = f"is reserved: {SUCCESS} holds the manifest and is written at commit"
        elif any(is_temp_name(p) for p in parts):
            problem = "is reserved for this library's temporaries"
        elif any(len(p.encode()) > _MAX_NAME for p in parts):
            problem = f"has a segment longer than {_MAX_NAME} bytes"
    if problem is not None:
        raise InvalidTarget(f"file name {name!r} in output {output} {problem}", output)
    return name
