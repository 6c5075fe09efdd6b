"""CSV dialect sniffing: delimiters, quoting, header detection and encodings, on slices of adult."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import engine
from tests.engine.data_fixtures import ADULT_HEAD_ROWS


@pytest.fixture(scope="module")
def adult_slice(adult_head: bytes) -> pl.DataFrame:
    """The same rows read from the original comma-separated bytes: what every dialect must give."""
    return engine.read(adult_head, name="adult.csv")


@pytest.mark.parametrize(
    ("delimiter", "file_name"),
    [("\t", "adult.tsv"), (";", "adult.csv"), ("|", "adult.txt"), ("\t", "adult.csv")],
    ids=["tab-tsv", "semicolon", "pipe", "tab-named-csv"],
)
def test_delimiter_is_sniffed(adult_head: bytes, adult_slice: pl.DataFrame, tmp_path: Path, delimiter: str, file_name: str):
    path = tmp_path / file_name
    path.write_bytes(adult_head.replace(b",", delimiter.encode()))
    assert engine.read(path).equals(adult_slice)


def test_explicit_delimiter_is_used(adult_head: bytes, adult_slice: pl.DataFrame):
    assert engine.read(adult_head.replace(b",", b";"), delimiter=";").equals(adult_slice)


def test_quoted_fields_keep_embedded_delimiters_newlines_and_quotes(adult_slice: pl.DataFrame, tmp_path: Path):
    notes = ["plain", 'said "hello", then left', "two\nlines, one cell", "semi;colon"] * (adult_slice.height // 4)
    frame = adult_slice.with_columns(pl.Series("note", notes))
    path = tmp_path / "adult_notes.csv"
    frame.write_csv(path, quote_style="necessary")
    assert engine.read(path).equals(frame)


def test_quoted_fields_in_semicolon_file(adult_slice: pl.DataFrame, tmp_path: Path):
    frame = adult_slice.with_columns((pl.col("occupation") + "; " + pl.col("relationship")).alias("both"))
    path = tmp_path / "adult_semicolon.csv"
    frame.write_csv(path, separator=";", quote_style="non_numeric")
    assert engine.read(path).equals(frame)


def test_single_quote_character_is_sniffed(adult_head: bytes, tmp_path: Path):
    lines = adult_head.decode().splitlines()
    rows = [",".join(f"'{cell.strip()}, x'" if j == 3 else cell for j, cell in enumerate(line.split(","))) for line in lines[1:]]
    path = tmp_path / "single.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    education = engine.read(path)["education"]
    assert education.str.ends_with(", x").all()


def test_utf8_bom_is_not_part_of_the_first_column_name(adult_head: bytes, adult_slice: pl.DataFrame, tmp_path: Path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + adult_head)
    frame = engine.read(path)
    assert frame.columns[0] == "age"
    assert frame.equals(adult_slice)


def _accented(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("native-country").str.replace("United-States", "États-Unis"))


def test_latin1_file_is_decoded(adult_slice: pl.DataFrame, tmp_path: Path):
    expected = _accented(adult_slice)
    path = tmp_path / "latin1.csv"
    path.write_bytes(expected.write_csv().encode("latin-1"))
    assert engine.read(path).equals(expected)


def test_latin1_text_far_below_an_ascii_head_is_decoded(adult_frame: pl.DataFrame, tmp_path: Path):
    adult = adult_frame
    expected = pl.concat([adult, _accented(adult.tail(5))])
    path = tmp_path / "late_latin1.csv"
    path.write_bytes(expected.write_csv().encode("latin-1"))
    assert engine.read(path).equals(expected)


def test_utf8_file_keeps_its_accents(adult_slice: pl.DataFrame, tmp_path: Path):
    expected = _accented(adult_slice)
    path = tmp_path / "utf8.csv"
    path.write_bytes(expected.write_csv().encode("utf-8"))
    assert engine.read(path).equals(expected)


def test_utf16_file_with_bom_is_decoded(adult_slice: pl.DataFrame, tmp_path: Path):
    path = tmp_path / "utf16.csv"
    path.write_bytes(adult_slice.write_csv().encode("utf-16"))
    assert engine.read(path).equals(adult_slice)


def test_explicit_encoding_is_used(adult_slice: pl.DataFrame, tmp_path: Path):
    expected = _accented(adult_slice)
    path = tmp_path / "cp850.csv"
    path.write_bytes(expected.write_csv().encode("cp850"))
    assert engine.read(path, encoding="cp850").equals(expected)


def test_headerless_file_gets_numbered_columns(adult_head: bytes, adult_slice: pl.DataFrame):
    body = adult_head.split(b"\n", 1)[1]
    frame = engine.read(body, name="adult.data")
    assert frame.columns == [f"column_{j}" for j in range(1, 16)]
    assert frame.height == ADULT_HEAD_ROWS
    assert frame.to_numpy().tolist() == adult_slice.to_numpy().tolist()


def test_all_text_header_is_detected(datasets: Path):
    mushroom = engine.read(datasets / "mushroom.csv")
    assert mushroom.columns[:3] == ["class", "cap-shape", "cap-surface"]
    assert mushroom.height == 8124


def test_headerless_all_text_file_keeps_its_first_row(datasets: Path):
    body = (datasets / "mushroom.csv").read_bytes().split(b"\n", 1)[1]
    frame = engine.read(body, name="mushroom.data")
    assert frame.height == 8124
    assert frame.row(0)[:3] == ("p", "x", "s")


def test_blank_lines_are_skipped(adult_head: bytes, adult_slice: pl.DataFrame):
    spaced = adult_head.replace(b"\n", b"\n\n", 3)
    assert engine.read(spaced).equals(adult_slice)


def test_windows_line_ends_are_read(adult_head: bytes, adult_slice: pl.DataFrame):
    assert engine.read(adult_head.replace(b"\n", b"\r\n")).equals(adult_slice)


def test_column_mixing_numbers_and_words_stays_text(adult_slice: pl.DataFrame):
    mixed = adult_slice.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(pl.col("age").cast(pl.String)).otherwise(pl.col("education")).alias("code")
    )
    frame = engine.read(mixed.write_csv().encode())
    assert frame.schema["code"] == pl.String
    assert frame["code"].to_list() == mixed["code"].to_list()


def test_integers_with_leading_zeros_stay_text(adult_slice: pl.DataFrame):
    zipped = adult_slice.with_columns(pl.col("fnlwgt").cast(pl.String).str.zfill(7).alias("zip"))
    frame = engine.read(zipped.write_csv().encode())
    assert frame.schema["zip"] == pl.String
    assert frame["zip"].str.starts_with("0").any()


def test_iso_datetimes_become_datetimes(adult_slice: pl.DataFrame):
    stamps = pl.datetime_range(pl.datetime(2020, 1, 1), pl.datetime(2020, 1, 1) + pl.duration(hours=adult_slice.height - 1), "1h", eager=True)
    frame = engine.read(adult_slice.with_columns(stamps.alias("seen")).write_csv().encode())
    assert frame.schema["seen"] == pl.Datetime("us")
    assert frame["seen"].to_list() == stamps.to_list()


def test_true_false_columns_become_booleans(adult_slice: pl.DataFrame):
    flagged = adult_slice.with_columns((pl.col("income") == ">50K").alias("rich"))
    frame = engine.read(flagged.write_csv().encode())
    assert frame.schema["rich"] == pl.Boolean
    assert frame["rich"].to_list() == flagged["rich"].to_list()


def test_question_mark_is_kept_where_it_is_one_symbol_among_others(adult_slice: pl.DataFrame):
    symbols = ["?", "!", "*", "-"] * (adult_slice.height // 4)
    frame = engine.read(adult_slice.with_columns(pl.Series("mark", symbols)).write_csv().encode())
    assert frame["mark"].null_count() == 0
    assert (frame["mark"] == "?").sum() == adult_slice.height // 4
