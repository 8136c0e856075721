"""Dask DataFrames to and from a `DirectoryTarget`, as Parquet, committed once.

`to_parquet` writes a Dask DataFrame the way ``DataFrame.to_parquet`` does (one file per
partition, compression, schema, ``partition_on``), but through a job of the target
(`DirectoryTarget.job`): the output is claimed before any partition runs, each partition is
one task of the job, and the client commits the whole output at the end. A partition that
Dask runs twice (its worker died, its result was lost) is published once; a run that fails
leaves the output absent. `read_parquet` reads exactly the files the output's manifest lists,
within the version the client listed::

    import targets
    from targets.dask import read_parquet, to_parquet

    table = targets.DirectoryTarget("s3://bucket/daily/orders/")
    to_parquet(orders, table, partition_on=["region"])    # claims, writes, commits
    back = read_parquet(table)                            # the manifest's files only

Install with ``pip install 'targets[dask]'``. Workers open the target from a pickled copy,
which holds no credentials: they find theirs in their own environment (``AWS_*`` variables,
a credentials file, a metadata service), as the storage clients do.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal, Union

from targets._target import DirectoryTarget
from targets.errors import BackendNotInstalled, InvalidTarget, OutputChanged

try:
    import dask.dataframe as dd
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from dask.base import compute
    from dask.delayed import delayed
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise BackendNotInstalled(
        f"targets.dask needs dask[dataframe] and pyarrow ({exc}); install them with "
        "pip install 'targets[dask]'"
    ) from exc

if TYPE_CHECKING:
    from targets._job import Job
    from targets.fs.job import TaskRecord

__all__ = ["read_parquet", "to_parquet"]

SchemaArg = Union["pa.Schema", Mapping[str, Any], Literal["infer"], None]

_PART_NAME = re.compile(r"^part\.(\d+)\.parquet$")
_DIGITS = re.compile(r"(\d+)")


def _default_name(index: int) -> str:
    return f"part.{index}.parquet"


def to_parquet(
    df: dd.DataFrame,
    target: DirectoryTarget | str,
    *,
    compression: str | Mapping[str, str] | None = "snappy",
    schema: SchemaArg = "infer",
    partition_on: Sequence[str] | str | None = None,
    write_index: bool = True,
    name_function: Callable[[int], str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **pyarrow_kwargs: Any,
) -> dict[str, Any]:
    """Write ``df`` to ``target`` as Parquet, one file per partition, committed once.

    The output is claimed before any partition runs: a committed output (unless the target
    has ``if_exists="overwrite"``) or one a live writer holds raises `TargetExistsError`
    and computes nothing. Each partition is a task of the job; Dask's retries and reruns of
    a partition publish it once. Until the commit nothing is visible at the output; an
    error in any partition aborts the job and leaves the output absent. Runs on the
    current Dask scheduler (a ``distributed.Client`` if one is active).

    Args:
        df: The Dask DataFrame.
        target: A `DirectoryTarget`, or a path or URL (with ``storage_options``).
        compression: Parquet compression, as pyarrow takes it (a codec, or one per
            column); ``None`` for none.
        schema: ``"infer"`` (the default): one schema for every file, from ``df``'s
            metadata, object columns typed from the first partition; a ``pyarrow.Schema``;
            a mapping of column names to pyarrow types overriding the inferred ones; or
            ``None``: each partition infers its own.
        partition_on: Columns to split the output by, Hive style: a partition's rows with
            ``region == "north"`` go to ``region=north/part.<i>.parquet`` (values
            URL-quoted), without the column. Missing values there are refused.
        write_index: Store the index as a column (restored by `read_parquet`).
        name_function: The file name of partition ``i`` (default ``part.<i>.parquet``);
            it must give each partition its own name.
        storage_options: Options for the store when ``target`` is a path or URL.
        **pyarrow_kwargs: Passed to ``pyarrow.parquet.write_table`` (``row_group_size``,
            ``use_dictionary``...).

    Returns:
        The committed manifest (the parsed ``_SUCCESS``).
    """
    table = _directory(target, storage_options)
    keys = _partition_columns(df, partition_on)
    naming = name_function or _default_name
    with table.job() as job:  # claims now; aborts on any error below
        arrow_schema = _resolve_schema(df, schema, keys, write_index)
        options = _WriteOptions(
            keys=tuple(keys),
            schema=arrow_schema,
            write_index=write_index,
            compression=compression,
            naming=naming,
            pyarrow_kwargs=dict(pyarrow_kwargs),
        )
        write = delayed(_write_partition, pure=False)
        tasks = [write(job, i, part, options) for i, part in enumerate(df.to_delayed())]
        records: tuple[TaskRecord, ...] = compute(*tasks)
        return job.commit(records)


def read_parquet(
    target: DirectoryTarget | str,
    *,
    columns: Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dd.DataFrame:
    """A Dask DataFrame over exactly the files the committed output's manifest lists.

    Files under the output that the manifest does not list (a straggler's, another tool's)
    are never read. Each partition reads the version of the output listed here, or raises
    `OutputChanged` if the output was replaced meanwhile; never a mix of two versions.
    Columns of ``partition_on`` come back from the file names as categoricals (integer
    categories when every value is an integer).

    Args:
        target: A `DirectoryTarget`, or a path or URL (with ``storage_options``).
        columns: The columns to read (all by default).
        storage_options: Options for the store when ``target`` is a path or URL.
        **kwargs: Passed to ``pyarrow.parquet.read_table`` (``use_threads``...).

    Raises:
        TargetNotFound: the output is not committed.
        InvalidTarget: the output lists no file to read.
    """
    table = _directory(target, storage_options)
    manifest = table.manifest()  # TargetNotFound unless committed
    # a bare marker (Hadoop, Spark) has no file list: its listed data files then
    names = [str(e["name"]) for e in manifest["files"]] if manifest else table.files()
    if not names:
        raise InvalidTarget(
            f"{table.url} is committed but holds no file to read as Parquet", table.url
        )
    names.sort(key=_file_order)
    reader = _PartReader(table, _digest(manifest), _hive_keys(names), dict(kwargs))
    with table.open(names[0]) as first:
        meta = reader.frame(pq.read_schema(_random_access(first)).empty_table(), names[0])
    frame: dd.DataFrame = dd.from_map(reader, names, meta=meta, label="targets-read-parquet")
    return frame[list(columns)] if columns is not None else frame


# -- writing -----------------------------------------------------------------------------


class _WriteOptions:
    """What every partition's task needs, pickled once per task."""

    def __init__(
        self,
        *,
        keys: tuple[str, ...],
        schema: pa.Schema | None,
        write_index: bool,
        compression: str | Mapping[str, str] | None,
        naming: Callable[[int], str],
        pyarrow_kwargs: dict[str, Any],
    ) -> None:
        self.keys = keys
        self.schema = schema
        self.write_index = write_index
        self.compression = compression
        self.naming = naming
        self.pyarrow_kwargs = pyarrow_kwargs


