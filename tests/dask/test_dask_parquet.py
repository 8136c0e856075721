"""`targets.dask` on a real `distributed.LocalCluster` (two worker processes), on the local
disk, S3 (moto) and GCS (fake-gcs-server).

The store is looked at directly after each write: everything under the test's root, hidden
names and (on S3) pending multipart uploads included, so a job that leaves a staging
directory, a task record or an upload behind fails the test that names it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import targets
from targets.fs.objectstore import ObjectStoreFS
from tests.dask import workers
from tests.fixtures import StoreRoot

dd = pytest.importorskip("dask.dataframe")
tdask = pytest.importorskip("targets.dask")

PARTS = 6
PER_PART = 200


def frame(parts: int = PARTS, marker_dir: str | None = None) -> Any:
    """A Dask DataFrame of ``parts * PER_PART`` rows with unique ids, built on the workers."""
    meta = workers.rows(0, 0)
    return dd.from_map(workers.rows, range(parts), args=(PER_PART, marker_dir), meta=meta)


def expected(parts: int = PARTS) -> pd.DataFrame:
    return pd.concat([workers.rows(i, PER_PART) for i in range(parts)], ignore_index=True)


def everything(root: StoreRoot) -> list[str]:
    """Every file, directory or object under the root (hidden ones too), relative to it,
    and every pending upload under it (as ``upload:<key>``)."""
    afs, path = targets.fs.resolve(root.url, **root.options)
    if isinstance(afs, ObjectStoreFS):
        store, prefix = afs.locate(path)
        found = [o.key[len(prefix) + 1 :] for o in store.list(prefix + "/")]
        found += [f"upload:{u.key[len(prefix) + 1 :]}" for u in store.list_uploads(prefix + "/")]
        return sorted(found)
    base = pathlib.Path(path)
    return sorted(str(p.relative_to(base)) for p in base.rglob("*"))


def assert_committed_only(root: StoreRoot, name: str, files: list[str]) -> None:
    """The output holds its files and ``_SUCCESS`` (an object store also its claim object),
    and nothing else is anywhere under the root."""
    allowed = {name, f"{name}/_SUCCESS", f"{name}/_targets_claim"}
    for file in files:
        parts = file.split("/")
        allowed |= {"/".join([name, *parts[: i + 1]]) for i in range(len(parts))}
    left = [p for p in everything(root) if p not in allowed]
    assert left == [], f"left behind: {left}"


def assert_same_rows(back: pd.DataFrame, parts: int = PARTS) -> None:
    """``back`` holds exactly the rows of the test frame's ``parts`` partitions, in any
    order. Dask keeps text as its own string dtype (``dataframe.convert-string``); the
    expected frame is cast to it, every other dtype must match."""
    want = expected(parts)
    want["group"] = want["group"].astype(back["group"].dtype)
    got = back.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_like=True)


def test_all_rows_come_back_one_file_per_partition(client: Any, root: StoreRoot) -> None:
    """Fails if a row is lost or doubled, a partition is written twice or under another
    name, or the job leaves anything beside the output."""
    table = targets.DirectoryTarget(root.child("orders/"), **root.options)
    manifest = tdask.to_parquet(frame(), table)
    names = [f"part.{i}.parquet" for i in range(PARTS)]
    assert sorted(e["name"] for e in manifest["files"]) == sorted(names)
    assert sorted(table.files()) == sorted(names)
    back = tdask.read_parquet(table).compute()
    assert_same_rows(back)
    assert_committed_only(root, "orders", names)


def test_partition_on_writes_hive_folders_and_reads_them_back(
    client: Any, local_root: StoreRoot
) -> None:
    """Fails if the rows of a group land outside ``group=<value>/``, the column stays in
    the files, or the read loses it."""
    table = targets.DirectoryTarget(local_root.child("orders/"))
    manifest = tdask.to_parquet(frame(), table, partition_on=["group"], compression="zstd")
    names = sorted(e["name"] for e in manifest["files"])
    assert names == sorted(f"group=g{g}/part.{i}.parquet" for g in range(3) for i in range(PARTS))
    with table.open("group=g1/part.0.parquet") as f:
        written = pq.read_table(f)
    assert "group" not in written.column_names
    assert set(written.column("id").to_pylist()) == {i for i in range(PER_PART) if i % 3 == 1}
    with table.open(names[0]) as f:
        assert pq.ParquetFile(f).metadata.row_group(0).column(0).compression == "ZSTD"
    back = tdask.read_parquet(table).compute()
    assert isinstance(back["group"].dtype, pd.CategoricalDtype)
    back["group"] = back["group"].astype("str")
    assert_same_rows(back)
    assert_committed_only(local_root, "orders", names)


def test_a_schema_and_pyarrow_options_pass_through(client: Any, local_root: StoreRoot) -> None:
    """Fails if ``schema`` (a column stored as int32) or a ``write_table`` option
    (``row_group_size``) is dropped on the way to the files."""
    table = targets.DirectoryTarget(local_root.child("orders/"))
    tdask.to_parquet(frame(2), table, schema={"id": pa.int32()}, row_group_size=50)
    with table.open("part.1.parquet") as f:
        meta = pq.ParquetFile(f).metadata
        schema = pq.ParquetFile(f).schema_arrow
    assert schema.field("id").type == pa.int32()
    assert meta.num_row_groups == PER_PART // 50
    back = tdask.read_parquet(table, columns=["id"]).compute()
    assert sorted(back["id"]) == list(range(2 * PER_PART))


def test_a_second_write_fails_before_any_partition_runs(
    client: Any, root: StoreRoot, tmp_path: pathlib.Path
) -> None:
    """A committed output, then one a live job holds: ``to_parquet`` raises
    `TargetExistsError` and no partition ran (each would leave a trace in ``ran/``). Fails
    if anything is computed before the output is claimed."""
    ran = tmp_path / "ran"
    ran.mkdir()
    table = targets.DirectoryTarget(root.child("orders/"), **root.options)
    tdask.to_parquet(frame(2), table)
    with pytest.raises(targets.TargetExistsError):
        tdask.to_parquet(frame(marker_dir=str(ran)), table)
    other = targets.DirectoryTarget(root.child("claimed/"), **root.options)
    with other.job():
        with pytest.raises(targets.TargetExistsError):
            tdask.to_parquet(frame(marker_dir=str(ran)), other)
    assert list(ran.iterdir()) == []
    assert not other.exists()
    # the control: the same frame does run its partitions when the output is free
    free = targets.DirectoryTarget(root.child("free/"), **root.options)
    tdask.to_parquet(frame(marker_dir=str(ran)), free)
    assert len(list(ran.iterdir())) == PARTS


def test_a_failing_partition_leaves_the_output_absent_and_free(
    client: Any, root: StoreRoot
) -> None:
    """Fails if a partition's error lets anything through to the output, leaves the job's
    staging behind, or keeps the output claimed (the retry must succeed)."""
    table = targets.DirectoryTarget(root.child("orders/"), **root.options)
    bad = dd.from_map(
        workers.failing_rows, range(PARTS), args=(PER_PART, 3), meta=workers.rows(0, 0)
    )
    with pytest.raises(RuntimeError, match="partition 3 fails on purpose"):
        tdask.to_parquet(bad, table)
    assert not table.exists()
    deadline = time.monotonic() + 10  # tasks still running when the error came back
    while everything(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert everything(root) == []
    tdask.to_parquet(frame(), table)
    assert len(tdask.read_parquet(table).compute()) == PARTS * PER_PART


def test_read_reads_only_the_manifest_files(client: Any, root: StoreRoot) -> None:
    """A foreign Parquet file and a straggler's late ``part.<n>.parquet`` dropped into the
    output: a plain directory reader picks them up (the control), `read_parquet` does not.
    Fails if the read lists the directory instead of the manifest."""
    table = targets.DirectoryTarget(root.child("orders/"), **root.options)
    tdask.to_parquet(frame(2), table)
    afs, path = targets.fs.resolve(table.url, **root.options)
    stray = pa.Table.from_pandas(workers.rows(50, PER_PART), preserve_index=True)
    for name in ("foreign.parquet", "part.7.parquet"):
        sink = pa.BufferOutputStream()
        pq.write_table(stray, sink)
        afs.fsspec.pipe_file(afs.join(path, name), sink.getvalue().to_pybytes())
    listing = pq.ParquetDataset(path, filesystem=afs.fsspec).read()
    assert listing.num_rows == 4 * PER_PART  # the control: a listing reads the strays
    back = tdask.read_parquet(table).compute()
    assert_same_rows(back, 2)


def test_read_refuses_an_uncommitted_output_and_a_replaced_one(
    client: Any, local_root: StoreRoot
) -> None:
    """Fails if an output that was never committed reads as empty, or if a read started
    on one version hands out rows of its replacement."""
    missing = targets.DirectoryTarget(local_root.child("missing/"))
    with pytest.raises(targets.TargetNotFound):
        tdask.read_parquet(missing)
    with missing.job():  # claimed, not committed
        with pytest.raises(targets.TargetNotFound):
            tdask.read_parquet(missing)
    table = targets.DirectoryTarget(local_root.child("orders/"))
    tdask.to_parquet(frame(2), table)
    lazy = tdask.read_parquet(table)
    replaced = targets.DirectoryTarget(local_root.child("orders/"), if_exists="overwrite")
    with replaced.writer() as w, w.open("part.0.parquet", "wb") as f:
        pq.write_table(pa.Table.from_pandas(workers.rows(9, 3)), f)
    with pytest.raises(targets.OutputChanged):
        lazy.compute()


def test_the_cluster_binds_and_connects_on_loopback_only(client: Any) -> None:
    """Every socket of this process and its children (the workers, the test servers) is on
    127.0.0.1. Fails if anything listens on all interfaces or talks to another address."""
    client.submit(sum, [1, 2]).result()
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert all(a.startswith("tcp://127.0.0.1:") for a in client.scheduler_info()["workers"])
    me = psutil.Process()
    seen = 0
    for process in [me, *me.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for c in connections:
            seen += 1
            assert c.laddr.ip in ("127.0.0.1", "::1"), (process.pid, c)
            assert not c.raddr or c.raddr.ip in ("127.0.0.1", "::1"), (process.pid, c)
    assert seen > 4  # the scheduler, two workers and their links were looked at


def test_import_targets_does_not_import_dask() -> None:
    """Fails if ``import targets`` pulls in dask (it must work without dask installed)."""
    code = "import sys, targets; sys.exit('dask' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], env=os.environ.copy(), timeout=60)
    assert done.returncode == 0


def test_a_worker_killed_mid_write_still_gives_each_partition_once(
    client: Any, root: StoreRoot, tmp_path: pathlib.Path
) -> None:
    """One worker SIGKILLs itself halfway through writing a file (bytes of it flushed to the
    store); Dask reruns what it held on the other worker or its replacement. Fails if a
    partition is missing or doubled, if the killed attempt's half file or any staging, task
    record or pending upload is left anywhere under the root, or if no worker died."""
    marker = str(tmp_path / "killed")
    pids = set(client.run(workers.arm_kill, marker, 2).values())
    try:
        table = targets.DirectoryTarget(root.child("orders/"), **root.options)
        manifest = tdask.to_parquet(frame(8), table)
    finally:
        client.run(workers.disarm)
    killed = int(pathlib.Path(marker).read_text())
    assert killed in pids and not psutil.pid_exists(killed), "no worker was killed"
    names = [f"part.{i}.parquet" for i in range(8)]
    assert sorted(e["name"] for e in manifest["files"]) == sorted(names)
    back = tdask.read_parquet(table).compute()
    assert back["id"].is_unique and len(back) == 8 * PER_PART
    assert_same_rows(back, 8)
    assert_committed_only(root, "orders", names)
