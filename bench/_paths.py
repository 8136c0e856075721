"""The commit paths under comparison, each a function that writes one output.

Every path gets the same `Job`: where the output goes, what to write, and ``mark``, which it
calls once the last byte of data has been handed to the client; what follows ``mark`` is
the path's *commit step* (a rename, a copy, the upload of held-back files, a claim...). A
file output is ``data`` at ``url``; a directory output is ``files`` files of ``data`` each,
named ``part-00000``..., under ``url``; a Parquet output is ``data`` (a pyarrow table)
written as a Hive-partitioned dataset under ``url``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import targets
from bench._stores import Backend


@dataclasses.dataclass
class Job:
    backend: Backend
    kind: str
    """``file``, ``dir`` or ``parquet``."""
    url: str
    data: Any
    files: int
    mark: Callable[[], None]


@dataclasses.dataclass(frozen=True)
class Path:
    name: str
    family: str
    """``floor`` (the plain writes every ratio is taken against), ``floor-parallel``,
    ``reference``, ``targets``, ``fsspec``, ``luigi`` or ``obstore``."""
    write: Callable[[Job], None]
    kinds: frozenset[str]
    backends: frozenset[str] = frozenset({"local", "s3", "gcs"})
    copies: bool = False
    """Whether the commit copies data server-side on object stores."""

    def applies(self, backend: Backend, kind: str) -> bool:
        return kind in self.kinds and backend.name in self.backends


def names(job: Job) -> list[str]:
    return [f"part-{n:05d}" for n in range(job.files)]


def _write_tree(job: Job, write: Callable[[str, bytes], None], base: str) -> None:
    """Write the job's files under ``base`` (a path or URL) with ``write(path, data)``."""
    if job.kind == "file":
        write(base, job.data)
        return
    for name in names(job):
        write(f"{base}/{name}", job.data)


def _local_write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _parquet(job: Job, base: str, filesystem: Any) -> None:
    import pyarrow.dataset as ds

    ds.write_dataset(
        job.data,
        base,
        format="parquet",
        partitioning=["region"],
        partitioning_flavor="hive",
        filesystem=filesystem,
        existing_data_behavior="overwrite_or_ignore",
    )


def _plain_fs(job: Job) -> Any:
    """The filesystem pyarrow writes through: its own local one, else fsspec's."""
    if job.backend.name == "local":
        return None
    return job.backend.fs


def _fs_path(backend: Backend, url: str) -> str:
    """``url`` as the backend's fsspec and pyarrow want it (no scheme)."""
    return url.split("://", 1)[1] if "://" in url else url


# -- the floor ------------------------------------------------------------------------------


def plain(job: Job) -> None:
    b = job.backend
    if job.kind == "parquet":
        if b.name == "local":
            os.makedirs(job.url)
        _parquet(job, _fs_path(b, job.url), _plain_fs(job))
    elif job.kind == "dir":
        if b.name == "local":
            os.makedirs(job.url)
        _write_tree(job, b.put_plain, job.url)
    else:
        b.put_plain(job.url, job.data)
    job.mark()


def plain_parallel(job: Job) -> None:
    """The floor with the concurrency this library publishes with (16 requests in flight)."""
    import concurrent.futures

    b = job.backend
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        done = pool.map(lambda name: b.put_plain(f"{job.url}/{name}", job.data), names(job))
        for _ in done:
            pass
    job.mark()


