"""Publishing a staged output: the one rename that makes it visible (docs/protocols.md).

Every function here runs over a `RenameStore` and raises `targets.errors`. On failure the
final path is as it was; removing the staged temporary is the caller's (it knows whether
the temporary is its own).

- `publish` chooses the path: a rename that refuses to replace (files and directories), an
  atomic replace of a file, an exchange or a rename-aside for a directory, or the
  best-effort check-then-rename where the store has nothing better and the caller allowed it.
- `settle` decides a publishing rename that reported an error: it may have taken effect (a
  lost answer, a retried request), and then it is a success, proved by `Evidence` (G7).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import warnings
from collections.abc import Iterator
from typing import Any

from targets.errors import (
    CommitError,
    InvalidTarget,
    IsADirectory,
    MissingParentDirectory,
    NotADirectory,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
    UnsupportedGuarantee,
)
from targets.fs._names import SUCCESS, temp_name
from targets.fs.base import Guarantee, IfExists
from targets.fs.rename.lease import lease_marker
from targets.fs.rename.store import Entry, RenameStore, RenameUnsupported

__all__ = [
    "Evidence",
    "before_publish",
    "publish",
    "publish_noreplace",
    "sibling",
    "synced_after_publish",
]


def sibling(path: str, token: str, kind: str = "tmp") -> str:
    """The hidden temporary next to ``path`` for writer ``token`` (`temp_name`)."""
    parent, name = posixpath.split(path)
    return posixpath.join(parent, temp_name(name, token, kind))


class before_publish:
    """Around the steps of a commit before its publishing rename: an error there left the
    final path untouched, and the message says so."""

    __slots__ = ("shown",)

    def __init__(self, shown: str) -> None:
        self.shown = shown

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if not isinstance(exc, TargetError) or isinstance(exc, (TargetExistsError, CommitError)):
            return  # not ours to reword; those two already say that nothing was written
        message = f"{exc.message}; nothing was published ({self.shown} is as it was)"
        raise type(exc)(message, exc.path) from (exc.__cause__ or exc)


@contextlib.contextmanager
def synced_after_publish(store: RenameStore, final: str) -> Iterator[None]:
    """Around the directory sync that follows a publish: the output is visible already, so a
    failure says that, not "nothing was written"."""
    try:
        yield
    except Exception as exc:
        error = store.translate(exc, store.shown(final), "sync")
        if error is None:
            raise
        shown = store.shown(final)
        raise TargetError(
            f"{shown} was published, but syncing its directory failed ({error.message}): the "
            "output is complete and visible, but may not survive a power failure. Check the "
            "disk; if the output must be durable, remove it and write it again",
            shown,
        ) from exc


class Evidence:
    """What proves that the object at a final path is the one this writer staged (G7):
    the staged entry, and for weak identities the manifest's writer token (directories) or
    the content's SHA-256 (files)."""

    __slots__ = ("sha256", "staged", "token")

    def __init__(self, staged: Entry, token: str | None = None, sha256: str | None = None) -> None:
        self.staged = staged
        self.token = token
        self.sha256 = sha256

    def is_ours(self, store: RenameStore, final: str) -> bool:
        got = store.stat(final)
        if got is None or got.kind != self.staged.kind:
            return False
        if store.strong_identity:
            return got.identity == self.staged.identity
        if got.is_dir and self.token is not None:
            return _manifest_writer(store, final) == self.token
        if got.identity != self.staged.identity:
            return False
        return got.is_dir or self.sha256 is None or _sha256(store, final) == self.sha256


def _manifest_writer(store: RenameStore, final: str) -> object:
    try:
        with store.open_read(posixpath.join(final, SUCCESS)) as f:
            doc = json.loads(f.read())
    except Exception:  # unreadable or not ours: not evidence
        return None
    return doc.get("writer") if isinstance(doc, dict) else None


def _sha256(store: RenameStore, path: str) -> str:
    digest = hashlib.sha256()
    with store.open_read(path) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _gone(store: RenameStore, path: str) -> bool:
    with store.map_errors(path, "look up"):
        return store.stat(path) is None


def settle(store: RenameStore, exc: TargetError, tmp: str, final: str, evidence: Evidence) -> None:
    """Return if a publishing rename that raised ``exc`` took effect after all (the staged
    object is gone from ``tmp`` and is at ``final``); otherwise raise the error to report."""
    shown = store.shown(final)
    staged_gone = _gone(store, tmp)
    if staged_gone and evidence.is_ours(store, final):
        return
    if staged_gone:
        raise CommitError(
            f"cannot commit {shown}: the staged output {store.shown(tmp)} disappeared and "
            f"{shown} is not this writer's output (was the temporary removed by a cleanup?)",
            shown,
        ) from exc
    if isinstance(exc, TargetExistsError):
        raise TargetExistsError.taken(shown) from None
    if isinstance(exc, StoreUnavailable):
        raise CommitError(
            f"{exc.message}; the outcome is unknown: the output is "
            f"committed if {shown} exists and {store.shown(tmp)} does not. Check the store, "
            "then retry",
            shown,
        ) from exc
    if isinstance(exc, TargetNotFound):
        raise MissingParentDirectory(
            f"cannot commit {shown}: its parent directory disappeared during the commit; "
            "write the output again",
            shown,
        ) from exc
    if isinstance(exc, (IsADirectory, NotADirectory, InvalidTarget)):
        raise exc
    raise CommitError(
        f"{exc.message}; nothing was published ({shown} is as it was); write it again once "
        "the store works",
        shown,
    ) from exc


