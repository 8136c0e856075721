"""The writers of a rename-based commit: one file, one directory tree, a staging path.

Each stages at a hidden sibling ``.<name>.targets-tmp-<token>`` of its output, and commits by
`targets.fs.rename.publish.publish`. Nothing is written at the final path before that one
rename (G1); a writer that fails or is discarded removes its temporary and nothing else (G8).

While it lives, each holds a lease on its temporary (`targets.fs.rename.lease`), so that
`cleanup` leaves it alone (G10). Right before publishing it checks that it still holds the
lease and that what it staged is all there (the staged file at the size written; every file
written through a directory writer's ``open()``): a cleanup that removed staging is a
`CommitError`, never a partial output published as a success.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from targets.errors import (
    CommitError,
    InvalidTarget,
    IsADirectory,
    NotADirectory,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import _manifest
from targets.fs._names import SUCCESS, check_relative_name, new_token
from targets.fs.base import (
    DirectoryWriter,
    FileWriter,
    Guarantee,
    IfExists,
    PartRecord,
    Staging,
    WriterState,
)
from targets.fs.rename.jobclaim import refuse_live_job
from targets.fs.rename.lease import StagingLease, is_inner_marker
from targets.fs.rename.publish import (
    Evidence,
    before_publish,
    publish,
    sibling,
    synced_after_publish,
)
from targets.fs.rename.store import RenameStore, Sink

if TYPE_CHECKING:
    from targets.fs.rename.fs import RenameFS

__all__ = ["RenameDirectoryWriter", "RenameFileWriter", "RenameStaging", "commit_tree"]

_ROOT_ERROR = "cannot write the root directory '/' as an output; name a path below it"


class HashingSink(io.RawIOBase):
    """A `Sink` as a raw stream whose errors are `targets.errors` naming ``shown``. With
    ``on_close``, it counts what passes through it (and hashes it, if ``hashed``) and
    reports the `PartRecord` once the file is complete in the store."""

    def __init__(
        self,
        store: RenameStore,
        sink: Sink,
        shown: str,
        name: str = "",
        on_close: Callable[[PartRecord], None] | None = None,
        *,
        hashed: bool = True,
    ) -> None:
        self._store = store
        self._sink = sink
        self._shown = shown
        self._name = name
        self._on_close = on_close
        self._hash = hashlib.sha256() if on_close is not None and hashed else None
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        with self._store.map_errors(self._shown, "write"):
            done = 0
            while done < view.nbytes:
                done += self._sink.write(view[done:])
        if self._hash is not None:
            self._hash.update(view)
        self.size += done
        return done

    def fileno(self) -> int:
        fileno = getattr(self._sink, "fileno", None)
        if fileno is None:
            raise io.UnsupportedOperation("this store's files have no descriptor")
        return int(fileno())

    def close(self) -> None:
        if self.closed:
            return
        try:
            with self._store.map_errors(self._shown, "close"):
                self._sink.close()
        finally:
            super().close()
        if self._on_close is not None:
            digest = None if self._hash is None else self._hash.hexdigest()
            self._on_close(PartRecord(self._name, self.size, digest))


def prepare(
    store: RenameStore,
    path: str,
    *,
    directory: bool,
    if_exists: IfExists,
    durable: bool,
    parents: bool = False,
) -> None:
    """Refuse early what the commit would refuse: the wrong kind of entry at ``path``, or
    any entry with ``if_exists="error"`` (the commit still decides; this only fails sooner).
    ``parents`` creates the missing parents now (else `create_own` does when it must)."""
    shown = store.shown(path)
    if path == "/":
        raise InvalidTarget(_ROOT_ERROR, path)
    with store.map_errors(path, "open for writing"):
        if parents:
            store.ensure_parent(path, durable=durable)
        got = store.stat(path)
    if got is None:
        return
    if directory and not got.is_dir:
        raise NotADirectory(
            f"cannot write the directory {shown}: a file is there; use a FileTarget (a URL "
            "without a trailing '/') or another path",
            shown,
        )
    if not directory and got.is_dir:
        raise IsADirectory(
            f"cannot write the file {shown}: a directory is there; use a DirectoryTarget "
            "(a URL ending in '/') or another path",
            shown,
        )
    if if_exists == "error":
        raise TargetExistsError.taken(shown)


def create_own(
    store: RenameStore, tmp: str, final: str, action: str, *, durable: bool, directory: bool
) -> Sink | None:
    """Create this writer's temporary ``tmp`` (a file, returned, or a directory), making
    the missing parents of ``final`` first if that is what stopped it."""
    try:
        return _create_once(store, tmp, final, action, directory=directory)
    except (TargetNotFound, NotADirectory):
        pass  # a parent is missing, or is a file: ensure_parent makes them or names the file
    with store.map_errors(final, action):
        store.ensure_parent(final, durable=durable)
    return _create_once(store, tmp, final, action, directory=directory)


def _create_once(
    store: RenameStore, tmp: str, final: str, action: str, *, directory: bool
) -> Sink | None:
    """Create ``tmp`` exclusively. A create that failed may still have taken effect (an
    error after the fact); the name is unique to this writer, so it is removed, unless the
    name was taken (then the entry is someone else's) or the parent is missing."""
    try:
        with store.map_errors(final, action):
            if directory:
                store.mkdir(tmp)
                return None
            return store.create(tmp)
    except (TargetExistsError, TargetNotFound, NotADirectory):
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(tmp)
        raise


def _evidence(
    store: RenameStore, tmp: str, final: str, size: int | None = None, **proof: Any
) -> Evidence:
    """The staged entry at ``tmp``, checked: there, and ``size`` bytes long when given."""
    with before_publish(store.shown(final)), store.map_errors(final, "commit"):
        staged = store.stat(tmp)
    shown = store.shown(final)
    if staged is None:
        raise CommitError(
            f"cannot commit {shown}: the staged output {store.shown(tmp)} is gone (removed "
            "by a cleanup?); nothing was published",
            shown,
        )
    if size is not None and staged.size != size:
        raise CommitError(
            f"cannot commit {shown}: the staged file {store.shown(tmp)} holds {staged.size} "
            f"bytes, not the {size} written (replaced by someone else?); nothing was published",
            shown,
        )
    return Evidence(staged, **proof)


def _publish_own(
    store: RenameStore,
    tmp: str,
    final: str,
    evidence: Evidence,
    *,
    if_exists: IfExists,
    guarantee: Guarantee,
    durable: bool,
) -> None:
    """Publish this writer's ``tmp``; on failure remove it. Sync the parent when durable."""
    try:
        publish(store, tmp, final, evidence, if_exists=if_exists, guarantee=guarantee)
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(tmp)
        raise
    if durable:
        with synced_after_publish(store, final):
            store.sync_dir(posixpath.dirname(final))


class RenameFileWriter(FileWriter):
    """One file output: written to its temporary, published by one rename.

    Writes are gathered up to the store's ``write_buffer`` (a larger write goes straight
    through), so a small file reaches the store in one write.
    """

    def __init__(
        self,
        fs: RenameFS,
        path: str,
        *,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
    ) -> None:
        super().__init__(path)
        store = fs.store
        self.log_protocol = store.manifest_protocol
        self._store = store
        self._if_exists = if_exists
        self._guarantee = guarantee
        self._durable = durable
        self.token = new_token()
        self._tmp = sibling(path, self.token)
        self._pending = bytearray()
        self._open = False
        self._written: int | None = 0
        """Bytes sent to the staged file; None once a tool has its descriptor."""
        # The content hash settles an ambiguous publish where identities are weak (G7).
        self._hash = None if store.strong_identity else hashlib.sha256()
        try:
            prepare(store, path, directory=False, if_exists=if_exists, durable=durable)
            sink = create_own(
                store, self._tmp, path, "open for writing", durable=durable, directory=False
            )
        except BaseException:
            self._never_started()
            raise
        assert sink is not None  # a file was created, not a directory
        self._sink = sink
        self._open = True
        self._lease = StagingLease(store, self._tmp, path, fs.lease_period)

    def _write(self, data: memoryview) -> None:
        if not self._pending and data.nbytes >= self._store.write_buffer:
            self._send(data)
            return
        self._pending += data
        if len(self._pending) >= self._store.write_buffer:
            self._drain()

    def _drain(self) -> None:
        if self._pending:
            chunk, self._pending = self._pending, bytearray()
            self._send(memoryview(chunk))

    def _send(self, view: memoryview) -> None:
        with self._store.map_errors(self.path, "write"):
            done = 0
            while done < view.nbytes:
                done += self._sink.write(view[done:])
        if self._written is not None:
            self._written += done
        if self._hash is not None:
            self._hash.update(view)

    def flush(self) -> None:
        if self._state is WriterState.PENDING:
            self._drain()

    def fileno(self) -> int:
        """The descriptor of the staged file, for tools that write to it directly."""
        self.flush()
        self._written = None  # the tool may write more than this writer counts
        fileno = getattr(self._sink, "fileno", None)
        if fileno is None:
            raise io.UnsupportedOperation(f"{self.path}: this store's files have no descriptor")
        return int(fileno())

    def _close_sink(self) -> None:
        self._open = False
        self._sink.close()

    def _commit(self) -> None:
        try:
            self._commit_staged()
        finally:
            self._lease.end()

    def _commit_staged(self) -> None:
        store = self._store
        with before_publish(store.shown(self.path)):
            self._drain()
            with store.map_errors(self.path, "close"):
                if self._durable:
                    self._sink.sync()
                self._close_sink()
        self._lease.check()
        digest = None if self._hash is None else self._hash.hexdigest()
        evidence = _evidence(store, self._tmp, self.path, self._written, sha256=digest)
        _publish_own(
            store,
            self._tmp,
            self.path,
            evidence,
            if_exists=self._if_exists,
            guarantee=self._guarantee,
            durable=self._durable,
        )

    def _discard(self) -> None:
        if self._open:
            with contextlib.suppress(Exception):
                self._close_sink()
        if hasattr(self, "_lease"):
            self._lease.end()
        with contextlib.suppress(Exception):
            self._store.delete(self._tmp, recursive=False)


def commit_tree(
    store: RenameStore,
    tmp: str,
    final: str,
    token: str,
    known: dict[str, PartRecord],
    *,
    if_exists: IfExists,
    guarantee: Guarantee,
    durable: bool,
) -> dict[str, Any]:
    """Write ``_SUCCESS`` with the manifest into the staged tree ``tmp`` and publish it at
    ``final``; return the manifest. On failure ``tmp`` is removed.

    Every file in ``known`` (written through ``open()``) must still be in the tree at its
    recorded size, else `CommitError` naming what is missing, and nothing is published."""
    shown = store.shown(final)
    try:
        with before_publish(shown), store.map_errors(final, "stage"):
            manifest = _stage_manifest(store, tmp, final, token, known)
            if durable:
                store.sync_tree(tmp)
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(tmp)
        raise
    evidence = _evidence(store, tmp, final, token=token)
    _publish_own(
        store, tmp, final, evidence, if_exists=if_exists, guarantee=guarantee, durable=durable
    )
    return manifest


def _stage_manifest(
    store: RenameStore, tmp: str, final: str, token: str, known: dict[str, PartRecord]
) -> dict[str, Any]:
    base = tmp.rstrip("/") + "/"
    parts: list[PartRecord] = []
    unseen = dict(known)
    try:
        walked = store.walk(tmp, strict=True)
    except FileNotFoundError as exc:
        raise _vanished(store, final, exc) from None
    for entry in walked:
        rel = entry.path[len(base) :]
        if "/" not in rel and is_inner_marker(rel):
            store.delete(entry.path, recursive=False)  # left by a failed lease renewal
            continue
        if rel == SUCCESS and entry.is_dir:
            shown = store.shown(final)
            raise CommitError(
                f"cannot commit {shown}: a directory named {SUCCESS} was written into it; "
                "that name is reserved for the manifest, rename the directory",
                shown,
            )
        if rel == SUCCESS:
            store.delete(entry.path, recursive=False)  # a tool's own marker; ours replaces it
            continue
        if entry.kind != "file":
            continue
        record = known.get(rel)
        if record is None or record.size != entry.size:
            record = PartRecord(rel, entry.size)
        else:
            del unseen[rel]
        parts.append(record)
    if unseen:
        _missing_parts(store, tmp, final, unseen)
    manifest = _manifest.build(token, parts, store.manifest_protocol)
    sink = store.create(posixpath.join(tmp, SUCCESS))
    out = HashingSink(store, sink, store.shown(final), SUCCESS)
    try:
        out.write(_manifest.encode(manifest))
    finally:
        out.close()
    return manifest


def _vanished(store: RenameStore, final: str, exc: FileNotFoundError) -> CommitError:
    shown, gone = store.shown(final), exc.filename
    what = store.shown(gone) if isinstance(gone, str) else "a file"
    return CommitError(
        f"cannot commit {shown}: {what} vanished from its staging while the commit listed it "
        "(removed by a cleanup?); nothing was published, write the output again",
        shown,
    )


def _missing_parts(store: RenameStore, tmp: str, final: str, unseen: dict[str, PartRecord]) -> None:
    shown = store.shown(final)
    names = sorted(unseen)
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    raise CommitError(
        f"cannot commit {shown}: {len(names)} file(s) this writer wrote are missing from its "
        f"staging {store.shown(tmp)} or changed size ({listed}; removed by a cleanup?); "
        "nothing was published, write the output again",
        shown,
    )


class _Staged:
    """What a staged writer of one output holds: its store, final path, options, token and
    the name of its temporary (``path`` is that temporary as tools see it)."""

    _store: RenameStore
    final: str
    path: str
    token: str
    _tmp: str
    _if_exists: IfExists
    _guarantee: Guarantee
    _durable: bool
    log_protocol: str

    def _begin(
        self,
        fs: RenameFS,
        path: str,
        *,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
    ) -> RenameStore:
        store = fs.store
        self.log_protocol = store.manifest_protocol
        self._store = store
        self.final = path
        self._if_exists = if_exists
        self._guarantee = guarantee
        self._durable = durable
        self.token = new_token()
        self._tmp = sibling(path, self.token)
        self.path = store.shown(self._tmp)
        return store


class RenameDirectoryWriter(_Staged, DirectoryWriter):
    """A directory output: files written into a staged tree, published with ``_SUCCESS``
    by one rename."""

    def __init__(
        self,
        fs: RenameFS,
        path: str,
        *,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
        checksums: bool = True,
    ) -> None:
        super().__init__()
        store = self._begin(fs, path, if_exists=if_exists, guarantee=guarantee, durable=durable)
        self._fs = fs
        self._checksums = checksums
        self._parts: dict[str, PartRecord] = {}
        self._open: dict[str, IO[Any]] = {}
        try:
            prepare(store, path, directory=True, if_exists=if_exists, durable=durable)
            with store.map_errors(path, "look for a job on"):
                refuse_live_job(store, path, fs.lease_period)
            create_own(store, self._tmp, path, "stage", durable=durable, directory=True)
        except BaseException:
            self._never_started()
            raise
        self._lease = StagingLease(store, self._tmp, path, fs.lease_period)

    @property
    def filesystem(self) -> Any:
        return self._fs.fsspec

    def open(self, name: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        self._require_pending("open a file")
        shown = self._store.shown(self.final)
        check_relative_name(name, shown)
        if mode not in ("w", "wt", "wb"):
            raise InvalidTarget(
                f"mode {mode!r} is not a write mode for a file of {shown}; use 'w' or 'wb'",
                shown,
            )
        if name in self._parts or name in self._open:
            raise TargetExistsError(f"{name} was already written in this output ({shown})", shown)
        with self._store.map_errors(self.final, "write"):
            sink = self._store.create(posixpath.join(self._tmp, name), parents=True)
        raw = HashingSink(
            self._store, sink, f"{shown}/{name}", name, self._record, hashed=self._checksums
        )
        buffered = io.BufferedWriter(raw, self._store.write_buffer)
        self._open[name] = buffered
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, **kwargs)

    def _record(self, part: PartRecord) -> None:
        self._open.pop(part.name, None)
        self._parts[part.name] = part

    def _commit(self) -> dict[str, Any]:
        try:
            return self._commit_staged()
        finally:
            self._lease.end()

    def _commit_staged(self) -> dict[str, Any]:
        store = self._store
        with before_publish(store.shown(self.final)):
            for f in list(self._open.values()):
                f.close()
            self._lease.check()
            with store.map_errors(self.final, "commit"):
                staged = store.stat(self._tmp)
        if staged is None or not staged.is_dir:
            shown = store.shown(self.final)
            raise CommitError(
                f"cannot commit {shown}: its staging directory {self.path} is gone (removed "
                "by a cleanup?); nothing was published",
                shown,
            )
        return commit_tree(
            store,
            self._tmp,
            self.final,
            self.token,
            self._parts,
            if_exists=self._if_exists,
            guarantee=self._guarantee,
            durable=self._durable,
        )

    def _discard(self) -> None:
        for f in list(self._open.values()):
            with contextlib.suppress(Exception):
                f.close()
        if hasattr(self, "_lease"):
            self._lease.end()
        with contextlib.suppress(Exception):
            self._store.delete(self._tmp)


class RenameStaging(_Staged, Staging):
    """A staging path next to the output for tools that write by path; nothing is created
    there, so tools that refuse an existing output directory can write it."""

    def __init__(
        self,
        fs: RenameFS,
        path: str,
        *,
        directory: bool,
        if_exists: IfExists,
        guarantee: Guarantee,
        durable: bool,
    ) -> None:
        super().__init__()
        store = self._begin(fs, path, if_exists=if_exists, guarantee=guarantee, durable=durable)
        self._directory = directory
        try:
            prepare(
                store,
                path,
                directory=directory,
                if_exists=if_exists,
                durable=durable,
                parents=True,  # the tool writing the staging path needs them
            )
            if directory:
                with store.map_errors(path, "look for a job on"):
                    refuse_live_job(store, path, fs.lease_period)
        except BaseException:
            self._never_started()
            raise
        self._lease = StagingLease(store, self._tmp, path, fs.lease_period, missing_ok=True)

    def _commit(self) -> dict[str, Any] | None:
        try:
            return self._commit_staged()
        finally:
            self._lease.end()

    def _commit_staged(self) -> dict[str, Any] | None:
        store, shown = self._store, self._store.shown(self.final)
        self._lease.check()
        with before_publish(shown), store.map_errors(self.final, "commit"):
            staged = store.stat(self._tmp)
        if staged is None:
            raise CommitError(
                f"cannot commit {shown}: nothing was written to the temporary path {self.path}",
                shown,
            )
        if self._directory != staged.is_dir:
            cls: type[TargetError] = NotADirectory if self._directory else IsADirectory
            written, wanted = ("file", "directory") if self._directory else ("directory", "file")
            raise cls(
                f"cannot commit the {wanted} output {shown}: a {written} was written at its "
                f"temporary path {self.path}",
                shown,
            )
        if self._directory:
            return commit_tree(
                store,
                self._tmp,
                self.final,
                self.token,
                {},
                if_exists=self._if_exists,
                guarantee=self._guarantee,
                durable=self._durable,
            )
        if self._durable:
            with before_publish(shown), store.map_errors(self.final, "commit"):
                store.sync_tree(self._tmp)
        _publish_own(
            store,
            self._tmp,
            self.final,
            Evidence(staged),
            if_exists=self._if_exists,
            guarantee=self._guarantee,
            durable=self._durable,
        )
        return None

    def _discard(self) -> None:
        if hasattr(self, "_lease"):
            self._lease.end()
        with contextlib.suppress(Exception):
            self._store.delete(self._tmp)
