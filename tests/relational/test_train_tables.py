"""engine.train_tables and RelationalModel: a schema in, a synthetic schema out, every key intact.

Two models are trained once per module on real schemas, briefly (seconds, not to quality):
berka's seven tables with its declared keys, and a slice of baseball (players with their
batting and fielding seasons) with the keys the profile infers. Their time budgets are small
on purpose: every table trains at least one epoch, and one epoch per table already meets every
assertion here (checked on a loaded machine, where the budgets allowed no more than that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import engine
from engine.errors import ConfigError, InputError
from engine.models.files import ModelFileError
from engine.relational import Schema, children_per_parent
from tests.relational.conftest import BASEBALL_KEYS, BERKA_KEYS


@pytest.fixture(scope="module")
def berka_model(berka: dict[str, pl.DataFrame]) -> Any:
    return engine.train_tables(berka, keys=BERKA_KEYS, model="argn", seed=0, max_training_time_s=6)


@pytest.fixture(scope="module")
def berka_synthetic(berka_model: Any) -> dict[str, pl.DataFrame]:
    return berka_model.sample(scale=1.0, seed=1)


@pytest.fixture(scope="module")
def baseball_slice(baseball: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    players = baseball["players"].sample(800, seed=0)
    ids = players.get_column("id").implode()
    return {
        "players": players,
        "batting": baseball["batting"].filter(pl.col("players_id").is_in(ids)),
        "fielding": baseball["fielding"].filter(pl.col("players_id").is_in(ids)),
    }


@pytest.fixture(scope="module")
def baseball_model(baseball_slice: dict[str, pl.DataFrame]) -> Any:
    return engine.train_tables(baseball_slice, keys=None, model="argn", seed=0, max_training_time_s=5)


@pytest.fixture(scope="module")
def baseball_synthetic(baseball_model: Any) -> dict[str, pl.DataFrame]:
    return baseball_model.sample(scale=1.0, seed=1)


def _dangling(tables: dict[str, pl.DataFrame], keys: dict[str, Any]) -> dict[str, int]:
    """Per foreign key, the child rows whose key is not a parent's key."""
    found = {}
    for fk in Schema.from_keys(keys, tables).foreign_keys:
        parents = tables[fk.parent].get_column(fk.parent_column).implode()
        found[str(fk)] = int(tables[fk.child].filter(~pl.col(fk.column).is_in(parents)).height)
    return found


def test_every_foreign_key_of_synthetic_berka_points_at_a_generated_parent(berka_synthetic):
    assert set(berka_synthetic) == {"district", "account", "client", "disp", "card", "loan", "order"}
    assert all(n == 0 for n in _dangling(berka_synthetic, BERKA_KEYS).values())
    assert all(frame.height > 0 for frame in berka_synthetic.values())


def test_every_foreign_key_of_synthetic_baseball_points_at_a_generated_player(baseball_synthetic):
    assert _dangling(baseball_synthetic, BASEBALL_KEYS) == {
        "batting.players_id -> players.id": 0,
        "fielding.players_id -> players.id": 0,
    }


def test_synthetic_tables_have_the_real_columns_and_dtypes(berka, berka_synthetic):
    for name, real in berka.items():
        assert berka_synthetic[name].schema == real.schema, name


def test_primary_keys_are_unique_and_of_the_real_type(berka_synthetic):
    for table, column in BERKA_KEYS["primary_keys"].items():
        keys = berka_synthetic[table].get_column(column)
        assert keys.null_count() == 0 and keys.n_unique() == keys.len(), table


def test_string_keys_keep_their_format(baseball_slice, baseball_synthetic):
    pattern = r"^[a-z']+\d{2}$"  # baseball ids: up to seven letters of the name and two digits
    assert baseball_slice["players"].get_column("id").str.contains(pattern).all()
    assert baseball_synthetic["players"].get_column("id").str.contains(pattern).mean() > 0.99


def test_a_loan_stays_at_most_one_per_account(berka, berka_synthetic):
    assert berka["loan"].get_column("account_id").is_duplicated().sum() == 0
    assert berka_synthetic["loan"].get_column("account_id").is_duplicated().sum() == 0


def test_a_disposition_gets_both_its_account_and_its_client(berka_synthetic):
    disp = berka_synthetic["disp"]
    assert disp.get_column("account_id").null_count() == 0 and disp.get_column("client_id").null_count() == 0
    # every real client has exactly one disposition; the matching keeps that for nearly all
    per_client = disp.group_by("client_id").len().get_column("len")
    assert float((per_client == 1).mean()) > 0.9


def test_children_per_parent_follow_the_real_counts(berka, berka_synthetic):
    def counts(tables: dict[str, pl.DataFrame]) -> pl.Series:
        return children_per_parent(tables["account"], "account_id", tables["order"], "account_id")

    real, synthetic = counts(berka), counts(berka_synthetic)
    assert abs(float(real.mean()) - float(synthetic.mean())) < 0.25 * float(real.mean())
    assert abs(float((real == 0).mean()) - float((synthetic == 0).mean())) < 0.1


