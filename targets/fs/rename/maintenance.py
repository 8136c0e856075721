"""Housekeeping of rename-based outputs: `cleanup` of stale temporaries and `recover` of an
overwrite interrupted between its two renames, or of a job whose driver died
(`targets.fs.rename.jobclaim`). Neither touches committed data or anything
whose name is not one of this library's temporaries (G8), nor a live writer's work (G10):
ages are judged in the store's own clock against the stamps of writers' leases
(`targets.fs.rename.lease`)."""

from __future__ import annotations

import contextlib
import posixpath
from datetime import timedelta

from targets.errors import InvalidTarget, TargetNotFound
from targets.fs._names import parse_temp_name, temp_name
from targets.fs.base import CleanupReport, RecoverHow
from targets.fs.rename.jobclaim import (
    Judged,
    claim_path,
    claimed_output,
    job_dir,
    judge,
    remove_claim,
    to_trash,
)
from targets.fs.rename.lease import LEASE_PERIOD, lease_marker
from targets.fs.rename.publish import Evidence, publish_noreplace
from targets.fs.rename.store import Entry, RenameStore

__all__ = ["cleanup", "recover"]

_KINDS = ("tmp", "old", "trash", "lease", "job")


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


def _temporaries_under(
    store: RenameStore, path: str, found: dict[str, Entry], claims: list[str]
) -> None:
    """Add the temporaries under ``path`` to ``found``, and the outputs whose job claims
    are under it to ``claims``."""
    there = store.stat(path)
    if there is None or not there.is_dir:
        return
    for entry in store.walk(path):
        if parse_temp_name(posixpath.basename(entry.path)) is None:
            output = claimed_output(entry.path)
            if output is not None:
                claims.append(output)
            continue
        if any(entry.path.startswith(t.rstrip("/") + "/") for t in found):
            continue  # inside a temporary already found: it goes with it
        found[entry.path] = entry


def _stamped(store: RenameStore, temp: str, kind: str, *, deep: bool = True) -> float | None:
    """The newest time the store stamped on the temporary ``temp``, read now: its own
    modification time, with ``deep`` everything inside it, and its lease marker's (a staged
    file's renewals on HDFS; an overwrite's stamp on its aside). None if it is gone."""
    got = store.stat(temp)
    if got is None:
        return None
    newest = got.mtime
    if deep and got.is_dir and kind != "job":  # a job's staging is judged by its lease
        for inner in store.walk(temp):
            newest = max(newest, inner.mtime)
    if kind in ("tmp", "old"):
        marker = store.stat(lease_marker(temp))
        if marker is not None:
            newest = max(newest, marker.mtime)
    return newest


def _to_trash(store: RenameStore, temp: str) -> str | None:
    """Rename ``temp`` to a fresh ``.<name>.targets-trash-<token>`` and return that name;
    None if ``temp`` is gone (its writer renamed it into place, or another cleanup took it):
    then nothing is deleted, so a directory renamed away is never followed."""
    parsed = parse_temp_name(posixpath.basename(temp))
    assert parsed is not None
    return to_trash(store, temp, parsed[0])


def cleanup(
    store: RenameStore,
    path: str,
    *,
    older_than: timedelta,
    dry_run: bool = False,
    period: float = LEASE_PERIOD,
) -> CleanupReport:
    """Remove stale temporaries (``.<name>.targets-(tmp|old|trash|lease|job)-<token>``)
    beside ``path`` and anywhere under it, and the claims of stale jobs
    (``.<name>.targets-jobclaim``).

    A temporary is stale when the store stamped nothing on it (inside it, or on its lease
    marker) for ``older_than`` and for the lease ``period``, judged against the store's own
    time now (`RenameStore.now`), never this machine's clock against the store's: a live
    writer's staging is kept whatever ``older_than`` says (G10), and so is an old output an
    overwrite renamed aside and stamped within that period (`recover` may need it). A stale
    temporary is renamed to a unique trash name first and then deleted; if that rename finds
    it gone (renamed into place meanwhile) it is skipped. Only names of those forms are
    removed. A job is judged by its lease (the stamps on its staging directory and its
    claim, against the longer of ``period`` and the period the job recorded): a live job's
    staging and claim are kept; a stale job's staging is removed first, then its claim.
    """
    report = CleanupReport(dry_run=dry_run)
    claims: list[str] = []
    with store.map_errors(path, "list"):
        found = {e.path: e for e in _own_temporaries(store, path, _KINDS)}
        _temporaries_under(store, path, found, claims)
    keep_for = max(older_than.total_seconds(), period)
    live_jobs = _settle_jobs(store, [path, *claims], keep_for, report)
    found = {p: e for p, e in found.items() if p not in live_jobs}
    if not found:
        return report
    first = min(found)
    with store.map_errors(first, "read the store's time beside"):
        now = store.now(posixpath.dirname(first))
    for temp in sorted(found):
        _settle(store, temp, now, keep_for, report)
    return report


