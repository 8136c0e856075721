"""Cleanup: abort stale multipart uploads and remove stale staging prefixes.

Only what this library left behind is removed: uploads at, under or beside an output, and
staging prefixes named like this library's temporaries, once they are older than asked.
Claims (settled by `recover`) and committed data are never touched, and a staging prefix
loses exactly the object versions its listing showed.
"""

from __future__ import annotations

import datetime as _dt

from targets.fs._names import parse_temp_name, temp_name
from targets.fs.base import CleanupReport
from targets.fs.objectstore.delete import delete_listed
from targets.fs.objectstore.store import ObjectInfo, ObjectStore, now, under

__all__ = ["cleanup"]


def cleanup(
    store: ObjectStore, prefix: str, *, older_than: _dt.timedelta, dry_run: bool = False
) -> CleanupReport:
    """Abort stale multipart uploads and remove stale staging prefixes, at or under
    ``prefix`` and beside it; nothing else (claims and committed data are never touched).

    An upload is stale when it was created more than ``older_than`` ago; a staging prefix
    when its newest object is that old. A stale prefix loses exactly the object versions
    that the listing showed: an object written there since stays. ``dry_run`` only reports.
    """
    report = CleanupReport(dry_run=dry_run)
    cutoff = now() - older_than
    d = under(prefix)
    parent, _, name = prefix.rpartition("/")
    beside = (f"{parent}/" if parent else "") + f".{name}.targets-"

    def ours(key: str) -> bool:
        return key == prefix or key.startswith(d) or key.startswith(beside)

    uploads = [u for u in store.list_uploads(prefix) if ours(u.key)]
    if name:
        uploads += [u for u in store.list_uploads(beside) if u not in uploads]
    for u in uploads:
        label = f"{store.url(u.key)} (multipart upload {u.upload_id})"
        if u.initiated is not None and u.initiated > cutoff:
            report.kept_recent.append(label)
            continue
        report.aborted_uploads.append(label)
        if not dry_run:
            store.abort_upload(u.key, u.upload_id)

    newest: dict[str, _dt.datetime] = {}
    found: dict[str, list[ObjectInfo]] = {}

    def note(root: str, o: ObjectInfo) -> None:
        when = o.last_modified or now()
        if root not in newest or when > newest[root]:
            newest[root] = when
        found.setdefault(root, []).append(o)

    scans = [store.list(beside)] if name else []
    scans.append(store.list(d))
    for scan in scans:
        for o in scan:
            rel = o.key[len(parent) + 1 :] if parent else o.key
            base = (parent + "/") if parent else ""
            if not o.key.startswith(d):
                seg = rel.split("/", 1)[0]
                parsed = parse_temp_name(seg)
                if parsed is not None and seg == temp_name(name, parsed[2], parsed[1]):
                    note(base + seg, o)
                continue
            segs = o.key[len(d) :].split("/")
            for i, seg in enumerate(segs):
                if parse_temp_name(seg) is not None:
                    note(d + "/".join(segs[: i + 1]), o)
                    break
    for root in sorted(newest):
        if newest[root] > cutoff:
            report.kept_recent.append(store.url(root))
            continue
        report.removed.append(store.url(root))
        if not dry_run:
            delete_listed(store, found[root])
    return report
