"""``engine.read`` and ``engine.scan``: tables from files, uploads and S3 objects.

Formats: CSV/TSV (delimiter, quoting, header and encoding sniffed), Parquet, JSON (an array of
records) and NDJSON, each plain or gzip/zstd compressed. The format comes from ``format=``,
else from magic bytes (Parquet, gzip, zstd), else from the file name, else from the first
character (``[`` JSON, ``{`` NDJSON, anything else CSV).

CSV cells are cleaned and typed as described in :mod:`engine.data.cleaning` (whitespace,
missing markers, ``?``) and :mod:`engine.data.infer` (ints, floats, booleans, ISO dates and
date-times; a numeric column with a few stray text cells is refused as corrupted, with the
line number; ``dtypes=`` forces a column's type).

Limits: ``max_bytes`` (the raw file, upload or S3 object: checked from its size before it is
read); ``max_decompressed_bytes`` (2 GiB unless the caller says otherwise: gzip/zstd output,
counted while streaming and stopped at the cap; Parquet column data, counted batch by batch as
it is decoded, whatever the footer claims; CSV cells, counted as they are parsed, up to a third
of it; JSON text,
which polars parses whole, up to an eighth of it — see :mod:`engine.data.limits`);
``max_rows`` (rows returned: Parquet's footer row count, CSV rows counted while parsing and
stopped at the cap, JSON records after parsing, which the byte limits already bound).

Sampling: ``sample=0.1`` keeps each row with probability 0.1, ``n=1000`` keeps exactly 1000
rows; both are seeded by ``seed`` (same seed and file -> same rows) and stream the file, so
only the sample is held in memory (see :mod:`engine.data.sampling`). With sampling,
``max_rows`` bounds the sample rather than the file.

Every failure is an :class:`~engine.errors.InputError` (or its subclass
:class:`~engine.errors.LimitExceededError`) naming the file and, where there is one, the line
and column. ``read`` returns a frame or raises; it writes nothing anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import polars as pl

from engine.data.cleaning import apply_cleaning, plan_cleaning
from engine.data.csv_dialect import CsvDialect, header_end, sniff_dialect
from engine.data.csv_reader import CsvLocator, NotDecodableError, csv_string_batches
from engine.data.infer import apply_types, check_overrides, plan_types
from engine.data.json_reader import read_json_payload
from engine.data.limits import CELL_BYTES, CSV_PARSE_FACTOR, DEFAULT_MAX_DECOMPRESSED_BYTES, MAX_RECORD_BYTES
from engine.data.parquet_reader import read_parquet, scan_parquet
from engine.data.payload import HEAD_BYTES, Payload
from engine.data.s3 import S3Credentials
from engine.data.sampling import RowSampler, check_sampling
from engine.data.sniff import (
    check_encoding_name,
    compression_from_magic,
    decide_format,
    normalise_format,
    refuse_binary,
)
from engine.data.sources import ByteSource, resolve_source
from engine.errors import ConfigError, InputError, LimitExceededError

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | Any
"""A path, an ``s3://`` URI, bytes, or a binary file object with ``.read``."""

_FALLBACK_ENCODINGS = ("cp1252", "latin-1")
T = TypeVar("T")


def _check_positive(value: int | None, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r} must be a positive whole number or None")


def _check_options(
    *,
    delimiter: str | None,
    null_values: Sequence[str] | None,
    seed: int,
    max_bytes: int | None,
    max_rows: int | None,
    max_decompressed_bytes: int | None,
) -> None:
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"'"):
        raise ConfigError(f"delimiter={delimiter!r} must be one character other than a quote or a newline, e.g. ';' or '\\t'")
    if null_values is not None and (
        isinstance(null_values, str) or not all(isinstance(v, str) for v in null_values)
    ):
        raise ConfigError(f"null_values={null_values!r} must be a list of strings, e.g. ['', 'NA', '-']")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} must be an integer")
    _check_positive(max_bytes, "max_bytes")
    _check_positive(max_rows, "max_rows")
    _check_positive(max_decompressed_bytes, "max_decompressed_bytes")


def _open_payload(raw: ByteSource, max_decompressed_bytes: int | None) -> tuple[Payload, bytes, bool]:
    if raw.size == 0:
        raise InputError(f"{raw.label} is empty (0 bytes)")
    compression = compression_from_magic(raw.head(8))
    payload = Payload(source=raw, compression=compression, max_decompressed_bytes=max_decompressed_bytes)
    head, complete = payload.head()
    if not head.strip(b" \t\r\n\x0c\xef\xbb\xbf"):
        after = f" after {compression} decompression" if compression else ""
        raise InputError(f"{raw.label} is empty{after}: there is no header and no data")
    return payload, head, complete


