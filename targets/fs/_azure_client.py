"""Azure Blob Storage clients from adlfs-style storage options: which options there are,
where credentials come from (the options, then the ``AZURE_STORAGE_*`` variables, as adlfs
reads them), one cached `BlobServiceClient` per set of options with bounded retries, and the
names an ``az://`` URL may use. `targets.fs.azure` builds on it."""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

from azure.storage.blob import BlobServiceClient, LinearRetry
from fsspec.asyn import AsyncFileSystem
from fsspec.dircache import DirCache

from targets.errors import InvalidTarget
from targets.fs.objectstore.fs import keyword_names

__all__ = [
    "OWN_OPTIONS",
    "check_names",
    "make_client",
    "split_account",
    "valid_options",
    "with_environment",
]

OWN_OPTIONS = ("part_size", "stale_claim_after", "publish_concurrency", "retry_total")
"""The storage options of this backend itself (the rest are adlfs's)."""

_DEFAULT_HOST = "blob.core.windows.net"

_clients: dict[str, BlobServiceClient] = {}
_clients_lock = threading.Lock()


_ENVIRONMENT = {
    "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
    "account_key": "AZURE_STORAGE_ACCOUNT_KEY",
    "sas_token": "AZURE_STORAGE_SAS_TOKEN",
    "client_id": "AZURE_STORAGE_CLIENT_ID",
    "client_secret": "AZURE_STORAGE_CLIENT_SECRET",
    "tenant_id": "AZURE_STORAGE_TENANT_ID",
}
"""The variables adlfs reads for options that are not given."""


@functools.cache
def valid_options() -> frozenset[str]:
    """Every storage option Azure takes: adlfs's (its constructor's, fsspec's async loop,
    listings cache and instance cache) and this backend's own."""
    import adlfs  # type: ignore[import-untyped]

    return keyword_names(
        adlfs.AzureBlobFileSystem.__init__, AsyncFileSystem.__init__, DirCache.__init__
    ) | {"skip_instance_cache", *OWN_OPTIONS}


def with_environment(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with the unset credentials read from the ``AZURE_STORAGE_*`` variables
    (as adlfs reads them), unless another credential is given."""
    out = dict(options)
    given = any(out.get(k) for k in ("connection_string", "account_key", "sas_token", "credential"))
    for name, variable in _ENVIRONMENT.items():
        if out.get(name) is None and os.environ.get(variable):
            if name != "account_name" and (given or out.get("anon")):
                continue
            out[name] = os.environ[variable]
    return out


def _credential(options: Mapping[str, Any]) -> Any:
    """The credential for an account URL: a key, a SAS token, a given credential object,
    a service principal, anonymous, or `DefaultAzureCredential` when nothing is given."""
    if options.get("credential") is not None:
        return options["credential"]
    if options.get("account_key"):
        return {"account_name": options.get("account_name"), "account_key": options["account_key"]}
    if options.get("sas_token"):
        return str(options["sas_token"]).lstrip("?")
    if options.get("anon"):
        return None
    try:
        import azure.identity
    except ModuleNotFoundError:
        return None  # anonymous: public containers only
    if options.get("client_id") and options.get("client_secret") and options.get("tenant_id"):
        return azure.identity.ClientSecretCredential(
            options["tenant_id"], options["client_id"], options["client_secret"]
        )
    return azure.identity.DefaultAzureCredential()


def _client_key(options: Mapping[str, Any]) -> str:
    return json.dumps(options, sort_keys=True, default=lambda v: f"{type(v).__name__}@{id(v)}")


def make_client(options: Mapping[str, Any], *, part_size: int, retries: int) -> BlobServiceClient:
    """A BlobServiceClient configured from adlfs-style ``options`` (cached per options).

    Retries are bounded (``retries`` linear retries about a second apart) so that a stopped
    server fails in seconds with `StoreUnavailable`, not after the client's default ~85 s.
    Put Blob is sent as one request up to ``part_size``."""
    cache_key = _client_key({**options, "part_size": part_size, "retries": retries})
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is not None:
            return client
    config: dict[str, Any] = {
        "retry_policy": LinearRetry(backoff=1, random_jitter_range=1, retry_total=retries),
        "max_single_put_size": max(part_size, 64 << 20),
        "connection_timeout": options.get("connection_timeout") or 10,
        "read_timeout": options.get("read_timeout") or 60,
    }
    try:
        if options.get("connection_string"):
            client = BlobServiceClient.from_connection_string(
                str(options["connection_string"]), **config
            )
        else:
            account = options.get("account_name")
            host = options.get("account_host")
            if not account and not host:
                raise InvalidTarget(
                    "Azure needs an account: pass account_name= (or connection_string=, or "
                    "account_host=), or set AZURE_STORAGE_ACCOUNT_NAME"
                )
            url = f"https://{host}" if host else f"https://{account}.{_DEFAULT_HOST}"
            client = BlobServiceClient(url, credential=_credential(options), **config)
    except InvalidTarget:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidTarget(
            f"cannot configure an Azure client from these storage options: {type(exc).__name__}"
        ) from None
    with _clients_lock:
        return _clients.setdefault(cache_key, client)


_CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


def split_account(url: str) -> tuple[str, str | None]:
    """``(url without the account, account name or None)`` for adlfs's
    ``abfs://container@account.dfs.core.windows.net/path`` form."""
    scheme, sep, rest = url.partition("://")
    first, slash, path = rest.partition("/")
    if "@" not in first:
        return url, None
    container, _, host = first.partition("@")
    return f"{scheme}{sep}{container}{slash}{path}", host.split(".", 1)[0] or None


def check_names(url: str, container: str, key: str) -> None:
    """`InvalidTarget` for a container name Azure refuses, or a key with an empty, ``.`` or
    ``..`` segment (stored literally, under a name nobody reading a path would look for)."""
    if not _CONTAINER_RE.match(container) and container != "$root":
        raise InvalidTarget(
            f"{container!r} in {url!r} is not a valid container name: 3 to 63 lower-case "
            "letters, digits and single hyphens",
            url,
        )
    if key and any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidTarget(
            f"{url!r} has an empty, '.' or '..' segment in its path; Azure would store it "
            "under another name than the one it looks like: write the path without them",
            url,
        )
