"""The one fit loop: every model trains in it, with the same metric names and the same rules.

Each model is fitted briefly on real rows (adult's first 1,500); the assertions are about the
loop's contract, not about quality: the metrics' names, the time limit, early stopping with
the best weights restored, and DP runs whose history holds the epsilon spent, not losses.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import engine
from engine.models.registry import available_kinds, model_class

TINY = {
    "argn": {"embedding_dim": 8, "hidden_dim": 16, "num_threads": 1},
    "ctgan": {"embedding_dim": 8, "generator_dim": (16,), "discriminator_dim": (16,), "pac": 1, "num_threads": 1},
    "tvae": {"embedding_dim": 8, "compress_dims": (16,), "decompress_dims": (16,), "num_threads": 1},
    "mst": {},
    "diffusion": {"hidden_dims": (16,), "time_dim": 8, "sample_steps": 2, "num_threads": 1},
}
RUN_METRICS = {"history", "best_epoch", "best_val_loss", "stopped_early", "stopped_on_time", "train_seconds",
               "fit_seconds", "epochs_run", "epochs_planned"}


@pytest.fixture(scope="module")
def rows(datasets: Path) -> pl.DataFrame:
    return engine.read(datasets / "adult.csv").head(1_500)


@pytest.mark.parametrize("kind", available_kinds())
def test_every_model_reports_the_same_metric_names(rows: pl.DataFrame, kind: str) -> None:
    model = model_class(kind)(epochs=2, batch_size=500, seed=0, **TINY[kind]).fit(rows)
    assert RUN_METRICS <= set(model.metrics_), f"{kind} lacks {sorted(RUN_METRICS - set(model.metrics_))}"
    assert [row["epoch"] for row in model.metrics_["history"]] == [1, 2]
    assert model.metrics_["stopped_on_time"] is False and model.metrics_["stopped_early"] is False
    assert "stopped_by_time_limit" not in model.metrics_


@pytest.mark.parametrize("kind", available_kinds())
def test_the_time_limit_stops_after_the_epoch_that_crosses_it(rows: pl.DataFrame, kind: str) -> None:
    model = model_class(kind)(epochs=50, batch_size=500, seed=0, max_training_time_s=1e-6, **TINY[kind]).fit(rows)
    assert model.metrics_["epochs_run"] == 1
    assert model.metrics_["stopped_on_time"] is True
    assert model.metrics_["epochs_planned"] == 50


def test_early_stopping_keeps_the_best_epochs_weights(rows: pl.DataFrame) -> None:
    model = model_class("argn")(
        epochs=40, batch_size=50, seed=0, patience=1, validation_share=0.2, learning_rate=0.05, **TINY["argn"]
    ).fit(rows)
    history = model.metrics_["history"]
    assert model.metrics_["stopped_early"] is True and len(history) < 40
    best = min(row["val_loss"] for row in history)
    assert model.metrics_["best_val_loss"] == pytest.approx(best)
    assert history[model.metrics_["best_epoch"] - 1]["val_loss"] == pytest.approx(best)
    assert model.metrics_["best_epoch"] < len(history), "the last epoch was worse: the kept weights are an earlier one's"


@pytest.mark.parametrize("kind", ["argn", "tvae", "ctgan", "diffusion"])
def test_a_private_run_records_the_epsilon_spent_instead_of_losses(rows: pl.DataFrame, kind: str) -> None:
    model = model_class(kind)(epochs=2, seed=0, privacy={"epsilon": 4.0}, **TINY[kind]).fit(rows)
    history = model.metrics_["history"]
    assert [set(row) for row in history] == [{"epoch", "epsilon"}] * len(history)
    assert 0 < history[0]["epsilon"] <= history[-1]["epsilon"] <= 4.0
    assert model.metrics_["epsilon"] == pytest.approx(model.privacy_report_["epsilon"])
    assert model.metrics_["best_val_loss"] is None


def test_progress_reports_name_the_losses_of_the_history(rows: pl.DataFrame) -> None:
    seen = []
    model = model_class("argn")(epochs=2, batch_size=10, seed=0, on_progress=seen.append, **TINY["argn"]).fit(rows)
    last = [p for p in seen if p.step == p.steps_per_epoch][-1]
    assert set(model.metrics_["history"][-1]) - {"epoch"} <= set(last.losses)
    assert any(p.step < p.steps_per_epoch for p in seen), "reports inside an epoch as well"
    assert seen[-1].fraction == pytest.approx(1.0)
