"""`AzureStore` against Azurite: the primitives the protocols rely on, and the traps of Azure's
block blobs that the adapter is built around (block ids shared by every writer of a name,
blocks discarded by another writer's commit, metadata names that must be C# identifiers)."""

from __future__ import annotations

import socket

import pytest

import targets
from targets.errors import MissingParentDirectory, StoreUnavailable, TargetNotFound
from targets.fs import objectstore
from targets.fs.azure import AZURE_TOKEN_KEY, AzureStore, parse_block_id
from targets.fs.objectstore.store import token_of, writer_metadata
from tests.azure.conftest import store_of

TOKEN_A = "a" * 32
TOKEN_B = "b" * 32


def test_the_writer_token_is_stored_under_a_csharp_name_and_read_back_under_the_protocols(
    azure_root,
):
    """Azure refuses ``targets-writer`` (400 InvalidMetadata): the adapter writes
    ``targets_writer`` and hands the protocols `objectstore.TOKEN_KEY` back."""
    store, prefix = store_of(azure_root)
    store.put(f"{prefix}/o", b"x", metadata=writer_metadata(TOKEN_A), if_absent=True)
    raw = store.container.get_blob_client(f"{prefix}/o").get_blob_properties().metadata
    assert raw == {AZURE_TOKEN_KEY: TOKEN_A}
    info = store.head(f"{prefix}/o")
    assert info is not None and info.metadata == {objectstore.TOKEN_KEY: TOKEN_A}
    listed = list(store.list(prefix + "/"))
    assert [o.metadata for o in listed] == [{objectstore.TOKEN_KEY: TOKEN_A}]


def test_conditional_put_get_and_delete_act_on_one_version(azure_root):
    store, prefix = store_of(azure_root)
    key = f"{prefix}/lease"
    first = store.put(key, b"one", metadata={}, if_absent=True)
    with pytest.raises(objectstore.PreconditionFailed):
        store.put(key, b"again", metadata={}, if_absent=True)
    second = store.put(key, b"two", metadata={}, if_absent=False, if_match=first)
    with pytest.raises(objectstore.PreconditionFailed):
        store.put(key, b"three", metadata={}, if_absent=False, if_match=first)
    with pytest.raises(objectstore.PreconditionFailed):
        store.get(key, if_match=first)
    assert store.get(key, if_match=second) == b"two"
    with store.open_read(key, if_match=second) as f:
        assert f.read() == b"two"
    with pytest.raises(objectstore.PreconditionFailed):
        store.delete(key, if_match=first)
    store.delete(key, if_match=second)
    assert store.head(key) is None
    store.delete(key, if_match=second)  # nothing there: not an error
    with pytest.raises(objectstore.PreconditionFailed):
        store.put(key, b"x", metadata={}, if_absent=False, if_match=second)  # onto nothing


def test_the_store_clock_is_read_from_its_answers(azure_root):
    store, prefix = store_of(azure_root)
    store.put(f"{prefix}/o", b"x", metadata={}, if_absent=True)
    info = store.head(f"{prefix}/o")
    assert info is not None and info.seen_at is not None and info.last_modified is not None
    assert info.age() is not None and info.age() >= 0
    assert store.server_time() is not None


def test_block_ids_are_unique_per_writer_and_of_one_length(azure_root):
    """Two writers stage part 1 of the same blob. Block ids belong to the blob name, not to
    the writer: had both used one id per part number (``part-00001``), the second stage
    would have replaced the first, and the first writer's commit would have published the
    second writer's bytes. Here each writer's ids name its upload; all have one length
    (Azure refuses ids of different lengths on one blob)."""
    store, prefix = store_of(azure_root)
    key = f"{prefix}/big"
    a = store.create_upload(key, metadata=writer_metadata(TOKEN_A), if_absent=True)
    b = store.create_upload(key, metadata=writer_metadata(TOKEN_B), if_absent=True)
    block_a = store.upload_part(key, a, 1, b"A" * 100)
    block_b = store.upload_part(key, b, 1, b"B" * 100)
    assert block_a != block_b and len(block_a) == len(block_b)
    assert parse_block_id(block_a) == (a, 1) and parse_block_id(block_b) == (b, 1)
    assert {u.upload_id for u in store.list_uploads(prefix + "/")} == {a, b}
    store.complete_upload(key, a, [(1, block_a)], if_absent=True)
    assert store.get(key) == b"A" * 100
    assert token_of(store.head(key)) == TOKEN_A
    # the winner's Put Block List discarded B's blocks: B is told an object is there
    with pytest.raises(objectstore.PreconditionFailed):
        store.complete_upload(key, b, [(1, block_b)], if_absent=True)
    assert store.get(key) == b"A" * 100


