"""Fidelity: does the synthetic table have the real table's distributions and relationships?

Definitions (versioned in ``engine.quality.definitions``):

Per column
    numeric and datetime: the two-sample Kolmogorov-Smirnov statistic D = max |F_real - F_syn|
    over all values. Null is treated as a value below every other one, so the null share is
    compared as its own category: D = max(|null_real - null_syn|, max_x |F_real(x) - F_syn(x)|)
    with F counting nulls. Without nulls this is the plain KS statistic and 1 - D is
    sdmetrics' KSComplement (which drops nulls instead, so a column whose nulls vanished in the
    synthetic table still scores 1 there and does not here).
    categorical and boolean: the total-variation distance 0.5 * sum |p_real - p_syn| over all
    categories, null being one of them (sdmetrics' TVComplement = 1 - TV drops nulls instead).

Pairs
    association measures (see ``engine.quality.associations``): Pearson and Spearman for
    numeric pairs, bias-corrected Cramér's V for categorical pairs, the correlation ratio for
    mixed pairs; a pair's *difference* is the largest |real - synthetic| among its measures.
    The correlation similarity of a numeric pair is 1 - |r_real - r_syn| / 2 (sdmetrics'
    CorrelationSimilarity, Pearson or Spearman).
    contingency similarity: 1 - TV distance between the two joint distributions, numeric
    columns cut into 10 equal-width bins over the real range, nulls a category (sdmetrics'
    ContingencySimilarity with ``continuous_column_names`` set to the numeric columns).

Binned accuracy (as mostlyai-qa defines it)
    Columns are discretised with the *accuracy bins* of ``engine.quality.binning`` (deciles
    of the real values, top-10 real categories plus "other", null its own bin). Univariate
    accuracy of a column = 1 - TV(real, synthetic) of its binned distribution; bivariate
    accuracy of a pair = 1 - TV of the binned 2-d joint distribution; trivariate likewise on
    column triples (a seeded sample of at most ``max_triples``). Each level is the mean over
    its columns / pairs / triples; the overall accuracy is the mean of the three levels.
    A second real sample does not score 1 either (sampling noise), so the same numbers are
    computed for the holdout against the real table: that is the attainable maximum
    ("ceiling"), and the report states the synthetic table's distance from it.

Error bars (``engine.quality.uncertainty``)
    Each column distance and each pair's association difference gets a ``confidence``
    interval from the real and synthetic row counts: ``distance_lower`` / ``distance_upper``
    per column, ``difference_lower`` / ``difference_upper`` per pair; the lower ends allow
    for taking the largest over all columns (pair measures), the upper ends for one. The
    gates block only on a credible excess and pass only on a credible margin.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from engine.quality.associations import CentredColumn, correlation_ratio, cramers_v, pearson_matrix, rank_columns
from engine.quality.binning import Binned, bin_all, joint_counts, tvd
from engine.quality.columns import Prepared, Table
from engine.quality.config import FidelityConfig
from engine.quality.uncertainty import (
    association_se,
    cramers_v_se,
    difference_bounds,
    distance_bounds,
    without_rare_levels,
)

ProgressCallback = Callable[[str, float], None]


# ----------------------------------------------------------------------------- per column


def ks_distance(real: np.ndarray, synthetic: np.ndarray, *, null_as_category: bool = True) -> float:
    """Two-sample KS statistic of two float arrays (NaN = null); see the module docstring.

    ``null_as_category=False`` drops nulls first, which is sdmetrics' KSComplement convention
    (it returns NaN when a side has no values left).
    """
    r_null = np.isnan(real)
    s_null = np.isnan(synthetic)
    r = np.sort(real[~r_null])
    s = np.sort(synthetic[~s_null])
    if null_as_category:
        nr = float(r_null.mean()) if real.size else 0.0
        ns = float(s_null.mean()) if synthetic.size else 0.0
    else:
        if r.size == 0 or s.size == 0:
            return float("nan")
        nr = ns = 0.0
    gap = abs(nr - ns)
    if r.size == 0 or s.size == 0:
        return gap
    grid = np.concatenate([r, s])
    f_r = nr + (1.0 - nr) * np.searchsorted(r, grid, side="right") / r.size
    f_s = ns + (1.0 - ns) * np.searchsorted(s, grid, side="right") / s.size
    return float(max(gap, np.abs(f_r - f_s).max()))


def tv_distance(real_codes: np.ndarray, synthetic_codes: np.ndarray, n_levels: int, *, null_code: int | None = None) -> float:
    """Total-variation distance of two code arrays; with ``null_code`` given, nulls are dropped first."""
    p = np.bincount(real_codes, minlength=n_levels)
    q = np.bincount(synthetic_codes, minlength=n_levels)
    if null_code is not None:
        p[null_code] = 0
        q[null_code] = 0
    return tvd(p, q)


def _column_distance(prep: Prepared, name: str, kind: str, other: Table) -> float:
    if kind == "categorical":
        n_levels = len(prep.categories[name]) + 1
        return tv_distance(prep.real.codes[name], other.codes[name], n_levels)
    return ks_distance(prep.real.values[name], other.values[name])


# ----------------------------------------------------------------------------- pairs


def _numeric_names(prep: Prepared) -> list[str]:
    return [s.name for s in prep.compared if s.kind in ("numeric", "datetime")]


def _correlations(table: Table, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson and Spearman matrices of the numeric columns, and their ranks (n x p)."""
    if not names:
        return np.empty((0, 0)), np.empty((0, 0)), np.empty((table.n_rows, 0))
    x = np.column_stack([table.values[n] for n in names])
    ranks = rank_columns(x)
    return pearson_matrix(x), pearson_matrix(ranks), ranks


