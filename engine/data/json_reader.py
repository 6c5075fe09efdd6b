"""Read JSON (an array of records) and NDJSON (one record per line).

Values keep the types JSON gave them. Text fields that all hold ISO dates or date-times become
Date/Datetime, and a field whose values are numbers except for a few strings is refused as
corrupted, by the same rule as CSV (:mod:`engine.data.infer`). Nested objects and arrays stay
polars Struct and List columns. A field named "" becomes ``column_N``, as in CSV.

When polars cannot parse the payload, Python's ``json`` module re-reads it to say where: the
line and column of a syntax error, or the record that is not an object. A document nested
deeper than :data:`~engine.data.limits.MAX_JSON_DEPTH` levels is refused as such first (the
``json`` module would recurse until Python's stack ran out).

polars parses the text whole and needs several times its size while doing so, so the text may
be at most ``max_decompressed_bytes / JSON_PARSE_FACTOR`` bytes (:mod:`engine.data.limits`).
The row-number helper column gets a name none of the records' fields has.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping

import polars as pl

from engine.data.infer import apply_types, check_overrides, plan_types
from engine.data.limits import JSON_PARSE_FACTOR, MAX_JSON_DEPTH
from engine.data.names import name_blank_columns, unique_name
from engine.data.payload import Payload
from engine.data.sampling import RowSampler
from engine.data.sniff import detect_encoding, refuse_binary
from engine.errors import InputError, LimitExceededError

_ROW_BASE = "__doppel_json_row"
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', flags=re.DOTALL)


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings ignored), computed
    without recursion so that a hostile document cannot exhaust the stack."""
    import numpy as np

    brackets = _STRING.sub(b"", data).translate(None, delete=bytes(b for b in range(256) if b not in b"[]{}"))
    if not brackets:
        return 0
    steps = np.frombuffer(brackets, dtype=np.uint8)
    opens = (steps == ord("[")) | (steps == ord("{"))
    depth = np.cumsum(np.where(opens, 1, -1))
    return int(depth.max())