def _write_partition(job: Job, index: int, frame: pd.DataFrame, options: _WriteOptions) -> Any:
    """Task ``index`` of ``job``: the partition's file(s), written invisibly; its record."""
    with job.task(index, attempt=0) as task:
        for name, part in _split(frame, index, options):
            table = pa.Table.from_pandas(
                part, schema=options.schema, preserve_index=options.write_index
            )
            with task.open(name, "wb") as f:
                pq.write_table(table, f, compression=options.compression, **options.pyarrow_kwargs)
    return task.record


def _split(
    frame: pd.DataFrame, index: int, options: _WriteOptions
) -> Iterator[tuple[str, pd.DataFrame]]:
    """The files of one partition: ``(name, rows)``; one per value of the partition keys."""
    name = options.naming(index)
    if not options.keys:
        yield name, frame
        return
    keys = list(options.keys)
    missing = frame[keys].isna().any()
    if missing.any():
        raise InvalidTarget(
            f"partition {index} has missing values in the partition_on column(s) "
            f"{list(missing[missing].index)}; fill them (fillna) before writing"
        )
    for values, rows in frame.groupby(keys, sort=True, observed=True):
        folder = "/".join(
            f"{key}={urllib.parse.quote(str(value), safe='')}"
            for key, value in zip(keys, values, strict=True)
        )
        yield f"{folder}/{name}", rows.drop(columns=keys)


def _partition_columns(df: dd.DataFrame, partition_on: Sequence[str] | str | None) -> list[str]:
    if partition_on is None:
        return []
    keys = [partition_on] if isinstance(partition_on, str) else list(partition_on)
    absent = [key for key in keys if key not in df.columns]
    if absent:
        raise InvalidTarget(f"partition_on names columns the DataFrame lacks: {absent}")
    return keys


