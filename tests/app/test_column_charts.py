"""Per-column charts are built from the profile of real data."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import engine
from app.components.column_charts import column_figure, no_chart_reason


@pytest.fixture(scope="module")
def airbnb_profile(datasets):
    return engine.profile(engine.read(datasets / "nyc_airbnb_2019.csv.gz", n=5_000, seed=0))


def test_numeric_column_is_a_bar_per_histogram_bin(airbnb_profile):
    column = airbnb_profile.columns["price"]
    bars = column_figure(column).data[0]
    assert list(bars.y) == column.histogram["counts"]
    assert bars.x[0] == pytest.approx((column.histogram["edges"][0] + column.histogram["edges"][1]) / 2)


def test_datetime_column_is_charted_on_a_date_axis(airbnb_profile):
    column = airbnb_profile.columns["last_review"]
    bars = column_figure(column).data[0]
    assert isinstance(bars.x[0], (date, datetime))
    assert list(bars.y) == column.histogram["counts"]


def test_categorical_column_is_a_bar_per_top_value(airbnb_profile):
    column = airbnb_profile.columns["room_type"]
    bars = column_figure(column).data[0]
    assert [label for label, _ in bars.customdata] == [value for value, _, _ in column.top_categories]
    assert list(bars.x) == [count for _, count, _ in column.top_categories]


def test_values_that_look_alike_when_cut_keep_their_own_bars():
    prefix = "x" * 50
    profile = engine.profile(engine.read(("label\n" + "".join(f"{prefix}{i % 2}\n" for i in range(40))).encode(), name="long.csv"))
    column = profile.columns["label"]
    figure = column_figure(column)
    assert len(figure.data[0].x) == len(column.top_categories) == 2
    assert len(set(figure.layout.yaxis.tickvals)) == 2


def test_identifiers_get_no_chart_and_a_reason(datasets):
    frame = engine.read(datasets / "multitable" / "baseball" / "players.csv.gz", n=2_000, seed=0)
    profile = engine.profile(frame)
    column = profile.columns["id"]
    assert column_figure(column) is None
    assert "identifier" in no_chart_reason(column)