def test_shared_block_ids_let_the_last_stage_win(azurite, azure_root):
    """The server fact behind unique block ids: the same id staged twice on one blob keeps
    the last bytes, so a commit by the first stager publishes the second stager's data."""
    store, prefix = store_of(azure_root)
    blob = store.container.get_blob_client(f"{prefix}/shared")
    blob.stage_block("part-00001", b"first writer")
    blob.stage_block("part-00001", b"second writer")
    from azure.storage.blob import BlobBlock

    blob.commit_block_list([BlobBlock(block_id="part-00001")])
    assert blob.download_blob().readall() == b"second writer"


def test_an_upload_is_completed_by_another_process_with_its_writer_token(azure_root):
    """Recovery completes a dead writer's upload: the token is in the upload id, so a store
    that did not create the upload still publishes it under the writer's token."""
    store, prefix = store_of(azure_root)
    key = f"{prefix}/big"
    upload = store.create_upload(key, metadata=writer_metadata(TOKEN_A), if_absent=True)
    parts = [(n, store.upload_part(key, upload, n, bytes([64 + n]) * 10)) for n in (1, 2)]
    other = AzureStore(store.container, part_size=store.part_size)
    other.complete_upload(key, upload, parts, if_absent=True)
    assert store.get(key) == b"A" * 10 + b"B" * 10
    assert token_of(store.head(key)) == TOKEN_A


def test_abort_unlists_an_upload_but_cannot_make_it_uncompletable(azure_root):
    """Azure has no call that deletes uncommitted blocks. An abort deletes the name when it
    holds nothing committed and only this upload's blocks: the upload is no longer listed
    (cleanup and recovery stop seeing it). On Azurite the blocks survive that delete, and a
    Put Block List naming them still publishes them; on a real account the delete may be
    answered 404 (ignored). Either way an aborted upload is not final until the name is
    committed by someone, or Azure collects the blocks after 7 days (docs/azure.md)."""
    store, prefix = store_of(azure_root)
    key = f"{prefix}/big"
    upload = store.create_upload(key, metadata=writer_metadata(TOKEN_A), if_absent=True)
    block = store.upload_part(key, upload, 1, b"x" * 10)
    assert [(u.key, u.upload_id) for u in store.list_uploads(prefix + "/")] == [(key, upload)]
    assert next(store.list(prefix + "/"), None) is None  # staged blocks are invisible
    store.abort_upload(key, upload)
    assert list(store.list_uploads(prefix + "/")) == []
    store.abort_upload(key, upload)  # gone from the listing: not an error
    store.complete_upload(key, upload, [(1, block)], if_absent=True)  # Azurite: not final
    assert store.get(key) == b"x" * 10


def test_a_completion_whose_blocks_are_gone_is_no_such_upload(azure_root):
    store, prefix = store_of(azure_root)
    key = f"{prefix}/big"
    upload = store.create_upload(key, metadata=writer_metadata(TOKEN_A), if_absent=True)
    with pytest.raises(objectstore.NoSuchUpload):
        store.complete_upload(key, upload, [(1, "never staged")], if_absent=True)


def test_abort_leaves_another_writers_blocks_alone(azure_root):
    store, prefix = store_of(azure_root)
    key = f"{prefix}/big"
    a = store.create_upload(key, metadata=writer_metadata(TOKEN_A), if_absent=True)
    b = store.create_upload(key, metadata=writer_metadata(TOKEN_B), if_absent=True)
    store.upload_part(key, a, 1, b"a")
    block_b = store.upload_part(key, b, 1, b"b")
    store.abort_upload(key, a)
    store.complete_upload(key, b, [(1, block_b)], if_absent=True)
    assert store.get(key) == b"b"


