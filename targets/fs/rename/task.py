"""One attempt of one task of a job on a rename store: `RenameTaskWriter`
(docs/protocols.md, "A task attempt").

An attempt creates each file it opens by name in the job's open tree, under the file's
final name, unless another attempt holds that name there: then flat in the job's staging
(a top-level name) or in the attempt's own directory, which also holds what tools write
under ``t.path``. Its record says where each file went, for `targets.fs.rename.job`.
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from targets.errors import CommitError, InvalidTarget, TargetExistsError, TargetNotFound
from targets.fs._names import SUCCESS, check_relative_name, new_token
from targets.fs.base import PartRecord
from targets.fs.job import TaskId, TaskRecord, TaskWriter, check_task_id, task_label
from targets.fs.rename.jobclaim import job_dir
from targets.fs.rename.lease import is_inner_marker
from targets.fs.rename.writers import HashingSink

if TYPE_CHECKING:
    from targets.fs.rename.fs import RenameFS

__all__ = [
    "OPEN_TREE",
    "SPILL_AT",
    "SPILL_NAME",
    "RenameTaskWriter",
    "flat_path",
    "in_tree",
    "is_flat",
    "outside_dir",
]

SPILL_FORMAT = "targets-task-files"
SPILL_VERSION = 1
SPILL_AT = 512 * 1024
"""A record whose JSON would pass this many bytes keeps its file list in the spill file."""
SPILL_NAME = ".targets-task-files.json"
"""The spill file, at the top of an attempt's directory (never part of the output)."""
OPEN_TREE = ".targets-open"
"""The job's open tree, in its staging: files opened by name, under their final names."""


class RenameTaskWriter(TaskWriter):
    """One attempt of one task in the job's staging. A file opened by name is created in
    the job's open tree under that name, or, if another attempt holds the name there, as
    ``<label>~<name>`` right in the staging (a top-level name) or in the attempt's own
    directory (a nested one); ``path`` (made on first use) is that directory, for tools
    writing by path."""

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
        """Where each file opened by name went, unless in the attempt's directory:
        `IN_TREE` or `FLAT`."""
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
        files = [p for p in self._parts.values() if outside_dir(p)]
        if not self._dir_made:
            return files + [p for p in self._parts.values() if not outside_dir(p)]
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
            if known is not None and outside_dir(known):
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


FLAT_SEP = "~"
"""Between an attempt's label and a file's name in a flat staged name (no label holds it)."""
FLAT: Mapping[str, Any] = {"flat": True}
"""The handle of a file staged flat in the job's staging (`flat_path`)."""
IN_TREE: Mapping[str, Any] = {"tree": True}
"""The handle of a file created in the job's open tree under its own name."""


def flat_path(staging: str, label: str, name: str) -> str:
    """Where the attempt ``label`` stages its top-level file ``name``: right in the job's
    staging, as ``<label>~<name>`` (one entry to create and rename, no directory)."""
    return posixpath.join(staging, f"{label}{FLAT_SEP}{name}")


def is_flat(part: PartRecord) -> bool:
    return "/" not in part.name and part.handle.get("flat") is True


def in_tree(part: PartRecord) -> bool:
    return part.handle.get("tree") is True


def outside_dir(part: PartRecord) -> bool:
    """Opened by name and staged outside the attempt's directory: in the open tree, or
    flat."""
    return in_tree(part) or is_flat(part)
