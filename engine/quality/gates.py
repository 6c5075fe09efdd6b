"""Gates, scores and recommendations: the report's verdict, read off the pillar results.

A gate compares one number with a threshold (DESIGN.md "Quality gates", overridable per call).
Where the number has sampling error, the gate reads its confidence interval ``[lower, upper]``
(``engine.quality.uncertainty``) and reports:

- ``pass`` when the number is credibly on the right side (``upper`` passes the comparison);
- its severity (``warn`` / ``block``) when credibly on the wrong side (``lower`` fails it);
- ``inconclusive`` otherwise: the samples are too small to tell. It has a warning's weight,
  never blocks, and its message gives the sample sizes and how many rows would tell;
- ``skipped`` when the number could not be measured (no target, no holdout, gate disabled).

A gate without an error bar (utility) compares the number itself. Every gate records the
sample sizes it used (``samples``). ``report.passed`` is "no gate blocks".

Scores summarise each pillar in [0, 1] (1 = indistinguishable from real data / no leak); the
formulas are in ``SCORE_FORMULAS`` and written into every report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.quality.config import GateConfig
from engine.quality.uncertainty import rows_to_resolve

SCORE_FORMULAS = {
    "fidelity": "mean(column_similarity, correlation_similarity, contingency_similarity) where "
    "column_similarity = 1 - mean per-column KS/TV distance; correlation_similarity = mean over pairs of "
    "1 - |diff| / 2 (Pearson, Spearman) or 1 - |diff| (Cramér's V, correlation ratio); "
    "contingency_similarity = mean over pairs of 1 - TV of the binned joint distribution",
    "utility": "clip(TSTR / TRTR of the primary metric (AUC or R^2), 0, 1)",
    "privacy": "min(1 - mia_advantage_worst_upper, 1 - exact_copies_beyond_holdout / synthetic_rows, "
    "1 - 2 * max(0, dcr_share - 0.5)) over the parts measured",
    "overall": "mean of the measured pillar scores",
}

STATUSES = ("pass", "warn", "block", "inconclusive", "skipped")

_COMPARISON = {
    "column_distance": "<",
    "correlation_difference": "<",
    "utility_ratio": ">",
    "membership_inference": "<",
    "exact_copies": "<=",
}
_PILLAR = {
    "column_distance": "fidelity",
    "correlation_difference": "fidelity",
    "utility_ratio": "utility",
    "membership_inference": "privacy",
    "exact_copies": "privacy",
}
_METRIC = {
    "column_distance": "largest per-column distance (KS for numeric/datetime, TV for categorical; nulls a category)",
    "correlation_difference": "largest |real - synthetic| association difference over column pairs",
    "utility_ratio": "TSTR / TRTR of the primary metric",
    "membership_inference": "membership-inference advantage max(TPR - FPR), worst attack",
    "exact_copies": "synthetic copies of rare training rows beyond the holdout's rate",
}


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome: the metric, the threshold, the value and the verdict."""

    name: str
    pillar: str
    metric: str
    threshold: float
    value: float | None
    status: str  # one of STATUSES
    message: str
    comparison: str = "<"  # how value is held against threshold to pass
    severity: str = "block"  # the status a failure gets
    reference: float | None = None  # the holdout's own value of the same metric, where known
    offenders: list[dict[str, Any]] = field(default_factory=list)
    lower: float | None = None  # the value's confidence interval (None: no error bar)
    upper: float | None = None
    confidence: float | None = None  # the interval's level
    samples: dict[str, int] = field(default_factory=dict)  # rows the value was measured on
    needed: dict[str, int] = field(default_factory=dict)  # rows that would tell (an inconclusive gate)

    @property
    def failed(self) -> bool:
        return self.status in ("warn", "block")

    @property
    def inconclusive(self) -> bool:
        return self.status == "inconclusive"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pillar": self.pillar,
            "metric": self.metric,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "value": self.value,
            "reference": self.reference,
            "status": self.status,
            "severity": self.severity,
            "message": self.message,
            "offenders": list(self.offenders),
            "lower": self.lower,
            "upper": self.upper,
            "confidence": self.confidence,
            "samples": dict(self.samples),
            "needed": dict(self.needed),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        """Read ``to_dict``'s output; a gate stored before error bars existed loads without them."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _holds(value: float, comparison: str, threshold: float) -> bool:
    if comparison == "<":
        return value < threshold
    if comparison == ">":
        return value > threshold
    return value <= threshold


@dataclass(frozen=True)
class Bounds:
    """A gated value's error bar, the rows it was measured on, and how many would tell."""

    lower: float
    upper: float
    confidence: float
    samples: dict[str, int]
    needed: dict[str, int] = field(default_factory=dict)
    too_small: str = "the samples are too small to tell"  # what an inconclusive message says is too small