def _settle_jobs(
    store: RenameStore, outputs: list[str], keep_for: float, report: CleanupReport
) -> set[str]:
    """Judge the job claims of ``outputs``: keep a live job (return its staging, which the
    caller must leave alone), roll a stale one back unless a dry run."""
    live: set[str] = set()
    for output in dict.fromkeys(outputs):
        if output == "/":
            continue
        with store.map_errors(output, "look at the job claim of"):
            judged = judge(store, output, keep_for)
        if judged is None:
            continue
        staging = job_dir(output, judged.token) if judged.token else None
        if judged.live:
            report.kept_recent.append(store.shown(claim_path(output)))
            if staging is not None and store.stat(staging) is not None:
                report.kept_recent.append(store.shown(staging))
                live.add(staging)
            continue
        if not report.dry_run:
            _roll_back(store, output, judged)
        report.removed.append(store.shown(claim_path(output)))
    return live


def _roll_back(store: RenameStore, output: str, judged: Judged) -> None:
    """Remove a job's staging (every attempt in it), then its claim: once the claim is
    gone, nothing of the job is left that its driver could publish."""
    name = posixpath.basename(output)
    with store.map_errors(output, "roll back the job of"):
        if judged.token is not None:
            doomed = to_trash(store, job_dir(output, judged.token), name)
            if doomed is not None:
                store.delete(doomed)
        remove_claim(store, output, judged.token)


def _settle(
    store: RenameStore, temp: str, now: float, keep_for: float, report: CleanupReport
) -> None:
    """Keep, or (unless a dry run) remove, the temporary ``temp``; say which in ``report``."""
    shown = store.shown(temp)
    parsed = parse_temp_name(posixpath.basename(temp))
    assert parsed is not None
    kind = parsed[1]
    try:
        with store.map_errors(temp, "inspect the temporary"):
            newest = _stamped(store, temp, kind)
    except TargetNotFound:
        return  # gone while it was looked at
    if newest is None:
        return
    if now - newest < keep_for:
        report.kept_recent.append(shown)
        return
    if not report.dry_run:
        with store.map_errors(temp, "remove the temporary"):
            doomed = temp if kind == "trash" else _to_trash(store, temp)
            if doomed is None:
                return
            store.delete(doomed)
    report.removed.append(shown)


def recover(
    store: RenameStore,
    path: str,
    *,
    how: RecoverHow = "auto",
    force: bool = False,
    period: float = LEASE_PERIOD,
) -> str:
    """Put back a directory output that an interrupted overwrite left renamed aside.

    Only when nothing is at ``path`` and exactly one ``.<name>.targets-old-<token>`` sibling
    exists; anything else is reported, not changed. An aside stamped (by the overwrite that
    made it) within the lease ``period``, judged in the store's clock, is refused unless
    ``force``: that overwrite may still be running. Rename-based commits settle one way only
    (``how="auto"``).

    A job's claim on ``path`` comes first: a stale job is rolled back (its staging, with
    every attempt, then its claim); a live one is refused, named, unless ``force``.
    """
    shown = store.shown(path)
    if how != "auto":
        raise InvalidTarget(
            f"recover how={how!r}: {shown} is on a store whose commits are one rename, so "
            "they recover one way only (how='auto')",
            shown,
        )
    with store.map_errors(path, "recover"):
        judged = None if path == "/" else judge(store, path, period)
    if judged is None:
        return _recover_aside(store, path, force=force, period=period)
    if judged.live and not force:
        return (
            f"not recovered: {shown} is claimed by a live {judged.holder()}; nothing was "
            "changed. Wait for that job, or pass force=True if it is known to be dead"
        )
    _roll_back(store, path, judged)
    rest = _recover_aside(store, path, force=force, period=period)
    return (
        f"rolled back the {judged.holder()}: its staging, every task attempt in it, and its "
        f"claim on {shown} are removed; {rest}"
    )


def _recover_aside(store: RenameStore, path: str, *, force: bool, period: float) -> str:
    shown = store.shown(path)
    with store.map_errors(path, "recover"):
        if store.stat(path) is not None:
            return f"nothing to recover at {shown}: it exists"
        olds = [e for e in _own_temporaries(store, path, ("old",))]
    if len(olds) == 1:
        refused = None if force else _too_young(store, olds[0], shown, period)
        if refused is not None:
            return refused
        publish_noreplace(store, olds[0].path, path, Evidence(olds[0]), guarantee="best-effort")
        with contextlib.suppress(Exception):
            store.delete(lease_marker(olds[0].path), recursive=False)
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


def _too_young(store: RenameStore, old: Entry, shown: str, period: float) -> str | None:
    """Why the aside ``old`` may not be restored yet (its overwrite may be running), or None."""
    with store.map_errors(old.path, "recover from"):
        now = store.now(posixpath.dirname(old.path))
        stamped = _stamped(store, old.path, "old", deep=False)
    if stamped is None or now - stamped >= period:
        return None
    return (
        f"not recovered: {store.shown(old.path)} was renamed aside {max(now - stamped, 0):.0f} "
        f"s ago by an overwrite of {shown} that may still be running (its lease lasts "
        f"{period:g} s); run recover again later, or pass force=True if that writer is "
        "known to be dead"
    )
