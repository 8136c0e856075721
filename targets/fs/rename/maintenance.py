"""Housekeeping of rename-based outputs: `cleanup` of stale temporaries and `recover` of an
overwrite interrupted between its two renames. Neither touches committed data or anything
whose name is not one of this library's temporaries (G8)."""

from __future__ import annotations

import posixpath
import time
from datetime import timedelta

from targets.errors import InvalidTarget
from targets.fs._names import parse_temp_name, temp_name
from targets.fs.base import CleanupReport, RecoverHow
from targets.fs.rename.publish import Evidence, publish_noreplace
from targets.fs.rename.store import Entry, RenameStore

__all__ = ["cleanup", "recover"]


def _own_temporaries(store: RenameStore, path: str, kinds: tuple[str, ...]) -> list[Entry]:
    """The temporaries of the output ``path`` beside it (``.<name>.targets-<kind>-<token>``)."""
    parent, name = posixpath.split(path)
    if path == "/":
        return []
    there = store.stat(parent, follow=True)
    if there is None or not there.is_dir:
        return []
    found = []
    for entry in store.entries(parent):
        base = posixpath.basename(entry.path)
        parsed = parse_temp_name(base)
        if parsed and parsed[1] in kinds and base == temp_name(name, parsed[2], parsed[1]):
            found.append(entry)
    return found


def _temporaries_under(store: RenameStore, path: str, found: dict[str, Entry]) -> None:
    there = store.stat(path)
    if there is None or not there.is_dir:
        return
    for entry in store.walk(path):
        if parse_temp_name(posixpath.basename(entry.path)) is None:
            continue
        if any(entry.path.startswith(t.rstrip("/") + "/") for t in found):
            continue  # inside a temporary already found: it goes with it
        found[entry.path] = entry


def _newest_mtime(store: RenameStore, entry: Entry) -> float:
    newest = entry.mtime
    if entry.is_dir:
        for inner in store.walk(entry.path):
            newest = max(newest, inner.mtime)
    return newest


def cleanup(
    store: RenameStore, path: str, *, older_than: timedelta, dry_run: bool = False
) -> CleanupReport:
    """Remove stale temporaries (``.<name>.targets-tmp-<token>`` and
    ``.<name>.targets-old-<token>``) beside ``path`` and anywhere under it.

    A temporary counts as stale when nothing in it was modified for ``older_than``; a live
    writer's temporaries are left alone. Only names of that form are removed.
    """
    report = CleanupReport(dry_run=dry_run)
    cutoff = time.time() - older_than.total_seconds()
    with store.map_errors(path, "list"):
        found = {e.path: e for e in _own_temporaries(store, path, ("tmp", "old"))}
        _temporaries_under(store, path, found)
    for temp in sorted(found):
        shown = store.shown(temp)
        with store.map_errors(temp, "inspect the temporary"):
            newest = _newest_mtime(store, found[temp])
        if newest > cutoff:
            report.kept_recent.append(shown)
            continue
        report.removed.append(shown)
        if not dry_run:
            with store.map_errors(temp, "remove the temporary"):
                store.delete(temp)
    return report


def recover(store: RenameStore, path: str, *, how: RecoverHow = "auto", force: bool = False) -> str:
    """Put back a directory output that an interrupted overwrite left renamed aside.

    Only when nothing is at ``path`` and exactly one ``.<name>.targets-old-<token>`` sibling
    exists; anything else is reported, not changed. Rename-based commits settle one way only
    (``how="auto"``); ``force`` changes nothing here, as no claim is ever left behind.
    """
    shown = store.shown(path)
    if how != "auto":
        raise InvalidTarget(
            f"recover how={how!r}: {shown} is on a store whose commits are one rename, so "
            "they recover one way only (how='auto')",
            shown,
        )
    with store.map_errors(path, "recover"):
        if store.stat(path) is not None:
            return f"nothing to recover at {shown}: it exists"
        olds = [e for e in _own_temporaries(store, path, ("old",))]
    if len(olds) == 1:
        publish_noreplace(store, olds[0].path, path, Evidence(olds[0]), guarantee="best-effort")
        return (
            f"restored {shown} from {store.shown(olds[0].path)}, the old output an "
            "interrupted overwrite had renamed aside"
        )
    if len(olds) > 1:
        names = ", ".join(sorted(e.path for e in olds))
        return (
            f"not recovered: {len(olds)} old outputs of {shown} are aside ({names}); restore "
            "one by hand"
        )
    return (
        f"nothing to recover at {shown}: commits here are one rename, so an interrupted "
        "commit leaves only temporaries; `targets cleanup` removes them"
    )
