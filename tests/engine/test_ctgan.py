"""CTGAN (engine.models.ctgan): conditional vector, training-by-sampling, conditioning, training.

Everything runs on a seeded sample of the real adult table (2,000-3,000 rows), on the CPU,
for a few epochs: the checks are about the mechanisms of the CTGAN paper, not about final
quality (that is tests/bench/bench_quality.py).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from engine.errors import ConfigError
from engine.models.ctgan.layout import OutputLayout, marginal_distance
from engine.models.ctgan.sampler import ConditionSampler, RowSampler
from engine.models.ctgan import CTGAN
from engine.models.ctgan.model import pac_batch
from engine.transform import DataTransformer
from tests.engine.test_models_contract import TRANSFORMER, read_adult

# A batch of 200 (a multiple of pac=10) gives 10 steps per epoch on 2,000 rows.
BATCH = 200


def make(**params: object) -> CTGAN:
    base = {"epochs": 12, "batch_size": BATCH, "seed": 3, "device": "cpu", "transformer_params": TRANSFORMER, "num_threads": 1}
    return CTGAN(**{**base, **params})


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=2_000, seed=5)


@pytest.fixture(scope="module")
def encoded(datasets: Path) -> tuple[DataTransformer, np.ndarray]:
    frame = read_adult(datasets / "adult.csv", rows=3_000, seed=9)
    transformer = DataTransformer(**TRANSFORMER).fit(frame)
    return transformer, transformer.transform(frame)


@pytest.fixture(scope="module")
def trained(adult: pl.DataFrame) -> CTGAN:
    return make().fit(adult)


def untrained_like(model: CTGAN) -> CTGAN:
    """The same configuration and transformer with the freshly initialised generator."""
    fresh = make()
    fresh.transformer_ = model.transformer_
    fresh._build(torch.device("cpu"), counts=model._conditions.counts)
    fresh.generator_.eval()
    return fresh


# -- conditional vector and training-by-sampling ------------------------------------------
def test_condition_categories_are_drawn_in_proportion_to_log_frequency(encoded: tuple[DataTransformer, np.ndarray]) -> None:
    transformer, data = encoded
    sampler = ConditionSampler(ConditionSampler.count_categories(data, transformer.condition_spans_), device="cpu")
    draws = 400_000
    column, category = sampler.sample(draws, generator=torch.Generator().manual_seed(0))
    column, category = column.numpy(), category.numpy()
    n_columns = len(transformer.condition_spans_)
    # Columns: uniform. Each share has a standard error of about 0.0015 here.
    column_share = np.bincount(column, minlength=n_columns) / draws
    assert np.abs(column_share - 1 / n_columns).max() < 0.006
    # Categories within a column: log(1 + count), normalised; never one without rows.
    expected = sampler.probabilities(log_frequency=True)
    for j in range(n_columns):
        picked = category[column == j]
        observed = np.bincount(picked, minlength=expected.shape[1]) / len(picked)
        assert np.abs(observed - expected[j]).max() < 0.012, transformer.condition_spans_[j].column
        assert observed[sampler.counts[j] == 0].sum() == 0
    # Log-frequency flattens the distribution: the rarest categories are drawn far more
    # often than their share of rows (native-country's small levels, for instance).
    j = next(i for i, s in enumerate(transformer.condition_spans_) if s.column == "native-country")
    rare = int(np.argmin(np.where(sampler.counts[j] > 0, sampler.counts[j], np.inf)))
    share_of_rows = sampler.counts[j, rare] / sampler.counts[j].sum()
    assert expected[j, rare] > 5 * share_of_rows


def test_sampling_conditions_follow_plain_frequencies(encoded: tuple[DataTransformer, np.ndarray]) -> None:
    transformer, data = encoded
    sampler = ConditionSampler(ConditionSampler.count_categories(data, transformer.condition_spans_), device="cpu")
    column, category = sampler.sample(300_000, generator=torch.Generator().manual_seed(1), log_frequency=False)
    j = next(i for i, s in enumerate(transformer.condition_spans_) if s.column == "sex")
    picked = category.numpy()[column.numpy() == j]
    observed = np.bincount(picked, minlength=sampler.counts.shape[1]) / len(picked)
    assert np.abs(observed - sampler.counts[j] / sampler.counts[j].sum()).max() < 0.01


def test_sampling_draws_follow_plain_frequencies_by_one_search_per_row(encoded: tuple[DataTransformer, np.ndarray]) -> None:
    transformer, data = encoded
    sampler = ConditionSampler(ConditionSampler.count_categories(data, transformer.condition_spans_), device="cpu")
    draws = 400_000
    column, category = sampler.draw(draws, generator=torch.Generator().manual_seed(1))
    column, category = column.numpy(), category.numpy()
    n_columns = len(transformer.condition_spans_)
    assert np.abs(np.bincount(column, minlength=n_columns) / draws - 1 / n_columns).max() < 0.006
    expected = sampler.probabilities(log_frequency=False)
    for j in range(n_columns):
        picked = category[column == j]
        observed = np.bincount(picked, minlength=expected.shape[1]) / len(picked)
        assert np.abs(observed - expected[j]).max() < 0.012, transformer.condition_spans_[j].column
        assert observed[sampler.counts[j] == 0].sum() == 0


def test_training_by_sampling_draws_only_rows_holding_the_chosen_category(encoded: tuple[DataTransformer, np.ndarray]) -> None:
    transformer, data = encoded
    spans = transformer.condition_spans_
    sampler = ConditionSampler(ConditionSampler.count_categories(data, spans), device="cpu")
    rows = RowSampler(data, spans, device="cpu")
    generator = torch.Generator().manual_seed(2)
    column, category = sampler.sample(200_000, generator=generator)
    picked = rows.sample(column, category, generator=generator).numpy()
    starts = np.array([s.start for s in spans])
    hot = data[picked, starts[column.numpy()] + category.numpy()]
    assert (hot == 1.0).all()
    # Within a category every row can be drawn: for sex == the rarer level, all its rows appear.
    j = next(i for i, s in enumerate(spans) if s.column == "sex")
    k = int(np.argmin(sampler.counts[j, : spans[j].size]))
    col, cat = sampler.fixed(50_000, j, k)
    seen = np.unique(rows.sample(col, cat, generator=generator).numpy())
    holders = np.flatnonzero(data[:, spans[j].start + k] == 1.0)
    assert np.array_equal(seen, holders)


def test_condition_loss_is_the_cross_entropy_of_the_chosen_column_only(encoded: tuple[DataTransformer, np.ndarray]) -> None:
    transformer, _ = encoded
    layout = OutputLayout(transformer.output_info_, transformer.span_starts_, transformer.condition_spans_, device="cpu")
    raw = torch.randn((64, layout.width), generator=torch.Generator().manual_seed(3))
    column = torch.arange(64) % layout.n_conditions
    sizes = layout.condition_sizes[column]
    category = (torch.arange(64) * 7) % sizes
    expected = torch.stack(
        [
            torch.nn.functional.cross_entropy(
                raw[i, int(layout.condition_starts[c]) : int(layout.condition_starts[c]) + int(layout.condition_sizes[c])],
                category[i],
            )
            for i, c in enumerate(column.tolist())
        ]
    ).mean()
    assert torch.allclose(layout.condition_loss(raw, column, category), expected, atol=1e-6)


def test_generated_one_hot_blocks_are_gumbel_softmax_distributions(encoded: tuple[DataTransformer, np.ndarray]) -> None:
    transformer, _ = encoded
    layout = OutputLayout(transformer.output_info_, transformer.span_starts_, transformer.condition_spans_, device="cpu")
    raw = torch.randn((256, layout.width), generator=torch.Generator().manual_seed(4)) * 3
    out = layout.activate(raw, generator=torch.Generator().manual_seed(5))
    for span, start in zip(transformer.output_info_, transformer.span_starts_):
        block = out[:, start : start + span.size]
        if span.activation == "softmax":
            assert torch.allclose(block.sum(dim=1), torch.ones(256), atol=1e-5)
            assert (block >= 0).all()
        else:
            assert torch.equal(block, torch.tanh(raw[:, start : start + span.size]))


# -- training -----------------------------------------------------------------------------
def condition_fit(model: CTGAN, *, rows: int = 20_000) -> tuple[float, float]:
    """(cross-entropy, share of rows whose own argmax is the chosen category) of the generator.

    Conditions are drawn as sampling draws them (by frequency), in eval mode, before the
    sampled rows' condition column is overwritten: this is what the conditional loss trains.
    """
    layout, generator = model._layout, torch.Generator().manual_seed(0)
    column, category = model._conditions.sample(rows, generator=generator, log_frequency=False)
    model.generator_.eval()
    with torch.no_grad():
        z = torch.randn((rows, model.model_params["embedding_dim"]), generator=generator)
        raw = model.generator_(z, layout.condition_offsets[column] + category)
        loss = float(layout.condition_loss(raw, column, category))
        logits = raw.gather(1, layout.condition_index[column]).masked_fill(layout.condition_pad[column], float("-inf"))
        agree = float((logits.argmax(dim=1) == category).float().mean())
    return loss, agree


def test_training_lowers_the_conditional_cross_entropy(trained: CTGAN) -> None:
    assert len(trained.metrics_["history"]) == 12
    loss_trained, agree_trained = condition_fit(trained)
    loss_untrained, agree_untrained = condition_fit(untrained_like(trained))
    # Measured: about 1.2 vs 2.0 and 60% vs 19% after these 120 steps.
    assert loss_trained < 0.8 * loss_untrained
    assert agree_trained > agree_untrained + 0.2


def test_trained_generator_matches_the_marginals_better_than_an_untrained_one(trained: CTGAN, adult: pl.DataFrame) -> None:
    transformer = trained.transformer_
    real = transformer.transform(adult)
    args = (transformer.output_info_, transformer.span_starts_)
    fake_trained = trained._generate_encoded(4_000, generator=torch.Generator().manual_seed(6))
    fake_untrained = untrained_like(trained)._generate_encoded(4_000, generator=torch.Generator().manual_seed(6))
    d_trained = marginal_distance(real, fake_trained, *args)
    d_untrained = marginal_distance(real, fake_untrained, *args)
    assert d_trained < 0.7 * d_untrained


def test_fit_is_deterministic_on_cpu_for_a_seed(adult: pl.DataFrame) -> None:
    small = adult.head(1_000)
    a = make(epochs=2).fit(small)
    b = make(epochs=2).fit(small)
    for (name, x), (_, y) in zip(a.generator_.state_dict().items(), b.generator_.state_dict().items()):
        assert torch.equal(x, y), name
    assert a.sample(300, seed=1).equals(b.sample(300, seed=1))
    c = make(epochs=2, seed=4).fit(small)
    assert not torch.equal(a.generator_.out.fc.weight, c.generator_.out.fc.weight)


class _Stop(Exception):
    pass


def test_resumed_fit_ends_with_the_weights_of_an_uninterrupted_one(adult: pl.DataFrame, tmp_path: Path) -> None:
    small = adult.head(1_000)
    whole = make(epochs=3).fit(small)

    def stop_in_third_epoch(progress: object) -> None:
        if progress.epoch == 3:  # type: ignore[attr-defined]
            raise _Stop

    interrupted = make(epochs=3, checkpoint_dir=tmp_path, on_progress=stop_in_third_epoch)
    with pytest.raises(_Stop):
        interrupted.fit(small)
    resumed = make(epochs=3, checkpoint_dir=tmp_path).fit(small, resume=True)
    for (name, x), (_, y) in zip(whole.generator_.state_dict().items(), resumed.generator_.state_dict().items()):
        assert torch.equal(x, y), name
    assert [h["critic"] for h in resumed.metrics_["history"]] == [h["critic"] for h in whole.metrics_["history"]]


def test_with_patience_rows_are_held_out_and_the_best_epoch_is_kept(adult: pl.DataFrame) -> None:
    model = make(epochs=4, patience=2, validation_share=0.2).fit(adult.head(1_000))
    history = model.metrics_["history"]
    assert all(0.0 < h["val_loss"] < 1.0 for h in history)
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    assert model.metrics_["best_epoch"] == best + 1
    assert model.metrics_["best_val_loss"] == history[best]["val_loss"]


# -- conditioning and sampling ------------------------------------------------------------
def test_conditioning_on_a_category_uses_the_conditional_vector_without_rejection(trained: CTGAN) -> None:
    assert "sex" in trained._native_condition_columns()
    source = trained._row_source(seed=0, conditions="sex == 'Female'", round_rows=2_000)
    rows = source.take(2_000)
    assert rows.get_column("sex").unique().to_list() == ["Female"]
    assert source.generated >= 2_000 and source.acceptance_rate == 1.0
    # The private hook alone (no filter after it) already returns only Female rows.
    direct = trained._generate(1_000, generator=torch.Generator().manual_seed(7), fixed={"sex": "Female"})
    assert direct.get_column("sex").unique().to_list() == ["Female"]


def test_unconditioned_samples_keep_the_training_columns_and_dtypes(trained: CTGAN, adult: pl.DataFrame) -> None:
    rows = trained.sample(5_000, seed=3)
    assert rows.schema == adult.schema
    assert rows.height == 5_000
    # Every category the model draws is a training level, in roughly its share of rows.
    real_share = adult.get_column("sex").value_counts(normalize=True).sort("sex")
    fake_share = rows.get_column("sex").value_counts(normalize=True).sort("sex")
    assert real_share.get_column("sex").to_list() == fake_share.get_column("sex").to_list()
    assert np.abs(real_share.get_column("proportion").to_numpy() - fake_share.get_column("proportion").to_numpy()).max() < 0.15


def test_saved_model_samples_the_same_rows(trained: CTGAN, tmp_path: Path) -> None:
    path = trained.save(tmp_path / "ctgan.zip")
    loaded = CTGAN.load(path)
    assert loaded.sample(500, seed=9).equals(trained.sample(500, seed=9))
    assert loaded.sample(200, seed=9, conditions={"sex": "Male"}).get_column("sex").unique().to_list() == ["Male"]


def test_folded_generator_computes_the_eval_mode_forward(trained: CTGAN) -> None:
    net = trained.generator_.eval()
    generator = torch.Generator().manual_seed(8)
    condition = trained._condition_index(300, generator=generator, target=None)
    z = torch.randn((300, trained.model_params["embedding_dim"]), generator=generator)
    folded = net.folded()
    # Row slices of larger buffers, as the sampler passes them.
    out = torch.full((400, folded.output_width), float("nan"))
    work = folded.workspace(400, torch.device("cpu"))
    with torch.no_grad():
        expected = net(z, condition)
        got = folded.forward_into(z, condition, out[50:350], work[:300])
    assert torch.allclose(got[:, : folded.output_dim], expected, atol=1e-4)
    assert out[:50].isnan().all() and out[350:].isnan().all()


def test_sampled_rows_do_not_depend_on_the_number_of_workers(trained: CTGAN, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.models.ctgan.model as ctgan_module

    monkeypatch.setattr(ctgan_module, "_SAMPLE_CHUNK_CPU", 64)  # 16 chunks shared among the workers
    rows = []
    for threads in (1, 2, 3):
        model = copy.copy(trained)  # the fitted model with another num_threads (its config is frozen)
        model._frozen_config = trained.config.model_copy(update={"num_threads": threads})
        rows.append(model.sample(1_000, seed=4))
    assert rows[0].equals(rows[1]) and rows[0].equals(rows[2])


def test_folded_weights_are_refreshed_when_the_generator_changes(trained: CTGAN) -> None:
    folded = trained._folded_generator()
    assert trained._folded_generator() is folded
    saved = {k: v.clone() for k, v in trained.generator_.state_dict().items()}
    before = trained.sample(200, seed=2)
    with torch.no_grad():
        trained.generator_.out.fc.bias.add_(5.0)
    assert trained._folded_generator() is not folded
    assert not trained.sample(200, seed=2).equals(before)
    trained.generator_.load_state_dict(saved)
    assert trained.sample(200, seed=2).equals(before)


# -- the critic stays ready for DP-SGD ----------------------------------------------------
def test_critic_is_a_plain_sequential_of_linear_leaky_relu_and_dropout(adult: pl.DataFrame) -> None:
    from engine.models.ctgan.nets import build_critic

    critic = build_critic(30, (256, 256), pac=1)
    assert isinstance(critic, torch.nn.Sequential)
    assert {type(m) for m in critic} == {torch.nn.Linear, torch.nn.LeakyReLU, torch.nn.Dropout}
    assert critic[0].in_features == 30 and critic[-1].out_features == 1


# -- parameters ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pac": 0}, "pac must be a positive integer"),
        ({"generator_dim": ()}, "generator_dim must be a non-empty sequence"),
        ({"generator_lr": -1.0}, "generator_lr must be a positive number"),
        ({"log_frequency": "yes"}, "log_frequency must be True or False"),
        ({"num_threads": 0}, "num_threads must be a positive integer"),
        ({"dropout": 0.1}, "unknown parameters ['dropout']"),
    ],
)
def test_bad_parameters_are_refused_with_what_is_allowed(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        make(**params)


# -- batch size and pac ---------------------------------------------------------------------
def test_pac_batch_rounds_down_to_a_multiple_of_pac_and_never_below_pac() -> None:
    assert [pac_batch(size, 10) for size in (512, 500, 19, 7, 1)] == [510, 500, 10, 10, 10]


def test_a_batch_that_is_not_a_multiple_of_pac_trains_rounded_and_the_run_notes_it(adult: pl.DataFrame, tmp_path: Path) -> None:
    """The profile's default batch (512) once failed CTGAN at once ("must be a multiple of pac (10)")."""
    import engine

    model = engine.train(adult.head(1_000), model="ctgan", epochs=1, batch_size=512, device="cpu", seed=1,
                         transformer_params=TRANSFORMER, num_threads=1)
    assert model._effective_batch(1_000) == 510
    assert model.metrics_["notes"] == [
        "batch size 512 was rounded to 510, a multiple of pac (10): the critic judges pac rows at a time"
    ]
    model.save(tmp_path / "rounded.doppel")
    assert engine.load_model(tmp_path / "rounded.doppel").metrics_["notes"] == model.metrics_["notes"]
