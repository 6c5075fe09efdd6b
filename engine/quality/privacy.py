"""Privacy of a synthetic table: exact copies, distance to closest record, membership inference.

``assess_privacy(real=train, synthetic=syn, holdout=test)`` answers three questions, each
against what unseen real data (the holdout) would score, because real data that was never
trained on is the yardstick of "no more revealing than a fresh sample":

1. **Exact copies.** A synthetic row that equals a training row reveals that row. In a
   low-cardinality table, though, fresh real rows equal training rows all the time (a row
   of five yes/no answers has 32 possible values), so a literal zero-match rule fails such
   tables for nothing. Only copies of *rare* rows count:

   - ``exact_copies``: synthetic rows equal to a training row whose value occurs exactly
     once in train + holdout (once in train, never in the holdout). The holdout itself
     passed as the synthetic table scores 0 by construction.
   - ``holdout_exact_copy_share``: the same rule with each holdout row playing the synthetic
     row (leave-one-out: its value occurs exactly once in train and nowhere else in the
     holdout). It estimates how often a fresh real row hits a rare training row, which is
     not 0 either (adult has duplicated people).
   - ``exact_copies_beyond_holdout``: the copies that the holdout rate does not explain,
     ``max(0, exact_copies - exact_copies_allowed)``. ``exact_copies_allowed`` is the largest
     count k that the exact test for two rare-event rates does not reject at level
     ``exact_copy_alpha`` (0.01): with ``k_h`` holdout hits, k synthetic copies are too many
     when ``P(Binomial(k + k_h, n_syn / (n_syn + n_holdout)) >= k) <= alpha``, i.e. when so
     many of the rare-row hits land in the synthetic table that equal rates are implausible.
     The gate "0 beyond what the holdout also matches" is ``exact_copies_beyond_holdout == 0``.
     Without a holdout every copy counts (``allowed = 0``).
   - ``exact_copies_allowed_at_rate``: what the holdout's rate would allow were it known
     exactly (an unlimited holdout at the same rate; the rate is the Jeffreys estimate
     ``(k_h + 0.5) / (n_holdout + 1)``, so that a small holdout without a hit does not claim
     a rate of exactly 0). Copies above it but within
     ``exact_copies_allowed`` are explained only by the holdout's own sampling error: the
     holdout is too small to tell (``exact_copies_holdout_rows_needed`` rows would tell).
   - ``exact_match_share`` / ``holdout_exact_match_share``: literal matches with any
     training row, for the reader; not used by a gate.

   Rows compare on all columns (``ignore_columns`` left out), nulls equal to nulls, numbers
   as Float64 (so 3 and 3.0 match), NaN as null.

2. **Distance to closest record (DCR).** In the shared encoding of ``distance.py``:
   ``dcr_share`` is the share of synthetic rows closer to the training sample than to an
   equally large holdout sample (ties count half; ~0.5 is ideal, 1.0 means the synthetic
   rows sit on top of training rows). The training sample has the holdout sample's size,
   so when train is larger than the holdout only that share of training rows can be found
   (a copy of a 100,000-row train judged against 20,000 holdout rows scores ~0.6, not 1).
   The ~0.5 holds for unseen real rows that are not in the holdout; the holdout itself
   passed as the synthetic table scores ~0 (each row is its own nearest holdout row).
   ``dcr_p05_*`` are 5th percentiles of the distances, and ``nndr_p05`` the 5th percentile
   of nearest / second-nearest training distance (near 0: a synthetic row singles out one
   training row).

3. **Membership inference** (``membership.py``): three attacks, members = training rows,
   non-members = holdout rows, equal numbers (up to ``mia_rows_per_side``), and a reference
   of other holdout rows. Per attack the advantage max(TPR - FPR) has a confidence interval
   (``uncertainty.advantage_bounds``, level ``confidence``); ``mia_advantage_worst_lower`` and
   ``mia_advantage_worst_upper`` are the largest ends over the attacks: the numbers the gate
   reads. ``mia_rows_per_side_needed`` / ``mia_holdout_rows_needed`` say how many rows an
   attack with no signal needs to pass a ``mia_threshold`` gate
   (``uncertainty.advantage_rows_needed``). An attack's direction is fixed in advance, so the holdout itself passed as the synthetic table (non-members sit
   on synthetic rows, the attacks point the wrong way) scores an advantage of ~0.

Nothing per record is returned: metrics, fixed-bin histograms, 21-point ROC curves, notes.
Samples are drawn with generators seeded from ``seed``; the notes say where rows were
subsampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.quality.columns import to_polars
from engine.quality.config_mapping import read_config
from engine.quality.distance import DistanceEncoder, column_kind, nearest_neighbors
from engine.quality.membership import ATTACKS, MIN_KDE_ROWS, AttackResult, attack_scores, evaluate_attack
from engine.quality.report import jsonable
from engine.quality.uncertainty import (
    advantage_rows_needed,
    allowed_at_known_rate,
    allowed_copies,
    check_confidence,
    holdout_rows_to_resolve,
)

ProgressCallback = Callable[[str, float], None]

@dataclass(frozen=True, kw_only=True)
class PrivacyConfig:
    """Sample sizes and constants of the privacy assessment (defaults fit 100,000-row tables in seconds)."""

    ignore_columns: tuple[str, ...] = ()  # left out of every metric (e.g. ids the generator re-draws)
    top_k_categories: int = 20  # categorical levels with their own distance dimension
    category_scale: float = 0.7  # one-hot value: two categories are ~0.99 apart
    dcr_reference_rows: int = 20_000  # training rows and holdout rows each, for DCR
    dcr_query_rows: int = 10_000  # synthetic (and holdout) rows whose DCR is measured
    mia_rows_per_side: int = 5_000  # members and non-members each
    mia_min_rows_per_side: int = 50  # below this the attacks are not run
    mia_synthetic_rows: int = 50_000  # synthetic rows the attacks search
    mia_reference_rows: int = 10_000  # holdout rows (not non-members) the attacks compare with
    kde_dims: int = 10  # principal components of the density-ratio attack
    kde_rows: int = 10_000  # rows in each of its two kernel density estimates
    confidence: float = 0.95  # level of the advantage's confidence interval (see engine.quality.uncertainty)
    mia_threshold: float = 0.10  # the membership gate's threshold, for the rows an attack needs to pass it
    exact_copy_alpha: float = 0.01  # level of the test 'more exact copies than the holdout rate explains'
    histogram_bins: int = 30
    block_rows: int = 2048  # query rows per block of the nearest-neighbour search

    def __post_init__(self) -> None:
        columns = self.ignore_columns
        if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
            raise ConfigError(f"ignore_columns must be a list of column names, got {self.ignore_columns!r}")
        object.__setattr__(self, "ignore_columns", tuple(self.ignore_columns))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "ignore_columns":
                continue
            if f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"privacy config {f.name!r} must be a positive integer, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"privacy config {f.name!r} must be a positive number, got {value!r}")
        check_confidence(self.confidence)
        if not self.mia_threshold < 1:
            raise ConfigError(f"mia_threshold must be in (0, 1), got {self.mia_threshold!r}")
        if not self.exact_copy_alpha < 0.5:
            raise ConfigError(f"exact_copy_alpha must be in (0, 0.5), got {self.exact_copy_alpha!r}")
        if self.category_scale > 10:
            raise ConfigError(f"category_scale must be at most 10, got {self.category_scale!r}")
        if self.mia_min_rows_per_side < 10:
            raise ConfigError(f"mia_min_rows_per_side must be at least 10, got {self.mia_min_rows_per_side!r}")
        if self.mia_min_rows_per_side > self.mia_rows_per_side:
            raise ConfigError(
                f"mia_min_rows_per_side ({self.mia_min_rows_per_side}) exceeds mia_rows_per_side ({self.mia_rows_per_side})"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | PrivacyConfig | None) -> PrivacyConfig:
        """Build from a plain mapping (a stored JSON config); unknown keys raise ConfigError."""
        bootstrap = "the advantage's bounds are analytic now; set 'confidence' (e.g. 0.95) instead"
        return read_config(cls, data, what="privacy config", parse=cls._parsed,
                           retired={"bootstrap_resamples": bootstrap, "bootstrap_quantile": bootstrap})

    @classmethod
    def _parsed(cls, data: Mapping[str, Any]) -> PrivacyConfig:
        values = dict(data)
        if "ignore_columns" in values and isinstance(values["ignore_columns"], list):
            values["ignore_columns"] = tuple(values["ignore_columns"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ignore_columns"] = list(self.ignore_columns)
        return out


@dataclass
class PrivacyResult:
    """Aggregate privacy metrics (keys in the module docstring); JSON-safe through ``to_dict``."""

    metrics: dict[str, float | int | None]
    histograms: dict[str, dict[str, list[float] | list[int]]]
    attacks: list[AttackResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    config: PrivacyConfig = field(default_factory=PrivacyConfig)

    @property
    def worst_attack(self) -> str | None:
        """Name of the attack with the largest advantage upper bound (None when none ran)."""
        return max(self.attacks, key=lambda a: a.advantage_upper).name if self.attacks else None

    @property
    def roc(self) -> dict[str, dict[str, list[float]]]:
        return {a.name: a.roc for a in self.attacks}

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "metrics": self.metrics,
            "histograms": self.histograms,
            "attacks": [a.to_dict() for a in self.attacks],
            "worst_attack": self.worst_attack,
            "notes": list(self.notes),
            "sizes": dict(self.sizes),
            "config": self.config.to_dict(),
        })


# -- input checks and alignment ----------------------------------------------------------------


def _target_dtype(dtype: pl.DataType) -> pl.DataType:
    """The dtype every table's column is cast to, chosen from the training dtype."""
    kind = column_kind(dtype)
    if kind == "numeric":
        return pl.Float64
    if kind == "categorical":
        return pl.Boolean if dtype == pl.Boolean else pl.String
    if isinstance(dtype, pl.Datetime):
        return pl.Datetime("us", dtype.time_zone)
    if dtype == pl.Date:
        return pl.Datetime("us")
    if isinstance(dtype, pl.Duration):
        return pl.Duration("us")
    if dtype == pl.Null:
        return pl.String
    return dtype


