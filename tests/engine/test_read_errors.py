"""Bad input gets a specific error that names the file, the line or column, and the problem."""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import zstandard

import engine
from engine.errors import ConfigError, InputError, LimitExceededError
from tests.engine.data_fixtures import lines_of, replace_line


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_missing_file_is_named(tmp_path: Path):
    with pytest.raises(InputError, match=r"nowhere\.csv: no such file"):
        engine.read(tmp_path / "nowhere.csv")


def test_empty_file(tmp_path: Path):
    path = _write(tmp_path, "empty.csv", b"")
    with pytest.raises(InputError, match=r"empty\.csv is empty \(0 bytes\)"):
        engine.read(path)


def test_whitespace_only_file_is_empty(tmp_path: Path):
    path = _write(tmp_path, "blank.csv", b"\n  \n\n")
    with pytest.raises(InputError, match=r"blank\.csv is empty"):
        engine.read(path)


def test_empty_gzip_file_is_empty(tmp_path: Path):
    path = _write(tmp_path, "empty.csv.gz", gzip.compress(b""))
    with pytest.raises(InputError, match=r"empty\.csv\.gz is empty after gzip decompression"):
        engine.read(path)


def test_header_only_file(adult_head: bytes, tmp_path: Path):
    path = _write(tmp_path, "header.csv", lines_of(adult_head)[0] + b"\n")
    with pytest.raises(InputError, match=r"header\.csv has a header \(15 columns: age, workclass.*\) but no data rows"):
        engine.read(path)


def test_ragged_row_with_an_extra_field_names_the_line(adult_head: bytes, tmp_path: Path):
    line = lines_of(adult_head)[57]
    path = _write(tmp_path, "extra.csv", replace_line(adult_head, 58, line + b", surplus"))
    with pytest.raises(InputError, match=r"extra\.csv: line 58 has 16 fields, expected 15 as in the header"):
        engine.read(path)


def test_ragged_row_with_a_missing_field_names_the_line(adult_head: bytes, tmp_path: Path):
    line = lines_of(adult_head)[199]
    path = _write(tmp_path, "short.csv", replace_line(adult_head, 200, line.rsplit(b",", 1)[0]))
    with pytest.raises(InputError, match=r"short\.csv: line 200 has 14 fields, expected 15"):
        engine.read(path)


def _set_field(line: bytes, index: int, value: bytes) -> bytes:
    fields = line.split(b",")
    fields[index] = value
    return b",".join(fields)


def test_ragged_row_line_counts_lines_inside_quoted_fields(adult_head: bytes, tmp_path: Path):
    data = replace_line(adult_head, 10, _set_field(lines_of(adult_head)[9], 1, b'"Work\nclass"'))
    data = replace_line(data, 31, lines_of(data)[30] + b",extra")
    path = _write(tmp_path, "quoted.csv", data)
    with pytest.raises(InputError, match=r"line 31 has 16 fields"):
        engine.read(path)


def test_unclosed_quote_names_the_line(adult_head: bytes, tmp_path: Path):
    data = replace_line(adult_head, 300, _set_field(lines_of(adult_head)[299], 1, b'"Private'))
    path = _write(tmp_path, "unclosed.csv", data)
    with pytest.raises(InputError, match=r"unclosed\.csv: line 300 opens a quoted field .* never closed"):
        engine.read(path)


def test_stray_text_in_a_numeric_column_names_column_line_and_value(adult_head: bytes, tmp_path: Path):
    line = lines_of(adult_head)[120]
    path = _write(tmp_path, "typo.csv", replace_line(adult_head, 121, b"4O" + line[2:]))
    with pytest.raises(InputError, match=r"typo\.csv: column 'age' holds numbers in 399 of 400 .* line 121 has '4O'"):
        engine.read(path)


def test_stray_text_can_be_kept_with_a_string_dtype(adult_head: bytes):
    line = lines_of(adult_head)[120]
    frame = engine.read(replace_line(adult_head, 121, b"4O" + line[2:]), dtypes={"age": pl.String})
    assert frame["age"][119] == "4O"


def test_explicit_dtype_that_does_not_fit_names_line_and_value(adult_head: bytes):
    with pytest.raises(InputError, match=r"column 'workclass' should hold Int64 values but line 2 has 'State-gov'"):
        engine.read(adult_head, name="adult.csv", dtypes={"workclass": pl.Int64})


def test_dtypes_naming_an_unknown_column_is_a_config_error(adult_head: bytes):
    with pytest.raises(ConfigError, match=r"dtypes= names column 'salary'"):
        engine.read(adult_head, dtypes={"salary": pl.Int64})


def test_duplicate_header_names_are_refused(adult_head: bytes):
    data = adult_head.replace(b"fnlwgt", b"age", 1)
    with pytest.raises(InputError, match=r"column 'age' twice \(columns 1 and 3\)"):
        engine.read(data, name="dup.csv")


def test_random_binary_bytes_named_csv(tmp_path: Path):
    path = _write(tmp_path, "noise.csv", np.random.default_rng(7).bytes(4096))
    with pytest.raises(InputError, match=r"noise\.csv is not a CSV text file: it looks like binary data"):
        engine.read(path)


