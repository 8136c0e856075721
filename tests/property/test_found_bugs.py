"""Bugs the property machine found, kept as small deterministic tests.

Each was marked ``xfail(strict=True)`` until the library was fixed; the strictness made the
test fail once the fix landed, and the mark was removed then. Fixed so far: a retried
multipart completion of an overwrite (resolved by the writer token, like the exclusive path).
"""

from __future__ import annotations

from targets.fs._objectfs import ObjectStoreFS
from targets.testing.objectstore import MemoryObjectStore


class RetriedCompletion(MemoryObjectStore):
    """S3 as a client that retries sees it: a CompleteMultipartUpload takes effect, its
    answer is lost, the client sends it again and gets NoSuchUpload (the upload is gone
    because it was completed)."""

    def complete_upload(self, key, upload_id, parts, *, if_absent):
        super().complete_upload(key, upload_id, parts, if_absent=if_absent)
        return super().complete_upload(key, upload_id, parts, if_absent=if_absent)


def test_an_overwrite_whose_multipart_completion_is_retried_reports_success():
    """Invariant (G7): a commit whose request took effect and was retried reports success
    when the published object carries the writer's token."""
    store = RetriedCompletion("bucket", part_size=16)
    afs = ObjectStoreFS.mount(store)
    data = b"0123456789" * 5  # more than one part: a multipart upload
    writer = afs.open_output("bucket/out.bin", if_exists="overwrite")
    writer.write(data)
    writer.commit()
    assert store.objects() == {"out.bin": data}
