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

from engine.errors import ConfigError, InputError
from infra.records import catalog
from infra.records.sequence_holdouts import SequencesHoldoutRecord, rebuild_sequences, sequences_record_of
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
    if record is not None and record.has_holdout:
        why = "the assessment was asked to use none, though the model has one of its own"
    elif record is not None and record.reason:
        why = f"the model's training set none aside ({record.reason})"
    else:
        why = "the model records no holdout of its own"
    return (f"No holdout: {why}. The discriminator's ceiling and the privacy by entity (DCR, membership attacks) "
            "need unseen real histories and are not measured.")


def run_sequence_assessment(ctx: JobContext) -> Completion:
    """Assess the job's generated histories; the report is recorded on completion."""
    import engine
    from engine.quality.sequences.html import render_sequence_html
    from engine.quality.sequences.report import history_samples

    payload = ctx.payload
    generated_id = payload.get("generated_dataset_id")
    if not generated_id:
        raise ConfigError("the assessment job names no generated dataset")
    with ctx.session() as session:
        generated = catalog.get_generated_dataset(session, generated_id)
        model_version = catalog.get_model_version(session, generated.model_version_id)
        real_version = catalog.get_dataset_version(session, model_version.dataset_version_id)
        entity, order_by, context = roles_of(model_version.metrics, real_version.source)
        objects = (generated.object_key, real_version.object_key)
        metrics, model_version_id, real_version_id = model_version.metrics, model_version.id, real_version.id
    if not objects[0]:
        raise InputError(f"generated dataset {generated_id} has no stored data (it was written to S3)")
    if not objects[1]:
        raise InputError(f"dataset version {real_version_id} has no stored data")
    record = sequences_record_of(metrics)
    source = payload.get("holdout_source") or ("model_version" if record is not None and record.has_holdout else "none")
    if source not in ("model_version", "none"):
        raise ConfigError(f"histories are assessed against their model's own holdout or none, not {source!r}")

    started_cpu = time.thread_time()
    ctx.progress(0.0, "reading the histories")
    synthetic = engine.read(ctx.store.get_bytes(objects[0]), name=objects[0].rsplit("/", 1)[-1])
    real = engine.read(ctx.store.get_bytes(objects[1]), name=objects[1].rsplit("/", 1)[-1])
    holdout = None
    if record is not None:
        real, own = rebuild_sequences(real, record)  # the model saw only the training part
        holdout = own if source == "model_version" else None
    if source == "model_version" and holdout is None:
        raise InputError(f"model version {model_version_id} has no holdout of its own to assess against")
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
        "source": source, "model_version_id": model_version_id, "dataset_version_id": real_version_id,
        "rows": holdout.height if holdout is not None else 0, "training_rows": real.height,
        "by": record.by if record is not None else None}}
    ctx.progress(0.9, "writing the report")
    return store_report(ctx, generated_id=generated_id, document=document, html=render_sequence_html(document),
                        scores=sequence_scores(document), started_cpu=started_cpu)


__all__ = ["roles_of", "run_sequence_assessment", "sequence_scores"]
