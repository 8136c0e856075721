"""pyarrow: ``pq.write_to_dataset`` and ``pyarrow.dataset.write_dataset`` into a directory
target's writer (examples/pyarrow_dataset.py), on local disk, S3 and GCS."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import targets
from tests.integrations.conftest import load_example

example = load_example("pyarrow_dataset")
WRITERS = [example.write_with_write_to_dataset, example.write_with_write_dataset]


@pytest.mark.parametrize("write", WRITERS, ids=lambda f: f.__name__)
def test_a_dataset_is_committed_whole_and_reads_back(root, write):
    table = example.sales()
    out = targets.DirectoryTarget(root.child("sales/"), **root.options)
    write(out, table)

    assert out.exists()
    names = out.files()
    assert len(names) == 4 and {n.split("/")[0] for n in names} == {
        "region=east",
        "region=north",
        "region=south",
        "region=west",
    }
    back = example.read_back(out).sort_by("order_id")
    assert back.num_rows == 1000
    assert back.column("amount_cents").to_pylist() == table.column("amount_cents").to_pylist()
    assert targets.verify(out.url, **root.options).ok

    with pytest.raises(targets.TargetExistsError):  # a second run never mixes into the first
        write(out, table.slice(0, 10))
    assert example.read_back(out).num_rows == 1000


def test_a_dataset_writer_that_fails_leaves_nothing(root):
    out = targets.DirectoryTarget(root.child("sales/"), **root.options)
    with pytest.raises(RuntimeError, match="failed halfway"), out.writer() as w:
        ds.write_dataset(
            pa.table({"x": [1, 2, 3]}), w.path, filesystem=w.filesystem, format="parquet"
        )
        raise RuntimeError("the job failed halfway")
    status = targets.status(out.url, **root.options)
    assert status.state == "absent" and status.stale == status.recent == []
