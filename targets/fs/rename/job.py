"""Many workers, one commit, on a rename store (local disks, HDFS): `RenameJobWriter` and
`RenameTaskWriter` (docs/protocols.md, "Jobs").

The job claims its output by publishing ``.<name>.targets-jobclaim`` with a rename that
refuses to replace (`targets.fs.rename.jobclaim`), and stages in its own hidden directory
``.<name>.targets-job-<token>``, leased by the driver while the job is open. In there, the
job's open tree holds top-level files under their own names, each created by the first
attempt that asked for it; every other file of an attempt is staged under the attempt's
`task_label`. The commit is a short pipeline of named steps, each a method of
`RenameJobWriter`: choose the attempts, load their file lists, check for collisions,
verify the files staged by path, close the open tree (one rename: no attempt adds to it
after), keep in it only the chosen files, move the other chosen files in, seal it with
``_SUCCESS``, fence (the job still holds its lease and its claim), publish the tree with
the family's one rename, release the job's staging and claim.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import posixpath
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from targets.errors import (
    CommitError,
    IncompleteCommit,
    InvalidTarget,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs import _manifest
from targets.fs._lease import LeaseLost
from targets.fs._names import SUCCESS, check_relative_name, new_token, temp_name
from targets.fs.base import Guarantee, IfExists, PartRecord
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
from targets.fs.rename.jobclaim import (
    claim_doc,
    claim_path,
    job_dir,
    judge,
    read_claim,
    remove_claim,
    to_trash,
)
from targets.fs.rename.lease import StagingLease, is_inner_marker
from targets.fs.rename.publish import Evidence, before_publish, publish_noreplace
from targets.fs.rename.store import RenameStore, RenameUnsupported
from targets.fs.rename.writers import HashingSink, _publish_own, create_own, prepare

if TYPE_CHECKING:
    from targets.fs.rename.fs import RenameFS

__all__ = ["SPEC_FORMAT", "SPILL_AT", "RenameJobWriter", "RenameTaskWriter", "open_task"]

SPEC_FORMAT = "targets-rename-job"
SPEC_VERSION = 2
SPILL_FORMAT = "targets-task-files"
SPILL_VERSION = 1
SPILL_AT = 512 * 1024
"""A record whose JSON would pass this many bytes keeps its file list in the spill file."""
SPILL_NAME = ".targets-task-files.json"
"""The spill file, at the top of an attempt's directory (never part of the output)."""
_CLAIM_STAGED = ".targets-claim.json"
"""The claim document inside the job's staging, before it is published as the claim."""
OPEN_TREE = ".targets-open"
"""The job's open tree, in its staging: top-level files under their final names."""


