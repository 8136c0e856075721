"""File objects handed to pipeline code by ``FileTarget.open("w")``.

They add Luigi's habit to a `FileWriter`: ``close()`` commits. A ``with`` block that ends in
an exception discards instead, and so does a file object that is dropped without being
closed (garbage collection never commits).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from targets.errors import InvalidTarget
from targets.fs.base import FileWriter, WriterState

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class AtomicBinaryFile(io.BufferedIOBase):
    """A binary output file: ``close()`` commits, an exception in ``with`` discards."""

    def __init__(self, writer: FileWriter) -> None:
        super().__init__()
        self._writer = writer

    @property
    def name(self) -> str:
        return self._writer.path

    @property
    def state(self) -> WriterState:
        """PENDING while writing, then COMMITTED or DISCARDED."""
        return self._writer.state

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        return self._writer.write(data)

    def flush(self) -> None:
        # io's close() flushes once more after the commit: by then there is nothing to flush.
        if not self.closed and self._writer.state is WriterState.PENDING:
            self._writer.flush()

    def fileno(self) -> int:
        return self._writer.fileno()

    def tell(self) -> int:
        return self._writer.tell()

    def close(self) -> None:
        """Commit what was written (if not discarded), then close."""
        if self.closed:
            return
        try:
            if self._writer.state is WriterState.PENDING:
                self._writer.commit()
        finally:
            super().close()

    def discard(self) -> None:
        """Drop what was written; the final path is left as it was."""
        if not self.closed:
            self._writer.discard()
            super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        # Never commit from the garbage collector: a dropped file was not finished.
        if not self.closed:
            self.discard()

    def __repr__(self) -> str:
        return f"<targets.AtomicBinaryFile {self._writer.path!r} {self.state.value}>"


class AtomicTextFile(io.TextIOWrapper):
    """A text output file over an `AtomicBinaryFile`, with the same commit rules."""

    buffer: AtomicBinaryFile

    def write(self, text: str) -> int:
        """Write ``text``; `InvalidTarget` (a `ValueError`) once the file is committed or
        discarded, as for the binary file."""
        if self.closed:
            path = self.buffer.name
            raise InvalidTarget(
                f"cannot write: the text file for {path} is already {self.buffer.state.value}; "
                "open a new one to write again",
                path,
            )
        return super().write(text)

    # typeshed gives TextIOWrapper io's bytes signature here; text lines are what it takes
    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def discard(self) -> None:
        """Drop what was written; the final path is left as it was."""
        self.buffer.discard()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        if not self.buffer.closed:
            self.buffer.discard()


class FormattedFile:
    """What a Luigi ``Format``'s ``pipe_writer`` returned, with our commit rules around it.

    Attribute access goes to the wrapped stream; ``close()`` commits through it.
    """

    def __init__(self, stream: Any, raw: AtomicBinaryFile) -> None:
        self._stream = stream
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Any:
        return iter(self._stream)

    def write(self, data: Any) -> Any:
        return self._stream.write(data)

    def close(self) -> None:
        self._stream.close()
        if not self._raw.closed:  # a pipe that did not close what it wraps
            self._raw.close()

    def discard(self) -> None:
        self._raw.discard()
        # It wraps a closed file now; closing it only flushes into nothing.
        with contextlib.suppress(ValueError, OSError):
            self._stream.close()

    def __enter__(self) -> FormattedFile:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        if not self._raw.closed:
            self._raw.discard()
