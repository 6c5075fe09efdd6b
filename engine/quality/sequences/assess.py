"""``engine.assess_sequences``: one call that judges synthetic histories against the real ones.

Long tables in (one row per step: the entity column, the time column, context columns constant
per entity, step columns), as ``SequenceModel.sample`` returns them; any tool's output works.
The figures, each in its module:

- per step and per entity: the single-table fidelity report (``engine.assess``, fidelity only)
  of the step rows (entity and time left out) and of the entity table (its context columns);
- over time (``temporal``): length and spacing distributions, autocorrelation, cross-correlation,
  coherence;
- learned (``windows``): the discriminative score (and its holdout ceiling) and the predictive score;
- privacy by entity (``entity_privacy``): DCR share, membership advantage, exact copies of
  whole histories against the holdout's entities;
- the gates (``gates``) and the ``SequenceReport`` (``report``).

The holdout is real histories the generator never saw: other entities (``split_sequences(by=
"entity")``) or the later part of the same ones (``by="time"``). It gives the ceilings (what a
real sample scores), the predictor's test set and the attacks' non-members. Without it the
predictor tests on a seeded split of the real histories and the attacks are not run.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from engine.errors import ConfigError, InputError
from engine.quality.report import QualityReport, jsonable
from engine.quality.sequences import temporal
from engine.quality.sequences.config import SequenceQualityConfig
from engine.quality.sequences.gates import sequence_gates
from engine.quality.sequences.histories import Histories, Layout, load_histories
from engine.quality.sequences.report import SequenceReport
from engine.version import __version__

_MIN_ENTITY_SPLIT = 10  # with fewer real entities the predictor's own test split is by time


def assess_sequences(
    *,
    real: Any,
    synthetic: Any,
    entity: str,
    order_by: str,
    context: list[str] | None = None,
    holdout: Any | None = None,
    seed: int = 0,
    config: Mapping[str, Any] | SequenceQualityConfig | None = None,
) -> SequenceReport:
    """Assess synthetic histories ``synthetic`` against ``real`` (the histories the generator trained on).

    ``entity`` / ``order_by``: the entity and time columns of every table; ``context``: the
    entity's static columns (None: those constant within every real entity, said in the notes);
    ``holdout``: real histories the generator never saw (see the module docstring); ``config``:
    ``SequenceQualityConfig`` or its mapping. Frames are polars or pandas DataFrames; rows need not
    be sorted. Raises InputError naming the table and column for a missing entity or time column,
    an empty table, or tables whose columns differ; ConfigError for bad settings.
    """
    cfg = SequenceQualityConfig.from_mapping(config)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    for native in ("scipy.linalg", "scipy.stats", "sklearn.ensemble"):
        importlib.import_module(native)  # load the native libraries before their threads are limited
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=cfg.threads):
        return _assess(real, synthetic, holdout, entity=entity, order_by=order_by, context=context, cfg=cfg, seed=seed)


def _assess(real: Any, synthetic: Any, holdout: Any | None, *, entity: str, order_by: str, context: list[str] | None,
            cfg: SequenceQualityConfig, seed: int) -> SequenceReport:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    frames = {"real": real, "synthetic": synthetic, **({"holdout": holdout} if holdout is not None else {})}
    layout = load_histories(frames, entity=entity, order_by=order_by, context=context,
                            column_types=cfg.steps.column_types,
                            max_int_levels=cfg.steps.fidelity.categorical_max_int_levels)
    notes = list(layout.notes)
    tables = layout.histories
    missing: dict[str, str] = {}
    figures: dict[str, Any] = {}
    timings["prepare"] = time.perf_counter() - started

    t0 = time.perf_counter()
    steps_report, entities_report = _fidelity(layout, cfg, seed, notes)
    timings["fidelity"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if "temporal" in cfg.parts:
        figures["lengths"] = temporal.length_figures(tables)
        figures["gaps"] = temporal.gap_figures(tables)
        figures["autocorrelation"] = temporal.autocorrelation_figures(tables, layout.numeric, cfg.lags)
        cross = layout.numeric[: cfg.max_cross_columns]
        if len(layout.numeric) > len(cross):
            notes.append(f"cross-correlations cover the first {len(cross)} of {len(layout.numeric)} numeric step columns")
        figures["cross_correlation"] = temporal.cross_correlation_figures(tables, cross)
        figures["coherence"] = temporal.coherence_figures(
            tables, layout.numeric, layout.categorical,
            {c: layout.categories(c) for c in layout.categorical}, cfg.top_categories)
    else:
        missing["temporal"] = "not measured: left out of config['parts']"
    timings["temporal"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    features = layout.numeric + layout.categorical
    if "discriminative" not in cfg.parts:
        missing["discriminative"] = "not measured: left out of config['parts']"
    elif not features:
        missing["discriminative"] = "no step column to tell histories apart by"
    else:
        kwargs = dict(numeric=layout.numeric, categorical=layout.categorical, width=cfg.window,
                      max_windows=cfg.max_windows, folds=cfg.folds, max_iter=cfg.max_iter)
        from engine.quality.sequences.windows import discriminate

        figures["discriminative"] = discriminate(tables["real"], tables["synthetic"], seed=seed, **kwargs)
        if "holdout" in tables:
            figures["discriminative_ceiling"] = discriminate(tables["real"], tables["holdout"], seed=seed, **kwargs)
    timings["discriminative"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if "predictive" not in cfg.parts:
        missing["predictive"] = "not measured: left out of config['parts']"
    elif not layout.numeric:
        missing["predictive"] = "no numeric step column to predict"
    else:
        figures["predictive"] = _predictive(tables, layout, cfg, seed, notes)
    timings["predictive"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if "privacy" not in cfg.parts:
        missing["privacy"] = "not measured: left out of config['parts']"
    elif "holdout" not in tables:
        missing["privacy"] = "no holdout: the entity-level attacks need holdout histories (split_sequences)"
        notes.append("privacy by entity not measured: " + missing["privacy"])
    else:
        figures["privacy"] = _privacy(layout, cfg, seed, notes, missing)
    timings["privacy"] = time.perf_counter() - t0

    scores = _scores(figures, steps_report, entities_report)
    entities = {role: h.n_entities for role, h in tables.items()}
    gates = sequence_gates(scores, figures, cfg.gates, confidence=cfg.confidence, entities=entities, missing=missing)
    timings["total"] = time.perf_counter() - started
    kinds = {s.name: s.kind for s in layout.prepared.specs} if layout.prepared is not None else {}
    return SequenceReport(
        scores=scores,
        gates=tuple(gates),
        figures=jsonable(figures),
        inputs={"entity": entity, "order_by": order_by, "context": layout.context,
                "context_source": layout.context_source, "steps": [{"name": c, "kind": kinds.get(c)} for c in layout.steps],
                "entities": entities, "rows": {role: h.n_rows for role, h in tables.items()}, "seed": seed},
        steps=steps_report,
        entities=entities_report,
        notes=tuple(notes),
        config=cfg.to_dict(),
        timings=timings,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        engine_version=__version__,
    )


def _fidelity(layout: Layout, cfg: SequenceQualityConfig, seed: int,
              notes: list[str]) -> tuple[QualityReport | None, QualityReport | None]:
    """The single-table fidelity reports of the step rows and of the entity table (None where not measured)."""
    if "fidelity" not in cfg.parts:
        return None, None
    from engine.quality.assess import assess

    out: list[QualityReport | None] = []
    for label, frames, columns in (("step", layout.step_frames, layout.steps),
                                   ("entity", layout.entity_frames, layout.context)):
        if not columns:
            what = "step column besides the entity and the time" if label == "step" else "context column"
            notes.append(f"{label} fidelity not measured: no {what}")
            out.append(None)
            continue
        step_cfg = replace(cfg.steps, column_types={c: k for c, k in cfg.steps.column_types.items() if c in columns})
        try:
            out.append(assess(real=frames["real"], synthetic=frames["synthetic"], holdout=frames.get("holdout"),
                              config=step_cfg, seed=seed))
        except InputError as err:
            notes.append(f"{label} fidelity not measured: {err}")
            out.append(None)
    return out[0], out[1]


def _predictive(tables: dict[str, Histories], layout: Layout, cfg: SequenceQualityConfig, seed: int,
                notes: list[str]) -> dict[str, Any]:
    from engine.quality.sequences.windows import predict_next

    real = tables["real"]
    if "holdout" in tables:
        train, test, how = real, tables["holdout"], "the holdout's histories"
    elif real.n_entities >= _MIN_ENTITY_SPLIT:
        rng = np.random.default_rng([seed, 11])
        aside = np.zeros(real.n_entities, dtype=bool)
        aside[rng.permutation(real.n_entities)[: max(1, round(0.2 * real.n_entities))]] = True
        rows = aside[real.entity]
        train, test, how = real.take(~rows, "real"), real.take(rows, "test"), "a seeded 20 % of the real entities"
    else:
        position = real.position()
        rows = position >= np.ceil(0.8 * real.lengths[real.entity])
        train, test, how = real.take(~rows, "real"), real.take(rows, "test"), "the last 20 % of each real history"
    if test.n_rows == 0 or train.n_rows == 0:
        return {"predictive_score": None, "note": "the real histories are too short to set a test part aside"}
    notes.append(f"predictive score: next-step models tested on {how}")
    return predict_next(train, tables["synthetic"], test, numeric=layout.numeric, width=cfg.window,
                        max_windows=cfg.max_windows, max_iter=cfg.max_iter, seed=seed)


def _privacy(layout: Layout, cfg: SequenceQualityConfig, seed: int, notes: list[str],
             missing: dict[str, str]) -> dict[str, Any] | None:
    from engine.quality.sequences.entity_privacy import assess_entity_privacy, entity_vectors, top_category_codes

    tables = layout.histories
    top = top_category_codes(tables["real"], layout.categorical,
                             {c: len(layout.categories(c)) for c in layout.categorical})
    vectors = {role: entity_vectors(h, layout.entity_frames[role], numeric=layout.numeric,
                                    categorical=layout.categorical, top_codes=top, points=cfg.resample_points)
               for role, h in tables.items()}
    try:
        result = assess_entity_privacy(vectors, settings=cfg.privacy, confidence=cfg.confidence,
                                       mia_threshold=cfg.gates["entity_membership"].threshold, seed=seed)
    except InputError as err:
        missing["privacy"] = f"privacy by entity not measured: {err}"
        notes.append(missing["privacy"])
        return None
    notes.extend(f"privacy by entity: {n}" for n in result.get("notes", []))
    return result


def _scores(figures: dict[str, Any], steps: QualityReport | None, entities: QualityReport | None) -> dict[str, Any]:
    """The flat dict of named figures (None where not measured)."""
    def get(part: str, key: str) -> Any:
        return (figures.get(part) or {}).get(key)

    privacy = (figures.get("privacy") or {}).get("metrics", {})
    out = {
        "length_ks_similarity": get("lengths", "ks_similarity"),
        "gap_ks_similarity": get("gaps", "ks_similarity"),
        "autocorrelation_error": get("autocorrelation", "error"),
        "autocorrelation_holdout_error": get("autocorrelation", "holdout_error"),
        "cross_correlation_error": get("cross_correlation", "error"),
        "cross_correlation_holdout_error": get("cross_correlation", "holdout_error"),
        "coherence": get("coherence", "score"),
        "coherence_holdout": get("coherence", "holdout_score"),
        "discriminative_score": get("discriminative", "score"),
        "discriminative_accuracy": get("discriminative", "accuracy"),
        "discriminative_ceiling": get("discriminative_ceiling", "score"),
        "predictive_score": get("predictive", "predictive_score"),
        "predictive_real": get("predictive", "predictive_real"),
        "predictive_synthetic": get("predictive", "predictive_synthetic"),
        "dcr_share": privacy.get("dcr_share"),
        "membership_advantage": privacy.get("mia_advantage_worst"),
        "entity_exact_copies": privacy.get("exact_copies"),
        "step_fidelity": steps.scores.get("fidelity") if steps is not None else None,
        "step_max_column_distance": _max_distance(steps),
        "entity_fidelity": entities.scores.get("fidelity") if entities is not None else None,
        "entity_max_column_distance": _max_distance(entities),
    }
    return jsonable(out)


def _max_distance(report: QualityReport | None) -> float | None:
    if report is None or report.fidelity is None:
        return None
    return report.fidelity["summary"]["max_column_distance"]
