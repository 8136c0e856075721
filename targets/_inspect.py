"""Looking at outputs from outside the pipeline: `status` and `verify`.

Both only read. `status` says whether an output is committed (when, by which writer, how many
files and bytes, from its manifest), whether a writer claimed it and never finished, and
which of this library's temporaries lie beside or under it. `verify` checks a committed
directory output against its manifest: every listed file present, with the recorded size
and checksum, and nothing else. The ``targets status`` and ``targets verify`` commands print
what these functions return.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from targets import fs as _fs
from targets.errors import CorruptManifest, TargetError, TargetNotFound
from targets.fs import CLAIM, SUCCESS, AtomicFS, decode_manifest, is_temp_name

__all__ = ["OutputStatus", "VerifyProblem", "VerifyReport", "status", "verify"]

State = Literal["committed", "incomplete", "uncommitted", "absent"]
Kind = Literal["file", "directory"]


@dataclasses.dataclass
class OutputStatus:
    """What is at an output's location, as `status` found it.

    ``state`` is one of:

    - ``"committed"``: a committed output (a file, or a directory with ``_SUCCESS``);
    - ``"incomplete"``: a directory output claimed by a writer that has not written
      ``_SUCCESS`` (object stores): a commit in progress, or one whose writer died;
      `targets.recover` finishes or undoes it;
    - ``"uncommitted"``: a directory without ``_SUCCESS`` and without a claim (another
      tool's output in progress, or data written by hand);
    - ``"absent"``: nothing there.
    """

    url: str
    kind: Kind
    state: State
    committed_at: str | None = None
    """When the output was committed (ISO 8601, UTC), from the manifest or the store."""
    writer: str | None = None
    """The committing writer's token, where the output records it."""
    protocol: str | None = None
    """How the output was published (the manifest's ``protocol``)."""
    files: int | None = None
    bytes: int | None = None
    claim: dict[str, Any] | None = None
    """For an incomplete output: the claim's ``writer``, ``claimed_at`` and ``files``."""
    stale: list[str] = dataclasses.field(default_factory=list)
    """Temporaries and uploads older than ``older_than``: what `targets.cleanup` removes."""
    recent: list[str] = dataclasses.field(default_factory=list)
    """Younger temporaries and uploads: most likely a writer at work; left alone."""
    older_than: float = 0.0
    """The age, in seconds, that makes a temporary stale."""
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def committed(self) -> bool:
        return self.state == "committed"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class VerifyProblem:
    """One way in which an output differs from its manifest."""

    name: str
    """The file concerned (relative to the output), or ``""`` for the output itself."""
    problem: Literal["not committed", "corrupt manifest", "missing", "size", "sha256", "unexpected"]
    expected: Any = None
    actual: Any = None

    def __str__(self) -> str:
        what = self.name or "the output"
        if self.problem in ("size", "sha256"):
            return f"{what}: {self.problem} is {self.actual}, the manifest says {self.expected}"
        if self.problem == "missing":
            return f"{what}: listed in the manifest, but missing"
        if self.problem == "unexpected":
            return f"{what}: present, but not listed in the manifest"
        return f"{what}: {self.problem}" + (f" ({self.actual})" if self.actual else "")


@dataclasses.dataclass
class VerifyReport:
    """The outcome of `verify`: ``ok`` when the output is committed and matches its manifest."""

    url: str
    kind: Kind
    checked: int = 0
    """Files compared with the manifest."""
    bytes: int = 0
    checksummed: int = 0
    """Files whose sha256 was recomputed and compared."""
    problems: list[VerifyProblem] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["ok"] = self.ok
        return doc


def status(
    url: Any,
    *,
    older_than: timedelta = timedelta(hours=6),
    progress: Callable[[int, int, str], None] | None = None,
    **storage_options: Any,
) -> OutputStatus:
    """What is at ``url``: a committed output, an incomplete one, or nothing (only reads).

    A URL ending in ``/`` names a directory output; otherwise a file at ``url`` is a file
    output, and a directory there is looked at as a directory output. Temporaries of this
    library beside and under ``url`` are listed as ``stale`` (older than ``older_than``:
    what `targets.cleanup` would remove) or ``recent``. ``progress(done, total, step)`` is
    called before each of the two steps (reading the output, listing the temporaries: each a
    listing that takes long on thousands of files) and once at the end.
    """
    report_step = progress or (lambda done, total, step: None)
    report_step(0, 2, "reading the output")
    afs, path = _fs.resolve(url, **storage_options)
    dir_hint = str(url).endswith("/")
    kind: Kind = "directory" if dir_hint else "file"
    out = OutputStatus(url=afs.url(path), kind=kind, state="absent")
    out.older_than = older_than.total_seconds()
    if not dir_hint and afs.isfile(path):
        _file_status(afs, path, out)
    else:
        _directory_status(afs, path, out, dir_hint)
    if out.kind == "directory" and not out.url.endswith("/"):
        out.url += "/"
    report_step(1, 2, "listing temporaries")
    report = afs.cleanup(path, older_than=older_than, dry_run=True)
    out.stale = [*report.removed, *report.aborted_uploads]
    out.recent = list(report.kept_recent)
    report_step(2, 2, "done")
    return out


def _file_status(afs: AtomicFS, path: str, out: OutputStatus) -> None:
    out.state = "committed"
    info = _info(afs, path)
    out.files = 1
    out.bytes = _size(info)
    out.committed_at = _modified(info)
    metadata = info.get("metadata")
    if metadata is None and callable(getattr(afs.fsspec, "metadata", None)):
        try:  # s3fs keeps user metadata out of info(): one more HEAD
            metadata = afs.fsspec.metadata(path)
        except Exception:
            metadata = None  # the writer token is a nicety; the state is known
    if isinstance(metadata, dict):
        token = metadata.get("targets-writer")
        out.writer = token if isinstance(token, str) else None


def _directory_status(afs: AtomicFS, path: str, out: OutputStatus, dir_hint: bool) -> None:
    success = afs.join(path, SUCCESS)
    if afs.isfile(success):
        out.kind = "directory"
        out.state = "committed"
        try:
            manifest = _read_manifest(afs, path)
        except CorruptManifest as exc:
            out.notes.append(f"the manifest cannot be read: {exc}")
            return
        if manifest is None:
            out.committed_at = _modified(_info(afs, success))
            names = _data_files(afs, path)
            out.files = len(names)
            out.bytes = sum(names.values())
            out.notes.append(
                f"{SUCCESS} is empty (written by Hadoop or Spark, not by this library): "
                "no manifest, so the files are the listed non-hidden ones"
            )
            return
        out.writer = manifest.get("writer")
        out.committed_at = manifest.get("committed_at")
        out.protocol = manifest.get("protocol")
        out.files = len(manifest["files"])
        out.bytes = sum(int(f["size"]) for f in manifest["files"])
        if manifest.get("recovered_at"):
            out.notes.append(f"rolled forward by recover at {manifest['recovered_at']}")
        return
    claim = afs.join(path, CLAIM)
    if afs.isfile(claim):
        out.kind = "directory"
        out.state = "incomplete"
        out.claim = _read_claim(afs, claim)
        out.notes.append(
            "claimed, but no _SUCCESS: a commit in progress, or one whose writer died; "
            "`targets recover` rolls it forward or back once the claim is stale"
        )
        return
    if afs.isdir(path):
        out.kind = "directory"
        out.state = "uncommitted"
        names = _data_files(afs, path)
        out.files = len(names)
        out.bytes = sum(names.values())
        out.notes.append(
            f"a directory without {SUCCESS}: not a committed output (another tool's output in "
            "progress, or files written by hand)"
        )


def verify(
    url: Any,
    *,
    checksums: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    **storage_options: Any,
) -> VerifyReport:
    """Check the committed output at ``url`` against its manifest (only reads).

    Every file the manifest lists must be there with the recorded size and, when
    ``checksums`` is true and the manifest records one, the recorded sha256 (which reads
    every byte); no other non-hidden file may be there. The manifest decides what is data:
    a hidden name it lists (``_common_metadata``, ``_delta_log/0.json``) is checked like
    the rest. A file output has no manifest: it
    is verified by being committed. ``progress(done, total, name)`` is called after each file
    of the manifest is checked.
    """
    afs, path = _fs.resolve(url, **storage_options)
    if not str(url).endswith("/") and afs.isfile(path):
        return _verify_file(afs, path)
    report = VerifyReport(url=afs.url(path).rstrip("/") + "/", kind="directory")
    if not afs.isfile(afs.join(path, SUCCESS)):
        report.problems.append(VerifyProblem("", "not committed", actual=f"no {SUCCESS}"))
        return report
    try:
        manifest = _read_manifest(afs, path)
    except CorruptManifest as exc:
        report.problems.append(VerifyProblem(SUCCESS, "corrupt manifest", actual=str(exc)))
        return report
    listed = frozenset(f["name"] for f in manifest["files"]) if manifest else frozenset()
    present = _data_files(afs, path, also=listed)
    if manifest is None:
        report.checked = len(present)
        report.bytes = sum(present.values())
        report.notes.append(
            f"{SUCCESS} is empty (a Hadoop or Spark marker): there is no manifest to check "
            "the files against"
        )
        return report
    _check_against(afs, path, manifest, present, report, checksums=checksums, progress=progress)
    return report


def _verify_file(afs: AtomicFS, path: str) -> VerifyReport:
    report = VerifyReport(url=afs.url(path), kind="file", checked=1)
    report.bytes = _size(_info(afs, path)) or 0
    report.notes.append("a file output has no manifest: committed in one step, it is complete (G1)")
    return report


def _check_against(
    afs: AtomicFS,
    path: str,
    manifest: dict[str, Any],
    present: dict[str, int],
    report: VerifyReport,
    *,
    checksums: bool,
    progress: Callable[[int, int, str], None] | None,
) -> None:
    """Compare the data files ``present`` under ``path`` with ``manifest``, into ``report``."""
    listed = {f["name"]: f for f in manifest["files"]}
    unsummed = 0
    for done, (name, entry) in enumerate(sorted(listed.items()), 1):
        if _check_file(afs, path, name, entry, present.get(name), report, checksums):
            unsummed += 1
        if progress is not None:
            progress(done, len(listed), name)
    for name in sorted(set(present) - set(listed)):
        report.problems.append(VerifyProblem(name, "unexpected"))
    if unsummed:
        report.notes.append(
            f"{unsummed} file(s) have no checksum in the manifest (written by a tool under "
            "the writer's path): their sizes were checked"
        )
    if not checksums:
        report.notes.append("checksums not compared (sizes only)")


def _check_file(
    afs: AtomicFS,
    path: str,
    name: str,
    entry: dict[str, Any],
    size: int | None,
    report: VerifyReport,
    checksums: bool,
) -> bool:
    """Check one file of the manifest (``size``: what the listing found, None when
    missing) into ``report``; True when it matched by size and has no checksum to compare."""
    if size is None:
        report.problems.append(VerifyProblem(name, "missing"))
        return False
    if size != entry["size"]:
        report.problems.append(VerifyProblem(name, "size", entry["size"], size))
        return False
    report.checked += 1
    report.bytes += size
    expected = entry.get("sha256")
    if not isinstance(expected, str):
        return checksums
    if checksums:
        actual = _sha256(afs, afs.join(path, *name.split("/")))
        report.checksummed += 1
        if actual != expected:
            report.problems.append(VerifyProblem(name, "sha256", expected, actual))
    return False


# -- reading helpers ---------------------------------------------------------------------------


def _read_manifest(afs: AtomicFS, path: str) -> dict[str, Any] | None:
    success = afs.join(path, SUCCESS)
    with afs.open_input(success) as f:
        data = f.read()
    return decode_manifest(data, afs.url(success))


def _read_claim(afs: AtomicFS, claim: str) -> dict[str, Any]:
    try:
        with afs.open_input(claim) as f:
            doc = json.loads(f.read())
    except TargetNotFound:
        return {"note": "the claim was removed meanwhile"}
    except ValueError:
        return {"note": "the claim is not valid JSON"}
    if not isinstance(doc, dict):
        return {"note": "the claim is not a JSON object"}
    files = doc.get("files")
    out: dict[str, Any] = {
        "writer": doc.get("writer"),
        "claimed_at": doc.get("claimed_at"),
        "files": len(files) if isinstance(files, list) else None,
    }
    for key in ("holder", "lease_period", "renewals", "renewed_at", "taken_over"):
        if doc.get(key) is not None:
            out[key] = doc[key]
    claimed = _parse_time(doc.get("claimed_at"))
    if claimed is not None:
        # For people: the writer's clock against this one. Whether a claim is live is
        # judged by the store's clock alone (recover and cleanup do that).
        out["age_seconds"] = round((_now() - claimed).total_seconds(), 1)
    return out


def _info(afs: AtomicFS, path: str) -> dict[str, Any]:
    try:
        info = afs.fsspec.info(path)
    except FileNotFoundError:
        raise TargetNotFound(
            f"{afs.url(path)} disappeared while it was read", afs.url(path)
        ) from None
    except TargetError:
        raise
    except Exception as exc:  # a client error: say which object, never the options
        raise TargetError(
            f"cannot look up {afs.url(path)}: {type(exc).__name__}", afs.url(path)
        ) from None
    return dict(info)


def _size(info: dict[str, Any]) -> int | None:
    size = info.get("size")
    return int(size) if isinstance(size, (int, float)) else None


def _modified(info: dict[str, Any]) -> str | None:
    for key in ("mtime", "LastModified", "updated", "last_modified", "modification_time"):
        value = info.get(key)
        if value is None:
            continue
        when: _dt.datetime | None
        if isinstance(value, _dt.datetime):
            when = value
        elif isinstance(value, (int, float)):
            seconds = value / 1000 if key == "modification_time" else value
            when = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
        else:
            when = _parse_time(value)
        if when is not None:
            return _iso(when)
    return None


def _parse_time(value: Any) -> _dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)


