"""Azure URLs, storage options and credentials: what is accepted, what is refused, and that
no credential ever shows in a repr, an error, a log or a pickle."""

from __future__ import annotations

import logging
import pickle
import socket

import pytest
from azure.core.exceptions import ClientAuthenticationError

import targets
from targets.errors import InvalidTarget, StoreUnavailable
from targets.fs.azure import HNS_CAPABILITIES, AzureFS, AzureStore
from targets.testing.servers import AZURITE_KEY
from tests.azure.conftest import store_of

SAS = "sv=2024-01-01&ss=b&srt=sco&sp=rwdlac&sig=sentinelSASsignature0d15ea5e"
CLIENT_SECRET = "sentinel-client-secret-f00dface"
KEY = "c2VudGluZWwtYWNjb3VudC1rZXktYmFkYzBmZmVl"  # base64 of a sentinel, as keys are
THIRD_PARTY = ("azure", "urllib3", "adlfs", "fsspec", "aiohttp", "asyncio", "msal")


class SentinelCredential:
    """A token credential that has a secret in its repr and never gives a token."""

    def __repr__(self) -> str:
        return "SentinelCredential(secret='sentinel-credential-repr-8badf00d')"

    def get_token(self, *scopes, **kwargs):
        raise ClientAuthenticationError("no token here")


SECRETS = (AZURITE_KEY, SAS, "sentinelSASsignature0d15ea5e", CLIENT_SECRET, KEY, "8badf00d")


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def shown(*objects) -> str:
    """Everything a user or a log could see of ``objects``."""
    parts = []
    for obj in objects:
        parts += [repr(obj), str(obj)]
        try:
            parts.append(pickle.dumps(obj).decode("latin-1"))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            parts.append(str(exc))
    return "\n".join(parts)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- URLs ----------------------------------------------------------------------------------


def test_az_and_abfs_urls_name_one_backend(azure_root):
    az, path = targets.fs.resolve(azure_root.url + "/x.csv", **azure_root.options)
    abfs, same = targets.fs.resolve(
        azure_root.url.replace("az://", "abfs://") + "/x.csv", **azure_root.options
    )
    assert isinstance(az, AzureFS) and isinstance(abfs, AzureFS)
    assert path == same == azure_root.url.removeprefix("az://") + "/x.csv"
    t = targets.FileTarget(
        azure_root.url.replace("az://", "abfs://") + "/x.csv", **azure_root.options
    )
    t.write_text("x")
    assert targets.FileTarget(azure_root.url + "/x.csv", **azure_root.options).read_text() == "x"


def test_the_account_form_of_an_abfs_url_names_the_account():
    afs, path = targets.fs.resolve(
        "abfs://data@myaccount.dfs.core.windows.net/out/x.csv", account_key=KEY
    )
    assert path == "data/out/x.csv"
    assert "myaccount.blob.core.windows.net" in repr(afs)
    assert_clean(repr(afs))


@pytest.mark.parametrize(
    "url",
    [
        "az://",
        "az://ab/x",  # too short
        "az://Upper/x",
        "az://bad_name/x",
        "az://double--hyphen/x",
        "az://box/a/../b",
        "az://box/a//b",
    ],
)
def test_bad_urls_are_refused(url):
    with pytest.raises(InvalidTarget):
        targets.fs.resolve(url, account_key=KEY, account_name="acct")


def test_unknown_and_bad_options_are_refused(azure_root):
    with pytest.raises(InvalidTarget, match="conection_string"):
        targets.fs.resolve(azure_root.url, conection_string="x")
    with pytest.raises(InvalidTarget, match="part_size"):
        targets.fs.resolve(azure_root.url, **{**azure_root.options, "part_size": 0})
    with pytest.raises(InvalidTarget, match="publish_concurrency"):
        targets.fs.resolve(azure_root.url, **azure_root.options, publish_concurrency=0)


def test_without_an_account_the_error_says_what_to_pass(monkeypatch):
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidTarget, match="account_name"):
        targets.fs.resolve("az://box/x.csv")


def test_capabilities_are_probed_and_hns_is_only_declared(azure_root):
    """The flat-namespace protocol is what runs (and what Azurite tests); the atomic rename of
    a hierarchical-namespace account is declared apart, for docs/azure.md, and unused."""
    afs, _ = targets.fs.resolve(azure_root.url + "/x", **azure_root.options)
    caps = afs.capabilities
    assert caps == AzureFS.declared
    assert caps.exclusive_create and caps.deferred_publish and not caps.noreplace_rename_dir
    assert HNS_CAPABILITIES.noreplace_rename_dir
    store, prefix = store_of(azure_root)
    assert list(store.list(prefix + "/")) == []  # the probe left nothing behind
    assert list(store.list_uploads(prefix + "/")) == []


