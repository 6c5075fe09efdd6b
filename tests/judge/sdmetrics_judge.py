"""Reference values from sdmetrics 0.32, run under the judge venv (tests/judge/ensure_judge_venv.sh).

Runs in the *judge* interpreter, never in the project venv: it imports sdmetrics, which needs
pandas<3. Reads a JSON job on stdin and writes a JSON answer on stdout:

    {"real": "real.parquet", "synthetic": "syn.parquet",
     "ks": ["age", ...], "tv": ["sex", ...],
     "correlation": [["age", "hours-per-week"], ...],
     "contingency": [{"columns": ["age", "sex"], "continuous": ["age"]}, ...]}
  ->
    {"ks": {"age": 0.98, ...}, "tv": {...}, "correlation": {"age|hours-per-week": {"Pearson": .., "Spearman": ..}},
     "contingency": {"age|sex": 0.97, ...}}

``import sdmetrics`` runs the package's __init__, which imports the privacy metrics and through
them ``copulas`` (Business Source License), which the judge venv does not hold on purpose. So
the package objects are stubbed with their search path only and the four metric modules are
imported directly; their own imports (scipy, pandas, sdmetrics.base/goal/utils) need no copulas.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types


def empty_package(name: str) -> types.ModuleType:
    """Register an empty module for package ``name`` carrying only its search path (its __init__ never runs).

    Also used by tests/bench/judge/sdmetrics_quality_report.py.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit(f"{name} is not installed in this interpreter ({sys.executable})")
    module = types.ModuleType(name)
    module.__path__ = list(spec.submodule_search_locations)
    module.__spec__ = spec
    sys.modules[name] = module
    return module


def _load_metrics():
    for name in ("sdmetrics", "sdmetrics.single_column", "sdmetrics.column_pairs"):
        empty_package(name)
    from sdmetrics.column_pairs.statistical.contingency_similarity import ContingencySimilarity
    from sdmetrics.column_pairs.statistical.correlation_similarity import CorrelationSimilarity
    from sdmetrics.single_column.statistical.kscomplement import KSComplement
    from sdmetrics.single_column.statistical.tv_complement import TVComplement

    return KSComplement, TVComplement, CorrelationSimilarity, ContingencySimilarity


def main() -> None:
    import pandas as pd

    job = json.load(sys.stdin)
    ks_metric, tv_metric, corr_metric, cont_metric = _load_metrics()
    real = pd.read_parquet(job["real"])
    syn = pd.read_parquet(job["synthetic"])
    out: dict = {"ks": {}, "tv": {}, "correlation": {}, "contingency": {}, "copulas_loaded": False}
    for col in job.get("ks", []):
        out["ks"][col] = float(ks_metric.compute(real[col], syn[col]))
    for col in job.get("tv", []):
        out["tv"][col] = float(tv_metric.compute(real[col], syn[col]))
    for a, b in job.get("correlation", []):
        out["correlation"][f"{a}|{b}"] = {
            coef: float(corr_metric.compute(real[[a, b]], syn[[a, b]], coefficient=coef))
            for coef in ("Pearson", "Spearman")
        }
    for item in job.get("contingency", []):
        a, b = item["columns"]
        out["contingency"][f"{a}|{b}"] = float(
            cont_metric.compute(real[[a, b]], syn[[a, b]], continuous_column_names=item.get("continuous") or None)
        )
    out["copulas_loaded"] = "copulas" in sys.modules
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
