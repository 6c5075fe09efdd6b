"""Identifiers whose order follows another column (``engine.transform.key_order``).

berka order: ``order_id`` rises with ``account_id`` (Spearman 1.0 in the real table), while
berka card's ``card_id`` has no relation with the card's ``issued`` date (0.02).
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

import engine
from engine.errors import InputError
from engine.transform import DataTransformer
from tests.conftest import DATASETS

BERKA = DATASETS / "multitable" / "berka"


def berka(table: str, rows: int) -> pl.DataFrame:
    frame = pl.read_csv(f"{BERKA}/{table}.csv.gz", try_parse_dates=True)
    return frame[np.sort(np.random.default_rng(0).choice(frame.height, rows, replace=False))]


def spearman(frame: pl.DataFrame, a: str, b: str) -> float:
    return frame.select(pl.corr(pl.col(a).to_physical(), pl.col(b).to_physical(), method="spearman")).item()


def fitted(frame: pl.DataFrame, key: str) -> DataTransformer:
    return DataTransformer(column_types={key: "identifier"}, n_jobs=1).fit(frame)


def encoder(transformer: DataTransformer, name: str):
    return transformer.encoders_[transformer.columns_.index(name)]


@pytest.fixture(scope="module")
def orders() -> pl.DataFrame:
    return berka("order", 400)


def test_a_key_whose_order_follows_a_column_is_ordered_by_that_column(orders):
    order = encoder(fitted(orders, "order_id"), "order_id").order

    assert order is not None
    assert (order.column, order.spearman) == ("account_id", 1.0)


def test_a_key_without_a_relation_stays_a_plain_run_from_its_smallest_key():
    cards = berka("card", 400)
    transformer = fitted(cards, "card_id")

    assert encoder(transformer, "card_id").order is None
    assert [s for s in transformer.output_info_ if s.column == "card_id"] == []
    restored = transformer.inverse_tokens(transformer.transform_tokens(cards))
    assert restored["card_id"].to_list() == list(range(cards["card_id"].min(), cards["card_id"].min() + 400))


def test_ordered_keys_come_back_in_the_order_of_the_encoded_ranks_in_both_encodings(orders):
    transformer = fitted(orders, "order_id")

    by_floats = transformer.inverse_transform(transformer.transform(orders))
    by_tokens = transformer.inverse_tokens(transformer.transform_tokens(orders))

    assert spearman(by_floats, "order_id", "account_id") > 0.99
    assert spearman(by_tokens, "order_id", "account_id") > 0.99


def test_ordered_keys_are_unique_and_spread_like_the_real_keys_from_the_smallest(orders):
    transformer = fitted(orders, "order_id")
    keys = orders["order_id"]
    spread = keys.max() - keys.min()

    restored = transformer.inverse_tokens(transformer.transform_tokens(orders))["order_id"]

    assert restored.n_unique() == len(keys)
    assert restored.min() == keys.min()
    assert abs(restored.max() - keys.max()) < 0.1 * spread  # a dense run would end at min + 399
    assert abs(restored.median() - keys.median()) < 0.1 * spread


def test_the_key_state_holds_the_smallest_key_and_two_digit_gaps_only(orders):
    state = encoder(fitted(orders, "order_id"), "order_id").state()

    assert state["format"]["start"] == orders["order_id"].min()
    assert set(state["order"]) == {"column", "spearman", "gaps", "coarse", "fine"}
    assert all(float(f"{gap:.2g}") == gap for gap in state["order"]["gaps"])


@pytest.fixture(scope="module")
def argn_orders() -> tuple[pl.DataFrame, engine.Synthesizer]:
    # 2,000 rows: on 400 the rank's 100 coarse bins hold 4 rows each, too few to learn from.
    # 8 epochs: with 20 the run stops early after 12 and keeps epoch 8's weights, the same model.
    orders = berka("order", 2_000)
    return orders, engine.train(orders, model="argn", seed=0, epochs=8, column_types={"order_id": "identifier"})


def test_argn_synthetic_keys_keep_the_sign_and_about_the_size_of_the_real_relation(argn_orders):
    orders, model = argn_orders

    synthetic = model.sample(2_000, seed=1)

    assert synthetic["order_id"].n_unique() == 2_000
    assert spearman(synthetic, "order_id", "account_id") > 0.5  # real: 1.0; plain keys: about 0


def test_a_saved_model_with_an_ordered_key_samples_the_same_rows(argn_orders, tmp_path):
    _, model = argn_orders
    model.save(tmp_path / "orders.doppel")

    loaded = engine.load_model(tmp_path / "orders.doppel")

    assert loaded.sample(300, seed=2).equals(model.sample(300, seed=2))


def test_the_key_order_survives_the_transformer_state(orders):
    transformer = fitted(orders, "order_id")
    codes = transformer.transform_tokens(orders)

    loaded = DataTransformer.from_dict(json.loads(json.dumps(transformer.to_dict())))

    assert encoder(loaded, "order_id").order == encoder(transformer, "order_id").order
    assert loaded.inverse_tokens(codes).equals(transformer.inverse_tokens(codes))


def test_a_state_saved_before_ordered_keys_loads_as_a_plain_key(orders):
    state = fitted(orders, "order_id").to_dict()
    column = next(c for c in state["columns"] if c["name"] == "order_id")
    column["state"].pop("order")  # what a transformer saved before ordered keys holds

    loaded = DataTransformer.from_dict(state)

    assert encoder(loaded, "order_id").order is None
    restored = loaded.inverse_tokens(np.zeros((5, len(loaded.token_info_)), dtype=np.int64))
    assert restored["order_id"].to_list() == list(range(orders["order_id"].min(), orders["order_id"].min() + 5))


def test_private_statistics_keep_keys_plain(orders):
    transformer = fitted(orders, "order_id")
    stats = transformer.measure(orders)
    plain = type(stats)(
        tuple(
            type(c)(c.name, c.dtype, c.kind, c.fmt) if c.name == "order_id" else c for c in stats.columns
        ),
        stats.n_rows,
    )

    private_like = DataTransformer(column_types={"order_id": "identifier"}, n_jobs=1).fit(orders, statistics=plain)

    assert encoder(private_like, "order_id").order is None


def test_an_ordered_key_with_missing_values_at_encoding_is_refused_naming_the_column(orders):
    transformer = fitted(orders, "order_id")
    holed = orders.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("order_id")).alias("order_id"))

    with pytest.raises(InputError, match="'order_id' has 1 missing values"):
        transformer.transform_tokens(holed)


def test_string_keys_are_handed_out_in_their_sort_order_too():
    rng = np.random.default_rng(0)
    refs = [f"AB-{i:05d}" for i in np.sort(rng.choice(90_000, 500, replace=False))]
    frame = pl.DataFrame({"ref": refs, "amount": np.arange(500) * 3.0 + rng.normal(0, 50, 500)})
    transformer = fitted(frame, "ref")

    restored = transformer.inverse_tokens(transformer.transform_tokens(frame))

    assert encoder(transformer, "ref").order is not None
    assert sorted(restored["ref"]) == [f"AB-{i:05d}" for i in range(500)]  # the fresh run of the shape
    assert spearman(restored.with_columns(pl.col("ref").rank()), "ref", "amount") > 0.95
