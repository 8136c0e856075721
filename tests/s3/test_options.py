"""Storage options and keys S3 refuses: a misspelt option is named (with the valid ones)
instead of being swallowed by s3fs's ``**kwargs`` while the output goes to the default
endpoint, and a key with an empty, ``.`` or ``..`` segment is refused instead of being kept
literally (``s3://b/a/../b.csv`` used to become the key ``a/../b.csv``). Both fail on the
code before the check: no error was raised."""

from __future__ import annotations

import inspect

import pytest
import s3fs

import targets
from targets.fs.s3 import S3FS, valid_options
from tests.fixtures import StoreRoot


def misspelt(root: StoreRoot) -> dict[str, object]:
    options = dict(root.options)
    options["endpoit_url"] = options.pop("endpoint_url")
    return options


def test_a_misspelt_option_is_refused_naming_it_and_the_valid_ones(s3_root):
    url = s3_root.child("out.csv")
    with pytest.raises(targets.InvalidTarget) as info:
        targets.target(url, **misspelt(s3_root))
    message = str(info.value)
    assert "unknown storage options ['endpoit_url']" in message
    assert url in message and info.value.path == url
    assert "S3 takes" in message and "endpoint_url" in message.split("takes", 1)[1]
    assert s3_root.options["secret"] not in message


def test_the_filesystem_refuses_unknown_options_too():
    with pytest.raises(targets.InvalidTarget, match=r"unknown storage options \['endpoit_url'\]"):
        S3FS(endpoit_url="http://127.0.0.1:1")


def test_valid_options_are_s3fs_constructor_parameters_and_ours():
    """Read from s3fs's signature, so that an option s3fs adds is not refused."""
    named = {
        name
        for name, p in inspect.signature(s3fs.S3FileSystem.__init__).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    assert named <= valid_options()
    assert {"profile", "use_listings_cache", "skip_instance_cache"} <= valid_options()
    assert {"part_size", "stale_claim_after", "publish_concurrency"} <= valid_options()


def test_every_documented_option_still_works(s3_root):
    options = {**s3_root.options, "use_listings_cache": False, "config_kwargs": {}}
    out = targets.target(s3_root.child("out.csv"), **options)
    out.write_text("a\n")
    assert out.read_text() == "a\n"


@pytest.mark.parametrize("key", ["a/../b.csv", "a//b.csv", "./b.csv", "a/./b.csv", "a/.."])
def test_keys_with_empty_dot_or_dotdot_segments_are_refused(s3_root, key):
    url = f"{s3_root.url}/{key}"
    with pytest.raises(targets.InvalidTarget) as info:
        targets.target(url, **s3_root.options)
    assert url in str(info.value) and "'..' segment" in str(info.value)
    with pytest.raises(targets.InvalidTarget):
        targets.target(url + "/", **s3_root.options)  # directories too


def test_dots_inside_names_are_kept(s3_root):
    out = targets.target(s3_root.child("v1..2/.hidden.csv"), **s3_root.options)
    out.write_text("x")
    assert out.exists()


def test_username_and_password_are_s3fs_names_for_key_and_secret():
    """s3fs takes them; the client that commits must sign with them too, not ignore them."""
    fs = S3FS(endpoint_url="http://127.0.0.1:1", username="some-key", password="some-secret")
    credentials = fs.client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("some-key", "some-secret")
