"""Differential privacy for related tables, the root entity (a root row with all its rows) as
the unit (``engine.relational.private``), on real schemas: baseball's players -> batting,
fielding forest trains privately within its budget, with its children truncated, entities
sampled and clipped as units, and round-trips through save/load with intact keys; berka's
two-parent ``disp`` is refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch

import engine
from engine.errors import ConfigError
from engine.privacy.dpsgd import DPSGD, clipped_gradient_sum
from engine.privacy.private_statistics import prepare_frame
from engine.privacy.run import PrivateRun, accountant_epsilon
from engine.relational.layout import learned_frame
from engine.relational.private import truncate
from engine.relational.schema import Schema
from tests.relational.conftest import BASEBALL_KEYS, BERKA_KEYS

EPSILON, DELTA, MAX_CHILDREN, SEED = 10.0, 1e-4, 6, 0


@pytest.fixture(scope="module")
def players_slice(baseball: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """200 players with all their batting and fielding rows."""
    players = baseball["players"].head(200)
    ids = players.get_column("id").implode()
    return {"players": players,
            "batting": baseball["batting"].filter(pl.col("players_id").is_in(ids)),
            "fielding": baseball["fielding"].filter(pl.col("players_id").is_in(ids))}


@pytest.fixture(scope="module")
def dp_model(players_slice: dict[str, pl.DataFrame]) -> Any:
    return engine.train_tables(players_slice, keys=BASEBALL_KEYS, privacy=engine.Privacy(epsilon=EPSILON, delta=DELTA),
                               max_children=MAX_CHILDREN, seed=SEED, max_training_time_s=8, device="cpu")


@pytest.fixture(scope="module")
def truncated(players_slice: dict[str, pl.DataFrame]) -> Any:
    schema = Schema.from_keys(BASEBALL_KEYS, players_slice)
    caps = {"batting": MAX_CHILDREN, "fielding": MAX_CHILDREN}
    return truncate(schema, ("players", "batting", "fielding"), players_slice, caps=caps, seed=SEED)


def test_a_two_parent_table_is_refused_under_dp_with_its_parents(berka: dict[str, pl.DataFrame]) -> None:
    with pytest.raises(ConfigError, match=r"table 'disp' has 2 parent relations \(disp\.client_id -> client\.client_id, "
                                          r"disp\.account_id -> account\.account_id\).*two root entities.*forest"):
        engine.train_tables(berka, keys=BERKA_KEYS, privacy=engine.Privacy(epsilon=1.0, delta=1e-6))


def test_dp_needs_declared_keys_no_kept_orphans_and_max_children_needs_dp(players_slice: dict[str, pl.DataFrame]) -> None:
    dp = engine.Privacy(epsilon=1.0, delta=1e-6)
    with pytest.raises(ConfigError, match="declare keys="):
        engine.train_tables(players_slice, privacy=dp)
    with pytest.raises(ConfigError, match='orphans="keep" is refused'):
        engine.train_tables(players_slice, keys=BASEBALL_KEYS, privacy=dp, orphans="keep")
    with pytest.raises(ConfigError, match="with privacy= only"):
        engine.train_tables(players_slice, keys=BASEBALL_KEYS, max_children=5)
    with pytest.raises(ConfigError, match="not child tables"):
        engine.train_tables(players_slice, keys=BASEBALL_KEYS, privacy=dp, max_children={"players": 3})
    with pytest.raises(ConfigError, match="'table.column'"):
        engine.train_tables(players_slice, keys=BASEBALL_KEYS, privacy=engine.Privacy(epsilon=1.0, delta=1e-6, bounds={"weight": (100, 300)}))
    with pytest.raises(ConfigError, match="1 / root entities"):
        engine.train_tables(players_slice, keys=BASEBALL_KEYS, privacy=engine.Privacy(epsilon=1.0, delta=0.01))


def test_children_beyond_max_children_are_dropped_at_random_seeded_and_counted(players_slice: dict[str, pl.DataFrame], truncated: Any) -> None:
    for table in ("batting", "fielding"):
        before = players_slice[table].group_by("players_id").len().get_column("len").cast(pl.Int64)
        after = truncated.frames[table].group_by("players_id").len().get_column("len")
        assert after.max() <= MAX_CHILDREN
        assert truncated.truncated[table] == int((before - MAX_CHILDREN).clip(lower_bound=0).sum()) > 0
        assert truncated.frames[table].height == players_slice[table].height - truncated.truncated[table]
        kept = truncated.frames[table]
        assert set(kept.rows()) <= set(players_slice[table].rows())  # real rows, unchanged
    schema = Schema.from_keys(BASEBALL_KEYS, players_slice)
    caps = {"batting": MAX_CHILDREN, "fielding": MAX_CHILDREN}
    again = truncate(schema, ("players", "batting", "fielding"), players_slice, caps=caps, seed=SEED)
    other = truncate(schema, ("players", "batting", "fielding"), players_slice, caps=caps, seed=SEED + 1)
    assert again.frames["batting"].equals(truncated.frames["batting"])
    assert not other.frames["batting"].equals(truncated.frames["batting"])


def test_rows_are_grouped_by_their_root_entity_with_the_bound_of_the_caps(truncated: Any) -> None:
    players = truncated.frames["players"].get_column("id").to_list()
    for table in ("batting", "fielding"):
        groups = truncated.groups[table]
        assert truncated.max_rows[table] == groups.max_rows == MAX_CHILDREN
        owners = truncated.frames[table].get_column("players_id").to_list()
        # one group per player, and a group's rows are exactly that player's rows
        by_group: dict[int, set[str]] = {}
        for code, owner in zip(groups.ids.tolist(), owners):
            by_group.setdefault(code, set()).add(owner)
        assert all(len(v) == 1 for v in by_group.values())
        assert len({next(iter(v)) for v in by_group.values()}) == groups.n_groups
        assert set(owners) <= set(players)
    assert truncated.groups["players"] is None and truncated.max_rows["players"] == 1


def test_the_total_spent_is_within_the_schema_budget(dp_model: Any) -> None:
    spent = dp_model.privacy_spent_
    assert spent["epsilon_target"] == EPSILON and spent["unit"].startswith("root entity")
    reports = {t: m.privacy_report_ for t, m in dp_model.models_.items()}
    # each table within its share, and the accountant over all the runs' mechanisms within the total
    for table, report in reports.items():
        assert report["epsilon"] <= EPSILON / 3 + 1e-9 and report["delta"] <= DELTA / 3 + 1e-12
        assert spent["tables"][table]["epsilon"] == pytest.approx(report["epsilon"])
    history = [tuple(h) for r in reports.values() for h in r["history"]]
    composed = accountant_epsilon(history, delta=sum(r["accountant_delta"] for r in reports.values()), accountant="rdp")
    assert composed == pytest.approx(spent["epsilon_rdp_composition"])
    assert spent["epsilon"] == min(composed, sum(r["epsilon"] for r in reports.values())) <= EPSILON
    assert spent["delta"] <= DELTA
    assert reports["batting"]["mechanism"] == reports["fielding"]["mechanism"] == "differential privacy (add/remove one entity)"
    assert spent["tables"]["batting"]["max_rows_per_entity"] == MAX_CHILDREN
    # a child's context columns are declared from its parent's private transformer: its run measures only its own
    measured = [c for m in reports["batting"]["mechanisms"] for c in m.get("columns", []) if m["kind"] == "gaussian"]
    assert measured and not [c for c in measured if c.startswith("players.")]
    assert "#batting.players_id" not in [c for m in reports["players"]["mechanisms"] for c in m.get("columns", [])]


def test_the_truncation_is_reported_but_not_saved(dp_model: Any, truncated: Any, tmp_path: Path) -> None:
    assert dp_model.truncation_["max_children"] == {"batting": MAX_CHILDREN, "fielding": MAX_CHILDREN}
    assert dp_model.truncation_["truncated_rows"] == truncated.truncated
    assert dp_model.rows_["batting"] == truncated.frames["batting"].height
    target = dp_model.save(tmp_path / "schema")
    assert "truncated_rows" not in (target / "relational.json").read_text()


def test_a_dp_schema_model_round_trips_and_samples_with_intact_keys(dp_model: Any, tmp_path: Path) -> None:
    loaded = engine.load_model(dp_model.save(tmp_path / "schema"))
    assert loaded.privacy_spent_ == dp_model.privacy_spent_
    first, second = dp_model.sample(seed=3), loaded.sample(seed=3)
    for table in first:
        assert first[table].equals(second[table])
    players = set(first["players"].get_column("id").to_list())
    assert len(players) == first["players"].height == 200
    for table in ("batting", "fielding"):
        keys = first[table].get_column("players_id")
        assert first[table].height > 0
        integrity = float(keys.is_in(list(players)).mean())
        assert integrity == 1.0
        assert first[table].group_by("players_id").len().get_column("len").max() <= MAX_CHILDREN


def _batting_rows(dp_model: Any, truncated: Any) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The trained batting network as DP-SGD sees it, and the real batting rows' tokens and visibility."""
    from engine.models.argn.network import visibility
    from engine.models.argn.trainer import _RowLoss

    frames = truncated.frames
    players, batting = dp_model.models_["players"], dp_model.models_["batting"]
    parent = learned_frame(dp_model.layouts_["players"], frame=frames["players"], tables=frames, learned={})
    rows = learned_frame(dp_model.layouts_["batting"], frame=frames["batting"], tables=frames,
                         learned={"players": prepare_frame(players.transformer_, parent)})
    rows = prepare_frame(batting.transformer_, rows.select(batting.transformer_.columns_))
    tokens = torch.from_numpy(batting.transformer_.transform_tokens(rows))
    module = _RowLoss(copy.deepcopy(batting.network_)).eval().requires_grad_(True)  # the kept (averaged) weights, trainable
    return module, tokens, visibility(batting.order_, batting._column_of, batting._shared)


