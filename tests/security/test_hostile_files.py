"""Hostile and strange files (issue 14, file reading): no crash, no memory bomb, no silent
corruption, and a clear message.

Each case builds its file here, small on disk; the memory bombs pass a small
``max_decompressed_bytes`` so that they are refused after a few MB, never GBs. A case expects
either an error (its class and a fragment of its message, which names the limit or the
problem) or a frame (checked by a function, or equal to a given frame).
"""

from __future__ import annotations

import gzip
import inspect
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import engine
from engine.errors import InputError, LimitExceededError

MB = 1024 * 1024


def _parquet(table: pa.Table, **options: Any) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", **options)
    return buffer.getvalue()


def dictionary_bomb_parquet() -> bytes:
    """A text column holding one 100 KB string on 2,000 rows through the dictionary: a few
    hundred bytes on disk and in the footer's sizes, 200 MB once decoded. (Written as most
    tools write it, without an Arrow schema saying "keep it a dictionary".)"""
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 2000, pa.int32()), pa.array(["x" * 100_000]))
    data = _parquet(pa.table({"s": column}), store_schema=False)
    footer = pq.ParquetFile(io.BytesIO(data)).metadata
    assert len(data) < 4096 and footer.row_group(0).total_byte_size < MB  # the footer says "small"
    return data


def duplicate_names_parquet() -> bytes:
    return _parquet(pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4]), pa.array([5, 6])], names=["a", "b", "a"]))


def blank_name_parquet() -> bytes:
    return _parquet(pa.table({"": [1, 2], "b": ["u", "v"]}))


def gzip_bomb_csv() -> bytes:
    """About 20 KB of gzip that inflates to 20 MB of one-letter rows."""
    return gzip.compress(b"a\n" * (10 * MB), compresslevel=9)


def short_cells_csv_gz() -> bytes:
    """600 KB of text (inside a 1 MB cap) that parses into ~6 MB of one-digit cells."""
    return gzip.compress(b"n\n" + b"1\n" * 300_000)


def huge_field_ndjson_gz() -> bytes:
    """One NDJSON record with a 2 MB field: polars would need ~8x that to parse it."""
    return gzip.compress(b'{"a": "' + b"x" * (2 * MB) + b'"}\n')


WIDE_COLUMNS = 2_000


def wide_name(i: int) -> str:
    """Column ``i``'s name: 80 characters, so that 2,000 of them make a 162 KB header line."""
    return f"c{i:05d}_" + "w" * 73


def wide_csv(columns: int = WIDE_COLUMNS) -> bytes:
    """A header line twice as long as the 64 KiB the reader sniffs first, and two rows.

    The length of the line is what the case is about (the reader must read on past its first
    64 KiB to find the header's end); long names make it with 2,000 columns, which read ten
    times faster than the 20,000 short names of a 129 KB line did.
    """
    header = ",".join(wide_name(i) for i in range(columns))
    assert len(header) > 2 * 64 * 1024, len(header)
    row = ",".join(str(i % 7) for i in range(columns))
    return f"{header}\n{row}\n{row}\n".encode()


def big_cell_csv() -> bytes:
    return b"note,n\n" + b"y" * (3 * MB) + b",1\nshort,2\n"


def check_wide(frame: pl.DataFrame) -> None:
    last = WIDE_COLUMNS - 1
    assert frame.shape == (2, WIDE_COLUMNS)
    assert frame.columns == [wide_name(i) for i in range(WIDE_COLUMNS)]
    assert frame[wide_name(last)].to_list() == [last % 7] * 2


def check_big_cell(frame: pl.DataFrame) -> None:
    assert frame["n"].to_list() == [1, 2]
    assert [len(v) for v in frame["note"].to_list()] == [3 * MB, 5]


def check_non_finite(frame: pl.DataFrame) -> None:
    assert frame.schema["x"] == pl.Float64
    values = frame["x"].to_list()
    assert values[:2] == [1.5, 2.0]
    assert values[2:5] == [float("inf"), float("-inf"), float("inf")]
    assert values[5:] == [None, None]  # nan/NaN: missing markers by default


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    expect: type[Exception] | pl.DataFrame | Callable[[pl.DataFrame], None]
    message: str = ""
    options: dict[str, Any] = field(default_factory=dict)


