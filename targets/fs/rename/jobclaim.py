"""The claim of a job of many workers on a rename store (local disks, HDFS).

A job (`targets.fs.rename.job`) holds its output with two hidden siblings:

- ``.<name>.targets-job-<token>``: the job's staging directory, where every task attempt
  writes; the driver's lease stamps it (`targets.fs.rename.lease`);
- ``.<name>.targets-jobclaim``: the claim, one fixed name, so that a second job, `recover`
  and `cleanup` find the job. It holds the claim document (docs/protocols.md) and is
  published by a rename that refuses to replace, so at most one job holds it, and it is
  never seen half written.

A claim is live while the store stamped its job's staging directory (or the claim itself)
within the lease period, judged in the store's own clock (`RenameStore.now`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import posixpath
import socket
from dataclasses import dataclass
from typing import Any

from targets.errors import TargetExistsError
from targets.fs._manifest import timestamp
from targets.fs._names import new_token, temp_name
from targets.fs.rename.publish import sibling
from targets.fs.rename.store import RenameStore, RenameUnsupported

__all__ = [
    "CLAIM_FORMAT",
    "CLAIM_VERSION",
    "Judged",
    "claim_doc",
    "claim_path",
    "claimed_output",
    "job_dir",
    "judge",
    "read_claim",
    "refuse_live_job",
    "remove_claim",
    "to_trash",
]

CLAIM_FORMAT = "targets-job-claim"
CLAIM_VERSION = 1
_CLAIM_SUFFIX = ".targets-jobclaim"
_MAX_NAME = 255


def claim_path(path: str) -> str:
    """The claim of the output ``path``: ``.<name>.targets-jobclaim`` beside it."""
    parent, name = posixpath.split(path)
    keep = _MAX_NAME - 1 - len(_CLAIM_SUFFIX)
    return posixpath.join(parent, f".{name[:keep]}{_CLAIM_SUFFIX}")


@functools.lru_cache(maxsize=64)
def job_dir(path: str, token: str) -> str:
    """The staging directory of job ``token`` on the output ``path``."""
    return sibling(path, token, "job")


def claim_doc(token: str, period: float) -> dict[str, Any]:
    """The claim document of job ``token`` opened here, whose lease lasts ``period`` s."""
    return {
        "format": CLAIM_FORMAT,
        "version": CLAIM_VERSION,
        "job": token,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "created_at": timestamp(_dt.datetime.now(_dt.timezone.utc)),
        "lease_period": period,
    }


def read_claim(store: RenameStore, path: str) -> dict[str, Any] | None:
    """The claim document of ``path``; None if there is no claim, ``{}`` if the claim is
    there but is not a claim document this version reads."""
    claim = claim_path(path)
    if store.stat(claim) is None:
        return None
    try:
        with store.open_read(claim) as f:
            doc = json.loads(f.read(1 << 16))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    if (
        not isinstance(doc, dict)
        or doc.get("format") != CLAIM_FORMAT
        or not isinstance(doc.get("version"), int)
        or not isinstance(doc.get("job"), str)
    ):
        return {}
    return doc


@dataclass(frozen=True)
class Judged:
    """A claim found on an output, judged now in the store's clock."""

    doc: dict[str, Any]
    age: float
    """Seconds since the store last stamped the job's staging or its claim."""
    period: float
    """The lease period it was judged by."""

    @property
    def token(self) -> str | None:
        token = self.doc.get("job")
        return token if isinstance(token, str) else None

    @property
    def live(self) -> bool:
        return self.age < self.period

    def holder(self) -> str:
        """Whose job it is and when its lease was last renewed, for messages."""
        host, pid = self.doc.get("host", "?"), self.doc.get("pid", "?")
        return (
            f"job {self.token or '(unreadable claim)'} opened on host {host} by process {pid}, "
            f"whose lease was last renewed {max(self.age, 0.0):.0f} s ago (by the store's "
            f"clock; it lasts {self.period:g} s)"
        )


def judge(store: RenameStore, path: str, period: float) -> Judged | None:
    """The claim on ``path`` judged now, or None if there is none. The period is the judging
    party's (its ``stale_claim_after``), as for every lease of the library: one configured
    shorter than the job's own renewal period may judge a live job stale, which is why the
    period is a store-wide setting."""
    doc = read_claim(store, path)
    if doc is None:
        return None
    claim = store.stat(claim_path(path))
    if claim is None:
        return None
    newest = claim.mtime
    token = doc.get("job")
    if isinstance(token, str):
        staging = store.stat(job_dir(path, token))
        if staging is not None:
            newest = max(newest, staging.mtime)
    now = store.now(posixpath.dirname(path))
    return Judged(doc, now - newest, period)


def refuse_live_job(store: RenameStore, path: str, period: float) -> None:
    """`TargetExistsError` naming the job if a live job holds the output ``path``: a writer
    of one process fails at once instead of at its publish. (Only sooner: whichever of the
    two publishes first still wins, the other is refused by the publish itself.) A dead
    job's claim is no obstacle to a writer, whose publish never needs it."""
    judged = judge(store, path, period)
    if judged is not None and judged.live:
        shown = store.shown(path)
        raise TargetExistsError(
            f"{shown} is being written by a live job of many workers ({judged.holder()}); "
            "nothing was written. Wait for the job to commit or abort, or write elsewhere",
            shown,
        )


def to_trash(store: RenameStore, temp: str, name: str) -> str | None:
    """Rename ``temp`` to a fresh ``.<name>.targets-trash-<token>`` beside it and return that
    name; None if ``temp`` is gone."""
    trash = posixpath.join(posixpath.dirname(temp), temp_name(name, new_token(), "trash"))
    try:
        try:
            store.rename_noreplace(temp, trash)
        except RenameUnsupported:
            store.rename_plain(temp, trash)  # the trash name is unique: nothing to replace
    except Exception:
        if store.stat(trash) is not None:
            return trash  # the rename took effect; only its answer was lost
        if store.stat(temp) is None:
            return None
        raise
    return trash


def remove_claim(store: RenameStore, path: str, token: str | None) -> bool:
    """Remove the claim on ``path`` if it is job ``token``'s (any claim with None); whether
    one was removed. The claim is renamed to a trash name first and read there, so a claim
    that another job took meanwhile is put back, never deleted."""
    name = posixpath.basename(path)
    trash = to_trash(store, claim_path(path), name)
    if trash is None:
        return False
    if token is not None:
        try:
            with store.open_read(trash) as f:
                doc = json.loads(f.read(1 << 16))
        except (OSError, ValueError):
            doc = {}
        if not isinstance(doc, dict) or doc.get("job") != token:
            with contextlib.suppress(Exception):
                store.rename_noreplace(trash, claim_path(path))
            return False
    store.delete(trash, recursive=False)
    return True


def claimed_output(path: str) -> str | None:
    """The output whose claim ``path`` is (``<parent>/<name>`` for
    ``<parent>/.<name>.targets-jobclaim``), or None if ``path`` names no claim."""
    parent, base = posixpath.split(path)
    if (
        not base.startswith(".")
        or not base.endswith(_CLAIM_SUFFIX)
        or len(base) <= 1 + len(_CLAIM_SUFFIX)
    ):
        return None
    return posixpath.join(parent, base[1 : -len(_CLAIM_SUFFIX)])
