"""Cleanup: abort stale multipart uploads and remove stale staging prefixes.

Only what this library left behind is removed: uploads at, under or beside an output, and
staging prefixes named like this library's temporaries, once they are older than asked.
Claims (settled by `recover`) and committed data are never touched, and a staging prefix
loses exactly the object versions its listing showed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterator

from targets.fs._names import parse_temp_name, temp_name
from targets.fs.base import CleanupReport
from targets.fs.objectstore.delete import delete_listed
from targets.fs.objectstore.store import ObjectInfo, ObjectStore, UploadInfo, now, under

__all__ = ["cleanup"]


def cleanup(
    store: ObjectStore,
    prefix: str,
    *,
    older_than: _dt.timedelta,
    dry_run: bool = False,
    concurrency: int | None = None,
) -> CleanupReport:
    """Abort stale multipart uploads and remove stale staging prefixes, at or under
    ``prefix`` and beside it; nothing else (claims and committed data are never touched).

    An upload is stale when it was created more than ``older_than`` ago; a staging prefix
    when its newest object is that old. A stale prefix loses exactly the object versions
    that the listing showed: an object written there since stays. ``dry_run`` only reports.
    """
    report = CleanupReport(dry_run=dry_run)
    cutoff = now() - older_than
    scope = _Scope(prefix)
    for upload in _uploads(store, scope):
        label = f"{store.url(upload.key)} (multipart upload {upload.upload_id})"
        if upload.initiated is not None and upload.initiated > cutoff:
            report.kept_recent.append(label)
            continue
        report.aborted_uploads.append(label)
        if not dry_run:
            store.abort_upload(upload.key, upload.upload_id)
    for root, objects in sorted(_staging_prefixes(store, scope).items()):
        if max(o.last_modified or now() for o in objects) > cutoff:
            report.kept_recent.append(store.url(root))
            continue
        report.removed.append(store.url(root))
        if not dry_run:
            delete_listed(store, objects, concurrency=concurrency)
    return report


@dataclasses.dataclass(frozen=True)
class _Scope:
    """Where cleanup looks for the leftovers of the output ``prefix``: under it, and beside
    it (its own staging prefixes, ``<parent>/.<name>.targets-tmp-<token>``)."""

    prefix: str

    @property
    def inside(self) -> str:
        return under(self.prefix)

    @property
    def parent(self) -> str:
        return self.prefix.rpartition("/")[0]

    @property
    def name(self) -> str:
        return self.prefix.rpartition("/")[2]

    @property
    def beside(self) -> str:
        """The key prefix of this output's temporaries beside it."""
        return (f"{self.parent}/" if self.parent else "") + f".{self.name}.targets-"

    def holds(self, key: str) -> bool:
        return key == self.prefix or key.startswith(self.inside) or key.startswith(self.beside)

    def staging_root(self, key: str) -> str | None:
        """The staging prefix that ``key`` lies in, if it lies in one of this library's:
        under the output, the first temporary-named segment; beside it, a temporary of
        this output's own name."""
        if key.startswith(self.inside):
            segs = key[len(self.inside) :].split("/")
            for i, seg in enumerate(segs):
                if parse_temp_name(seg) is not None:
                    return self.inside + "/".join(segs[: i + 1])
            return None
        base = f"{self.parent}/" if self.parent else ""
        seg = key[len(base) :].split("/", 1)[0]
        parsed = parse_temp_name(seg)
        if parsed is not None and seg == temp_name(self.name, parsed[2], parsed[1]):
            return base + seg
        return None


def _uploads(store: ObjectStore, scope: _Scope) -> list[UploadInfo]:
    """The pending uploads at, under or beside the output."""
    found = [u for u in store.list_uploads(scope.prefix) if scope.holds(u.key)]
    if scope.name:
        found += [u for u in store.list_uploads(scope.beside) if u not in found]
    return found


def _staging_prefixes(store: ObjectStore, scope: _Scope) -> dict[str, list[ObjectInfo]]:
    """The objects of every staging prefix under or beside the output, by prefix."""
    found: dict[str, list[ObjectInfo]] = {}
    for o in _scan(store, scope):
        root = scope.staging_root(o.key)
        if root is not None:
            found.setdefault(root, []).append(o)
    return found


def _scan(store: ObjectStore, scope: _Scope) -> Iterator[ObjectInfo]:
    if scope.name:
        yield from store.list(scope.beside)
    yield from store.list(scope.inside)
