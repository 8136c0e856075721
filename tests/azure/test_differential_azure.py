"""The property machine's differential run against Azurite: the simulated object store and
the Azure adapter on Azurite, given the same generated runs (writers, interleavings, crashes,
removals, cleanups, recoveries), make the same store calls and end the same way, with the
same writer's output at each path after every step (tests/property/test_differential.py
does the same for moto and fake-gcs-server).

The simulated store is S3-flavoured: Azure's conditional Put Blob and Put Block List answer
as S3's conditional PutObject and CompleteMultipartUpload do once the adapter has mapped
them (409 ``BlobAlreadyExists`` -> `PreconditionFailed`, lost blocks -> `NoSuchUpload`).
"""

from __future__ import annotations

import pytest

from targets.fs.azure import AzureFS
from tests.fixtures.azure import CONTAINER, PART_SIZE
from tests.property.test_differential import _run_against

pytestmark = [pytest.mark.property, pytest.mark.timeout(0)]


def test_simulated_store_answers_like_azurite(azurite):
    """Invariant: on every generated run, the simulated bucket and Azurite give the same
    calls, the same outcomes and the same committed outputs."""
    afs, _ = AzureFS.from_url(f"az://{CONTAINER}", **azurite.options(), part_size=PART_SIZE)
    _run_against(afs.store(CONTAINER), "s3")