def _rows(counts: dict[str, int], sep: str = " and ") -> str:
    return sep.join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items())


def _gate(name: str, cfg: GateConfig, value: float | None, *, why_missing: str, reference: float | None = None,
          offenders: list[dict[str, Any]] | None = None, describe: str = "", bounds: Bounds | None = None,
          samples: dict[str, int] | None = None) -> GateResult:
    comparison = _COMPARISON[name]
    common = dict(name=name, pillar=_PILLAR[name], metric=_METRIC[name], threshold=cfg.threshold,
                  comparison=comparison, severity=cfg.severity, reference=reference,
                  samples=dict(bounds.samples if bounds is not None else samples or {}))
    if not cfg.enabled:
        return GateResult(value=value, status="skipped", message="gate disabled in the config", **common)
    if value is None:
        return GateResult(value=None, status="skipped", message=why_missing, **common)
    ref = f" (holdout itself: {reference:.3g})" if reference is not None else ""
    if bounds is None:
        ok = _holds(value, comparison, cfg.threshold)
        failing = not ok
        interval = ""
    else:
        common.update(lower=float(bounds.lower), upper=float(bounds.upper), confidence=bounds.confidence)
        # the end nearer failing must pass, the end nearer passing must fail ("<": upper / lower; ">": the reverse)
        near_fail, near_pass = (bounds.lower, bounds.upper) if comparison == ">" else (bounds.upper, bounds.lower)
        ok = _holds(near_fail, comparison, cfg.threshold)
        failing = not _holds(near_pass, comparison, cfg.threshold)
        interval = f" [{bounds.confidence:.0%} interval {bounds.lower:.3g} to {bounds.upper:.3g}]"
    if ok:
        head = f"Passes: {value:.3g}{interval} {comparison} {cfg.threshold:g}{ref}."
        status = "pass"
    elif failing:
        outcome = "blocks release" if cfg.severity == "block" else "a warning"
        head = f"Fails, {outcome}: {value:.3g}{interval} is not {comparison} {cfg.threshold:g}{ref}."
        status = cfg.severity
    else:
        assert bounds is not None  # without an error bar a value either holds or fails
        sizes = _rows(bounds.samples, ", ")
        need = f"; at least {_rows(bounds.needed)} needed" if bounds.needed else ""
        head = (f"Inconclusive: {bounds.too_small} ({sizes}{need}): {value:.3g}{interval} may or may not be "
                f"{comparison} {cfg.threshold:g}{ref}. A warning, not a block.")
        return GateResult(value=float(value), status="inconclusive", message=f"{head} {describe}".strip(),
                          needed=dict(bounds.needed), **common)
    return GateResult(value=float(value), status=status, message=f"{head} {describe}".strip(),
                      offenders=[] if ok else list(offenders or []), **common)


