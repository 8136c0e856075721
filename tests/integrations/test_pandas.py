"""pandas: ``to_parquet`` and ``to_csv`` through ``open("wb")`` (examples/pandas_outputs.py),
on local disk, S3 and GCS."""

from __future__ import annotations

import pandas as pd
import pytest

import targets
from tests.integrations.conftest import load_example

example = load_example("pandas_outputs")
FORMATS = [
    (example.write_parquet, example.read_parquet, "orders.parquet"),
    (example.write_csv, example.read_csv, "orders.csv"),
]


@pytest.mark.parametrize(("write", "read", "name"), FORMATS, ids=["parquet", "csv"])
def test_a_dataframe_is_committed_and_reads_back_equal(root, write, read, name):
    df = example.orders()
    out = targets.FileTarget(root.child(name), **root.options)
    write(out, df)
    assert out.exists()
    pd.testing.assert_frame_equal(read(out), df, check_dtype=False)
    with pytest.raises(targets.TargetExistsError):  # no silent clobber of the first run
        write(out, df.head(3))
    assert len(read(out)) == len(df)


@pytest.mark.parametrize(("method", "name"), [("to_csv", "o.csv"), ("to_parquet", "o.parquet")])
def test_a_write_that_fails_halfway_publishes_nothing(root, method, name):
    out = targets.FileTarget(root.child(name), **root.options)
    with pytest.raises(RuntimeError, match="died"), out.open("wb") as f:
        getattr(example.orders(), method)(f, index=False)
        raise RuntimeError("the task died after pandas wrote")
    assert not out.exists()
    assert targets.status(out.url, **root.options).state == "absent"


def test_the_example_writes_both_files_then_skips_them(root, capsys):
    assert example.main([root.url]) == 0
    assert capsys.readouterr().out.count("500 rows") == 2
    assert example.main([root.url]) == 0
    assert capsys.readouterr().out.count("complete, skipped") == 2