def test_a_conditional_put_onto_staged_blocks_is_a_conflict_on_azurite(azure_root):
    """Azurite answers a conditional Put Blob on a name that holds only another writer's
    uncommitted blocks with 409 ``BlobAlreadyExists``, while Get Blob Properties says 404:
    a conflict that no committed object (and so no writer token) explains. The adapter
    reports it as `ConditionalConflict` (retried by the protocols), not as an object in the
    way; once the stager commits, the same put is refused for the object that is there.

    Only a real Azure account can confirm what it does here. Azure documents uncommitted
    blocks as not being a blob, so the put is expected to succeed there, and to discard the
    stager's blocks: the stager's Put Block List then fails with ``InvalidBlockList``, which
    the adapter reports as `PreconditionFailed` because an object is there (the stager loses
    to the put). Either way at most one of the two is published.
    """
    store, prefix = store_of(azure_root)
    key = f"{prefix}/contested"
    upload = store.create_upload(key, metadata=writer_metadata(TOKEN_A), if_absent=True)
    block = store.upload_part(key, upload, 1, b"staged")
    assert store.head(key) is None
    with pytest.raises(objectstore.ConditionalConflict):
        store.put(key, b"small", metadata=writer_metadata(TOKEN_B), if_absent=True)
    store.complete_upload(key, upload, [(1, block)], if_absent=True)
    with pytest.raises(objectstore.PreconditionFailed):
        store.put(key, b"small", metadata=writer_metadata(TOKEN_B), if_absent=True)
    assert store.get(key) == b"staged"


def test_copy_is_conditional_and_names_a_missing_source(azure_root):
    store, prefix = store_of(azure_root)
    store.put(f"{prefix}/src", b"data", metadata={}, if_absent=True)
    etag = store.copy(
        f"{prefix}/src", f"{prefix}/dst", metadata=writer_metadata(TOKEN_A), if_absent=True
    )
    info = store.head(f"{prefix}/dst")
    assert info is not None and info.etag == etag
    assert token_of(info) == TOKEN_A and store.get(f"{prefix}/dst") == b"data"
    with pytest.raises(objectstore.PreconditionFailed):
        store.copy(f"{prefix}/src", f"{prefix}/dst", metadata={}, if_absent=True)
    with pytest.raises(objectstore.ObjectNotFound):
        store.copy(f"{prefix}/nothing", f"{prefix}/dst2", metadata={}, if_absent=True)


def test_a_missing_container_is_not_created_and_says_so(azurite):
    """Like a missing bucket on S3: writing into it raises a `FileNotFoundError` naming the
    container (`MissingParentDirectory`), reading says `TargetNotFound`, and nothing creates
    the container."""
    options = azurite.options()
    t = targets.FileTarget("az://no-such-container/out.csv", **options)
    assert not t.exists()
    with pytest.raises(MissingParentDirectory, match="no-such-container"):
        t.write_text("a,b\n")
    with pytest.raises(TargetNotFound):
        t.read_text()
    d = targets.DirectoryTarget("az://no-such-container/table/", **options)
    with pytest.raises(FileNotFoundError, match="no-such-container"):
        with d.writer() as w, w.open("x", "wb") as f:
            f.write(b"x")
    names = [c.name for c in azurite.client().list_containers()]
    assert "no-such-container" not in names


def test_a_stopped_server_is_store_unavailable_after_bounded_retries():
    """Nothing listens at the account's address: the client gives up after ``retry_total``
    retries (the SDK's default policy would keep trying for about 85 s) and the write says
    that the store is unavailable, without knowing the outcome."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from targets.testing.servers import AZURITE_ACCOUNT, AZURITE_KEY

    cs = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    t = targets.FileTarget("az://gone/out.csv", connection_string=cs, retry_total=1)
    with pytest.raises(StoreUnavailable):
        t.write_text("x")