def _fidelity_bounds(fidelity: dict[str, Any], items: list[dict[str, Any]], key: str, threshold: float,
                     summary_key: str) -> Bounds | None:
    """The error bar of a fidelity gate's largest value, and the rows per table that would tell an undecided one."""
    s = fidelity["summary"]
    if s.get(f"{summary_key}_lower") is None or s.get(f"{summary_key}_upper") is None:
        return None  # a fidelity result without error bars
    sizes = fidelity.get("sizes", {})
    confidence = float(s.get("confidence", 0.95))
    # undecided: neither credibly below nor credibly above the threshold
    undecided = [i for i in items if i[f"{key}_upper"] >= threshold > i[f"{key}_lower"]]
    # KS/TV and proportions: noise sd 1/(2 sqrt(n_eff)); correlations: at most 1/sqrt(n_eff)
    scale = 0.5 if key == "distance" else 1.0
    rows = [r for r in (rows_to_resolve(i[key], threshold, confidence, scale=scale) for i in undecided) if r]
    return Bounds(lower=s[f"{summary_key}_lower"], upper=s[f"{summary_key}_upper"], confidence=confidence,
                  samples={"real_rows": int(sizes.get("real_rows", 0)), "synthetic_rows": int(sizes.get("synthetic_rows", 0))},
                  needed={"rows_per_table": max(rows)} if rows else {},
                  too_small="too few rows to tell this difference from sampling noise")


def _membership_bounds(privacy: dict[str, Any], threshold: float) -> Bounds | None:
    m, sizes = privacy.get("metrics", {}), privacy.get("sizes", {})
    if m.get("mia_advantage_worst_lower") is None or m.get("mia_advantage_worst_upper") is None:
        return None
    confidence = float(privacy.get("config", {}).get("confidence", 0.95))
    n_h, per_side = int(sizes.get("holdout_rows", 0)), int(sizes.get("mia_members", 0))
    needed: dict[str, int] = {}
    null_rows = m.get("mia_holdout_rows_needed")
    if null_rows and n_h < null_rows:
        needed["holdout_rows"] = int(null_rows)  # what an attack with no signal needs to pass
    else:  # enough for no signal: this advantage sits near the threshold
        side = rows_to_resolve(m["mia_advantage_worst"], threshold, confidence, scale=0.5)
        if side:
            needed["holdout_rows"] = 2 * side
    if needed and int(sizes.get("train_rows", 0)) < needed["holdout_rows"] // 2:
        needed["training_rows"] = needed["holdout_rows"] // 2
    return Bounds(lower=m["mia_advantage_worst_lower"], upper=m["mia_advantage_worst_upper"], confidence=confidence,
                  samples={"holdout_rows": n_h, "members": per_side, "non-members": int(sizes.get("mia_nonmembers", 0))},
                  needed=needed, too_small="the holdout is too small to tell")


def _copy_bounds(privacy: dict[str, Any], beyond: float) -> Bounds | None:
    m, sizes = privacy.get("metrics", {}), privacy.get("sizes", {})
    if m.get("exact_copies_allowed_at_rate") is None:
        return None
    alpha = float(privacy.get("config", {}).get("exact_copy_alpha", 0.01))
    upper = max(0, int(m["exact_copies"]) - int(m["exact_copies_allowed_at_rate"]))
    needed = m.get("exact_copies_holdout_rows_needed")
    samples = {"synthetic_rows": int(sizes.get("synthetic_rows", 0)), "holdout_rows": int(sizes.get("holdout_rows", 0))}
    return Bounds(lower=float(beyond), upper=float(upper), confidence=1.0 - alpha, samples=samples,
                  needed={"holdout_rows": int(needed)} if needed else {},
                  too_small="the holdout is too small to tell these copies from its own rate")


