"""The diffusion model's own behaviour (the shared contract is in test_models_contract.py):
numbers keep their spread, equality conditions are inpainted, the few-step sampler draws
categories from the denoiser's softmax, and the normal scores invert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from engine.errors import ConfigError
from engine.models.diffusion import Diffusion
from engine.models.diffusion.atoms import present_mask
from engine.models.diffusion.blocks import Blocks, block_cross_entropy, one_hot
from engine.models.diffusion.denoiser import Denoiser, SamplingNet
from engine.models.diffusion.normal_scores import fit_knots, from_scores, to_scores
from engine.models.diffusion.sampler import _draw_block, _reveal_steps
from engine.models.diffusion.trainer import RowLoss
from tests.engine.test_models_contract import read_adult

SMALL = {"epochs": 12, "batch_size": 256, "hidden_dims": (64, 64), "time_dim": 16, "seed": 3, "device": "cpu", "num_threads": 1}


@pytest.fixture(scope="module")
def housing(datasets: Path) -> pl.DataFrame:
    return pl.read_csv(datasets / "california_housing.csv.gz").sample(2_000, seed=1)


@pytest.fixture(scope="module")
def housing_model(housing: pl.DataFrame) -> Diffusion:
    return Diffusion(**SMALL).fit(housing)


@pytest.fixture(scope="module")
def adult_model(datasets: Path) -> Diffusion:
    return Diffusion(**{**SMALL, "epochs": 4}).fit(read_adult(datasets / "adult.csv", rows=1_500, seed=2))


def test_numeric_columns_keep_their_spread_without_piling_on_their_range_ends(housing: pl.DataFrame, housing_model: Diffusion) -> None:
    synthetic = housing_model.sample(2_000, seed=4)
    numeric = [c for c, t in housing.schema.items() if t.is_numeric()]
    assert len(numeric) >= 8
    for column in numeric:
        real, fake = housing[column].drop_nulls().to_numpy().astype(float), synthetic[column].drop_nulls().to_numpy().astype(float)
        assert np.unique(fake).size > 50, f"{column} collapsed to {np.unique(fake).size} values"
        assert 0.5 < fake.std() / real.std() < 1.5, f"{column}: spread {fake.std():.3g} against {real.std():.3g}"
        ends = np.mean((fake <= real.min()) | (fake >= real.max()))
        real_ends = np.mean((real <= real.min()) | (real >= real.max()))
        assert ends < real_ends + 0.05, f"{column}: {ends:.1%} of rows at the range ends (real {real_ends:.1%})"


def test_a_spike_is_its_own_category_and_the_other_values_keep_their_spread(adult_model: Diffusion) -> None:
    # hours-per-week is 40 in about 47 % of adult's rows; age and fnlwgt have no spike
    spikes = dict(zip(_scalar_columns(adult_model), adult_model._spikes))
    assert not np.isnan(spikes["hours-per-week"]) and np.isnan(spikes["age"]) and np.isnan(spikes["fnlwgt"])
    synthetic = adult_model.sample(3_000, seed=6)
    share = float((synthetic["hours-per-week"] == 40).mean())
    assert 0.3 < share < 0.65, f"{share:.1%} of rows at 40 hours"  # real: 47 %; a 4-epoch model
    assert synthetic.filter(pl.col("hours-per-week") != 40)["hours-per-week"].n_unique() > 20


def test_spikes_that_do_not_fit_the_layout_are_refused_on_load(adult_model: Diffusion) -> None:
    tensors = adult_model._tensors()
    tensors["spike_columns"] = torch.full_like(tensors["spike_columns"], 99)
    with pytest.raises(ValueError, match="spikes do not fit"):
        adult_model._load_tensors(tensors, {})


def test_scattered_whole_number_amounts_are_learned_as_categories_and_quantities_are_not(datasets: Path) -> None:
    adult = read_adult(datasets / "adult.csv", rows=20_000, seed=1)
    chosen = Diffusion()._column_types_for(adult)
    assert chosen == {"capital-gain": "discrete", "capital-loss": "discrete"}  # ages and hours fill their ranges
    keys = pl.DataFrame({"id": range(100), "amount": [0, 250, 500, 1_000] * 25})
    assert Diffusion()._column_types_for(keys) == {"amount": "discrete"}  # a key never repeats: it stays a key


def test_null_rows_are_left_out_of_a_columns_knots(datasets: Path) -> None:
    nyc = pl.read_csv(datasets / "nyc_airbnb_2019.csv.gz", try_parse_dates=True).sample(3_000, seed=2)
    model = Diffusion(**{**SMALL, "epochs": 1}).fit(nyc)
    transformer = model.transformer_
    present = present_mask(transformer.transform(nyc), transformer.output_info_)
    scalars = _scalar_columns(model)
    column = scalars.index("reviews_per_month")
    assert nyc["reviews_per_month"].null_count() > 300
    assert (present[:, column] == nyc["reviews_per_month"].is_not_null().to_numpy()).all()
    values = np.where(np.arange(1_000) < 400, 7.0, np.linspace(0.0, 1.0, 1_000))[:, None]  # 40 % fill values
    keep = (np.arange(1_000) >= 400)[:, None]
    assert np.allclose(fit_knots(values, 11, keep)[0], np.linspace(0.4004, 1.0, 11), atol=1e-3)


def test_under_differential_privacy_no_spike_is_looked_for(datasets: Path) -> None:
    from engine.privacy.config import Privacy

    frame = read_adult(datasets / "adult.csv", rows=1_000, seed=4)
    model = Diffusion(**{**SMALL, "epochs": 1}, privacy=Privacy(epsilon=10.0, delta=1e-5)).fit(frame)
    assert np.isnan(model._spikes).all()


def test_a_category_equality_is_inpainted_not_rejected(adult_model: Diffusion) -> None:
    assert adult_model._fixed_levels({"sex": "Female"}) is not None
    rows = adult_model.sample(400, seed=5, conditions={"sex": "Female"})
    assert rows.height == 400 and rows["sex"].unique().to_list() == ["Female"]


def test_a_value_the_column_never_held_is_left_to_the_filter(adult_model: Diffusion) -> None:
    assert adult_model._fixed_levels({"age": 30}) is None  # a number, not a category block
    assert adult_model._fixed_levels({"sex": 3}) is None


def test_the_sampler_draws_a_block_from_its_softmax() -> None:
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]])).expand(100_000, -1)
    draws = _draw_block(logits, torch.Generator().manual_seed(0))
    assert torch.allclose(torch.bincount(draws, minlength=3) / 1e5, torch.tensor([0.2, 0.5, 0.3]), atol=0.01)


def test_each_row_reveals_every_free_block_once_and_one_per_step_when_steps_allow() -> None:
    generator = torch.Generator().manual_seed(0)
    alone = _reveal_steps(1_000, 5, 8, generator, "cpu")
    assert alone.shape == (5, 1_000) and int(alone.min()) >= 0 and int(alone.max()) < 8
    assert all(len(set(column.tolist())) == 5 for column in alone.t())  # no two blocks share a step
    shared = _reveal_steps(1_000, 6, 3, generator, "cpu")
    assert (torch.stack([(shared == k).sum(0) for k in range(3)]) == 2).all()  # two blocks per step, every step
    orders = {tuple(column.tolist()) for column in alone.t()}
    assert len(orders) > 50  # each row its own order


def test_the_sampling_form_of_the_denoiser_computes_the_same_function() -> None:
    spans = [_Span("tanh", 2), _Span("softmax", 3), _Span("tanh", 1), _Span("softmax", 4)]
    blocks = Blocks.from_spans(spans)
    index = blocks.tensors("cpu")
    torch.manual_seed(0)
    denoiser = Denoiser(blocks.n_numeric, blocks.width, blocks.n_blocks, (16, 8, 12), 6).eval()
    levels = torch.stack([torch.randint(0, 3, (5_000,)), torch.randint(0, 4, (5_000,))], 1)
    hidden = torch.rand(5_000, 2) < 0.5
    shown = one_hot(levels, index, blocks.width) * (~hidden).float().index_select(1, index["block"])
    numbers = torch.randn(5_000, blocks.n_numeric)
    with torch.no_grad():
        expected = denoiser(numbers, shown, hidden.float(), torch.full((1,), 0.3))
        net = SamplingNet(denoiser, sizes=blocks.sizes, dtype=torch.float32)
        h = net.hidden(net.inputs(shown, hidden.float()), numbers, 0.3)
        got = torch.cat([net.velocity(h), net.logits(h, 0), net.logits(h, 1)], 1)
        revealed = net.inputs(one_hot(levels, index, blocks.width), torch.zeros(5_000, 2))
        stepped = net.inputs(shown, hidden.float()) + (net.reveal[levels + index["offsets"]] * hidden[..., None]).sum(1)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(stepped, revealed, atol=1e-5)  # revealing a block adds its reveal row


def test_the_training_loss_is_each_blocks_own_cross_entropy() -> None:
    blocks = Blocks.from_spans([_Span("softmax", 3), _Span("tanh", 1), _Span("softmax", 5)])
    index = blocks.tensors("cpu")
    torch.manual_seed(0)
    logits = torch.randn(64, blocks.width) * 30  # far apart: the per-block maximum keeps it finite
    levels = torch.stack([torch.randint(0, 3, (64,)), torch.randint(0, 5, (64,))], 1)
    expected = torch.stack([
        torch.nn.functional.cross_entropy(logits[:, :3], levels[:, 0], reduction="none"),
        torch.nn.functional.cross_entropy(logits[:, 3:], levels[:, 1], reduction="none"),
    ], 1)
    assert torch.allclose(block_cross_entropy(logits, levels, index), expected, atol=1e-4)


def test_normal_scores_are_standard_normal_and_invert_to_the_values() -> None:
    rng = np.random.default_rng(0)
    values = np.stack([rng.exponential(size=5_000), np.where(rng.random(5_000) < 0.6, 0.0, rng.normal(size=5_000))], axis=1).astype(np.float32)
    knots = fit_knots(values, 1_000)
    scores = to_scores(values, knots)
    assert abs(scores[:, 0].mean()) < 0.05 and abs(scores[:, 0].std() - 1) < 0.05
    assert np.allclose(from_scores(scores, knots)[:, 0], values[:, 0], atol=0.02)
    spike = scores[values[:, 1] == 0.0, 1]
    assert np.ptp(spike) == 0 and abs(spike[0]) < 1  # a tie maps to the middle of its probability range


def test_dp_sgd_clips_by_each_rows_exact_gradient_norm() -> None:
    spans = [_Span("tanh", 2), _Span("softmax", 3), _Span("softmax", 2)]
    blocks = Blocks.from_spans(spans)
    index = blocks.tensors("cpu")
    torch.manual_seed(0)
    loss = RowLoss(Denoiser(blocks.n_numeric, blocks.width, blocks.n_blocks, (8, 8), 4), index, blocks.n_numeric)
    levels = torch.randint(0, 2, (6, 2))
    onehot = one_hot(levels, index, blocks.width)
    numeric = torch.randn(6, 2)
    torch.manual_seed(1)
    _, norms = loss.losses_and_gradient_norms(numeric, onehot, levels)
    torch.manual_seed(1)
    rows = loss.losses(numeric, onehot, levels)
    params = [p for p in loss.parameters() if p.requires_grad]
    exact = [torch.sqrt(sum(g.pow(2).sum() for g in torch.autograd.grad(rows[i], params, retain_graph=True))) for i in range(6)]
    assert torch.allclose(norms, torch.stack(exact), rtol=1e-4)


def test_bad_sampler_settings_are_refused_naming_the_parameter() -> None:
    with pytest.raises(ConfigError, match="sample_steps"):
        Diffusion(sample_steps=0)
    with pytest.raises(ConfigError, match="eta"):
        Diffusion(eta=1.5)


def _scalar_columns(model: Diffusion) -> list[str]:
    return [span.column for span in model.transformer_.output_info_ if span.activation == "tanh" for _ in range(span.size)]


class _Span:
    def __init__(self, activation: str, size: int) -> None:
        self.activation, self.size = activation, size
