"""The filesystem layer: one `AtomicFS` per backend, chosen by the URL's scheme.

``filesystem(url)`` gives the `AtomicFS` for a URL; ``resolve(url)`` also gives the backend
path the URL names. Plain paths and ``file://`` URLs are local. Built-in backends are imported
on first use, so a missing client library only matters for the URLs that need it.

The registry is open: ``register("myscheme", MyFS)`` serves ``myscheme://`` URLs, and an
installed distribution does the same through the ``targets.backends`` entry-point group
(name = scheme, value = an `AtomicFS` subclass or a factory). An entry point never takes a
built-in scheme over: a distribution that means to replace one calls ``register(...,
replace=True)``, so that installing a package cannot change what ``s3://`` does unseen.

The names of the protocols' own files are public here, for tools that look at outputs from
outside: `SUCCESS` (the marker that holds the manifest), `CLAIM` (an object-store writer's
claim), `is_temp_name` and `parse_temp_name` (this library's temporaries), and
`decode_manifest` (the manifest's JSON, checked).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, cast

from targets.errors import BackendNotInstalled, InvalidTarget
from targets.fs._manifest import decode as decode_manifest
from targets.fs._names import CLAIM, SUCCESS, check_url_text, is_temp_name, parse_temp_name
from targets.fs.base import (
    AtomicFS,
    Capabilities,
    CleanupReport,
    DirectoryWriter,
    FileWriter,
    Guarantee,
    IfExists,
    PartRecord,
    Staging,
    WriterState,
)
from targets.fs.job import JobWriter, TaskRecord, TaskWriter

__all__ = [
    "AtomicFS",
    "Capabilities",
    "CleanupReport",
    "DirectoryWriter",
    "FileWriter",
    "Guarantee",
    "IfExists",
    "JobWriter",
    "PartRecord",
    "Staging",
    "TaskRecord",
    "TaskWriter",
    "WriterState",
    "CLAIM",
    "SUCCESS",
    "decode_manifest",
    "is_temp_name",
    "parse_temp_name",
    "BackendFactory",
    "ENTRY_POINT_GROUP",
    "backend",
    "backend_class",
    "capability_table",
    "register",
    "schemes",
    "unregister",
    "filesystem",
    "resolve",
    "split_protocol",
]


def split_protocol(url: str) -> tuple[str, str]:
    """``("s3", "bucket/key")`` for ``"s3://bucket/key"``; ``("file", path)`` for a plain path."""
    if "://" in url:
        protocol, _, rest = url.partition("://")
        if protocol and protocol.replace("+", "").replace("-", "").isalnum():
            return protocol.lower(), rest
    return "file", url


def _coerce(url: Any, storage_options: dict[str, Any]) -> str:
    """Accept str, os.PathLike (pathlib.Path) and UPath-like objects; give back a str URL."""
    if isinstance(url, str):
        return url
    options = getattr(url, "storage_options", None)
    if options and getattr(url, "protocol", None) is not None:
        for key, value in dict(options).items():
            storage_options.setdefault(key, value)
        return str(url)
    if isinstance(url, os.PathLike):
        path = os.fspath(url)
        return path.decode() if isinstance(path, bytes) else path
    raise InvalidTarget(
        f"a target location must be a str, a pathlib.Path or a UPath, not {type(url).__name__}"
    )


# -- the registry: built-in schemes, register(), and installed entry points ---------------

BackendFactory = Callable[..., "tuple[AtomicFS, str]"]
"""Builds a backend for a URL: ``factory(url, **storage_options) -> (AtomicFS, path)``,
where ``path`` is what the URL names inside that filesystem. An `AtomicFS` subclass is
accepted in its place (its ``from_url`` is the factory)."""

ENTRY_POINT_GROUP = "targets.backends"
"""The entry-point group a distribution uses to plug in a backend: the entry point's name is
the URL scheme, its value an `AtomicFS` subclass or a `BackendFactory`."""


@dataclasses.dataclass(frozen=True)
class _Builtin:
    module: str
    name: str
    extra: str | None  # the pip extra that installs its client


_BUILTINS: dict[str, _Builtin] = {
    "file": _Builtin("targets.fs.local", "LocalFS", None),
    "local": _Builtin("targets.fs.local", "LocalFS", None),
    "s3": _Builtin("targets.fs.s3", "S3FS", "s3"),
    "s3a": _Builtin("targets.fs.s3", "S3FS", "s3"),
    "gs": _Builtin("targets.fs.gcs", "GCSFS", "gcs"),
    "gcs": _Builtin("targets.fs.gcs", "GCSFS", "gcs"),
    "az": _Builtin("targets.fs.azure", "AzureFS", "azure"),
    "abfs": _Builtin("targets.fs.azure", "AzureFS", "azure"),
    "hdfs": _Builtin("targets.fs.hdfs", "HDFS", "hdfs"),
    "viewfs": _Builtin("targets.fs.hdfs", "HDFS", "hdfs"),
    "webhdfs": _Builtin("targets.fs.hdfs", "WebHDFS", "hdfs"),
    "swebhdfs": _Builtin("targets.fs.hdfs", "WebHDFS", "hdfs"),
}

_log = logging.getLogger("targets")

_registered: dict[str, type[AtomicFS] | BackendFactory] = {}
_registry_lock = threading.Lock()
_entry_points_loaded = False


def _is_scheme(text: str) -> bool:
    rest = text.replace("+", "").replace("-", "")
    return text.isascii() and text[:1].isalpha() and rest.isalnum()


def _check_scheme(scheme: str) -> str:
    text = scheme.lower() if isinstance(scheme, str) else ""
    if not _is_scheme(text):
        raise InvalidTarget(
            f"{scheme!r} is not a URL scheme: use letters, digits, '+' and '-', starting "
            "with a letter"
        )
    return text


def register(
    scheme: str, factory: type[AtomicFS] | BackendFactory, *, replace: bool = False
) -> None:
    """Serve ``scheme://`` URLs with ``factory``.

    ``factory`` is an `AtomicFS` subclass or a `BackendFactory`. A scheme that is already
    served (built in, registered, or from an installed entry point) raises `InvalidTarget`
    unless ``replace=True``; `unregister` undoes a registration.
    """
    key = _check_scheme(scheme)
    if not (isinstance(factory, type) and issubclass(factory, AtomicFS)) and not callable(factory):
        raise InvalidTarget(
            f"register({scheme!r}, ...) needs an AtomicFS subclass or a factory "
            f"callable, not {type(factory).__name__}"
        )
    with _registry_lock:
        _load_entry_points_locked()
        if not replace and (key in _registered or key in _BUILTINS):
            raise InvalidTarget(
                f"{key}:// is already served by a backend; pass replace=True to replace it"
            )
        _registered[key] = factory


def unregister(scheme: str) -> None:
    """Stop serving ``scheme://`` with a registered backend (a built-in scheme, once
    replaced, falls back to the built-in backend). An unknown scheme is ignored."""
    with _registry_lock:
        _registered.pop(_check_scheme(scheme), None)


def _load_entry_points_locked() -> None:
    """Note every installed entry point of `ENTRY_POINT_GROUP`, once per process; a
    backend's module is imported only when its scheme is first used."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    found: dict[str, dict[str, importlib.metadata.EntryPoint]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        # one distribution seen twice on sys.path names the same value: one backend
        found.setdefault(ep.name.lower(), {}).setdefault(ep.value, ep)
    for key, by_value in found.items():
        eps = list(by_value.values())
        if key in _BUILTINS or not _is_scheme(key):
            _log.warning(
                "ignored the entry point %r = %r (group %r): %s",
                eps[0].name,
                eps[0].value,
                ENTRY_POINT_GROUP,
                "a built-in scheme is replaced only by register(..., replace=True)"
                if key in _BUILTINS
                else "its name is not a URL scheme",
            )
            continue
        _registered.setdefault(key, _EntryPointBackend(eps))