def evaluate_gates(
    *,
    fidelity: dict[str, Any] | None,
    utility: dict[str, Any] | None,
    privacy: dict[str, Any] | None,
    gates: dict[str, GateConfig],
    skipped_reasons: dict[str, str],
) -> list[GateResult]:
    """Every configured gate against the pillar results (a missing pillar skips its gates)."""
    out = []
    # fidelity ------------------------------------------------------------------------------
    fid_missing = skipped_reasons.get("fidelity", "fidelity was not assessed")
    if fidelity is not None:
        s = fidelity["summary"]
        cfg = gates["column_distance"]
        bounds = _fidelity_bounds(fidelity, fidelity["columns"], "distance", cfg.threshold, "max_column_distance")
        low = "distance_lower" if bounds is not None else "distance"
        bad = sorted((c for c in fidelity["columns"] if not _holds(c[low], "<", cfg.threshold)),
                     key=lambda c: -c["distance"])
        offenders = [{"column": c["name"], "kind": c["kind"], "metric": c["metric"], "value": c["distance"],
                      "holdout_value": c.get("holdout_distance")} for c in bad]
        worst = max(fidelity["columns"], key=lambda c: c["distance"])
        describe = (f"{len(bad)} of {len(fidelity['columns'])} columns credibly at or above the threshold: "
                    + ", ".join(f"{o['column']} ({o['metric'].upper()} {o['value']:.2f})" for o in offenders[:5])
                    + ("" if len(offenders) <= 5 else ", ...")) if bad else (
                    f"Largest: {worst['name']} ({worst['metric'].upper()} {worst['distance']:.3f}).")
        out.append(_gate("column_distance", cfg, s["max_column_distance"], why_missing=fid_missing,
                         reference=s.get("holdout_max_column_distance"), offenders=offenders, describe=describe,
                         bounds=bounds))
        cfg = gates["correlation_difference"]
        pairs_all = fidelity["pairs"]["all"]
        bounds = _fidelity_bounds(fidelity, pairs_all, "difference", cfg.threshold, "max_pair_difference")
        low = "difference_lower" if bounds is not None else "difference"
        bad_pairs = [p for p in pairs_all if not _holds(p[low], "<", cfg.threshold)]
        offenders = [{"columns": p["columns"], "measure": p["measure"], "value": p["difference"]} for p in bad_pairs[:20]]
        largest = fidelity["pairs"]["largest_differences"]
        if bad_pairs:
            describe = (f"{len(bad_pairs)} pair(s) credibly at or above the threshold: "
                        + ", ".join(f"{' x '.join(o['columns'])} ({o['measure']} {o['value']:.2f})" for o in offenders[:5]))
        elif largest:
            describe = f"Largest: {' x '.join(largest[0]['columns'])} ({largest[0]['measure']} {largest[0]['difference']:.3f})."
        else:
            describe = "A single column: no pair to compare."
        out.append(_gate("correlation_difference", cfg, s["max_pair_difference"] if largest else None,
                         why_missing="fewer than two compared columns: no pair to compare",
                         reference=s.get("holdout_max_pair_difference"), offenders=offenders, describe=describe,
                         bounds=bounds if largest else None))
    else:
        out.append(_gate("column_distance", gates["column_distance"], None, why_missing=fid_missing))
        out.append(_gate("correlation_difference", gates["correlation_difference"], None, why_missing=fid_missing))

    # utility -------------------------------------------------------------------------------
    cfg = gates["utility_ratio"]
    if utility is not None:
        metric = utility["primary_metric"].upper()
        tstr, trtr = utility["tstr"][utility["primary_metric"]], utility["trtr"][utility["primary_metric"]]
        out.append(_gate("utility_ratio", cfg, utility["primary_ratio"],
                         why_missing=f"TRTR {metric} is not positive ({trtr:.3g}): the ratio is undefined",
                         describe=f"Target {utility['target']!r}: TSTR {metric} {tstr:.3f} vs TRTR {metric} {trtr:.3f}.",
                         samples={f"{k}_rows": int(v) for k, v in (utility.get("rows") or {}).items()}))
    else:
        out.append(_gate("utility_ratio", cfg, None, why_missing=skipped_reasons.get("utility", "utility was not assessed")))

    # privacy -------------------------------------------------------------------------------
    priv_missing = skipped_reasons.get("privacy", "privacy was not assessed")
    metrics = (privacy or {}).get("metrics", {})
    cfg = gates["membership_inference"]
    if privacy is not None:
        worst = privacy.get("worst_attack")
        adv = metrics.get("mia_advantage_worst", metrics.get("mia_advantage_worst_upper"))
        reason = next((n for n in privacy.get("notes", []) if "membership" in n.lower() or "attack" in n.lower()),
                      "the membership-inference attacks were not run (a holdout is needed)")
        out.append(_gate("membership_inference", cfg, adv, why_missing=reason,
                         describe=f"Worst attack: {worst}." if worst else "",
                         bounds=_membership_bounds(privacy, cfg.threshold)))
        cfg = gates["exact_copies"]
        beyond = metrics.get("exact_copies_beyond_holdout", metrics.get("exact_copies"))
        copies = metrics.get("exact_copies")
        allowed = metrics.get("exact_copies_allowed")
        rate = metrics.get("holdout_exact_copy_share")
        describe = f"{copies} synthetic row(s) copy a rare training row"
        if allowed is not None and rate is not None:
            describe += f"; unseen real rows do so at a rate of {rate:.2%}, which allows {allowed}."
        else:
            describe += "; without a holdout every copy counts."
        out.append(_gate("exact_copies", cfg, beyond, why_missing="exact copies were not counted", describe=describe,
                         bounds=_copy_bounds(privacy, beyond) if beyond is not None else None))
    else:
        out.append(_gate("membership_inference", cfg, None, why_missing=priv_missing))
        out.append(_gate("exact_copies", gates["exact_copies"], None, why_missing=priv_missing))
    return out