# -- credentials ---------------------------------------------------------------------------


def test_a_full_commit_at_debug_shows_no_credential(azure_root, caplog):
    """The connection string holds Azurite's account key: it is in no log record of ours, no
    repr, no error, no pickle."""
    caplog.set_level(logging.DEBUG)
    options = azure_root.options
    f = targets.FileTarget(azure_root.child("out.csv"), **options)
    f.write_text("a,b\n")
    d = targets.DirectoryTarget(azure_root.child("table") + "/", **options)
    with d.writer() as w, w.open("part-0", "wb") as part:
        part.write(b"x")
    errors = []
    for attempt in (lambda: f.write_text("again"), lambda: d.writer().commit()):
        with pytest.raises(targets.TargetError) as info:
            attempt()
        errors.append(info.value)
    store, _ = store_of(azure_root)
    ours = [r for r in caplog.records if not r.name.startswith(THIRD_PARTY)]
    assert_clean("\n".join(r.getMessage() for r in ours))
    assert_clean(shown(f, d, f.fs, d.fs, store, *errors))
    assert_clean("\n".join(str(e.__cause__ or "") for e in errors))


@pytest.mark.parametrize(
    "options",
    [
        {"account_name": "acct", "account_key": KEY},
        {"account_name": "acct", "sas_token": SAS},
        {"account_name": "acct", "credential": SentinelCredential()},
    ],
    ids=["account_key", "sas_token", "credential"],
)
def test_an_error_from_an_unreachable_account_shows_no_credential(options):
    """The account host answers nothing (a closed loopback port): the error names the URL
    and what to check, never the key, the SAS token or the credential."""
    options = {**options, "account_host": f"127.0.0.1:{closed_port()}", "retry_total": 0}
    t = targets.FileTarget("az://box/out.csv", **options)
    with pytest.raises(targets.TargetError) as info:
        t.write_text("x")
    assert_clean(str(info.value) + repr(info.value) + str(info.value.__cause__))
    assert_clean(shown(t, t.fs))


def test_a_stopped_account_with_a_key_is_unavailable():
    t = targets.FileTarget(
        "az://box/out.csv",
        account_name="acct",
        account_key=KEY,
        account_host=f"127.0.0.1:{closed_port()}",
        retry_total=0,
    )
    with pytest.raises(StoreUnavailable):
        t.write_text("x")


@pytest.mark.parametrize(
    ("options", "dropped"),
    [
        ({"account_name": "acct", "account_key": KEY}, ("account_key",)),
        ({"account_name": "acct", "sas_token": SAS}, ("sas_token",)),
        (
            {
                "account_name": "acct",
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": CLIENT_SECRET,
            },
            ("client_secret",),
        ),
        ({"account_name": "acct", "credential": SentinelCredential()}, ("credential",)),
    ],
    ids=["account_key", "sas_token", "client_secret", "credential"],
)
def test_pickled_targets_carry_no_azure_credentials_and_say_so(options, dropped):
    t = targets.FileTarget("az://box/out.csv", **options)
    assert_clean(repr(t) + str(t) + repr(t.fs))
    data = pickle.dumps(t)
    assert_clean(data.decode("latin-1"))
    back = pickle.loads(data)
    assert back.url == t.url and back.dropped_options == dropped


def test_a_pickled_target_with_a_connection_string_finds_it_in_the_environment(
    azure_root, monkeypatch
):
    t = targets.FileTarget(azure_root.child("out.csv"), **azure_root.options)
    t.write_text("x")
    data = pickle.dumps(t)
    assert_clean(data.decode("latin-1"))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_root.options["connection_string"])
    back = pickle.loads(data)
    assert back.dropped_options == ("connection_string",)
    assert back.read_text() == "x"


def test_reprs_name_the_account_and_container_only(azure_root):
    afs, _ = targets.fs.resolve(azure_root.url, **azure_root.options)
    store, _ = store_of(azure_root)
    assert isinstance(store, AzureStore)
    assert repr(store).startswith("AzureStore(container='targets-test', account='http://127.0.0.1")
    assert_clean(repr(afs) + repr(store))
