"""GCS commit paths in one process: request sequences and counts, lost responses (G7),
recovery, cleanup, bad input. Races and killed writers are in test_races.py."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

import targets
from targets.fs import objectstore
from targets.fs.gcs import GCSFS
from targets.fs.objectstore import publish
from tests.fixtures import StoreRoot
from tests.gcs._faults import (
    LoseResponses,
    RequestLog,
    final_chunk_of_session,
    single_request_upload_of,
)

PART = 256 * 1024


def keys(afs: GCSFS, base: str) -> list[str]:
    """Every object under ``base``, relative to it."""
    store, prefix = afs.locate(base)
    return sorted(o.key[len(prefix) + 1 :] for o in store.list(prefix + "/"))


def write_file(afs: GCSFS, path: str, data: bytes, **kwargs) -> None:
    w = afs.open_output(path, **kwargs)
    w.write(data)
    w.commit()


def write_dir(afs: GCSFS, path: str, files: dict[str, bytes], **kwargs) -> dict:
    with afs.directory_writer(path, **kwargs) as w:
        for name, data in files.items():
            with w.open(name, "wb") as f:
                f.write(data)
    return afs_manifest(afs, path)


def afs_manifest(afs: GCSFS, path: str) -> dict:
    store, key = afs.locate(path)
    return json.loads(store.get(key + "/_SUCCESS"))


# -- request counts --------------------------------------------------------------------


@pytest.fixture
def patient(gcs) -> GCSFS:
    """The backend with the default lease period (60 s): a commit that ends within half of
    it sends no renewal, so the requests counted are the protocol's alone, however slow the
    machine (with ``afs``'s period of 0, the holder renews every half second)."""
    return GCSFS(gcs, part_size=PART)


def test_a_small_file_commit_is_exactly_one_request(patient, base, requests: RequestLog):
    w = patient.open_output(f"{base}/report.csv")
    w.write(b"a,b\n" * 1000)
    assert requests.requests == []  # held back: nothing sent while writing
    w.commit()
    assert requests.kinds() == ["upload-multipart"]
    assert requests.requests[0].params["ifGenerationMatch"] == "0"
    assert patient.open_input(f"{base}/report.csv").read() == b"a,b\n" * 1000


def test_an_overwrite_is_one_request_without_precondition(patient, base, requests: RequestLog):
    write_file(patient, f"{base}/r.csv", b"old")
    requests.clear()
    write_file(patient, f"{base}/r.csv", b"new", if_exists="overwrite")
    assert requests.kinds() == ["upload-multipart"]
    assert "ifGenerationMatch" not in requests.requests[0].params
    assert patient.open_input(f"{base}/r.csv").read() == b"new"


def test_a_directory_of_n_small_files_is_n_plus_2_exclusive_writes_one_listing_no_copy(
    patient, base, requests: RequestLog
):
    n = 20
    with patient.directory_writer(f"{base}/table") as w:
        for i in range(n):
            with w.open(f"part-{i:04d}.csv", "wb") as f:
                f.write(b"x" * 1000)
        assert requests.requests == []  # every file held back until the claim
    kinds = requests.kinds()
    # claim (1) + one exclusive upload per file (n) + _SUCCESS (1), and the one listing
    # the protocol needs to see that the prefix holds nothing foreign.
    assert kinds.count("upload-multipart") == n + 2
    assert len(kinds) == n + 3 and kinds.count("list") == 1, kinds
    assert set(kinds) <= {"upload-multipart", "list"}
    assert "rewrite" not in kinds and "copy" not in kinds  # zero bytes copied server-side
    uploads = [r for r in requests.requests if r.kind == "upload-multipart"]
    assert all(r.params["ifGenerationMatch"] == "0" for r in uploads)
    assert keys(patient, base) == sorted(
        ["table/_SUCCESS", "table/_targets_claim"] + [f"table/part-{i:04d}.csv" for i in range(n)]
    )


def test_no_request_of_a_directory_writer_is_visible_before_its_claim(patient, base, requests):
    """A large file streams before the claim, but only into a resumable session."""
    w = patient.directory_writer(f"{base}/table")
    with w.open("big.bin", "wb") as f:
        f.write(b"b" * (3 * PART + 5))
    with w.open("small.bin", "wb") as f:
        f.write(b"s" * 10)
    sent = requests.kinds()
    assert sent == ["upload-resumable", "chunk", "chunk", "chunk"]  # not finalised
    assert keys(patient, base) == []
    before = len(requests.kinds())
    w.commit()
    kinds = requests.kinds()[before:]
    claim_at = kinds.index("upload-multipart")
    # the listing of the prefix is sent together with the claim (just before or after it)
    assert kinds.count("list") == 1 and abs(kinds.index("list") - claim_at) == 1
    assert [k for k in kinds[:claim_at] if k != "list"] == []  # nothing else before it
    # after the claim: the held file, the finalising chunk (the held-back 5 bytes), _SUCCESS
    after = [k for k in kinds[claim_at + 1 :] if k != "list"]
    assert sorted(after) == ["chunk", "upload-multipart", "upload-multipart"]
    data = patient.open_input(f"{base}/table/big.bin").read()
    assert data == b"b" * (3 * PART + 5)


def test_a_large_file_streams_as_a_resumable_session_finalised_at_commit(gcs, base, requests):
    # The default lease period (60 s): a writer that ends sooner renews nothing.
    afs = GCSFS(gcs, part_size=PART)
    w = afs.open_output(f"{base}/big.bin")
    payload = bytes(range(256)) * (4 * PART // 256) + b"tail"
    for i in range(0, len(payload), 100_000):
        w.write(payload[i : i + 100_000])
    assert not afs.exists(f"{base}/big.bin")  # chunks sent, nothing visible
    w.commit()
    assert requests.kinds() == ["upload-resumable"] + ["chunk"] * 4 + ["get", "list", "chunk"]
    assert requests.requests[0].params["ifGenerationMatch"] == "0"
    assert afs.open_input(f"{base}/big.bin").read() == payload


def test_a_large_overwrite_opens_its_session_without_precondition(patient, base, requests):
    write_file(patient, f"{base}/big.bin", b"old" * PART)
    requests.clear()
    write_file(patient, f"{base}/big.bin", b"n" * (PART + 9), if_exists="overwrite")
    assert requests.kinds()[0] == "upload-resumable"
    assert "ifGenerationMatch" not in requests.requests[0].params
    assert patient.open_input(f"{base}/big.bin").read() == b"n" * (PART + 9)


def test_a_discarded_large_file_leaves_nothing(patient, base, requests):
    w = patient.open_output(f"{base}/big.bin")
    w.write(b"z" * (2 * PART + 1))
    w.discard()
    assert requests.kinds()[-1] == "session-delete"
    assert keys(patient, base) == []


def test_every_object_carries_its_writer_token(afs, base):
    w = afs.open_output(f"{base}/f")
    w.write(b"1")
    w.commit()
    d = afs.directory_writer(f"{base}/d")
    with d.open("a", "wb") as f:
        f.write(b"a" * (PART + 1))
    with d.open("b", "wb") as f:
        f.write(b"b")
    manifest = d.commit()
    store, prefix = afs.locate(base)
    assert store.head(f"{prefix}/f").metadata[objectstore.TOKEN_KEY] == w.token
    for name in ("a", "b", "_SUCCESS", "_targets_claim"):
        info = store.head(f"{prefix}/d/{name}")
        assert info.metadata[objectstore.TOKEN_KEY] == manifest["writer"] == d.token, name


# -- lost responses (G7) ----------------------------------------------------------------


def test_a_lost_response_to_the_file_write_is_reported_as_success(
    afs, gcs, base, requests, fast_retries
):
    key = base.split("/", 1)[1] + "/out.csv"
    with LoseResponses(gcs, single_request_upload_of(key)) as faults:
        write_file(afs, f"{base}/out.csv", b"mine")
    assert len(faults.lost) == 1 and faults.lost[0][2] == 200  # the server did write it
    # gcsfs retried the same conditional request, was told 412, and the token decided
    assert requests.kinds()[:1] == ["upload-multipart"]
    assert afs.open_input(f"{base}/out.csv").read() == b"mine"


def test_a_lost_response_then_someone_elses_object_is_a_conflict(afs, gcs, base, fast_retries):
    """The control: the retry finds an object with a foreign token -> TargetExistsError."""
    key = base.split("/", 1)[1] + "/out.csv"
    store = afs.store(base.split("/", 1)[0])

    async def another_writer_replaces_it() -> None:
        await store._put(key, b"theirs", {objectstore.TOKEN_KEY: "f" * 32}, False)

    w = afs.open_output(f"{base}/out.csv")
    w.write(b"mine")
    lose = LoseResponses(gcs, single_request_upload_of(key), then=another_writer_replaces_it)
    with lose, pytest.raises(targets.TargetExistsError):
        w.commit()


def test_a_lost_response_to_the_claim_and_to_success_still_commits(afs, gcs, base, fast_retries):
    prefix = base.split("/", 1)[1] + "/table"
    for lost in ("_targets_claim", "_SUCCESS"):
        with LoseResponses(gcs, single_request_upload_of(f"{prefix}-{lost}/{lost}")) as f:
            write_dir(afs, f"{base}/table-{lost}", {"p": b"p"})
        assert len(f.lost) == 1, lost
        assert afs.isfile(f"{base}/table-{lost}/_SUCCESS")


def test_a_lost_response_to_the_finalising_chunk_is_reported_as_success(
    afs, gcs, base, fast_retries
):
    payload = b"q" * (PART + 7)
    w = afs.open_output(f"{base}/big.bin")
    w.write(payload)
    with LoseResponses(gcs, final_chunk_of_session()) as faults:
        w.commit()
    assert len(faults.lost) == 1 and faults.lost[0][2] == 200
    assert afs.open_input(f"{base}/big.bin").read() == payload


# -- claims without _SUCCESS: IncompleteCommit and recover -------------------------------


def _crash_before(
    afs: GCSFS, path: str, files: dict[str, bytes], key_suffix: str, monkeypatch
) -> None:
    """Commit ``files`` but die (an exception out of the store) when ``key_suffix`` is
    about to be written, with the writer's own roll-back disabled (as if killed)."""
    store, _ = afs.locate(path)

    class Killed(BaseException):
        pass

    original = type(store).put

    def put(self, key, data, **kwargs):
        if key.endswith(key_suffix):
            raise Killed
        return original(self, key, data, **kwargs)

    monkeypatch.setattr(type(store), "put", put)
    monkeypatch.setattr(publish, "roll_back_own", lambda *a, **k: None)
    w = afs.directory_writer(path)
    for name, data in files.items():
        with w.open(name, "wb") as f:
            f.write(data)
    with pytest.raises(Killed):
        w.commit()
    monkeypatch.undo()


def test_a_claim_without_success_is_incomplete_and_rolls_forward(afs, base, monkeypatch):
    files = {"a": b"a" * 10, "b": b"b" * 20}
    _crash_before(afs, f"{base}/t", files, "/_SUCCESS", monkeypatch)
    assert not afs.isfile(f"{base}/t/_SUCCESS")
    assert afs.isfile(f"{base}/t/a") and afs.isfile(f"{base}/t/b")
    with pytest.raises(targets.IncompleteCommit, match="recover"):
        write_dir(afs, f"{base}/t", {"c": b"c"})
    message = afs.recover(f"{base}/t")
    assert "forward" in message
    assert [f["name"] for f in afs_manifest(afs, f"{base}/t")["files"]] == ["a", "b"]
    assert afs.open_input(f"{base}/t/b").read() == b"b" * 20


def test_a_claim_whose_files_are_lost_rolls_back_deleting_only_its_own(afs, base, monkeypatch):
    _crash_before(afs, f"{base}/t", {"a": b"a", "b": b"b"}, "/b", monkeypatch)
    store, prefix = afs.locate(f"{base}/t")
    # an object the claim does not own, e.g. written by hand meanwhile, must survive
    store.put(prefix + "/notes.txt", b"keep", metadata={}, if_absent=True)
    assert "a" in keys(afs, f"{base}/t")  # published before the crash
    message = afs.recover(f"{base}/t")
    assert "back" in message
    assert keys(afs, f"{base}/t") == ["notes.txt"]


def test_recover_refuses_a_fresh_claim(gcs, base, monkeypatch):
    """Its writer may still be publishing: rolling it back under its feet would be wrong."""
    patient = GCSFS(gcs, part_size=PART, stale_claim_after=60.0)
    _crash_before(patient, f"{base}/t", {"a": b"a"}, "/_SUCCESS", monkeypatch)
    with pytest.raises(targets.CommitError, match="may still be publishing"):
        patient.recover(f"{base}/t")
    assert keys(patient, f"{base}/t") == ["_targets_claim", "a"]


def test_recover_with_force_settles_a_fresh_claim(gcs, base, monkeypatch):
    """For a writer known to be dead: no wait until its claim is stale."""
    patient = GCSFS(gcs, part_size=PART, stale_claim_after=60.0)
    _crash_before(patient, f"{base}/t", {"a": b"a"}, "/_SUCCESS", monkeypatch)
    assert "forward" in patient.recover(f"{base}/t", force=True)
    assert [f["name"] for f in afs_manifest(patient, f"{base}/t")["files"]] == ["a"]


def test_publish_concurrency_is_a_storage_option(gcs_root: StoreRoot):
    options = {**gcs_root.options, "publish_concurrency": 1}
    one, path = targets.fs.resolve(gcs_root.child("t"), **options)
    assert isinstance(one, GCSFS) and one.publish_concurrency == 1
    write_dir(one, path, {f"p{i}": b"x" * i for i in range(4)})
    assert one.isfile(f"{path}/_SUCCESS")
    with pytest.raises(targets.InvalidTarget, match="publish_concurrency=0 is not a positive"):
        targets.fs.resolve(gcs_root.child("u"), **gcs_root.options, publish_concurrency=0)


# -- renames, copies, paths for tools ------------------------------------------------------


def test_renames_never_replace_and_directories_go_through_a_claim(afs, base):
    write_file(afs, f"{base}/a", b"a")
    write_file(afs, f"{base}/b", b"b")
    with pytest.raises(targets.TargetExistsError):
        afs.rename_dont_move(f"{base}/a", f"{base}/b")
    afs.rename_dont_move(f"{base}/a", f"{base}/c")  # fake-gcs-server: copy, then delete
    assert afs.open_input(f"{base}/c").read() == b"a" and not afs.exists(f"{base}/a")
    write_dir(afs, f"{base}/d", {"p-0": b"0", "q/p-1": b"1"})
    afs.rename_dont_move(f"{base}/d", f"{base}/e")
    assert keys(afs, f"{base}/e") == ["_SUCCESS", "_targets_claim", "p-0", "q/p-1"]
    assert [f["name"] for f in afs_manifest(afs, f"{base}/e")["files"]] == ["p-0", "q/p-1"]
    assert not afs.exists(f"{base}/d")
    with pytest.raises(targets.TargetExistsError):
        afs.rename_dont_move(f"{base}/e", f"{base}/c")


def test_the_writer_path_is_a_gs_url_that_its_filesystem_takes(afs, base):
    w = afs.directory_writer(f"{base}/table")
    assert w.path.startswith(f"gs://{base}/.table.targets-tmp-")
    w.filesystem.pipe_file(w.path + "/part-0", b"0")
    w.commit()
    assert keys(afs, f"{base}/table") == ["_SUCCESS", "_targets_claim", "part-0"]


# -- cleanup -----------------------------------------------------------------------------


def test_cleanup_removes_only_stale_temporaries(afs, base):
    write_file(afs, f"{base}/keep.csv", b"keep")
    write_dir(afs, f"{base}/table", {"p": b"p"})
    old = afs.staging(f"{base}/out.txt", directory=False)
    afs.fsspec.pipe_file(old.path.removeprefix("gs://"), b"abandoned")
    old._lease.release()  # its process died: nobody renews its lease any more
    report = afs.cleanup(base, older_than=timedelta(hours=1))
    assert report.removed == [] and report.kept_recent == [old.path]
    # The store's clock (its Date header) counts whole seconds and an age is never rounded
    # up: let one pass, so that the staging is older than "now" (afs judges leases with a
    # period of 0: its writer counts as dead).
    time.sleep(1.1)
    report = afs.cleanup(base, older_than=timedelta(0), dry_run=True)
    assert report.removed == [old.path] and afs.exists(old.path.removeprefix("gs://"))
    report = afs.cleanup(base, older_than=timedelta(0))
    assert report.removed == [old.path]
    # Beside out.txt stays the record that fences the dead writer (its lease, taken over).
    left = keys(afs, base)
    fence = [k for k in left if k.startswith(".out.txt.targets-lease-")]
    assert len(fence) == 1
    assert [k for k in left if k not in fence] == [
        "keep.csv",
        "table/_SUCCESS",
        "table/_targets_claim",
        "table/p",
    ]


# -- bad input ------------------------------------------------------------------------------


def test_a_url_without_bucket_is_refused_clearly():
    with pytest.raises(targets.InvalidTarget, match="names no bucket"):
        targets.target("gs://", token="anon")
    with pytest.raises(targets.InvalidTarget, match="names no bucket"):
        targets.target("gs:///key", token="anon")


def test_a_missing_bucket_is_a_clear_error_without_credentials(gcs_root: StoreRoot):
    secret = {"type": "authorized_user", "client_secret": "s3cr3t-value", "refresh_token": "r"}
    options = dict(gcs_root.options)
    t = targets.target("gs://no-such-bucket/out.csv", **options)
    assert not t.exists()
    with pytest.raises(targets.MissingParentDirectory) as info:
        t.write_bytes(b"x")
    message = str(info.value)
    assert "no-such-bucket" in message and "does not exist" in message
    assert "anon" not in message and "token" not in message.lower()
    assert secret["client_secret"] not in message
    d = targets.target("gs://no-such-bucket/table/", **options)
    with pytest.raises(targets.MissingParentDirectory, match="no-such-bucket"):
        with d.writer() as w, w.open("p", "wb") as f:
            f.write(b"x")
    with pytest.raises(targets.TargetNotFound, match="no-such-bucket"):
        t.read_bytes()


def test_an_unreachable_endpoint_is_store_unavailable_naming_it(gcs_root: StoreRoot, fast_retries):
    options = dict(gcs_root.options, endpoint_url="http://127.0.0.1:9", skip_instance_cache=True)
    afs, path = targets.fs.resolve(gcs_root.child("x"), **options)
    w = afs.open_output(path)
    w.write(b"x")
    with pytest.raises(targets.StoreUnavailable) as info:
        w.commit()
    assert isinstance(info.value, ConnectionError)
    message = str(info.value)
    assert "could not reach GCS at http://127.0.0.1:9" in message
    assert "outcome is unknown" in message and w.token in message
