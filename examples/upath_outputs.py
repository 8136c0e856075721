"""``universal_pathlib.UPath`` wherever targets takes a URL.

    python examples/upath_outputs.py                        # under ./example-output/upath
    python examples/upath_outputs.py s3://bucket/run1       # any URL targets supports

A ``UPath`` carries its storage options (``UPath("s3://bucket/x", endpoint_url=...)``), and
targets takes them from it: targets, ``targets.fs.filesystem``, ``cleanup``, ``recover``,
``status`` and ``verify`` all accept one. Here the options come from
``TARGETS_STORAGE_OPTIONS`` (a JSON object) into the ``UPath``, and from there to targets.

A ``UPath`` drops a trailing ``/``, so ``targets.target(upath)`` cannot tell that a
directory output is meant: use ``targets.DirectoryTarget(upath)`` for those.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from upath import UPath

import targets


def storage_options() -> dict[str, Any]:
    """The JSON object in ``TARGETS_STORAGE_OPTIONS``, as the ``targets`` command reads it."""
    text = os.environ.get("TARGETS_STORAGE_OPTIONS", "").strip()
    options = json.loads(text) if text else {}
    if not isinstance(options, dict):
        raise SystemExit("TARGETS_STORAGE_OPTIONS must hold a JSON object of storage options")
    return options


def run(root: UPath) -> list[str]:
    """Write a report file and a directory output under ``root``; return what was done."""
    done = []
    report = targets.target(root / "report.csv")  # a FileTarget, options from the UPath
    if not report.exists():
        report.write_text("region,total\nnorth,42\n")
        done.append(f"wrote {report.url}")
    table = targets.DirectoryTarget(root / "table")  # a UPath has no trailing '/'
    if not table.exists():
        with table.writer() as w, w.open("part-0000.csv", "w") as f:
            f.write("id,amount\n1,42\n")
        done.append(f"wrote {table.url}")
    status = targets.status(root / "table")
    done.append(f"{status.url} is {status.state}: {status.files} file(s), {status.bytes} bytes")
    return done


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    location = (args[0] if args else "example-output/upath").rstrip("/")
    if "://" not in location:
        location = os.path.abspath(location)
    root = UPath(location, **storage_options())
    for line in run(root):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
