"""The object-store commit protocols, written once for every object store (S3, GCS, simulated).

The protocols talk to a store only through `ObjectStore` (`store`), a narrow interface of
the store's own primitives; a backend adapts its client to it and nothing else
(`targets.fs.s3`, `targets.fs.gcs`, `targets.testing.objectstore`). `ObjectStoreFS` (`fs`)
is the one `AtomicFS` built on them. The modules read as the protocol's phases
(docs/protocols-objectstore.md):

- `store`: the seam, its records and the outcomes it reports (`PreconditionFailed`, ...);
- `conditional`: conditional writes and how their ambiguous outcomes are settled (G7);
- `claim`: the claim document, the one decision point of a directory commit;
- `publish`: claim -> publish -> ``_SUCCESS`` (`publish.commit_directory`);
- `writers`: file and directory writers and staging, what happens before a commit;
- `recover`: roll an interrupted commit forward or back;
- `cleanup`: abort stale uploads, remove stale staging prefixes;
- `delete`, `parallel`, `outcomes`: deletes that name the version checked, requests sent in
  parallel, and what a writer is told when its commit is refused or interrupted.

Interface changes are announced here, newest first:

- v3 protocols: the modules above replace ``targets.fs._objectstore`` and
  ``targets.fs._objectfs``; the claim's name is `targets.fs._names.CLAIM`. The listing of a
  directory commit leaves right behind its claim instead of after its answer (two round
  trips of fixed latency). ``ObjectStoreFS.recover(path, *, how, force)``: ``force=True``
  settles a claim younger than ``stale_claim_after``. The storage option
  ``publish_concurrency`` (default `parallel.PUBLISH_THREADS`, 16) sets how many requests a
  commit, a recovery or a cleanup sends in parallel; 1 sends them one after the other.
- v3 interface: ``if_match=`` on `ObjectStore.put` (a conditional replace: how a claim's
  lease is renewed and a stale claim taken over), `ObjectStore.get` and
  `ObjectStore.open_read` (reads of one version); `ObjectInfo.seen_at` and
  `ObjectStore.server_time` (the store's own clock, which alone judges how old a lease is).
- v2 protocols: a request that fails with `StoreUnavailable` while it claims, publishes a
  file or writes ``_SUCCESS`` is settled by one `ObjectStore.head` of its key: the writer's
  own token there means it took effect (the commit goes on, G7); a multipart completion is
  aborted first, so that without the token it is known that nothing was published.
- v2 interface: `ObjectStore.create_upload` takes ``if_absent=`` (GCS fixes a resumable
  session's precondition when it opens it) and `ObjectStore.upload_part` may raise
  `PreconditionFailed`; `ObjectStore.delete` takes ``if_match=`` (a version precondition,
  so that a delete after a token check has no race window); new `ObjectStore.list_dir` and
  `ObjectStore.open_read`; `ObjectStore.list` is lazy; a missing bucket is a
  `FileNotFoundError`. Staging paths (``ObjectStaging.path``, ``ObjectDirectoryWriter.path``)
  are URLs made by `ObjectStore.url`. A store that stops answering raises
  `targets.errors.StoreUnavailable`; an interrupted commit says whether its outcome is known.
- v1 protocols: `recover` takes ``stale_after=`` (refuses younger claims);
  `ObjectFileWriter.flush` is a no-op at any time (wrappers flush after the commit).
- v1: first version.
"""

from __future__ import annotations

from targets.fs.objectstore.claim import STALE_CLAIM_AFTER
from targets.fs.objectstore.fs import ObjectStoreFS
from targets.fs.objectstore.store import (
    TOKEN_KEY,
    ConditionalConflict,
    NoSuchUpload,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoreCondition,
    UploadInfo,
    http_date,
)

__all__ = [
    "STALE_CLAIM_AFTER",
    "TOKEN_KEY",
    "ConditionalConflict",
    "NoSuchUpload",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreFS",
    "PreconditionFailed",
    "StoreCondition",
    "UploadInfo",
    "http_date",
]
