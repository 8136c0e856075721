"""File outputs on S3: one conditional request straight to the final key."""

from __future__ import annotations

import threading
import types
from typing import Any

import botocore.session
import pytest

from targets.errors import TargetExistsError, UnsupportedGuarantee
from targets.fs.objectstore import conditional
from targets.fs.s3 import S3FS, check_botocore_conditional_writes
from tests.fixtures.s3 import BUCKET, PART_SIZE
from tests.s3.helpers import count_requests, lose_response


def _write(fs: S3FS, path: str, data: bytes, **kwargs: Any) -> None:
    w = fs.open_output(path, **kwargs)
    w.write(data)
    w.commit()


def _key(path: str) -> str:
    return path.split("/", 1)[1]


def _uploads(client: Any, key: str = "") -> list[dict[str, Any]]:
    return client.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])


def test_small_file_is_one_conditional_put_to_the_final_key(s3, client) -> None:
    fs, root = s3
    path = f"{root}/report.csv"
    _write(fs, path, b"warm up the probe")  # the probe runs once per bucket and process
    with count_requests(fs) as counts:
        _write(fs, f"{root}/b.csv", b"a,b\n1,2\n")
    assert dict(counts) == {"PutObject": 1}
    contents = client.list_objects_v2(Bucket=BUCKET, Prefix=_key(root))["Contents"]
    listed = [o["Key"] for o in contents]
    assert sorted(listed) == [_key(root) + "/b.csv", _key(root) + "/report.csv"]
    assert fs.open_input(f"{root}/b.csv").read() == b"a,b\n1,2\n"


def test_existing_file_is_not_replaced(s3) -> None:
    fs, root = s3
    path = f"{root}/out.txt"
    _write(fs, path, b"first")
    with pytest.raises(TargetExistsError, match="already exists"):
        _write(fs, path, b"second")
    assert fs.open_input(path).read() == b"first"


def test_empty_file_does_not_overwrite(s3) -> None:
    """s3fs's empty "xb" write overwrites; ours is a conditional put like any other."""
    fs, root = s3
    path = f"{root}/out.txt"
    _write(fs, path, b"data")
    with pytest.raises(TargetExistsError):
        _write(fs, path, b"")
    assert fs.open_input(path).read() == b"data"
    _write(fs, f"{root}/empty", b"")
    assert fs.open_input(f"{root}/empty").read() == b""


def test_multipart_file_is_invisible_until_commit(s3, client) -> None:
    fs, root = s3
    path = f"{root}/big.bin"
    data = bytes(range(256)) * (3 * PART_SIZE // 256 + 7)
    w = fs.open_output(path)
    w.write(data)
    assert not fs.exists(path)
    assert len(_uploads(client, _key(path))) == 1
    w.commit()
    assert fs.open_input(path).read() == data
    assert _uploads(client, _key(path)) == []


def test_losing_multipart_upload_is_aborted(s3, client) -> None:
    fs, root = s3
    path = f"{root}/big.bin"
    _write(fs, path, b"winner")
    w = fs.open_output(path)
    w.write(b"x" * (2 * PART_SIZE + 1))
    with pytest.raises(TargetExistsError):
        w.commit()
    assert _uploads(client, _key(path)) == []
    assert fs.open_input(path).read() == b"winner"


def test_discard_aborts_the_upload_and_publishes_nothing(s3, client) -> None:
    fs, root = s3
    path = f"{root}/big.bin"
    w = fs.open_output(path)
    w.write(b"x" * (PART_SIZE + 1))
    w.close()  # close without commit discards
    assert _uploads(client, _key(path)) == []
    assert not fs.exists(path)


def test_overwrite_is_one_plain_put(s3) -> None:
    fs, root = s3
    path = f"{root}/out.txt"
    _write(fs, path, b"old")
    with count_requests(fs) as counts:
        _write(fs, path, b"new", if_exists="overwrite")
    assert dict(counts) == {"PutObject": 1}
    assert fs.open_input(path).read() == b"new"
    _write(fs, path, b"n" * (PART_SIZE + 5), if_exists="overwrite")
    assert fs.open_input(path).read() == b"n" * (PART_SIZE + 5)


def test_concurrent_threads_one_winner(s3) -> None:
    fs, root = s3
    path = f"{root}/out.txt"
    _write(fs, f"{root}/warm", b"")
    barrier = threading.Barrier(6)
    results: dict[int, str] = {}

    def writer(i: int) -> None:
        w = fs.open_output(path)
        w.write(f"writer {i}".encode())
        barrier.wait()
        try:
            w.commit()
            results[i] = "ok"
        except TargetExistsError:
            results[i] = "exists"

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, r in results.items() if r == "ok"]
    assert len(winners) == 1
    assert fs.open_input(path).read() == f"writer {winners[0]}".encode()


