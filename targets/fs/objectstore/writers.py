"""The writers of object-store outputs: what happens before the commit, and its call.

- `ObjectFileWriter`: one file, published by one conditional request straight to its final
  key (a put up to one part, else a multipart upload completed conditionally).
- `ObjectDirectoryWriter`: a directory; files are held back (memory, then spool files) or
  streamed as pending multipart uploads to their final keys, so nothing is visible before
  the claim; tools writing by path through its ``filesystem`` take the same route; the
  commit is `targets.fs.objectstore.publish.commit_directory`.
- `ObjectStaging`: ``temporary_path()``; a tool writes under a hidden sibling prefix that the
  commit copies server-side (O(bytes)).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any, BinaryIO, cast

from targets.errors import (
    CommitError,
    InvalidTarget,
    IsADirectory,
    NotADirectory,
    StoreUnavailable,
    TargetExistsError,
)
from targets.fs._lease import LeaseLost
from targets.fs._names import CLAIM, check_relative_name, new_token
from targets.fs.base import DirectoryWriter, FileWriter, IfExists, Staging, WriterState
from targets.fs.objectstore.claim import PROTOCOL, STALE_CLAIM_AFTER, Entry
from targets.fs.objectstore.conditional import (
    Taken,
    Unpublished,
    complete_exclusive,
    complete_resolved,
    copy_conditional,
    published_by,
    put_exclusive,
)
from targets.fs.objectstore.delete import abort_entries, delete_prefix
from targets.fs.objectstore.lease import DocumentLease, lease_lost_error, writer_lease
from targets.fs.objectstore.outcomes import (
    aborted_unpublished,
    interrupted,
    nothing_published,
    outcome_unknown,
)
from targets.fs.objectstore.pathfs import WriterFileSystem
from targets.fs.objectstore.publish import commit_directory, entries_from_staging
from targets.fs.objectstore.store import (
    NoSuchUpload,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    staging_key,
    under,
    writer_metadata,
)

__all__ = [
    "HOLD_MEMORY",
    "Chunker",
    "ObjectDirectoryWriter",
    "ObjectFileWriter",
    "ObjectStaging",
    "PartStream",
]

HOLD_MEMORY = 64 << 20
"""Bytes of small files a directory writer holds in memory before it spools to local disk."""


class Chunker:
    """Collects written bytes; past one part, streams them as a multipart upload (unpublished),
    created with the condition (``if_absent``) it will be completed with. With ``hashed``, it
    also takes the sha256 of what was written (`digest`)."""

    def __init__(
        self, store: ObjectStore, key: str, token: str, *, if_absent: bool, hashed: bool = True
    ) -> None:
        self.store, self.key, self.token, self.if_absent = store, key, token, if_absent
        self.buf = bytearray()
        self.upload_id: str | None = None
        self.parts: list[tuple[int, str]] = []
        self.size = 0
        self._sha = hashlib.sha256() if hashed else None

    def digest(self) -> str | None:
        """The sha256 of the bytes written so far, in hex; None when not ``hashed``."""
        return None if self._sha is None else self._sha.hexdigest()

    def write(self, data: memoryview | bytes) -> None:
        self.buf += data
        self.size += len(data)
        if self._sha is not None:
            self._sha.update(data)
        part_size = self.store.part_size
        while len(self.buf) > part_size:
            self._flush(part_size)

    def _flush(self, n: int) -> None:
        try:
            if self.upload_id is None:
                self.upload_id = self.store.create_upload(
                    self.key, metadata=writer_metadata(self.token), if_absent=self.if_absent
                )
            number = len(self.parts) + 1
            with memoryview(self.buf) as view:  # one copy of the part, not two
                part = bytes(view[:n])
            etag = self.store.upload_part(self.key, self.upload_id, number, part)
        except PreconditionFailed:  # a store that checks the condition early (GCS may)
            raise TargetExistsError.taken(self.store.url(self.key), "file") from None
        except (NoSuchUpload, ObjectNotFound):
            url = self.store.url(self.key)
            raise CommitError(
                f"cannot write {url}: its multipart upload was aborted meanwhile (by a "
                "cleanup, or a lifecycle rule); nothing was published, write it again",
                url,
            ) from None
        self.parts.append((number, etag))
        del self.buf[:n]

    def finish_parts(self) -> None:
        """Upload the rest as the last part (multipart only)."""
        if self.upload_id is not None and self.buf:
            self._flush(len(self.buf))

    def abort(self) -> None:
        self.buf = bytearray()
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            with contextlib.suppress(Exception):
                self.store.abort_upload(self.key, upload_id)


class _Spool:
    """The local spool file of one directory writer: every held-back file past
    `HOLD_MEMORY` is appended to it, so a writer keeps one descriptor open whatever the
    number of files. Each file is read back through its own `_SpoolSlice`."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0

    def add(self, data: bytes) -> _SpoolSlice:
        """Append ``data``; return a reader of exactly those bytes."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="targets-spool-")  # noqa: SIM115 (closed by close())
        os.pwrite(self._file.fileno(), data, self._end)
        start, self._end = self._end, self._end + len(data)
        return _SpoolSlice(self._file.fileno(), start, len(data))

    def close(self) -> None:
        """Delete the spool file (its readers are unusable afterwards)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file, self._end = None, 0