def compute_scores(
    *, fidelity: dict[str, Any] | None, utility: dict[str, Any] | None, privacy: dict[str, Any] | None,
    synthetic_rows: int,
) -> tuple[dict[str, float | None], dict[str, dict[str, float | None]]]:
    """Pillar scores and overall (``SCORE_FORMULAS``), and the components each was built from."""
    components: dict[str, dict[str, float | None]] = {}
    scores: dict[str, float | None] = {"fidelity": None, "utility": None, "privacy": None}
    if fidelity is not None:
        s = fidelity["summary"]
        parts = {"column_similarity": s["column_similarity"], "correlation_similarity": s["correlation_similarity"],
                 "contingency_similarity": s["contingency_similarity"]}
        components["fidelity"] = parts
        present = [v for v in parts.values() if v is not None]
        scores["fidelity"] = sum(present) / len(present) if present else None
    if utility is not None:
        ratio = utility["primary_ratio"]
        components["utility"] = {"primary_ratio": ratio}
        scores["utility"] = None if ratio is None else min(1.0, max(0.0, ratio))
    if privacy is not None:
        m = privacy.get("metrics", {})
        parts = {}
        if m.get("mia_advantage_worst_upper") is not None:
            parts["mia"] = 1.0 - min(1.0, max(0.0, m["mia_advantage_worst_upper"]))
        beyond = m.get("exact_copies_beyond_holdout", m.get("exact_copies"))
        if beyond is not None:
            parts["exact_copies"] = 1.0 - min(1.0, beyond / max(synthetic_rows, 1))
        if m.get("dcr_share") is not None:
            parts["dcr"] = 1.0 - min(1.0, 2.0 * max(0.0, m["dcr_share"] - 0.5))
        components["privacy"] = parts
        scores["privacy"] = min(parts.values()) if parts else None
    measured = [v for v in scores.values() if v is not None]
    scores["overall"] = sum(measured) / len(measured) if measured else None
    return scores, components


# Models tried first when another one is suggested; MST's "epochs" are estimation rounds, not passes.
_SUGGESTED_MODELS = ("argn", "tvae", "ctgan")
_NO_EPOCHS = frozenset({"mst"})


