"""Jobs on object stores: many task attempts write one directory output, one driver commits.

`ObjectJobWriter` (the driver, `ObjectStoreFS.job`) and `ObjectTaskWriter` (an attempt, in
any process, `ObjectStoreFS.job_task`) implement `targets.fs.job` over the `ObjectStore`
seam, for S3, GCS, Azure and the simulated stores alike (docs/protocols-objectstore.md,
"Jobs"). The steps:

1. `ObjectJobWriter` claims the output at once: the exclusive create of the claim
   (``_targets_claim``, claim schema v2 with ``"kind": "job"`` and ``"stage": "tasks"``, no
   files yet), then a listing that finds nothing else there; the claim is the job's lease,
   renewed in the background until the job ends. An overwrite replaces a committed
   output's claim in the version seen and deletes the old output only at the commit.
2. An attempt holds small files back and carries them inline in its `TaskRecord`
   (`INLINE_FILE_MAX` each, `INLINE_BUDGET` in all); every other file is a multipart upload
   to its final key, tagged with the job's token, left pending (`ObjectStore.hand_over_upload`
   passes what the attempt's process holds of it). Tools that write by path write under the
   attempt's hidden staging prefix ``<output>/_targets_job-<job token>/<task label>/``. A
   record whose JSON would pass `SPILL_OVER` bytes is spilled: its file list goes to the
   hidden object ``<output>/_targets_job-<job token>/<task label>.files.json``.
3. The commit: choose one attempt per task, refuse two chosen attempts writing one name;
   replace the claim (conditionally, by the lease's version) with one listing the chosen
   files (``"stage": "publish"``), so that `recover` can roll a dead driver forward or back;
   abort every other pending upload under the output; publish the chosen files, each
   exclusive; write ``_SUCCESS``; delete the job's hidden prefix. The lease is checked
   before every publishing request; a job whose claim was taken over raises `CommitError`,
   removes what it published and never writes ``_SUCCESS``.
4. An abort (or a failed commit) aborts every pending upload under the output, deletes the
   job's hidden prefix and its claim.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, cast

from targets.errors import (
    CommitError,
    IncompleteCommit,
    InvalidTarget,
    TargetError,
    TargetExistsError,
)
from targets.fs._lease import LeaseLost
from targets.fs._names import CLAIM, SUCCESS, check_relative_name, new_token
from targets.fs.base import IfExists, PartRecord, WriterState
from targets.fs.job import (
    JobWriter,
    TaskId,
    TaskRecord,
    TaskWriter,
    check_no_collision,
    check_task_id,
    choose_attempts,
    task_label,
)
from targets.fs.objectstore.claim import (
    STALE_CLAIM_AFTER,
    Entry,
    claim_document,
)
from targets.fs.objectstore.conditional import put_exclusive
from targets.fs.objectstore.delete import delete_prefix, delete_version
from targets.fs.objectstore.lease import DocumentLease, lease_lost_error, read_lease
from targets.fs.objectstore.parallel import parallel
from targets.fs.objectstore.pathfs import WriterFileSystem
from targets.fs.objectstore.publish import (
    DirectoryCommit,
    check_alone,
    claim_and_list,
    claim_over_committed,
    clear_old,
    entries_from_staging,
    fail_after_claim,
    manifest_of,
    publish_entry,
    write_success,
)
from targets.fs.objectstore.store import ObjectInfo, ObjectStore, under
from targets.fs.objectstore.writers import Chunker, PartStream

__all__ = [
    "AREA_PREFIX",
    "INLINE_BUDGET",
    "INLINE_FILE_MAX",
    "SPEC_FORMAT",
    "SPILL_FORMAT",
    "SPILL_OVER",
    "ObjectJobWriter",
    "ObjectTaskWriter",
    "discard_job_leftovers",
    "job_area",
    "job_token_of_area",
]

INLINE_FILE_MAX = 64 << 10
"""The largest file an attempt carries inline in its record (sent by the driver with one
conditional put); a larger one is a pending multipart upload."""
INLINE_BUDGET = 384 << 10
"""The inline bytes of one attempt in all (about 512 KiB once base64-encoded); files past
it are pending uploads."""
SPILL_OVER = 512 << 10
"""A record whose JSON would be larger is spilled: its file list (and inline bytes) goes to
a hidden object, and the record names it (`TaskRecord.spilled`)."""
AREA_PREFIX = "_targets_job-"
"""The name of a job's hidden prefix inside its output: ``_targets_job-<job token>``."""
SPEC_FORMAT = "targets-job"
SPILL_FORMAT = "targets-task-files"
_AREA_RE = re.compile(r"^_targets_job-([0-9a-f]{32})$")


