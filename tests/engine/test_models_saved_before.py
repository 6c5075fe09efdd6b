"""Model files saved by an earlier layout of ``engine/models`` still load and sample the same rows.

``saved_models/`` holds tiny ARGN, CTGAN and TVAE models (200 adult rows, 5 columns, 1 epoch,
seed 3) saved by the code from before the models became packages (``engine/models/ctgan.py``
with five private helper modules beside it, ``argn.py`` with its network module, ``tvae.py``), and the 20
rows each sampled with seed 5 at the time. A manifest names the model's kind, never a module,
so moving a model's code must not strand a saved file.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import engine

SAVED = Path(__file__).parent / "saved_models"


@pytest.mark.parametrize("kind", ["argn", "ctgan", "tvae"])
def test_a_model_saved_before_the_package_layout_loads_as_its_kind(kind: str) -> None:
    model = engine.load_model(SAVED / f"adult_{kind}.doppel")

    assert model.kind == kind
    assert type(model).__module__ == f"engine.models.{kind}.model"


@pytest.mark.parametrize("kind", ["argn", "ctgan", "tvae"])
def test_a_model_saved_before_the_package_layout_samples_the_rows_it_sampled_then(kind: str) -> None:
    model = engine.load_model(SAVED / f"adult_{kind}.doppel")

    rows = model.sample(20, seed=5)

    before = pl.read_csv(SAVED / f"adult_{kind}_rows_seed5.csv", schema=rows.schema)
    assert rows.equals(before)