def publish(
    store: RenameStore,
    tmp: str,
    final: str,
    evidence: Evidence,
    *,
    if_exists: IfExists,
    guarantee: Guarantee,
) -> None:
    """Make the staged ``tmp`` visible at ``final``, whole (G1), never nested (G2), and
    without replacing anything unless ``if_exists="overwrite"`` (G3, G4)."""
    directory = evidence.staged.is_dir
    weak = not store.has_noreplace_rename
    if weak and (directory or (if_exists == "error" and not store.has_link)):
        return _best_effort(store, tmp, final, directory=directory, if_exists=if_exists)
    if if_exists == "error":
        return publish_noreplace(store, tmp, final, evidence, guarantee=guarantee)
    if directory:
        return _replace_directory(store, tmp, final, evidence)
    try:
        with store.map_errors(final, "replace"):
            store.replace(tmp, final)
    except RenameUnsupported:
        return _best_effort(store, tmp, final, directory=False, if_exists=if_exists)
    except TargetError as exc:
        settle(store, exc, tmp, final, evidence)
    return None


def publish_noreplace(
    store: RenameStore, tmp: str, final: str, evidence: Evidence, *, guarantee: Guarantee
) -> None:
    """Rename ``tmp`` to ``final`` unless something is at ``final`` (`TargetExistsError`).

    Where the store has no such rename, a file is published by a hard link (the same
    decision, atomically); anything else needs ``guarantee="best-effort"``.
    """
    try:
        with store.map_errors(final, "publish"):
            store.rename_noreplace(tmp, final)
        return
    except RenameUnsupported:
        pass
    except TargetError as exc:
        settle(store, exc, tmp, final, evidence)
        return
    directory = evidence.staged.is_dir
    if not directory and _published_by_link(store, tmp, final):
        return
    if guarantee == "strict":
        raise UnsupportedGuarantee(
            f"cannot publish {store.shown(final)} without replacing: "
            f"{store.missing_rename_hint(directory=directory)}",
            store.shown(final),
        )
    _best_effort(store, tmp, final, directory=directory, if_exists="error")


def _published_by_link(store: RenameStore, tmp: str, final: str) -> bool:
    try:
        with store.map_errors(final, "publish"):
            store.link_noreplace(tmp, final)
    except RenameUnsupported:
        return False
    except TargetExistsError:
        raise TargetExistsError.taken(store.shown(final)) from None
    with contextlib.suppress(Exception):
        store.delete(tmp, recursive=False)
    return True


def _replace_directory(store: RenameStore, tmp: str, final: str, evidence: Evidence) -> None:
    """Replace the directory at ``final`` by ``tmp`` and delete the old one."""
    token = evidence.token or posixpath.basename(tmp)[-32:]
    if store.has_exchange:
        old = _exchange(store, tmp, final, token)
        stamped = False
    else:
        old = _rename_aside(store, tmp, final, token, evidence)
        stamped = old is not None
    if old is not None:
        with contextlib.suppress(Exception):
            store.delete(old)
    if stamped:
        _unstamp(store, sibling(final, token, "old"))


def _stamp_aside(store: RenameStore, final: str, old: str) -> None:
    """Before the old output at ``final`` is renamed aside to ``old``: create the aside's
    lease marker, whose time the store stamps. A rename keeps the old output's times, so
    this stamp is what tells `cleanup` and `recover` that the overwrite is recent (it may
    still be running, or have just died between its two renames)."""
    try:
        with store.map_errors(final, "replace"):
            store.create(lease_marker(old)).close()
    except TargetExistsError:
        pass  # left by an earlier attempt of this writer: stamped already


def _unstamp(store: RenameStore, old: str) -> None:
    with contextlib.suppress(Exception):
        store.delete(lease_marker(old), recursive=False)


def _check_replaceable_dir(store: RenameStore, final: str) -> Entry | None:
    got = store.stat(final)
    if got is not None and not got.is_dir:
        shown = store.shown(final)
        raise NotADirectory(
            f"cannot replace {shown} with a directory: it is a file; remove it first", shown
        )
    return got