class _SpoolSlice(io.RawIOBase):
    """A seekable, read-only view of ``size`` bytes at ``start`` of a spool file. Reads use
    ``os.pread``: views of one spool file may be sent from several threads at once.
    Closing a view leaves the spool file open."""

    def __init__(self, fd: int, start: int, size: int) -> None:
        super().__init__()
        self._fd, self._start, self._size, self._pos = fd, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        if n == 0:
            return 0
        chunk = os.pread(self._fd, n, self._start + self._pos)
        view[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class ObjectFileWriter(FileWriter):
    """One file output: one conditional request publishes it, straight to its final key.

    Up to one part it is a single put (``If-None-Match: *`` on S3); beyond, the parts stream
    as a multipart upload that the commit completes conditionally. No temporary key, no copy.
    ``if_exists="overwrite"`` makes the same request unconditional: an atomic replace.
    A store that stops answering during the commit raises `StoreUnavailable` saying whether
    the outcome is known (before the publishing request) or unknown (during it).
    """

    log_protocol = "objectstore-conditional-write"

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        path: str,
        *,
        if_exists: IfExists,
        before_commit: Callable[[], None] | None = None,
        stale_after: float = STALE_CLAIM_AFTER,
    ) -> None:
        super().__init__(path)
        self.token = new_token()
        self._store = store
        self._key = key
        self._if_exists = if_exists
        self._before_commit = before_commit
        # A file output's manifest is its own metadata: no checksum to take.
        self._chunks = Chunker(store, key, self.token, if_absent=if_exists == "error", hashed=False)
        self._stale_after = stale_after
        self._lease: DocumentLease | None = None
        """Held from the first part of a multipart upload on (a pending upload is work
        that `cleanup` must leave alone while this writer lives)."""

    def flush(self) -> None:
        """Nothing to flush: bytes are sent as parts fill up, and published at `commit`.
        (A no-op after the end too, so that wrappers that flush on close keep working.)"""

    def _write(self, data: memoryview) -> None:
        try:
            self._chunks.write(data)
        except BaseException:
            self.discard()
            raise
        if self._chunks.upload_id is not None and self._lease is None:
            self._lease = writer_lease(self._store, self._key, self.token, self._stale_after)

    def _commit(self) -> None:
        try:
            self._publish()
        finally:
            if self._lease is not None:
                self._lease.delete()

    def _publish(self) -> None:
        store, key, chunks = self._store, self._key, self._chunks
        url = store.url(key)
        exclusive = self._if_exists == "error"
        try:
            if self._before_commit is not None:
                self._before_commit()
            chunks.finish_parts()
            if self._lease is not None:
                self._lease.lease.ensure()
        except StoreUnavailable as exc:
            raise interrupted(exc, url, nothing_published(url)) from exc
        except LeaseLost as lost:
            chunks.abort()
            raise lease_lost_error(url, lost) from None
        try:
            if chunks.upload_id is None:
                data = bytes(chunks.buf)
                if exclusive:
                    put_exclusive(store, key, data, self.token)
                else:
                    store.put(key, data, metadata=writer_metadata(self.token), if_absent=False)
                return
            if exclusive:
                complete_exclusive(store, key, chunks.upload_id, chunks.parts, self.token)
            else:
                complete_resolved(
                    store, key, chunks.upload_id, chunks.parts, self.token, if_absent=False
                )
            chunks.upload_id = None
        except Taken:
            raise TargetExistsError.taken(url, "file") from None
        except Unpublished as exc:
            chunks.upload_id = None
            raise interrupted(exc, url, aborted_unpublished(url)) from exc
        except StoreUnavailable as exc:
            if published_by(store, key, self.token) is not None:
                chunks.upload_id = None  # it took effect; only its answer was lost (G7)
                return
            raise interrupted(exc, url, outcome_unknown(url, self.token)) from exc

    def _discard(self) -> None:
        self._chunks.abort()
        if self._lease is not None:
            self._lease.delete()