# --------------------------------------------------------------------------------------- CSV


def _head_with_header(payload: Payload, head: bytes, complete: bool) -> tuple[bytes, bool]:
    """The payload's head, read further until it holds the whole header record and a few
    records after it (a table of 20,000 columns has a header far longer than 64 KiB).

    Raises :class:`LimitExceededError` when the header is longer than ``MAX_RECORD_BYTES``.
    """
    while not complete:
        end = header_end(head)
        if end is not None and (end <= HEAD_BYTES // 2 or len(head) >= 3 * end):
            break
        if end is None and len(head) >= MAX_RECORD_BYTES:
            raise LimitExceededError(
                f"{payload.label}: the header line is longer than {MAX_RECORD_BYTES:,} bytes, the longest "
                "the reader accepts (MAX_RECORD_BYTES); is it a table?"
            )
        head, complete = payload.head(min(4 * len(head), 3 * MAX_RECORD_BYTES))
    return head, complete


def _sniff_csv(payload: Payload, head: bytes, complete: bool, *, fmt: str, delimiter: str | None, encoding: str | None) -> CsvDialect:
    refuse_binary(head, label=payload.label, fmt="csv")
    head, complete = _head_with_header(payload, head, complete)
    return sniff_dialect(
        head,
        complete=complete,
        label=payload.label,
        name=payload.source.name,
        delimiter=delimiter if delimiter is not None else ("\t" if fmt == "tsv" else None),
        encoding=encoding,
        tab_hint=fmt == "tsv",
    )


def _decoding_error(payload: Payload, dialect: CsvDialect) -> InputError:
    located = CsvLocator(payload, dialect).first_undecodable_line(dialect.encoding)
    if located is None:
        return InputError(f"{payload.label}: not valid {dialect.encoding} text; pass encoding= with the file's real encoding")
    line, column, byte = located
    return InputError(
        f"{payload.label}: line {line:,} is not valid {dialect.encoding} text (byte 0x{byte:02x} at "
        f"byte {column:,} of the line); pass encoding= with the file's real encoding, e.g. 'latin-1'"
    )


def _with_decoding_retry(
    payload: Payload,
    dialect: CsvDialect,
    head: bytes,
    *,
    encoding_given: bool,
    run: Callable[[CsvDialect], T],
) -> tuple[T, CsvDialect]:
    """Run ``run(dialect)``; when a file whose head was plain ASCII turns out not to be UTF-8
    further down, run again as Windows-1252, then Latin-1. Otherwise name the bad line."""
    try:
        return run(dialect), dialect
    except NotDecodableError:
        if encoding_given or not head.isascii():
            raise _decoding_error(payload, dialect) from None
    for fallback in _FALLBACK_ENCODINGS:
        retry = dialect.with_encoding(fallback)
        try:
            return run(retry), retry
        except NotDecodableError:
            continue
    raise _decoding_error(payload, dialect)  # pragma: no cover - latin-1 decodes any byte


def _collect_strings(
    payload: Payload,
    dialect: CsvDialect,
    *,
    sample: float | None,
    n: int | None,
    seed: int,
    max_rows: int | None,
    max_cell_bytes: int | None,
) -> tuple[pl.DataFrame, int]:
    """All (or a sample of) the records as text, and how many records the file has.

    The cells held in memory are counted as batches arrive (``CELL_BYTES`` per cell plus the
    text polars keeps outside the cells: one-digit cells cost 16 times their text) and the
    read stops once they pass ``max_cell_bytes``, so the parse cannot multiply a file that
    fits the byte caps into many times the memory.
    """
    batches = csv_string_batches(payload, dialect)
    empty = pl.DataFrame(schema={**{c: pl.String for c in dialect.columns}, dialect.row_index: pl.UInt32})
    if sample is not None or n is not None:
        sampler = RowSampler(fraction=sample, n=n, seed=seed).add_all(batches)
        frame = sampler.result(empty=empty)
        if max_rows is not None and frame.height > max_rows:
            raise LimitExceededError(
                f"{payload.label}: the sample has {frame.height:,} rows, over the limit of {max_rows:,} (max_rows)"
            )
        return frame, sampler.rows_seen
    parts: list[pl.DataFrame] = []
    total = 0
    held = 0
    for batch in batches:
        total += batch.height
        held += batch.height * batch.width * CELL_BYTES + batch.estimated_size()
        if max_cell_bytes is not None and held > max_cell_bytes:
            raise LimitExceededError(
                f"{payload.label}: its {total:,} first rows already take {held:,} bytes in memory once parsed "
                f"into cells, over the {max_cell_bytes:,} bytes (1/{CSV_PARSE_FACTOR} of max_decompressed_bytes, "
                f"as cleaning and typing need about {CSV_PARSE_FACTOR}x the cells) a read may hold; reading "
                "stopped there. Pass sample= or n= to read a sample, or raise max_decompressed_bytes"
            )
        if max_rows is not None and total > max_rows:
            raise LimitExceededError(
                f"{payload.label} has more than {max_rows:,} rows, over the limit (max_rows); reading "
                "stopped there. Pass sample= or n= to read a sample"
            )
        parts.append(batch)
    if not parts:
        return empty, 0
    return pl.concat(parts, how="vertical", rechunk=False), total


def _no_rows_error(payload: Payload, dialect: CsvDialect) -> InputError:
    shown = ", ".join(dialect.columns[:6]) + (", ..." if len(dialect.columns) > 6 else "")
    return InputError(
        f"{payload.label} has a header ({len(dialect.columns)} columns: {shown}) but no data rows"
    )


def _read_csv(
    payload: Payload,
    head: bytes,
    complete: bool,
    *,
    fmt: str,
    delimiter: str | None,
    encoding: str | None,
    null_values: Sequence[str] | None,
    dtypes: Mapping[str, object] | None,
    sample: float | None,
    n: int | None,
    seed: int,
    max_rows: int | None,
    max_decompressed_bytes: int | None,
) -> pl.DataFrame:
    dialect = _sniff_csv(payload, head, complete, fmt=fmt, delimiter=delimiter, encoding=encoding)
    columns = list(dialect.columns)
    overrides = check_overrides(dtypes, columns, payload.label)
    (strings, total), dialect = _with_decoding_retry(
        payload,
        dialect,
        head,
        encoding_given=encoding is not None,
        run=lambda d: _collect_strings(
            payload,
            d,
            sample=sample,
            n=n,
            seed=seed,
            max_rows=max_rows,
            max_cell_bytes=None if max_decompressed_bytes is None else max_decompressed_bytes // CSV_PARSE_FACTOR,
        ),
    )
    if total == 0:
        raise _no_rows_error(payload, dialect)
    locator = CsvLocator(payload, dialect)
    cleaning = plan_cleaning(strings, columns=columns, null_values=null_values)
    cleaned = apply_cleaning(strings, cleaning)
    del strings  # the raw text cells: free them before typing makes its own copies
    row_ids = cleaned.get_column(dialect.row_index)
    plan = plan_types(cleaned, columns=columns, label=payload.label, where=locator.where, overrides=overrides, row_ids=row_ids)
    typed = apply_types(cleaned, plan, label=payload.label, where=locator.where, row_ids=row_ids)
    return typed.drop(dialect.row_index)


def _scan_csv(
    payload: Payload,
    head: bytes,
    complete: bool,
    *,
    fmt: str,
    delimiter: str | None,
    encoding: str | None,
    null_values: Sequence[str] | None,
    dtypes: Mapping[str, object] | None,
    infer_rows: int,
) -> pl.LazyFrame:
    from polars.io.plugins import register_io_source

    dialect = _sniff_csv(payload, head, complete, fmt=fmt, delimiter=delimiter, encoding=encoding)
    columns = list(dialect.columns)
    overrides = check_overrides(dtypes, columns, payload.label)

    def first_rows(d: CsvDialect) -> pl.DataFrame:
        parts, total = [], 0
        for batch in csv_string_batches(payload, d):
            parts.append(batch)
            total += batch.height
            if total >= infer_rows:
                break
        return pl.concat(parts).head(infer_rows) if parts else pl.DataFrame()

    sample_rows, dialect = _with_decoding_retry(
        payload, dialect, head, encoding_given=encoding is not None, run=first_rows
    )
    if sample_rows.height == 0:
        raise _no_rows_error(payload, dialect)
    locator = CsvLocator(payload, dialect)
    cleaning = plan_cleaning(sample_rows, columns=columns, null_values=null_values)
    cleaned = apply_cleaning(sample_rows, cleaning)
    row_ids = cleaned.get_column(dialect.row_index)
    types = plan_types(cleaned, columns=columns, label=payload.label, where=locator.where, overrides=overrides, row_ids=row_ids)
    schema = {c: types.dtypes.get(c, pl.String()) for c in columns}
    final_dialect = dialect

    def batches(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        produced = 0
        for batch in csv_string_batches(payload, final_dialect):
            frame = apply_cleaning(batch, cleaning)
            frame = apply_types(
                frame, types, label=payload.label, where=locator.where, row_ids=frame.get_column(final_dialect.row_index)
            ).drop(final_dialect.row_index)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            if n_rows is not None:
                frame = frame.head(n_rows - produced)
            produced += frame.height
            yield frame
            if n_rows is not None and produced >= n_rows:
                return

    return register_io_source(batches, schema=schema, explain_name="doppel-csv", explain_detail=payload.label)


def _apply_overrides(frame: pl.DataFrame, dtypes: Mapping[str, object] | None, label: str) -> pl.DataFrame:
    """Apply ``dtypes=`` to a typed (Parquet) frame; a value that does not convert is named by row."""
    if not dtypes:
        return frame
    overrides = check_overrides(dtypes, frame.columns, label)

    def where(row: int) -> str:
        return f"row {row + 1:,}"

    plan = plan_types(frame, columns=[], label=label, where=where, overrides=overrides)
    return apply_types(frame, plan, label=label, where=where)


# ------------------------------------------------------------------------------ public API


def read(
    source: Source,
    *,
    format: str | None = None,  # noqa: A002 - the public name the notebook API uses
    sample: float | None = None,
    n: int | None = None,
    seed: int = 0,
    name: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    null_values: Sequence[str] | None = None,
    dtypes: Mapping[str, object] | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    max_decompressed_bytes: int | None = DEFAULT_MAX_DECOMPRESSED_BYTES,
    s3_endpoint_url: str | None = None,
    s3_credentials: S3Credentials | None = None,
) -> pl.DataFrame:
    """Read one table from a file, an upload or an S3 object into a polars DataFrame.

    Args:
        source: a path, an ``s3://bucket/key`` URI, ``bytes``, or a binary file object.
        format: ``"csv"``, ``"tsv"``, ``"parquet"``, ``"json"`` or ``"ndjson"``; None detects.
        sample: keep each row with this probability (0 < sample <= 1), seeded.
        n: keep exactly this many rows (all when there are fewer), seeded.
        seed: seed of the sampling; the same seed over the same file gives the same rows.
        name: file name for bytes/uploads, used to detect the format and in messages.
        delimiter: CSV field separator; None sniffs ``, \\t ; |``.
        encoding: text encoding; None sniffs (BOM, UTF-8, else Windows-1252/Latin-1).
        null_values: CSV cells that mean missing, replacing the default list (and the ``?``
            rule, see :mod:`engine.data.cleaning`).
        dtypes: ``{column: polars dtype}`` forcing types instead of inferring them.
        max_bytes: refuse sources larger than this many bytes (checked before reading).
        max_rows: refuse results with more rows (file rows, or sample rows when sampling).
        max_decompressed_bytes: the memory the decoded data may take, 2 GiB by default
            (``None`` lifts it): gzip/zstd output is counted while streaming and stopped past
            it; Parquet column data is counted as it is decoded (whatever the footer says); CSV
            cells, counted as they are parsed, may take a third of it (cleaning and typing
            need about 3x); a JSON/NDJSON text may be at most an eighth of it, as polars
            parses it whole with several times its size. See
            :mod:`engine.data.limits`.
        s3_endpoint_url: S3-compatible endpoint for ``s3://`` sources (else the
            ``DOPPEL_S3_ENDPOINT_URL`` environment variable, else AWS); only without
            ``s3_credentials``.
        s3_credentials: an :class:`engine.data.s3.S3Credentials` to read ``s3://`` sources
            with (its endpoint and region included) instead of this machine's AWS
            environment, profile or role; None uses boto3's usual chain.

    Raises:
        InputError: the source is missing, empty, header-only, binary, ragged, corrupted or
            mistyped; the message names the file, line and column.
        LimitExceededError: a limit above was passed.
        SourceUnavailableError: an S3 endpoint could not be reached or refused access.
        ConfigError: an option is invalid.
    """
    fmt = normalise_format(format)
    check_sampling(sample, n)
    encoding = check_encoding_name(encoding)
    _check_options(
        delimiter=delimiter,
        null_values=null_values,
        seed=seed,
        max_bytes=max_bytes,
        max_rows=max_rows,
        max_decompressed_bytes=max_decompressed_bytes,
    )
    if delimiter is not None and fmt is None:
        fmt = "csv"
    raw = resolve_source(source, name=name, max_bytes=max_bytes, s3_endpoint_url=s3_endpoint_url,
                         s3_credentials=s3_credentials)
    payload, head, complete = _open_payload(raw, max_decompressed_bytes)
    kind = decide_format(explicit=fmt, name=raw.name, payload_head=head, label=raw.label)
    if kind == "parquet":
        frame = read_parquet(
            payload, sample=sample, n=n, seed=seed, max_rows=max_rows, max_decompressed_bytes=max_decompressed_bytes
        )
        return _apply_overrides(frame, dtypes, raw.label)
    if kind in ("json", "ndjson"):
        return read_json_payload(
            payload,
            fmt=kind,
            encoding=encoding,
            dtypes=dtypes,
            sample=sample,
            n=n,
            seed=seed,
            max_rows=max_rows,
            max_decompressed_bytes=max_decompressed_bytes,
        )
    return _read_csv(
        payload,
        head,
        complete,
        fmt=kind,
        delimiter=delimiter,
        encoding=encoding,
        null_values=null_values,
        dtypes=dtypes,
        sample=sample,
        n=n,
        seed=seed,
        max_rows=max_rows,
        max_decompressed_bytes=max_decompressed_bytes,
    )


def scan(
    source: Source,
    *,
    format: str | None = None,  # noqa: A002
    name: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    null_values: Sequence[str] | None = None,
    dtypes: Mapping[str, object] | None = None,
    max_bytes: int | None = None,
    max_decompressed_bytes: int | None = DEFAULT_MAX_DECOMPRESSED_BYTES,
    s3_endpoint_url: str | None = None,
    s3_credentials: S3Credentials | None = None,
    infer_rows: int = 10_000,
) -> pl.LazyFrame:
    """A polars LazyFrame over a large file, read batch by batch when it is collected.

    Local Parquet and NDJSON files use polars' own scans (projection and predicate pushdown).
    CSV — local, in memory or compressed — streams through the same validating parser as
    :func:`read`: ragged rows and undecodable bytes are errors with line numbers. Its types and
    missing markers are decided from the first ``infer_rows`` rows; a later cell that does not
    fit its column's type raises :class:`InputError` with its line when the frame is collected
    (pass ``dtypes=`` to force a type). JSON documents, and sources that are neither local nor
    CSV, are read whole and wrapped with ``.lazy()``.
    """
    fmt = normalise_format(format)
    encoding = check_encoding_name(encoding)
    _check_options(
        delimiter=delimiter,
        null_values=null_values,
        seed=0,
        max_bytes=max_bytes,
        max_rows=None,
        max_decompressed_bytes=max_decompressed_bytes,
    )
    _check_positive(infer_rows, "infer_rows")
    if delimiter is not None and fmt is None:
        fmt = "csv"
    raw = resolve_source(source, name=name, max_bytes=max_bytes, s3_endpoint_url=s3_endpoint_url,
                         s3_credentials=s3_credentials)
    payload, head, complete = _open_payload(raw, max_decompressed_bytes)
    kind = decide_format(explicit=fmt, name=raw.name, payload_head=head, label=raw.label)
    if kind == "parquet":
        return scan_parquet(payload, max_decompressed_bytes=max_decompressed_bytes)
    if kind == "ndjson" and payload.local_path is not None and not dtypes and encoding is None:
        return pl.scan_ndjson(payload.local_path, infer_schema_length=infer_rows)
    if kind in ("json", "ndjson"):
        return read_json_payload(
            payload,
            fmt=kind,
            encoding=encoding,
            dtypes=dtypes,
            sample=None,
            n=None,
            seed=0,
            max_rows=None,
            max_decompressed_bytes=max_decompressed_bytes,
        ).lazy()
    return _scan_csv(
        payload,
        head,
        complete,
        fmt=kind,
        delimiter=delimiter,
        encoding=encoding,
        null_values=null_values,
        dtypes=dtypes,
        infer_rows=infer_rows,
    )
