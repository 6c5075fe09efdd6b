"""Numbers whose entities sit at different levels are drawn as deviations from the entity's level
(``engine.sequences.layout``): decided from the rows, without training anything."""

from __future__ import annotations

from pathlib import Path

import polars as pl

import engine
from engine.sequences.checks import prepare_long
from engine.sequences.layout import LEVEL, SequenceLayout, build_layout, entity_frame, step_frame


def _layout(datasets: Path) -> tuple[SequenceLayout, object]:
    frame = engine.read(datasets / "timeseries" / "nasdaq100_2019.csv.gz")  # 103 companies
    long = prepare_long(frame, entity="Symbol", order_by="Date", context=None, max_length=None)
    return build_layout(long, step_context=()), long


def test_volume_is_drawn_from_its_company_level_and_prices_as_changes(datasets: Path) -> None:
    layout, _ = _layout(datasets)
    assert layout.levels == (("Volume", "ratio"),)  # companies trade at very different volumes
    assert {c for c, _, _ in layout.deltas} == {"Open", "Close"}  # prices walk: drawn as returns
    assert SequenceLayout.from_dict(layout.to_dict()) == layout


def test_the_step_model_draws_what_the_previous_deviation_does_not_predict(datasets: Path) -> None:
    layout, long = _layout(datasets)
    assert 0.4 < layout.persistence[0] < 0.7  # a day's volume keeps about half of yesterday's deviation
    steps = step_frame(long, layout)
    assert abs(steps.select(pl.corr("@dev:Volume", "@lag1:Volume")).item()) < 0.05  # the innovation: no persistence left
    levels = entity_frame(long, layout).get_column(LEVEL + "Volume")
    assert levels.n_unique() == 103 and levels.min() > 10  # one level per company, log shares a day


def test_a_private_layout_reads_no_levels_from_the_rows(datasets: Path) -> None:
    _, long = _layout(datasets)
    assert build_layout(long, step_context=(), private=True).levels == ()