class RenameTaskWriter(TaskWriter):
    """One attempt of one task in the job's staging. A file opened by a top-level name is
    created in the job's open tree under that name, or, if another attempt holds the name
    there, as ``<label>~<name>`` right in the staging; ``path`` (made on first use) is the
    attempt's own directory there, for tools writing by path and for nested names."""

    def __init__(
        self,
        fs: RenameFS,
        path: str,
        job_token: str,
        task_id: TaskId,
        attempt: int,
        *,
        durable: bool,
        checksums: bool = True,
    ) -> None:
        super().__init__()
        store = fs.store
        self._checksums = checksums
        self._fs = fs
        self._store = store
        self.final = store.shown(path)
        self.job_token = job_token
        self.task_id = check_task_id(task_id)
        self.attempt = attempt
        self.attempt_token = new_token()
        self.token = self.attempt_token
        self._label = task_label(task_id, attempt, self.attempt_token)
        self._staging = job_dir(path, job_token)
        self._dir = posixpath.join(self._staging, self._label)
        self._dir_made = False
        self._handles: dict[str, Mapping[str, Any]] = {}
        """Where each top-level file went: `IN_TREE` or `FLAT`."""
        self.log_protocol = store.manifest_protocol
        self._durable = durable
        self._parts: dict[str, PartRecord] = {}
        self._open: dict[str, IO[Any]] = {}
        # Nothing is asked of the store yet: an attempt of a job that is over fails at its
        # first write (its file or directory goes in the job's staging, which is gone), or
        # at its end.

    @property
    def path(self) -> str:
        """The attempt's directory, writable by path (through `filesystem`) once read."""
        self._make_dir()
        return self._store.shown(self._dir)

    @path.setter
    def path(self, value: str) -> None:
        raise AttributeError(f"the path of a task attempt of {self.final} cannot be set")

    def _make_dir(self) -> None:
        """Create the attempt's directory, never the job's staging: a straggler whose job is
        over fails here instead of staging again where no one will clean up."""
        if self._dir_made:
            return
        store = self._store
        try:
            with store.map_errors(self._dir, "open the task attempt"):
                store.mkdir(self._dir)
        except (TargetNotFound, FileNotFoundError):
            raise self._job_over("write") from None
        self._dir_made = True

    def _job_over(self, action: str) -> CommitError:
        return CommitError(
            f"cannot {action} task {self.task_id!r} (attempt {self.attempt}) of the job "
            f"{self.job_token} on {self.final}: the job's staging is gone, so the job is over "
            "(committed, aborted, or rolled back by `targets recover` or a cleanup); run the "
            "task in a job that is open",
            self.final,
        )

    @property
    def filesystem(self) -> Any:
        return self._fs.fsspec

    def open(self, name: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        """Open the file ``name`` of this attempt for writing (size and sha256 recorded)."""
        self._require_pending("open a file")
        check_relative_name(name, self.final)
        if name == SPILL_NAME:
            raise InvalidTarget(f"file name {name!r} is reserved for task records", self.final)
        if mode not in ("w", "wt", "wb"):
            raise InvalidTarget(
                f"mode {mode!r} is not a write mode for a file of {self.final}; use 'w' or 'wb'",
                self.final,
            )
        if name in self._parts or name in self._open:
            raise TargetExistsError(
                f"{name} was already written by this task attempt ({self.final})", self.final
            )
        store = self._store
        with store.map_errors(self._dir, "write"):
            sink = self._create(name)
        raw = HashingSink(
            store, sink, f"{self.final}/{name}", name, self._record, hashed=self._checksums
        )
        buffered = io.BufferedWriter(raw, store.write_buffer)
        self._open[name] = buffered
        return buffered if "b" in mode else io.TextIOWrapper(buffered, **kwargs)

    def _create(self, name: str) -> Any:
        """Create the staged file of ``name``: in the open tree if no other attempt holds
        its name (or a directory of it) there, else flat for a top-level name, or in the
        attempt's directory. Never the job's staging or its open tree: a straggler whose
        job is over, or committing, fails here."""
        sink = self._create_in_tree(name)
        if sink is not None:
            self._handles[name] = IN_TREE
            return sink
        store = self._store
        parent = posixpath.dirname(name)
        if not parent:
            self._handles[name] = FLAT
            try:
                return store.create(flat_path(self._staging, self._label, name))
            except Exception:
                if store.stat(self._staging) is None:
                    raise self._job_over("write") from None
                raise
        self._make_dir()
        made = self._dir
        for part in parent.split("/"):
            made = posixpath.join(made, part)
            found = store.stat(made)
            if found is None:
                if store.stat(posixpath.dirname(made)) is None:
                    raise self._job_over("write")
                store.mkdir(made)
        try:
            return store.create(posixpath.join(self._dir, name))
        except Exception:
            if store.stat(self._dir) is None:
                raise self._job_over("write") from None
            raise

    def _create_in_tree(self, name: str) -> Any | None:
        """The file ``name`` created in the open tree (with its directories), or None if
        another attempt holds its name there, or a directory's name as a file."""
        store = self._store
        tree = posixpath.join(self._staging, OPEN_TREE)
        try:
            made = tree
            for part in posixpath.dirname(name).split("/") if "/" in name else ():
                made = posixpath.join(made, part)
                if not self._tree_dir(made):
                    return None
            return store.create(posixpath.join(tree, name))
        except Exception:
            if store.stat(posixpath.join(tree, name)) is not None:
                return None
            if store.stat(self._staging) is None:
                raise self._job_over("write") from None
            if store.stat(tree) is None:
                raise self._job_committing() from None
            raise

    def _tree_dir(self, path: str) -> bool:
        """Whether ``path`` in the open tree is a directory, made if missing (attempts
        share it); False if another attempt holds that name as a file."""
        store = self._store
        found = store.stat(path)
        if found is None:
            try:
                store.mkdir(path)
            except Exception:
                found = store.stat(path)  # made by another attempt meanwhile?
                if found is None:
                    raise
            else:
                return True
        return found.is_dir

    def _by_name_path(self, name: str, where: Mapping[str, Any]) -> str:
        if where is IN_TREE:
            return posixpath.join(self._staging, OPEN_TREE, name)
        return flat_path(self._staging, self._label, name)

    def _job_committing(self) -> CommitError:
        return CommitError(
            f"cannot write task {self.task_id!r} (attempt {self.attempt}) of the job "
            f"{self.job_token} on {self.final}: the job is committing the attempts reported "
            "to it, so this one cannot be part of it; run the task in a job that is open",
            self.final,
        )

    def _record(self, part: PartRecord) -> None:
        self._open.pop(part.name, None)
        where = self._handles.get(part.name)
        if where is not None:
            part = PartRecord(part.name, part.size, part.sha256, dict(where))
        self._parts[part.name] = part

    def _commit(self) -> TaskRecord:
        for f in list(self._open.values()):
            f.close()
        store = self._store
        with store.map_errors(self._staging, "end the task attempt"):
            if store.stat(self._staging) is None:
                raise self._job_over("end")
            files = self._listed()
        record = TaskRecord(
            job=self.job_token,
            task_id=self.task_id,
            attempt=self.attempt,
            attempt_token=self.attempt_token,
            files=tuple(files),
            handle={"dir": self._label},
        )
        if _surely_fits(record) or record.encoded_size() <= SPILL_AT:
            return record
        return self._spill(record)

    def _listed(self) -> list[PartRecord]:
        """Every file of the attempt: those written through ``open`` (with their sha256
        when taken) and every file in its directory, whoever wrote it (a tool writing
        under ``path``)."""
        files = [p for p in self._parts.values() if _outside_dir(p)]
        if not self._dir_made:
            return files + [p for p in self._parts.values() if not _outside_dir(p)]
        store, base = self._store, self._dir.rstrip("/") + "/"
        try:
            walked = store.walk(self._dir, strict=True)
        except FileNotFoundError as exc:
            gone = store.shown(exc.filename) if isinstance(exc.filename, str) else "a file"
            raise CommitError(
                f"task {self.task_id!r} of {self.final}: {gone} vanished from its directory "
                "while the attempt listed it (removed by a cleanup?); run the task again",
                self.final,
            ) from None
        for entry in walked:
            rel = entry.path[len(base) :]
            top = "/" not in rel
            if top and (rel == SPILL_NAME or is_inner_marker(rel)):
                continue
            if rel == SUCCESS:
                if entry.is_dir:
                    raise CommitError(
                        f"task {self.task_id!r} of {self.final} wrote a directory named "
                        f"{SUCCESS}; that name is reserved for the manifest, rename it",
                        self.final,
                    )
                continue  # a tool's own marker: the job writes the output's
            if entry.kind != "file":
                continue
            known = self._parts.get(rel)
            if known is not None and _outside_dir(known):
                raise CommitError(
                    f"task {self.task_id!r} of {self.final} wrote {rel!r} twice: with "
                    "open() and by path under its directory; write each name once",
                    self.final,
                )
            if known is None or known.size != entry.size:
                known = PartRecord(rel, entry.size)
            files.append(known)
        return files

    def _spill(self, record: TaskRecord) -> TaskRecord:
        doc = {
            "format": SPILL_FORMAT,
            "version": SPILL_VERSION,
            "job": record.job,
            "attempt_token": record.attempt_token,
            "files": record.to_json()["files"],
        }
        self._make_dir()
        spill = posixpath.join(self._dir, SPILL_NAME)
        store = self._store
        with (
            store.map_errors(spill, "record the files of the task in"),
            HashingSink(store, store.create(spill), store.shown(spill)) as out,
        ):
            out.write(json.dumps(doc, separators=(",", ":")).encode())
        return TaskRecord(
            job=record.job,
            task_id=record.task_id,
            attempt=record.attempt,
            attempt_token=record.attempt_token,
            spilled=f"{self._label}/{SPILL_NAME}",
            handle=record.handle,
        )

    def _discard(self) -> None:
        names = [*self._open, *self._parts]
        for f in list(self._open.values()):
            with contextlib.suppress(Exception):
                f.close()
        store = self._store
        for name in names:
            where = self._handles.get(name)
            if where is not None:
                with contextlib.suppress(Exception):
                    store.delete(self._by_name_path(name, where))
        if self._dir_made:
            with contextlib.suppress(Exception):
                store.delete(self._dir)


def _surely_fits(record: TaskRecord) -> bool:
    """Whether ``record``'s JSON is under `SPILL_AT` by a bound taken without encoding it:
    JSON spells a character in at most 6, a file's size, sha256 and ``{"flat": true}`` or
    ``{"tree": true}`` handle take at most 160 more, and the rest of the record at most 512."""
    bound = 512 + 6 * len(str(record.task_id)) + 6 * len(str(record.handle.get("dir", "")))
    bound += sum(160 + 6 * len(p.name) for p in record.files)
    return bound <= SPILL_AT


def open_task(
    fs: RenameFS, path: str, spec: Mapping[str, Any], task_id: TaskId, attempt: int
) -> RenameTaskWriter:
    """Attempt ``attempt`` of task ``task_id`` of the job whose `RenameJobWriter.spec` is
    ``spec``, in any process (no lease needed)."""
    shown = fs.store.shown(path)
    if (
        not isinstance(spec, Mapping)
        or spec.get("format") != SPEC_FORMAT
        or spec.get("version") != SPEC_VERSION
        or not isinstance(spec.get("job"), str)
    ):
        raise InvalidTarget(
            f"not the spec of a job on {shown} (format {SPEC_FORMAT!r}, version "
            f"{SPEC_VERSION}): {spec!r}",
            shown,
        )
    return RenameTaskWriter(
        fs,
        path,
        spec["job"],
        task_id,
        attempt,
        durable=bool(spec.get("durable", True)),
        checksums=bool(spec.get("checksums", True)),
    )


class RenameJobWriter(JobWriter):
    """The driver's side of a job on a rename store; see the module doc for its steps."""

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
        store = fs.store
        self._fs = fs
        self._checksums = checksums
        self._store = store
        self.path = path
        self.token = new_token()
        self._shown = store.shown(path)
        self._if_exists = if_exists
        self._guarantee = guarantee
        self._durable = durable
        self._dir = job_dir(path, self.token)
        prepare(store, path, directory=True, if_exists=if_exists, durable=durable)
        create_own(store, self._dir, path, "open a job on", durable=durable, directory=True)
        try:
            with store.map_errors(self._dir, "open a job in"):
                store.mkdir(posixpath.join(self._dir, OPEN_TREE))
            self._take_claim()
        except BaseException:
            with contextlib.suppress(Exception):
                store.delete(self._dir)
            raise
        self._lease = StagingLease(store, self._dir, path, fs.lease_period)

    # -- the claim ------------------------------------------------------------------------

    def _take_claim(self) -> None:
        """Publish the claim document at the claim's fixed name, never replacing one."""
        store = self._store
        staged = posixpath.join(self._dir, _CLAIM_STAGED)
        data = json.dumps(claim_doc(self.token, self._fs.lease_period), indent=1).encode()
        with store.map_errors(self.path, "claim"):
            with HashingSink(store, store.create(staged), self._shown) as out:
                out.write(data)
            entry = store.stat(staged)
        assert entry is not None  # just written
        sha = hashlib.sha256(data).hexdigest()
        try:
            publish_noreplace(
                store,
                staged,
                claim_path(self.path),
                Evidence(entry, sha256=sha),
                guarantee=self._guarantee,
            )
        except TargetExistsError:
            raise self._refused() from None
        if self._durable:
            with store.map_errors(self.path, "claim"):
                store.sync_dir(posixpath.dirname(self.path))

    def _refused(self) -> TargetExistsError | IncompleteCommit:
        store = self._store
        with store.map_errors(self.path, "look at the claim on"):
            judged = judge(store, self.path, self._fs.lease_period)
        if judged is None or judged.live:
            whose = "another job" if judged is None else judged.holder()
            return TargetExistsError(
                f"{self._shown} is claimed by a live job ({whose}); this job was not opened. "
                "Wait for that job to commit or abort, or write elsewhere",
                self._shown,
            )
        return IncompleteCommit(
            f"{self._shown} is claimed by {judged.holder()}, so that job died or is stuck "
            f"without committing. Run `targets recover {self._shown}` to roll it back, then "
            "open the job again",
            self._shown,
        )

    # -- the job's API --------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "job": self.token,
            "durable": self._durable,
            "checksums": self._checksums,
        }

    def task(self, task_id: TaskId, attempt: int = 0) -> RenameTaskWriter:
        self._require_pending("open a task of")
        return RenameTaskWriter(
            self._fs,
            self.path,
            self.token,
            task_id,
            attempt,
            durable=self._durable,
            checksums=self._checksums,
        )

    def _commit(self, records: Sequence[TaskRecord]) -> dict[str, Any]:
        chosen, _others = choose_attempts(records, self.token, self._shown)
        files = [self._files_of(record) for record in chosen]
        check_no_collision(
            (
                (part.name, record)
                for record, parts in zip(chosen, files, strict=True)
                for part in parts
            ),
            self._shown,
        )
        try:
            with before_publish(self._shown):
                self._verify(chosen, files)
                self._fence(last=False)
                tree = self._close_tree()
                kept = self._keep_chosen(tree, chosen, files)
                self._assemble(tree, chosen, files, kept)
                manifest = self._seal(tree, [p for parts in files for p in parts])
                self._fence(last=True)
                with self._store.map_errors(self.path, "commit"):
                    staged = self._store.stat(tree)
        except TargetError as exc:
            self._raise_if_taken_over(exc)
            raise
        if staged is None:
            raise self._taken_over("its assembled output is gone")
        _publish_own(
            self._store,
            tree,
            self.path,
            Evidence(staged, token=self.token),
            if_exists=self._if_exists,
            guarantee=self._guarantee,
            durable=self._durable,
        )
        self._release()
        return manifest

    def _abort(self) -> None:
        self._release()

    # -- the steps of a commit ------------------------------------------------------------

    def _files_of(self, record: TaskRecord) -> tuple[PartRecord, ...]:
        """The files of ``record``: in it, or in its spill file."""
        if record.spilled is None:
            return record.files
        store = self._store
        label = task_label(record.task_id, record.attempt, record.attempt_token)
        spill = posixpath.join(self._dir, label, SPILL_NAME)
        try:
            with (
                store.map_errors(spill, "read the files of a task from"),
                store.open_read(spill) as f,
            ):
                doc = json.loads(f.read())
        except (TargetNotFound, ValueError):
            doc = None
        if (
            not isinstance(doc, dict)
            or doc.get("format") != SPILL_FORMAT
            or doc.get("attempt_token") != record.attempt_token
        ):
            raise CommitError(
                f"job commit of {self._shown}: the file list of task {record.task_id!r} "
                f"(attempt {record.attempt}) in {store.shown(spill)} is gone or unreadable; "
                "nothing was published and the job was aborted",
                self._shown,
            )
        return TaskRecord.from_json(
            {**record.to_json(), "files": doc["files"], "spilled": None}
        ).files

    def _verify(self, chosen: list[TaskRecord], files: list[tuple[PartRecord, ...]]) -> None:
        """Every chosen name is safe, and every chosen file a tool wrote in an attempt's
        directory is still there at the size its record says. (A file in the open tree is
        checked in `_keep_chosen`; a flat file, created exclusively under its attempt's
        label and closed before the record existed, by its rename in `_assemble`.)"""
        for record, parts in zip(chosen, files, strict=True):
            for part in parts:
                check_relative_name(part.name, self._shown)
            in_dir = [p for p in parts if not _outside_dir(p)]
            if not in_dir:
                continue
            label = task_label(record.task_id, record.attempt, record.attempt_token)
            attempt_dir = posixpath.join(self._dir, label)
            with self._store.map_errors(attempt_dir, "verify the files of a task in"):
                sizes = self._sizes_in(attempt_dir)
            for part in in_dir:
                if sizes.get(part.name) != part.size:
                    raise self._not_staged(record, part, sizes.get(part.name))

    def _not_staged(self, record: TaskRecord, part: PartRecord, got: int | None) -> CommitError:
        state = "is gone" if got is None else f"holds {got} bytes"
        return CommitError(
            f"job commit of {self._shown}: task {record.task_id!r} (attempt "
            f"{record.attempt}) wrote {part.name!r} ({part.size} bytes), but its staged copy "
            f"in {self._store.shown(self._dir)} {state} (removed by a cleanup, or written "
            "again by a straggler?); nothing was published and the job was aborted",
            self._shown,
        )

    def _sizes_in(self, attempt_dir: str) -> dict[str, int]:
        """The size of each file in the directory of one attempt, by name (relative)."""
        store = self._store
        there = store.stat(attempt_dir)
        walked = store.walk(attempt_dir) if there is not None and there.is_dir else []
        base = attempt_dir + "/"
        return {e.path[len(base) :]: e.size for e in walked if e.kind == "file"}

    def _fence(self, *, last: bool) -> None:
        """The job still holds its lease and its claim. ``last`` (right before publishing)
        stops renewing and makes sure half a period is left (`StagingLease.check`)."""
        if last:
            self._lease.check()
        else:
            try:
                self._lease.lease.ensure()
            except LeaseLost as exc:
                raise self._taken_over(f"its lease was lost ({exc})") from None
        with self._store.map_errors(self.path, "check the claim on"):
            doc = read_claim(self._store, self.path)
        if doc is None:
            raise self._taken_over("its claim is gone")
        if doc.get("job") != self.token:
            raise self._taken_over(f"its claim now belongs to job {doc.get('job', '?')}")

    def _raise_if_taken_over(self, exc: TargetError) -> None:
        """Say so if a step failed because the job was rolled back or taken over meanwhile
        (its staging or its claim gone): that is the cause, not the step's error."""
        if isinstance(exc, TargetExistsError) or "rolled back or taken over" in exc.message:
            return
        store = self._store
        try:
            with store.map_errors(self.path, "check the claim on"):
                staging = store.stat(self._dir)
                doc = read_claim(store, self.path)
        except TargetError:
            return
        if staging is None:
            raise self._taken_over("its staging is gone") from exc
        if doc is None or doc.get("job") != self.token:
            raise self._taken_over("its claim is gone or another job's") from exc

    def _taken_over(self, what: str) -> CommitError:
        return CommitError(
            f"cannot commit the job {self.token} on {self._shown}: {what}, so the job was "
            "rolled back or taken over (by `targets recover`, a cleanup, or another job) while "
            "it was paused; nothing was published, run the job again",
            self._shown,
        )

    def _close_tree(self) -> str:
        """Rename the open tree to the name the output is assembled under; its path. No
        attempt can create a file in it from then on (one that tries is told the job is
        committing)."""
        store = self._store
        tree = posixpath.join(self._dir, temp_name(posixpath.basename(self.path), self.token))
        with store.map_errors(tree, "close the open tree of the job in"):
            _move(store, posixpath.join(self._dir, OPEN_TREE), tree)
        return tree

    def _keep_chosen(
        self, tree: str, chosen: list[TaskRecord], files: list[tuple[PartRecord, ...]]
    ) -> set[str]:
        """Delete from the closed tree every file and directory no chosen record needs
        (attempts that lost, failed or never reported, stragglers still writing to theirs);
        every file a chosen record claims there must be in it. (Each was created exclusively
        by its attempt and closed before the record existed: no writer can have changed
        it.) Returns the directories kept, relative to ``tree``."""
        claimed = {
            part.name: (record, part)
            for record, parts in zip(chosen, files, strict=True)
            for part in parts
            if _in_tree(part)
        }
        needed = {""}
        for name in claimed:
            while "/" in name:
                name = posixpath.dirname(name)
                needed.add(name)
        store = self._store
        with store.map_errors(tree, "check the files of the job in"):
            for rel_dir in sorted(needed):
                prefix = rel_dir + "/" if rel_dir else ""
                for entry in store.names(tree + "/" + rel_dir if rel_dir else tree):
                    rel = prefix + entry
                    if rel not in needed and claimed.pop(rel, None) is None:
                        store.delete(posixpath.join(tree, rel))
        for record, part in claimed.values():
            raise self._not_staged(record, part, None)
        return needed

    def _assemble(
        self,
        tree: str,
        chosen: list[TaskRecord],
        files: list[tuple[PartRecord, ...]],
        made: set[str],
    ) -> None:
        """Move the chosen files staged outside the open tree into ``tree`` by rename;
        ``made`` holds the directories ``tree`` has (relative), and grows."""
        store = self._store
        with store.map_errors(tree, "assemble the output in"):
            for record, parts in zip(chosen, files, strict=True):
                moved = [part for part in parts if not _in_tree(part)]
                if not moved:
                    continue
                label = task_label(record.task_id, record.attempt, record.attempt_token)
                attempt_dir = posixpath.join(self._dir, label)
                for part in moved:
                    _make_dirs(store, tree, posixpath.dirname(part.name), made)
                    staged = (
                        flat_path(self._dir, label, part.name)
                        if _is_flat(part)
                        else posixpath.join(attempt_dir, part.name)
                    )
                    try:
                        _move(store, staged, tree + "/" + part.name)
                    except Exception:
                        if store.stat(staged) is None:
                            raise self._not_staged(record, part, None) from None
                        raise

    def _seal(self, tree: str, parts: list[PartRecord]) -> dict[str, Any]:
        """Write ``_SUCCESS`` with the manifest into ``tree``; make it durable when asked."""
        store = self._store
        manifest = _manifest.build(self.token, parts, store.manifest_protocol)
        with store.map_errors(tree, "write the manifest in"):
            sink = store.create(posixpath.join(tree, SUCCESS))
            with HashingSink(store, sink, self._shown) as out:
                out.write(_manifest.encode(manifest))
            if self._durable:
                store.sync_tree(tree)
        return manifest

    def _release(self) -> None:
        """End the lease; remove the claim (if still this job's), then the job's staging,
        every attempt in it, reported or not. Errors are ignored: what is left is hidden,
        and `cleanup` removes it once stale."""
        lease = getattr(self, "_lease", None)
        if lease is not None:
            lease.end()
        store = self._store
        with contextlib.suppress(Exception):
            remove_claim(store, self.path, self.token)
        with contextlib.suppress(Exception):
            doomed = to_trash(store, self._dir, posixpath.basename(self.path))
            if doomed is not None:
                store.delete(doomed)


