"""sdmetrics 0.32's multi-table figures on Parquet tables: run ONLY under the judge interpreter.

``.venv-judge/bin/python`` (tests/judge/ensure_judge_venv.sh: sdmetrics 0.32, pandas<3, no
``copulas``). Reads a JSON job on stdin, writes a JSON answer on stdout:

    {"real": {"players": "real_players.parquet", ...}, "synthetic": {...},
     "metadata": {"tables": {...}, "relationships": [...]}}       (sdmetrics' metadata dict)
  ->
    {"referential_integrity": {"batting.players_id -> players.id": 0.9, ...},
     "cardinality": {"batting.players_id -> players.id": 0.8, ...},
     "intertable_trends": 0.91, "pairs": [{"relation", "parent_column", "child_column",
     "metric", "score", "counted"}, ...], "copulas_loaded": false}

Intertable trends is the multi-table QualityReport's "Intertable Trends" property, set up as
the report sets it (its real correlation / association thresholds and row subsample). The
package __init__ files would import ``copulas``, so, as in tests/judge/sdmetrics_judge.py,
packages are replaced by empty modules with their search path and the few names the metric
modules import from a package are set from the submodules that define them.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from sdmetrics_judge import empty_package  # noqa: E402 - the judge's loader, run as a script

EMPTY = (
    "sdmetrics", "sdmetrics.reports", "sdmetrics.reports.multi_table", "sdmetrics.reports.single_table",
    "sdmetrics.multi_table", "sdmetrics.multi_table.statistical", "sdmetrics.column_pairs",
    "sdmetrics.single_column", "sdmetrics.single_table",
)


def _load() -> tuple[type, type, type, object]:
    for name in EMPTY:
        empty_package(name)
    statistical = empty_package("sdmetrics.column_pairs.statistical")
    for module, name in (("contingency_similarity", "ContingencySimilarity"), ("correlation_similarity", "CorrelationSimilarity")):
        setattr(statistical, name, getattr(importlib.import_module(f"sdmetrics.column_pairs.statistical.{module}"), name))
    single = empty_package("sdmetrics.reports.single_table._properties")
    single.BaseSingleTableProperty = importlib.import_module("sdmetrics.reports.single_table._properties.base").BaseSingleTableProperty
    single.ColumnPairTrends = importlib.import_module("sdmetrics.reports.single_table._properties.column_pair_trends").ColumnPairTrends
    multi = empty_package("sdmetrics.reports.multi_table._properties")
    multi.BaseMultiTableProperty = importlib.import_module("sdmetrics.reports.multi_table._properties.base").BaseMultiTableProperty
    trends = importlib.import_module("sdmetrics.reports.multi_table._properties.inter_table_trends").InterTableTrends
    shape = importlib.import_module("sdmetrics.multi_table.statistical.cardinality_shape_similarity").CardinalityShapeSimilarity
    integrity = importlib.import_module("sdmetrics.column_pairs.statistical.referential_integrity").ReferentialIntegrity
    utils = importlib.import_module("sdmetrics.reports.utils")
    if "copulas" in sys.modules:
        raise SystemExit("copulas was imported; the judge must run without it")
    return trends, shape, integrity, utils


def _number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def main() -> None:
    import pandas as pd

    job = json.load(sys.stdin)
    trends_class, shape_metric, integrity_metric, utils = _load()
    real = {name: pd.read_parquet(path) for name, path in job["real"].items()}
    synthetic = {name: pd.read_parquet(path) for name, path in job["synthetic"].items()}
    metadata = job["metadata"]
    out: dict = {"referential_integrity": {}, "cardinality": {}}
    for rel in metadata["relationships"]:
        name = f"{rel['child_table_name']}.{rel['child_foreign_key']} -> {rel['parent_table_name']}.{rel['parent_primary_key']}"
        pick = lambda tables: (tables[rel["parent_table_name"]][rel["parent_primary_key"]], tables[rel["child_table_name"]][rel["child_foreign_key"]])  # noqa: E731
        out["referential_integrity"][name] = float(integrity_metric.compute(pick(real), pick(synthetic)))
        one = {**metadata, "relationships": [rel]}
        out["cardinality"][name] = float(shape_metric.compute(real, synthetic, one))
    trends = trends_class()
    trends.real_correlation_threshold = utils.DEFAULT_REAL_CORRELATION_THRESHOLD
    trends.real_association_threshold = utils.DEFAULT_REAL_ASSOCIATION_THRESHOLD
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["intertable_trends"] = _number(trends.get_score(real, synthetic, metadata))
    details = trends.details
    out["pairs"] = [
        {
            "relation": f"{row['Child Table']}.{row['Foreign Key']} -> {row['Parent Table']}",
            "parent_column": row["Column 1"], "child_column": row["Column 2"],
            "metric": row["Metric"], "score": _number(row["Score"]),
            "counted": bool(row["Meets Threshold?"]) if row.get("Meets Threshold?") is not None and not pd.isna(row.get("Meets Threshold?")) else False,
        }
        for _, row in details.iterrows()
    ]
    out["copulas_loaded"] = "copulas" in sys.modules
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