def _exchange(store: RenameStore, tmp: str, final: str, token: str) -> str | None:
    """Swap ``tmp`` in at ``final`` in one step (readers see the old output or the new one);
    return where the old output now is, or None if there was none."""
    shown = store.shown(final)
    for _ in range(100):
        with store.map_errors(final, "replace"):
            got = _check_replaceable_dir(store, final)
        try:
            with store.map_errors(final, "replace"):
                if got is None:
                    store.rename_noreplace(tmp, final)
                else:
                    store.exchange(tmp, final)
        except (TargetExistsError, TargetNotFound):
            continue  # the destination appeared or vanished under us: look again
        except RenameUnsupported:
            raise UnsupportedGuarantee(
                f"cannot replace the directory {shown} atomically: "
                f"{store.missing_rename_hint(directory=True, exchange=True)}",
                shown,
            ) from None
        if got is None:
            return None
        # The old output now sits at tmp; give it its "old" name so cleanup recognises it.
        old = sibling(final, token, "old")
        try:
            with store.map_errors(final, "replace"):
                store.rename_noreplace(tmp, old)
        except (TargetError, RenameUnsupported):
            return tmp
        return old
    raise CommitError(f"cannot replace {shown}: it kept changing under concurrent writers", shown)


def _rename_aside(
    store: RenameStore, tmp: str, final: str, token: str, evidence: Evidence
) -> str | None:
    """Rename the old output aside, publish ``tmp``, and return where the old one is; between
    the two renames the output is absent, never mixed. A failed publish puts the old one
    back."""
    shown = store.shown(final)
    old = sibling(final, token, "old")
    with store.map_errors(final, "replace"):
        got = _check_replaceable_dir(store, final)
    moved_aside = False
    if got is not None:
        _stamp_aside(store, final, old)
        try:
            moved_aside = _move_aside(store, final, old)
        except BaseException:
            _unstamp(store, old)
            raise
    try:
        publish_noreplace(store, tmp, final, evidence, guarantee="strict")
    except TargetExistsError:
        # Another writer published between our two renames; its output stays, ours goes.
        if moved_aside:
            with contextlib.suppress(Exception):
                store.delete(old)
        if got is not None:
            _unstamp(store, old)
        raise TargetExistsError(
            f"{shown} was committed by another writer while this writer was replacing it; "
            "this output was discarded",
            shown,
        ) from None
    except BaseException:
        if moved_aside:
            with contextlib.suppress(Exception):
                store.rename_noreplace(old, final)
        if got is not None:
            _unstamp(store, old)
        raise
    if got is not None and not moved_aside:
        _unstamp(store, old)
    return old if moved_aside else None


def _move_aside(store: RenameStore, final: str, old: str) -> bool:
    """Rename the old output at ``final`` to ``old``; whether it is aside now."""
    try:
        with store.map_errors(final, "replace"):
            store.rename_noreplace(final, old)
    except (TargetNotFound, CommitError, StoreUnavailable):
        if not _gone(store, final):
            raise
        # The old output is gone: removed meanwhile (nothing to replace), or our rename
        # took effect and only its answer was lost (then it is aside).
        return not _gone(store, old)
    return True


def _best_effort(
    store: RenameStore, tmp: str, final: str, *, directory: bool, if_exists: IfExists
) -> None:
    """Check, rename with the store's weakest rename, and detect and undo a nested result.
    A concurrent writer can still slip in between the check and the rename."""
    shown = store.shown(final)
    warnings.warn(
        f"committing {shown} by {store.weak_rename} (guarantee='best-effort'): a concurrent "
        "writer can replace the output, or make it nest (that is detected and undone)",
        RuntimeWarning,
        stacklevel=6,
    )
    old: str | None = None
    with store.map_errors(final, "commit"):
        got = store.stat(final)
    if got is not None:
        if if_exists == "error":
            raise TargetExistsError.taken(shown)
        if got.is_dir != directory:
            cls = IsADirectory if got.is_dir else NotADirectory
            raise cls(f"cannot replace {shown}: it is a different kind of entry", shown)
        old = sibling(final, posixpath.basename(tmp)[-32:], "old")
        with store.map_errors(final, "replace"):
            store.rename_plain(final, old)
    try:
        with store.map_errors(final, "commit"):
            store.rename_plain(tmp, final)
    except TargetError:
        _restore_aside(store, old, final)
        if not _gone(store, tmp) and not _gone(store, final):
            raise TargetExistsError.taken(shown) from None
        raise
    nested = posixpath.join(final, posixpath.basename(tmp))
    if not _gone(store, nested):
        # Someone created final between the check and the rename: ours went inside.
        with store.map_errors(final, "undo the nested commit of"):
            store.rename_plain(nested, tmp)
        _restore_aside(store, old, final)
        raise TargetExistsError(
            f"{shown} appeared while this writer committed it (the rename moved the output "
            "inside it; that was undone); this output was discarded",
            shown,
        )
    if not _gone(store, tmp):
        _restore_aside(store, old, final)
        raise TargetExistsError.taken(shown)
    if old is not None:
        with contextlib.suppress(Exception):
            store.delete(old)


def _restore_aside(store: RenameStore, old: str | None, final: str) -> None:
    if old is not None:
        with contextlib.suppress(Exception):
            if store.stat(final) is None:
                store.rename_plain(old, final)
