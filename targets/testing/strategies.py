"""How the property machine's writers produce outputs: a `Strategy` opens a `WriterHandle`
per writer. `LibraryStrategy` commits through the public API; the broken strategies of
`targets.testing.sabotage` build on the same two classes."""

from __future__ import annotations

from typing import ClassVar

import targets
from targets.fs import _manifest
from targets.testing.worlds import World

__all__ = ["LibraryStrategy", "Strategy", "WriterHandle", "manifest_bytes"]


class WriterHandle:
    """One writer's output in progress: what a strategy returns when a writer opens."""

    token: str | None = None
    """The writer token a directory output's manifest will name (None for files)."""

    def write(self, name: str | None, data: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError


class Strategy:
    """How writers produce outputs. `LibraryStrategy` uses the public API; the sabotage
    strategies in `targets.testing.sabotage` are broken on purpose."""

    name: ClassVar[str] = "strategy"

    def open(self, world: World, output: str, if_exists: str) -> WriterHandle:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _LibraryFile(WriterHandle):
    def __init__(self, t: targets.FileTarget) -> None:
        self.f = t.open("wb")

    def write(self, name: str | None, data: bytes) -> None:
        self.f.write(data)

    def commit(self) -> None:
        self.f.close()

    def discard(self) -> None:
        self.f.discard()


class _LibraryDir(WriterHandle):
    def __init__(self, d: targets.DirectoryTarget) -> None:
        self.w = d.writer()
        self.token = self.w.token

    def write(self, name: str | None, data: bytes) -> None:
        assert name is not None
        with self.w.open(name, "wb") as f:
            f.write(data)

    def commit(self) -> None:
        self.w.commit()

    def discard(self) -> None:
        self.w.discard()


class LibraryStrategy(Strategy):
    """``FileTarget.open("wb")`` and ``DirectoryTarget.writer()``: the library's commits."""

    name = "library"

    def open(self, world: World, output: str, if_exists: str) -> WriterHandle:
        t = world.target(output, if_exists=if_exists)
        if isinstance(t, targets.DirectoryTarget):
            return _LibraryDir(t)
        return _LibraryFile(t)


def manifest_bytes(token: str, parts: dict[str, bytes], protocol: str) -> bytes:
    """A ``_SUCCESS`` manifest for ``parts``, as the library writes it (for strategies)."""
    from targets.fs.base import PartRecord

    records = [PartRecord(n, len(d)) for n, d in parts.items()]
    return _manifest.encode(_manifest.build(token, records, protocol))
