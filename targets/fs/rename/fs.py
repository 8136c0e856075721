"""`RenameFS`: the `AtomicFS` of every store with a namespace rename (POSIX disks, HDFS).

Commit protocol (docs/protocols.md): stage at a hidden, unique sibling created exclusively;
write; make it durable where asked; publish with one rename that refuses to replace (or
replaces atomically, with ``if_exists="overwrite"``); make the parent durable. The protocol
is written once, here and in `targets.fs.rename.writers`, `.publish` and `.maintenance`,
over the `RenameStore` seam; a backend is an adapter of that seam.
"""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Mapping
from datetime import timedelta
from typing import IO, Any, ClassVar

from targets.errors import (
    InvalidTarget,
    NotADirectory,
    TargetExistsError,
    TargetNotFound,
    UnsupportedGuarantee,
)
from targets.fs._names import new_token
from targets.fs.base import (
    AtomicFS,
    Capabilities,
    CleanupReport,
    DirectoryWriter,
    FileWriter,
    Guarantee,
    IfExists,
    RecoverHow,
    Staging,
    check_guarantee,
    check_if_exists,
)
from targets.fs.job import JobWriter, TaskId, TaskWriter
from targets.fs.rename import maintenance
from targets.fs.rename.job import RenameJobWriter, open_task
from targets.fs.rename.lease import LEASE_PERIOD
from targets.fs.rename.publish import Evidence, publish_noreplace, sibling
from targets.fs.rename.store import RenameStore, RenameUnsupported
from targets.fs.rename.writers import (
    HashingSink,
    RenameDirectoryWriter,
    RenameFileWriter,
    RenameStaging,
)

__all__ = ["RenameFS", "check_lease_period"]


def check_lease_period(value: Any, url: str = "") -> float:
    """``value`` as a lease period in seconds (the ``stale_claim_after`` storage option):
    a positive number, else `InvalidTarget`."""
    try:
        period = float(value)
    except (TypeError, ValueError):
        period = float("nan")
    if not period > 0 or period == float("inf"):
        raise InvalidTarget(
            f"stale_claim_after={value!r}{' for ' + url if url else ''} must be a positive "
            "number of seconds (how long a writer's lease lasts without a renewal)",
            url,
        )
    return period


