"""Task bodies that the job tests run in other processes (importable by a spawned child)."""

from __future__ import annotations

import pickle
from typing import Any


def write_part(job_bytes: bytes, task_id: int, use_cloudpickle: bool) -> bytes:
    """Unpickle the job, write one file in task ``task_id``, return the pickled record."""
    if use_cloudpickle:
        import cloudpickle  # type: ignore[import-untyped]

        job: Any = cloudpickle.loads(job_bytes)
    else:
        job = pickle.loads(job_bytes)
    with job.task(task_id) as t:
        with t.open(f"part-{task_id:04d}.txt", "w") as f:
            f.write(f"task {task_id}\n")
    return pickle.dumps(t.record)
