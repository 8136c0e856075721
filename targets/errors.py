"""The exceptions raised by `targets`.

Every error names the path it concerns and, where there is one, what to do about it.
Errors subclass the matching builtin so that ``except FileExistsError`` and friends keep
working in code written against plain files::

    TargetError (Exception)
    ├── TargetExistsError (FileExistsError)       the output exists, or another writer won
    │   └── FileAlreadyExists                     Luigi's name, an alias
    ├── IncompleteCommit                          a claimed output whose commit never finished
    ├── CommitError                               the commit failed; the output is unchanged
    ├── CorruptManifest                           a _SUCCESS that is not a valid manifest
    ├── UnsupportedGuarantee                      the backend cannot keep a guarantee asked for
    ├── MissingParentDirectory (FileNotFoundError)
    ├── NotADirectory (NotADirectoryError)        a file sits where a directory is needed
    ├── IsADirectory (IsADirectoryError)          a directory sits where a file is needed
    ├── TargetNotFound (FileNotFoundError)        reading an output that does not exist
    │   └── OutputChanged                         the output was replaced while being read
    ├── StoreUnavailable (ConnectionError)        the store cannot be reached, or stopped answering
    ├── BackendNotInstalled (ImportError)         the URL's backend needs an extra package
    └── InvalidTarget (ValueError)                a malformed URL, path, mode or option
"""

from __future__ import annotations

__all__ = [
    "BackendNotInstalled",
    "CommitError",
    "CorruptManifest",
    "FileAlreadyExists",
    "IncompleteCommit",
    "InvalidTarget",
    "IsADirectory",
    "MissingParentDirectory",
    "NotADirectory",
    "OutputChanged",
    "StoreUnavailable",
    "TargetError",
    "TargetExistsError",
    "TargetNotFound",
    "UnsupportedGuarantee",
]


class TargetError(Exception):
    """Base class of every error raised by `targets`.

    ``path`` is the path or URL the error concerns (``None`` when there is none).
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[TargetError], tuple[str, str | None]]:
        # keep the path across pickling (multiprocessing, Dask)
        return (type(self), (self.message, self.path))


class TargetExistsError(TargetError, FileExistsError):
    """The output already exists, or a concurrent writer committed first.

    Nothing of the failed writer is visible; its data was discarded.
    """

    @classmethod
    def taken(cls, where: str, what: str = "output") -> TargetExistsError:
        """The conflict a writer reports when ``where`` is taken; its ``what`` was
        discarded. One message for every backend."""
        return cls(
            f"{where} already exists (an earlier run produced it, or another writer committed "
            f"first); this writer's {what} was discarded. Pass if_exists='overwrite' to "
            "replace it, remove it first, or write elsewhere",
            where,
        )

    def __init__(self, message: str, path: str | None = None) -> None:
        TargetError.__init__(self, message, path)
        # FileExistsError's attributes, for code that inspects them.
        self.filename = path
        self.errno = 17  # EEXIST
        self.strerror = message


FileAlreadyExists = TargetExistsError
"""Luigi's name for :class:`TargetExistsError`."""


class IncompleteCommit(TargetError):
    """An output was claimed by a writer that never finished its commit.

    ``targets recover URL`` rolls it forward or back.
    """


class CommitError(TargetError):
    """The commit failed; the final path is as it was before the commit started."""


class CorruptManifest(TargetError):
    """A ``_SUCCESS`` file that is not a valid manifest (tampered, truncated, or foreign)."""


class UnsupportedGuarantee(TargetError):
    """The backend cannot keep a guarantee the call needs (see ``AtomicFS.capabilities``).

    The message names what to install or configure; ``guarantee="best-effort"`` opts out.
    """


class MissingParentDirectory(TargetError, FileNotFoundError):
    """The parent directory of the output does not exist and could not be created."""


class NotADirectory(TargetError, NotADirectoryError):
    """A file sits where a directory is needed (a parent of the output, or the output)."""


class IsADirectory(TargetError, IsADirectoryError):
    """A directory sits where a file is needed."""


class TargetNotFound(TargetError, FileNotFoundError):
    """The output does not exist (reading or removing it)."""


class OutputChanged(TargetNotFound):
    """The output was replaced or removed while it was being read: what was read so far is
    one committed version, and nothing of another version was handed out. Read the output
    again (``files()``, then ``open()``) to read its current version."""


class InvalidTarget(TargetError, ValueError):
    """A malformed URL, path, mode or option; nothing was touched."""


class BackendNotInstalled(TargetError, ImportError):
    """The URL's backend needs a package that is not installed; the message names the extra."""


class StoreUnavailable(TargetError, ConnectionError):
    """The store (an endpoint, a NameNode) could not be reached, or stopped answering.

    When this interrupts a commit, the message says whether its outcome is unknown.
    """
