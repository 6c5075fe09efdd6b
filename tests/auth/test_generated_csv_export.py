"""The CSV download of generated rows is neutralised: the wiring from the Generate page's service to ``infra.exports``.

``test_security_checks`` proves ``neutralise_cell`` / ``csv_bytes`` themselves; this proves
that ``outputs.download_generated`` — what the Generate page's download button serves — runs
generated rows through them, so a formula that synthetic data copied from an upload never
reaches a spreadsheet as a formula.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from infra.db import Database, tenant_session
from infra.exports import FORMULA_TRIGGERS
from infra.records import catalog
from infra.usecases import outputs
from tests.app.page_support import clear_caches
from tests.auth.conftest import seed_tenant

FORMULAS = ['=HYPERLINK("http://evil.test","click")', "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "=1+1"]


@pytest.fixture
def services_on_sqlite(sqlite_database: Database, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The services (which open their own sessions) on a SQLite metadata file and a private object folder."""
    monkeypatch.setenv("DOPPEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOPPEL_DATABASE_URL", sqlite_database.url)
    clear_caches()
    yield sqlite_database
    clear_caches()


def test_a_generated_csv_download_has_no_cell_that_starts_a_formula(services_on_sqlite):
    from infra.storage import open_tenant_store

    tenant = seed_tenant(services_on_sqlite, prefix="csv")
    rows = pl.DataFrame({"city": [*FORMULAS, "Lyon"], "amount": [-5, 1, 2, 3, 4, -1]})
    raw = io.BytesIO()
    rows.write_csv(raw)
    key = "generated/formulas.csv"
    open_tenant_store(tenant.name).put_bytes(key, raw.getvalue())
    with tenant_session(tenant.name) as s:
        model_version_id = catalog.list_model_versions(s, catalog.list_models(s)[0].id)[0].id
        generated = catalog.record_generated_dataset(s, model_version_id=model_version_id, n_rows=rows.height,
                                                     actor="test", params={"format": "csv"}, object_key=key)

    download = outputs.download_generated(tenant.name, generated_dataset_id=generated.id,
                                          actor=tenant.actors["viewer"])

    cells = pl.read_csv(io.BytesIO(download.data))
    assert download.mime == "text/csv"
    assert cells["city"].to_list() == ["'" + formula for formula in FORMULAS] + ["Lyon"]
    assert not any(cell.startswith(FORMULA_TRIGGERS) for cell in cells["city"].to_list())
    assert cells["amount"].to_list() == [-5, 1, 2, 3, 4, -1]  # numbers stay numbers
