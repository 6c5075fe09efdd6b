"""SDMetrics 0.32 single-table QualityReport on two Parquet files (the benchmark's fidelity judge).

Runs ONLY under the judge interpreter (``.venv-judge/bin/python``, made by
tests/judge/ensure_judge_venv.sh: sdmetrics 0.32 with pandas<3 and without ``copulas``).
Reads a JSON job on stdin, writes a JSON answer on stdout:

    {"real": "train.parquet", "synthetic": "syn.parquet",
     "metadata": {"columns": {"age": {"sdtype": "numerical"}, "sex": {"sdtype": "categorical"}, ...}}}
  ->
    {"quality": 0.88, "column_shapes": 0.91, "pair_trends": 0.86,
     "worst_columns": [["fnlwgt", "KSComplement", 0.71], ...], "seconds": 41.2}

The report is SDMetrics' own ``QualityReport.generate`` with its defaults. ``import sdmetrics``
and ``import sdmetrics.reports`` would run package __init__ files that import the privacy
metrics and through them ``copulas`` (Business Source License), which the judge venv does not
hold on purpose. So those package objects are replaced by empty modules carrying only their
search path, and the few names the report's modules import from a package __init__ are set on
those empty modules from the submodules that define them. The report code itself is untouched.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "judge"))
from sdmetrics_judge import empty_package as _empty_package  # noqa: E402 - the judge's loader, run as a script


def load_quality_report() -> type:
    """SDMetrics' single-table QualityReport class, imported without its package __init__ files."""
    _empty_package("sdmetrics")
    _empty_package("sdmetrics.reports")
    _empty_package("sdmetrics.reports.single_table")
    properties = _empty_package("sdmetrics.reports.single_table._properties")
    single_column = _empty_package("sdmetrics.single_column")
    single_column.KSComplement = importlib.import_module(
        "sdmetrics.single_column.statistical.kscomplement"
    ).KSComplement
    single_column.TVComplement = importlib.import_module(
        "sdmetrics.single_column.statistical.tv_complement"
    ).TVComplement
    properties.BaseSingleTableProperty = importlib.import_module(
        "sdmetrics.reports.single_table._properties.base"
    ).BaseSingleTableProperty
    properties.ColumnShapes = importlib.import_module(
        "sdmetrics.reports.single_table._properties.column_shapes"
    ).ColumnShapes
    properties.ColumnPairTrends = importlib.import_module(
        "sdmetrics.reports.single_table._properties.column_pair_trends"
    ).ColumnPairTrends
    report = importlib.import_module("sdmetrics.reports.single_table.quality_report").QualityReport
    if "copulas" in sys.modules:
        raise SystemExit("copulas was imported; the judge must run without it")
    return report


def main() -> None:
    import pandas as pd

    job = json.load(sys.stdin)
    real = pd.read_parquet(job["real"])
    synthetic = pd.read_parquet(job["synthetic"])
    quality_report = load_quality_report()
    start = time.perf_counter()
    report = quality_report()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, synthetic, job["metadata"], verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    shapes = report.get_details("Column Shapes")
    worst = shapes.sort_values("Score").head(3)
    answer = {
        "quality": float(report.get_score()),
        "column_shapes": float(properties["Column Shapes"]),
        "pair_trends": float(properties["Column Pair Trends"]),
        "worst_columns": [[str(r.Column), str(r.Metric), float(r.Score)] for r in worst.itertuples()],
        "seconds": time.perf_counter() - start,
        "copulas_loaded": "copulas" in sys.modules,
    }
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