class RenameFS(AtomicFS):
    """Outputs committed by one rename that never nests and never replaces (G1-G3), or that
    replaces atomically on request (G4), over a `RenameStore`."""

    protocol: ClassVar[str]
    declared: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=True,
        noreplace_rename_dir=True,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=False,
        server_side_copy=False,
    )
    """What a rename store with every primitive guarantees; `capabilities` says what this
    one's client, kernel and filesystem can do."""

    def __init__(self, store: RenameStore, *, lease_period: float = LEASE_PERIOD) -> None:
        """``lease_period``: seconds a writer's lease on its staging lasts without a renewal
        (the storage option ``stale_claim_after``; `targets.fs.rename.lease`)."""
        self.store = store
        self.lease_period = check_lease_period(lease_period)
        self._fsspec: Any = None

    # -- what the store can do ------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        store = self.store
        rename = store.has_noreplace_rename
        return Capabilities(
            noreplace_rename=rename or store.has_link,
            noreplace_rename_dir=rename,
            exclusive_create=store.exclusive_create,
            atomic_replace=store.has_replace,
            deferred_publish=False,
            server_side_copy=False,
        )

    def _require_rename(self, path: str, guarantee: Guarantee, *, directory: bool) -> None:
        """Refuse a strict commit that this store could only do by check-then-rename (G6)."""
        store = self.store
        if guarantee == "best-effort" or store.has_noreplace_rename:
            return
        if not directory and store.has_link:
            return
        shown = store.shown(path)
        raise UnsupportedGuarantee(
            f"cannot commit {shown} safely: {store.missing_rename_hint(directory=directory)}",
            shown,
        )

    @property
    def fsspec(self) -> Any:
        if self._fsspec is None:
            self._fsspec = self.store.fsspec(self)
        return self._fsspec

    def _p(self, path: str) -> str:
        return self.store.backend_path(path)

    def join(self, path: str, *names: str) -> str:
        return posixpath.join(self._p(path), *names)

    # -- reading and housekeeping -----------------------------------------------------------

    def exists(self, path: str) -> bool:
        p = self._p(path)
        with self.store.map_errors(p, "look up"):
            return self.store.stat(p) is not None

    def isdir(self, path: str) -> bool:
        p = self._p(path)
        with self.store.map_errors(p, "look up"):
            got = self.store.stat(p, follow=True)
        return got is not None and got.is_dir

    def isfile(self, path: str) -> bool:
        p = self._p(path)
        with self.store.map_errors(p, "look up"):
            got = self.store.stat(p, follow=True)
        return got is not None and got.kind == "file"

    def listdir(self, path: str) -> list[str]:
        p = self._p(path)
        with self.store.map_errors(p, "list"):
            return sorted(e.path for e in self.store.entries(p))

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Create the directory ``path``; ``raise_if_exists`` is a check before the call,
        not a lock."""
        p, store = self._p(path), self.store
        with store.map_errors(p, "create the directory"):
            got = store.stat(p, follow=True)
            if got is None and parents:
                store.ensure_parent(posixpath.join(p, "_"), durable=False)
            elif got is None:
                store.mkdir(p)
        if got is not None and not got.is_dir:
            shown = store.shown(p)
            raise NotADirectory(f"cannot create the directory {shown}: a file is there", shown)
        if got is not None and raise_if_exists:
            raise TargetExistsError.taken(store.shown(p), "directory")

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Delete ``path``. A directory tree disappears in one step (readers see it whole or
        gone, never half-deleted). No trash is used (``skip_trash`` is Luigi's signature)."""
        p, store = self._p(path), self.store
        shown = store.shown(p)
        if p == "/":
            raise InvalidTarget("refusing to remove the root directory '/'", shown)
        with store.map_errors(p, "remove"):
            got = store.stat(p)
            if got is None:
                raise TargetNotFound(
                    f"cannot remove {shown}: it does not exist; nothing was removed", shown
                )
            if got.is_dir and recursive and not store.atomic_delete:
                aside = sibling(p, new_token(), "old")
                try:
                    store.rename_noreplace(p, aside)
                except RenameUnsupported:
                    store.rename_plain(p, aside)  # the name is unique: nothing to replace
                p = aside
            store.delete(p, recursive=recursive)

    def open_input(self, path: str) -> IO[bytes]:
        p = self._p(path)
        with self.store.map_errors(p, "read"):
            return self.store.open_read(p)

    def cleanup(self, path: str, *, older_than: timedelta, dry_run: bool = False) -> CleanupReport:
        """`maintenance.cleanup`: stale temporaries go (renamed to a trash name, then
        deleted); one whose writer's lease is live stays, whatever ``older_than`` says."""
        return maintenance.cleanup(
            self.store,
            self._p(path),
            older_than=older_than,
            dry_run=dry_run,
            period=self.lease_period,
        )

    def recover(self, path: str, *, how: RecoverHow = "auto", force: bool = False) -> str:
        """`maintenance.recover`: an aside younger than the lease period is restored only
        with ``force`` (its overwrite may still be running)."""
        return maintenance.recover(
            self.store, self._p(path), how=how, force=force, period=self.lease_period
        )

    # -- atomic primitives ------------------------------------------------------------------

    def rename_dont_move(self, src: str, dst: str, *, guarantee: Guarantee = "strict") -> None:
        """Rename ``src`` to ``dst`` in one step: never into a directory, never replacing;
        `TargetExistsError` when ``dst`` exists. Missing parents of ``dst`` are created."""
        check_guarantee(guarantee)
        s, d, store = self._p(src), self._p(dst), self.store
        with store.map_errors(s, "rename"):
            got = store.stat(s)
        self._require_rename(d, guarantee, directory=bool(got and got.is_dir))
        if got is None:
            shown = store.shown(s)
            raise TargetNotFound(
                f"cannot rename {shown} to {store.shown(d)}: {shown} does not exist; nothing "
                "was renamed",
                shown,
            )
        with store.map_errors(d, "rename onto"):
            store.ensure_parent(d, durable=True)
        publish_noreplace(store, s, d, Evidence(got), guarantee=guarantee)
        with store.map_errors(d, "sync"):
            store.sync_dir(posixpath.dirname(d))
            store.sync_dir(posixpath.dirname(s))

    def copy(self, src: str, dst: str) -> None:
        """Copy the file or directory tree ``src`` to ``dst``, committed like any output
        (`TargetExistsError` if ``dst`` exists). Bytes pass through this process."""
        s, d = self._p(src), self._p(dst)
        if not self.isdir(s):
            with self.open_input(s) as source, self.open_output(d) as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            return
        store = self.store
        with self.staging(d, directory=True) as staged, store.map_errors(s, "copy"):
            root = store.backend_path(staged.path)
            store.mkdir(root)
            for entry in store.walk(s):
                target = posixpath.join(root, posixpath.relpath(entry.path, s))
                if entry.is_dir:
                    store.mkdir(target)
                elif entry.kind == "file":
                    with store.open_read(entry.path) as source:
                        out = HashingSink(store, store.create(target), store.shown(d))
                        with out:
                            shutil.copyfileobj(source, out, 1 << 20)

    def put_if_absent(self, path: str, data: bytes) -> None:
        """Create ``path`` holding ``data`` unless something is there (`TargetExistsError`);
        staged and published like any file output, never written in place."""
        writer = self.open_output(path, if_exists="error")
        try:
            writer.write(data)
        except BaseException:
            writer.discard()
            raise
        writer.commit()

    # -- commits ----------------------------------------------------------------------------

    def open_output(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> FileWriter:
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        p = self._p(path)
        self._require_rename(p, guarantee, directory=False)
        return RenameFileWriter(self, p, if_exists=if_exists, guarantee=guarantee, durable=durable)

    def directory_writer(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        checksums: bool = True,
    ) -> DirectoryWriter:
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        p = self._p(path)
        self._require_rename(p, guarantee, directory=True)
        return RenameDirectoryWriter(
            self, p, if_exists=if_exists, guarantee=guarantee, durable=durable, checksums=checksums
        )

    def staging(
        self,
        path: str,
        *,
        directory: bool,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> Staging:
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        p = self._p(path)
        self._require_rename(p, guarantee, directory=directory)
        return RenameStaging(
            self,
            p,
            directory=directory,
            if_exists=if_exists,
            guarantee=guarantee,
            durable=durable,
        )

    def job(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        checksums: bool = True,
    ) -> JobWriter:
        """Claim ``path`` for a job of many workers (`targets.fs.rename.job`): its claim
        ``.<name>.targets-jobclaim`` and its staging ``.<name>.targets-job-<token>``."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        p = self._p(path)
        self._require_rename(p, guarantee, directory=True)
        return RenameJobWriter(
            self, p, if_exists=if_exists, guarantee=guarantee, durable=durable, checksums=checksums
        )

    def job_task(
        self, path: str, spec: Mapping[str, Any], task_id: TaskId, attempt: int = 0
    ) -> TaskWriter:
        return open_task(self, self._p(path), spec, task_id, attempt)