def _align(frames: dict[str, pl.DataFrame], ignore: tuple[str, ...]) -> dict[str, pl.DataFrame]:
    """Same columns, same order, one dtype per column in every table; NaN as null."""
    real = frames["real"]
    unknown = sorted(set(ignore) - set(real.columns))
    if unknown:
        raise ConfigError(f"ignore_columns names column(s) {unknown} that the real table does not have")
    columns = [c for c in real.columns if c not in ignore]
    if not columns:
        raise InputError("every column is ignored; nothing is left to assess privacy on")
    for role, frame in frames.items():
        missing = [c for c in columns if c not in frame.columns]
        extra = [c for c in frame.columns if c not in real.columns]
        if missing or extra:
            raise InputError(
                f"{role} must have the real table's columns: missing {missing}, unexpected {extra}"
            )
    targets = {c: _target_dtype(real.schema[c]) for c in columns}
    aligned = {}
    for role, frame in frames.items():
        exprs = []
        for c in columns:
            expr = pl.col(c)
            source = frame.schema[c]
            target = targets[c]
            if source != target:
                if target == pl.Boolean and source == pl.String:
                    expr = expr.str.to_lowercase().replace_strict({"true": True, "false": False}, default=None)
                expr = expr.cast(target)
            if target == pl.Float64:
                expr = expr.fill_nan(None) + 0.0  # -0.0 + 0.0 == +0.0: one spelling of zero
            exprs.append(expr.alias(c))
        try:
            aligned[role] = frame.select(exprs)
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            bad = [c for c in columns if frame.schema[c] != targets[c]]
            raise InputError(
                f"{role}: column(s) {bad} do not convert to the real table's types "
                f"({[str(real.schema[c]) for c in bad]}): {exc}"
            ) from exc
    return aligned