def _utf8_text(data: bytes, *, encoding: str | None, label: str, fmt: str) -> bytes:
    refuse_binary(data[:8192], label=label, fmt=fmt)
    chosen = encoding or detect_encoding(data[: 64 * 1024], complete=len(data) <= 64 * 1024)
    if chosen in ("utf-8", "utf_8", "utf8"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InputError(
                f"{label}: line {line:,} is not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                "JSON must be UTF-8, or pass encoding= with the file's real encoding"
            ) from None
        return data
    return data.decode(chosen).lstrip("\ufeff").encode("utf-8")


def _describe(value: object) -> str:
    return {list: "an array", dict: "an object", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "null"
    )


def _diagnose(text: str, *, fmt: str, label: str, polars_message: str) -> InputError:
    depth = nesting_depth(text.encode("utf-8"))
    if depth > MAX_JSON_DEPTH:
        return InputError(
            f"{label}: the JSON is nested {depth:,} levels deep, deeper than the {MAX_JSON_DEPTH} levels "
            "the reader accepts (MAX_JSON_DEPTH); a table's records hold a few levels at most"
        )
    if fmt == "json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return InputError(f"{label}: invalid JSON at line {exc.lineno:,}, column {exc.colno}: {exc.msg}")
        if not isinstance(value, list):
            return InputError(
                f"{label}: the JSON document is {_describe(value)}; expected an array of records "
                "([{...}, {...}]) or one object per line (NDJSON)"
            )
        for index, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                return InputError(f"{label}: record {index:,} of the JSON array is {_describe(item)}, expected an object")
        return InputError(f"{label}: could not read the JSON records: {polars_message}")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = ""
            try:
                if isinstance(json.loads(text), (dict, list)):
                    hint = " (the file is one JSON document spread over several lines: NDJSON needs one record per line)"
            except json.JSONDecodeError:
                pass
            return InputError(f"{label}: line {number:,} is not valid JSON (column {exc.colno}: {exc.msg}){hint}")
        if not isinstance(value, dict):
            return InputError(f"{label}: line {number:,} is {_describe(value)}, expected a JSON object (one record per line)")
    return InputError(f"{label}: could not read the NDJSON records: {polars_message}")


def _ndjson_line_of(text: str, row: int) -> int | None:
    seen = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return None


def _finish(
    frame: pl.DataFrame,
    *,
    fmt: str,
    label: str,
    dtypes: Mapping[str, object] | None,
    text: Callable[[], str],
    row: str,
) -> pl.DataFrame:
    """Infer dates in text fields, apply ``dtypes``, drop the row-number column ``row``."""
    lines: dict[str, str] = {}

    def where(row: int) -> str:
        if fmt == "ndjson":
            line = _ndjson_line_of(lines.setdefault("text", text()), row)
            if line is not None:
                return f"line {line:,}"
        return f"record {row + 1:,}"

    columns = [c for c in frame.columns if c != row]
    overrides = check_overrides(dtypes, columns, label)
    text_columns = [c for c in columns if frame.schema[c] == pl.String]
    row_ids = frame.get_column(row)
    plan = plan_types(
        frame,
        columns=text_columns,
        label=label,
        where=where,
        overrides=overrides,
        row_ids=row_ids,
        numbers_from_text=False,
    )
    return apply_types(frame, plan, label=label, where=where, row_ids=row_ids).drop(row)


def _check_sample_size(frame: pl.DataFrame, max_rows: int | None, label: str) -> None:
    if max_rows is not None and frame.height > max_rows:
        raise LimitExceededError(f"{label}: the sample has {frame.height:,} rows, over the limit of {max_rows:,} (max_rows)")


def sample_ndjson_file(
    payload: Payload,
    *,
    dtypes: Mapping[str, object] | None,
    sample: float | None,
    n: int | None,
    seed: int,
    max_rows: int | None,
) -> pl.DataFrame:
    """A seeded sample of a local UTF-8 NDJSON file, streamed through polars' lazy scan."""
    assert payload.local_path is not None
    path = payload.local_path
    label = payload.label

    def text() -> str:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    sampler = RowSampler(fraction=sample, n=n, seed=seed)
    row = _ROW_BASE
    try:
        for batch in pl.scan_ndjson(path, infer_schema_length=None).collect_batches():
            if sampler.rows_seen == 0:
                row = unique_name(_ROW_BASE, batch.columns)
            sampler.add(batch.with_row_index(row, offset=sampler.rows_seen))
    except pl.exceptions.PolarsError as exc:
        raise _diagnose(text(), fmt="ndjson", label=label, polars_message=str(exc)) from None
    if sampler.rows_seen == 0:
        raise InputError(f"{label}: there are no records")
    frame = sampler.result()
    frame.columns = name_blank_columns(frame.columns)
    if frame.width == 0:
        frame = pl.DataFrame(schema={row: pl.UInt32})
    _check_sample_size(frame, max_rows, label)
    return _finish(frame, fmt="ndjson", label=label, dtypes=dtypes, text=text, row=row)


def _read_text(payload: Payload, max_decompressed_bytes: int | None) -> bytes:
    """The whole JSON text, refused past ``max_decompressed_bytes / JSON_PARSE_FACTOR`` bytes
    (checked from a file's size, or counted while decompressing)."""
    if max_decompressed_bytes is None:
        return payload.read_all()
    cap = max(1, max_decompressed_bytes // JSON_PARSE_FACTOR)
    refusal = LimitExceededError(
        f"{payload.label}: the JSON text is more than {cap:,} bytes; polars parses JSON whole with about "
        f"{JSON_PARSE_FACTOR}x its size in memory, so the text may be at most 1/{JSON_PARSE_FACTOR} of "
        f"max_decompressed_bytes ({max_decompressed_bytes:,} bytes); nothing was parsed. Convert it to "
        "CSV or Parquet, or read a sample of an NDJSON file with sample= or n="
    )
    if payload.compression is None and payload.source.size > cap:
        raise refusal
    try:
        return payload.read_all(cap=cap)
    except LimitExceededError:
        raise refusal from None


def read_json_payload(
    payload: Payload,
    *,
    fmt: str,
    encoding: str | None,
    dtypes: Mapping[str, object] | None,
    sample: float | None,
    n: int | None,
    seed: int,
    max_rows: int | None,
    max_decompressed_bytes: int | None = None,
) -> pl.DataFrame:
    """Parse a JSON or NDJSON payload into a frame (see the module docstring).

    A local, plain, UTF-8 NDJSON file that is sampled is streamed (:func:`sample_ndjson_file`);
    everything else is read into memory first, within the byte limits already checked.
    """
    label = payload.label
    sampling = sample is not None or n is not None
    if fmt == "ndjson" and sampling and payload.local_path is not None and encoding is None:
        head, complete = payload.head()
        refuse_binary(head[:8192], label=label, fmt=fmt)
        if detect_encoding(head, complete=complete) == "utf-8":
            return sample_ndjson_file(payload, dtypes=dtypes, sample=sample, n=n, seed=seed, max_rows=max_rows)
    data = _utf8_text(_read_text(payload, max_decompressed_bytes), encoding=encoding, label=label, fmt=fmt)
    if not data.strip():
        raise InputError(f"{label} is empty: there are no records")
    try:
        if fmt == "json":
            frame = pl.read_json(io.BytesIO(data), infer_schema_length=None)
        else:
            n_rows = None if sampling or max_rows is None else max_rows + 1
            frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None, n_rows=n_rows)
    except pl.exceptions.PolarsError as exc:
        raise _diagnose(data.decode("utf-8"), fmt=fmt, label=label, polars_message=str(exc)) from None
    if frame.height == 0 or frame.width == 0:
        raise InputError(f"{label}: there are no records")
    frame.columns = name_blank_columns(frame.columns)
    if not sampling and max_rows is not None and frame.height > max_rows:
        raise LimitExceededError(
            f"{label} has more than {max_rows:,} records, over the limit (max_rows); "
            "pass sample= or n= to read a sample"
        )
    row = unique_name(_ROW_BASE, frame.columns)
    frame = frame.with_row_index(row)
    if sampling:
        frame = RowSampler(fraction=sample, n=n, seed=seed).add_all([frame]).result(empty=frame.clear())
        _check_sample_size(frame, max_rows, label)
    return _finish(frame, fmt=fmt, label=label, dtypes=dtypes, text=lambda: data.decode("utf-8"), row=row)
