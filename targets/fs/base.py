"""The `AtomicFS` contract that every backend implements.

Contract
--------
An `AtomicFS` publishes outputs so that a reader of the final path sees nothing, or one
writer's complete output (G1); committing onto an existing path never nests the new output
inside the old one (G2) and, unless ``if_exists="overwrite"``, raises `TargetExistsError`
instead of replacing it (G3). ``capabilities`` states which primitives the store offers;
when a call needs a primitive the store lacks, it raises `UnsupportedGuarantee` unless the
caller passed ``guarantee="best-effort"`` (G6). Backends delete only what they wrote
themselves (G8).

Every method below is required. Backends translate their client's errors into
`targets.errors` in one place; no client exception escapes a backend.

The writers returned by `open_output`, `directory_writer` and `staging` share one life cycle:
``PENDING -> COMMITTED`` or ``PENDING -> DISCARDED``. Committing twice, or writing after the
end, raises `InvalidTarget` saying which.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import enum
import io
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal

from targets.errors import InvalidTarget, UnsupportedGuarantee

if TYPE_CHECKING:
    import fsspec

    from targets.fs.job import JobWriter, TaskId, TaskWriter

__all__ = [
    "AtomicFS",
    "Capabilities",
    "CleanupReport",
    "DirectoryWriter",
    "FileWriter",
    "Guarantee",
    "IfExists",
    "PartRecord",
    "RecoverHow",
    "Staging",
    "WriterState",
]

_log = logging.getLogger("targets")

IfExists = Literal["error", "overwrite"]
"""What a commit does when the final path exists: raise `TargetExistsError`, or replace it."""

Guarantee = Literal["strict", "best-effort"]
"""``"strict"`` refuses to run without the primitive a guarantee needs; ``"best-effort"``
runs anyway (with a warning) on a weaker primitive."""

RecoverHow = Literal["auto", "forward", "back"]
"""Which way `AtomicFS.recover` settles an interrupted commit."""

IF_EXISTS_VALUES: tuple[str, ...] = ("error", "overwrite")
GUARANTEE_VALUES: tuple[str, ...] = ("strict", "best-effort")


def check_if_exists(value: str) -> None:
    if value not in IF_EXISTS_VALUES:
        raise InvalidTarget(
            f"if_exists={value!r} is not one of {', '.join(map(repr, IF_EXISTS_VALUES))}"
        )


def check_guarantee(value: str) -> None:
    if value not in GUARANTEE_VALUES:
        raise InvalidTarget(
            f"guarantee={value!r} is not one of {', '.join(map(repr, GUARANTEE_VALUES))}"
        )


def _doc(text: str) -> Any:
    return dataclasses.field(metadata={"doc": text})


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a backend's store can guarantee, as declared by the backend (G6)."""

    noreplace_rename: bool = _doc(
        "A file can be renamed onto a path only if nothing is there, in one atomic step."
    )
    noreplace_rename_dir: bool = _doc(
        "A directory can be renamed onto a path only if nothing is there, in one atomic step."
    )
    exclusive_create: bool = _doc(
        "A file or object can be created only if it does not exist, in one atomic step."
    )
    atomic_replace: bool = _doc(
        "A file can be replaced so that readers see the old or the new content, never a mix."
    )
    deferred_publish: bool = _doc(
        "Data can be uploaded in full and stay invisible until a final request publishes it."
    )
    server_side_copy: bool = _doc("The store copies data without routing it through the client.")

    @classmethod
    def describe(cls) -> dict[str, str]:
        """Each field's name and its one-line meaning, in declaration order."""
        return {f.name: f.metadata["doc"] for f in dataclasses.fields(cls)}


class WriterState(enum.Enum):
    """Where a writer is in its life cycle."""

    PENDING = "pending"
    COMMITTED = "committed"
    DISCARDED = "discarded"


