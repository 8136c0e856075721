"""Targets: the outputs pipeline code writes through.

A target names one output, on any backend, and commits it whole or not at all. Each
target is usable where Luigi expects a ``FileSystemTarget``.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, Literal, NoReturn, overload

from targets import _luigi
from targets import fs as _fs
from targets._files import AtomicBinaryFile, AtomicTextFile, FormattedFile
from targets._inspect import _data_files
from targets.errors import InvalidTarget, OutputChanged, TargetNotFound
from targets.fs import _manifest
from targets.fs._names import SUCCESS

if TYPE_CHECKING:
    from targets._job import Job

from targets.fs.base import (
    AtomicFS,
    CleanupReport,
    DirectoryWriter,
    Guarantee,
    IfExists,
    RecoverHow,
    check_guarantee,
    check_if_exists,
)

__all__ = ["DirectoryTarget", "FileTarget", "FlagTarget", "cleanup", "recover", "target"]

_READ_MODES = {"r": False, "rt": False, "rb": True}
_WRITE_MODES = {"w": False, "wt": False, "wb": True, "x": False, "xt": False, "xb": True}

_TextRead = Literal["r", "rt"]
_TextWrite = Literal["w", "wt", "x", "xt"]
_BinaryWrite = Literal["wb", "xb"]


def _is_dir_url(url: Any) -> bool:
    text = url if isinstance(url, str) else str(url)
    return text.endswith("/")


class _Target:
    """What every target has: a URL, a backend path, and the `AtomicFS` behind them."""

    _kind = "target"
    _options: dict[str, Any]

    def __init__(self, path: Any, storage_options: dict[str, Any]) -> None:
        if isinstance(path, _Target):  # a target names its location by URL, not by fspath
            storage_options = {**path._options, **storage_options}
            path = path.url
        self._location = path
        self._options = storage_options
        self.fs: AtomicFS
        self.fs, self.path = _fs.resolve(path, **storage_options)

    @property
    def url(self) -> str:
        """The normalized URL of this output."""
        return self.fs.url(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    if not TYPE_CHECKING:
        # Not a path: open(t, "w"), shutil.copy(src, t) or df.to_csv(t) would write straight
        # to the final path, around the commit. os.fspath() and everything built on it (open,
        # shutil, pathlib, pandas) get this error instead. Hidden from type checkers, which
        # then reject a target where a path is expected before the program runs.
        def __fspath__(self) -> NoReturn:
            raise TypeError(_NOT_A_PATH.format(target=self))

    dropped_options: tuple[str, ...] = ()
    """Storage options left out when this target was pickled (credentials): an unpickled
    target finds its credentials in its own environment, as the client library does."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["fs"]  # clients are not picklable; resolved again on unpickling
        state["_options"], dropped = _without_secrets(self._options)
        state["dropped_options"] = tuple(sorted(dropped))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.fs, _ = _fs.resolve(self._location, **self._options)


_NOT_A_PATH = (
    "{target!r} is not a path: writing to its final path by name (open(), shutil.copy, "
    "df.to_csv(path)...) would bypass the commit, leaving a partial file on a crash and "
    "replacing an existing output. Write with .open('w') / .open('wb') (a file object pandas "
    "and most writers accept), or with .temporary_path() for a tool that needs a path; read "
    "with .open('r') / .open('rb'), or by its backend path .path."
)


_SECRET_OPTIONS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "credentials",
        "session_token",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "access_key",
        "secret_key",
        "sas_token",
        "account_key",
        "connection_string",
        "credential",
        "client_secret",
    }
)
_TOKEN_MODES = frozenset({"anon", "google_default", "cache", "cloud", "browser"})
"""gcsfs ``token=`` values that name a way to find credentials, not a credential."""


