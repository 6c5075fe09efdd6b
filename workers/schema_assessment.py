"""Schema assessment jobs: the quality report of a generated schema against the real tables.

The real side is what the model was trained on: the dataset version's tables
(``engine.read_tables`` of its zip) split again by root with the model version's record
(``infra.records.schema_holdouts.rebuild_tables``): the training part is ``real``, the whole
parent subtrees set aside are the holdout (unless the job asks for none). The keys are the
model version's (``config["keys"]``), else the dataset version's (``source["keys"]``).
``engine.assess_tables`` judges each table (the single-table report), the relations across
tables (referential integrity, cardinality, inter-table trends, child aggregates) and the parent
subtrees (utility and privacy), with the schema gates.

The report is stored like a table's: ``reports/<generated id>/<job id>.json`` (the
``SchemaReport.to_dict`` document, plus ``inputs["holdout"]``) and ``.html``
(``engine.quality.schema_html``); the catalog records its verdict, its schema gates and its
headline figures (``schema_scores``).
"""

from __future__ import annotations

import math
import time
from typing import Any

from engine.errors import InputError
from infra.records.schema_holdouts import TablesHoldoutRecord, rebuild_tables, tables_record_of
from workers.assessed_run import assessed_run, holdout_source, no_holdout_reason
from workers.context import Completion, JobContext
from workers.report_store import store_report

SCHEMA_CONFIG_KEYS = ("tables", "per_table", "cross", "subtrees", "gates")


def schema_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A schema assessment's config: a schema config as is; a table's config (the tenant's gate
    thresholds) applied to every table."""
    if not config:
        return None
    if set(config) <= set(SCHEMA_CONFIG_KEYS):
        return config
    return {"tables": config}


def schema_scores(document: dict[str, Any]) -> dict[str, Any]:
    """The headline figures the catalog keeps of a schema report: across tables, and each table's scores."""
    cross = document.get("cross") or {}

    def number(value: Any) -> float | None:
        return value if isinstance(value, (int, float)) and math.isfinite(value) else None

    return {
        "kind": "tables",
        "cardinality": number(cross.get("cardinality_shape_similarity")),
        "intertable_trends": number((cross.get("intertable_trends") or {}).get("score")),
        "child_aggregates": number((cross.get("child_aggregates") or {}).get("score")),
        "tables": {name: dict(report.get("scores") or {}) for name, report in (document.get("tables") or {}).items()},
    }


def schema_keys(model_config: dict[str, Any] | None, source: dict[str, Any] | None) -> dict[str, Any]:
    """The keys the model was trained with (its config), else the dataset version's."""
    keys = (model_config or {}).get("keys") or (source or {}).get("keys")
    if not isinstance(keys, dict) or not keys.get("foreign_keys"):
        raise InputError("neither the model version nor its dataset version records the schema's keys "
                         "(primary keys and foreign keys); the relations cannot be assessed without them")
    return keys


def like_real(synthetic: dict[str, Any], real: dict[str, Any]) -> dict[str, Any]:
    """The synthetic tables with each column cast to the real column's type where the file lost it (CSV)."""
    import polars as pl

    out = {}
    for name, frame in synthetic.items():
        target = real.get(name)
        if target is None:
            out[name] = frame
            continue
        casts = []
        for column, dtype in target.schema.items():
            if column in frame.columns and frame.schema[column] != dtype:
                try:
                    frame[column].cast(dtype, strict=True)
                except (pl.exceptions.PolarsError, ValueError):  # left as read: the report compares what it can
                    continue
                casts.append(pl.col(column).cast(dtype, strict=True))
        out[name] = frame.with_columns(casts) if casts else frame
    return out


def _holdout_note(source: str, record: TablesHoldoutRecord | None, holdout: dict[str, Any] | None) -> str:
    if source == "model_version" and holdout is not None and record is not None:
        rows = ", ".join(f"{name} {frame.height:,}" for name, frame in holdout.items())
        return (f"Holdout: whole parent subtrees the model never saw ({rows} rows), set aside by root when it was "
                f"trained (seed {record.seed}); 'real' is the rows it trained on.")
    why = no_holdout_reason(record)
    return (f"No holdout: {why}. The subtree privacy figures and the membership attacks need unseen real subtrees "
            "and are not measured.")


def run_schema_assessment(ctx: JobContext) -> Completion:
    """Assess the job's generated schema; the report is recorded on completion."""
    import engine
    from engine.quality.schema_html import render_schema_html

    payload = ctx.payload
    run = assessed_run(ctx)
    keys = schema_keys(run.model_config, run.real_source)
    record = tables_record_of(run.model_metrics)
    source = holdout_source(payload, record, what="a schema")

    started_cpu = time.thread_time()
    ctx.progress(0.0, "reading the tables")
    synthetic = engine.read_tables(ctx.store.get_bytes(run.generated_key))
    real = engine.read_tables(ctx.store.get_bytes(run.real_key))
    holdout = None
    if record is not None:
        real, own = rebuild_tables(real, keys=keys, record=record)  # the model saw only the training part
        holdout = own if source == "model_version" else None
    if source == "model_version" and holdout is None:
        raise InputError(f"model version {run.model_version_id} has no holdout of its own to assess against")
    synthetic = like_real(synthetic, real)
    ctx.check()
    ctx.progress(0.2, "assessing the tables and their relations")
    report = engine.assess_tables(real=real, synthetic=synthetic, keys=keys, holdout=holdout,
                                  config=schema_config(payload.get("config")), seed=int(payload.get("seed", 0)))
    ctx.check()
    document = report.to_dict()
    document["notes"] = [_holdout_note(source, record, holdout), *document.get("notes", [])]
    document["inputs"] = {
        "holdout": {"source": source, "model_version_id": run.model_version_id, "dataset_version_id": run.real_version_id,
                    "rows": {name: frame.height for name, frame in (holdout or {}).items()},
                    "training_rows": {name: frame.height for name, frame in real.items()}},
        "rows": {"real": sum(f.height for f in real.values()), "synthetic": sum(f.height for f in synthetic.values()),
                 "holdout": sum(f.height for f in (holdout or {}).values())},
    }
    ctx.progress(0.9, "writing the report")
    return store_report(ctx, generated_id=run.generated_id, document=document, html=render_schema_html(document),
                        scores=schema_scores(document), started_cpu=started_cpu)


__all__ = ["like_real", "run_schema_assessment", "schema_config", "schema_keys", "schema_scores"]
