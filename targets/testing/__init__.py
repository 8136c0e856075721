"""Tools for testing pipelines and backends: simulated stores that follow each store's
documented semantics, behind the same interfaces as the real clients, so the real commit
protocols run unchanged against them; one interceptor that puts faults at any store seam,
driven by a policy (fail the N-th call, or make every call a step at which a test can switch
writers, crash one, or lose a response); and a Hypothesis state machine that searches those
interleavings for a broken guarantee (docs/testing.md).

- `SimulatedPosix` (`targets.testing.posix`): a POSIX filesystem behind `PosixOps`, with
  durable and volatile state (``ops=`` of local targets).
- `HDFSModel` (`targets.testing.hdfs_model`): an HDFS namespace behind the
  ``hdfs_native.Client`` methods (``client=`` of ``hdfs://`` targets).
- `MemoryObjectStore` (`targets.testing.objectstore`): an S3 or GCS bucket behind
  `ObjectStore`; ``mount_scheme("memory-s3", store)`` serves it to ``memory-s3://`` URLs.
- `Interceptor` (`targets.testing.faults`): wraps any of these seams (or a real client)
  and applies the faults its `Policy` decides: `BEFORE`, `AFTER` (`LOSE`), `RETRY`.
  `Injector` fails calls by number (the fault sweep of docs/reliability.md).
- `Scheduler` (`targets.testing.scheduler`): the policy that makes every call a step of an
  actor; `Crashed`.
- `targets.testing.machine` (needs Hypothesis): `TargetsMachine`; `targets.testing.differential`
  `DifferentialMachine`;
  `targets.testing.worlds` the stores they and the fault sweep drive;
  `targets.testing.sabotage` commit strategies broken on purpose.
- `targets.testing.proxy`: a loopback HTTP proxy that counts requests, loses answers, cuts
  uploads off and injects statuses in front of a real server.
- `targets.testing.servers`: `moto_server()` and `fake_gcs_server()` on 127.0.0.1.
"""

from targets.testing.faults import AFTER, BEFORE, LOSE, RETRY, Injector, Interceptor, Policy
from targets.testing.hdfs_model import HDFSModel
from targets.testing.objectstore import MemoryObjectStore
from targets.testing.posix import SimulatedPosix
from targets.testing.scheduler import Crashed, Scheduler

__all__ = [
    "AFTER",
    "BEFORE",
    "LOSE",
    "RETRY",
    "Crashed",
    "HDFSModel",
    "Injector",
    "Interceptor",
    "MemoryObjectStore",
    "Policy",
    "Scheduler",
    "SimulatedPosix",
]