def test_workbook_named_csv_is_recognised(adult_bytes: bytes, tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("adult.csv", adult_bytes)
    path = _write(tmp_path, "adult.csv", buffer.getvalue())
    with pytest.raises(InputError, match=r"adult\.csv is not a CSV text file: it looks like a ZIP archive"):
        engine.read(path)


def test_parquet_named_file_that_is_not_parquet(adult_head: bytes, tmp_path: Path):
    path = _write(tmp_path, "adult.parquet", adult_head)
    with pytest.raises(InputError, match=r"adult\.parquet is not a Parquet file: it does not start with the PAR1"):
        engine.read(path)


def test_invalid_utf8_below_a_utf8_head_names_the_line(adult_bytes: bytes, tmp_path: Path):
    data = replace_line(adult_bytes, 2, _set_field(lines_of(adult_bytes)[1], 1, " État".encode()))
    data = replace_line(data, 30_000, _set_field(lines_of(data)[29_999], 1, b" Priv\xe9"))
    path = _write(tmp_path, "mixed_encoding.csv", data)
    with pytest.raises(InputError, match=r"mixed_encoding\.csv: line 30,000 is not valid utf-8 text \(byte 0xe9"):
        engine.read(path)


def test_upload_over_the_size_limit_is_refused_before_reading(adult_bytes: bytes):
    upload = io.BytesIO(adult_bytes)
    upload.name = "adult.csv"
    with pytest.raises(LimitExceededError, match=r"adult\.csv is 3,811,655 bytes, over the limit of 1,000,000 bytes \(max_bytes\)"):
        engine.read(upload, max_bytes=1_000_000)
    assert upload.tell() == 0


class _Unsized(io.RawIOBase):
    """An upload stream that cannot say its size (not seekable), to test the streaming cap."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.name = "stream.csv"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        return self._inner.readinto(buffer)

    @property
    def consumed(self) -> int:
        return self._inner.tell()


def test_unsized_upload_stops_reading_at_the_size_limit(adult_bytes: bytes):
    stream = _Unsized(adult_bytes)
    with pytest.raises(LimitExceededError, match=r"stream\.csv is over the limit of 500,000 bytes"):
        engine.read(stream, max_bytes=500_000)
    assert stream.consumed < 2 * 1024 * 1024


def test_file_over_the_size_limit(datasets: Path):
    with pytest.raises(LimitExceededError, match=r"adult\.csv is 3,811,655 bytes, over the limit"):
        engine.read(datasets / "adult.csv", max_bytes=3_000_000)


def test_csv_over_the_row_limit(datasets: Path):
    with pytest.raises(LimitExceededError, match=r"adult\.csv has more than 10,000 rows, over the limit \(max_rows\)"):
        engine.read(datasets / "adult.csv", max_rows=10_000)


def test_gzip_bomb_stops_at_the_decompressed_cap_without_inflating_it(tmp_path: Path):
    path = _write(tmp_path, "bomb.csv.gz", gzip.compress(b"a,b\n" + b"1,2\n" * 16_000_000, compresslevel=6))
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError, match=r"bomb\.csv\.gz decompresses to more than 1,000,000 bytes"):
            engine.read(path, max_decompressed_bytes=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000_000  # the 64 MB payload was never held


def test_zstd_bomb_stops_at_the_decompressed_cap(tmp_path: Path):
    path = _write(tmp_path, "bomb.csv.zst", zstandard.ZstdCompressor().compress(b"a,b\n" + b"1,2\n" * 16_000_000))
    with pytest.raises(LimitExceededError, match=r"bomb\.csv\.zst decompresses to more than 1,000,000 bytes"):
        engine.read(path, max_decompressed_bytes=1_000_000)


def test_truncated_gzip_is_named(adult_head: bytes, tmp_path: Path):
    path = _write(tmp_path, "cut.csv.gz", gzip.compress(adult_head)[:-200])
    with pytest.raises(InputError, match=r"cut\.csv\.gz: the gzip data is truncated"):
        engine.read(path)


def test_corrupt_gzip_is_named(adult_head: bytes, tmp_path: Path):
    data = bytearray(gzip.compress(adult_head))
    data[40:60] = b"\xff" * 20
    path = _write(tmp_path, "bad.csv.gz", bytes(data))
    with pytest.raises(InputError, match=r"bad\.csv\.gz: corrupt gzip data"):
        engine.read(path)


def test_truncated_zstd_is_named(adult_head: bytes, tmp_path: Path):
    path = _write(tmp_path, "cut.csv.zst", zstandard.ZstdCompressor().compress(adult_head)[:-50])
    with pytest.raises(InputError, match=r"cut\.csv\.zst: the zstd data is truncated"):
        engine.read(path)


def _adult_parquet(adult: pl.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "adult.parquet"
    adult.write_parquet(path, row_group_size=4096)
    return path


def _corrupt_data_pages(path: Path) -> None:
    """Overwrite the middle of the file (data pages), keeping the footer readable."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 4096] = b"\x00" * 4096
    path.write_bytes(bytes(data))


def test_parquet_over_the_row_limit_is_refused_from_its_footer(adult_frame: pl.DataFrame, tmp_path: Path):
    path = _adult_parquet(adult_frame, tmp_path)
    _corrupt_data_pages(path)  # were the data read first, this would fail as corrupt
    with pytest.raises(LimitExceededError, match=r"adult\.parquet has 32,561 rows \(from its Parquet metadata\), over the limit of 10,000"):
        engine.read(path, max_rows=10_000)


def test_parquet_over_the_byte_limit_is_refused_from_its_footer(adult_frame: pl.DataFrame, tmp_path: Path):
    path = _adult_parquet(adult_frame, tmp_path)
    _corrupt_data_pages(path)
    with pytest.raises(LimitExceededError, match=r"adult\.parquet: it holds [\d,]+ bytes of uncompressed column data .* over the limit of 100,000 bytes"):
        engine.read(path, max_decompressed_bytes=100_000)


def test_corrupt_parquet_data_is_an_input_error(adult_frame: pl.DataFrame, tmp_path: Path):
    path = _adult_parquet(adult_frame, tmp_path)
    _corrupt_data_pages(path)
    with pytest.raises(InputError, match=r"adult\.parquet: corrupt Parquet data"):
        engine.read(path)


def test_parquet_without_a_footer_is_named(adult_frame: pl.DataFrame, tmp_path: Path):
    path = _adult_parquet(adult_frame, tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"adult\.parquet: not a readable Parquet file"):
        engine.read(path)


def test_invalid_json_names_line_and_column(datasets: Path, tmp_path: Path):
    text = engine.read(datasets / "mushroom.csv").head(50).write_json()
    broken = text.replace("},{", "},,{", 1)
    path = _write(tmp_path, "mushroom.json", broken.encode())
    with pytest.raises(InputError, match=r"mushroom\.json: invalid JSON at line 1, column \d+"):
        engine.read(path)


def test_json_that_is_not_an_array_of_records(tmp_path: Path):
    path = _write(tmp_path, "numbers.json", b"[1, 2, 3]")
    with pytest.raises(InputError, match=r"numbers\.json: record 1 of the JSON array is a number, expected an object"):
        engine.read(path)


def test_invalid_ndjson_names_the_line(datasets: Path, tmp_path: Path):
    lines = engine.read(datasets / "mushroom.csv").head(50).write_ndjson().splitlines()
    lines[36] = lines[36][:-1]
    path = _write(tmp_path, "mushroom.ndjson", ("\n".join(lines) + "\n").encode())
    with pytest.raises(InputError, match=r"mushroom\.ndjson: line 37 is not valid JSON"):
        engine.read(path)


def test_pretty_printed_json_named_ndjson_says_so(tmp_path: Path):
    path = _write(tmp_path, "one.ndjson", b'{\n  "a": 1,\n  "b": 2\n}\n')
    with pytest.raises(InputError, match=r"one JSON document spread over several lines"):
        engine.read(path)


def test_empty_json_array(tmp_path: Path):
    path = _write(tmp_path, "none.json", b"[]")
    with pytest.raises(InputError, match=r"none\.json: there are no records"):
        engine.read(path)


def test_stray_text_in_a_numeric_json_field_names_the_line(adult_frame: pl.DataFrame, tmp_path: Path):
    adult = adult_frame.head(300)
    lines = adult.write_ndjson().splitlines()
    lines[200] = lines[200].replace('"age":', '"age":"unknown","was":', 1)
    path = _write(tmp_path, "adult.ndjson", ("\n".join(lines) + "\n").encode())
    with pytest.raises(InputError, match=r"adult\.ndjson: column 'age' .* line 201 has 'unknown'"):
        engine.read(path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sample": 0.1, "n": 10}, "either sample= .* or n="),
        ({"sample": 1.5}, r"sample=1\.5 must be a fraction"),
        ({"n": 0}, "n=0 must be a positive"),
        ({"format": "xlsx"}, "format='xlsx' is not supported"),
        ({"delimiter": "ab"}, "delimiter='ab' must be one character"),
        ({"encoding": "klingon"}, "encoding='klingon' is not a known"),
        ({"max_rows": -1}, "max_rows=-1 must be a positive"),
        ({"null_values": "NA"}, "null_values='NA' must be a list"),
    ],
)
def test_invalid_options_are_config_errors(adult_head: bytes, options: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        engine.read(adult_head, **options)


def test_text_mode_file_object_is_refused(tmp_path: Path):
    path = tmp_path / "text.csv"
    path.write_text("a,b\n1,2\n")
    with open(path, encoding="utf-8") as handle, pytest.raises(InputError, match="opened in text mode"):
        engine.read(handle)


def test_a_failed_read_writes_nothing(adult_head: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    line = lines_of(adult_head)[57]
    source = _write(tmp_path, "bad.csv.gz", gzip.compress(replace_line(adult_head, 58, line + b",x")))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(InputError, match="line 58"):
        engine.read(source)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
