"""Requests sent in parallel: publishing the files of a commit, deleting what was listed."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import TypeVar

from targets.fs.objectstore.conditional import Taken

__all__ = ["PUBLISH_THREADS", "parallel"]

_T = TypeVar("_T")

PUBLISH_THREADS = 16
"""Requests a commit sends in parallel."""


def parallel(fn: Callable[[_T], object], items: Sequence[_T]) -> None:
    """Run ``fn`` on every item, in parallel; wait for all of them, then re-raise the first
    failure (a `Taken` first, as it decides the error the caller reports). Every item is
    attempted even when another fails."""
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    errors: list[BaseException] = []
    with concurrent.futures.ThreadPoolExecutor(min(PUBLISH_THREADS, len(items))) as pool:
        for fut in [pool.submit(fn, item) for item in items]:
            exc = fut.exception()
            if exc is not None:
                errors.append(exc)
    if errors:
        errors.sort(key=lambda e: not isinstance(e, Taken))
        raise errors[0]