# -- exact copies --------------------------------------------------------------------------------


def _exact_copies(
    train: pl.DataFrame, synthetic: pl.DataFrame, holdout: pl.DataFrame | None, alpha: float
) -> dict[str, Any]:
    # Each row is keyed by two 64-bit row hashes with different seeds: a chance collision
    # among a million rows is ~3e-8 even for one hash, far less for the pair. Hashing is
    # ~30x cheaper than grouping on every column; the frames share dtypes (see _align), so
    # equal rows, nulls included, get equal keys.
    def keyed(frame: pl.DataFrame, source: int) -> pl.DataFrame:
        return pl.DataFrame({
            "h1": frame.hash_rows(seed=17),
            "h2": frame.hash_rows(seed=4242),
            "source": pl.repeat(source, frame.height, dtype=pl.Int8, eager=True),
        })

    parts = [keyed(train, 0), keyed(synthetic, 2)] + ([keyed(holdout, 1)] if holdout is not None else [])
    source = pl.col("source")
    groups = (
        pl.concat(parts, how="vertical")
        .group_by("h1", "h2")
        .agg(
            (source == 0).sum().alias("n_t"),
            (source == 1).sum().alias("n_h"),
            (source == 2).sum().alias("n_s"),
        )
    )
    n_t, n_h, n_s = (groups[c].to_numpy().astype(np.int64) for c in ("n_t", "n_h", "n_s"))
    n_syn = synthetic.height
    copies = int(n_s[(n_t == 1) & (n_h == 0)].sum())
    out: dict[str, Any] = {
        "exact_copies": copies,
        "exact_copy_share": copies / n_syn,
        "exact_match_share": float(n_s[n_t >= 1].sum() / n_syn),
    }
    if holdout is None:
        out.update(
            holdout_exact_copy_share=None,
            holdout_exact_match_share=None,
            exact_copies_expected=None,
            exact_copies_allowed=0,
            exact_copies_allowed_at_rate=0,
            exact_copies_beyond_holdout=copies,
            exact_copies_holdout_rows_needed=None,
        )
        return out
    n_hold = holdout.height
    k_h = int(((n_t == 1) & (n_h == 1)).sum())  # leave-one-out: the row's value is otherwise train-unique
    allowed = allowed_copies(k_h, n_syn, n_hold, alpha)
    rate = (k_h + 0.5) / (n_hold + 1.0)  # Jeffreys: a holdout without a hit does not claim a rate of exactly 0
    at_rate = min(allowed, allowed_at_known_rate(rate, n_syn, alpha))
    out.update(
        holdout_exact_copy_share=k_h / n_hold,
        holdout_exact_match_share=float(n_h[n_t >= 1].sum() / n_hold),
        exact_copies_expected=n_syn * k_h / n_hold,
        exact_copies_allowed=allowed,
        exact_copies_allowed_at_rate=at_rate,
        exact_copies_beyond_holdout=max(0, copies - allowed),
        exact_copies_holdout_rows_needed=(holdout_rows_to_resolve(copies, rate, n_syn, n_hold, alpha)
                                          if at_rate < copies <= allowed else None),
    )
    return out


