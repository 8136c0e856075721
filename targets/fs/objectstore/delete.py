"""Deletes that never remove what someone else wrote.

A delete after a check names the version that was checked (S3 ``If-Match``, GCS
``ifGenerationMatch``), so that an object another writer put there in between stays; a
prefix is emptied in the versions its listing showed; an output is emptied ``_SUCCESS``
first (it stops existing before it thins) and claim last (no writer claims it meanwhile).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from targets.fs._names import CLAIM, SUCCESS
from targets.fs.objectstore.claim import Entry
from targets.fs.objectstore.parallel import parallel
from targets.fs.objectstore.store import (
    ObjectInfo,
    ObjectStore,
    PreconditionFailed,
    token_of,
    under,
)

__all__ = [
    "abort_entries",
    "delete_if_ours",
    "delete_listed",
    "delete_output",
    "delete_prefix",
    "delete_version",
]


def delete_version(store: ObjectStore, key: str, etag: str | None) -> bool:
    """Delete ``key`` if it is still the version ``etag`` (any version for ``None``);
    whether it was deleted (an object replaced meanwhile is not)."""
    try:
        store.delete(key, if_match=etag or None)
    except PreconditionFailed:
        return False
    return True


def delete_if_ours(store: ObjectStore, key: str, token: str) -> bool:
    """Delete ``key`` if the object there carries ``token``. The delete names the version
    that was checked, so an object that another writer put there in between stays."""
    info = store.head(key)
    if info is None or token_of(info) != token:
        return False
    return delete_version(store, key, info.etag)


def abort_entries(store: ObjectStore, prefix: str, entries: Sequence[Entry]) -> None:
    """Abort the pending uploads of ``entries`` (files of the output ``prefix``) and let go
    of their held-back bytes. Best effort: an abort that fails is left to `cleanup`."""
    d = under(prefix)
    for e in entries:
        if e.upload_id is not None:
            with contextlib.suppress(Exception):
                store.abort_upload(d + e.name, e.upload_id)
        e.release()


def delete_listed(
    store: ObjectStore, objects: Iterable[ObjectInfo], *, concurrency: int | None = None
) -> int:
    """Delete ``objects`` in parallel, each in the version listed (an object rewritten since
    the listing stays); return how many were deleted."""
    deleted: list[bool] = []
    parallel(
        lambda o: deleted.append(delete_version(store, o.key, o.etag)), list(objects), concurrency
    )
    return sum(deleted)


def delete_prefix(store: ObjectStore, key: str, *, concurrency: int | None = None) -> int:
    """Delete the object ``key`` and every object under ``key/``, each in the version that
    the listing showed; return how many were deleted."""
    listed = [o for o in store.list(key) if o.key == key or o.key.startswith(key + "/")]
    return delete_listed(store, listed, concurrency=concurrency)


def delete_output(
    store: ObjectStore, prefix: str, keys: Iterable[str], *, concurrency: int | None = None
) -> None:
    """Delete ``keys`` (objects under the output ``prefix``): its ``_SUCCESS`` first, so that
    the output stops existing before it thins (absent, never mixed); then the files, in
    parallel; its claim last, so that no writer claims the prefix while it empties."""
    d = under(prefix)
    claim, success = d + CLAIM, d + SUCCESS
    keys = set(keys)
    if success in keys:
        store.delete(success)
    parallel(store.delete, sorted(keys - {claim, success}), concurrency)
    if claim in keys:
        store.delete(claim)