class _EntryPointBackend:
    """An installed entry point, loaded when its scheme is first used. Two distributions
    that serve one scheme with different backends make the scheme an error to use, never
    a silent choice between them."""

    def __init__(self, eps: list[importlib.metadata.EntryPoint]) -> None:
        self.eps = eps

    def load(self, where: str) -> type[AtomicFS] | BackendFactory:
        if len(self.eps) > 1:
            named = ", ".join(f"{ep.value!r}" for ep in self.eps)
            raise InvalidTarget(
                f"cannot open {where}: installed distributions name more than one backend "
                f"for the entry point {self.eps[0].name!r} (group {ENTRY_POINT_GROUP!r}): "
                f"{named}; uninstall all but one, or choose one with targets.fs.register("
                f"..., replace=True)",
                where,
            )
        ep = self.eps[0]
        try:
            loaded: type[AtomicFS] | BackendFactory = ep.load()
        except Exception as exc:
            raise BackendNotInstalled(
                f"cannot open {where}: the backend {ep.value!r} that the entry point "
                f"{ep.name!r} (group {ENTRY_POINT_GROUP!r}) names failed to load: "
                f"{type(exc).__name__}: {exc}",
                where,
            ) from exc
        return loaded

    def __call__(self, url: str, **storage_options: Any) -> tuple[AtomicFS, str]:
        return _as_factory(self.load(url))(url, **storage_options)