# -- distance to closest record --------------------------------------------------------------------


def _histogram(values: dict[str, np.ndarray], bins: int, upper: float | None = None) -> dict[str, dict[str, list]]:
    """Fixed-edge histograms of several distance sets (values above the top edge land in the last bin)."""
    if upper is None:
        upper = max((float(np.quantile(v, 0.99)) for v in values.values() if len(v)), default=1.0)
        upper = upper if upper > 0 else 1.0
    edges = np.linspace(0.0, upper, bins + 1)
    out = {}
    for name, v in values.items():
        counts, _ = np.histogram(np.clip(v, 0.0, upper), bins=edges)
        out[name] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    return out


def _nndr(d: np.ndarray) -> np.ndarray:
    """nearest / second-nearest distance; two equally near rows (also both at 0) give 1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = d[:, 0] / d[:, 1]
    return np.where(d[:, 1] > 0, ratio, 1.0)


def _share_closer(to_train: np.ndarray, to_holdout: np.ndarray) -> float:
    tie = np.abs(to_train - to_holdout) <= 1e-9
    return float(np.mean((to_train < to_holdout) & ~tie) + 0.5 * np.mean(tie))


# -- the assessment --------------------------------------------------------------------------------


def assess_privacy(
    *,
    real: pl.DataFrame,
    synthetic: pl.DataFrame,
    holdout: pl.DataFrame | None = None,
    config: PrivacyConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> PrivacyResult:
    """Assess how much ``synthetic`` reveals about ``real`` (the training rows); see the module docstring.

    ``holdout`` is real data the generator never saw, with the same columns. Without it only
    the exact copies (against train alone) and the distances to train are measured; the
    holdout-relative figures are None and the attacks are not run (the notes say so).
    ``on_progress(stage, fraction)`` is called as the work advances (fraction in [0, 1]).
    """
    cfg = PrivacyConfig.from_mapping(config)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    progress = on_progress or (lambda stage, fraction: None)
    frames = {"real": to_polars(real, "real"), "synthetic": to_polars(synthetic, "synthetic")}
    if holdout is not None:
        frames["holdout"] = to_polars(holdout, "holdout")
    aligned = _align(frames, cfg.ignore_columns)
    train, syn, hold = aligned["real"], aligned["synthetic"], aligned.get("holdout")
    n_t, n_s, n_h = train.height, syn.height, (hold.height if hold is not None else 0)
    rng_dcr, rng_mia, rng_kde = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3))
    notes: list[str] = []
    sizes: dict[str, int] = {"train_rows": n_t, "synthetic_rows": n_s, "holdout_rows": n_h}

    progress("privacy: exact copies", 0.0)
    metrics: dict[str, Any] = _exact_copies(train, syn, hold, cfg.exact_copy_alpha)
    if hold is None:
        notes.append("No holdout: exact copies are checked against the training rows alone and every copy of a "
                     "train-unique row counts; holdout comparisons and membership-inference attacks are not run.")

    progress("privacy: encoding", 0.05)
    null_columns = sorted({c for f in aligned.values() for c, n in f.null_count().row(0, named=True).items() if n > 0})
    encoder = DistanceEncoder(
        top_k=cfg.top_k_categories, category_scale=cfg.category_scale, null_columns=null_columns
    ).fit(train)
    for column, why in encoder.dropped_.items():
        notes.append(f"Column {column!r} is left out of the distances: {why}.")
    if not encoder.columns_:
        raise InputError("no column can be compared by distance (all are nested, binary or empty)")

    progress("privacy: distance to closest record", 0.1)
    dcr_metrics, histograms = _distance_to_closest(
        train, syn, hold, encoder, cfg, rng_dcr, notes, sizes,
        lambda f: progress("privacy: distance to closest record", 0.1 + 0.3 * f),
    )
    metrics.update(dcr_metrics)

    progress("privacy: membership inference", 0.4)
    attacks: list[AttackResult] = []
    if hold is not None:
        attacks = _membership(train, syn, hold, encoder, cfg, rng_mia, rng_kde, notes, sizes,
                              lambda f: progress("privacy: membership inference", 0.4 + 0.6 * f))
    for name in ATTACKS:
        found = next((a for a in attacks if a.name == name), None)
        metrics[f"mia_{name}_auc"] = found.auc if found else None
        metrics[f"mia_{name}_advantage"] = found.advantage if found else None
        metrics[f"mia_{name}_advantage_lower"] = found.advantage_lower if found else None
        metrics[f"mia_{name}_advantage_upper"] = found.advantage_upper if found else None
        metrics[f"mia_{name}_tpr_at_1pct_fpr"] = found.tpr_at_1pct_fpr if found else None
    metrics["mia_advantage_worst"] = max((a.advantage for a in attacks), default=None)
    metrics["mia_advantage_worst_lower"] = max((a.advantage_lower for a in attacks), default=None)
    metrics["mia_advantage_worst_upper"] = max((a.advantage_upper for a in attacks), default=None)
    if hold is not None:
        per_side = advantage_rows_needed(cfg.mia_threshold, cfg.confidence, len(attacks) or len(ATTACKS))
        metrics["mia_rows_per_side_needed"] = per_side
        metrics["mia_holdout_rows_needed"] = 2 * per_side  # half the holdout are non-members, half the reference

    progress("privacy: done", 1.0)
    return PrivacyResult(metrics=metrics, histograms=histograms, attacks=attacks, notes=notes, sizes=sizes, config=cfg)


def _distance_to_closest(
    train: pl.DataFrame,
    syn: pl.DataFrame,
    hold: pl.DataFrame | None,
    encoder: DistanceEncoder,
    cfg: PrivacyConfig,
    rng: np.random.Generator,
    notes: list[str],
    sizes: dict[str, int],
    step: Callable[[float], None],
) -> tuple[dict[str, Any], dict[str, dict[str, list]]]:
    """DCR share, DCR and NNDR percentiles, and their histograms (equal-size train and holdout samples)."""
    n_t, n_s, n_h = train.height, syn.height, (hold.height if hold is not None else 0)
    n_ref = min(n_t, n_h, cfg.dcr_reference_rows) if hold is not None else min(n_t, cfg.dcr_reference_rows)
    n_q = min(n_s, cfg.dcr_query_rows)
    k = min(2, n_ref)
    train_ref = encoder.transform(train[_sample(rng, n_t, n_ref)])
    syn_q = encoder.transform(syn[_sample(rng, n_s, n_q)])
    st, _ = nearest_neighbors(syn_q, train_ref, k=k, block_rows=cfg.block_rows)
    step(0.33)
    metrics: dict[str, Any] = {
        "dcr_p05_synthetic_to_train": float(np.quantile(st[:, 0], 0.05)),
        "nndr_p05": float(np.quantile(_nndr(st), 0.05)) if k == 2 else None,
        "dcr_share": None,
        "dcr_p05_synthetic_to_holdout": None,
        "dcr_p05_holdout_to_train": None,
        "nndr_p05_holdout": None,
    }
    dist_sets = {"syn_to_train": st[:, 0]}
    nndr_sets = {"nndr_synthetic": _nndr(st)} if k == 2 else {}
    sizes.update(dcr_reference_rows=n_ref, dcr_synthetic_queries=n_q)
    if hold is None:
        if n_ref < n_t or n_q < n_s:
            notes.append(f"Distance to closest record: {n_q:,} of {n_s:,} synthetic rows measured against {n_ref:,} of "
                         f"{n_t:,} training rows (seeded samples).")
    else:
        hold_ref = encoder.transform(hold[_sample(rng, n_h, n_ref)])
        n_hq = min(n_ref, cfg.dcr_query_rows)
        sh, _ = nearest_neighbors(syn_q, hold_ref, k=1, block_rows=cfg.block_rows)
        step(0.66)
        ht, _ = nearest_neighbors(hold_ref[_sample(rng, n_ref, n_hq)], train_ref, k=k, block_rows=cfg.block_rows)
        dist_sets.update(syn_to_holdout=sh[:, 0], holdout_to_train=ht[:, 0])
        metrics.update(
            dcr_share=_share_closer(st[:, 0], sh[:, 0]),
            dcr_p05_synthetic_to_holdout=float(np.quantile(sh[:, 0], 0.05)),
            dcr_p05_holdout_to_train=float(np.quantile(ht[:, 0], 0.05)),
        )
        if k == 2:
            metrics["nndr_p05_holdout"] = float(np.quantile(_nndr(ht), 0.05))
            nndr_sets["nndr_holdout"] = _nndr(ht)
        sizes.update(dcr_holdout_queries=n_hq)
        if n_ref < max(n_t, n_h) or n_q < n_s:
            notes.append(
                f"Distance to closest record: {n_q:,} of {n_s:,} synthetic rows measured against {n_ref:,} training "
                f"and {n_ref:,} holdout rows (seeded samples of equal size, so that ~0.5 is the ideal DCR share)."
            )
    step(1.0)
    histograms = _histogram(dist_sets, cfg.histogram_bins)
    histograms.update(_histogram(nndr_sets, cfg.histogram_bins, upper=1.0))
    return metrics, histograms


def _sample(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Sorted row positions of a seeded sample without replacement (all rows when size >= n)."""
    return np.sort(rng.choice(n, size=size, replace=False)) if size < n else np.arange(n)