def test_scale_multiplies_the_root_rows(berka, berka_model):
    half = berka_model.sample(scale=0.5, seed=1)
    assert half["district"].height == round(0.5 * berka["district"].height)
    assert all(n == 0 for n in _dangling(half, BERKA_KEYS).values())


def test_the_same_seed_gives_the_same_tables(berka_model, berka_synthetic):
    again = berka_model.sample(scale=1.0, seed=1)
    assert all(again[name].equals(frame) for name, frame in berka_synthetic.items())


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), 1e9, "2"])
def test_a_scale_outside_its_range_is_refused(berka_model, scale):
    with pytest.raises(ConfigError, match="scale must be"):
        berka_model.sample(scale=scale, seed=1)


def test_a_saved_schema_model_loads_and_samples_the_same_tables(berka_model, berka_synthetic, tmp_path: Path):
    path = berka_model.save(tmp_path / "berka.doppel")
    loaded = engine.load_model(path)
    assert isinstance(loaded, engine.RelationalModel) and loaded.keys == berka_model.keys
    again = loaded.sample(scale=1.0, seed=1)
    assert all(again[name].equals(frame) for name, frame in berka_synthetic.items())


def test_a_schema_model_is_never_written_over(berka_model, tmp_path: Path):
    path = berka_model.save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="already exists"):
        berka_model.save(path)


def test_a_tampered_manifest_is_refused_naming_the_file(berka_model, tmp_path: Path):
    path = berka_model.save(tmp_path / "m")
    manifest = path / "relational.json"
    manifest.write_text(manifest.read_text().replace('"tables/0"', '"../../etc"'))
    with pytest.raises(ModelFileError, match="tables/<number>"):
        engine.load_model(path)


def test_without_keys_the_inferred_ones_are_used_and_said(baseball_model):
    assert {str(fk) for fk in baseball_model.schema_.foreign_keys} == set(BASEBALL_KEYS["foreign_keys"])
    assert all(fk.inferred for fk in baseball_model.schema_.foreign_keys)
    assert any("was inferred" in note for note in baseball_model.notes_)


def test_a_child_row_is_drawn_given_its_parent(baseball_slice, baseball_synthetic):
    """A batting season lies in its player's life: the season is drawn given the birth date."""

    def gap(tables: dict[str, pl.DataFrame]) -> pl.Series:
        joined = tables["batting"].join(tables["players"], left_on="players_id", right_on="id")
        birth = pl.col("birthDate").cast(pl.Utf8).str.slice(0, 4).cast(pl.Int64, strict=False)
        return joined.select((pl.col("year") - birth).alias("age")).get_column("age").drop_nulls()

    real, synthetic = gap(baseball_slice), gap(baseball_synthetic)
    assert 20 <= float(synthetic.median()) <= 35
    assert abs(float(synthetic.median()) - float(real.median())) <= 4


def test_the_schema_report_finds_referential_integrity_intact(berka, berka_synthetic):
    # The integrity gate is a cross-table one, measured whatever the tables' pillars: fidelity
    # alone and no subtrees spare the utility and privacy models this test never reads.
    lean = {"tables": {"pillars": ["fidelity"]}, "subtrees": {"enabled": False}}
    report = engine.assess_tables(real=berka, synthetic=berka_synthetic, keys=BERKA_KEYS, config=lean)
    integrity = [g for g in report.gates if "referential" in g.name.lower() or "integrity" in g.name.lower()]
    assert integrity and all(g.status == "pass" for g in integrity)


def test_privacy_is_refused_for_schemas_with_a_clear_message(berka):
    with pytest.raises(ConfigError, match="table 'disp' has 2 parent relations.*two root entities"):  # berka is no forest
        engine.train_tables(berka, keys=BERKA_KEYS, privacy=engine.Privacy(epsilon=1.0, delta=1e-5))


def test_a_cycle_is_refused_before_anything_is_trained(berka):
    keys = {**BERKA_KEYS, "foreign_keys": [*BERKA_KEYS["foreign_keys"], "district.district_id -> loan.loan_id"]}
    with pytest.raises(ConfigError, match="cycle"):
        engine.train_tables(berka, keys=keys)


def test_orphans_are_refused_with_their_count_unless_asked_to_drop_them(berka):
    tables = {**berka, "loan": berka["loan"].with_columns(pl.col("account_id") + 10_000_000)}
    with pytest.raises(InputError, match="682"):
        engine.train_tables(tables, keys=BERKA_KEYS)


def test_an_empty_mapping_is_refused(berka):
    with pytest.raises(ConfigError, match="non-empty mapping"):
        engine.train_tables({}, keys=BERKA_KEYS)
