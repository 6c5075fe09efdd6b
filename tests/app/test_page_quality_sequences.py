"""The Quality page with generated histories: no target, the model's holdout, the sequence report and its link.

A workspace of its own (``tests/app/sequence_page_support.py``): the small nasdaq sequence model,
19 histories generated from it and assessed by the in-process worker. Pages run through the real
entry script with AppTest.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.components.pickers import SELECTED
from auth.report_sharing import share_report
from engine.errors import InputError
from infra.usecases import outputs
from tests.app.page_support import MAIN_SCRIPT, TIMEOUT_S, no_traceback, open_page, texts
from tests.app.sequence_page_support import SequenceWorkspace, pointed_at, sequence_workspace

TABS = {"Histories", "Autocorrelation", "Lengths", "Steps", "Entities"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[SequenceWorkspace]:
    with sequence_workspace(tmp_path_factory, datasets, assess=True) as seeded:
        yield seeded


@pytest.fixture
def env(workspace: SequenceWorkspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[SequenceWorkspace]:
    with pointed_at(workspace, monkeypatch) as pointed:
        yield pointed


def test_the_report_shows_the_scores_histories_side_by_side_autocorrelation_and_lengths(env: SequenceWorkspace) -> None:
    at = open_page("quality", session={SELECTED["report"]: env.report_id, SELECTED["generated"]: env.generated_id})
    no_traceback(at)
    assert not [s for s in at.selectbox if s.key == "quality_target"], "histories take no target column"
    holdout = at.selectbox(key="quality_holdout")
    assert holdout.value == "model" and len(holdout.options) == 2, "the model's own holdout or none, no other version"
    assert any("Holdout: 200 steps" in c and "5 whole histories" in c for c in texts(at.caption))
    assert {"Length KS similarity", "Autocorrelation error", "Discriminative score"} <= {m.label for m in at.metric}
    assert TABS <= {t.label for t in at.tabs}
    column = at.selectbox(key="quality_history_column")
    assert "Close" in column.options
    charts = at.get("plotly_chart")
    assert len(charts) >= 2 + 1 + 1, "real and synthetic histories, an autocorrelation chart, the lengths"
    column.set_value("Volume").run()
    no_traceback(at)
    gates = next(df.value for df in at.dataframe if "threshold" in df.value.columns)
    assert "discriminative" in " ".join(gates["gate"])
    errors = next(df.value for df in at.dataframe if "error (synthetic)" in df.value.columns)
    assert {"Close", "Volume"} <= set(errors["column"])


def test_the_html_page_and_a_share_link_show_the_same_report_read_only(env: SequenceWorkspace) -> None:
    document = outputs.report_document(env.tenant, report_id=env.report_id, actor=env.actor)
    page = outputs.report_html(document)
    assert page.startswith("<!DOCTYPE html>") and "Histories, real and synthetic" in page and "Autocorrelation" in page
    with pytest.raises(InputError, match="cannot be compared"):
        outputs.compare_reports(document, {"scores": {"overall": 0.9}, "gates": []})
    assert {r["measure"] for r in outputs.compare_reports(document, document)} >= {"length_ks_similarity"}

    token = share_report(env.tenant, report_id=env.report_id, expires_in=timedelta(hours=1), actor=env.actor)
    shared = AppTest.from_file(MAIN_SCRIPT, default_timeout=TIMEOUT_S)
    shared.query_params["share"] = token
    shared.run()
    no_traceback(shared)
    assert [t.value for t in shared.title] == ["Shared quality report"]
    assert TABS <= {t.label for t in shared.tabs}
    assert not shared.button and not shared.get("download_button") and not shared.file_uploader