FLAT_SEP = "~"
"""Between an attempt's label and a file's name in a flat staged name (no label holds it)."""
FLAT: Mapping[str, Any] = {"flat": True}
"""The handle of a file staged flat in the job's staging (`flat_path`)."""
IN_TREE: Mapping[str, Any] = {"tree": True}
"""The handle of a top-level file created in the job's open tree under its own name."""


def flat_path(staging: str, label: str, name: str) -> str:
    """Where the attempt ``label`` stages its top-level file ``name``: right in the job's
    staging, as ``<label>~<name>`` (one entry to create and rename, no directory)."""
    return posixpath.join(staging, f"{label}{FLAT_SEP}{name}")


def _is_flat(part: PartRecord) -> bool:
    return "/" not in part.name and part.handle.get("flat") is True


def _in_tree(part: PartRecord) -> bool:
    return part.handle.get("tree") is True


def _outside_dir(part: PartRecord) -> bool:
    """Opened by name and staged outside the attempt's directory: in the open tree, or
    flat."""
    return _in_tree(part) or _is_flat(part)


def _make_dirs(store: RenameStore, tree: str, rel: str, made: set[str]) -> None:
    """Create the directory ``rel`` of ``tree`` and its missing parents (``made`` knows
    which exist already)."""
    if rel in made:
        return
    _make_dirs(store, tree, posixpath.dirname(rel), made)
    store.mkdir(posixpath.join(tree, rel))
    made.add(rel)


def _move(store: RenameStore, src: str, dst: str) -> None:
    """Rename the staged file ``src`` to ``dst`` in the job's own tree (a name no one else
    writes, checked free of collisions)."""
    try:
        store.rename_noreplace(src, dst)
    except RenameUnsupported:
        store.rename_plain(src, dst)