CASES = [
    # --- memory bombs: bounded by what is decoded, the limit named
    Case("parquet dictionary/RLE column decoding far past its footer", dictionary_bomb_parquet,
         LimitExceededError, "max_decompressed_bytes", {"max_decompressed_bytes": 2 * MB}),
    Case("gzip bomb of rows", gzip_bomb_csv, LimitExceededError, "max_decompressed_bytes",
         {"max_decompressed_bytes": MB}),
    Case("gzip CSV inside the byte cap whose parsed cells take many times more", short_cells_csv_gz,
         LimitExceededError, "once parsed into cells", {"max_decompressed_bytes": MB}),
    Case("NDJSON.gz with one huge field", huge_field_ndjson_gz, LimitExceededError,
         "max_decompressed_bytes", {"max_decompressed_bytes": 4 * MB}),
    # --- silent corruption
    Case("quoted header cell holding a newline", lambda: b'"first\nname",city\nAnn,Oslo\n',
         pl.DataFrame({"first\nname": ["Ann"], "city": ["Oslo"]})),
    Case("CR-only line endings (old Mac)", lambda: b"a,b\r1,2\r3,4\r",
         pl.DataFrame({"a": [1, 3], "b": [2, 4]})),
    # --- wide and long
    Case("header line of 162 KB (2,000 long names; far over the 64 KiB sniffed)", wide_csv, check_wide),
    Case("a 3 MiB cell", big_cell_csv, check_big_cell),
    Case("a record over the 64 MiB record cap", lambda: b"note\n" + b"y" * (65 * MB) + b"\n",
         LimitExceededError, "longer than 67,108,864 bytes.*MAX_RECORD_BYTES"),
    Case("a header line over the 64 MiB record cap", lambda: b"h" * (65 * MB) + b"\n" + b"1\n" * MB,
         LimitExceededError, "header line is longer than 67,108,864 bytes.*MAX_RECORD_BYTES"),
    # --- raw exceptions become named errors
    Case("JSON nested 100,000 deep", lambda: b"[" * 100_000, InputError, "nested 100,000 levels deep",
         {"format": "json"}),
    Case("CSV column named like the row-number helper", lambda: b"__doppel_row,b\n7,x\n8,y\n",
         pl.DataFrame({"__doppel_row": [7, 8], "b": ["x", "y"]})),
    Case("JSON field named like the row-number helper", lambda: b'[{"__doppel_json_row": 7, "b": "x"}]',
         pl.DataFrame({"__doppel_json_row": [7], "b": ["x"]})),
    Case("NDJSON field named like the helper, sampled", lambda: b'{"__doppel_json_row": 7, "b": "x"}\n',
         pl.DataFrame({"__doppel_json_row": [7], "b": ["x"]}), options={"format": "ndjson", "n": 5}),
    Case("CSV columns named like the sampling helpers",
         lambda: b"__doppel_sample_key,__doppel_sample_pos\n1,2\n3,4\n",
         pl.DataFrame({"__doppel_sample_key": [1, 3], "__doppel_sample_pos": [2, 4]}), options={"n": 5}),
    Case("Parquet naming a column twice", duplicate_names_parquet, InputError, "names column 'a' more than once"),
    Case("CSV header with an empty cell, beside a column already called column_2",
         lambda: b"a,,column_2\n1,2,3\n", pl.DataFrame({"a": [1], "column_2_1": [2], "column_2": [3]})),
    Case("JSON field named ''", lambda: b'[{"": 1, "b": 2}]', pl.DataFrame({"column_1": [1], "b": [2]})),
    Case("Parquet column named ''", blank_name_parquet, pl.DataFrame({"column_1": [1, 2], "b": ["u", "v"]})),
    # --- weak messages mended
    Case("UTF-16 LE without a byte-order mark", lambda: "name,n\nÅse,1\nBo,2\n".encode("utf-16-le"),
         pl.DataFrame({"name": ["Åse", "Bo"], "n": [1, 2]})),
    Case("UTF-16 BE without a byte-order mark", lambda: "name,n\nÅse,1\nBo,2\n".encode("utf-16-be"),
         pl.DataFrame({"name": ["Åse", "Bo"], "n": [1, 2]})),
    Case("inf / -inf / Infinity / nan text in a numeric column",
         lambda: b"x\n1.5\n2\ninf\n-inf\nInfinity\nnan\nNaN\n", check_non_finite),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file(case: Case) -> None:
    data = case.build()
    if isinstance(case.expect, type):
        with pytest.raises(case.expect, match=case.message):
            engine.read(data, **case.options)
        return
    frame = engine.read(data, **case.options)
    if isinstance(case.expect, pl.DataFrame):
        assert_frame_equal(frame, case.expect)
    else:
        case.expect(frame)


def test_the_engine_has_a_finite_decompression_cap_of_its_own() -> None:
    """Without the app's caps a gzip bomb must meet a limit, not abort the process."""
    for reader in (engine.read, engine.scan):
        default = inspect.signature(reader).parameters["max_decompressed_bytes"].default
        assert isinstance(default, int) and 0 < default <= 4 * 1024**3


def test_non_finite_values_and_unnamed_columns_can_be_profiled() -> None:
    numbers = "".join(f"{i / 2}\n" for i in range(40))
    frame = engine.read(f"x,\n{numbers.replace(chr(10), ',a' + chr(10))}inf,b\n-inf,a\n".encode())
    assert frame.columns == ["x", "column_2"] and frame.schema["x"] == pl.Float64
    profile = engine.profile(frame)
    assert set(profile.columns) == {"x", "column_2"}
