"""A table of histories: its roles suggested from the rows, checked by the engine, and stored as a new version.

Suggestions run on the real nasdaq100_2019 and beijing air-quality tables (and adult, which is
no history); saving runs through the real use cases on the embedded SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import InputError
from infra.records.authz import Actor
from infra.usecases import dataset_store
from infra.usecases.sequence_roles import SequenceRoles, save_sequence_roles, sequence_roles, suggest_sequence_roles
from tests.infra.sequence_training_support import nasdaq_slice
from tests.infra.workspace_support import member_workspace


@pytest.fixture(scope="module")
def prices(datasets: Path) -> pl.DataFrame:
    return nasdaq_slice(datasets, companies=12, days=30, seed=1)


def test_nasdaq_is_suggested_as_histories_of_symbols_over_dates_with_their_static_columns(prices: pl.DataFrame) -> None:
    roles = suggest_sequence_roles(prices)
    assert roles is not None and (roles.entity, roles.order_by) == ("Symbol", "Date")
    assert {"Sector", "Industry"} <= set(roles.context) and "Close" not in roles.context


def test_beijing_is_suggested_as_histories_of_stations_over_its_step_counter(datasets: Path) -> None:
    air = engine.read(datasets / "timeseries" / "beijing_air_quality_4stations.csv.gz")
    roles = suggest_sequence_roles(air)
    assert roles is not None and (roles.entity, roles.order_by) == ("station", "No")


def test_a_flat_table_gets_no_suggestion(datasets: Path) -> None:
    assert suggest_sequence_roles(engine.read(datasets / "adult.csv").head(2000)) is None


@pytest.mark.parametrize("table", ["client", "disp", "district", "order"])
def test_a_table_ordered_by_a_row_id_or_a_foreign_key_is_no_history(datasets: Path, table: str) -> None:
    assert suggest_sequence_roles(engine.read(datasets / "multitable" / "berka" / f"{table}.csv.gz")) is None


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def workspace(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Actor]]:
    with member_workspace(request.param, tmp_path_factory.mktemp("sequence-roles"), prefix="histories") as workspace:
        yield workspace


def _stored(workspace: tuple[str, Actor], frame: pl.DataFrame, name: str) -> dataset_store.StoredVersion:
    tenant, actor = workspace
    return dataset_store.store_table(tenant, frame=frame, dataset_name=name, source={"kind": "upload"}, actor=actor)


def _versions(workspace: tuple[str, Actor], dataset_id: str) -> list[dataset_store.VersionSummary]:
    tenant, actor = workspace
    return next(d for d in dataset_store.list_datasets(tenant, actor=actor) if d.id == dataset_id).versions


def test_saving_roles_makes_the_next_version_of_the_same_table_and_saving_them_again_names_it(
    workspace: tuple[str, Actor], prices: pl.DataFrame
) -> None:
    tenant, actor = workspace
    plain = _stored(workspace, prices, "prices")
    saved = save_sequence_roles(tenant, version_id=plain.version_id, entity="Symbol", order_by="Date",
                                context=["Sector"], actor=actor)
    assert saved.created and saved.version == plain.version + 1 and saved.content_hash == plain.content_hash
    summary = next(v for v in _versions(workspace, saved.dataset_id) if v.id == saved.version_id)
    assert summary.is_sequence and sequence_roles(summary.source) == SequenceRoles("Symbol", "Date", ("Sector",))
    assert "as histories of Symbol over Date" in summary.origin
    again = save_sequence_roles(tenant, version_id=plain.version_id, entity="Symbol", order_by="Date",
                                context=["Sector"], actor=actor)
    assert not again.created and again.version_id == saved.version_id


@pytest.mark.parametrize(("change", "roles", "message"), [
    ("duplicate", {"entity": "Symbol", "order_by": "Date"}, r"\(entity, time\) pair\(s\) appear more than once"),
    ("none", {"entity": "Date", "order_by": "Symbol"}, "holds text that is not dates or datetimes"),
    ("none", {"entity": "Symbol", "order_by": "Date", "context": ["Close"]}, "context column 'Close' is not constant"),
    ("none", {"entity": "Symbol", "order_by": "When"}, "order_by column 'When' is not in the table"),
])
def test_roles_the_table_does_not_fit_are_refused_with_the_engines_message_and_nothing_is_stored(
    workspace: tuple[str, Actor], prices: pl.DataFrame, change: str, roles: dict, message: str
) -> None:
    tenant, actor = workspace
    frame = pl.concat([prices, prices.head(3)]) if change == "duplicate" else prices
    plain = _stored(workspace, frame, f"refused-{change}")
    with pytest.raises((InputError, engine.ConfigError), match=message):
        save_sequence_roles(tenant, version_id=plain.version_id, actor=actor, **roles)
    assert [v.version for v in _versions(workspace, plain.dataset_id)] == [plain.version]
