"""Seeded sampling in engine.read, and lazy reading with engine.scan."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import InputError, LimitExceededError
from tests.engine.data_fixtures import lines_of, replace_line


@pytest.fixture(scope="module")
def adult(adult_frame: pl.DataFrame) -> pl.DataFrame:
    return adult_frame


@pytest.fixture(scope="module")
def adult_parquet(adult: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parquet") / "adult.parquet"
    adult.write_parquet(path, row_group_size=5000)
    return path


def _is_subset(sample: pl.DataFrame, full: pl.DataFrame) -> bool:
    """Every sampled row is a row of ``full``."""
    return sample.join(full.unique(), on=full.columns, how="anti", nulls_equal=True).height == 0


def test_n_gives_exactly_n_rows_of_the_file(datasets: Path, adult: pl.DataFrame):
    sample = engine.read(datasets / "adult.csv", n=500, seed=3)
    assert sample.height == 500
    assert sample.schema == adult.schema
    assert _is_subset(sample, adult)


def test_sampled_rows_keep_the_file_order(datasets: Path):
    path = datasets / "multitable" / "baseball" / "players.csv.gz"
    positions = dict(zip(engine.read(path)["id"].to_list(), range(10**6)))
    sample = engine.read(path, n=200, seed=1)
    assert [positions[i] for i in sample["id"]] == sorted(positions[i] for i in sample["id"])


def test_same_seed_gives_the_same_rows(datasets: Path):
    first = engine.read(datasets / "adult.csv", n=300, seed=11)
    second = engine.read(datasets / "adult.csv", n=300, seed=11)
    assert first.equals(second)


def test_different_seeds_give_different_rows(datasets: Path):
    first = engine.read(datasets / "adult.csv", n=300, seed=11)
    second = engine.read(datasets / "adult.csv", n=300, seed=12)
    assert not first.equals(second)


def test_fraction_keeps_about_that_share(datasets: Path, adult: pl.DataFrame):
    sample = engine.read(datasets / "adult.csv", sample=0.1, seed=5)
    expected = 0.1 * adult.height
    assert abs(sample.height - expected) < 4 * (adult.height * 0.1 * 0.9) ** 0.5
    assert _is_subset(sample, adult)


def test_fraction_is_deterministic_per_seed(datasets: Path):
    path = datasets / "nyc_airbnb_2019.csv.gz"
    assert engine.read(path, sample=0.05, seed=1).equals(engine.read(path, sample=0.05, seed=1))
    assert not engine.read(path, sample=0.05, seed=1).equals(engine.read(path, sample=0.05, seed=2))


def test_n_larger_than_the_file_returns_every_row(adult_head: bytes):
    assert engine.read(adult_head, n=10_000).equals(engine.read(adult_head))


def test_sample_of_a_file_over_the_row_limit_is_allowed(datasets: Path):
    sample = engine.read(datasets / "adult.csv", n=1000, max_rows=5000)
    assert sample.height == 1000


def test_sample_over_the_row_limit_is_refused(datasets: Path):
    with pytest.raises(LimitExceededError, match=r"the sample has [\d,]+ rows, over the limit of 1,000 \(max_rows\)"):
        engine.read(datasets / "adult.csv", sample=0.5, max_rows=1000)


def test_parquet_sample_streams_row_groups_and_is_seeded(adult_parquet: Path, adult: pl.DataFrame):
    sample = engine.read(adult_parquet, n=400, seed=9, max_rows=1000)
    assert sample.height == 400
    assert sample.equals(engine.read(adult_parquet, n=400, seed=9))
    assert _is_subset(sample, adult)


def test_csv_and_parquet_samples_pick_the_same_rows(datasets: Path, adult_parquet: Path):
    from_csv = engine.read(datasets / "adult.csv", n=250, seed=21)
    from_parquet = engine.read(adult_parquet, n=250, seed=21)
    assert from_csv.equals(from_parquet)


def test_ndjson_and_compressed_samples_are_seeded(adult: pl.DataFrame):
    buffer = io.BytesIO()
    adult.head(2000).write_ndjson(buffer)
    sample = engine.read(buffer.getvalue(), n=100, seed=4)
    assert sample.height == 100
    assert sample.equals(engine.read(buffer.getvalue(), n=100, seed=4))


def test_local_ndjson_sample_streams_and_matches_the_in_memory_sample(adult: pl.DataFrame, tmp_path: Path):
    path = tmp_path / "adult.ndjson"
    adult.write_ndjson(path)
    streamed = engine.read(path, n=150, seed=13)
    assert streamed.height == 150
    assert streamed.equals(engine.read(path.read_bytes(), n=150, seed=13))


def test_types_of_a_sample_are_inferred_from_the_sample(datasets: Path):
    sample = engine.read(datasets / "nyc_airbnb_2019.csv.gz", n=2000, seed=0)
    assert sample.schema["last_review"] == pl.Date
    assert sample.schema["price"] == pl.Int64


def test_scan_returns_a_lazy_frame_that_collects_to_the_full_read(datasets: Path, adult: pl.DataFrame):
    lazy = engine.scan(datasets / "adult.csv")
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(adult)


def test_scan_pushes_projection_and_filters(datasets: Path, adult: pl.DataFrame):
    lazy = engine.scan(datasets / "adult.csv").filter(pl.col("age") > 60).select("age", "workclass")
    expected = adult.filter(pl.col("age") > 60).select("age", "workclass")
    assert lazy.collect().equals(expected)


def test_scan_head_stops_early(datasets: Path, adult: pl.DataFrame):
    assert engine.scan(datasets / "adult.csv").head(7).collect().equals(adult.head(7))


def test_scan_of_gzip_csv_infers_dates(datasets: Path):
    schema = engine.scan(datasets / "nyc_airbnb_2019.csv.gz").collect_schema()
    assert schema["last_review"] == pl.Date


def test_scan_parquet_and_ndjson(adult_parquet: Path, adult: pl.DataFrame, tmp_path: Path):
    assert engine.scan(adult_parquet).collect().equals(adult)
    path = tmp_path / "adult.ndjson"
    adult.write_ndjson(path)
    assert engine.scan(path).collect().equals(adult)


def test_scan_reports_a_late_ragged_row_with_its_line(adult_bytes: bytes, tmp_path: Path):
    data = adult_bytes
    line = lines_of(data)[29_999]
    path = tmp_path / "late.csv"
    path.write_bytes(replace_line(data, 30_000, line + b",extra"))
    lazy = engine.scan(path)
    with pytest.raises(InputError, match=r"late\.csv: line 30,000 has 16 fields"):
        lazy.collect()


def test_scan_reports_a_late_cell_of_the_wrong_type_with_its_line(adult_bytes: bytes, tmp_path: Path):
    data = adult_bytes
    line = lines_of(data)[25_000]
    path = tmp_path / "late_type.csv"
    path.write_bytes(replace_line(data, 25_001, b"old" + line[2:]))
    lazy = engine.scan(path)
    with pytest.raises(InputError, match=r"column 'age' should hold Int64 values but line 25,001 has 'old'"):
        lazy.collect()
