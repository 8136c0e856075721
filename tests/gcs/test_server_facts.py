"""What fake-gcs-server really enforces, pinned down so that a new release that changes it
is noticed. The GCS protocols rest their decisions on the first fact only; the others are
why some behaviours can be confirmed only on real GCS (see test_races.py and
docs/protocols-gcs.md)."""

from __future__ import annotations

import pytest
from fsspec.asyn import sync

from targets.fs.gcs import GCSFS
from targets.fs.objectstore.store import TOKEN_KEY, PreconditionFailed

META = {TOKEN_KEY: "0" * 32}


@pytest.fixture
def store(afs: GCSFS, base: str):
    bucket, prefix = base.split("/", 1)
    return afs.store(bucket), prefix


def test_single_request_uploads_honour_if_generation_match_0(store):
    s, p = store
    s.put(f"{p}/a", b"1", metadata=META, if_absent=True)
    with pytest.raises(PreconditionFailed):
        s.put(f"{p}/a", b"2", metadata=META, if_absent=True)
    assert s.get(f"{p}/a") == b"1"


def test_resumable_uploads_ignore_if_generation_match_0(store):
    s, p = store
    s.put(f"{p}/a", b"1", metadata=META, if_absent=True)
    # sent with ifGenerationMatch=0
    upload = s.create_upload(f"{p}/a", metadata=META, if_absent=True)
    s.upload_part(f"{p}/a", upload, 1, b"2")
    s.complete_upload(f"{p}/a", upload, [], if_absent=True)  # real GCS: 412
    assert s.get(f"{p}/a") == b"2"


def test_rewrites_ignore_if_generation_match_0(store):
    s, p = store
    s.put(f"{p}/a", b"1", metadata=META, if_absent=True)
    s.put(f"{p}/b", b"2", metadata=META, if_absent=True)
    _rewrite(s, f"{p}/b", f"{p}/a")  # with ifGenerationMatch=0, without the adapter's look
    assert s.get(f"{p}/a") == b"2"  # real GCS: 412, "a" keeps b"1"


def _rewrite(s, src: str, dst: str) -> None:
    sync(
        s.gcs.loop,
        s.gcs._call,
        "POST",
        f"{s._object_url(src)}/rewriteTo/b/{s._object_url(dst).removeprefix('b/')}",
        ifGenerationMatch="0",
        json={},
        headers={"Content-Type": "application/json"},
        json_out=True,
    )


def test_deletes_ignore_if_generation_match(store):
    s, p = store
    s.put(f"{p}/a", b"1", metadata=META, if_absent=True)
    s.delete(f"{p}/a", if_match="1")  # not its generation: real GCS answers 412
    assert s.head(f"{p}/a") is None


def test_a_cancelled_session_can_still_be_finalised(store):
    s, p = store
    upload = s.create_upload(f"{p}/a", metadata=META, if_absent=True)
    sync(s.gcs.loop, s._abort, upload)  # real GCS: the session is gone (499, then 404)
    sync(
        s.gcs.loop, s.gcs._call, "PUT", upload, headers={"Content-Range": "bytes 0-0/1"}, data=b"x"
    )
    assert s.get(f"{p}/a") == b"x"


def test_a_repeated_finalisation_is_404_so_the_token_decides(store):
    s, p = store
    upload = s.create_upload(f"{p}/a", metadata=META, if_absent=True)
    sync(
        s.gcs.loop, s.gcs._call, "PUT", upload, headers={"Content-Range": "bytes 0-0/1"}, data=b"x"
    )
    with pytest.raises(FileNotFoundError):  # real GCS answers 200 with the object
        sync(
            s.gcs.loop,
            s.gcs._call,
            "PUT",
            upload,
            headers={"Content-Range": "bytes 0-0/1"},
            data=b"x",
        )
    assert s.head(f"{p}/a").metadata[TOKEN_KEY] == META[TOKEN_KEY]


def test_objects_move_is_not_implemented_and_answers_404(store):
    """So a 404 from objects.move while the source is there means "no objects.move": the
    backend then copies conditionally and deletes the source."""
    s, p = store
    s.put(f"{p}/a", b"1", metadata=META, if_absent=True)
    with pytest.raises(FileNotFoundError):  # real GCS: 200, the object renamed
        sync(s.gcs.loop, s._move, f"{p}/a", f"{p}/b")
    assert s.get(f"{p}/a") == b"1" and s.head(f"{p}/b") is None
