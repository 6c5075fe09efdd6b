"""Entity-level DP (``engine.privacy.groups``): rows grouped by an entity id are sampled,
clipped and counted as one unit. The tests hold each claim to its definition: a Poisson
batch holds whole groups, at the planned rate; a group's clipped contribution is at most
``C`` whatever its size (measured on per-row gradients); a group adds at most 1 to a
histogram; and a model trained with groups reports the entity as its unit within budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from torch import nn

from engine.errors import ConfigError
from engine.models.registry import model_class
from engine.privacy.config import Privacy
from engine.privacy.dpsgd import DPSGD, clipped_gradient_sum, clipped_per_sample_sum, per_sample_gradients
from engine.privacy.groups import RowGroups
from engine.privacy.private_statistics import _histogram, _value_counts, log_partition, private_statistics
from engine.privacy.run import PrivateRun
from engine.transform import DataTransformer


class SquaredError(nn.Module):
    """A linear model's summed squared error (no gradient norms: the per-row-gradient path)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((self.linear(x)[:, 0] - y) ** 2).sum()


class GhostSquaredError(SquaredError):
    """The same loss with exact per-row gradient norms (the ghost-clipping path)."""

    def losses_and_gradient_norms(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        residual = self.linear(x)[:, 0] - y
        # d/dw (r^2) = 2 r x, d/db = 2 r: the norm is 2 |r| sqrt(|x|^2 + 1)
        norms = 2.0 * residual.abs() * torch.sqrt((x**2).sum(1) + 1.0)
        return residual**2, norms.detach()


@pytest.fixture(scope="module")
def batting(datasets: Path) -> pl.DataFrame:
    """The batting rows of 120 players (whole careers, a few to 25 rows each), a few columns."""
    frame = pl.read_csv(datasets / "multitable" / "baseball" / "batting.csv.gz")
    players = frame.get_column("players_id").unique(maintain_order=True).head(120)
    return frame.filter(pl.col("players_id").is_in(players.implode())).select("players_id", "year", "team", "G", "AB", "H")


def _groups(frame: pl.DataFrame) -> RowGroups:
    sizes = frame.group_by("players_id").len().get_column("len")
    return RowGroups.from_labels(frame.get_column("players_id"), max_rows=int(sizes.max()))


def test_groups_are_coded_weighted_and_bounded(batting: pl.DataFrame) -> None:
    groups = _groups(batting)
    assert groups.n_rows == batting.height and groups.n_groups == batting.get_column("players_id").n_unique()
    sums = np.bincount(groups.ids, weights=groups.weights())
    assert np.allclose(sums, 1.0)  # every entity's rows weigh 1 together
    assert sorted(np.concatenate(groups.rows_of()).tolist()) == list(range(batting.height))
    with pytest.raises(ConfigError, match="more than its public bound max_rows=2"):
        RowGroups.from_labels(batting.get_column("players_id"), max_rows=2)
    with pytest.raises(ConfigError, match="give one per row"):
        groups.check_rows(batting.height + 1)


def test_poisson_batches_hold_whole_entities_at_the_planned_rate(batting: pl.DataFrame) -> None:
    groups = _groups(batting)
    run = PrivateRun(Privacy(epsilon=5.0, physical_batch_size=64), groups.n_groups, unit="entity")
    module = SquaredError()
    dp = DPSGD(run=run, loss_module=module, optimizer=torch.optim.SGD(module.parameters(), lr=0.0), n_rows=batting.height,
               batch_size=100, epochs=8, device="cpu", groups=groups)
    assert dp.sample_rate == pytest.approx(100 / batting.height)
    sizes = groups.row_sizes()
    members = groups.rows_of()
    x, y = torch.randn(batting.height, 3), torch.randn(batting.height)
    drawn: list[int] = []
    step_entities: set[int] = set()
    for _ in range(8):
        for batch in dp.batches():
            rows = batch.rows.numpy()
            touched = set(groups.ids[rows].tolist())
            for g in touched:  # every row of every sampled entity, each once
                assert sorted(rows[groups.ids[rows] == g].tolist()) == members[g].tolist()
            assert not (touched & step_entities)  # physical batches of a step split entities never
            step_entities |= touched
            # each row is clipped to C / n_e: an entity's share of the clipped sum is at most C
            assert torch.allclose(dp._limits, torch.as_tensor(run.privacy.max_grad_norm / sizes[rows], dtype=torch.float32))
            if dp.step(x[batch.rows], y[batch.rows]):
                drawn.append(len(step_entities))
                step_entities = set()
    assert dp.steps_done == dp.planned_steps == len(drawn)
    rate = np.mean(drawn) / groups.n_groups
    assert rate == pytest.approx(dp.sample_rate, rel=0.25)  # entities, not rows, are drawn at rate q
    assert run.history == [(dp.noise_multiplier, dp.sample_rate, dp.planned_steps)]  # the accountant sees q per entity
    assert dp.expected_batch == round(dp.sample_rate * groups.n_groups)


@pytest.mark.parametrize("ghost", [True, False], ids=["ghost-clipping", "per-row-gradients"])
def test_an_entitys_clipped_contribution_is_at_most_C_whatever_its_rows(batting: pl.DataFrame, ghost: bool) -> None:
    torch.manual_seed(0)
    groups = _groups(batting)
    module = GhostSquaredError() if ghost else SquaredError()
    nn.init.normal_(module.linear.weight, std=3.0)
    x = torch.as_tensor(batting.select("G", "AB", "H").to_numpy(), dtype=torch.float32) / 50.0
    y = torch.as_tensor(batting.get_column("year").to_numpy() - 1900, dtype=torch.float32) / 50.0
    clip = 0.7
    limits = torch.as_tensor(clip / groups.row_sizes(), dtype=torch.float32)
    params = dict(module.named_parameters())
    largest = 0.0
    for rows in groups.rows_of():
        index = torch.as_tensor(rows)
        if ghost:
            clipped_gradient_sum(module, list(params.values()), (x[index], y[index]), max_grad_norm=limits[index])
        else:
            clipped_per_sample_sum(module, params, (x[index], y[index]), limits=limits[index])
        norm = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in params.values())))
        assert norm <= clip * (1 + 1e-5)
        # the same sum from per-row gradients clipped by hand to C / n_e
        per_row = per_sample_gradients(module, {k: v.detach() for k, v in params.items()}, (x[index], y[index]))
        row_norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in per_row.values()))
        factor = (limits[index] / (row_norms + 1e-6)).clamp(max=1.0)
        for name, p in params.items():
            assert torch.allclose(p.grad, torch.einsum("i,i...->...", factor, per_row[name]), rtol=1e-4, atol=1e-6)
        raw = float(torch.sqrt(sum(g.sum(0).pow(2).sum() for g in per_row.values())))
        largest = max(largest, raw)
    assert largest > 10 * clip  # unclipped, an entity's gradient is far above C: the bound is doing the work


