"""Writer tokens, the names of temporaries, and the check on relative names.

A temporary is a hidden sibling of the output it stages, named so that it is unique,
recognisable by `targets cleanup`, and skipped by Hadoop, Spark and pyarrow listings::

    .<name>.targets-tmp-<token>     staging for the output <name>
    .<name>.targets-old-<token>     a replaced output on its way out
    .<name>.targets-job-<token>     the staging area of a job of many workers (local, HDFS)
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
_TEMP_RE = re.compile(
    r"^\.(?P<name>.*)\.targets-(?P<kind>tmp|old|trash|lease|job)-(?P<token>[0-9a-f]{32})$"
)
"""The hidden siblings of an output: ``tmp`` (a writer's staging), ``old`` (an output an
overwrite renamed aside), ``trash`` (a stale temporary that cleanup renamed before deleting
it), ``lease`` (the lease of a long-lived object-store writer, before its claim), ``job`` (the
staging area of a job of many workers on a rename store, `targets.fs.rename.job`)."""


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


_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs"})
"""The schemes whose keys cannot hold a line break: GCS forbids CR and LF in object names,
and S3-compatible stores (moto among them) answer 404 to a PUT of such a key."""


def check_url_text(text: str, protocol: str) -> str:
    """Return ``text`` (a URL or path on ``protocol``) if every store of that kind can name it.

    Refused with `InvalidTarget`, the URL shown escaped: a lone surrogate (what Python makes
    of bytes that are not UTF-8, with surrogateescape), which has no UTF-8 form for any
    store; and, on an object store, a carriage return or line feed.
    """
    shown = repr(text)
    if not _encodable(text):
        problem = (
            "holds a lone surrogate, which is no character (bytes that were not UTF-8, decoded "
            "with surrogateescape); give the name as UTF-8 text, decoding the bytes with "
            "their real encoding"
        )
    elif protocol in _OBJECT_STORES and ("\n" in text or "\r" in text):
        problem = f"holds a line break, which {protocol}:// keys cannot hold; remove it"
    else:
        return text
    raise InvalidTarget(f"cannot open {shown}: the URL {problem}", shown[1:-1])


def check_relative_name(name: str, output: str) -> str:
    """Return ``name`` if it is a safe relative file name inside the output ``output``.

    Rejected: empty names and segments, absolute paths, ``.`` and ``..`` segments,
    backslashes, NUL, lone surrogates (no UTF-8 form), the reserved ``_SUCCESS`` and the
    names of this library's temporaries. No name that passes can reach outside the output.
    """
    if isinstance(name, str) and _PLAIN_NAME.fullmatch(name):
        return name
    problem = _name_problem(name)
    if problem is not None:
        raise InvalidTarget(f"file name {name!r} in output {output} {problem}", output)
    return name


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=+-]{0,199}")
"""Names that surely pass `check_relative_name` (one ASCII segment, not hidden, so neither
reserved nor a temporary's), checked without the rules one by one."""


def _name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a whole, or with one of its segments."""
    if not isinstance(name, str):
        return f"must be a str, not {type(name).__name__}"
    if not name:
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    if not _encodable(name):
        return (
            "holds a lone surrogate, which is no character (bytes that were not UTF-8, "
            "decoded with surrogateescape); give the name as UTF-8 text"
        )
    if "\\" in name:
        return "contains a backslash; use '/' to separate directories"
    if name.startswith("/"):
        return "is absolute; give a name relative to the output"
    return _segments_problem(name.split("/"))


def _segments_problem(parts: list[str]) -> str | None:
    if any(p == "" for p in parts):
        return "has an empty segment ('//' or a trailing '/')"
    if any(p in (".", "..") for p in parts):
        return "has a '.' or '..' segment"
    if parts[0] == SUCCESS:
        return f"is reserved: {SUCCESS} holds the manifest and is written at commit"
    if any(is_temp_name(p) for p in parts):
        return "is reserved for this library's temporaries"
    if any(len(p.encode()) > _MAX_NAME for p in parts):
        return f"has a segment longer than {_MAX_NAME} bytes"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
