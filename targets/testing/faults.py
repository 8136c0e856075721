"""Faults at a store seam: one `Interceptor`, and the policies that decide each call's fate.

A *seam* is the narrow interface a backend's commit protocol talks to: `PosixOps` for local
files, the ``hdfs_native.Client`` methods for HDFS, `ObjectStore` for S3 and GCS.
``Interceptor(seam, policy)`` (or ``policy.wrap(seam)``) stands in for the seam: before each
method call it asks the *policy* what is to happen, then makes the call and applies the
fault the policy chose:

- `BEFORE`: the call raises before it reaches the store, so nothing happened;
- `AFTER` (also named `LOSE`): the call takes effect, then raises (the answer was lost);
- `RETRY`: the call takes effect, and the caller gets the answer to an identical second
  call (a client that retried after a lost answer, which the store took for a new request).

The error raised is the one the seam's own transport raises, so the code under test takes
its real error paths: `object_store_error` (`StoreUnavailable`, the default for an
`ObjectStore`), `posix_error` (``OSError(EIO)``), `hdfs_error` (``ConnectionResetError``,
the default for any other seam).

`Injector` numbers the calls and fails the ones chosen by number (or at random, from a
seed), with the code under test running at full speed: a dry run counts the calls of a
commit, a sweep fails each in turn (docs/reliability.md)::

    dry = Injector()
    commit(dry.wrap(PosixOps(), error=posix_error))
    for n in range(1, dry.count + 1):
        for when in (BEFORE, AFTER):
            commit(Injector(fail={n: when}).wrap(PosixOps(), error=posix_error))

`targets.testing.scheduler.Scheduler` makes every call of a writer one *step*: writers run
as threads, each stopped before every call until the test lets it go on, so that the test
chooses the interleaving and crashes a writer or faults its next call at a chosen step::

    sched = Scheduler()
    ops = sched.wrap(SimulatedPosix())
    a = sched.actor("a")
    a.submit(lambda: targets.target("/out", ops=ops).write_bytes(b"A"))
    a.arm(LOSE)                                 # its first call takes effect, then fails
    a.run()

A policy of your own subclasses `Policy` and overrides `Policy.decide` (and, to see how
calls ended, `Policy.finished`)::

    class LoseEveryRename(Policy):
        def decide(self, call):
            return dataclasses.replace(call, fault=LOSE) if call.op == "rename" else call
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "AFTER",
    "BEFORE",
    "FAULTS",
    "LOSE",
    "RETRY",
    "Call",
    "ErrorFactory",
    "Injector",
    "Interceptor",
    "Policy",
    "hdfs_error",
    "object_store_error",
    "posix_error",
]

BEFORE = "before"
"""Fault: the call raises before it reaches the store: it has no effect."""
AFTER = "after"
"""Fault: the call is made and takes effect, then raises: the caller never learns that it did."""
LOSE = AFTER
"""The same fault as `AFTER`, named for what the caller sees: the answer was lost."""
RETRY = "retry"
"""Fault: the call takes effect, the caller gets the answer of a second identical call."""

FAULTS = (BEFORE, AFTER, RETRY)

ErrorFactory = Callable[[str, str, tuple[Any, ...]], BaseException]
"""``error(op, when, args) -> exception`` raised by a `BEFORE` or `AFTER` fault."""


def posix_error(op: str, when: str, args: tuple[Any, ...]) -> BaseException:
    """``OSError(EIO)``: what a failing disk answers to any POSIX call."""
    return OSError(errno.EIO, f"Input/output error (injected {when} {op})")


def hdfs_error(op: str, when: str, args: tuple[Any, ...]) -> BaseException:
    """``ConnectionResetError``: the connection broke (for HDFS, a transport error that the
    backend reports as `NameNodeUnreachable`)."""
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


def _transport_error(seam: Any) -> ErrorFactory:
    from targets.fs.objectstore import ObjectStore

    return object_store_error if isinstance(seam, ObjectStore) else hdfs_error


@dataclasses.dataclass(frozen=True)
class Call:
    """One call made through an `Interceptor`, as its policy records it."""

    op: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    fault: str | None = None
    """The fault applied to it (`BEFORE`, `AFTER`, `RETRY`), or None."""
    number: int = 0
    """1-based, in the order calls reached an `Injector` (0 for other policies)."""
    actor: str | None = None
    """The `Scheduler` actor that made it."""
    error: str | None = None
    """The name of the exception the seam itself raised, if it did."""

    @property
    def took_effect(self) -> bool:
        """Whether the call reached the store and the store did not refuse it."""
        return self.fault != BEFORE and self.error is None

    def __str__(self) -> str:
        shown = [_short(a) for a in self.args]
        shown += [f"{k}={_short(v)}" for k, v in self.kwargs.items() if v is not None]
        who = f"{self.actor}: " if self.actor else f"#{self.number} " if self.number else ""
        tag = f" [{self.fault}]" if self.fault else ""
        err = f" -> {self.error}" if self.error else ""
        return f"{who}{self.op}({', '.join(shown)}){tag}{err}"


def _short(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Policy:
    """Decides what happens to each call through an `Interceptor`. This base class lets
    every call through untouched; subclasses override `decide` (and `finished`)."""

    error: ErrorFactory | None = None
    """What the faults this policy chooses raise, in place of the seam's own transport
    error (None: the `Interceptor`'s ``error``). A sweep sets it to raise what a seam may
    raise besides a transport failure (a store condition where none was due, a disk error,
    a timeout) and checks that none of it reaches a caller except as a `TargetError`."""

    def decide(self, call: Call) -> Call | None:
        """Called in the caller's thread before ``call`` is made. Return the call as it is
        to be made and recorded, with ``fault`` set to the fault to apply (None: none); or
        None to make it as a plain call (not intercepted: no fault, its result not
        wrapped). May block (the scheduler does, until the test lets the call go) or raise
        (the caller then gets that exception and the call is not made)."""
        return None

    def finished(self, call: Call, error: BaseException | None) -> None:
        """Called once the store answered a call that `decide` returned: ``error`` is the
        exception the seam itself raised (None: it returned), before any fault is applied."""

    def wrap(
        self,
        seam: Any,
        *,
        error: ErrorFactory | None = None,
        pure: Iterable[str] = ("url", "fsspec"),
        streams: Iterable[str] = (),
    ) -> Any:
        """``Interceptor(seam, self, ...)``: see there."""
        return Interceptor(seam, self, error=error, pure=pure, streams=streams)


class Interceptor:
    """A seam whose method calls go through ``policy`` (see the module doc).

    ``error`` makes the exception a `BEFORE` or `AFTER` fault raises (default: `StoreUnavailable`
    for an `ObjectStore`, else ``ConnectionResetError``). Methods named in ``pure``
    (helpers that never reach the store), private ones and attributes that are not methods
    pass through. The results of the methods named in ``streams`` (the writer HDFS's
    ``create`` returns) are intercepted too, as streams: their writes travel a pipeline that
    drops duplicates, so a `RETRY` on one is a plain call.
    """

    _seam: Any
    _policy: Policy
    _error: ErrorFactory
    _pure: frozenset[str]
    _streams: frozenset[str]
    _stream: bool

    def __init__(
        self,
        seam: Any,
        policy: Policy,
        *,
        error: ErrorFactory | None = None,
        pure: Iterable[str] = ("url", "fsspec"),
        streams: Iterable[str] = (),
        stream: bool = False,
    ) -> None:
        object.__setattr__(self, "_seam", seam)
        object.__setattr__(self, "_policy", policy)
        object.__setattr__(self, "_error", error or _transport_error(seam))
        object.__setattr__(self, "_pure", frozenset(pure))
        object.__setattr__(self, "_streams", frozenset(streams))
        object.__setattr__(self, "_stream", stream)

    @property
    def wrapped(self) -> Any:
        """The seam underneath."""
        return self._seam

    @property
    def policy(self) -> Policy:
        return self._policy

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
        method = getattr(self._seam, name)
        if not callable(method) or name.startswith("_") or name in self._pure:
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._intercept(name, method, args, kwargs)

        return call

    def _intercept(
        self, name: str, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = self._policy.decide(Call(name, args, kwargs))
        if call is None:
            return method(*args, **kwargs)
        fault = call.fault
        # close() cannot fail "before": Linux releases the descriptor even when close
        # reports an error, so a failed close is one that took effect.
        error = self._policy.error or self._error
        if fault == BEFORE and name != "close":
            raise error(name, BEFORE, args)
        if fault == RETRY and not self._stream:
            with contextlib.suppress(Exception):
                _settle(method(*args, **kwargs))
        try:
            result = _settle(method(*args, **kwargs))
        except BaseException as exc:
            self._policy.finished(call, exc)
            raise
        self._policy.finished(call, None)
        if fault in (BEFORE, AFTER):
            _release(self._seam, name, result)
            raise error(name, fault if name == "close" else AFTER, args)
        if name in self._streams and result is not None:
            return Interceptor(result, self._policy, error=self._error, pure=(), stream=True)
        return result


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


# -- the injector: faults by call number -----------------------------------------------------


class Injector(Policy):
    """Numbers the calls made through the seams it wraps and fails the chosen ones.

    ``fail`` maps call numbers (1-based) to a fault (`BEFORE`, `AFTER`, `RETRY`). ``rate``
    fails every call with that probability instead (seeded by ``seed``; half `BEFORE`, half
    `AFTER`). ``ops``: only calls of these method names are numbered and may fail (default:
    every intercepted call). ``error``: what the faults raise (default: the seam's transport
    error; see `Policy.error`). Calls from several threads are numbered in the order they
    reach the injector; a sweep that needs the same numbering on every run makes the code
    under test sequential.
    """

    def __init__(
        self,
        *,
        fail: Mapping[int, str] | None = None,
        rate: float = 0.0,
        seed: int | str | None = None,
        ops: Iterable[str] | None = None,
        error: ErrorFactory | None = None,
    ) -> None:
        plan = dict(fail or {})
        for n, fault in plan.items():
            if fault not in FAULTS:
                raise ValueError(f"fault {fault!r} for call {n} is not one of {FAULTS}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate} is not a probability")
        self.plan = plan
        self.error = error
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

    def decide(self, call: Call) -> Call | None:
        if self.ops is not None and call.op not in self.ops:
            return None
        with self._lock:
            number = len(self.calls) + 1
            fault = None
            if self.enabled:
                fault = self.plan.get(number)
                if fault is None and self.rate and self._random.random() < self.rate:
                    fault = self._random.choice((BEFORE, AFTER))
            call = dataclasses.replace(call, kwargs=dict(call.kwargs), number=number, fault=fault)
            self.calls.append(call)
            return call

    def finished(self, call: Call, error: BaseException | None) -> None:
        if error is not None:
            with self._lock:
                self.calls[call.number - 1] = dataclasses.replace(call, error=type(error).__name__)
