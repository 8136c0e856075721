"""Faults by operation number at a store seam: "fail the N-th call", "make it, then fail".

A *seam* is the narrow interface a backend's commit protocol talks to (`PosixOps` for local
files, an `ObjectStore` for S3 and GCS, the ``hdfs_native.Client`` methods for HDFS).
`Injector.wrap` puts a counting wrapper around one; every call made through it is one
numbered operation, and the injector can make chosen operations fail in one of two ways:

- `BEFORE`: the call raises before it reaches the store, so nothing happened (a refused
  connection, a full disk);
- `AFTER`: the call is made and takes effect, then raises (the answer was lost on the way
  back: the store did it, the caller was told it failed).

A dry run counts the operations of a commit; a sweep then runs the same commit once per
operation number and way of failing, and checks what is left after each run::

    import tempfile

    import targets
    from targets.fs.local import PosixOps
    from targets.testing.injection import AFTER, BEFORE, Injector, posix_error

    def commit(inj, name):
        ops = inj.wrap(PosixOps(), error=posix_error)
        targets.target(f"{root}/{name}", ops=ops).write_bytes(b"data")

    root = tempfile.mkdtemp()
    dry = Injector()
    commit(dry, "dry-run")
    for n in range(1, dry.count + 1):
        for when in (BEFORE, AFTER):
            try:
                commit(Injector(fail={n: when}), f"out-{n}-{when}")
            except targets.TargetError:
                pass  # then: the output is absent or complete, nothing leaked

The error raised is the one the seam's own transport would raise, so the code under test
takes its real error paths: `object_store_error` (`StoreUnavailable`, what an `ObjectStore`
raises when the store stops answering), `posix_error` (``OSError(EIO)``), `hdfs_error`
(``ConnectionResetError``, which the HDFS backend reports as the NameNode being
unreachable).

Random faults for soak tests: ``Injector(rate=0.05, seed=7)`` fails each call with that
probability, half of them `BEFORE` and half `AFTER`.

Compared with `targets.testing.faults.Scheduler`, which runs writers as threads and stops
them before every call so that a test can choose the interleaving, an `Injector` does not
schedule anything: the code under test runs at full speed (its thread pools included), and
faults are chosen by number. Calls from several threads are numbered in the order they
reach the wrapper; make the code sequential (``targets.fs._objectstore.PUBLISH_THREADS =
1``) when a sweep needs the same numbering on every run.
"""

from __future__ import annotations

import dataclasses
import errno
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "AFTER",
    "BEFORE",
    "Call",
    "Injector",
    "hdfs_error",
    "object_store_error",
    "posix_error",
]

BEFORE = "before"
"""The call raises before it reaches the store: it has no effect."""
AFTER = "after"
"""The call is made and takes effect, then raises: the caller never learns that it did."""

_WHENS = (BEFORE, AFTER)

ErrorFactory = Callable[[str, str, tuple[Any, ...]], BaseException]
"""``error(op, when, args) -> exception`` raised by an injected fault."""


def posix_error(op: str, when: str, args: tuple[Any, ...]) -> BaseException:
    """``OSError(EIO)``: what a failing disk answers to any POSIX call."""
    return OSError(errno.EIO, f"Input/output error (injected {when} {op})")


def hdfs_error(op: str, when: str, args: tuple[Any, ...]) -> BaseException:
    """``ConnectionResetError``: the NameNode connection broke (a transport error, which
    the HDFS backend reports as `NameNodeUnreachable`)."""
    return ConnectionResetError(
        errno.ECONNRESET, f"Connection reset by peer (injected {when} {op})"
    )


def object_store_error(op: str, when: str, args: tuple[Any, ...]) -> BaseException:
    """`StoreUnavailable`: what an `ObjectStore` raises when the store stops answering."""
    from targets.errors import StoreUnavailable

    key = str(args[0]) if args else ""
    return StoreUnavailable(
        f"cannot {op} {key}: the store stopped answering (injected fault {when} the request)",
        key or None,
    )


@dataclasses.dataclass(frozen=True)
class Call:
    """One operation made through a wrapped seam."""

    number: int
    """1-based, in the order the calls reached the wrapper."""
    op: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    fault: str | None = None
    """`BEFORE`, `AFTER`, or None when no fault was injected."""
    error: str | None = None
    """The name of the exception the seam itself raised, if it did."""

    @property
    def took_effect(self) -> bool:
        """Whether the call reached the store and the store did not refuse it."""
        return self.fault != BEFORE and self.error is None

    def __str__(self) -> str:
        shown = ", ".join(_short(a) for a in self.args)
        tag = f" [{self.fault}]" if self.fault else ""
        err = f" -> {self.error}" if self.error else ""
        return f"#{self.number} {self.op}({shown}){tag}{err}"


