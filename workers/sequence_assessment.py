"""Sequence assessment jobs: the quality report of generated histories against the real ones.

The real side is what the model was trained on: the dataset version's long table split again
with the model version's record (``infra.records.sequence_holdouts.rebuild_sequences``): the
training part is ``real``, the histories (or their ends) set aside are the holdout (unless the
job asks for none). The roles (entity, time, context) are the ones the model learned
(``metrics["sequence"]``). ``engine.assess_sequences`` judges the steps, the entities, time
(lengths, gaps, autocorrelation, cross-correlation, coherence), a discriminator and a next-step
predictor, and privacy by entity against the holdout.

The report keeps a few histories of each table for the line charts
(``engine.quality.sequences.report.history_samples``: 3 entities x 300 steps at most) and is
stored like a table's: ``reports/<generated id>/<job id>.json`` (``SequenceReport.to_dict``,
with ``inputs["holdout"]``) and ``.html`` (``engine.quality.sequences.html``); the catalog
records its verdict, its gates and its headline scores (``sequence_scores``).
"""

from __future__ import annotations

import time
from typing import Any

from engine.errors import InputError
from infra.records.sequence_holdouts import SequencesHoldoutRecord, rebuild_sequences, sequences_record_of
from workers.assessed_run import assessed_run, holdout_source, no_holdout_reason
from workers.context import Completion, JobContext
from workers.report_store import store_report
from workers.schema_assessment import like_real

SCORE_KEYS = ("length_ks_similarity", "gap_ks_similarity", "autocorrelation_error", "cross_correlation_error",
              "coherence", "discriminative_score", "discriminative_ceiling", "predictive_score", "predictive_real",
              "dcr_share", "membership_advantage", "step_fidelity", "entity_fidelity")


def sequence_scores(document: dict[str, Any]) -> dict[str, Any]:
    """The headline figures the catalog keeps of a sequence report (``kind == "sequences"``)."""
    scores = document.get("scores") or {}
    return {"kind": "sequences", **{key: scores.get(key) for key in SCORE_KEYS}}


def roles_of(metrics: dict[str, Any] | None, source: dict[str, Any] | None) -> tuple[str, str, list[str] | None]:
    """(entity, order_by, context) as the model learned them, else the dataset version's roles."""
    learned = (metrics or {}).get("sequence") or (source or {}).get("sequence") or {}
    entity, order_by = learned.get("entity"), learned.get("order_by")
    if not isinstance(entity, str) or not isinstance(order_by, str):
        raise InputError("neither the model version nor its dataset version records the entity and time columns of "
                         "the histories; they cannot be assessed without them")
    context = learned.get("context")
    return entity, order_by, [str(c) for c in context] if isinstance(context, list) and context else None


def _holdout_note(source: str, record: SequencesHoldoutRecord | None, holdout: Any) -> str:
    if source == "model_version" and holdout is not None and record is not None:
        how = (f"{record.holdout_entities:,} whole histories" if record.by == "entity"
               else f"the last {record.share:.0%} of each history")
        return (f"Holdout: {how} ({holdout.height:,} steps) the model never saw, set aside when it was trained (seed "
                f"{record.seed}); 'real' is the {record.training_rows:,} steps it trained on.")
    why = no_holdout_reason(record)
    return (f"No holdout: {why}. The discriminator's ceiling and the privacy by entity (DCR, membership attacks) "
            "need unseen real histories and are not measured.")


def run_sequence_assessment(ctx: JobContext) -> Completion:
    """Assess the job's generated histories; the report is recorded on completion."""
    import engine
    from engine.quality.sequences.html import render_sequence_html
    from engine.quality.sequences.report import history_samples

    payload = ctx.payload
    run = assessed_run(ctx)
    entity, order_by, context = roles_of(run.model_metrics, run.real_source)
    record = sequences_record_of(run.model_metrics)
    source = holdout_source(payload, record, what="histories")

    started_cpu = time.thread_time()
    ctx.progress(0.0, "reading the histories")
    synthetic = engine.read(ctx.store.get_bytes(run.generated_key), name=run.generated_key.rsplit("/", 1)[-1])
    real = engine.read(ctx.store.get_bytes(run.real_key), name=run.real_key.rsplit("/", 1)[-1])
    holdout = None
    if record is not None:
        real, own = rebuild_sequences(real, record)  # the model saw only the training part
        holdout = own if source == "model_version" else None
    if source == "model_version" and holdout is None:
        raise InputError(f"model version {run.model_version_id} has no holdout of its own to assess against")
    synthetic = like_real({"histories": synthetic}, {"histories": real})["histories"]  # CSV loses the dates' type
    ctx.check()
    ctx.progress(0.2, "assessing the histories")
    report = engine.assess_sequences(real=real, synthetic=synthetic, holdout=holdout, entity=entity,
                                     order_by=order_by, context=context, seed=int(payload.get("seed", 0)),
                                     config=payload.get("config"))
    ctx.check()
    numeric = list(((report.figures.get("autocorrelation") or {}).get("columns") or {}))
    frames = {"real": real, "synthetic": synthetic, "holdout": holdout}
    report = report.with_samples(history_samples(frames, entity=entity, order_by=order_by, columns=numeric,
                                                 seed=int(payload.get("seed", 0))))
    document = report.to_dict()
    document["notes"] = [_holdout_note(source, record, holdout), *document.get("notes", [])]
    document["inputs"] = {**document.get("inputs", {}), "holdout": {
        "source": source, "model_version_id": run.model_version_id, "dataset_version_id": run.real_version_id,
        "rows": holdout.height if holdout is not None else 0, "training_rows": real.height,
        "by": record.by if record is not None else None}}
    ctx.progress(0.9, "writing the report")
    return store_report(ctx, generated_id=run.generated_id, document=document, html=render_sequence_html(document),
                        scores=sequence_scores(document), started_cpu=started_cpu)


__all__ = ["roles_of", "run_sequence_assessment", "sequence_scores"]
