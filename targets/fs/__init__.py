"""The filesystem layer: one `AtomicFS` per backend, chosen by the URL's protocol.

``filesystem(url)`` gives the `AtomicFS` for a URL; ``resolve(url)`` also gives the backend
path the URL names. Plain paths and ``file://`` URLs are local. Backends are imported on
first use, so a missing client library only matters for the URLs that need it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from targets.errors import BackendNotInstalled, InvalidTarget
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

__all__ = [
    "AtomicFS",
    "Capabilities",
    "CleanupReport",
    "DirectoryWriter",
    "FileWriter",
    "Guarantee",
    "IfExists",
    "PartRecord",
    "Staging",
    "WriterState",
    "capability_table",
    "filesystem",
    "resolve",
    "split_protocol",
]

# protocol -> (module, class, the extra that installs its client)
_BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "file": ("targets.fs.local", "LocalFS", None),
    "local": ("targets.fs.local", "LocalFS", None),
    "s3": ("targets.fs.s3", "S3FS", "s3"),
    "s3a": ("targets.fs.s3", "S3FS", "s3"),
    "gs": ("targets.fs.gcs", "GCSFS", "gcs"),
    "gcs": ("targets.fs.gcs", "GCSFS", "gcs"),
    "hdfs": ("targets.fs.hdfs", "HDFS", "hdfs"),
    "viewfs": ("targets.fs.hdfs", "HDFS", "hdfs"),
    "webhdfs": ("targets.fs.hdfs", "WebHDFS", "hdfs"),
    "swebhdfs": ("targets.fs.hdfs", "WebHDFS", "hdfs"),
}


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


def backend_class(protocol: str, url: str | None = None) -> type[AtomicFS]:
    """The `AtomicFS` class that serves ``protocol`` (``url`` is named in errors)."""
    where = url or protocol + "://"
    try:
        module_name, class_name, extra = _BACKENDS[protocol]
    except KeyError:
        known = ", ".join(sorted(p + "://" for p in _BACKENDS))
        raise InvalidTarget(
            f"cannot open {where}: unknown protocol {protocol + '://'!r}; targets supports "
            f"{known} and plain paths",
            where,
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if extra is None or (exc.name or "").startswith("targets"):
            raise
        raise BackendNotInstalled(
            f"cannot open {where}: {protocol}:// needs the {exc.name!r} package, which is "
            f"not installed; install it with: pip install 'targets[{extra}]'",
            where,
        ) from None
    cls: type[AtomicFS] = getattr(module, class_name)
    return cls


def resolve(url: Any, **storage_options: Any) -> tuple[AtomicFS, str]:
    """The filesystem for ``url`` and the backend path that ``url`` names in it."""
    text = _coerce(url, storage_options)
    if not text or not text.strip():
        raise InvalidTarget("the target location is empty; give a path or a URL", text)
    protocol, _ = split_protocol(text)
    return backend_class(protocol, text).from_url(text, **storage_options)


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
