"""The sequence report's sample histories and its standalone HTML page, on hand-made histories.

``history_samples`` keeps a few histories of each table, in time order, numeric columns only;
a report without samples (made before they were kept) reads back with none; the HTML page draws
the histories, the autocorrelation curves and the length histograms as inline SVG, escaping the
data's names.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from engine.errors import InputError
from engine.quality.sequences.html import render_sequence_html
from engine.quality.sequences.report import SequenceReport, history_samples


def _histories(entities: int, steps: int, *, offset: float = 0.0) -> pl.DataFrame:
    start = date(2024, 1, 1)
    rows = [{"id": f"<e{e}>", "day": start + timedelta(days=t), "value": offset + e + 0.5 * t, "kind": "a"}
            for e in range(entities) for t in range(steps)]
    return pl.DataFrame(rows).reverse()  # unsorted on purpose


def test_history_samples_keep_a_few_histories_per_table_in_time_order_and_only_numeric_columns() -> None:
    frames = {"real": _histories(5, 400), "synthetic": _histories(2, 10, offset=1.0)}
    samples = history_samples(frames, entity="id", order_by="day", columns=["value", "kind"], entities=3, steps=300)
    assert samples["columns"] == ["value"], "the charts plot numbers"
    real, synthetic = samples["histories"]["real"], samples["histories"]["synthetic"]
    assert len(real) == 3 and len(synthetic) == 2
    assert all(len(h["time"]) == 300 and h["time"] == sorted(h["time"]) for h in real)
    values = real[0]["values"]["value"]
    assert values == sorted(values) and values[1] - values[0] == 0.5
    assert history_samples(frames, entity="id", order_by="day", columns=["value"]) == samples, "a pure draw"
    with pytest.raises(InputError, match="the real table has no column 'when'"):
        history_samples(frames, entity="id", order_by="when", columns=["value"])


def _document() -> dict:
    report = SequenceReport(
        scores={"length_ks_similarity": 0.9, "autocorrelation_error": 0.05},
        gates=(),
        figures={"autocorrelation": {"columns": {"value": {"lags": [1, 2, 3], "real": [0.9, 0.8, 0.7],
                                                           "synthetic": [0.85, 0.7, None], "error": 0.05}},
                                     "error": 0.05},
                 "lengths": {"real": {"entities": 5, "min": 10, "median": 10, "max": 10, "mean": 10.0},
                             "synthetic": {"entities": 2, "min": 10, "median": 10, "max": 10, "mean": 10.0},
                             "ks_similarity": 1.0, "histogram": {"edges": [9.5, 10.5], "real": [5], "synthetic": [2]}}},
        inputs={"entity": "id", "order_by": "day", "entities": {"real": 5, "synthetic": 2}},
    )
    frames = {"real": _histories(5, 10), "synthetic": _histories(2, 10, offset=1.0)}
    return report.with_samples(history_samples(frames, entity="id", order_by="day", columns=["value"])).to_dict()


def test_a_report_made_before_samples_were_kept_reads_back_without_them() -> None:
    document = _document()
    assert SequenceReport.from_dict(document).samples["columns"] == ["value"]
    older = {k: v for k, v in document.items() if k != "samples"}
    assert SequenceReport.from_dict(older).samples == {}
    assert "holds no sample histories" in render_sequence_html(older)


def test_the_html_page_draws_histories_autocorrelation_and_lengths_and_escapes_names() -> None:
    page = render_sequence_html(_document())
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for heading in ("Histories, real and synthetic", "Autocorrelation", "Lengths", "Scores and gates"):
        assert heading in page
    assert page.count("<svg") == 2 + 1 + 1, "real and synthetic histories, one autocorrelation chart, the lengths"
    assert "&lt;e0&gt;" in page and "<e0>" not in page
