"""Read Parquet, checking its footer against the limits before any data page is decoded.

A Parquet footer states the row count and each row group's uncompressed size, so an
oversized file is refused from its metadata alone: :func:`check_parquet_limits` runs before
anything is materialised. Without sampling the whole file must fit ``max_rows`` and
``max_decompressed_bytes``; with ``sample=``/``n=`` the file is streamed one row group at a
time, so only the largest row group must fit the byte cap and ``max_rows`` bounds the sample.
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl

from engine.data.payload import Payload
from engine.data.sampling import RowSampler
from engine.errors import InputError, LimitExceededError

_BATCH_ROWS = 64 * 1024


def _open_parquet(payload: Payload) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source: Any
    if payload.local_path is not None:
        source = payload.local_path
    else:
        source = pa.BufferReader(payload.read_all())
    try:
        return pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{payload.label}: not a readable Parquet file ({exc})") from None


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

    parquet_file = _open_parquet(payload)
    sampling = sample is not None or n is not None
    check_parquet_limits(
        parquet_file,
        label=payload.label,
        max_rows=max_rows,
        max_decompressed_bytes=max_decompressed_bytes,
        sampling=sampling,
    )
    try:
        if not sampling:
            frame = pl.from_arrow(parquet_file.read())
        else:
            sampler = RowSampler(fraction=sample, n=n, seed=seed)
            for batch in parquet_file.iter_batches(batch_size=_BATCH_ROWS):
                part = pl.from_arrow(batch)
                assert isinstance(part, pl.DataFrame)
                sampler.add(part)
            empty = pl.from_arrow(parquet_file.schema_arrow.empty_table())
            assert isinstance(empty, pl.DataFrame)
            frame = sampler.result(empty=empty)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{payload.label}: corrupt Parquet data ({exc})") from None
    assert isinstance(frame, pl.DataFrame)
    if sampling and max_rows is not None and frame.height > max_rows:
        raise LimitExceededError(
            f"{payload.label}: the sample has {frame.height:,} rows, over the limit of {max_rows:,} (max_rows)"
        )
    return frame


def scan_parquet(payload: Payload, *, max_decompressed_bytes: int | None) -> pl.LazyFrame:
    """A LazyFrame over the file: polars' own scan for a local file, else the file in memory."""
    parquet_file = _open_parquet(payload)
    check_parquet_limits(
        parquet_file,
        label=payload.label,
        max_rows=None,
        max_decompressed_bytes=max_decompressed_bytes,
        sampling=True,
    )
    if payload.local_path is not None:
        return pl.scan_parquet(payload.local_path)
    return pl.read_parquet(io.BytesIO(payload.read_all())).lazy()
