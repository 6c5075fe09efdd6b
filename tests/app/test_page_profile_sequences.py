"""The Profile page of a table of histories: the roles suggested, picked, saved as the next version, and shown.

The table is a real nasdaq100_2019 slice (10 companies, 30 trading days each) stored through the
real use case; the page runs through the real entry script with AppTest.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl
import pytest

from app.components.pickers import SELECTED
from infra.usecases import dataset_store
from infra.usecases.sequence_roles import sequence_roles
from tests.app.page_support import button, no_traceback, open_page, texts
from tests.infra.sequence_training_support import nasdaq_slice


@pytest.fixture(scope="module")
def prices(datasets: Path) -> pl.DataFrame:
    return nasdaq_slice(datasets, companies=10, days=30, seed=2)


def _store(workspace, frame: pl.DataFrame) -> dataset_store.StoredVersion:
    return dataset_store.store_table(workspace.tenant, frame=frame, dataset_name=f"prices-{uuid.uuid4().hex[:6]}",
                                     source={"kind": "upload"}, actor=workspace.actor)


def _versions(workspace, dataset_id: str) -> list[dataset_store.VersionSummary]:
    return next(d for d in dataset_store.list_datasets(workspace.tenant, actor=workspace.actor)
                if d.id == dataset_id).versions


def test_a_long_table_is_suggested_as_histories_and_the_pickers_start_from_the_suggestion(app_env, prices):
    stored = _store(app_env, prices)
    at = open_page("profile", session={SELECTED["dataset_version"]: stored.version_id})
    no_traceback(at)
    assert any("looks like histories of **Symbol** over **Date**" in t for t in texts(at.info))
    assert at.selectbox(key=f"sequence_roles_{stored.version_id}_entity").value == "Symbol"
    assert at.selectbox(key=f"sequence_roles_{stored.version_id}_time").value == "Date"
    assert {"Sector", "Industry"} <= set(at.multiselect(key=f"sequence_roles_{stored.version_id}_context").value)


def test_saving_the_roles_makes_the_next_version_which_the_page_then_shows_as_histories(app_env, prices):
    stored = _store(app_env, prices)
    at = open_page("profile", session={SELECTED["dataset_version"]: stored.version_id})
    at.multiselect(key=f"sequence_roles_{stored.version_id}_context").set_value(["Sector"])
    button(at, "Save as histories").click()
    at.run()
    no_traceback(at)
    newest = _versions(app_env, stored.dataset_id)[0]
    assert newest.version == stored.version + 1 and newest.is_sequence
    assert sequence_roles(newest.source).context == ("Sector",)
    assert any("table of histories: entity **Symbol**, time **Date**, context Sector" in t for t in texts(at.success))


def test_roles_the_table_does_not_fit_show_the_engines_message_and_save_nothing(app_env, prices):
    stored = _store(app_env, pl.concat([prices, prices.head(2)]))  # two (Symbol, Date) pairs twice
    at = open_page("profile", session={SELECTED["dataset_version"]: stored.version_id})
    at.selectbox(key=f"sequence_roles_{stored.version_id}_entity").set_value("Symbol")
    at.run()
    at.selectbox(key=f"sequence_roles_{stored.version_id}_time").set_value("Date")
    at.run()
    button(at, "Save as histories").click()
    at.run()
    no_traceback(at)
    assert any("appear more than once" in t for t in texts(at.error))
    assert [v.version for v in _versions(app_env, stored.dataset_id)] == [stored.version]
