"""engine.read on the real datasets and in every supported format and input kind."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import zstandard

import engine
from tests.conftest import DATASETS


def _readme_shapes() -> list[tuple[str, int, int]]:
    """(file, rows, columns) from the contents table of the datasets README."""
    text = (DATASETS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| ([\d,]+) × (\d+) \|", text, flags=re.MULTILINE)
    return [(name, int(n_rows.replace(",", "")), int(n_cols)) for name, n_rows, n_cols in rows]


SHAPES = _readme_shapes()


@pytest.fixture(scope="module")
def read_dataset(datasets: Path) -> Callable[[str], pl.DataFrame]:
    """engine.read of a dataset file by its README name, each file read once per module."""
    frames: dict[str, pl.DataFrame] = {}

    def read(name: str) -> pl.DataFrame:
        if name not in frames:
            frames[name] = engine.read(datasets / name)
        return frames[name]

    return read


def test_readme_lists_every_dataset_file():
    on_disk = sorted(str(p.relative_to(DATASETS)) for p in DATASETS.rglob("*.csv*"))
    assert sorted(name for name, _, _ in SHAPES) == on_disk


@pytest.mark.parametrize(("name", "rows", "columns"), SHAPES, ids=[s[0] for s in SHAPES])
def test_every_dataset_reads_with_the_shape_the_readme_states(read_dataset, name: str, rows: int, columns: int):
    assert read_dataset(name).shape == (rows, columns)


def test_adult_question_marks_become_nulls_after_stripping_spaces(adult_frame: pl.DataFrame):
    adult = adult_frame
    nulls = adult.null_count().row(0, named=True)
    assert (nulls["workclass"], nulls["occupation"], nulls["native-country"]) == (1836, 1843, 583)
    assert adult["workclass"].drop_nulls().str.starts_with(" ").sum() == 0
    assert "State-gov" in adult["workclass"].to_list()


def test_adult_numeric_columns_are_integers(adult_frame: pl.DataFrame):
    adult = adult_frame
    for column in ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"):
        assert adult.schema[column] == pl.Int64, column


def test_nyc_airbnb_last_review_parses_as_a_date_with_its_nulls(read_dataset):
    airbnb = read_dataset("nyc_airbnb_2019.csv.gz")
    assert airbnb.schema["last_review"] == pl.Date
    assert airbnb["last_review"].null_count() == 10052
    assert str(airbnb["last_review"].min()) == "2011-03-28"
    assert str(airbnb["last_review"].max()) == "2019-07-08"


def test_question_mark_in_mushroom_stalk_root_is_missing(read_dataset):
    mushroom = read_dataset("mushroom.csv")
    assert mushroom["stalk-root"].null_count() == 2480


def test_berka_district_question_mark_leaves_a_numeric_column(read_dataset):
    district = read_dataset("multitable/berka/district.csv.gz")
    assert district.schema["A12"] == pl.Float64
    assert district["A12"].null_count() == 1


def test_california_blank_bedrooms_are_nulls(read_dataset):
    housing = read_dataset("california_housing.csv.gz")
    assert housing["total_bedrooms"].null_count() == 207


def test_beijing_na_markers_are_nulls(read_dataset):
    air = read_dataset("timeseries/beijing_air_quality_4stations.csv.gz")
    assert air["PM2.5"].null_count() == 3228
    assert air["wd"].null_count() == 439


@pytest.mark.parametrize("suffix", [".parquet", ".json", ".ndjson", ".csv.gz", ".csv.zst", ".parquet.gz", ".ndjson.zst"])
def test_adult_round_trips_through_each_format(adult_frame: pl.DataFrame, tmp_path: Path, suffix: str):
    adult = adult_frame
    inner = suffix.removesuffix(".gz").removesuffix(".zst")
    buffer = io.BytesIO()
    {".parquet": adult.write_parquet, ".json": adult.write_json, ".ndjson": adult.write_ndjson, ".csv": adult.write_csv}[inner](buffer)
    data = buffer.getvalue()
    if suffix.endswith(".gz"):
        data = gzip.compress(data)
    elif suffix.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"adult{suffix}"
    path.write_bytes(data)
    assert engine.read(path).equals(adult)


def test_format_is_sniffed_from_content_when_the_name_says_nothing(adult_frame: pl.DataFrame, tmp_path: Path):
    adult = adult_frame.head(100)
    for writer, name in ((adult.write_parquet, "a"), (adult.write_ndjson, "b"), (adult.write_json, "c")):
        buffer = io.BytesIO()
        writer(buffer)
        path = tmp_path / name
        path.write_bytes(gzip.compress(buffer.getvalue()))
        assert engine.read(path).equals(adult), name


def test_bytes_input_reads_like_the_file(adult_frame: pl.DataFrame, adult_bytes: bytes):
    assert engine.read(adult_bytes, name="adult.csv").equals(adult_frame)


def test_file_object_input_reads_like_the_file(adult_frame: pl.DataFrame, adult_bytes: bytes):
    upload = io.BytesIO(adult_bytes)
    upload.name = "adult.csv"
    assert engine.read(upload).equals(adult_frame)


def test_open_binary_file_reads_like_the_path(datasets: Path):
    with open(datasets / "mushroom.csv", "rb") as handle:
        from_handle = engine.read(handle)
    assert from_handle.equals(engine.read(datasets / "mushroom.csv"))


def test_string_path_reads_like_a_path_object(datasets: Path):
    assert engine.read(str(datasets / "mushroom.csv")).equals(engine.read(datasets / "mushroom.csv"))


def test_explicit_format_overrides_the_extension(adult_head: bytes, tmp_path: Path):
    path = tmp_path / "adult.data"
    path.write_bytes(adult_head.replace(b",", b"\t"))
    assert engine.read(path, format="tsv").shape == (400, 15)


def test_dtypes_override_forces_a_column_type(adult_head: bytes):
    frame = engine.read(adult_head, dtypes={"age": pl.Float64, "education-num": pl.String})
    assert frame.schema["age"] == pl.Float64
    assert frame.schema["education-num"] == pl.String


def test_explicit_null_values_replace_the_defaults(adult_head: bytes):
    raw = pl.read_csv(adult_head, infer_schema=False)["workclass"].str.strip_chars()
    frame = engine.read(adult_head, null_values=["Private"])
    assert frame["workclass"].null_count() == (raw == "Private").sum()
    assert (frame["workclass"] == "?").sum() == (raw == "?").sum() > 0


def test_json_dates_become_dates(read_dataset):
    players = read_dataset("multitable/baseball/players.csv.gz")
    buffer = io.BytesIO()
    players.with_columns(pl.col("birthDate").cast(pl.String)).write_ndjson(buffer)
    again = engine.read(buffer.getvalue(), name="players.ndjson")
    assert again.schema["birthDate"] == pl.Date
    assert again.equals(players)
