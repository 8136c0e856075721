"""Azure commits on the wire, through a loopback proxy in front of Azurite: how many requests
a commit sends, and what happens when an answer is lost or the store stops answering."""

from __future__ import annotations

import pytest

import targets
from targets.errors import StoreUnavailable, TargetExistsError
from targets.testing.azurite import azure_request
from tests.fixtures.azure import PART_SIZE


def write(root, name: str, data: bytes, **options) -> None:
    with targets.FileTarget(root.child(name), **root.options, **options).open("wb") as f:
        f.write(data)


def read(root, name: str) -> bytes:
    return targets.FileTarget(root.child(name), **root.options).read_bytes()


def test_a_file_commit_is_one_request(proxied_root, proxy):
    write(proxied_root, "warm", b"")  # the once-per-container probe
    proxy.reset()
    write(proxied_root, "out.csv", b"a,b\n")
    assert proxy.counts == {"PutBlob!": 1}


def test_a_large_file_commit_is_its_blocks_and_one_block_list(proxied_root, proxy):
    write(proxied_root, "warm", b"")
    proxy.reset()
    write(proxied_root, "big.bin", b"x" * (PART_SIZE * 2 + 3))
    assert proxy.counts == {"PutBlock": 3, "PutBlockList!": 1}


@pytest.mark.parametrize("n", [1, 10])
def test_a_directory_of_small_files_is_n_plus_three_requests_and_copies_nothing(
    proxied_root, proxy, n
):
    """Claim, one listing, N puts, ``_SUCCESS``: N + 3 requests, 0 bytes copied."""
    write(proxied_root, "warm", b"")
    proxy.reset()
    d = targets.DirectoryTarget(proxied_root.child("table") + "/", **proxied_root.options)
    with d.writer() as w:
        for i in range(n):
            with w.open(f"part-{i}", "wb") as f:
                f.write(b"row\n")
    assert sum(proxy.counts.values()) <= n + 3, proxy.counts
    assert proxy.counts["PutBlob!"] == n + 2  # the files, the claim and _SUCCESS
    assert proxy.copied == 0
    assert d.files() == [f"part-{i}" for i in range(n)]


@pytest.mark.parametrize("size", [5, PART_SIZE * 2 + 3], ids=["put-blob", "block-list"])
def test_a_lost_answer_is_resolved_by_the_writer_token(proxied_root, proxy, size):
    """The conditional write succeeds on the server, the client sees its connection reset and
    sends it again, and the retry is refused ("exists", or the blocks are gone): the writer
    token on the blob says it is this writer's own (G7)."""
    write(proxied_root, "warm", b"")
    kind = "PutBlob!" if size < PART_SIZE else "PutBlockList!"
    proxy.lose_response(azure_request(kind, "/out.bin"))
    data = b"y" * size
    write(proxied_root, "out.bin", data)
    lost = [s for s in proxy.log if s.outcome == "lost"]
    assert [(s.kind, s.status) for s in lost] == [(kind, 201)]
    assert read(proxied_root, "out.bin") == data


def test_a_lost_answer_of_a_conflicting_write_is_still_a_conflict(proxied_root, proxy):
    write(proxied_root, "out.bin", b"someone else")
    proxy.lose_response(azure_request("PutBlob!", "/out.bin"))
    with pytest.raises(TargetExistsError):
        write(proxied_root, "out.bin", b"mine")
    assert [s.status for s in proxy.log if s.outcome == "lost"] == [409]
    assert read(proxied_root, "out.bin") == b"someone else"


@pytest.mark.parametrize("lost", ["/_targets_claim", "/_SUCCESS", "/part-1"])
def test_a_directory_commit_whose_answer_is_lost_completes(proxied_root, proxy, lost):
    """The claim, a file or ``_SUCCESS`` reached the store but its answer did not reach the
    writer: the retry finds the writer's own token, and the commit goes on."""
    write(proxied_root, "warm", b"")
    proxy.lose_response(azure_request("PutBlob!", lost))
    d = targets.DirectoryTarget(proxied_root.child("table") + "/", **proxied_root.options)
    with d.writer() as w:
        for i in range(3):
            with w.open(f"part-{i}", "wb") as f:
                f.write(f"{i}\n".encode())
    assert [s.outcome for s in proxy.log].count("lost") == 1
    assert d.files() == ["part-0", "part-1", "part-2"]
    with d.open("part-1") as f:
        assert f.read() == b"1\n"


def test_a_store_that_stops_answering_a_put_leaves_the_outcome_unknown(proxied_root, proxy):
    write(proxied_root, "warm", b"")
    proxy.respond(azure_request("PutBlob!", "/out.bin"), 503, times=None)
    with pytest.raises(StoreUnavailable, match="outcome is unknown"):
        write(proxied_root, "out.bin", b"data", retry_total=1)
    proxy.clear()
    assert not targets.FileTarget(proxied_root.child("out.bin"), **proxied_root.options).exists()


def test_a_block_list_that_never_answers_is_reported_unpublished(proxied_root, proxy):
    """Put Block List fails through the retries: the writer gives up on the upload (a best
    effort on Azure, see docs/azure.md) and, finding no blob of its own at the name, says
    that nothing was published."""
    write(proxied_root, "warm", b"")
    proxy.respond(azure_request("PutBlockList!", "/big.bin"), 503, times=None)
    with pytest.raises(StoreUnavailable) as info:
        write(proxied_root, "big.bin", b"z" * (PART_SIZE + 1), retry_total=1)
    assert "nothing was published" in str(info.value) or "not published" in str(info.value)
    proxy.clear()
    assert not targets.FileTarget(proxied_root.child("big.bin"), **proxied_root.options).exists()