def job_area(prefix: str, token: str) -> str:
    """The hidden prefix (no trailing ``/``) of job ``token`` inside the output ``prefix``:
    attempts' staging and spilled records live there."""
    return under(prefix) + AREA_PREFIX + token


def job_token_of_area(segment: str) -> str | None:
    """The job token if ``segment`` (one path segment) names a job's hidden prefix."""
    m = _AREA_RE.match(segment)
    return m[1] if m else None


def discard_job_leftovers(
    store: ObjectStore,
    prefix: str,
    token: str,
    *,
    keep: Iterable[str] = (),
    known: Iterable[tuple[str, str]] = (),
    concurrency: int | None = None,
    area: bool = True,
) -> int:
    """Abort every pending upload under the output ``prefix`` whose id is not in ``keep``
    (the output is claimed by job ``token``: they are its attempts', or doomed writers'),
    and the uploads ``known`` (``(key, upload id)``, for stores that cannot list uploads);
    with ``area``, delete the job's hidden prefix. Return how many uploads were aborted."""
    kept = set(keep)
    doomed: dict[str, set[str]] = {}
    listed = [(u.key, u.upload_id) for u in store.list_uploads(under(prefix))]
    for key, upload_id in [*known, *listed]:
        if upload_id not in kept:
            doomed.setdefault(key, set()).add(upload_id)
    parallel(lambda item: store.abort_uploads(*item), list(doomed.items()), concurrency)
    if area:
        delete_prefix(store, job_area(prefix, token), concurrency=concurrency)
    return sum(len(ids) for ids in doomed.values())


def _job_claim(
    token: str, entries: Sequence[Entry], stage: str, lease_period: float, prefix: str
) -> dict[str, Any]:
    """The claim of job ``token``: v2 claim, ``kind`` job, ``stage`` tasks or publish."""
    doc = claim_document(token, entries, None, lease_period=lease_period)
    doc.update(kind="job", stage=stage, job_area=job_area(prefix, token))
    return doc


# -- the driver --------------------------------------------------------------------------