def _resolve_schema(
    df: dd.DataFrame, schema: SchemaArg, keys: list[str], write_index: bool
) -> pa.Schema | None:
    """The one schema every file is written with (``None``: each partition infers)."""
    if schema is None or isinstance(schema, pa.Schema):
        return schema
    if schema != "infer" and not isinstance(schema, Mapping):
        raise InvalidTarget(
            f"schema={schema!r}: pass 'infer', a pyarrow.Schema, a mapping of column names "
            "to pyarrow types, or None"
        )
    meta: pd.DataFrame = df._meta.drop(columns=keys)
    inferred = pa.Schema.from_pandas(meta, preserve_index=write_index)
    if any(pa.types.is_null(field.type) for field in inferred):
        sample = df.partitions[0].compute().drop(columns=keys)
        sampled = pa.Schema.from_pandas(sample, preserve_index=write_index)
        inferred = _replace_null_fields(inferred, sampled)
    if isinstance(schema, Mapping):
        for name, type_ in schema.items():
            at = inferred.get_field_index(name)
            if at < 0:
                raise InvalidTarget(f"schema names a column the DataFrame lacks: {name!r}")
            inferred = inferred.set(at, pa.field(name, type_))
    return inferred


def _replace_null_fields(schema: pa.Schema, sampled: pa.Schema) -> pa.Schema:
    for at, field in enumerate(schema):
        if pa.types.is_null(field.type) and sampled.get_field_index(field.name) >= 0:
            schema = schema.set(at, sampled.field(field.name))
    return schema


# -- reading -----------------------------------------------------------------------------


class _PartReader:
    """Reads one file of the output into a pandas frame, checking the output's version."""

    def __init__(
        self,
        target: DirectoryTarget,
        digest: str,
        keys: dict[str, list[Any]],
        kwargs: dict[str, Any],
    ) -> None:
        self.target = target
        self.digest = digest
        self.keys = keys
        self.kwargs = kwargs

    def __call__(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        target = self.target
        if _digest(target.manifest()) != self.digest:
            raise OutputChanged(
                f"{target.url} was replaced since its files were listed for reading; nothing "
                "of the new version was read. Call read_parquet again to read the current one",
                target.url,
            )
        wanted = None if columns is None else [c for c in columns if c not in self.keys]
        with target.open(name) as f:
            table = pq.read_table(
                _random_access(f), columns=wanted, use_pandas_metadata=True, **self.kwargs
            )
        frame = self.frame(table, name)
        return frame if columns is None else frame[list(columns)]

    def frame(self, table: pa.Table, name: str) -> pd.DataFrame:
        """``table`` as pandas, with the partition columns ``name``'s folders give."""
        frame: pd.DataFrame = table.to_pandas()
        values = dict(_folders(name))
        for key, categories in self.keys.items():
            value = _typed(values[key], categories)
            frame[key] = pd.Categorical([value] * len(frame), categories=categories)
        return frame

    def __dask_tokenize__(self) -> tuple[str, str, str]:
        return (type(self).__name__, self.target.url, self.digest)


def _random_access(f: IO[bytes]) -> Any:
    """``f`` if it can seek (Parquet reads its footer first), else its bytes in memory (an
    object store's stream, read within the version the manifest names)."""
    return f if f.seekable() else pa.BufferReader(f.read())


def _folders(name: str) -> Iterator[tuple[str, str]]:
    for segment in name.split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if sep:
            yield key, urllib.parse.unquote(value)


def _hive_keys(names: list[str]) -> dict[str, list[Any]]:
    """The partition columns every file's folders name, with their sorted categories."""
    found = [dict(_folders(name)) for name in names]
    common = set(found[0]).intersection(*found[1:]) if found else set()
    keys: dict[str, list[Any]] = {}
    for key in (k for k in found[0] if k in common):
        raw = sorted({values[key] for values in found})
        if all(re.fullmatch(r"-?\d+", value) for value in raw):
            keys[key] = sorted(int(value) for value in raw)
        else:
            keys[key] = raw
    return keys


def _typed(value: str, categories: list[Any]) -> Any:
    return int(value) if categories and isinstance(categories[0], int) else value


def _file_order(name: str) -> tuple[Any, ...]:
    """Partition order: ``part.<i>.parquet`` by ``i``, then by folder; other names
    naturally (digits as numbers)."""
    folder, _, base = name.rpartition("/")
    match = _PART_NAME.match(base)
    if match:
        return (0, int(match.group(1)), folder)
    return (1, tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(name) if p), "")


def _digest(manifest: Mapping[str, Any]) -> str:
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _directory(target: DirectoryTarget | str, options: Mapping[str, Any] | None) -> DirectoryTarget:
    if isinstance(target, DirectoryTarget):
        if options:
            raise InvalidTarget(
                f"storage_options are for a path or URL; {target.url} is a DirectoryTarget "
                "with options of its own",
                target.url,
            )
        return target
    return DirectoryTarget(target, **dict(options or {}))