def _without_secrets(options: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``options`` without credentials (at any depth), and the names left out."""
    clean: dict[str, Any] = {}
    dropped: set[str] = set()
    for name, value in options.items():
        if name in _SECRET_OPTIONS and not (
            name == "token" and isinstance(value, str) and value in _TOKEN_MODES
        ):
            if value is not None:
                dropped.add(name)
            continue
        if isinstance(value, dict):
            value, inner = _without_secrets(value)
            dropped |= {f"{name}.{n}" for n in inner}
        clean[name] = value
    return clean, dropped


class FileTarget(_Target):
    """One file output, committed whole or not at all.

    Write it with ``open("w")`` / ``open("wb")`` in a ``with`` block, with ``write_bytes``,
    or through ``temporary_path()`` for tools that write by path. Nothing is visible at the
    final path until the commit; a failed writer leaves it as it was. With the default
    ``if_exists="error"`` an existing output is never replaced: the commit raises
    `TargetExistsError` (a `FileExistsError`), also when a concurrent writer won.

    A target is not a path (``os.fspath(t)`` raises `TypeError`): handing it to ``open()``,
    ``shutil.copy`` or ``df.to_csv`` would write around the commit. Read by
    ``open("r")``/``open("rb")``, or by the backend path ``t.path``.

    >>> with FileTarget("out/report.csv").open("w") as f:   # doctest: +SKIP
    ...     f.write("id,total\\n")

    Args:
        path: Where the output goes: a local path, a ``pathlib.Path``, a ``UPath``, or a URL
            (``file://``, ``s3://``, ``gs://``, ``hdfs://``...). It must not end in ``/``
            (that names a directory: use `DirectoryTarget`).
        format: A Luigi ``Format`` (``luigi.format.Gzip``, ``UTF8``, ``Nop``...) whose
            ``pipe_writer`` and ``pipe_reader`` wrap the stream ``open()`` returns, both ways;
            ``None`` (the default) for plain bytes or text.
        if_exists: What a commit does when the output already exists: ``"error"`` (the
            default) raises `TargetExistsError` (also when a concurrent writer committed
            first) and leaves it as it was; ``"overwrite"`` replaces it whole, readers seeing
            the old output or the new one, never a mix.
        guarantee: ``"strict"`` (the default) raises `UnsupportedGuarantee` where the backend
            lacks the primitive a guarantee needs (a rename that cannot replace, say), naming
            what to install or configure; ``"best-effort"`` runs anyway on a weaker one, with
            a warning (the Guarantees page says what each store then keeps).
        durable: ``True`` (the default) makes a local commit survive a power loss once it
            returns (the data, then the directory entry, are fsynced); ``False`` skips the
            fsyncs, for scratch outputs. Object stores and HDFS make a commit durable
            either way.
        **storage_options: Passed to the backend's client (``endpoint_url``, ``key``,
            ``token``, ``anon``...), as fsspec takes them. Credentials among them are never
            shown in a ``repr`` or an error, and are left out when the target is pickled
            (see ``dropped_options``).

    Raises:
        InvalidTarget: ``path`` ends in ``/``, ``format`` is not a Luigi Format, or an option
            has a value it cannot take.
    """

    _kind = "file"

    def __init__(
        self,
        path: Any,
        format: Any = None,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        **storage_options: Any,
    ) -> None:
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        if _is_dir_url(path):
            raise InvalidTarget(
                f"{path} ends in '/', which names a directory; use DirectoryTarget (or "
                "targets.target) for directory outputs, or drop the '/'",
                str(path),
            )
        if format is not None and not (
            hasattr(format, "pipe_reader") and hasattr(format, "pipe_writer")
        ):
            raise InvalidTarget(
                f"format={format!r} for {path} is not a Luigi Format: pass an object with "
                "pipe_reader and pipe_writer (luigi.format.Gzip, UTF8, Nop...), or None",
                str(path),
            )
        super().__init__(path, storage_options)
        _luigi.register_if_imported(FileTarget)  # for Luigi's range tools; see targets/_luigi.py
        self.format = format
        self.if_exists = if_exists
        self.guarantee = guarantee
        self.durable = durable

    # -- Luigi's Target / FileSystemTarget -------------------------------------------

    def exists(self) -> bool:
        """True once the output is committed (a committed file is never partial)."""
        return self.fs.isfile(self.path)

    @overload
    def open(self, mode: _TextRead = "r", *, encoding: str = "utf-8", **kwargs: Any) -> IO[str]: ...
    @overload
    def open(self, mode: Literal["rb"], *, encoding: str = "utf-8", **kwargs: Any) -> IO[bytes]: ...
    @overload
    def open(
        self, mode: _TextWrite, *, encoding: str = "utf-8", **kwargs: Any
    ) -> AtomicTextFile: ...
    @overload
    def open(
        self, mode: _BinaryWrite, *, encoding: str = "utf-8", **kwargs: Any
    ) -> AtomicBinaryFile: ...
    @overload
    def open(self, mode: str, *, encoding: str = "utf-8", **kwargs: Any) -> IO[Any]: ...

    def open(self, mode: str = "r", *, encoding: str = "utf-8", **kwargs: Any) -> Any:
        """Open the output for reading (``"r"``, ``"rb"``) or writing (``"w"``, ``"wb"``).

        A file opened for writing commits when it is closed, or at the clean end of a
        ``with`` block; an exception in the block discards it, and so does dropping it
        without closing it. ``"x"``/``"xb"`` write with ``if_exists="error"`` whatever the
        target's own setting. A ``format`` (Luigi's) wraps the stream both ways.

        The return type follows the mode for a type checker: ``IO[str]`` for ``"r"``,
        ``IO[bytes]`` for ``"rb"``, `AtomicTextFile` for ``"w"``, `AtomicBinaryFile` for
        ``"wb"``. With a ``format`` the object is the format's stream, which no checker can
        know from the mode.

        Args:
            mode: ``"r"``/``"rt"``, ``"rb"``, ``"w"``/``"wt"``, ``"wb"``, ``"x"``/``"xt"`` or
                ``"xb"``. Appending is refused: it cannot be atomic.
            encoding: The text encoding of the text modes.
            **kwargs: Passed to `io.TextIOWrapper` in the text modes (``newline``,
                ``errors``).

        Raises:
            InvalidTarget: An unsupported mode.
            TargetNotFound: Reading an output that does not exist.
        """
        if mode in _READ_MODES:
            raw = self.fs.open_input(self.path)
            if self.format is not None:
                return self.format.pipe_reader(raw)
            if _READ_MODES[mode]:
                return raw
            return io.TextIOWrapper(raw, encoding=encoding, **kwargs)
        if mode not in _WRITE_MODES:
            hint = (
                " (appending cannot be atomic: write a new output instead)" if "a" in mode else ""
            )
            raise InvalidTarget(
                f"mode {mode!r} is not supported for {self.url}; use 'r', 'rb', 'w' or 'wb'{hint}",
                self.url,
            )
        if_exists: IfExists = "error" if mode.startswith("x") else self.if_exists
        writer = self.fs.open_output(
            self.path, if_exists=if_exists, guarantee=self.guarantee, durable=self.durable
        )
        raw_file = AtomicBinaryFile(writer)
        if self.format is not None:
            return FormattedFile(self.format.pipe_writer(raw_file), raw_file)
        if _WRITE_MODES[mode]:
            return raw_file
        return AtomicTextFile(raw_file, encoding=encoding, **kwargs)

    @contextlib.contextmanager
    def temporary_path(self) -> Iterator[str]:
        """A path on the same backend for a tool that writes by path; committed on a clean
        exit, discarded on an exception::

            with target.temporary_path() as tmp:
                subprocess.run(["sort", "-o", tmp, "input.txt"], check=True)
        """
        staging = self.fs.staging(
            self.path,
            directory=False,
            if_exists=self.if_exists,
            guarantee=self.guarantee,
            durable=self.durable,
        )
        with staging:
            yield staging.path

    def write_bytes(self, data: bytes) -> None:
        """Commit ``data`` as the whole output."""
        with self.open("wb") as f:
            f.write(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        """Commit ``text`` as the whole output."""
        self.write_bytes(text.encode(encoding))

    def read_bytes(self) -> bytes:
        with self.fs.open_input(self.path) as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def remove(self) -> None:
        """Delete the output; `TargetNotFound` if there is none."""
        self.fs.remove(self.path, recursive=False)

    def copy(self, dst: Any, **storage_options: Any) -> FileTarget:
        """Copy the output to ``dst`` (a path, URL or FileTarget), committed like any write:
        it never replaces an existing output."""
        out = _as_file_target(dst, storage_options, self)
        if _same_store(self, out):
            out.fs.copy(self.path, out.path)
            return out
        with self.fs.open_input(self.path) as src, out.open("wb") as sink:
            shutil.copyfileobj(src, sink, 1 << 20)
        return out

    def move(self, dst: Any, **storage_options: Any) -> FileTarget:
        """Move the output to ``dst`` without replacing anything there (rename-dont-move).

        Within one store that can rename without replacing, this is one rename; elsewhere a
        copy, then the removal of the source.
        """
        out = _as_file_target(dst, storage_options, self)
        if _same_store(self, out) and out.fs.capabilities.noreplace_rename:
            out.fs.rename_dont_move(self.path, out.path, guarantee=self.guarantee)
            return out
        self.copy(out)
        self.remove()
        return out


def _same_store(a: _Target, b: _Target) -> bool:
    """Whether two targets live on one store reached the same way (one backend call can
    copy or rename between them)."""
    return type(a.fs) is type(b.fs) and a._options == b._options


def _as_file_target(dst: Any, storage_options: dict[str, Any], like: FileTarget) -> FileTarget:
    if isinstance(dst, FileTarget):
        return dst
    return FileTarget(
        dst, guarantee=like.guarantee, durable=like.durable, **(storage_options or like._options)
    )


class _TreeTarget(_Target):
    """What the directory outputs share: a URL ending in ``/`` and reading a file by name."""

    @property
    def url(self) -> str:
        """The normalized URL of this output, ending in ``/``."""
        return self.fs.url(self.path).rstrip("/") + "/"

    @overload
    def open(self, name: str, mode: Literal["rb"] = "rb") -> IO[bytes]: ...
    @overload
    def open(self, name: str, mode: _TextRead) -> IO[str]: ...
    @overload
    def open(self, name: str, mode: str) -> IO[Any]: ...

    def open(self, name: str, mode: str = "rb") -> IO[Any]:
        """Read the file ``name`` (relative, ``/``-separated) of the output: ``"rb"`` (the
        default) for bytes, ``"r"`` for UTF-8 text; files are written through the writer."""
        raw = self._open_raw(self._checked_name(name, mode))
        return raw if _READ_MODES[mode] else io.TextIOWrapper(raw, encoding="utf-8")

    def _checked_name(self, name: str, mode: str) -> str:
        from targets.fs._names import check_relative_name

        check_relative_name(name, self.url)
        if mode not in _READ_MODES:
            raise InvalidTarget(
                f"mode {mode!r}: files of {self.url} are read with 'r' or 'rb'; write them "
                "through writer()",
                self.url,
            )
        return name

    def _open_raw(self, name: str) -> IO[bytes]:
        return self.fs.open_input(self.fs.join(self.path, *name.split("/")))


class DirectoryTarget(_TreeTarget):
    """A directory output: many files committed together, with a ``_SUCCESS`` manifest.

    Write it with ``writer()`` (files by name, or tools writing under ``writer().path``) or
    ``temporary_path()``. ``exists()`` is true only once every file and the manifest are
    committed; readers that gate on it never see a partial directory.

    >>> with DirectoryTarget("out/table/").writer() as w:   # doctest: +SKIP
    ...     with w.open("part-0000.csv", "w") as f:
    ...         f.write("id\\n1\\n")

    Args:
        path: The directory: a local path, a ``pathlib.Path``, a ``UPath`` or a URL; a
            trailing ``/`` is optional here.
        if_exists: What a commit does when the output already exists (has its
            ``_SUCCESS``): ``"error"`` (the default) raises `TargetExistsError` (also when a
            concurrent writer committed first) and leaves it as it was; ``"overwrite"``
            replaces it whole, readers seeing the old output or the new one, never a mix.
        guarantee: ``"strict"`` (the default) raises `UnsupportedGuarantee` where the backend
            lacks the primitive a guarantee needs (a rename that cannot replace, say), naming
            what to install or configure; ``"best-effort"`` runs anyway on a weaker one, with
            a warning (the Guarantees page says what each store then keeps).
        durable: ``True`` (the default) makes a local commit survive a power loss once it
            returns (the data, then the directory entry, are fsynced); ``False`` skips the
            fsyncs, for scratch outputs. Object stores and HDFS make a commit durable
            either way.
        checksums: ``True`` (the default) records the sha256 of every file written through
            `writer` or a `job` in the manifest, where ``targets verify`` compares it;
            ``False`` records names and sizes only, sparing a hash of every byte (about
            0.7 ms of one core per MiB), for outputs too big or too short-lived to verify.
            Files written by path (`temporary_path`) are recorded by size either way.
        **storage_options: Passed to the backend's client (``endpoint_url``, ``key``,
            ``token``, ``anon``...), as fsspec takes them. Credentials among them are never
            shown in a ``repr`` or an error, and are left out when the target is pickled
            (see ``dropped_options``).

    Raises:
        InvalidTarget: ``if_exists``, ``guarantee`` or ``checksums`` has a value it cannot
            take.
    """

    _kind = "directory"

    def __init__(
        self,
        path: Any,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        checksums: bool = True,
        **storage_options: Any,
    ) -> None:
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        if not isinstance(checksums, bool):
            raise InvalidTarget(
                f"checksums={checksums!r} for {path} must be True (record each file's sha256) "
                "or False (record sizes only)",
                str(path),
            )
        super().__init__(path, storage_options)
        self.if_exists = if_exists
        self.guarantee = guarantee
        self.durable = durable
        self.checksums = checksums
        self._version: tuple[bytes, dict[str, Any]] | None = None
        """The committed version this target reads: its ``_SUCCESS`` as read, decoded."""

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_version"] = None  # a copy reads the version current when it first reads
        return state

    @property
    def success_path(self) -> str:
        return self.fs.join(self.path, SUCCESS)

    def exists(self) -> bool:
        """True once the output is committed, i.e. its ``_SUCCESS`` exists."""
        return self.fs.isfile(self.success_path)

    def writer(self) -> DirectoryWriter:
        """A writer for this output; commit on a clean ``with`` exit, discard on an error."""
        return self.fs.directory_writer(
            self.path,
            if_exists=self.if_exists,
            guarantee=self.guarantee,
            durable=self.durable,
            checksums=self.checksums,
        )

    def job(self) -> Job:
        """A job writing this output from many workers, committed once (see `Job`).

        Claims the output now: `TargetExistsError` at once if it is committed (unless
        ``if_exists="overwrite"``) or claimed by a live writer or job; `IncompleteCommit` if
        an earlier writer died holding it (``targets recover`` settles that). ``with
        d.job() as job:`` aborts the job unless it was committed in the block.
        """
        from targets._job import Job

        return Job(self)

    @contextlib.contextmanager
    def temporary_path(self) -> Iterator[str]:
        """A directory path for tools that write a whole tree by path (Luigi's habit);
        committed with its manifest on a clean exit, discarded on an exception."""
        staging = self.fs.staging(
            self.path,
            directory=True,
            if_exists=self.if_exists,
            guarantee=self.guarantee,
            durable=self.durable,
        )
        with staging:
            yield staging.path

    def manifest(self) -> dict[str, Any]:
        """The parsed ``_SUCCESS``; ``{}`` for an empty (Hadoop/Spark) marker.

        Reading it fixes the version that `open` reads (G4): after ``files()`` (or
        ``manifest()``), ``open(name)`` hands out that committed version of each file or
        raises `OutputChanged` (the output was replaced meanwhile); it never mixes two
        versions. Calling ``files()`` again moves on to the current version."""
        data = self._read_success()
        manifest = _manifest.decode(data, self.fs.url(self.success_path)) or {}
        self._version = (data, manifest)
        return manifest

    def _read_success(self) -> bytes:
        try:
            with self.fs.open_input(self.success_path) as f:
                return f.read()
        except TargetNotFound:
            raise TargetNotFound(
                f"{self.url} is not committed: it has no {SUCCESS}", self.url
            ) from None

    def _open_raw(self, name: str) -> IO[bytes]:
        """``name`` in the version read last (the current one if none was): a conditional
        read where the store has versions, else a check of ``_SUCCESS`` once it is open."""
        if self._version is None:
            self.manifest()
        assert self._version is not None
        data, manifest = self._version
        path = self.fs.join(self.path, *name.split("/"))
        listed: list[dict[str, Any]] = manifest.get("files", [])
        entry: dict[str, Any] = next((f for f in listed if f.get("name") == name), {})
        try:
            raw = self.fs.open_version(path, entry)
        except OutputChanged:
            raise
        except TargetNotFound:
            self._check_version(data, None)
            raise
        if not (self.fs.versioned_reads and entry.get("etag")):
            self._check_version(data, raw)
        return raw

    def _check_version(self, data: bytes, opened: IO[bytes] | None) -> None:
        """`OutputChanged` (closing ``opened``) unless ``_SUCCESS`` still reads ``data``."""
        try:
            now = self._read_success()
        except TargetNotFound:
            now = None
        except BaseException:
            if opened is not None:
                opened.close()
            raise
        if now != data:
            if opened is not None:
                opened.close()
            raise OutputChanged(
                f"{self.url} was replaced or removed since its manifest was read; nothing of "
                "the new version was handed out. Call files() again to read the current "
                "version",
                self.url,
            )

    def files(self) -> list[str]:
        """The output's data files (relative names, ``_SUCCESS`` excluded), from the manifest;
        for a directory committed by Hadoop or Spark, its listed non-hidden files."""
        manifest = self.manifest()
        if manifest:
            return [entry["name"] for entry in manifest["files"]]
        return _listed_data_files(self.fs, self.path)

    def remove(self) -> None:
        """Delete the output (its ``_SUCCESS`` first, so it stops existing at once)."""
        self.fs.remove(self.path, recursive=True)


def _listed_data_files(afs: AtomicFS, path: str) -> list[str]:
    """The non-hidden files under ``path``: Hadoop's and Spark's notion of the data."""
    return sorted(_data_files(afs, path))


class FlagTarget(_TreeTarget):
    """A directory output written by another tool (Spark, Hadoop) that marks completion
    with a flag file: it exists once ``flag`` exists. Read-side only.

    Args:
        path: The directory: a local path, a ``pathlib.Path``, a ``UPath`` or a URL.
        flag: The name of the file, in the directory, whose presence marks it complete
            (``"_SUCCESS"``, Hadoop's and Spark's, by default).
        **storage_options: Passed to the backend's client (``endpoint_url``, ``key``,
            ``token``, ``anon``...), as fsspec takes them. Credentials among them are never
            shown in a ``repr`` or an error, and are left out when the target is pickled
            (see ``dropped_options``).

    Raises:
        InvalidTarget: ``flag`` is not a plain file name.
    """

    _kind = "flag"

    def __init__(self, path: Any, flag: str = SUCCESS, **storage_options: Any) -> None:
        if not isinstance(flag, str) or not flag or "/" in flag:
            raise InvalidTarget(
                f"flag={flag!r} for {path} must be a plain file name in the directory, such "
                "as '_SUCCESS'",
                str(path),
            )
        super().__init__(path, storage_options)
        self.flag = flag

    def exists(self) -> bool:
        return self.fs.isfile(self.fs.join(self.path, self.flag))

    def files(self) -> list[str]:
        """The directory's non-hidden files (Hadoop's and Spark's notion of the data)."""
        return _listed_data_files(self.fs, self.path)


