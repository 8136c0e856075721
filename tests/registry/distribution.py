"""Installing a backend the way pip would, seen by `importlib.metadata`, and running Python
with it installed.

`install` writes a distribution's ``<name>-<version>.dist-info/`` (``METADATA`` and
``entry_points.txt``) and its modules into a directory; a process that has that directory on
``sys.path`` sees the distribution and its entry points exactly as it would after ``pip
install``. `run_python` starts such a process, so that the registry's once-per-process
reading of the ``targets.backends`` group happens in it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

TOY_MODULE = '''
"""A toy backend: ``toy://<path>`` is ``<path>`` under the directory $TOY_TARGETS_ROOT,
served by the local backend."""

import os

from targets import fs

ROOT_ENV = "TOY_TARGETS_ROOT"


def open_toy(url, **storage_options):
    """The `targets.fs.BackendFactory` of toy:// URLs."""
    _, _, rest = url.partition("://")
    root = os.environ[ROOT_ENV]
    os.makedirs(root, exist_ok=True)
    return fs.resolve(os.path.join(root, rest.lstrip("/")), **storage_options)


class ToyFS(fs.backend_class("file")):
    """The same, as an `AtomicFS` subclass (an entry point may name a class)."""

    @classmethod
    def from_url(cls, url, **storage_options):
        _, path = open_toy(url, **storage_options)
        return cls(), path
'''


def install(
    site: pathlib.Path,
    name: str,
    entry_points: dict[str, str],
    modules: dict[str, str] | None = None,
    *,
    version: str = "0.1",
) -> pathlib.Path:
    """Install the distribution ``name`` into ``site``: its metadata, its entry points of
    the ``targets.backends`` group (scheme -> ``module:attribute``) and ``modules``
    (module name -> source). Returns the dist-info directory."""
    site.mkdir(parents=True, exist_ok=True)
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = ["[targets.backends]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return dist_info


def environment(*sites: pathlib.Path, **extra: str) -> dict[str, str]:
    """This process's environment with ``sites`` (then the repository) on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), str(ROOT)])
    env.update(extra)
    return env


def run_python(
    code: str, *sites: pathlib.Path, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter that has ``sites`` on its path; check it exits 0."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment(*sites, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result