# -- directory outputs----------------------------------------------------------------------


class PartStream(io.BufferedIOBase):
    """One file of a directory output or of a task attempt, written through ``chunks`` (held
    back, or streamed as an unpublished upload); ``on_close`` receives it once it is closed."""

    def __init__(self, name: str, chunks: Chunker, on_close: Callable[[PartStream], None]) -> None:
        super().__init__()
        self.name = name
        self.key = chunks.key
        self.chunks = chunks
        self._on_close = on_close

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError(f"write to closed file {self.name!r}")
        view = memoryview(data).cast("B")
        self.chunks.write(view)
        return view.nbytes

    def close(self) -> None:
        if not self.closed:
            try:
                self._on_close(self)
            finally:
                super().close()


class ObjectDirectoryWriter(DirectoryWriter):
    """A directory output on an object store: claim -> publish -> ``_SUCCESS``.

    Files opened with `open` are held back (in memory up to `HOLD_MEMORY` bytes for the
    writer, then in local spool files) while smaller than one part, and otherwise streamed
    as multipart uploads that stay pending; nothing is visible before the claim.

    Tools that need a path write under ``path``, a URL (``s3://bucket/.name.targets-tmp-
    <token>``), through ``filesystem`` (``pyarrow.dataset.write_dataset(data, w.path,
    filesystem=w.filesystem)``, ``df.to_parquet(w.path + "/x.parquet",
    filesystem=w.filesystem)``): each file they write is this writer's own `open`, so the
    commit copies none of their bytes (`targets.fs.objectstore.pathfs`). It takes the URL
    and the bare ``bucket/key`` form (``w.filesystem._strip_protocol(w.path)``) alike.
    Objects that another client writes under ``path`` (a tool given only a URL and
    storage options) are found at the commit and copied server-side: O(bytes).
    """

    log_protocol = PROTOCOL

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        fsspec_fs: Callable[[], Any],
        *,
        if_exists: IfExists,
        before_commit: Callable[[], None] | None = None,
        stale_after: float = STALE_CLAIM_AFTER,
        concurrency: int | None = None,
        checksums: bool = True,
    ) -> None:
        super().__init__()
        self.token = new_token()
        self._store = store
        self._checksums = checksums
        self._prefix = prefix
        self.final = store.url(prefix)
        self._fsspec = fsspec_fs
        self._if_exists = if_exists
        self._before_commit = before_commit
        self._stale_after = stale_after
        self._concurrency = concurrency
        self._staging = staging_key(prefix, self.token)
        self._staging_used = False
        self._entries: dict[str, Entry] = {}
        self._open: dict[str, PartStream] = {}
        self._held = 0
        self._spool = _Spool()
        self._pathfs: WriterFileSystem | None = None
        self._lease = writer_lease(store, prefix, self.token, stale_after)

    @property
    def path(self) -> str:  # type: ignore[override]
        """The URL under which tools write the output's files: through ``filesystem`` they
        go straight to their final keys (nothing is copied); objects another client writes
        there are staged, copied to the output at the commit, then deleted."""
        self._staging_used = True
        return self._store.url(self._staging)

    @property
    def filesystem(self) -> WriterFileSystem:
        """An fsspec filesystem that writes each file under ``path`` as this writer's own
        `open` of the same relative name: invisible until the commit, which copies none of
        its bytes. One per writer (`targets.fs.objectstore.pathfs.WriterFileSystem`)."""
        if self._pathfs is None:
            self._pathfs = WriterFileSystem(self, self._store.url(self._staging), output=self.final)
        return self._pathfs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._store.url(self._prefix)!r} {self.state.value}>"

    def _require_pending(self, action: str) -> None:
        if self.state is not WriterState.PENDING:
            url = self._store.url(self._prefix)
            raise InvalidTarget(
                f"cannot {action}: the directory writer for {url} is already "
                f"{self.state.value}; open a new one to write again",
                url,
            )

    def open(self, name: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        self._require_pending("open a file")
        url = self._store.url(self._prefix)
        check_relative_name(name, url)
        if name == CLAIM:
            raise InvalidTarget(f"file name {name!r} in output {url} is reserved", url)
        if mode not in ("w", "wt", "wb"):
            raise InvalidTarget(
                f"mode {mode!r} is not a write mode for a file of {url}; use 'w' or 'wb'", url
            )
        if name in self._entries or name in self._open:
            raise TargetExistsError(f"{name} was already written in this output ({url})", url)
        key = under(self._prefix) + name
        # Completed only after the claim: exclusively, except for an overwrite (whose old
        # files are still there when the upload starts, which GCS may check at once).
        exclusive = self._if_exists != "overwrite"
        chunks = Chunker(self._store, key, self.token, if_absent=exclusive, hashed=self._checksums)
        stream = PartStream(name, chunks, lambda s: self._record(s.name, s.chunks))
        self._open[name] = stream
        if "b" in mode:
            return cast(IO[bytes], stream)
        return io.TextIOWrapper(stream, **kwargs)

    def _record(self, name: str, chunks: Chunker) -> None:
        self._open.pop(name, None)
        if self.state is not WriterState.PENDING:
            chunks.abort()
            return
        sha = chunks.digest()
        if chunks.upload_id is not None:
            try:
                chunks.finish_parts()
            except BaseException:
                chunks.abort()  # the file is not part of the output: free its upload
                raise
            self._entries[name] = Entry(
                name,
                chunks.size,
                "upload",
                sha,
                upload_id=chunks.upload_id,
                parts=list(chunks.parts),
                if_absent=chunks.if_absent,
            )
            return
        held = bytes(chunks.buf)
        chunks.buf = bytearray()
        data: bytes | BinaryIO = held
        if self._held + len(held) > HOLD_MEMORY:
            data = cast(BinaryIO, self._spool.add(held))
        else:
            self._held += len(held)
        self._entries[name] = Entry(name, chunks.size, "put", sha, data=data)

    def _staged_entries(self) -> list[Entry]:
        if not self._staging_used:
            return []
        return entries_from_staging(self._store, self._staging, self._store.url(self._prefix))

    def _commit(self) -> dict[str, Any]:
        try:
            return self._commit_entries()
        finally:
            self._spool.close()
            self._lease.delete()

    def _commit_entries(self) -> dict[str, Any]:
        url = self._store.url(self._prefix)
        try:
            for stream in list(self._open.values()):
                stream.close()
            if self._before_commit is not None:
                self._before_commit()
            self._lease.lease.ensure()  # not fenced by a cleanup of this writer's staging
            staged = self._staged_entries()
        except StoreUnavailable as exc:
            raise interrupted(exc, url, nothing_published(url)) from exc
        except LeaseLost as lost:
            abort_entries(self._store, self._prefix, list(self._entries.values()))
            raise lease_lost_error(url, lost) from None
        clash = sorted(set(self._entries) & {e.name for e in staged})
        if clash:
            raise InvalidTarget(
                f"{clash[0]} of output {url} was written both with open() and under the "
                "staging path; write each file once",
                url,
            )
        return commit_directory(
            self._store,
            self._prefix,
            self.token,
            [*self._entries.values(), *staged],
            if_exists=self._if_exists,
            staging=self._staging if self._staging_used else None,
            stale_after=self._stale_after,
            concurrency=self._concurrency,
        )

    def _discard(self) -> None:
        for stream in list(self._open.values()):
            with contextlib.suppress(Exception):
                stream.close()
        abort_entries(self._store, self._prefix, list(self._entries.values()))
        self._entries.clear()
        self._spool.close()
        if self._staging_used:
            with contextlib.suppress(Exception):
                delete_prefix(self._store, self._staging, concurrency=self._concurrency)
        self._lease.delete()


class ObjectStaging(Staging):
    """``temporary_path()`` on an object store: the tool writes under a hidden sibling key
    (or prefix); the commit copies it server-side, then deletes it. O(bytes) by nature.

    A file is copied into a multipart upload completed conditionally (one decision point,
    no replace); a directory goes through claim -> copy -> ``_SUCCESS``.
    """

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        *,
        directory: bool,
        if_exists: IfExists,
        before_commit: Callable[[], None] | None = None,
        stale_after: float = STALE_CLAIM_AFTER,
        concurrency: int | None = None,
    ) -> None:
        super().__init__()
        self.token = new_token()
        self._store = store
        self._key = prefix
        self._directory = directory
        self._if_exists = if_exists
        self._before_commit = before_commit
        self._stale_after = stale_after
        self._concurrency = concurrency
        self._staging = staging_key(prefix, self.token)
        self.path = store.url(self._staging)
        """The URL where the tool writes (``targets.fs.filesystem(path).fsspec`` opens it)."""
        self._lease = writer_lease(store, prefix, self.token, stale_after)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self.state.value}>"

    def _commit(self) -> dict[str, Any] | None:
        try:
            return self._commit_staged()
        finally:
            self._lease.delete()

    def _commit_staged(self) -> dict[str, Any] | None:
        store, url = self._store, self._store.url(self._key)
        staged: ObjectInfo | None = None
        try:
            if self._before_commit is not None:
                self._before_commit()
            self._lease.lease.ensure()  # not fenced by a cleanup of this staging
            if self._directory:
                entries = entries_from_staging(store, self._staging, url)
                if not entries and store.head(self._staging) is not None:
                    raise NotADirectory(
                        f"cannot commit the directory output {url}: a file was written at its "
                        f"temporary path {self.path}",
                        url,
                    )
            elif (staged := store.head(self._staging)) is None:
                if next(store.list(self._staging + "/"), None) is not None:
                    raise IsADirectory(
                        f"cannot commit the file output {url}: a directory was written at its "
                        f"temporary path {self.path}",
                        url,
                    )
                raise CommitError(
                    f"cannot commit {url}: nothing was written to the temporary path {self.path}",
                    url,
                )
        except StoreUnavailable as exc:
            raise interrupted(exc, url, nothing_published(url)) from exc
        except LeaseLost as lost:
            raise lease_lost_error(url, lost) from None
        if self._directory:
            return commit_directory(
                store,
                self._key,
                self.token,
                entries,
                if_exists=self._if_exists,
                staging=self._staging,
                stale_after=self._stale_after,
                concurrency=self._concurrency,
            )
        try:
            copy_conditional(
                store, self._staging, self._key, self.token, if_absent=self._if_exists == "error"
            )
        except Taken:
            raise TargetExistsError.taken(url, "file") from None
        except StoreUnavailable as exc:
            raise interrupted(exc, url, outcome_unknown(url, self.token)) from exc
        with contextlib.suppress(Exception):
            store.delete(self._staging, if_match=staged.etag if staged else None)
        return None

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            delete_prefix(self._store, self._staging, concurrency=self._concurrency)
        self._lease.delete()
