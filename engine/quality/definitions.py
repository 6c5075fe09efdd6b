"""What every number in a quality report means, and the version of that meaning.

Each report carries ``metrics_version`` and, per metric, its own version and definition, so
that two reports are only compared when they measured the same thing. Change a definition
(a bin count, a null rule, an attack) and bump its version *and* ``METRICS_VERSION``;
``QualityReport.compare`` refuses reports whose versions differ.
"""

from __future__ import annotations

METRICS_VERSION = "1.1"
REPORT_SCHEMA = "doppel.quality_report"
REPORT_SCHEMA_VERSION = 1

DEFINITIONS: dict[str, dict[str, str]] = {
    "ks_distance": {
        "version": "1",
        "text": "Two-sample Kolmogorov-Smirnov statistic max|F_real - F_syn| of a numeric or datetime column; "
        "null counts as a value below all others, so a changed null share adds to the distance. "
        "Without nulls, 1 - KS equals sdmetrics' KSComplement.",
    },
    "tv_distance": {
        "version": "1",
        "text": "Total-variation distance 0.5 * sum|p_real - p_syn| over the categories of a categorical or "
        "boolean column, null being one category. Without nulls, 1 - TV equals sdmetrics' TVComplement.",
    },
    "pearson": {"version": "1", "text": "Pearson's r of a numeric pair on the rows where both are present."},
    "spearman": {
        "version": "1",
        "text": "Pearson's r of the column ranks (each column ranked over its non-null values, ties averaged).",
    },
    "correlation_similarity": {
        "version": "1",
        "text": "1 - |r_real - r_syn| / 2 for Pearson or Spearman (sdmetrics' CorrelationSimilarity).",
    },
    "cramers_v": {"version": "1", "text": "Cramér's V of a categorical pair with the Bergsma-Wicher bias correction; null is a category."},
    "correlation_ratio": {
        "version": "1",
        "text": "Correlation ratio eta of a numeric-categorical pair, on the numeric column's ranks, adjusted "
        "for the number of categories like an adjusted R^2.",
    },
    "pair_difference": {
        "version": "1",
        "text": "Largest |real - synthetic| over a pair's association measures (Pearson and Spearman for "
        "numeric pairs, Cramér's V for categorical pairs, correlation ratio for mixed pairs).",
    },
    "contingency_similarity": {
        "version": "1",
        "text": "1 - TV distance of a pair's joint distribution; numeric columns in 10 equal-width bins over "
        "the real range, null a category (sdmetrics' ContingencySimilarity).",
    },
    "binned_accuracy": {
        "version": "1",
        "text": "mostlyai-qa accuracy: columns binned at real deciles (top-10 categories + other, null a bin); "
        "1 - TV of binned univariate, bivariate and (sampled) trivariate distributions, averaged per level; "
        "overall = mean of the three levels.",
    },
    "accuracy_ceiling": {
        "version": "1",
        "text": "The same binned accuracy with the holdout in place of the synthetic table: what a fresh real "
        "sample of the holdout's size attains.",
    },
    "tstr": {
        "version": "1",
        "text": "Train-synthetic-test-real: HistGradientBoosting (random_state=0) trained on the synthetic "
        "table, scored on the holdout (AUC, F1, accuracy; or R^2, MAE).",
    },
    "trtr": {"version": "1", "text": "Train-real-test-real: the same learner trained on the real table, scored on the same rows."},
    "utility_ratio": {"version": "1", "text": "TSTR / TRTR of the primary metric (AUC for classification, R^2 for regression)."},
    "feature_rank_agreement": {
        "version": "1",
        "text": "Spearman correlation between the permutation importances of the TSTR and TRTR models.",
    },
    "exact_copies": {
        "version": "1",
        "text": "Synthetic rows equal to a training row whose value occurs once in train + holdout; the gate "
        "counts those beyond what the holdout's own rate (with a 99% noise allowance) explains.",
    },
    "dcr_share": {
        "version": "1",
        "text": "Share of synthetic rows closer to a training sample than to an equally large holdout sample "
        "(0.5 ideal, 1.0 = on top of training rows).",
    },
    "mia_advantage": {
        "version": "2",
        "text": "Membership inference: max(TPR - FPR) of the worst attack, members = training rows, "
        "non-members = holdout rows, with a confidence interval: lower = advantage - sqrt(ln(attacks / alpha) "
        "/ (2 n_eff)) (Kolmogorov-Smirnov tail, Bonferroni over attacks), upper = advantage + z / (2 sqrt(n_eff)), "
        "n_eff = members x non-members / (members + non-members).",
    },
    "error_bars": {
        "version": "1",
        "text": "Each gate's [lower, upper] confidence interval: it blocks when lower fails the threshold, passes "
        "when upper passes it, and is inconclusive otherwise (never a block). KS/TV column distances and "
        "association differences as in engine.quality.uncertainty; exact copies: lower = copies beyond the "
        "holdout's allowance, upper = copies beyond what its rate would allow if known exactly.",
    },
    "score_fidelity": {
        "version": "1",
        "text": "mean(1 - mean column distance, mean pair similarity, mean contingency similarity); pair "
        "similarity = 1 - difference / 2 for signed measures (Pearson, Spearman), 1 - difference otherwise.",
    },
    "score_utility": {"version": "1", "text": "TSTR / TRTR of the primary metric, clipped to [0, 1]."},
    "score_privacy": {
        "version": "1",
        "text": "min(1 - MIA advantage upper bound, 1 - exact copies beyond the holdout rate / synthetic rows, "
        "1 - 2 * max(0, DCR share - 0.5)), over the parts that were measured.",
    },
    "score_overall": {"version": "1", "text": "mean of the pillar scores that were measured."},
}