def bare_renameat2(job: Job) -> None:
    """The least an atomic local file commit can do: write a hidden sibling opened with
    ``O_EXCL``, then ``renameat2(RENAME_NOREPLACE)`` onto the final name (Linux only). Not
    a path anyone should use as is (no clean-up, no error mapping): the reference that
    says what this library's layers add."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent, name = os.path.split(job.url)
    tmp = os.path.join(parent, f".{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.write(fd, job.data)
    finally:
        os.close(fd)
    job.mark()
    number = {"x86_64": 316, "aarch64": 276}[os.uname().machine]
    at_fdcwd, noreplace = -100, 1
    if libc.syscall(number, at_fdcwd, tmp.encode(), at_fdcwd, job.url.encode(), noreplace):
        raise OSError(ctypes.get_errno(), "renameat2", job.url)


# -- this library ---------------------------------------------------------------------------


def targets_open(job: Job, durable: bool = False) -> None:
    b = job.backend
    if job.kind == "file":
        t = targets.FileTarget(job.url, durable=durable, **b.options)
        with t.open("wb") as f:
            f.write(job.data)
            job.mark()
        return
    d = targets.DirectoryTarget(job.url + "/", durable=durable, **b.options)
    with d.writer() as w:
        if job.kind == "big":
            with w.open("big.bin", "wb") as f:
                for _ in range(job.files):
                    f.write(job.data)
        elif job.kind == "parquet":
            import pyarrow.parquet as pq

            for (region,), part in _partitions(job.data):
                with w.open(f"region={region}/part-0.parquet", "wb") as f:
                    pq.write_table(part, f)
        else:
            for name in names(job):
                with w.open(name, "wb") as f:
                    f.write(job.data)
        job.mark()


def targets_open_durable(job: Job) -> None:
    targets_open(job, durable=True)


def _partitions(table: Any) -> list[tuple[tuple[Any], Any]]:
    import pyarrow.compute as pc

    regions = pc.unique(table["region"]).to_pylist()
    out = []
    for region in sorted(regions):
        part = table.filter(pc.equal(table["region"], region)).drop_columns(["region"])
        out.append(((region,), part))
    return out


def targets_writer_path(job: Job) -> None:
    """A tool writes the directory through ``writer().path`` and ``writer().filesystem``
    (on object stores each file goes to its final key: nothing is copied)."""
    b = job.backend
    d = targets.DirectoryTarget(job.url + "/", durable=False, **b.options)
    with d.writer() as w:
        _parquet(job, w.path, None if b.name == "local" else w.filesystem)
        job.mark()


def targets_temporary_path(job: Job) -> None:
    b = job.backend
    if job.kind == "file":
        t = targets.FileTarget(job.url, durable=False, **b.options)
        with t.temporary_path() as tmp:
            (_local_write if b.name == "local" else b.fs.pipe_file)(tmp, job.data)
            job.mark()
        return
    d = targets.DirectoryTarget(job.url + "/", durable=False, **b.options)
    with d.temporary_path() as tmp:
        if job.kind == "parquet":
            _parquet(job, _fs_path(b, tmp), _plain_fs(job))
        elif b.name == "local":
            os.makedirs(tmp, exist_ok=True)  # like Luigi's, the path is the tool's to create
            _write_tree(job, _local_write, tmp)
        else:
            _write_tree(job, b.fs.pipe_file, tmp)
        job.mark()


# -- fsspec ---------------------------------------------------------------------------------


def _fsspec_write(fs: Any) -> Callable[[str, bytes], None]:
    def write(path: str, data: bytes) -> None:
        with fs.open(path, "wb") as f:
            f.write(data)

    return write


def fsspec_open(job: Job) -> None:
    """``fs.open(final, "wb")`` for every file: no atomicity beyond what the store gives."""
    fs = job.backend.fs
    if job.kind == "dir":
        fs.makedirs(job.url, exist_ok=True)
    _write_tree(job, _fsspec_write(fs), job.url)
    job.mark()


def fsspec_mv(job: Job) -> None:
    """Write to a temporary sibling, then ``fs.mv`` it onto the final path.

    On an object store, ``fs.mv(prefix, dst, recursive=True)`` is ``copy`` with
    ``on_error="raise"`` and then ``rm``; s3fs's copy also tries to copy the prefix itself
    as a key, which fails after the files are copied, so ``mv`` raises and leaves the
    temporary behind. What runs here is ``mv`` without that failure: ``copy`` (which skips
    it) and ``rm``, the same requests."""
    fs = job.backend.fs
    tmp = job.url + ".fsspec-tmp"
    if job.kind == "dir":
        fs.makedirs(tmp, exist_ok=True)
    _write_tree(job, _fsspec_write(fs), tmp)
    job.mark()
    if job.kind == "dir" and job.backend.name != "local":
        fs.copy(tmp, job.url, recursive=True)
        fs.rm(tmp, recursive=True)
    else:
        fs.mv(tmp, job.url, recursive=job.kind == "dir")


def fsspec_transaction(job: Job) -> None:
    """Files opened inside ``fs.transaction`` are committed together when it ends."""
    fs = job.backend.fs
    if job.kind == "dir":
        fs.makedirs(job.url, exist_ok=True)
    with fs.transaction:
        _write_tree(job, _fsspec_write(fs), job.url)
        job.mark()


# -- Luigi ----------------------------------------------------------------------------------


def luigi_open(job: Job) -> None:
    """``target.open("w")``: Luigi's atomic file (a local temporary, then a move or an
    upload)."""
    b = job.backend
    if job.kind == "dir":
        if b.name == "local":
            os.makedirs(job.url)
        for name in names(job):
            with b.luigi_target(f"{job.url}/{name}").open("w") as f:
                f.write(job.data)
        job.mark()
        return
    f = b.luigi_target(job.url).open("w")
    f.write(job.data)
    job.mark()
    f.close()


def luigi_temporary_path(job: Job) -> None:
    """``target.temporary_path()``: write to ``<path>-luigi-tmp-<n>``, then
    ``fs.rename_dont_move`` (check, then move: a copy and a delete on S3)."""
    b = job.backend
    t = b.luigi_target(job.url)
    with t.temporary_path() as tmp:
        if b.name == "local":
            if job.kind == "dir":
                os.makedirs(tmp)
            _write_tree(job, _local_write, tmp)
        else:
            client = t.fs
            _write_tree(job, lambda path, data: client.put_string(data, path), tmp)
        job.mark()


# -- obstore --------------------------------------------------------------------------------


def obstore_create(job: Job) -> None:
    """``obstore.put(..., mode="create")`` to each final key."""
    import obstore

    store = job.backend.obstore()
    key = job.backend.obstore_key(job.url)
    if job.kind == "file":
        obstore.put(store, key, job.data, mode="create")
    else:
        for name in names(job):
            obstore.put(store, f"{key}/{name}", job.data, mode="create")
    job.mark()


def obstore_rename(job: Job) -> None:
    """``put`` to a temporary key, then ``rename(..., overwrite=False)`` (on S3 a copy into
    a multipart upload completed with ``If-None-Match``, then a delete)."""
    import obstore

    store = job.backend.obstore()
    key = job.backend.obstore_key(job.url)
    pairs = (
        [(key + ".obstore-tmp", key)]
        if job.kind == "file"
        else [(f"{key}.obstore-tmp/{n}", f"{key}/{n}") for n in names(job)]
    )
    for tmp, _final in pairs:
        obstore.put(store, tmp, job.data)
    job.mark()
    for tmp, final in pairs:
        obstore.rename(store, tmp, final, overwrite=False)


FILE_AND_DIR = frozenset({"file", "dir"})
ALL = frozenset({"file", "dir", "parquet"})

PATHS: list[Path] = [
    Path("plain writes (floor)", "floor", plain, ALL),
    Path(
        "plain writes, 16 at a time",
        "floor-parallel",
        plain_parallel,
        frozenset({"dir"}),
        backends=frozenset({"s3", "gcs"}),
    ),
    Path(
        "bare temp + renameat2 (reference)",
        "reference",
        bare_renameat2,
        frozenset({"file"}),
        backends=frozenset({"local"}),
    ),
    Path("targets: open() / writer()", "targets", targets_open, ALL),
    Path(
        "targets: open(), durable=True",
        "targets",
        targets_open_durable,
        frozenset({"file"}),
        backends=frozenset({"local"}),
    ),
    Path(
        "targets: writer().path (tool)",
        "targets",
        targets_writer_path,
        frozenset({"parquet"}),
    ),
    Path("targets: temporary_path()", "targets", targets_temporary_path, ALL, copies=True),
    Path("fsspec: open() on final path", "fsspec", fsspec_open, FILE_AND_DIR),
    Path("fsspec: temp + mv", "fsspec", fsspec_mv, FILE_AND_DIR, copies=True),
    Path("fsspec: transaction", "fsspec", fsspec_transaction, FILE_AND_DIR),
    Path(
        "Luigi: open('w')",
        "luigi",
        luigi_open,
        FILE_AND_DIR,
        backends=frozenset({"local", "s3"}),
    ),
    Path(
        "Luigi: temporary_path()",
        "luigi",
        luigi_temporary_path,
        FILE_AND_DIR,
        backends=frozenset({"local", "s3"}),
        copies=True,
    ),
    Path(
        "obstore: put(mode=create)",
        "obstore",
        obstore_create,
        FILE_AND_DIR,
        backends=frozenset({"local", "s3"}),
    ),
    Path(
        "obstore: put temp + rename",
        "obstore",
        obstore_rename,
        FILE_AND_DIR,
        backends=frozenset({"local", "s3"}),
        copies=True,
    ),
]
"""Every path, in table order."""
