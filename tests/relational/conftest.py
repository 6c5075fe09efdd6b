"""Real schemas for the relational tests: berka (seven tables) and baseball (three), read once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import engine

BERKA_KEYS: dict[str, Any] = {
    "primary_keys": {
        "district": "district_id",
        "account": "account_id",
        "client": "client_id",
        "disp": "disp_id",
        "card": "card_id",
        "loan": "loan_id",
        "order": "order_id",
    },
    "foreign_keys": [
        "account.district_id -> district.district_id",
        "client.district_id -> district.district_id",
        "disp.client_id -> client.client_id",
        "disp.account_id -> account.account_id",
        "card.disp_id -> disp.disp_id",
        "loan.account_id -> account.account_id",
        "order.account_id -> account.account_id",
    ],
}
BASEBALL_KEYS: dict[str, Any] = {
    "primary_keys": {"players": "id"},
    "foreign_keys": ["batting.players_id -> players.id", "fielding.players_id -> players.id"],
}


def key_tuples(keys: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The foreign keys of ``keys`` as ``(child, column, parent, parent column)``, in declared order."""
    out = []
    for text in keys["foreign_keys"]:
        child, parent = (side.strip().split(".") for side in text.split("->"))
        out.append((child[0], child[1], parent[0], parent[1]))
    return out


@pytest.fixture(scope="session")
def berka(datasets: Path) -> dict[str, pl.DataFrame]:
    """The seven berka tables, by name, in name order."""
    return engine.read_tables(datasets / "multitable" / "berka")


@pytest.fixture(scope="session")
def baseball(datasets: Path) -> dict[str, pl.DataFrame]:
    """players, batting and fielding, by name, in name order."""
    return engine.read_tables(datasets / "multitable" / "baseball")


@pytest.fixture(scope="session")
def berka_profile(berka: dict[str, pl.DataFrame]) -> Any:
    return engine.profile_tables(berka, sample_rows=5_000)


@pytest.fixture(scope="session")
def baseball_profile(baseball: dict[str, pl.DataFrame]) -> Any:
    return engine.profile_tables(baseball, sample_rows=5_000)