@dataclass(frozen=True)
class ModelContext:
    """What the synthetic data came from, so that advice never suggests what was already done.

    ``kind``: the model kind ("ctgan", "argn", "mst", ...; None: unknown). ``private``: it was
    trained with differential privacy. ``engine.assess(model=...)`` takes this or its dict.
    """

    kind: str | None = None
    private: bool = False

    @classmethod
    def coerce(cls, value: Any) -> ModelContext:
        """``value`` as a ``ModelContext``: None, an instance, or ``{"kind": ..., "private": ...}``."""
        from engine.errors import ConfigError

        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict) or set(value) - {"kind", "private"}:
            raise ConfigError(f"model must be None or a dict with 'kind' and 'private'; got {value!r}")
        kind, private = value.get("kind"), value.get("private", False)
        if kind is not None and (not isinstance(kind, str) or not kind.strip()):
            raise ConfigError(f"model['kind'] must be a model kind such as 'ctgan'; got {kind!r}")
        if not isinstance(private, bool):
            raise ConfigError(f"model['private'] must be True or False; got {private!r}")
        return cls(kind=kind.strip().lower() if kind else None, private=private)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "private": self.private}

    def other_models(self) -> str:
        """``"another model (for example 'tvae' or 'ctgan')"``: never the model the report is about."""
        others = [k for k in _SUGGESTED_MODELS if k != self.kind][:2]
        than = f" than {self.kind!r}" if self.kind else ""
        return f"another model{than} (for example {' or '.join(repr(k) for k in others)})"

    def less_memorising(self) -> str:
        """What makes a model keep less of its training rows: DP for a model without it, a smaller epsilon with it."""
        fewer = "" if self.kind in _NO_EPOCHS else "for fewer epochs, "
        if self.private:
            return f"train with a smaller epsilon, {fewer}or raise the rare-category k"
        return f"train with differential privacy (a privacy budget epsilon), {fewer}or raise the rare-category k"


