"""Requests sent in parallel: publishing the files of a commit, deleting what was listed."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import TypeVar

from targets.fs.objectstore.conditional import Taken

__all__ = ["PUBLISH_THREADS", "concurrency_of", "parallel"]

_T = TypeVar("_T")

PUBLISH_THREADS = 16
"""Requests a commit sends in parallel when its filesystem's ``publish_concurrency``
storage option is not given."""


def concurrency_of(concurrency: int | None) -> int:
    """How many requests are sent at a time for the option ``concurrency`` (None: the
    default, `PUBLISH_THREADS`, read when the requests are sent)."""
    return PUBLISH_THREADS if concurrency is None else concurrency


def parallel(
    fn: Callable[[_T], object], items: Sequence[_T], concurrency: int | None = None
) -> None:
    """Run ``fn`` on every item, at most ``concurrency`` at a time (default
    `PUBLISH_THREADS`); wait for all of them, then re-raise the first failure (a `Taken`
    first, as it decides the error the caller reports). Every item is attempted even when
    another fails. With a concurrency of 1 the calls run in order on the calling thread."""
    workers = min(concurrency_of(concurrency), len(items))
    errors: list[BaseException] = []
    if workers <= 1:
        for item in items:
            try:
                fn(item)
            except Exception as exc:
                errors.append(exc)
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for fut in [pool.submit(fn, item) for item in items]:
                failure = fut.exception()
                if failure is not None:
                    errors.append(failure)
    if errors:
        errors.sort(key=lambda e: not isinstance(e, Taken))
        raise errors[0]