def _membership(
    train: pl.DataFrame,
    syn: pl.DataFrame,
    hold: pl.DataFrame,
    encoder: DistanceEncoder,
    cfg: PrivacyConfig,
    rng_mia: np.random.Generator,
    rng_kde: np.random.Generator,
    notes: list[str],
    sizes: dict[str, int],
    step: Callable[[float], None],
) -> list[AttackResult]:
    n_t, n_s, n_h = train.height, syn.height, hold.height
    # The holdout splits into non-members and a disjoint reference of unseen real rows.
    n_side = min(cfg.mia_rows_per_side, n_h // 2, n_t)
    if n_side < cfg.mia_min_rows_per_side:
        notes.append(
            f"Membership inference not run: the holdout ({n_h:,} rows) and train ({n_t:,} rows) allow only "
            f"{n_side:,} records per side, fewer than mia_min_rows_per_side={cfg.mia_min_rows_per_side}."
        )
        return []
    order = rng_mia.permutation(n_h)
    nonmember_rows = np.sort(order[:n_side])
    reference_rows = np.sort(order[n_side : n_side + min(n_h - n_side, cfg.mia_reference_rows)])
    member_rows = _sample(rng_mia, n_t, n_side)
    syn_rows = _sample(rng_mia, n_s, min(n_s, cfg.mia_synthetic_rows))
    sizes.update(mia_members=n_side, mia_nonmembers=n_side, mia_reference_rows=len(reference_rows),
                 mia_synthetic_rows=len(syn_rows))
    n_kde = min(len(syn_rows), len(reference_rows), cfg.kde_rows)
    density = (
        f"the density-ratio attack uses {n_kde:,} rows per density in at most {cfg.kde_dims} principal components"
        if n_kde >= MIN_KDE_ROWS
        else f"the density-ratio attack is not run ({n_kde} rows per density, fewer than {MIN_KDE_ROWS})"
    )
    notes.append(
        f"Membership inference: {n_side:,} members (training rows) against {n_side:,} non-members (holdout rows); "
        f"the attacks search {len(syn_rows):,} of {n_s:,} synthetic rows and compare with {len(reference_rows):,} "
        f"other holdout rows; {density}; the advantages' bounds are {cfg.confidence:.0%} confidence intervals "
        "(Kolmogorov-Smirnov margins, see engine.quality.uncertainty)."
    )
    scores = attack_scores(
        encoder.transform(train[member_rows]),
        encoder.transform(hold[nonmember_rows]),
        encoder.transform(syn[syn_rows]),
        encoder.transform(hold[reference_rows]),
        kde_dims=cfg.kde_dims,
        kde_rows=cfg.kde_rows,
        rng=rng_kde,
        block_rows=cfg.block_rows,
        on_step=lambda f: step(0.9 * f),
    )
    results = [
        evaluate_attack(name, m, n, confidence=cfg.confidence, attacks=len(scores))
        for name, (m, n) in scores.items()
    ]
    step(1.0)
    return results