@overload
def target(path: Any, *, format: Any, **kwargs: Any) -> FileTarget: ...
@overload
def target(path: Any, **kwargs: Any) -> FileTarget | DirectoryTarget: ...


def target(path: Any, **kwargs: Any) -> FileTarget | DirectoryTarget:
    """The target for ``path``: a `DirectoryTarget` if it ends in ``/``, else a `FileTarget`.

    A type checker cannot see a trailing ``/`` in a string, so the result is typed
    ``FileTarget | DirectoryTarget`` (``FileTarget`` when ``format=`` is given, which only a
    file takes): construct `FileTarget` or `DirectoryTarget` directly, or narrow with
    ``isinstance``, where the precise class matters to a checker.

    Args:
        path: A local path, a ``pathlib.Path``, a ``UPath`` or a URL; a trailing ``/`` makes
            it a directory output.
        **kwargs: The target's options (``format`` for a file; ``if_exists``, ``guarantee``,
            ``durable``, as `FileTarget` and `DirectoryTarget` describe them) and the
            backend's storage options.
    """
    if _is_dir_url(path):
        return DirectoryTarget(path, **kwargs)
    return FileTarget(path, **kwargs)


def cleanup(
    path: Any,
    *,
    older_than: timedelta = timedelta(hours=6),
    dry_run: bool = False,
    **storage_options: Any,
) -> CleanupReport:
    """Remove this library's stale temporaries beside and under ``path`` (G8).

    Only temporaries older than ``older_than`` go; committed outputs are never touched.
    """
    afs, backend_path = _fs.resolve(path, **storage_options)
    return afs.cleanup(backend_path, older_than=older_than, dry_run=dry_run)


def recover(
    path: Any, force: bool = False, *, how: RecoverHow = "auto", **storage_options: Any
) -> str:
    """Finish or undo an interrupted commit at ``path``; returns what was done.

    A claim that is not yet stale is refused (its writer may be alive) unless ``force``.
    ``how`` picks the direction where a backend has two (object stores: ``"forward"``,
    ``"back"``; ``"auto"`` goes forward when it can).
    """
    afs, backend_path = _fs.resolve(path, **storage_options)
    return afs.recover(backend_path, how=how, force=force)


for _cls in (FileTarget, DirectoryTarget, FlagTarget):
    _cls.__module__ = "targets"
