"""Many workers, one commit, on a rename store (local disks, HDFS): `RenameJobWriter`, and
`open_task` for the workers (docs/protocols.md, "Jobs").

The job claims its output by publishing ``.<name>.targets-jobclaim`` with a rename that
refuses to replace (`targets.fs.rename.jobclaim`), and stages in its own hidden directory
``.<name>.targets-job-<token>``, leased by the driver while the job is open. In there, the
job's open tree holds the files attempts opened by name, under their own names, each
created by the first attempt that asked for it; every other file of an attempt is staged
under the attempt's `task_label` (`targets.fs.rename.task`). The commit is a short
pipeline of named steps, each a method of `RenameJobWriter`: choose the attempts, load
their file lists, check for collisions, verify the files staged by path, close the open
tree (one rename: no attempt adds to it after), keep in it only the chosen files, move the
other chosen files in, seal it with ``_SUCCESS``, fence (the job still holds its lease and
its claim), publish the tree with the family's one rename, release the job's staging and
claim.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
    check_no_collision,
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
from targets.fs.rename.lease import StagingLease
from targets.fs.rename.publish import Evidence, before_publish, publish_noreplace
from targets.fs.rename.store import RenameStore, RenameUnsupported
from targets.fs.rename.task import (
    OPEN_TREE,
    SPILL_FORMAT,
    SPILL_NAME,
    RenameTaskWriter,
    flat_path,
    in_tree,
    is_flat,
    outside_dir,
)
from targets.fs.rename.writers import HashingSink, _publish_own, create_own, prepare

if TYPE_CHECKING:
    from targets.fs.rename.fs import RenameFS

__all__ = ["SPEC_FORMAT", "RenameJobWriter", "open_task"]

SPEC_FORMAT = "targets-rename-job"
SPEC_VERSION = 2
_CLAIM_STAGED = ".targets-claim.json"
"""The claim document inside the job's staging, before it is published as the claim."""


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
            in_dir = [p for p in parts if not outside_dir(p)]
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
            if in_tree(part)
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
                moved = [part for part in parts if not in_tree(part)]
                if not moved:
                    continue
                label = task_label(record.task_id, record.attempt, record.attempt_token)
                attempt_dir = posixpath.join(self._dir, label)
                for part in moved:
                    _make_dirs(store, tree, posixpath.dirname(part.name), made)
                    staged = (
                        flat_path(self._dir, label, part.name)
                        if is_flat(part)
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
