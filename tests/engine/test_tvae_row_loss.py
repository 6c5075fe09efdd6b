"""``TVAE.row_loss``: each row's training loss under a fitted TVAE (the one-run audit's score for tvae)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError, InputError
from engine.models.tvae import TVAE


def _frame(n: int, seed: int) -> pl.DataFrame:
    """``size`` follows ``color`` and ``x`` sits near +10 or -10 with it: a pattern rows can break."""
    rng = np.random.default_rng(seed)
    red = rng.random(n) < 0.5
    return pl.DataFrame(
        {
            "color": np.where(red, "red", "blue"),
            "size": np.where(red, "big", "small"),
            "x": np.where(red, 10.0, -10.0) + rng.normal(0, 1, n),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> TVAE:
    return TVAE(epochs=40, batch_size=100, seed=0, device="cpu", validation_share=0, num_threads=1, transformer_params={"n_modes": 3}).fit(
        _frame(400, seed=0)
    )


def test_one_finite_loss_per_row_repeatable_for_a_seed(fitted: TVAE) -> None:
    rows = _frame(50, seed=1)
    first = fitted.row_loss(rows)
    assert first.shape == (50,) and first.dtype == np.float64 and np.isfinite(first).all()
    np.testing.assert_array_equal(fitted.row_loss(rows), first)
    assert not np.array_equal(fitted.row_loss(rows, seed=1), first)
    assert np.allclose(fitted.row_loss(rows.to_pandas()), first)


def test_rows_that_break_the_learned_pattern_cost_more(fitted: TVAE) -> None:
    rows = _frame(200, seed=2)
    broken = rows.with_columns(pl.col("size").replace({"big": "small", "small": "big"}), -pl.col("x"))
    assert np.median(fitted.row_loss(broken)) > np.median(fitted.row_loss(rows)) + 0.5


def test_a_loaded_model_has_no_encoder_and_refuses(fitted: TVAE, tmp_path) -> None:
    loaded = TVAE.load(fitted.save(tmp_path / "model"))
    assert loaded.sample(5, seed=0).height == 5
    with pytest.raises(ConfigError, match="encoder"):
        loaded.row_loss(_frame(5, seed=3))


def test_bad_arguments_are_refused(fitted: TVAE) -> None:
    with pytest.raises(InputError, match="missing"):
        fitted.row_loss(_frame(5, seed=3).drop("x"))
    with pytest.raises(ConfigError):
        fitted.row_loss(_frame(5, seed=3), draws=0)
    with pytest.raises(ConfigError, match="not fitted"):
        TVAE().row_loss(_frame(5, seed=3))
