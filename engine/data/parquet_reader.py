"""Read Parquet, bounding memory by what is decoded, not by what the footer claims.

A Parquet footer states the row count and each row group's uncompressed size, so a file
that admits to being oversized is refused from its metadata alone
(:func:`check_parquet_limits`). But the footer's sizes are those of the *encoded* pages: a
dictionary page holding one 100 KB string and RLE indices repeating it a million times is a
few hundred bytes on disk and in the footer, and 100 GB once decoded. So the file is then read
in batches of rows with its text columns kept dictionary-encoded, each batch's decoded size is
computed from the dictionary's value lengths and the indices *before* the batch is expanded,
and the read stops with :class:`LimitExceededError` as soon as the running total (or, when
sampling, one batch) passes ``max_decompressed_bytes``.

Without sampling the whole file must fit ``max_rows`` and ``max_decompressed_bytes``; with
``sample=``/``n=`` the file is streamed, so only each batch must fit the byte cap and
``max_rows`` bounds the sample. Duplicate column names are refused by name; a column named
"" becomes ``column_N`` as in CSV.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from engine.data.names import name_blank_columns
from engine.data.payload import Payload
from engine.data.sampling import RowSampler
from engine.errors import InputError, LimitExceededError

_BATCH_ROWS = 64 * 1024
_VIEW_BYTES = 16
"""Bytes polars spends per text cell besides its characters (a string view)."""


def _open_parquet(payload: Payload, *, expand_text: bool = False) -> tuple[Any, frozenset[str]]:
    """A ``pyarrow.parquet.ParquetFile`` and the names of the columns to expand.

    With ``expand_text``, the top-level text columns that the file does not itself declare as
    dictionaries are read as dictionaries, so that their decoded size can be counted before
    it is allocated; they are the columns returned, to be expanded batch by batch.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    source: Any
    if payload.local_path is not None:
        source = payload.local_path
    else:
        source = pa.BufferReader(payload.read_all())
    try:
        parquet_file = pq.ParquetFile(source)
        text: frozenset[str] = frozenset()
        if expand_text:
            text = frozenset(field.name for field in parquet_file.schema_arrow if _is_text(field.type))
        if text:
            parquet_file = pq.ParquetFile(source, read_dictionary=sorted(text))
        return parquet_file, text
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{payload.label}: not a readable Parquet file ({exc})") from None


def _is_text(dtype: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
    )


def _expanded_size(column: Any) -> int:
    """Bytes a dictionary-encoded text column (a pyarrow Array) takes once expanded,
    computed from the dictionary's value lengths and the indices, without expanding it."""
    import pyarrow.compute as pc

    lengths = pc.binary_length(column.dictionary).take(column.indices)
    return int(pc.sum(lengths).as_py() or 0) + _VIEW_BYTES * len(column)


def _decoded_batches(
    parquet_file: Any, *, expand: frozenset[str], label: str, cap: int | None, per_batch: bool
) -> Iterator[pl.DataFrame]:
    """Batches as polars frames, the ``expand`` columns expanded to plain text, refusing once
    the decoded bytes pass ``cap`` (a running total, or each batch alone when ``per_batch``)
    before the offending batch is expanded."""
    import pyarrow as pa

    total = 0
    names = name_blank_columns(parquet_file.schema_arrow.names)
    for batch in parquet_file.iter_batches(batch_size=_BATCH_ROWS):
        flags = [name in expand for name in batch.schema.names]
        size = sum(
            _expanded_size(column) if flag else int(column.nbytes) for column, flag in zip(batch.columns, flags)
        )
        total = size if per_batch else total + size
        if cap is not None and total > cap:
            what = "one batch of its rows decodes" if per_batch else "its column data decodes"
            raise LimitExceededError(
                f"{label}: {what} to more than {cap:,} bytes (max_decompressed_bytes), whatever its "
                "footer declares; reading stopped there"
            )
        columns = [
            column.cast(column.type.value_type) if flag else column for column, flag in zip(batch.columns, flags)
        ]
        frame = pl.from_arrow(pa.RecordBatch.from_arrays(columns, names=names))
        assert isinstance(frame, pl.DataFrame)
        yield frame


