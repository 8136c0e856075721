"""Storage options and names GCS refuses: a misspelt option is named (with the valid ones)
instead of being swallowed by gcsfs's ``**kwargs`` while the output goes to the default
endpoint (the options test fails on the code before the check: nothing was raised), and a
name with an empty, ``.`` or ``..`` segment is refused rather than stored literally (GCS
already refused those; kept here beside S3's same check)."""

from __future__ import annotations

import inspect

import pytest
from gcsfs.core import GCSFileSystem

import targets
from targets.fs.gcs import VALID_OPTIONS
from tests.fixtures import StoreRoot


def misspelt(root: StoreRoot) -> dict[str, object]:
    options = dict(root.options)
    options["endpoit_url"] = options.pop("endpoint_url")
    return options


def test_a_misspelt_option_is_refused_naming_it_and_the_valid_ones(gcs_root):
    url = gcs_root.child("out.csv")
    with pytest.raises(targets.InvalidTarget) as info:
        targets.target(url, **misspelt(gcs_root))
    message = str(info.value)
    assert "unknown storage options ['endpoit_url']" in message
    assert url in message and info.value.path == url
    assert "GCS takes" in message and "endpoint_url" in message.split("takes", 1)[1]


def test_valid_options_are_gcsfs_constructor_parameters_and_ours():
    """Read from gcsfs's signature, so that an option gcsfs adds is not refused."""
    named = {
        name
        for name, p in inspect.signature(GCSFileSystem.__init__).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    assert named <= VALID_OPTIONS
    assert {"use_listings_cache", "skip_instance_cache", "batch_size"} <= VALID_OPTIONS
    assert {"part_size", "stale_claim_after", "publish_concurrency"} <= VALID_OPTIONS


@pytest.mark.parametrize("key", ["a/../b.csv", "a//b.csv", "./b.csv", "a/./b.csv"])
def test_names_with_empty_dot_or_dotdot_segments_are_refused(gcs_root, key):
    url = f"{gcs_root.url}/{key}"
    with pytest.raises(targets.InvalidTarget) as info:
        targets.target(url, **gcs_root.options)
    assert url in str(info.value) and "'..' segment" in str(info.value)
