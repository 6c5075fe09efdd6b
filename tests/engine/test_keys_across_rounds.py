"""Identifier keys stay unique across the generation rounds of one sampling call.

``sample``, ``iter_samples`` and ``stream`` generate in rounds (at most ``SAMPLE_ROUND_ROWS``
rows each), and every round's inverse transform regenerates keys from the start of their
format; ``engine.transform.key_rounds`` continues each round's keys after the previous round's.
Here the round size is lowered to 500 rows so that a 1,300-row sample takes three rounds.

Tables: berka card (892 rows; ``card_id`` and ``disp_id`` are plain integer keys), a seeded
600-row sample of baseball players (``id`` is a string key like ``aardsda01``) and a seeded
2,000-row sample of berka order (``order_id`` is an ordered key: it rises with ``account_id``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import engine.models.base
from engine.errors import InputError
from engine.generation import write_sample
from engine.models.base import Synthesizer
from engine.models.registry import available_kinds, model_class
from tests.conftest import DATASETS

ROUND_ROWS = 500
ROWS = 1_300  # three rounds of 434 rows
TRANSFORMER = {"n_modes": 5, "gmm_sample_rows": 2_000, "gmm_max_iter": 20}
MULTITABLE = DATASETS / "multitable"


def read(path: Path, rows: int | None = None) -> pl.DataFrame:
    frame = pl.read_csv(path, try_parse_dates=True, infer_schema_length=None)
    if rows is None:
        return frame
    return frame[np.sort(np.random.default_rng(0).choice(frame.height, rows, replace=False))]


def train(kind: str, frame: pl.DataFrame, key: str) -> Synthesizer:
    model = model_class(kind)(epochs=1, seed=0, device="cpu", transformer_params=TRANSFORMER, column_types={key: "identifier"})
    return model.fit(frame)


@pytest.fixture(autouse=True)
def small_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.models.base, "SAMPLE_ROUND_ROWS", ROUND_ROWS)


@pytest.fixture(scope="module")
def cards() -> pl.DataFrame:
    return read(MULTITABLE / "berka" / "card.csv.gz")


@pytest.fixture(scope="module", params=available_kinds())
def card_model(request: pytest.FixtureRequest, cards: pl.DataFrame) -> Synthesizer:
    return train(request.param, cards, "card_id")


@pytest.fixture(scope="module")
def card_mst(cards: pl.DataFrame) -> Synthesizer:
    return train("mst", cards, "card_id")


@pytest.fixture(scope="module")
def player_model() -> Synthesizer:
    players = read(MULTITABLE / "baseball" / "players.csv.gz", 600).select("id", "country", "birthDate", "weight", "height", "bats")
    return train("mst", players, "id")


@pytest.fixture(scope="module")
def order_model() -> Synthesizer:
    return train("mst", read(MULTITABLE / "berka" / "order.csv.gz", 2_000), "order_id")


def encoder(model: Synthesizer, column: str):
    return model.transformer_.encoders_[model.transformer_.columns_.index(column)]


def test_integer_keys_of_a_sample_in_several_rounds_are_one_run_from_the_smallest_key(card_model, cards):
    rows = card_model.sample(ROWS, seed=1)

    for key in ("card_id", "disp_id"):
        start = cards[key].min()
        assert rows[key].to_list() == list(range(start, start + ROWS))  # without continuation: three copies of 434 keys


def test_string_keys_of_a_sample_in_several_rounds_continue_the_counter(player_model):
    rows = player_model.sample(ROWS, seed=1)

    assert rows["id"].n_unique() == ROWS
    assert rows["id"].to_list() == encoder(player_model, "id").fmt.generate("id", ROWS, pl.String).to_list()


def test_a_sample_that_fits_in_one_round_keeps_the_keys_of_one_regeneration(card_mst, player_model, cards):
    assert card_mst.sample(400, seed=1)["card_id"].to_list() == list(range(cards["card_id"].min(), cards["card_id"].min() + 400))
    assert player_model.sample(400, seed=1)["id"].to_list() == encoder(player_model, "id").fmt.generate("id", 400, pl.String).to_list()


def test_the_same_seed_gives_the_same_rows_across_rounds(player_model):
    assert player_model.sample(ROWS, seed=3).equals(player_model.sample(ROWS, seed=3))


def test_iter_samples_frames_hold_keys_unique_across_rounds_and_concatenate_to_sample(player_model):
    for conditions in (None, {"bats": "R"}):
        frames = list(player_model.iter_samples(ROWS, batch_rows=300, seed=2, conditions=conditions))
        rows = pl.concat(frames)

        assert rows["id"].n_unique() == ROWS
        assert rows.equals(player_model.sample(ROWS, seed=2, conditions=conditions))


def test_keys_are_unique_across_the_frames_of_one_stream(player_model, card_mst):
    for m, key in ((player_model, "id"), (card_mst, "card_id")):
        rows = pl.concat(list(itertools.islice(m.stream(batch_size=7, seed=4), 60)))  # 60 rounds of 7 rows
        assert rows[key].n_unique() == rows.height == 420


def test_the_chunked_writer_writes_keys_unique_across_rounds(player_model, tmp_path):
    write_sample(player_model, tmp_path / "players.parquet", n=ROWS, seed=5, batch_rows=400)

    written = pl.read_parquet(tmp_path / "players.parquet")

    assert written.height == ROWS
    assert written["id"].n_unique() == ROWS


def test_ordered_keys_of_later_rounds_lie_above_earlier_ones_and_keep_their_order_within_each(order_model):
    rows = order_model.sample(ROWS, seed=1)
    rounds = [rows[i * 434 : (i + 1) * 434] for i in range(3)]
    last_gap = int(encoder(order_model, "order_id").order.gaps[-1])

    assert rows["order_id"].n_unique() == ROWS
    for before, after in itertools.pairwise(rounds):
        assert after["order_id"].min() == before["order_id"].max() + last_gap
    for part in rounds:
        assert part.select(pl.corr("order_id", "account_id", method="spearman")).item() > 0.9


def test_a_key_that_would_pass_its_dtype_maximum_across_rounds_is_refused_naming_the_column(cards):
    near_top = cards.with_columns(pl.col("card_id") + 32_000).filter(pl.col("card_id") <= 32_767)
    model = train("mst", near_top.with_columns(pl.col("card_id").cast(pl.Int16)), "card_id")  # rounds 2 and 3 need keys past 32,767

    with pytest.raises(InputError, match="column 'card_id'.*Int16"):
        model.sample(ROWS, seed=1)
