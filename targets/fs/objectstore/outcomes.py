"""What a writer is told when its commit is refused or interrupted.

A conflict is a `TargetExistsError` that says the writer's output was discarded. A store
that stops answering (`StoreUnavailable`) is reported with what is known of the outcome:
nothing was published, nothing was published because the upload was aborted afterwards,
or the outcome is unknown and how to find it out (the writer token). Every sentence that
says so is written here, once.
"""

from __future__ import annotations

from targets.errors import StoreUnavailable
from targets.fs._names import SUCCESS

__all__ = [
    "aborted_unpublished",
    "directory_outcome",
    "interrupted",
    "nothing_published",
    "outcome_unknown",
]


def interrupted(exc: StoreUnavailable, url: str, outcome: str) -> StoreUnavailable:
    """``exc`` (the store could not be reached) with what is known of the outcome of the
    commit of ``url`` that it interrupted; raise it ``from exc``."""
    return StoreUnavailable(f"{exc.message}. {outcome}", url)


def nothing_published(url: str) -> str:
    """The outcome of a commit interrupted before its first publishing request."""
    return (
        f"The commit of {url} was interrupted before anything was published: {url} is as it "
        "was; write again once the store answers"
    )


def aborted_unpublished(url: str) -> str:
    """The outcome of a publishing completion that failed and whose upload was aborted."""
    return (
        f"The request that publishes {url} failed, and its upload was aborted afterwards, so "
        f"nothing was published: {url} is as it was; write again once the store answers"
    )


def outcome_unknown(url: str, token: str, request: str = "the request that publishes it") -> str:
    """The outcome of a commit interrupted during ``request``, which may have taken effect:
    how to find out (what the writer published carries ``token``)."""
    return (
        f"The commit of {url} was interrupted and its outcome is unknown: {request} may have "
        f"reached the store. Once the store answers, check whether {url} exists (what this "
        f"writer published carries writer token {token}); write again only if it does not"
    )


_DIRECTORY_OUTCOMES = {
    "clear": (
        "The commit of {url} was interrupted while it removed the output it replaces: that "
        "output may be partly gone, and no longer counts as existing ({success} goes first); "
        "write again once the store answers"
    ),
    "claim-absent": (
        "The commit of {url} was interrupted at its claim, and no claim of this writer is "
        "there: nothing of this writer is visible; write again once the store answers"
    ),
    "claim": (
        "The commit of {url} was interrupted at its claim: nothing of this writer is "
        "visible, but its claim may have been written. Once the store answers, write again; "
        "if writers are then refused with IncompleteCommit, run `targets recover {url}` first"
    ),
    "publish-rolled-back": (
        "The commit of {url} was interrupted while it published its files: it is not "
        "committed, and what it had published was removed again; write again once the store "
        "answers"
    ),
    "publish": (
        "The commit of {url} was interrupted while it published its files: it is not "
        "committed (no {success}), but its claim and some of its files remain. Once the store "
        "answers, run `targets recover {url}` (it rolls the claim back, or forward when it "
        "can), then write again if needed"
    ),
}


def directory_outcome(phase: str, url: str, token: str, rolled_back: bool) -> str:
    """What is known of a directory commit that the store interrupted in ``phase``
    (``"clear"``, ``"claim"``, ``"claim-absent"``, ``"publish"`` or ``"success"``);
    ``rolled_back`` says whether a publish that was interrupted was undone."""
    if phase == "success":
        return outcome_unknown(url, token, f"the request that writes its {SUCCESS}") + (
            f", else run `targets recover {url}` (it finishes the commit)"
        )
    if phase == "publish" and rolled_back:
        phase = "publish-rolled-back"
    return _DIRECTORY_OUTCOMES[phase].format(url=url, success=SUCCESS)