def _iso(when: _dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _data_files(afs: AtomicFS, path: str, also: frozenset[str] = frozenset()) -> dict[str, int]:
    """The data files under ``path`` (relative names) and their sizes: the non-hidden ones,
    and the hidden ones (``_common_metadata``, ``_delta_log/...``) named in ``also``, the
    manifest's list, which decides what is data. Never ``_SUCCESS``, the claim or a
    temporary of this library."""
    try:
        found = afs.fsspec.find(path, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise TargetError(
            f"cannot list {afs.url(path)}: {type(exc).__name__}", afs.url(path)
        ) from None
    base = path.rstrip("/") + "/"
    names: dict[str, int] = {}
    for full, info in found.items():
        full = full.split("://", 1)[-1] if "://" in full and "://" not in base else full
        rel = full[len(base) :] if full.startswith(base) else full
        if not rel or info.get("type") == "directory":
            continue
        if rel not in also and any(
            part.startswith((".", "_")) or is_temp_name(part) for part in rel.split("/")
        ):
            continue
        names[rel] = int(info.get("size") or 0)
    return names


def _sha256(afs: AtomicFS, path: str) -> str:
    digest = hashlib.sha256()
    with afs.open_input(path) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


for _obj in (OutputStatus, VerifyProblem, VerifyReport, status, verify):
    _obj.__module__ = "targets"
