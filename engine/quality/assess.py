"""``engine.assess``: one call that judges a synthetic table against its real source.

Works on any pair of tables (it needs no model of ours, so it judges other tools' output
too): fidelity (``fidelity.py``), train-synthetic-test-real utility (``utility.py``) and
privacy (``privacy.py``: exact copies, distance to closest record, membership inference),
then the gates, scores and recommendations (``gates.py``) in a ``QualityReport``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from engine.errors import ConfigError, InputError
from engine.quality.columns import prepare
from engine.quality.config import QualityConfig
from engine.quality.gates import ModelContext, compute_scores, evaluate_gates, recommend
from engine.quality.report import QualityReport, jsonable
from engine.version import __version__

ProgressCallback = Callable[[str, float], None]

# share of the progress bar each stage covers (start, end)
_STAGES = {"prepare": (0.0, 0.05), "fidelity": (0.05, 0.35), "utility": (0.35, 0.6), "privacy": (0.6, 0.97)}


def assess(
    *,
    real: Any,
    synthetic: Any,
    holdout: Any | None = None,
    target: str | None = None,
    config: Mapping[str, Any] | QualityConfig | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    model: Mapping[str, Any] | ModelContext | None = None,
) -> QualityReport:
    """Assess ``synthetic`` against ``real`` (the rows the generator trained on).

    ``holdout``: real rows the generator never saw, with the same columns. It is the yardstick
    of the report: the accuracy ceiling, the test set of train-synthetic-test-real, and the
    non-members of the membership-inference attacks. Without it the real table is split for
    utility, the ceiling is not estimated and the attacks are not run (the notes say so).
    ``target``: the column to predict for utility; None suggests one (and says so), unless
    ``config['utility']['auto_target']`` is False. ``config``: see ``QualityConfig``
    (gate thresholds, column kinds, sample caps, privacy settings). Frames are polars or
    pandas DataFrames. ``on_progress(step, fraction)`` is called as the stages complete.
    ``model``: what the synthetic data came from, ``{"kind": "ctgan", "private": False}``
    (``ModelContext``): the recommendations then never suggest that model again, nor
    differential privacy for a model trained with it; the report records it in ``inputs``.

    The numeric libraries run on ``config['threads']`` threads (default 1). Their default, one
    busy-waiting thread per core, is 10-100x slower, not faster, as soon as another process
    wants the same cores (a shared CI runner, a worker host running several jobs); workers
    scale by running more assessments side by side, not more threads inside one.
    """
    cfg = QualityConfig.from_mapping(config)
    context = ModelContext.coerce(dict(model) if isinstance(model, Mapping) else model)
    _load_native_libraries("utility" in cfg.pillars and cfg.utility.enabled)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=cfg.threads):
        return _assess(real=real, synthetic=synthetic, holdout=holdout, target=target, cfg=cfg, seed=seed,
                       model=context, on_progress=on_progress)


def _load_native_libraries(utility: bool) -> None:
    """Load numpy's and scipy's BLAS and scikit-learn's OpenMP before their threads are limited.

    threadpoolctl limits only the libraries already loaded when the limit is set.
    """
    import scipy.linalg  # noqa: F401 - scipy's own OpenBLAS
    import scipy.stats  # noqa: F401

    if utility:
        import sklearn.ensemble  # noqa: F401 - libgomp


def _assess(
    *,
    real: Any,
    synthetic: Any,
    holdout: Any | None,
    target: str | None,
    cfg: QualityConfig,
    seed: int,
    on_progress: ProgressCallback | None,
    model: ModelContext,
) -> QualityReport:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"target must be a column name (str) or None, got {type(target).__name__}")
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def stage_progress(stage: str) -> ProgressCallback | None:
        if on_progress is None:
            return None
        lo, hi = _STAGES[stage]
        return lambda step, fraction: on_progress(step, lo + (hi - lo) * min(max(fraction, 0.0), 1.0))

    t0 = time.perf_counter()
    prep = prepare(real, synthetic, holdout, column_types=cfg.column_types,
                   max_int_levels=cfg.fidelity.categorical_max_int_levels)
    if target is not None and target not in prep.real.frame.columns and target not in [s.name for s in prep.specs]:
        raise InputError(f"target {target!r} is not a column of the real table; columns: {[s.name for s in prep.specs]}")
    timings["prepare"] = time.perf_counter() - t0
    if on_progress is not None:
        on_progress("prepared", _STAGES["prepare"][1])

    notes: list[str] = []
    skipped = [s for s in prep.specs if s.kind == "skip"]
    if skipped:
        notes.append("not compared: " + "; ".join(f"{s.name} ({s.reason})" for s in skipped))
    reasons: dict[str, str] = {}

    fidelity = None
    if "fidelity" in cfg.pillars:
        t0 = time.perf_counter()
        from engine.quality.fidelity import assess_fidelity

        fidelity = assess_fidelity(prep, config=cfg.fidelity, seed=seed, confidence=cfg.confidence,
                                   on_progress=stage_progress("fidelity"))
        timings["fidelity"] = time.perf_counter() - t0
    else:
        reasons["fidelity"] = "fidelity left out of config['pillars']"

    utility = None
    target_source = "user"
    if "utility" not in cfg.pillars or not cfg.utility.enabled:
        reasons["utility"] = "utility disabled in the config"
    else:
        if target is None and cfg.utility.auto_target:
            from engine.quality.utility import suggest_target

            target, why = suggest_target(prep)
            target_source = "suggested"
            if target is not None:
                notes.append(f"utility target {target!r} was suggested, not chosen: {why}; pass target= to choose")
            else:
                reasons["utility"] = f"no target given and {why}; pass target= to measure utility"
        elif target is None:
            reasons["utility"] = "no target given; pass target= to measure utility"
        if target is not None:
            t0 = time.perf_counter()
            from engine.quality.utility import assess_utility

            utility = assess_utility(prep, target=target, target_source=target_source, config=cfg.utility,
                                     seed=seed, threads=cfg.threads, on_progress=stage_progress("utility"))
            timings["utility"] = time.perf_counter() - t0

    privacy = None
    if "privacy" in cfg.pillars:
        t0 = time.perf_counter()
        from engine.quality.privacy import PrivacyConfig, assess_privacy

        compared = [s.name for s in prep.compared]
        result = assess_privacy(
            real=prep.real.frame.select(compared),
            synthetic=prep.synthetic.frame.select(compared),
            holdout=prep.holdout.frame.select(compared) if prep.holdout is not None else None,
            config=PrivacyConfig.from_mapping({**cfg.privacy, "confidence": cfg.confidence,
                                               "mia_threshold": cfg.gates["membership_inference"].threshold}),
            seed=seed,
            on_progress=stage_progress("privacy"),
        )
        privacy = result.to_dict()
        timings["privacy"] = time.perf_counter() - t0
    else:
        reasons["privacy"] = "privacy left out of config['pillars']"

    gates = evaluate_gates(fidelity=fidelity, utility=utility, privacy=privacy, gates=cfg.gates, skipped_reasons=reasons)
    scores, components = compute_scores(fidelity=fidelity, utility=utility, privacy=privacy,
                                        synthetic_rows=prep.synthetic.n_rows)
    recommendations = recommend(gates, fidelity=fidelity, utility=utility, privacy=privacy, model=model)
    for part in (fidelity, utility, privacy):
        if part is not None:
            notes.extend(part.get("notes", []))
    timings["total"] = time.perf_counter() - started
    if on_progress is not None:
        on_progress("done", 1.0)
    return QualityReport(
        scores=scores,
        gates=gates,
        recommendations=recommendations,
        inputs={
            "rows": {"real": prep.real.n_rows, "synthetic": prep.synthetic.n_rows,
                     "holdout": prep.holdout.n_rows if prep.holdout is not None else None},
            "columns": [s.to_dict() for s in prep.specs],
            "target": utility["target"] if utility is not None else target,
            "target_source": target_source if target is not None else None,
            "seed": seed,
            **({"model": model.to_dict()} if model != ModelContext() else {}),
        },
        fidelity=jsonable(fidelity) if fidelity is not None else None,
        utility=jsonable(utility) if utility is not None else None,
        privacy=privacy,
        notes=notes,
        score_components=components,
        config=cfg.to_dict(),
        timings=timings,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        engine_version=__version__,
    )
