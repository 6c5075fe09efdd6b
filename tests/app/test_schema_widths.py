"""The Profile's schema tables give every column a width that shows its longest value in full.

Before: big numbers and dates were cut in the cells ("1,484,7", "2023-01-0"). The tables are
built from real profiles (adult.csv's fnlwgt reaches 1,484,705; nyc_airbnb's last_review is a date).
"""

from __future__ import annotations

import polars as pl
import pytest

import engine
from app.components.profile_view import schema_column_config, schema_table
from app.components.schema_editor import editor_column_config, schema_frame
from app.components.table_widths import CELL_PADDING_PX, CHAR_PX, MAX_PX, fitting_widths


def needed_px(text: str) -> float:
    return len(text) * CHAR_PX + CELL_PADDING_PX


@pytest.fixture(scope="module")
def profiles(datasets):
    adult = engine.read(datasets / "adult.csv")
    airbnb = engine.read(datasets / "nyc_airbnb_2019.csv.gz").select(
        ["neighbourhood", "price", "last_review", "reviews_per_month"])
    return [engine.profile(adult, sample_rows=5_000), engine.profile(airbnb, sample_rows=5_000)]


def test_every_schema_cell_and_header_fits_its_column(profiles):
    for profile in profiles:
        table = schema_table(profile)
        config = schema_column_config(table)
        for name in ("column", "type", "dtype", "min", "median", "max"):
            longest = max([name, *(str(v) for v in table[name].to_list() if v is not None)], key=len)
            assert config[name]["width"] >= min(needed_px(longest), MAX_PX), (name, longest, config[name])
        assert config["distinct"]["type_config"]["format"] == "localized"
        assert config["nulls"]["type_config"]["format"] == "percent"


def test_a_seven_digit_maximum_and_a_date_are_not_cut(profiles):
    adult, airbnb = (schema_table(p) for p in profiles)
    fnlwgt = adult.row(by_predicate=pl.col("column") == "fnlwgt", named=True)
    assert fnlwgt["max"] == "1,484,705"
    assert schema_column_config(adult)["max"]["width"] >= needed_px("1,484,705")
    review = airbnb.row(by_predicate=pl.col("column") == "last_review", named=True)
    assert review["min"].startswith("2011-03-28")
    assert schema_column_config(airbnb)["min"]["width"] >= needed_px(review["min"])


def test_the_editor_fits_every_type_it_offers(profiles):
    frame = schema_frame(profiles[0])
    config = editor_column_config(frame)
    assert config["type"]["width"] >= needed_px("categorical")
    assert config["why this type"]["width"] <= MAX_PX  # prose is capped, not the numbers
    assert all(config[name]["width"] >= needed_px(name) for name in frame.columns)


def test_a_long_text_is_capped_and_a_localized_number_counts_its_separators():
    frame = pl.DataFrame({"why": ["word " * 200], "n": [1_484_705]})
    widths = fitting_widths(frame, shown={"n": lambda v: f"{v:,}"})
    assert widths["why"] == MAX_PX and widths["n"] >= needed_px("1,484,705")