@pytest.mark.parametrize("size", [5, PART_SIZE * 2 + 3], ids=["put", "multipart"])
def test_lost_response_is_resolved_by_the_writer_token(s3, size: int) -> None:
    """The conditional write succeeds on the server, the client sees a dropped connection,
    botocore retries, the retry is refused as "exists": the token says it is ours (G7)."""
    fs, root = s3
    path = f"{root}/out.bin"
    data = b"y" * size
    op = "PutObject" if size < PART_SIZE else "CompleteMultipartUpload"
    _write(fs, f"{root}/warm", b"")
    with lose_response(fs, op, lambda r: "/out.bin" in r.url) as lost:
        _write(fs, path, data)
    assert lost == [200]  # the lost request did succeed on the server
    assert fs.open_input(path).read() == data


def test_lost_response_of_a_conflicting_write_is_still_a_conflict(s3) -> None:
    fs, root = s3
    path = f"{root}/out.bin"
    _write(fs, path, b"someone else")
    with (
        lose_response(fs, "PutObject", lambda r: "/out.bin" in r.url) as lost,
        pytest.raises(TargetExistsError),
    ):
        _write(fs, path, b"mine")
    assert lost == [412]
    assert fs.open_input(path).read() == b"someone else"


def test_store_that_ignores_if_none_match_is_refused(s3, monkeypatch) -> None:
    """A store that accepts the second conditional write of the probe is not trusted (G6)."""
    fs, root = s3

    def drop_condition(params: dict[str, Any], **kwargs: Any) -> None:
        params.pop("IfNoneMatch", None)  # what a store without conditional writes amounts to

    monkeypatch.setattr("targets.fs.s3._probed", {})
    events = fs.client.meta.events
    events.register("provide-client-params.s3.PutObject", drop_condition, unique_id="drop")
    try:
        w = fs.open_output(f"{root}/out.txt")
        w.write(b"data")
        with pytest.raises(UnsupportedGuarantee, match="does not support conditional writes"):
            w.commit()
        assert not fs.exists(f"{root}/out.txt")
        assert fs.capabilities.exclusive_create is False
        with pytest.warns(RuntimeWarning, match="without exclusive create"):
            _write(fs, f"{root}/out.txt", b"data", guarantee="best-effort")
        assert fs.open_input(f"{root}/out.txt").read() == b"data"
    finally:
        events.unregister("provide-client-params.s3.PutObject", unique_id="drop")


def test_probe_runs_once_per_bucket(s3, monkeypatch) -> None:
    fs, root = s3
    monkeypatch.setattr("targets.fs.s3._probed", {})
    calls = []
    real = conditional.probe_conditional_writes
    monkeypatch.setattr(
        conditional, "probe_conditional_writes", lambda *a: calls.append(a) or real(*a)
    )
    for i in range(3):
        _write(fs, f"{root}/f{i}", b"x")
    assert len(calls) == 1
    assert fs.capabilities.exclusive_create is True


class _Model:
    """A botocore service model whose PutObject lacks IfNoneMatch (an old botocore)."""

    def __init__(self) -> None:
        self.real = botocore.session.get_session().get_service_model("s3")

    def operation_model(self, name: str) -> Any:
        op = self.real.operation_model(name)

        shape = types.SimpleNamespace(
            members={k: v for k, v in op.input_shape.members.items() if k != "IfNoneMatch"}
        )
        return types.SimpleNamespace(input_shape=shape)


def test_old_botocore_without_if_none_match_is_refused(s3, monkeypatch) -> None:
    fs, root = s3
    assert check_botocore_conditional_writes(fs.client.meta.service_model) is None
    problem = check_botocore_conditional_writes(_Model())
    assert problem is not None and "botocore>=1.35.20" in problem
    monkeypatch.setattr(fs, "_model_problem", problem)
    w = fs.open_output(f"{root}/out.txt")
    w.write(b"x")
    with pytest.raises(UnsupportedGuarantee, match="upgrade"):
        w.commit()
    assert not fs.exists(f"{root}/out.txt")