def recommend(
    gates: list[GateResult], *, fidelity: dict[str, Any] | None, utility: dict[str, Any] | None,
    privacy: dict[str, Any] | None, model: ModelContext | dict[str, Any] | None = None,
) -> list[str]:
    """Plain-language advice from the failures: which columns, and what to try.

    ``model`` (``ModelContext``): the model the report is about. The advice never suggests that
    model again, nor differential privacy for a model trained with it (a smaller epsilon then).
    """
    model = ModelContext.coerce(model)
    out: list[str] = []
    by_name = {g.name: g for g in gates}
    columns = {c["name"]: c for c in (fidelity or {}).get("columns", [])}

    g = by_name.get("column_distance")
    if g is not None and g.failed:
        names = [o["column"] for o in g.offenders]
        listed = ", ".join(f"{o['column']} ({o['metric'].upper()} {o['value']:.2f})" for o in g.offenders[:6])
        more = f" and {len(names) - 6} more" if len(names) > 6 else ""
        longer = "Train longer (more epochs)" if model.kind not in _NO_EPOCHS else "Train with more estimation rounds"
        text = f"The distributions of {listed}{more} are off. {longer} or try {model.other_models()}."
        nulls = [n for n in names if abs(columns[n]["null_share_real"] - columns[n]["null_share_synthetic"]) > 0.05]
        if nulls:
            text += (" The null share differs in " + ", ".join(
                f"{n} ({columns[n]['null_share_real']:.0%} real vs {columns[n]['null_share_synthetic']:.0%} synthetic)"
                for n in nulls[:4]) + ": check that the model generates nulls.")
        cats = [n for n in names if columns[n]["kind"] == "categorical"]
        if cats:
            text += (f" For the categorical column(s) {', '.join(cats[:4])}, check how many rare categories the "
                     "rare-category rule (k) merged: a lower k keeps more of them, a higher one protects privacy more.")
        out.append(text)

    g = by_name.get("correlation_difference")
    if g is not None and g.failed:
        pairs = "; ".join(f"{' and '.join(o['columns'])} ({o['measure'].replace('_', ' ')} differs by {o['value']:.2f})"
                          for o in g.offenders[:4])
        instead = ("" if model.kind == "argn" else
                   ", or use a model that learns dependencies between columns (an autoregressive model such as 'argn')")
        larger = ("; a larger epsilon keeps more of the structure" if model.private else "" if model.kind is not None
                  else "; with differential privacy, a larger epsilon keeps more of the structure")
        out.append(f"Relationships between columns are lost: {pairs}. The model matches the columns one by one "
                   f"but not how they go together: train longer{instead}{larger}.")

    g = by_name.get("utility_ratio")
    if g is not None and g.failed and utility is not None:
        m = utility["primary_metric"].upper()
        out.append(f"A model trained on the synthetic data reaches {g.value:.0%} of the real-trained {m} for "
                   f"{utility['target']!r}. Train longer, sample with the target's real balance (conditional "
                   f"sampling), or try {model.other_models()}.")

    g = by_name.get("membership_inference")
    if g is not None and g.failed:
        at_least = f"at least {g.lower:.0%}" if g.lower is not None else f"{g.value:.0%}"
        out.append(f"Membership inference succeeds (advantage {at_least}, limit {g.threshold:.0%}): the "
                   f"model memorises training rows. {model.less_memorising().capitalize()}.")
    if g is not None and g.inconclusive:
        need = g.needed.get("holdout_rows")
        bigger = f"a holdout of at least {need:,} rows" if need else "a bigger holdout"
        dp = ("a smaller epsilon gives a guarantee" if model.private else
              "training with differential privacy gives a guarantee")
        out.append(f"The membership-inference test cannot tell at this size: the advantage lies between "
                   f"{g.lower:.0%} and {g.upper:.0%} (limit {g.threshold:.0%}) on a holdout of "
                   f"{g.samples.get('holdout_rows', 0):,} rows. Assess again with {bigger} (set aside more rows "
                   f"before training), or rely on differential privacy: {dp} that does not depend on the holdout's size.")

    g = by_name.get("exact_copies")
    if g is not None and g.failed:
        text = (f"{int(g.value)} synthetic row(s) copy rare training rows beyond what unseen real data matches. "
                f"Do not release them as they are: {model.less_memorising().replace(', or raise', ', raise')}, "
                "or remove the copies before release.")
        if (privacy or {}).get("metrics", {}).get("holdout_exact_copy_share") is None:
            text += (" Without a holdout every coincidence counts, even the ones fresh real rows would produce "
                     "too: pass holdout= (real rows the generator never saw) to allow for those.")
        out.append(text)

    for name in ("column_distance", "correlation_difference", "exact_copies"):
        g = by_name.get(name)
        if g is not None and g.inconclusive:
            need = f" about {_rows(g.needed)} would tell" if g.needed else " more rows would tell"
            out.append(f"{name.replace('_', ' ').capitalize()} is inconclusive: {g.value:.3g} lies in "
                       f"[{g.lower:.3g}, {g.upper:.3g}] around the limit {g.threshold:g} at this sample size;{need}.")

    metrics = (privacy or {}).get("metrics", {})
    dcr = metrics.get("dcr_share")
    if dcr is not None and dcr > 0.6 and not any(by_name[n].failed for n in ("membership_inference", "exact_copies") if n in by_name):
        out.append(f"{dcr:.0%} of synthetic rows are closer to the training rows than to unseen rows (0.5 is ideal): "
                   "no gate fails, but the data leans towards its training set; "
                   + ("a smaller epsilon" if model.private else "differential privacy")
                   + ("" if model.kind in _NO_EPOCHS else " or fewer epochs") + " would loosen it.")

    acc = (fidelity or {}).get("accuracy", {})
    gap = (acc.get("gap") or {}).get("overall")
    if gap is not None and gap > 0.05 and not any(by_name[n].failed for n in ("column_distance", "correlation_difference") if n in by_name):
        out.append(f"The binned accuracy ({acc['overall']:.1%}) is {gap:.1%} below what a real sample reaches "
                   f"({acc['ceiling']['overall']:.1%}): the gates pass, but training longer may close the gap.")

    if utility is not None and utility["feature_importance"]["rank_agreement"] is not None \
            and utility["feature_importance"]["rank_agreement"] < 0.5 and not (by_name.get("utility_ratio") and by_name["utility_ratio"].failed):
        out.append(f"Models trained on synthetic and real data rely on different features (rank agreement "
                   f"{utility['feature_importance']['rank_agreement']:.2f}): conclusions drawn from feature importance "
                   "on the synthetic data may not carry over.")

    if not any(g.failed or g.inconclusive for g in gates):
        skipped = [g.name for g in gates if g.status == "skipped"]
        text = "Every gate that was evaluated passes."
        if skipped:
            text += f" Not evaluated: {', '.join(skipped)} (see the gate table for why)."
        out.append(text)
    return out