def _pairs(names: list[str], max_pairs: int, rng: np.random.Generator) -> tuple[list[tuple[int, int]], int]:
    m = len(names)
    total = m * (m - 1) // 2
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    if total > max_pairs:
        keep = np.sort(rng.choice(total, size=max_pairs, replace=False))
        pairs = [pairs[k] for k in keep]
    return pairs, total


def _triples(m: int, max_triples: int, rng: np.random.Generator) -> tuple[list[tuple[int, int, int]], int]:
    total = m * (m - 1) * (m - 2) // 6
    if total <= max_triples:
        return list(itertools.combinations(range(m), 3)), total
    chosen: set[tuple[int, int, int]] = set()
    while len(chosen) < max_triples:
        draw = np.sort(rng.choice(m, size=3, replace=False))
        chosen.add((int(draw[0]), int(draw[1]), int(draw[2])))
    return sorted(chosen), total


def _mean(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(clean)) if clean else None


# ----------------------------------------------------------------------------- distributions


def _iso(value: float, kind: str) -> Any:
    if kind != "datetime":
        return float(value)
    return (datetime(1970, 1, 1) + timedelta(microseconds=float(value))).isoformat()


def _distribution(prep: Prepared, name: str, kind: str, bins: int) -> dict[str, Any]:
    """Binned real/synthetic shares of one column for the report's distribution plot."""
    tables = {"real": prep.real, "synthetic": prep.synthetic}
    if kind == "categorical":
        cats = prep.categories[name]
        top = min(len(cats), 20)
        labels = cats[:top]
        out: dict[str, Any] = {"kind": kind, "labels": list(labels)}
        for role, table in tables.items():
            codes = table.codes[name]
            counts = np.bincount(codes, minlength=len(cats) + 1).astype(np.float64) / max(codes.size, 1)
            shares = list(counts[:top])
            if len(cats) > top:
                shares.append(float(counts[top : len(cats)].sum()))
            shares.append(float(counts[len(cats)]))
            out[role] = [float(v) for v in shares]
        if len(cats) > top:
            out["labels"].append("(other)")
        out["labels"].append("(null)")
        return out
    real = prep.real.values[name]
    finite = real[~np.isnan(real)]
    if finite.size == 0:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = (float(v) for v in np.quantile(finite, [0.01, 0.99]))
        if hi <= lo:
            lo, hi = float(finite.min()), float(finite.max())
        if hi <= lo:
            hi = lo + 1.0
    integral = finite.size > 0 and bool(np.all(finite == np.round(finite)))
    if integral and kind == "numeric" and hi - lo + 1 <= bins:
        edges = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0, 1.0)
    else:
        edges = np.linspace(lo, hi, bins + 1)
    out = {"kind": kind, "edges": [_iso(e, kind) for e in edges]}
    for role, table in tables.items():
        x = table.values[name]
        valid = x[~np.isnan(x)]
        counts, _ = np.histogram(np.clip(valid, edges[0], edges[-1]), bins=edges)
        out[role] = [float(v) for v in counts / max(x.size, 1)]
        out[f"null_{role}"] = float(np.isnan(x).mean()) if x.size else 0.0
    return out