def check_parquet_limits(
    parquet_file: Any,
    *,
    label: str,
    max_rows: int | None,
    max_decompressed_bytes: int | None,
    sampling: bool,
) -> int:
    """Refuse from the footer alone; returns the number of rows the file declares."""
    metadata = parquet_file.metadata
    num_rows = int(metadata.num_rows)
    if metadata.num_columns == 0:
        raise InputError(f"{label}: the Parquet file has no columns")
    names = list(parquet_file.schema_arrow.names)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(
            f"{label}: the Parquet file names column{'s' if len(duplicates) > 1 else ''} "
            f"{', '.join(repr(d) for d in duplicates)} more than once; a table's column names must be unique"
        )
    if num_rows == 0:
        raise InputError(f"{label}: the Parquet file has no rows")
    group_sizes = [int(metadata.row_group(i).total_byte_size) for i in range(metadata.num_row_groups)]
    if not sampling and max_rows is not None and num_rows > max_rows:
        raise LimitExceededError(
            f"{label} has {num_rows:,} rows (from its Parquet metadata), over the limit of "
            f"{max_rows:,} rows (max_rows); nothing was read. Pass sample= or n= to read a sample"
        )
    if max_decompressed_bytes is not None:
        needed = max(group_sizes, default=0) if sampling else sum(group_sizes)
        if needed > max_decompressed_bytes:
            what = "its largest row group holds" if sampling else "it holds"
            raise LimitExceededError(
                f"{label}: {what} {needed:,} bytes of uncompressed column data (from its Parquet "
                f"metadata), over the limit of {max_decompressed_bytes:,} bytes "
                "(max_decompressed_bytes); nothing was read"
            )
    return num_rows


def read_parquet(
    payload: Payload,
    *,
    sample: float | None,
    n: int | None,
    seed: int,
    max_rows: int | None,
    max_decompressed_bytes: int | None,
) -> pl.DataFrame:
    """The whole file, or a seeded sample streamed row group by row group."""
    import pyarrow as pa

    parquet_file, expand = _open_parquet(payload, expand_text=True)
    sampling = sample is not None or n is not None
    check_parquet_limits(
        parquet_file,
        label=payload.label,
        max_rows=max_rows,
        max_decompressed_bytes=max_decompressed_bytes,
        sampling=sampling,
    )
    batches = _decoded_batches(
        parquet_file, expand=expand, label=payload.label, cap=max_decompressed_bytes, per_batch=sampling
    )
    try:
        empty = pl.from_arrow(_plain_schema(parquet_file.schema_arrow, expand).empty_table())
        assert isinstance(empty, pl.DataFrame)
        empty.columns = name_blank_columns(parquet_file.schema_arrow.names)
        if not sampling:
            parts = list(batches)
            frame = pl.concat(parts, how="vertical", rechunk=False) if parts else empty
        else:
            frame = RowSampler(fraction=sample, n=n, seed=seed).add_all(batches).result(empty=empty)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{payload.label}: corrupt Parquet data ({exc})") from None
    assert isinstance(frame, pl.DataFrame)
    if sampling and max_rows is not None and frame.height > max_rows:
        raise LimitExceededError(
            f"{payload.label}: the sample has {frame.height:,} rows, over the limit of {max_rows:,} (max_rows)"
        )
    return frame


def _plain_schema(schema: Any, expand: frozenset[str]) -> Any:
    """``schema`` with the ``expand`` fields' dictionaries replaced by their value types."""
    import pyarrow as pa

    return pa.schema([f.with_type(f.type.value_type) if f.name in expand else f for f in schema])


def scan_parquet(payload: Payload, *, max_decompressed_bytes: int | None) -> pl.LazyFrame:
    """A LazyFrame over the file: polars' own scan for a local file, else the file read into
    memory by :func:`read_parquet` (its decoded bytes counted against the cap)."""
    parquet_file, _ = _open_parquet(payload)
    check_parquet_limits(
        parquet_file,
        label=payload.label,
        max_rows=None,
        max_decompressed_bytes=max_decompressed_bytes,
        sampling=True,
    )
    if payload.local_path is not None:
        return pl.scan_parquet(payload.local_path)
    return read_parquet(
        payload, sample=None, n=None, seed=0, max_rows=None, max_decompressed_bytes=max_decompressed_bytes
    ).lazy()
