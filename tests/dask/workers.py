"""Code the Dask workers run for the tests (importable in a spawned worker process)."""

from __future__ import annotations

import os
import pathlib
import signal
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

JUNK = 600 * 1024
"""What a killed write leaves half-written: more than one multipart part (the S3 tests' part
size is 256 KiB), so the attempt has bytes in the store when its worker dies."""

_original: dict[str, Any] = {}


def rows(index: int, per_part: int, marker_dir: str | None = None) -> pd.DataFrame:
    """Partition ``index`` of the test frame: ids ``index * per_part ...``; touches
    ``marker_dir/ran-<index>`` first when given (a trace that the partition ran)."""
    if marker_dir is not None:
        pathlib.Path(marker_dir, f"ran-{index}").touch()
    ids = range(index * per_part, (index + 1) * per_part)
    return pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="int64"),
            "group": pd.Series([f"g{i % 3}" for i in ids], dtype="str"),
            "value": pd.Series([i * 0.5 for i in ids], dtype="float64"),
        }
    )


def failing_rows(index: int, per_part: int, bad: int) -> pd.DataFrame:
    """`rows`, except that partition ``bad`` raises."""
    if index == bad:
        raise RuntimeError(f"partition {index} fails on purpose")
    return rows(index, per_part)


def arm_kill(marker: str, nth_write: int) -> int:
    """Make this worker SIGKILL itself in the middle of its ``nth_write``-th Parquet write,
    once in the whole cluster (the first to create ``marker`` does): it writes `JUNK` bytes
    to the task's file, flushes them, and dies. Returns the worker's pid."""
    if "write_table" not in _original:
        _original["write_table"] = pq.write_table
    real = _original["write_table"]
    calls = [0]

    def write_table(table: Any, where: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == nth_write:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return real(table, where, *args, **kwargs)
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            where.write(b"PAR1" + b"x" * JUNK)
            where.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(table, where, *args, **kwargs)

    pq.write_table = write_table
    return os.getpid()


def disarm() -> None:
    """Undo `arm_kill` in this worker."""
    if "write_table" in _original:
        pq.write_table = _original["write_table"]
