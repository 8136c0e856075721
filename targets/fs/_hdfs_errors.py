"""Translating HDFS client errors (hdfs-native's RPC errors, OSErrors of the other
clients) into `targets.errors`: one table per kind of error, one function."""

from __future__ import annotations

import errno
import re

from targets.errors import (
    CommitError,
    InvalidTarget,
    IsADirectory,
    NotADirectory,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)

__all__ = ["NameNodeUnreachable", "is_transport", "rpc_parts", "translate_error"]


class NameNodeUnreachable(StoreUnavailable):
    """The NameNode (or WebHDFS server) could not be reached, or stopped answering."""


_RPC_RE = re.compile(r'^RPCError\("(?P<cls>[^"]*)",\s*"(?P<msg>.*)"\)$', re.S)
_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}
_PERMISSION = "permission denied ({msg}); check the HDFS permissions and the user you connect as"

# Python exception class -> (targets error, what the message says after "cannot <action> <path>: ")
_BY_CLASS: tuple[tuple[type[BaseException], type[TargetError], str], ...] = (
    (
        FileExistsError,
        TargetExistsError,
        "it already exists; pass if_exists='overwrite' to replace it, or remove it first",
    ),
    (FileNotFoundError, TargetNotFound, "no such file or directory"),
    (
        IsADirectoryError,
        IsADirectory,
        "it is a directory; use a DirectoryTarget (a URL ending in '/') for directory outputs",
    ),
    (NotADirectoryError, NotADirectory, "a component of the path is a file, not a directory"),
    (PermissionError, TargetError, _PERMISSION),
)

# the NameNode's Java exception (short name) -> (targets error, message)
_BY_RPC: dict[str, tuple[type[TargetError], str]] = {
    "ParentNotDirectoryException": (
        NotADirectory,
        "a component of the path is a file, not a directory ({msg})",
    ),
    "FileAlreadyExistsException": (TargetExistsError, "it already exists ({msg})"),
    "AlreadyBeingCreatedException": (TargetExistsError, "it already exists ({msg})"),
    "AccessControlException": (TargetError, _PERMISSION),
    "AuthorizationException": (TargetError, _PERMISSION),
    "SafeModeException": (
        CommitError,
        "the NameNode is in safe mode ({msg}); retry when it has left safe mode",
    ),
    "NSQuotaExceededException": (CommitError, "a quota is exceeded ({msg})"),
    "DSQuotaExceededException": (CommitError, "a quota is exceeded ({msg})"),
    "InvalidPathException": (InvalidTarget, "HDFS rejects the path ({msg})"),
    "PathIsNotEmptyDirectoryException": (
        TargetError,
        "the directory is not empty; remove it recursively",
    ),
}


def rpc_parts(exc: BaseException) -> tuple[str, str]:
    """``(java exception class, message)`` of an hdfs-native RPC error, else ``("", text)``."""
    text = str(exc)
    m = _RPC_RE.match(text)
    if m is None:
        return "", text
    return m["cls"], m["msg"]


def is_transport(exc: BaseException) -> bool:
    if isinstance(exc, TargetError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError):
        if exc.errno in _UNREACHABLE_ERRNOS:
            return True
        text = str(exc).lower()
        signs = ("connection refused", "connection reset", "broken pipe", "timed out")
        return any(sign in text for sign in signs)
    return False


def translate_error(exc: BaseException, path: str, action: str, where: str) -> TargetError:
    """The `targets.errors` exception for a client exception raised while doing ``action``
    on ``path``; ``where`` names the NameNode for connection problems."""
    if is_transport(exc):
        return NameNodeUnreachable(
            f"cannot {action} {path}: the NameNode at {where} cannot be reached ({exc}); "
            "check the host and port, that the NameNode is running, and the network",
            path,
        )
    for native, error, says in _BY_CLASS:
        if isinstance(exc, native):
            return error(f"cannot {action} {path}: " + says.format(msg=exc), path)
    cls, msg = rpc_parts(exc)
    short = cls.rsplit(".", 1)[-1]
    if short in _BY_RPC:
        error, says = _BY_RPC[short]
        return error(f"cannot {action} {path}: " + says.format(msg=msg), path)
    detail = f"{short}: {msg}" if cls else (msg or type(exc).__name__)
    return TargetError(f"cannot {action} {path}: {detail}", path)