@dataclasses.dataclass(frozen=True)
class PartRecord:
    """One file of a directory output, as the writer that produced it describes it.

    Picklable, so that workers can send their parts to one committing process. ``handle``
    holds what the backend needs to publish the part (a staged path, an upload id).
    """

    name: str
    size: int
    sha256: str | None = None
    handle: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, ...]:
        # By position: a worker sends many records, and named fields would double each.
        return (PartRecord, (self.name, self.size, self.sha256, self.handle))

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "size": self.size}
        if self.sha256 is not None:
            entry["sha256"] = self.sha256
        return entry


@dataclasses.dataclass
class CleanupReport:
    """What a cleanup found: removed (or, on a dry run, would remove), and left alone."""

    removed: list[str] = dataclasses.field(default_factory=list)
    kept_recent: list[str] = dataclasses.field(default_factory=list)
    aborted_uploads: list[str] = dataclasses.field(default_factory=list)
    dry_run: bool = False


class _Lifecycle:
    """The PENDING -> COMMITTED | DISCARDED state shared by every writer."""

    _what: ClassVar[str] = "writer"
    path: str

    def __init__(self) -> None:
        self._state = WriterState.PENDING

    @property
    def state(self) -> WriterState:
        return self._state

    def _require_pending(self, action: str) -> None:
        if self._state is not WriterState.PENDING:
            where = self._log_path()
            raise InvalidTarget(
                f"cannot {action}: the {self._what} for {where} is already "
                f"{self._state.value}; open a new one to write again",
                where,
            )

    def commit(self) -> Any:
        """Publish the output at its final path (see the backend for the primitive used)."""
        self._require_pending("commit")
        started = time.perf_counter()
        try:
            result = self._commit()
        except BaseException as exc:
            self._abandon()
            _log.debug(
                "commit of %s failed after %.3f s: %s",
                self._log_path(),
                time.perf_counter() - started,
                type(exc).__name__,
            )
            raise
        self._state = WriterState.COMMITTED
        if _log.isEnabledFor(logging.DEBUG):
            requests = getattr(self, "requests", None)
            _log.debug(
                "committed %s protocol=%s requests=%s duration=%.3fs",
                self._log_path(),
                getattr(self, "log_protocol", type(self).__name__),
                "-" if requests is None else requests,
                time.perf_counter() - started,
            )
        return result

    def _log_path(self) -> str:
        return str(getattr(self, "final", None) or getattr(self, "path", "?"))

    def discard(self) -> None:
        """Drop everything written; the final path is left as it was. Safe to call twice."""
        if self._state is WriterState.PENDING:
            self._abandon()

    def _abandon(self) -> None:
        self._state = WriterState.DISCARDED
        self._discard()

    def _never_started(self) -> None:
        """Mark a writer whose construction failed as ended, with nothing to clean up."""
        self._state = WriterState.DISCARDED

    def __del__(self) -> None:
        # A writer dropped while pending was abandoned: discard, never commit.
        if getattr(self, "_state", None) is WriterState.PENDING:
            with contextlib.suppress(Exception):
                self.discard()

    def __enter__(self) -> Any:
        self._require_pending("enter")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Commit on a clean exit (unless already ended), discard on an exception."""
        if exc_type is None:
            if self._state is WriterState.PENDING:
                self.commit()
        else:
            self.discard()

    @abc.abstractmethod
    def _commit(self) -> Any: ...

    @abc.abstractmethod
    def _discard(self) -> None: ...


class FileWriter(_Lifecycle, io.BufferedIOBase):
    """A binary output stream whose bytes become visible at `commit()`, all at once.

    ``close()`` on a pending writer, and garbage collection, *discard* it: committing is
    explicit, or a clean exit from a ``with`` block. (The target layer adds Luigi's
    close-commits habit on top.)
    """

    _what = "file writer"

    def __init__(self, path: str) -> None:
        _Lifecycle.__init__(self)
        self.path = path
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._require_pending("write")
        view = memoryview(data).cast("B")
        self._write(view)
        self._size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self._size

    def close(self) -> None:
        if not self.closed:
            self.discard()
            super().close()

    @property
    def closed(self) -> bool:  # io's own flag, but also closed once the writer has ended
        return super().closed or self._state is not WriterState.PENDING

    def commit(self) -> None:
        super().commit()
        io.BufferedIOBase.close(self)

    def _abandon(self) -> None:
        super()._abandon()
        io.BufferedIOBase.close(self)

    def _never_started(self) -> None:
        super()._never_started()
        io.BufferedIOBase.close(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self._state.value}>"

    @abc.abstractmethod
    def _write(self, data: memoryview) -> None: ...


class DirectoryWriter(_Lifecycle):
    """Stages the files of one directory output and publishes them together at `commit()`.

    ``path`` and ``filesystem`` let tools (pyarrow, pandas) write into the staging area;
    `open` writes one file and records its size and checksum. `commit` returns the manifest
    written to ``_SUCCESS``.
    """

    _what = "directory writer"
    path: str
    """Where tools may write the output's files before the commit."""
    token: str
    """The writer token recorded in the manifest."""

    @property
    @abc.abstractmethod
    def filesystem(self) -> fsspec.AbstractFileSystem:
        """An fsspec filesystem on which ``path`` can be written."""

    @abc.abstractmethod
    def open(self, name: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        """Open the file ``name`` (relative, ``/``-separated) of this output for writing."""

    def commit(self) -> dict[str, Any]:
        """Publish every staged file and ``_SUCCESS`` at the final path; return the manifest."""
        return super().commit()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self._state.value}>"