class ObjectJobWriter(JobWriter):
    """The driver of a job on an object store (see the module doc). Opening it claims the
    output: `TargetExistsError` if it is committed (unless ``if_exists="overwrite"``) or
    claimed by a live writer or job (naming it), `IncompleteCommit` for a dead one's claim."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        path: str,
        fsspec_fs: Callable[[], Any],
        *,
        if_exists: IfExists,
        stale_after: float = STALE_CLAIM_AFTER,
        concurrency: int | None = None,
        checksums: bool = True,
    ) -> None:
        self.path = path
        self.token = new_token()
        self._checksums = checksums
        self._store, self._prefix = store, prefix
        self._fsspec = fsspec_fs
        self._if_exists = if_exists
        self._stale_after = stale_after
        self._concurrency = concurrency
        self._old_success: ObjectInfo | None = None
        self._seen_uploads: list[tuple[str, str]] = []
        """Uploads of attempts opened in this process or reported to `commit`: aborted by
        name where the store cannot list uploads (GCS)."""
        self._state = WriterState.PENDING
        self._claimed = DirectoryCommit(
            store, prefix, self.token, [], None, stale_after, concurrency
        )
        self._claim()

    @property
    def url(self) -> str:
        return self._store.url(self._prefix)

    # -- step 1: the claim ------------------------------------------------------------

    def _claim(self) -> None:
        commit = self._claimed
        doc = _job_claim(self.token, [], "tasks", self._stale_after, self._prefix)
        try:
            if self._if_exists == "overwrite":
                etag = self._claim_over(doc)
            else:
                etag, early = claim_and_list(commit, doc)
                try:
                    check_alone(commit, early)
                except BaseException:
                    delete_version(self._store, commit.claim_key, etag)
                    raise
        except IncompleteCommit:
            raise
        except TargetExistsError as exc:
            raise self._refused(exc) from None
        commit.hold(doc, etag)

    def _claim_over(self, doc: dict[str, Any]) -> str:
        """An overwrite's claim: a committed output's claim replaced in the version seen
        (its files are deleted only at the commit, so it stays readable meanwhile)."""
        etag, self._old_success = claim_over_committed(self._claimed, doc)
        return etag

    def _refused(self, exc: TargetExistsError) -> TargetExistsError:
        """``exc``, naming the holder when a live writer or job holds the claim."""
        try:
            if self._store.head(under(self._prefix) + SUCCESS) is not None:
                return exc
            view = read_lease(self._store, self._claimed.claim_key, self._stale_after)
        except TargetError:
            return exc
        if view is None:
            return exc
        what = "job" if view.doc.get("kind") == "job" else "writer"
        return TargetExistsError(
            f"{self.url} is claimed by a live {what}, {view.describe()}; no job was started. "
            "Wait for it and read the output, or write elsewhere",
            self.url,
        )

    # -- what workers need --------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "version": 1,
            "job": self.token,
            "if_exists": self._if_exists,
            "checksums": self._checksums,
        }

    def task(self, task_id: TaskId, attempt: int = 0) -> TaskWriter:
        self._require_pending("open a task")
        return ObjectTaskWriter(
            self._store,
            self._prefix,
            self.token,
            check_task_id(task_id),
            attempt,
            self._fsspec,
            exclusive=self._if_exists != "overwrite",
            uploads=self._seen_uploads,
            checksums=self._checksums,
        )

    # -- step 3: the commit -------------------------------------------------------------

    def _commit(self, records: Sequence[TaskRecord]) -> dict[str, Any]:
        commit = self._claimed
        chosen, others = choose_attempts(records, self.token, self.url)
        self._seen_uploads += _uploads_of(self._prefix, records)
        named = self._files_of(chosen)
        check_no_collision(((part.name, record) for record, part in named), self.url)
        entries = [self._entry(part) for _, part in named]
        commit.entries = entries
        self._hold_choice(entries)
        keep = {e.upload_id for e in entries if e.upload_id is not None}
        discard_job_leftovers(
            self._store,
            self._prefix,
            self.token,
            keep=keep,
            known=_uploads_of(self._prefix, others),
            concurrency=self._concurrency,
            area=False,  # staged files are copied from it; it goes after _SUCCESS
        )

        def publish(e: Entry) -> None:
            commit.ensure_lease()
            publish_entry(self._store, self._prefix, self.token, e)

        try:
            if self._old_success is not None:
                clear_old(commit, self._old_success)
            parallel(publish, entries, self._concurrency)
            commit.ensure_lease()
        except BaseException as exc:
            fail_after_claim(commit, exc, "publish")
        manifest = manifest_of(self.token, entries)
        write_success(commit, manifest)
        assert commit.lease is not None
        commit.lease.release()
        with contextlib.suppress(Exception):
            delete_prefix(
                self._store, job_area(self._prefix, self.token), concurrency=self._concurrency
            )
        return manifest

    def _files_of(self, chosen: Sequence[TaskRecord]) -> list[tuple[TaskRecord, PartRecord]]:
        """Every file of the chosen attempts, spilled lists read back (in parallel)."""
        spilled: dict[str, list[PartRecord]] = {}

        def load(record: TaskRecord) -> None:
            assert record.spilled is not None
            spilled[record.attempt_token] = self._read_spill(record)

        parallel(load, [r for r in chosen if r.spilled], self._concurrency)
        return [
            (r, part)
            for r in chosen
            for part in (spilled[r.attempt_token] if r.spilled else r.files)
        ]

    def _read_spill(self, record: TaskRecord) -> list[PartRecord]:
        key = str(record.spilled)
        area = job_area(self._prefix, self.token) + "/"
        try:
            if not key.startswith(area):
                raise ValueError(f"not under {area}")
            doc = json.loads(self._store.get(key))
            if (
                doc.get("format") != SPILL_FORMAT
                or doc.get("attempt_token") != record.attempt_token
            ):
                raise ValueError("not the file list of this attempt")
            return [_part(f) for f in doc["files"]]
        except TargetError:
            raise
        except Exception as exc:
            raise CommitError(
                f"job commit of {self.url}: the file list of task {record.task_id!r} "
                f"({self._store.url(key)}) cannot be read ({exc}); nothing was published "
                "and the job was aborted",
                self.url,
            ) from None

    def _entry(self, part: PartRecord) -> Entry:
        """The `Entry` that publishes ``part``; a pending upload is adopted here."""
        check_relative_name(part.name, self.url)
        h = part.handle
        via = h.get("via")
        if via == "inline":
            data = base64.b64decode(h["data"])
            return Entry(part.name, part.size, "put", part.sha256, data=data)
        if via == "upload":
            upload_id = str(h["upload_id"])
            if h.get("store"):
                key = under(self._prefix) + part.name
                self._store.adopt_upload(key, upload_id, h["store"])
            parts = [(int(n), str(e)) for n, e in h["parts"]]
            if_absent = bool(h.get("if_absent", True))
            return Entry(
                part.name, part.size, "upload", part.sha256,
                upload_id=upload_id, parts=parts, if_absent=if_absent,
            )  # fmt: skip
        source = str(h.get("source", ""))
        if via == "copy" and source.startswith(job_area(self._prefix, self.token) + "/"):
            return Entry(part.name, part.size, "copy", part.sha256, source=source)
        raise InvalidTarget(
            f"job commit of {self.url}: the record of {part.name!r} is not one this job's "
            "tasks wrote; nothing was published",
            self.url,
        )

    def _hold_choice(self, entries: Sequence[Entry]) -> None:
        """Replace the job's claim, in the version its lease holds, with one that lists the
        chosen files; hold the new version as the lease. `CommitError` if it was taken over."""
        commit = self._claimed
        old = commit.lease
        assert old is not None
        doc = _job_claim(self.token, entries, "publish", self._stale_after, self._prefix)
        try:
            old.lease.ensure()
            old.release()
            new = DocumentLease(
                self._store, commit.claim_key, self.token, doc, old.etag, self._stale_after
            )
            commit.lease = new
            for attempt in range(3):
                new.doc = doc  # a renewal that adopted the stored version sends ours again
                try:
                    new.lease.renew()
                    break
                except (LeaseLost, TargetError):
                    raise
                except Exception:
                    if attempt == 2:
                        raise
        except LeaseLost as lost:
            raise lease_lost_error(self.url, lost) from None
        new.lease.start()

    # -- step 4: abort -------------------------------------------------------------------

    def _abort(self) -> None:
        lease = self._claimed.lease
        if lease is None:
            return
        lease.release()
        if lease.lease.lost is not None:
            return  # taken over: the party that holds the claim now settles the job
        with contextlib.suppress(Exception):
            discard_job_leftovers(
                self._store,
                self._prefix,
                self.token,
                known=self._seen_uploads,
                concurrency=self._concurrency,
            )
        lease.delete()


def _part(f: Mapping[str, Any]) -> PartRecord:
    return PartRecord(str(f["name"]), int(f["size"]), f.get("sha256"), dict(f.get("handle") or {}))


def _uploads_of(prefix: str, records: Iterable[TaskRecord]) -> list[tuple[str, str]]:
    """``(key, upload id)`` of the pending uploads the (unspilled) ``records`` name."""
    return [
        (under(prefix) + p.name, str(p.handle["upload_id"]))
        for r in records
        for p in r.files
        if p.handle.get("via") == "upload"
    ]


# -- a task attempt ------------------------------------------------------------------------


class ObjectTaskWriter(TaskWriter):
    """One attempt of one task of a job on an object store; needs no lease, and may run in
    any process. Nothing it writes is visible before the job's commit publishes it."""

    log_protocol = "objectstore-job"

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        job_token: str,
        task_id: TaskId,
        attempt: int,
        fsspec_fs: Callable[[], Any],
        *,
        exclusive: bool,
        uploads: list[tuple[str, str]] | None = None,
        checksums: bool = True,
    ) -> None:
        """``uploads``: where the driver notes the uploads of attempts it opened itself."""
        super().__init__()
        self._checksums = checksums
        self.job_token = job_token
        self._driver_uploads = uploads
        self.token = job_token
        self.task_id = task_id
        self.attempt = attempt
        self.attempt_token = new_token()
        self._store, self._prefix = store, prefix
        self.final = store.url(prefix)
        self._fsspec = fsspec_fs
        self._exclusive = exclusive
        self._label = task_label(task_id, attempt, self.attempt_token)
        self._area = job_area(prefix, job_token)
        self._staging = f"{self._area}/{self._label}"
        self._staging_used = False
        self._pathfs: WriterFileSystem | None = None
        self._open: dict[str, PartStream] = {}
        self._files: dict[str, PartRecord] = {}
        self._uploads: dict[str, str] = {}
        self._inline = 0

    @property
    def path(self) -> str:  # type: ignore[override]
        """The URL under which tools write the attempt's files: through ``filesystem`` they
        are this attempt's own files (nothing is copied); objects another client writes
        there are staged and copied to the output at the job's commit."""
        self._staging_used = True
        return self._store.url(self._staging)

    @property
    def filesystem(self) -> WriterFileSystem:
        """An fsspec filesystem that writes each file under ``path`` as this attempt's own
        `open` of the same relative name (`targets.fs.objectstore.pathfs`)."""
        self._staging_used = True
        if self._pathfs is None:
            self._pathfs = WriterFileSystem(self, self._store.url(self._staging), output=self.final)
        return self._pathfs

    def open(self, name: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        self._require_pending("open a file")
        url = self.final
        check_relative_name(name, url)
        if name == CLAIM or name.split("/")[0].startswith(AREA_PREFIX):
            raise InvalidTarget(f"file name {name!r} in output {url} is reserved", url)
        if mode not in ("w", "wt", "wb"):
            raise InvalidTarget(
                f"mode {mode!r} is not a write mode for a file of {url}; use 'w' or 'wb'", url
            )
        if name in self._files or name in self._open:
            raise TargetExistsError(f"{name} was already written by this task ({url})", url)
        key = under(self._prefix) + name
        chunks = Chunker(
            self._store, key, self.job_token, if_absent=self._exclusive, hashed=self._checksums
        )
        stream = PartStream(name, chunks, self._file_done)
        self._open[name] = stream
        if "b" in mode:
            return cast(IO[bytes], stream)
        return io.TextIOWrapper(stream, **kwargs)

    def _file_done(self, stream: PartStream) -> None:
        """A file was closed: carry it inline, or leave its upload pending."""
        self._open.pop(stream.name, None)
        chunks = stream.chunks
        if self.state is not WriterState.PENDING:
            chunks.abort()
            return
        try:
            handle = self._handle(stream)
        except BaseException:
            chunks.abort()
            raise
        self._files[stream.name] = PartRecord(stream.name, chunks.size, chunks.digest(), handle)

    def _handle(self, stream: PartStream) -> dict[str, Any]:
        chunks = stream.chunks
        small = chunks.upload_id is None and chunks.size <= INLINE_FILE_MAX
        if small and self._inline + chunks.size <= INLINE_BUDGET:
            self._inline += chunks.size
            data = base64.b64encode(bytes(chunks.buf)).decode("ascii")
            chunks.buf = bytearray()
            return {"via": "inline", "data": data}
        if chunks.upload_id is None:
            chunks._flush(len(chunks.buf))  # one part, sent now
        else:
            chunks.finish_parts()
        assert chunks.upload_id is not None
        self._uploads[stream.key] = chunks.upload_id
        if self._driver_uploads is not None:
            self._driver_uploads.append((stream.key, chunks.upload_id))
        handle: dict[str, Any] = {
            "via": "upload",
            "upload_id": chunks.upload_id,
            "parts": [[n, etag] for n, etag in chunks.parts],
            "if_absent": chunks.if_absent,
        }
        held = self._store.hand_over_upload(stream.key, chunks.upload_id)
        if held:
            handle["store"] = dict(held)
        return handle

    def _commit(self) -> TaskRecord:
        for stream in list(self._open.values()):
            stream.close()
        files = list(self._files.values())
        if self._staging_used:
            staged = entries_from_staging(self._store, self._staging, self.final)
            clash = sorted(set(self._files) & {e.name for e in staged})
            if clash:
                raise InvalidTarget(
                    f"{clash[0]} of output {self.final} was written both with open() and "
                    "under the task's path; write each file once",
                    self.final,
                )
            files += [
                PartRecord(e.name, e.size, None, {"via": "copy", "source": e.source})
                for e in staged
            ]
        record = TaskRecord(
            job=self.job_token,
            task_id=self.task_id,
            attempt=self.attempt,
            attempt_token=self.attempt_token,
            files=tuple(files),
            handle={"label": self._label},
        )
        if record.encoded_size() <= SPILL_OVER:
            return record
        key = f"{self._area}/{self._label}.files.json"
        doc = {
            "format": SPILL_FORMAT,
            "version": 1,
            "job": self.job_token,
            "task_id": self.task_id,
            "attempt_token": self.attempt_token,
            "files": record.to_json()["files"],
        }
        body = json.dumps(doc, separators=(",", ":")).encode()
        put_exclusive(self._store, key, body, self.job_token)
        return TaskRecord(
            job=self.job_token,
            task_id=self.task_id,
            attempt=self.attempt,
            attempt_token=self.attempt_token,
            spilled=key,
            handle={"label": self._label},
        )

    def _discard(self) -> None:
        for stream in list(self._open.values()):
            with contextlib.suppress(Exception):
                stream.close()
        for key, upload_id in self._uploads.items():
            with contextlib.suppress(Exception):
                self._store.abort_upload(key, upload_id)
        self._uploads.clear()
        self._files.clear()
        if self._staging_used:
            with contextlib.suppress(Exception):
                delete_prefix(self._store, self._staging)


def check_spec(spec: Mapping[str, Any], url: str) -> tuple[str, IfExists]:
    """``(job token, if_exists)`` of a `ObjectJobWriter.spec`; `InvalidTarget` otherwise."""
    given = spec if isinstance(spec, Mapping) else {}
    token, if_exists = given.get("job"), given.get("if_exists")
    if (
        given.get("format") != SPEC_FORMAT
        or given.get("version") != 1
        or not isinstance(token, str)
        or job_token_of_area(AREA_PREFIX + token) is None
        or if_exists not in ("error", "overwrite")
    ):
        raise InvalidTarget(
            f"cannot open a task of a job on {url}: {spec!r} is not the spec of an "
            "object-store job (pass the spec that JobWriter.spec() returned)",
            url,
        )
    return token, cast(IfExists, if_exists)
