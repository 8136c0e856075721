"""Azurite, Microsoft's Azure Storage emulator, installed by this project and run on loopback.

Azurite is a Node.js program published on npm, not on PyPI, so the project installs it
itself: `install` runs ``npm install azurite@<VERSION>`` into a cache folder (by default
``~/.cache/targets/azurite-<VERSION>``, or ``$TARGETS_AZURITE_DIR``) once, and every later
use finds it there. From a shell::

    python -m targets.testing.azurite install     # prints the azurite-blob it installed

`targets.testing.servers.azurite_server` starts the blob service from there on 127.0.0.1
at a free port. Without node and npm, `blob_command` raises `AzuriteUnavailable` with the
command to run; the test fixtures turn that into a skip that says so.

The install is atomic: npm installs into a fresh folder beside the cache folder, which is
then renamed into place, so a run that is interrupted never leaves a half-installed
Azurite that later runs would trust.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable

from targets.testing.proxy import Exchange, Request, SizeOf

__all__ = [
    "VERSION",
    "AzuriteUnavailable",
    "azure_kind",
    "azure_request",
    "blob_command",
    "cache_dir",
    "install",
]

VERSION = "3.37.0"
"""The Azurite release the tests run (it declares node >= 22, and runs on node 20)."""

INSTALL_COMMAND = "python -m targets.testing.azurite install"


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed and cannot be: node or npm is missing, or npm failed."""


def cache_dir() -> pathlib.Path:
    """Where Azurite is installed: ``$TARGETS_AZURITE_DIR``, else
    ``$XDG_CACHE_HOME/targets/azurite-<VERSION>`` (``~/.cache`` by default)."""
    given = os.environ.get("TARGETS_AZURITE_DIR")
    if given:
        return pathlib.Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "targets" / f"azurite-{VERSION}"


def _installed(folder: pathlib.Path) -> pathlib.Path | None:
    script = folder / "node_modules" / ".bin" / "azurite-blob"
    return script if script.exists() else None


def install(folder: pathlib.Path | None = None) -> pathlib.Path:
    """Install Azurite into ``folder`` (default `cache_dir`) unless it is there; return the
    path of its ``azurite-blob`` script. `AzuriteUnavailable` without node and npm, or when
    npm fails (its last lines say why)."""
    folder = folder or cache_dir()
    found = _installed(folder)
    if found is not None:
        return found
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise AzuriteUnavailable(
            "the Azure tests need Azurite, which needs node and npm (not found on PATH); "
            f"install Node.js, then run: {INSTALL_COMMAND}"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.install-", dir=folder.parent))
    try:
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(staging),
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--engine-strict=false",
                "--loglevel=error",
                f"azurite@{VERSION}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0 or _installed(staging) is None:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise AzuriteUnavailable(
                f"npm could not install azurite@{VERSION} (exit {done.returncode}): {tail}; "
                f"retry with: {INSTALL_COMMAND}"
            )
        try:
            staging.rename(folder)  # atomic: the folder appears installed or not at all
        except OSError:
            if _installed(folder) is None:  # not another process's install that won
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    script = _installed(folder)
    assert script is not None
    return script


def blob_command(host: str, port: int) -> list[str]:
    """The command that runs Azurite's blob service on ``host:port``, in memory, without
    telemetry (which would reach an outside address), quiet. Installs Azurite first if it
    is not installed. The process must run in a scratch working directory: Azurite writes
    its debug and extent files there (``--location`` cannot be combined with
    ``--inMemoryPersistence``)."""
    return [
        str(install()),
        *("--blobHost", host, "--blobPort", str(port)),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]


# -- requests on the wire, for targets.testing.proxy.Proxy ----------------------------------


def azure_kind(ex: Exchange, size_of: SizeOf) -> tuple[str, int]:
    """Blob service operations by method, query and headers (a `targets.testing.proxy`
    classifier; path-style ``/<account>/<container>/<blob>``). A trailing ``!`` marks a
    conditional create (``If-None-Match: *``), a trailing ``?`` a conditional replace or
    delete (``If-Match``). Copy Blob counts the bytes the server copied."""
    cond = "!" if ex.headers.get("if-none-match") == "*" else ""
    cond = cond or ("?" if "if-match" in ex.headers else "")
    parts = ex.path.strip("/").split("/", 2)
    has_blob = len(parts) == 3 and parts[2] != ""
    comp = ex.query.get("comp", "")
    if not has_blob:
        return _container_kind(ex.method, comp), 0
    if ex.method == "PUT" and "x-ms-copy-source" in ex.headers:
        ok = 200 <= ex.status < 300
        return "CopyBlob" + cond, size_of(ex.path) if ok else 0
    kinds = {
        ("PUT", ""): "PutBlob",
        ("PUT", "block"): "PutBlock",
        ("PUT", "blocklist"): "PutBlockList",
        ("GET", "blocklist"): "GetBlockList",
        ("GET", ""): "GetBlob",
        ("HEAD", ""): "GetBlobProperties",
        ("DELETE", ""): "DeleteBlob",
    }
    kind = kinds.get((ex.method, comp), f"{ex.method} {comp}".strip())
    return kind + (cond if kind in ("PutBlob", "PutBlockList", "DeleteBlob") else ""), 0


def _container_kind(method: str, comp: str) -> str:
    if comp == "list":
        return "ListBlobs"
    if method == "PUT":
        return "CreateContainer"
    return "GetContainerProperties" if method in ("GET", "HEAD") else method


def azure_request(kind: str, path_contains: str = "") -> Callable[[Request], bool]:
    """A `targets.testing.proxy.Proxy` rule matcher: requests of ``kind`` (as `azure_kind`
    names them, ``"PutBlob!"`` for a conditional create) whose path contains
    ``path_contains``."""

    def match(request: Request) -> bool:
        ex = Exchange(request.method, request.target, request.headers, 0, {}, b"")
        return azure_kind(ex, lambda path: 0)[0] == kind and path_contains in request.path

    return match


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m targets.testing.azurite",
        description=f"Install Azurite {VERSION} (npm) into the cache folder the tests use.",
    )
    parser.add_argument("command", choices=["install", "where"])
    args = parser.parse_args(argv)
    if args.command == "where":
        print(cache_dir())
        return 0
    try:
        print(install())
    except AzuriteUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