class Staging(_Lifecycle):
    """A path on the backend where a tool writes an output that is committed later.

    Luigi's ``temporary_path()``: the tool writes ``path`` (a file, or for directory outputs
    a directory tree) however it likes; `commit` publishes it at the final path.
    """

    _what = "staging path"
    path: str

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self._state.value}>"


class AtomicFS(abc.ABC):
    """A store's atomic primitives, and the commits built from them. See the module doc."""

    protocol: ClassVar[str]
    """The URL scheme of this backend, e.g. ``"file"`` or ``"s3"``."""

    declared: ClassVar[Capabilities]
    """What this backend guarantees when its store behaves as documented; the docs table is
    generated from it. An instance's ``capabilities`` may be weaker (an old kernel, a store
    that ignores conditional writes), never stronger."""

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[AtomicFS, str]:
        """The filesystem for ``url`` and the backend path ``url`` names in it.

        Raises `InvalidTarget` for a URL this backend cannot address.
        """

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this store can guarantee (G6)."""

    @property
    @abc.abstractmethod
    def fsspec(self) -> fsspec.AbstractFileSystem:
        """The underlying fsspec filesystem, for reading and listing (never for commits)."""

    @abc.abstractmethod
    def url(self, path: str) -> str:
        """The normalized URL of ``path``."""

    @abc.abstractmethod
    def join(self, path: str, *names: str) -> str:
        """``path`` extended by the relative ``names``."""

    # -- reading and housekeeping (Luigi's FileSystem methods) -------------------------

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Whether anything (file or directory) is at ``path``."""

    @abc.abstractmethod
    def isfile(self, path: str) -> bool:
        """Whether a file (on object stores: an object) is at ``path``. A committed file
        output is exactly a file at its path; a directory output is a file ``_SUCCESS``."""

    @abc.abstractmethod
    def isdir(self, path: str) -> bool:
        """Whether ``path`` is a directory (on object stores: a non-empty prefix)."""

    @abc.abstractmethod
    def listdir(self, path: str) -> list[str]:
        """The full paths directly under the directory ``path``, sorted."""

    @abc.abstractmethod
    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Create the directory ``path`` (and its parents)."""

    @abc.abstractmethod
    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Delete ``path``; `TargetNotFound` if nothing is there."""

    @abc.abstractmethod
    def open_input(self, path: str) -> IO[bytes]:
        """A binary stream of the file at ``path``; `TargetNotFound` if there is none."""

    versioned_reads: ClassVar[bool] = False
    """Whether `open_version` reads only the version a manifest names (object stores, by
    a conditional read); otherwise the caller checks the manifest after opening (G4)."""

    def open_version(self, path: str, entry: Mapping[str, Any]) -> IO[bytes]:
        """A binary stream of the file at ``path`` in the version its manifest ``entry``
        describes (its ``etag``, on stores that have one), or `OutputChanged` if another
        version is there. A backend without versioned reads opens what is there."""
        return self.open_input(path)

    # -- atomic primitives -------------------------------------------------------------

    @abc.abstractmethod
    def rename_dont_move(self, src: str, dst: str, *, guarantee: Guarantee = "strict") -> None:
        """Rename ``src`` to ``dst`` if nothing is at ``dst``.

        Never moves ``src`` *into* an existing directory and never replaces anything:
        `TargetExistsError` when ``dst`` exists.
        """

    def move(self, src: str, dst: str) -> None:
        """Luigi's ``move``: here always `rename_dont_move`, so it cannot nest."""
        self.rename_dont_move(src, dst)

    @abc.abstractmethod
    def copy(self, src: str, dst: str) -> None:
        """Copy the file ``src`` to ``dst``, atomically and without replacing ``dst``."""

    @abc.abstractmethod
    def put_if_absent(self, path: str, data: bytes) -> None:
        """Create the file ``path`` holding ``data`` if nothing is there, else raise
        `TargetExistsError`. Readers never see a partial ``data``."""

    # -- commits -----------------------------------------------------------------------

    @abc.abstractmethod
    def open_output(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> FileWriter:
        """A writer for one file output at ``path``, published at ``commit()``."""

    @abc.abstractmethod
    def directory_writer(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        checksums: bool = True,
    ) -> DirectoryWriter:
        """A writer for a directory output at ``path``, published with ``_SUCCESS``; its
        manifest records each file's sha256 when ``checksums`` is true, else sizes only."""

    @abc.abstractmethod
    def staging(
        self,
        path: str,
        *,
        directory: bool,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> Staging:
        """A staging path next to ``path`` for tools that write by path (``temporary_path``)."""

    def job(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        checksums: bool = True,
    ) -> JobWriter:
        """Claim the directory output ``path`` for a job written by many workers
        (`targets.fs.job`): `TargetExistsError` at once if it is committed (unless
        ``if_exists="overwrite"``) or claimed by a live writer. The tasks record each
        file's sha256 when ``checksums`` is true, else sizes only."""
        raise UnsupportedGuarantee(
            f"{type(self).__name__} cannot commit a job of many workers to {self.url(path)}; "
            "write the output from one process with a directory writer",
            self.url(path),
        )

    def job_task(
        self, path: str, spec: Mapping[str, Any], task_id: TaskId, attempt: int = 0
    ) -> TaskWriter:
        """Open attempt ``attempt`` of task ``task_id`` of the job on ``path`` whose
        `JobWriter.spec` is ``spec``, in any process."""
        raise UnsupportedGuarantee(
            f"{type(self).__name__} cannot write tasks of a job to {self.url(path)}",
            self.url(path),
        )

    @abc.abstractmethod
    def cleanup(self, path: str, *, older_than: timedelta, dry_run: bool = False) -> CleanupReport:
        """Remove this library's temporaries under or beside ``path`` that are older than
        ``older_than``. Never touches committed data or anything this library did not write."""

    @abc.abstractmethod
    def recover(self, path: str, *, how: RecoverHow = "auto", force: bool = False) -> str:
        """Finish or undo an interrupted commit at ``path``; say what was done.

        ``how`` chooses the direction where a backend has two (object stores: ``"forward"``
        publishes what the claim lists, ``"back"`` removes it, ``"auto"`` goes forward when
        it can); a backend with one way raises `InvalidTarget` for the other. ``force=True``
        acts on a claim that is not yet stale."""