def _as_factory(found: type[AtomicFS] | BackendFactory) -> BackendFactory:
    if isinstance(found, type) and issubclass(found, AtomicFS):
        return found.from_url
    return cast(BackendFactory, found)  # a class that is no AtomicFS is a factory too


def schemes() -> list[str]:
    """Every URL scheme served now: built in, registered, or from installed entry points."""
    with _registry_lock:
        _load_entry_points_locked()
        return sorted(set(_BUILTINS) | set(_registered))


def _import_builtin(protocol: str, where: str) -> type[AtomicFS]:
    builtin = _BUILTINS[protocol]
    try:
        module = importlib.import_module(builtin.module)
    except ModuleNotFoundError as exc:
        if builtin.extra is None or (exc.name or "").startswith("targets"):
            raise
        raise BackendNotInstalled(
            f"cannot open {where}: {protocol}:// needs the {exc.name!r} package, which is "
            f"not installed; install it with: pip install 'targets[{builtin.extra}]'",
            where,
        ) from None
    cls: type[AtomicFS] = getattr(module, builtin.name)
    return cls


def backend(protocol: str, url: str | None = None) -> type[AtomicFS] | BackendFactory:
    """What serves ``protocol``: an `AtomicFS` subclass or a factory (``url`` is named in
    errors). Registered backends come first, then the built-in ones."""
    protocol = protocol.lower()
    where = url or protocol + "://"
    if not _entry_points_loaded:
        with _registry_lock:
            _load_entry_points_locked()
    found = _registered.get(protocol)  # one dict read: safe without the lock
    if isinstance(found, _EntryPointBackend):
        return found.load(where)
    if found is not None:
        return found
    if protocol in _BUILTINS:
        return _import_builtin(protocol, where)
    known = ", ".join(s + "://" for s in schemes())
    raise InvalidTarget(
        f"cannot open {where}: unknown protocol {protocol + '://'!r}; targets supports "
        f"{known} and plain paths (a backend can be added with targets.fs.register)",
        where,
    )


def backend_class(protocol: str, url: str | None = None) -> type[AtomicFS]:
    """The `AtomicFS` class that serves ``protocol``; `InvalidTarget` when a factory that
    is not a class serves it."""
    found = backend(protocol, url)
    if isinstance(found, type) and issubclass(found, AtomicFS):
        return found
    raise InvalidTarget(
        f"{protocol}:// is served by the factory {found!r}, not an AtomicFS class", url
    )


def resolve(url: Any, **storage_options: Any) -> tuple[AtomicFS, str]:
    """The filesystem for ``url`` and the backend path that ``url`` names in it."""
    text = _coerce(url, storage_options)
    if not text or not text.strip():
        raise InvalidTarget("the target location is empty; give a path or a URL", text)
    protocol, _ = split_protocol(text)
    check_url_text(text, protocol)
    made = _as_factory(backend(protocol, text))(text, **storage_options)
    if not (isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], AtomicFS)):
        raise InvalidTarget(
            f"cannot open {text}: the backend for {protocol}:// gave {_describe(made)}, not "
            "an (AtomicFS, path) pair; a factory returns (filesystem, path)",
            text,
        )
    afs, path = made
    return afs, str(path)


def _describe(made: Any) -> str:
    if isinstance(made, tuple):
        return "(" + ", ".join(type(item).__name__ for item in made) + ")"
    return f"a {type(made).__name__}"


def filesystem(url: Any, **storage_options: Any) -> AtomicFS:
    """The `AtomicFS` for ``url`` (``"s3://bucket"``, ``"/data"``, ``"gs://b/prefix"``...)."""
    return resolve(url, **storage_options)[0]


def capability_table(protocols: tuple[str, ...] = ("file", "s3", "gs", "hdfs", "webhdfs")) -> str:
    """The per-backend guarantee table of docs/guarantees.md, in Markdown, generated from
    each backend's declared `Capabilities` so that the docs cannot drift from the code."""
    classes = [backend_class(p) for p in protocols]
    header = "| capability | " + " | ".join(f"`{p}://`" for p in protocols) + " |"
    rule = "|---|" + "---|" * len(protocols)
    rows = [header, rule]
    for name, doc in Capabilities.describe().items():
        marks = " | ".join("yes" if getattr(c.declared, name) else "no" for c in classes)
        rows.append(f"| `{name}`: {doc} | {marks} |")
    return "\n".join(rows) + "\n"