# ----------------------------------------------------------------------------- the pillar


def assess_fidelity(
    prep: Prepared,
    *,
    config: FidelityConfig,
    seed: int = 0,
    confidence: float = 0.95,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """All fidelity metrics of ``prep.synthetic`` against ``prep.real`` (and the holdout's ceiling).

    Returns a JSON-safe dict: ``columns`` (per column), ``pairs`` (association matrices and the
    largest differences), ``contingency``, ``accuracy`` (with ``ceiling`` when a holdout is
    given), ``distributions`` (for plots), ``summary`` (the numbers the gates read, with their
    ``confidence`` intervals), ``sizes`` (the rows they were measured on) and ``notes``.
    """
    rng = np.random.default_rng(seed)
    boot_rng = np.random.default_rng([seed, 1])  # resampled tables of the error bars; apart from the pair sampling
    notes: list[str] = []
    hold = prep.holdout

    def progress(step: str, fraction: float) -> None:
        if on_progress is not None:
            on_progress(step, fraction)

    # per column -----------------------------------------------------------------------
    acc_bins = bin_all(prep, scheme="accuracy", bins=config.bins, top_k=config.top_k)
    columns = []
    for spec in prep.compared:
        name = spec.name
        binned = acc_bins[name]
        real_counts = np.bincount(binned.codes["real"], minlength=binned.n_levels)
        entry: dict[str, Any] = {
            "name": name,
            "kind": spec.kind,
            "metric": "tv" if spec.kind == "categorical" else "ks",
            "distance": _column_distance(prep, name, spec.kind, prep.synthetic),
            "null_share_real": _null_share(prep.real, name, spec.kind, prep),
            "null_share_synthetic": _null_share(prep.synthetic, name, spec.kind, prep),
            "accuracy": 1.0 - tvd(real_counts, np.bincount(binned.codes["synthetic"], minlength=binned.n_levels)),
        }
        if hold is not None:
            entry["holdout_distance"] = _column_distance(prep, name, spec.kind, hold)
            entry["accuracy_ceiling"] = 1.0 - tvd(real_counts, np.bincount(binned.codes["holdout"], minlength=binned.n_levels))
        entry["similarity"] = 1.0 - entry["distance"]
        columns.append(entry)
    n_real, n_syn = prep.real.n_rows, prep.synthetic.n_rows
    for spec, entry in zip(prep.compared, columns):
        shares = None
        if spec.kind == "categorical":
            n_levels = len(prep.categories[spec.name]) + 1
            pooled = (np.bincount(prep.real.codes[spec.name], minlength=n_levels)
                      + np.bincount(prep.synthetic.codes[spec.name], minlength=n_levels))
            shares = pooled / max(pooled.sum(), 1)
        entry["distance_lower"], entry["distance_upper"] = distance_bounds(
            entry["distance"], n_real, n_syn, confidence, len(columns), shares=shares)
    progress("fidelity: columns", 0.2)

    # pairs: association measures ------------------------------------------------------------
    names = [s.name for s in prep.compared]
    kinds = {s.name: s.kind for s in prep.compared}
    index = {n: i for i, n in enumerate(names)}
    num_names = _numeric_names(prep)
    num_index = {n: i for i, n in enumerate(num_names)}
    corr = {t.role: _correlations(t, num_names) for t in prep.tables()}
    centred = {role: [CentredColumn(c[2][:, k]) for k in range(len(num_names))] for role, c in corr.items()}
    cont_bins = bin_all(prep, scheme="contingency", bins=config.contingency_bins, top_k=config.max_categories)
    pairs, total_pairs = _pairs(names, config.max_pairs, rng)
    if len(pairs) < total_pairs:
        notes.append(
            f"pairwise metrics on a seeded sample of {len(pairs):,} of the {total_pairs:,} column pairs "
            "(Pearson and Spearman cover every numeric pair)"
        )
    if any(len(c) > config.max_categories for c in prep.categories.values()):
        notes.append(
            f"Cramér's V and contingency tables keep the {config.max_categories} most frequent real "
            "categories of a column and pool the rest"
        )
    m = len(names)
    roles = [t.role for t in prep.tables()]
    assoc = {role: np.full((m, m), np.nan) for role in roles}
    for role in roles:
        np.fill_diagonal(assoc[role], 1.0)
    measure_of = [["" for _ in range(m)] for _ in range(m)]
    for a, b in itertools.combinations(num_names, 2):
        i, j = index[a], index[b]
        for role in roles:
            assoc[role][i, j] = assoc[role][j, i] = corr[role][0][num_index[a], num_index[b]]
        measure_of[i][j] = measure_of[j][i] = "pearson"

    pair_rows = []
    contingency_scores = []
    bivariate = {role: [] for role in roles if role != "real"}
    for done, (i, j) in enumerate(pairs):
        a, b = names[i], names[j]
        ka, kb = kinds[a], kinds[b]
        ca, cb = cont_bins[a], cont_bins[b]
        tables = {role: joint_counts(ca.codes[role], ca.n_levels, cb.codes[role], cb.n_levels) for role in roles}
        cont_sim = 1.0 - tvd(tables["real"], tables["synthetic"])
        contingency_scores.append(cont_sim)
        row: dict[str, Any] = {"columns": [a, b], "contingency_similarity": cont_sim}
        if hold is not None:
            row["holdout_contingency_similarity"] = 1.0 - tvd(tables["real"], tables["holdout"])
        measures: dict[str, dict[str, float]] = {}
        if ka != "categorical" and kb != "categorical":
            for k, label in ((0, "pearson"), (1, "spearman")):
                measures[label] = {role: float(corr[role][k][num_index[a], num_index[b]]) for role in roles}
        elif ka == "categorical" and kb == "categorical":
            shape = (ca.n_levels, cb.n_levels)
            measures["cramers_v"] = {role: cramers_v(tables[role].reshape(shape)) for role in roles}
        else:
            num, cat = (a, b) if kb == "categorical" else (b, a)
            cc = cont_bins[cat]
            measures["correlation_ratio"] = {
                role: correlation_ratio(centred[role][num_index[num]], cc.codes[role], cc.n_levels) for role in roles
            }
        if "pearson" not in measures:
            label, vals = next(iter(measures.items()))
            for role in roles:
                assoc[role][i, j] = assoc[role][j, i] = vals[role]
            measure_of[i][j] = measure_of[j][i] = label
        alternative: dict[str, float] = {}
        if "cramers_v" in measures:
            shape = (ca.n_levels, cb.n_levels)
            se = {"cramers_v": float(np.hypot(*(cramers_v_se(tables[role].reshape(shape), boot_rng)
                                                for role in ("real", "synthetic"))))}
            common = {role: cramers_v(without_rare_levels(tables[role].reshape(shape))) for role in ("real", "synthetic")}
            alternative["cramers_v"] = abs(common["real"] - common["synthetic"])
        else:
            se = {label: association_se(vals["real"], vals["synthetic"], n_real, n_syn) for label, vals in measures.items()}
        row["measures"] = {
            label: {
                "real": vals["real"],
                "synthetic": vals["synthetic"],
                "difference": abs(vals["real"] - vals["synthetic"]),
                "se": se[label],
                **({"difference_without_rare": alternative[label]} if label in alternative else {}),
                **({"holdout_difference": abs(vals["real"] - vals["holdout"])} if hold is not None else {}),
            }
            for label, vals in measures.items()
        }
        worst_label = max(row["measures"], key=lambda k: row["measures"][k]["difference"])
        row["measure"] = worst_label
        row["difference"] = row["measures"][worst_label]["difference"]
        if hold is not None:
            row["holdout_difference"] = max(v["holdout_difference"] for v in row["measures"].values())
        signed = worst_label in ("pearson", "spearman")
        row["similarity"] = 1.0 - row["difference"] / (2.0 if signed else 1.0)
        pair_rows.append(row)

        # binned bivariate accuracy on the accuracy bins
        xa, xb = acc_bins[a], acc_bins[b]
        real_joint = joint_counts(xa.codes["real"], xa.n_levels, xb.codes["real"], xb.n_levels)
        for role in bivariate:
            other = joint_counts(xa.codes[role], xa.n_levels, xb.codes[role], xb.n_levels)
            bivariate[role].append(1.0 - tvd(real_joint, other))
        if on_progress is not None and done % 200 == 0:
            progress("fidelity: pairs", 0.2 + 0.6 * done / max(len(pairs), 1))

    # trivariate accuracy on a sample of triples -----------------------------------------------
    triples, total_triples = _triples(m, config.max_triples, rng)
    trivariate = {role: [] for role in bivariate}
    for i, j, k in triples:
        xa, xb, xc = acc_bins[names[i]], acc_bins[names[j]], acc_bins[names[k]]
        real_joint = _triple_counts(xa, xb, xc, "real")
        for role in trivariate:
            trivariate[role].append(1.0 - tvd(real_joint, _triple_counts(xa, xb, xc, role)))
    if 0 < len(triples) < total_triples:
        notes.append(f"trivariate accuracy on a seeded sample of {len(triples):,} of the {total_triples:,} column triples")
    progress("fidelity: triples", 0.9)

    accuracy = _accuracy_block([c["accuracy"] for c in columns], bivariate.get("synthetic", []), trivariate.get("synthetic", []))
    accuracy["triples_sampled"] = len(triples)
    accuracy["triples_total"] = total_triples
    if hold is not None:
        ceiling = _accuracy_block([c["accuracy_ceiling"] for c in columns], bivariate["holdout"], trivariate["holdout"])
        accuracy["ceiling"] = ceiling
        accuracy["ceiling_rows"] = hold.n_rows
        accuracy["gap"] = {
            level: (None if ceiling[level] is None or accuracy[level] is None else ceiling[level] - accuracy[level])
            for level in ("univariate", "bivariate", "trivariate", "overall")
        }
        if ceiling["overall"]:
            accuracy["relative"] = accuracy["overall"] / ceiling["overall"] if accuracy["overall"] is not None else None
        if prep.synthetic.n_rows > 2 * hold.n_rows:
            notes.append(
                f"the accuracy ceiling comes from {hold.n_rows:,} holdout rows; the {prep.synthetic.n_rows:,} "
                "synthetic rows carry less sampling noise, so the synthetic accuracy may exceed it"
            )
    else:
        notes.append("no holdout: the attainable accuracy (ceiling) is not estimated")

    # error bars of the pair differences: the lower ends allow for the largest of every measure compared
    comparisons = sum(len(r["measures"]) for r in pair_rows)
    for r in pair_rows:
        bounds = [difference_bounds(v["difference"], v["se"], confidence, comparisons,
                                    alternative=v.get("difference_without_rare")) for v in r["measures"].values()]
        r["difference_lower"] = max(b[0] for b in bounds)
        r["difference_upper"] = max(b[1] for b in bounds)

    # summaries -----------------------------------------------------------------------------
    pair_rows.sort(key=lambda r: r["difference"], reverse=True)
    distances = [c["distance"] for c in columns]
    worst_col = max(columns, key=lambda c: c["distance"])
    diff_matrix = np.abs(assoc["real"] - assoc["synthetic"])
    summary: dict[str, Any] = {
        "max_column_distance": max(distances),
        "max_column_distance_lower": max(c["distance_lower"] for c in columns),
        "max_column_distance_upper": max(c["distance_upper"] for c in columns),
        "mean_column_distance": float(np.mean(distances)),
        "worst_column": worst_col["name"],
        "column_similarity": 1.0 - float(np.mean(distances)),
        "max_pair_difference": pair_rows[0]["difference"] if pair_rows else 0.0,
        "max_pair_difference_lower": max((r["difference_lower"] for r in pair_rows), default=0.0),
        "max_pair_difference_upper": max((r["difference_upper"] for r in pair_rows), default=0.0),
        "worst_pair": pair_rows[0]["columns"] if pair_rows else None,
        "worst_pair_measure": pair_rows[0]["measure"] if pair_rows else None,
        "correlation_similarity": _mean([r["similarity"] for r in pair_rows]),
        "contingency_similarity": _mean(contingency_scores),
        "accuracy": accuracy["overall"],
        "confidence": confidence,
    }
    if hold is not None:
        summary["holdout_max_column_distance"] = max(c["holdout_distance"] for c in columns)
        summary["holdout_max_pair_difference"] = max((r["holdout_difference"] for r in pair_rows), default=0.0)
    progress("fidelity: done", 1.0)
    return {
        "summary": summary,
        "columns": columns,
        "pairs": {
            "compared": len(pairs),
            "total": total_pairs,
            "largest_differences": pair_rows[: config.largest_differences],
            "all": [
                {"columns": r["columns"], "measure": r["measure"], "difference": r["difference"],
                 "difference_lower": r["difference_lower"], "difference_upper": r["difference_upper"],
                 "contingency_similarity": r["contingency_similarity"]}
                for r in pair_rows
            ],
        },
        "matrices": {
            "columns": names,
            "measure": measure_of,
            **{role: _matrix_json(assoc[role]) for role in roles},
            "difference": _matrix_json(diff_matrix),
        },
        "contingency": {
            "mean": _mean(contingency_scores),
            "min": min(contingency_scores) if contingency_scores else None,
        },
        "accuracy": accuracy,
        "sizes": {"real_rows": n_real, "synthetic_rows": n_syn, "columns": len(columns), "pair_measures": comparisons},
        "distributions": {s.name: _distribution(prep, s.name, s.kind, config.distribution_bins) for s in prep.compared},
        "notes": notes,
    }


def _null_share(table: Table, name: str, kind: str, prep: Prepared) -> float:
    if table.n_rows == 0:
        return 0.0
    if kind == "categorical":
        return float((table.codes[name] == len(prep.categories[name])).mean())
    return float(np.isnan(table.values[name]).mean())


def _triple_counts(xa: Binned, xb: Binned, xc: Binned, role: str) -> np.ndarray:
    code = (xa.codes[role].astype(np.int64) * xb.n_levels + xb.codes[role]) * xc.n_levels + xc.codes[role]
    return np.bincount(code, minlength=xa.n_levels * xb.n_levels * xc.n_levels)


def _accuracy_block(univariate: list[float], bivariate: list[float], trivariate: list[float]) -> dict[str, Any]:
    levels = {"univariate": _mean(univariate), "bivariate": _mean(bivariate), "trivariate": _mean(trivariate)}
    present = [v for v in levels.values() if v is not None]
    return {**levels, "overall": float(np.mean(present)) if present else None}


def _matrix_json(matrix: np.ndarray) -> list[list[float | None]]:
    return [[None if not np.isfinite(v) else float(v) for v in row] for row in matrix]
