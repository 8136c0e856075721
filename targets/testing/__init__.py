"""Tools for testing pipelines and backends: simulated stores that follow each store's
documented semantics, behind the same interfaces as the real clients, so the real commit
protocols run unchanged against them; a scheduler that turns every store call into a step
at which a test can switch writers, crash one, or lose a response; and a Hypothesis state
machine that searches those interleavings for a broken guarantee (docs/testing.md).

- `SimulatedPosix` (`targets.testing.posix`): a POSIX filesystem behind `PosixOps`, with
  durable and volatile state (``ops=`` of local targets).
- `HDFSModel` (`targets.testing.hdfs_model`): an HDFS namespace behind the
  ``hdfs_native.Client`` methods (``client=`` of ``hdfs://`` targets).
- `MemoryObjectStore` (`targets.testing.objectstore`): an S3 or GCS bucket behind
  `ObjectStore`, mounted with ``ObjectStoreFS.mount``.
- `Scheduler` (`targets.testing.faults`): wraps any of these seams; actors, steps,
  `Crashed`, `LOSE`, `RETRY`.
- `targets.testing.machine` (needs Hypothesis): `TargetsMachine`, `DifferentialMachine`;
  `targets.testing.worlds` the stores they drive; `targets.testing.sabotage` commit
  strategies broken on purpose.
- `targets.testing.injection`: `Injector` fails the N-th call at any seam, before or after
  it takes effect (the fault sweep of docs/reliability.md).
- `targets.testing.proxy`: a loopback HTTP proxy that counts requests, loses answers, cuts
  uploads off and injects statuses in front of a real server.
- `targets.testing.servers`: `moto_server()` and `fake_gcs_server()` on 127.0.0.1.
"""

from targets.testing.faults import LOSE, RETRY, Crashed, Scheduler
from targets.testing.hdfs_model import HDFSModel
from targets.testing.objectstore import MemoryObjectStore
from targets.testing.posix import SimulatedPosix

__all__ = [
    "LOSE",
    "RETRY",
    "Crashed",
    "HDFSModel",
    "MemoryObjectStore",
    "Scheduler",
    "SimulatedPosix",
]
