"""Handing a GCS resumable session over to another process (a job's task attempt to its
driver): what `targets.fs.gcs.GCSStore.hand_over_upload` and ``adopt_upload`` do.

A session URL works from any process, but `GCSStore` holds the last part of a session back
(sending it finalises the object) together with the session's offset and MD5. The hand-over
sends all of that part but a remainder shorter than 256 KiB (GCS's chunk unit) as a
non-final chunk, and returns the offset, the remainder and the MD5 of the whole content, as
base64 text; the adopting process holds them as if it had written the session itself.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from targets.errors import InvalidTarget

if TYPE_CHECKING:
    from targets.fs.gcs import GCSStore

__all__ = ["Session", "adopt", "hand_over"]


@dataclasses.dataclass
class Session:
    """What this process knows about one of its resumable uploads."""

    offset: int = 0
    """Bytes the server has acknowledged."""
    held: bytes | None = None
    """The last part, held back: sending it finalises the object."""
    md5: Any = dataclasses.field(default_factory=hashlib.md5)
    if_absent: bool = True
    """Whether the session was opened with ``ifGenerationMatch=0``."""


@dataclasses.dataclass(frozen=True)
class _Digest:
    """The MD5 of a session's content, computed by the process that handed it over."""

    value: bytes

    def digest(self) -> bytes:
        return self.value


def hand_over(store: GCSStore, key: str, upload_id: str) -> dict[str, str]:
    """Send what ``store`` holds back of the session but a remainder < 256 KiB; return the
    hand-over record; ``store`` forgets the session."""
    from targets.fs.gcs import MIN_CHUNK

    session = store._session(key, upload_id)
    held = session.held or b""
    sendable = len(held) - len(held) % MIN_CHUNK
    if sendable:
        first = session.offset
        store._run(key, "upload to", store._send_part, key, upload_id, first, held[:sendable])
        session.offset += sendable
        held = held[sendable:]
    with store._lock:
        store._sessions.pop(upload_id, None)
    return {
        "offset": str(session.offset),
        "held": base64.b64encode(held).decode("ascii"),
        "md5": base64.b64encode(session.md5.digest()).decode("ascii"),
        "if_absent": "1" if session.if_absent else "0",
    }


def adopt(store: GCSStore, key: str, upload_id: str, handle: Mapping[str, str]) -> None:
    """Hold the session that the hand-over record ``handle`` describes in ``store``."""

    try:
        offset = int(handle["offset"])
        held = base64.b64decode(handle["held"], validate=True)
        md5 = base64.b64decode(handle["md5"], validate=True)
        if_absent = handle["if_absent"] == "1"
    except (KeyError, TypeError, ValueError):
        url = store.url(key)
        raise InvalidTarget(
            f"cannot complete the upload to {url}: its hand-over record is not one this "
            "library wrote",
            url,
        ) from None
    session = Session(offset=offset, held=held or None, md5=_Digest(md5), if_absent=if_absent)
    with store._lock:
        store._sessions[upload_id] = session