def test_entities_are_sampled_as_units_from_the_schema(dp_model: Any, truncated: Any) -> None:
    module, tokens, vis = _batting_rows(dp_model, truncated)
    groups = truncated.groups["batting"]
    run = PrivateRun(engine.Privacy(epsilon=2.0, delta=DELTA, physical_batch_size=32), groups.n_groups, unit="entity")
    dp = DPSGD(run=run, loss_module=module, optimizer=torch.optim.SGD(module.parameters(), lr=0.0), n_rows=tokens.shape[0],
               batch_size=64, epochs=1, device="cpu", groups=groups)
    members = groups.rows_of()
    drawn, step = [], set()
    for batch in dp.batches():
        rows = batch.rows.numpy()
        touched = set(groups.ids[rows].tolist())
        for g in touched:  # every sampled entity with all its batting rows, once
            assert sorted(rows[groups.ids[rows] == g].tolist()) == members[g].tolist()
        assert not touched & step
        step |= touched
        if dp.step(tokens[batch.rows], shared=(vis,)):
            drawn.append(len(step))
            step = set()
            if len(drawn) == 4:
                break
    assert sum(drawn) > 0 and run.history == [(dp.noise_multiplier, 64 / tokens.shape[0], 4)]  # the accountant's rate is q


def test_each_entitys_clipped_gradient_is_at_most_C(dp_model: Any, truncated: Any) -> None:
    module, tokens, vis = _batting_rows(dp_model, truncated)
    groups = truncated.groups["batting"]
    clip = engine.Privacy(epsilon=1.0).max_grad_norm
    limits = torch.as_tensor(clip / groups.row_sizes(), dtype=torch.float32)
    params = [p for p in module.parameters() if p.requires_grad]
    raw_largest = 0.0
    for rows in groups.rows_of()[:25]:
        index = torch.as_tensor(rows)
        clipped_gradient_sum(module, params, (tokens[index],), (vis,), max_grad_norm=limits[index])
        norm = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in params)))
        assert norm <= clip * (1 + 1e-4)
        raw = torch.autograd.grad(module(tokens[index], vis), params, allow_unused=True)  # the entity's own, unclipped
        raw_largest = max(raw_largest, float(torch.sqrt(sum(g.pow(2).sum() for g in raw if g is not None))))
    assert raw_largest > clip  # some entity's own gradient is larger: the bound clips it
    assert np.isfinite(raw_largest)