def test_an_entity_adds_at_most_one_to_every_histogram(batting: pl.DataFrame) -> None:
    groups = _groups(batting)
    weights = groups.weights()
    x = batting.get_column("H").to_numpy().astype(np.float64)
    edges = log_partition()
    for g, rows in enumerate(groups.rows_of()[:40]):
        others = groups.ids != g
        with_g = np.concatenate(_histogram(x, edges, weights))
        without_g = np.concatenate(_histogram(x[others], edges, weights[others]))
        assert np.linalg.norm(with_g - without_g) <= 1.0 + 1e-9  # L2 sensitivity 1 per entity
        _, counts, nulls = _value_counts(batting.get_column("team"), weights)
        _, counts_wo, nulls_wo = _value_counts(batting.get_column("team").filter(pl.Series(others)), weights[others])
        assert counts.sum() + nulls - (counts_wo.sum() + nulls_wo) == pytest.approx(1.0)
    total = np.concatenate(_histogram(x, edges, weights)).sum()
    assert total == pytest.approx(groups.n_groups)  # counts are in entities


def test_the_category_threshold_covers_all_the_values_one_entity_can_add(batting: pl.DataFrame) -> None:
    frame = batting.select("team")
    params = DataTransformer().validated_params()
    privacy = Privacy(epsilon=3.0)
    rows = private_statistics(frame, run=PrivateRun(privacy, frame.height), params=params)
    groups = _groups(batting)
    entities = private_statistics(frame, run=PrivateRun(privacy, groups.n_groups, unit="entity"), params=params, groups=groups)
    tau_row = rows.columns[0]["threshold"]
    tau_entity = entities.columns[0]["threshold"]
    assert tau_entity > tau_row  # the delta is split over the max_rows values an entity can add


def test_a_model_trained_with_entity_groups_reports_the_entity_as_its_unit_within_budget(batting: pl.DataFrame) -> None:
    groups = _groups(batting)
    frame = batting.drop("players_id")
    model = model_class("argn")(
        privacy=Privacy(epsilon=4.0, delta=1e-4), epochs=2, seed=0, device="cpu", num_threads=1
    ).fit(frame, groups=groups)
    report = model.privacy_report_
    assert report["mechanism"] == "differential privacy (add/remove one entity)"
    assert report["epsilon"] <= 4.0
    assert report["sample_rate"] == pytest.approx(model._dp_batch_size(frame.height) / frame.height)
    assert model.sample(50, seed=1).height == 50


def test_groups_are_refused_without_privacy_and_by_a_model_that_counts_rows(batting: pl.DataFrame) -> None:
    groups = _groups(batting)
    frame = batting.drop("players_id")
    argn = model_class("argn")
    with pytest.raises(ConfigError, match="with privacy= only"):
        argn(epochs=1, device="cpu").fit(frame, groups=groups)
    mst = model_class("mst")
    with pytest.raises(ConfigError, match="cannot train with rows grouped into entities"):
        mst(privacy=Privacy(epsilon=1.0, delta=1e-4), seed=0).fit(frame, groups=groups)
