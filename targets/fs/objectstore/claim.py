"""The claim: the one decision point between concurrent writers of a directory output.

A directory commit starts with an exclusive create of ``<dir>/_targets_claim`` (`CLAIM`), a
JSON document that lists every file the writer will publish (docs/protocols-objectstore.md,
"The claim object"). Of two writers, the store lets exactly one create it; the other is
told why by `claimed_error`: the output is committed, another writer is publishing, or a
claim without ``_SUCCESS`` is stale (`IncompleteCommit`, settled by `recover`).

This module holds what the claim *is*: `Entry` (one file on its way to publication, as the
claim lists it), the document (`claim_document`, `decode_claim`) and the errors of a refused
claim. Taking the claim is the first step of `targets.fs.objectstore.publish`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from targets.errors import (
    CorruptManifest,
    IncompleteCommit,
    InvalidTarget,
    TargetError,
    TargetExistsError,
)
from targets.fs import _manifest
from targets.fs._names import CLAIM, SUCCESS, check_relative_name
from targets.fs.base import PartRecord
from targets.fs.objectstore.lease import holder
from targets.fs.objectstore.store import ObjectInfo, ObjectStore, now, token_of, under

__all__ = [
    "CLAIM",
    "CLAIM_FORMAT",
    "CLAIM_VERSION",
    "PROTOCOL",
    "STALE_CLAIM_AFTER",
    "Entry",
    "check_claim",
    "claim_document",
    "claimed_error",
    "decode_claim",
    "encode_json",
]

STALE_CLAIM_AFTER = 60.0
"""The lease period, in seconds: a claim (or a writer's lease) not renewed for this long, by
the store's own clock, is stale. A stale claim without ``_SUCCESS`` is reported as
`IncompleteCommit` rather than as a commit in progress (`TargetExistsError`), and may be
recovered or cleaned up without ``force``; a live one never is."""

CLAIM_FORMAT = "targets-claim"
CLAIM_VERSION = 2
"""Version 2 adds the lease (``holder``, ``lease_period``, ``renewals``, ``renewed_at``) and
``taken_over``; version 1 claims (no lease) are still read and recovered."""
PROTOCOL = "objectstore-claim"
"""The ``protocol`` field of the claim and of the manifest of a directory output."""


@dataclasses.dataclass
class Entry:
    """One file of a directory output on its way to publication."""

    name: str
    size: int
    via: str
    """``"put"`` (held back, one request), ``"upload"`` (a pending multipart upload to the
    final key) or ``"copy"`` (a staged object copied server-side); `recover` marks a file
    that is already published ``"done"``."""
    sha256: str | None = None
    data: bytes | BinaryIO | None = None
    upload_id: str | None = None
    parts: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    source: str | None = None
    etag: str | None = None
    if_absent: bool = True
    """Whether an upload is completed exclusively (an overwrite's are not: its claim
    already excludes other writers, and its old files were there when the upload began)."""

    @classmethod
    def from_claim(cls, f: Mapping[str, Any]) -> Entry:
        """The entry that a file of a (decoded) claim document describes."""
        return cls(
            f["name"],
            int(f.get("size", 0)),
            str(f.get("via", "put")),
            f.get("sha256"),
            upload_id=f.get("upload_id"),
            parts=[(int(n), str(t)) for n, t in f.get("parts", [])],
            source=f.get("source"),
            if_absent=f.get("if_absent", True) is not False,
        )

    def claim_entry(self) -> dict[str, Any]:
        """This file as the claim lists it."""
        entry: dict[str, Any] = {"name": self.name, "size": self.size, "via": self.via}
        if self.sha256 is not None:
            entry["sha256"] = self.sha256
        if self.upload_id is not None:
            entry["upload_id"] = self.upload_id
            entry["parts"] = [[n, etag] for n, etag in self.parts]
        if self.source is not None:
            entry["source"] = self.source
        if not self.if_absent:
            entry["if_absent"] = False
        return entry

    def part_record(self) -> PartRecord:
        """This file as the manifest lists it."""
        return PartRecord(self.name, self.size, self.sha256)

    def release(self) -> None:
        """Let go of held-back bytes (closing a spool file)."""
        if self.data is not None and not isinstance(self.data, (bytes, bytearray)):
            with contextlib.suppress(Exception):
                self.data.close()
        self.data = None


def encode_json(doc: dict[str, Any]) -> bytes:
    """A protocol document as the store keeps it."""
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def claim_document(
    token: str,
    entries: Sequence[Entry],
    staging: str | None,
    *,
    lease_period: float = STALE_CLAIM_AFTER,
) -> dict[str, Any]:
    """The claim of writer ``token`` that will publish ``entries`` (and copy from
    ``staging``, if anything was staged), held by a lease of ``lease_period`` seconds."""
    return {
        "format": CLAIM_FORMAT,
        "version": CLAIM_VERSION,
        "writer": token,
        "claimed_at": _manifest.timestamp(now()),
        "protocol": PROTOCOL,
        "staging": staging,
        "holder": holder(),
        "lease_period": lease_period,
        "renewals": 0,
        "files": sorted((e.claim_entry() for e in entries), key=lambda f: f["name"]),
    }


def decode_claim(data: bytes, url: str) -> dict[str, Any]:
    """The claim document in ``data`` (the object at ``url``), checked (`check_claim`)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(url, f"not JSON ({exc})") from None
    return check_claim(doc, url)


def check_claim(doc: Any, url: str) -> dict[str, Any]:
    """``doc``, a decoded claim (the object at ``url``), checked: a format and version this
    library reads, a writer, and files with safe relative names. `CorruptManifest`
    otherwise."""
    problem = _header_problem(doc) or _files_problem(doc["files"], url)
    if problem is not None:
        raise _corrupt(url, problem)
    return doc  # type: ignore[no-any-return]


def _corrupt(url: str, why: str) -> CorruptManifest:
    return CorruptManifest(
        f"{url} is not a valid claim: {why}; inspect the output and remove the claim "
        "by hand if no writer of this library made it",
        url,
    )


def _header_problem(doc: Any) -> str | None:
    """What is wrong with the fields of a claim around its ``files``, if anything."""
    if not isinstance(doc, dict) or doc.get("format") != CLAIM_FORMAT:
        return f'no "format": {CLAIM_FORMAT!r} field'
    version = doc.get("version")
    if type(version) is not int or not 1 <= version <= CLAIM_VERSION:
        return f"unsupported version {version!r}"
    if not isinstance(doc.get("writer"), str) or not isinstance(doc.get("files"), list):
        return 'missing "writer" or "files"'
    return None


def _files_problem(files: list[Any], url: str) -> str | None:
    """What is wrong with the first bad entry of ``files``, if any."""
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            return 'an entry of "files" has no name'
        try:
            check_relative_name(f["name"], url)
        except InvalidTarget:
            return f"file name {f['name']!r} is not a safe relative name"
    return None


def claimed_error(
    store: ObjectStore, prefix: str, claim: ObjectInfo | None, stale_after: float
) -> TargetError:
    """The error for a writer whose claim on ``prefix`` was refused: `TargetExistsError`
    when the output is committed or its claim is younger than ``stale_after`` (another
    writer is publishing), `IncompleteCommit` (run `targets recover`) when it is older."""
    url = store.url(prefix)
    if store.head(under(prefix) + SUCCESS) is not None:
        return TargetExistsError.taken(url)
    age = None if claim is None else claim.age()
    if age is None and stale_after <= 0 and claim is not None:
        age = 0.0  # every claim counts as abandoned at once, whatever its age
    if age is None:
        return TargetExistsError(
            f"{url} is being committed by another writer; this writer's output was "
            "discarded. Wait for it and read the output, or write elsewhere",
            url,
        )
    if age < stale_after:
        return TargetExistsError(
            f"{url} is being committed by another writer (its claim was renewed "
            f"{max(age, 0.0):.1f} s ago, by the store's clock); "
            "this writer's output was discarded. Wait for that commit and read the output, "
            "or write elsewhere",
            url,
        )
    return IncompleteCommit(
        f"{url} was claimed by writer {token_of(claim) or '?'}, whose lease was last renewed "
        f"{age:.0f} s ago (by the store's clock), but its commit never finished (no "
        f"{SUCCESS}); that writer died or is stuck. Run "
        f"`targets recover {url}` to roll it forward or back, then write again",
        url,
    )
