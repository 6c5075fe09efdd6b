"""Under DP a decoder's one-hot frequencies are matched to the private marginals the domain
already measured (``engine.privacy.marginals``): post-processing, so the shift may use only
what was released, and it must hit those marginals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from engine.models.registry import model_class
from engine.privacy import Privacy
from engine.privacy.private_statistics import private_transformer
from engine.privacy.marginals import BlockTarget, block_targets, logit_shift
from engine.privacy.run import PrivateRun
from tests.engine.test_models_contract import read_adult


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=3_000, seed=21)


def test_the_shift_gives_each_block_its_target_mean_softmax() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5_000, 7) * 2.0 + torch.linspace(-1.0, 1.0, 7)  # rows differ, as under the prior
    targets = [BlockTarget("a", 0, 3, np.array([0.7, 0.2, 0.1])), BlockTarget("b", 3, 4, np.array([0.1, 0.2, 0.3, 0.4]))]
    shift = logit_shift(logits, targets)
    for target in targets:
        block = slice(target.start, target.start + target.size)
        mean = torch.softmax(logits[:, block] + shift[block], dim=1).mean(0)
        assert torch.allclose(mean, torch.as_tensor(target.probs, dtype=mean.dtype), atol=1e-4)


def test_columns_outside_any_target_are_not_shifted() -> None:
    logits = torch.randn(100, 6)
    shift = logit_shift(logits, [BlockTarget("a", 2, 2, np.array([0.9, 0.1]))])
    assert not shift[:2].any() and not shift[4:].any() and shift[2:4].any()


def test_only_privately_measured_blocks_get_a_target(adult: pl.DataFrame) -> None:
    privacy = Privacy(epsilon=2.0, delta=1e-5, bounds={"age": (17, 90)})
    domain = private_transformer(adult, run=PrivateRun(privacy, adult.height), transformer_kwargs={"seed": 0})
    targets = block_targets(domain.transformer, {name: c.tolist() for name, c in domain.counts.items()})
    columns = {t.column for t in targets}
    assert {"education", "sex", "hours-per-week", "fnlwgt"} <= columns
    assert "age" not in columns  # public bounds: its mode weights are uniform, not data
    sex = next(t for t in targets if t.column == "sex")
    assert np.allclose(sex.probs, domain.counts["sex"] / domain.counts["sex"].sum(), atol=1e-6)
    assert all(abs(t.probs.sum() - 1.0) < 1e-9 and (t.probs > 0).all() for t in targets)


@pytest.mark.parametrize("kind", ["tvae", "ctgan"])
def test_a_dp_model_samples_its_categories_at_the_private_frequencies(kind: str, adult: pl.DataFrame) -> None:
    privacy = Privacy(epsilon=2.0, delta=1e-5)
    small = {"tvae": {"compress_dims": (32,), "decompress_dims": (32,)}, "ctgan": {"generator_dim": (32,), "discriminator_dim": (32,)}}[kind]
    model = model_class(kind)(seed=5, device="cpu", privacy=privacy, epochs=1, **small).fit(adult)
    targets = [t for t in block_targets(model.transformer_, model._dp_run.extra["counts"]) if t.size > 1]
    assert targets and any("calibrated" in note for note in model.privacy_report_["notes"])
    encoded = model.transformer_.transform(model.sample(20_000, seed=1))
    for target in targets:
        frequencies = encoded[:, target.start : target.start + target.size].mean(0)
        assert 0.5 * np.abs(frequencies - target.probs).sum() < 0.03, target.column


def test_a_measured_null_share_is_a_target_and_a_dp_model_generates_it(adult: pl.DataFrame) -> None:
    # A null block the model barely trained (one epoch) generates nulls about half the time;
    # the domain measured the share privately, so sampling must reproduce it.
    holes = adult.with_columns(pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("fnlwgt")).alias("fnlwgt"))
    privacy = Privacy(epsilon=2.0, delta=1e-5, bounds={"age": (17, 90)})
    model = model_class("tvae")(seed=5, device="cpu", privacy=privacy, epochs=1, compress_dims=(32,), decompress_dims=(32,)).fit(holes)
    record = next(r for r in model.transformer_.protections_["differential_privacy"] if r["column"] == "fnlwgt")
    assert abs(record["null_share"] - 0.1) < 0.06  # the noise on 3,000 rows at epsilon 2: about 0.011 (sd)
    null_targets = [t for t in block_targets(model.transformer_, model._dp_run.extra["counts"]) if t.column == "fnlwgt" and t.size == 2]
    assert len(null_targets) == 1 and np.allclose(null_targets[0].probs, [1 - record["null_share"], record["null_share"]], atol=1e-6)
    generated = model.sample(20_000, seed=1)
    assert abs(generated.get_column("fnlwgt").null_count() / generated.height - record["null_share"]) < 0.015
