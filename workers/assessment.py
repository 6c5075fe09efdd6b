"""Assessment jobs: the quality report of a generated dataset against the real data.

The real rows are the rows the model was trained on: the training part of its dataset version
when its training set a holdout aside (rebuilt from the recorded row positions), else the
whole version. The holdout (rows the model never saw; the utility ceiling, the exact-copy
allowance and the membership-inference attacks of ``engine.assess``) is the model's own by
default, or the version named by ``holdout_dataset_version_id`` (``infra.usecases.assessment``).
The report's ``inputs["holdout"]`` and first note say which, or that there was none.

The report is stored twice, ``reports/<generated id>/<job id>.json`` (the full ``to_dict``)
and ``.html``, and its scores and gates are recorded in the catalog.
The assessment runs in the worker's thread and stops between its stages on a cancellation.
A generated schema is assessed by ``workers.schema_assessment`` (``engine.assess_tables``), and
generated histories by ``workers.sequence_assessment`` (``engine.assess_sequences``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from engine.errors import ConfigError, InputError
from infra.records import catalog
from infra.records.holdouts import HoldoutRecord, read_positions, rebuild, record_of
from infra.usecases.assessment import HOLDOUT_SOURCES
from workers.context import Completion, JobContext
from workers.report_store import report_keys, store_report
from workers.schema_assessment import run_schema_assessment
from workers.sequence_assessment import run_sequence_assessment


def _read(ctx: JobContext, key: str | None, what: str) -> Any:
    import engine

    if not key:
        raise InputError(f"{what} has no stored data")
    return engine.read(ctx.store.get_bytes(key), name=key.rsplit("/", 1)[-1])


def _holdout_source(payload: dict[str, Any], record: HoldoutRecord | None) -> str:
    """The payload's choice; a job queued before the choice was recorded gets today's default."""
    source = payload.get("holdout_source")
    if source is None:
        if payload.get("holdout_dataset_version_id"):
            return "dataset_version"
        return "model_version" if record is not None and record.has_holdout else "none"
    if source not in HOLDOUT_SOURCES:
        raise ConfigError(f"unknown holdout source {source!r}: expected one of {', '.join(HOLDOUT_SOURCES)}")
    return source


def _no_holdout_note(record: HoldoutRecord | None) -> str:
    if record is not None and record.has_holdout:
        why = "the assessment was asked to use none, though the model has one of its own"
    elif record is not None and record.reason:
        why = f"the model's training set none aside ({record.reason})"
    else:
        why = "none was named and the model has none of its own (it was trained before holdouts were set aside)"
    return (f"No holdout: {why}. The privacy gates have no unseen real rows to compare with: the exact-copy gate "
            "cannot allow for the copies that fresh real rows would match too, and the membership-inference "
            "attacks are not run (the privacy notes say what was checked).")


def run_assessment(ctx: JobContext) -> Completion:
    """Assess the job's generated dataset; the report is recorded on completion.

    A generated schema's job (``payload["schema"]``) goes to ``workers.schema_assessment``.
    """
    import engine

    payload = ctx.payload
    if payload.get("schema"):
        return run_schema_assessment(ctx)
    if payload.get("sequences"):  # generated histories (workers.sequence_assessment)
        return run_sequence_assessment(ctx)
    generated_id = payload.get("generated_dataset_id")
    if not generated_id:
        raise ConfigError("the assessment job names no generated dataset")
    with ctx.session() as session:
        generated = catalog.get_generated_dataset(session, generated_id)
        model_version = catalog.get_model_version(session, generated.model_version_id)
        real_version = catalog.get_dataset_version(session, model_version.dataset_version_id)
        holdout_id = payload.get("holdout_dataset_version_id")
        holdout_version = catalog.get_dataset_version(session, holdout_id) if holdout_id else None
        keys = (generated.object_key, real_version.object_key, holdout_version.object_key if holdout_version else None)
    record = record_of(model_version.metrics)
    source = _holdout_source(payload, record)

    started_cpu = time.thread_time()
    ctx.progress(0.0, "reading the data")
    synthetic = _read(ctx, keys[0], f"generated dataset {generated_id}")
    real = _read(ctx, keys[1], f"dataset version {model_version.dataset_version_id}")
    own_holdout = None
    if record is not None and record.has_holdout:
        # The model saw only the training part: that is the real side of the report, never the whole version.
        positions = read_positions(ctx.store.get_bytes(str(record.positions_key)), record)
        real, own_holdout = rebuild(real, record, positions)
    if source == "dataset_version":
        holdout = _read(ctx, keys[2], f"holdout dataset version {holdout_id}")
    else:
        holdout = own_holdout if source == "model_version" else None
        if source == "model_version" and holdout is None:
            raise InputError(f"model version {model_version.id} has no holdout of its own to assess against")
    ctx.check()

    def on_progress(step: str, fraction: float) -> None:
        ctx.progress(fraction, step)
        ctx.check()  # raises out of engine.assess between stages

    # The model the data came from: the report's advice never suggests it again, nor DP for a DP model.
    model = {"kind": model_version.model_type, "private": bool(model_version.privacy_spent)}
    report = engine.assess(real=real, synthetic=synthetic, holdout=holdout, target=payload.get("target"),
                           config=payload.get("config"), seed=int(payload.get("seed", 0)), on_progress=on_progress,
                           model=model)
    ctx.check()
    report.inputs["holdout"] = {
        "source": source,
        "model_version_id": model_version.id,
        "dataset_version_id": holdout_id if source == "dataset_version" else real_version.id,
        "rows": holdout.height if holdout is not None else 0,
        "training_rows": real.height,
    }
    if source == "model_version":
        assert record is not None and holdout is not None
        report.notes.insert(0, f"Holdout: the {holdout.height:,} rows of the dataset version that the model never "
                               f"saw, set aside when it was trained (seed {record.seed}); 'real' is the "
                               f"{real.height:,} rows it trained on.")
    elif source == "none":
        report.notes.insert(0, _no_holdout_note(record))
    document = json.loads(report.to_json())
    return store_report(ctx, generated_id=generated_id, document=document, html=report.to_html(),
                        scores=document["scores"], started_cpu=started_cpu)


__all__ = ["report_keys", "run_assessment"]