def _short(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Injector:
    """Numbers the calls made through the seams it wraps and fails the chosen ones.

    ``fail`` maps operation numbers (1-based) to `BEFORE` or `AFTER`. ``rate`` fails every
    call with that probability instead (seeded by ``seed``; half `BEFORE`, half `AFTER`).
    ``ops``: only calls of these method names are numbered and may fail (default: every
    public method of the seam but the pure ones, see `wrap`).
    """

    def __init__(
        self,
        *,
        fail: Mapping[int, str] | None = None,
        rate: float = 0.0,
        seed: int | None = None,
        ops: Iterable[str] | None = None,
    ) -> None:
        plan = dict(fail or {})
        for n, when in plan.items():
            if when not in _WHENS:
                raise ValueError(f"fault {when!r} for operation {n} is not one of {_WHENS}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate} is not a probability")
        self.plan = plan
        self.rate = rate
        self.ops = None if ops is None else frozenset(ops)
        self.calls: list[Call] = []
        """Every numbered call, in order."""
        self.enabled = True
        """While False, calls are numbered and recorded but no fault is injected."""
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many calls were numbered so far."""
        return len(self.calls)

    @property
    def injected(self) -> list[Call]:
        """The calls that got a fault."""
        return [c for c in self.calls if c.fault is not None]

    def effects(self, op: str | Iterable[str], where: Callable[[Call], bool] = bool) -> list[Call]:
        """The calls of ``op`` (a name or several) that took effect and match ``where``."""
        names = {op} if isinstance(op, str) else set(op)
        return [c for c in self.calls if c.op in names and c.took_effect and where(c)]

    def wrap(
        self,
        seam: Any,
        *,
        error: ErrorFactory = object_store_error,
        pure: Iterable[str] = ("url", "fsspec"),
        streams: Iterable[str] = (),
    ) -> Any:
        """``seam`` with its calls numbered (see the class doc).

        ``error`` makes the exception a fault raises. Methods named in ``pure`` (helpers
        that never reach the store) and attributes that are not methods pass through
        unnumbered. The results of the methods named in ``streams`` (a writer that
        ``create`` returns) are wrapped too, so that their calls are numbered.
        """
        return _Wrapped(self, seam, error, frozenset(pure), frozenset(streams))

    # -- inside the wrapper ----------------------------------------------------------------

    def _decide(self, op: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
        with self._lock:
            number = len(self.calls) + 1
            fault = None
            if self.enabled:
                fault = self.plan.get(number)
                if fault is None and self.rate and self._random.random() < self.rate:
                    fault = self._random.choice(_WHENS)
            self.calls.append(Call(number, op, args, dict(kwargs), fault))
            return number

    def _record_error(self, number: int, exc: BaseException) -> None:
        with self._lock:
            call = self.calls[number - 1]
            self.calls[number - 1] = dataclasses.replace(call, error=type(exc).__name__)

    def _fault(self, number: int) -> str | None:
        with self._lock:
            return self.calls[number - 1].fault


class _Wrapped:
    """A seam whose method calls are numbered by an `Injector`."""

    def __init__(
        self,
        injector: Injector,
        seam: Any,
        error: ErrorFactory,
        pure: frozenset[str],
        streams: frozenset[str],
    ) -> None:
        object.__setattr__(self, "_injector", injector)
        object.__setattr__(self, "_seam", seam)
        object.__setattr__(self, "_error", error)
        object.__setattr__(self, "_pure", pure)
        object.__setattr__(self, "_streams", streams)

    @property
    def wrapped(self) -> Any:
        """The seam underneath."""
        return self._seam

    def __repr__(self) -> str:
        return repr(self._seam)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._seam, name, value)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Any:
        return iter(self._seam)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._seam, name)
        injector = self._injector
        numbered = injector.ops is None or name in injector.ops
        if not callable(value) or name.startswith("_") or name in self._pure or not numbered:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            number = injector._decide(name, args, kwargs)
            fault = injector._fault(number)
            if fault == BEFORE and name != "close":
                raise self._error(name, BEFORE, args)
            # close() cannot fail "before": Linux releases the descriptor even when close
            # reports an error, so a failed close is one that took effect.
            try:
                result = _settle(value(*args, **kwargs))
            except BaseException as exc:
                injector._record_error(number, exc)
                raise
            if fault is not None:
                _release(self._seam, name, result)
                raise self._error(name, AFTER if name != "close" else fault, args)
            if name in self._streams and result is not None:
                return _Wrapped(injector, result, self._error, frozenset(), frozenset())
            return result

        return call


def _settle(result: Any) -> Any:
    """Make a lazy answer (a generator of listing pages) happen within its call, so that
    the call is what takes effect or fails."""
    if hasattr(result, "__next__") and not hasattr(result, "read"):
        return iter(list(result))
    return result


def _release(seam: Any, op: str, result: Any) -> None:
    """Free what a call whose answer is lost returned: a read stream, or a descriptor from
    ``open`` (the kernel never hands out a descriptor with an error). Best effort."""
    try:
        if op == "open" and isinstance(result, int):
            seam.close(result)
        elif hasattr(result, "read") and hasattr(result, "close"):
            result.close()
    except Exception:
        pass
