"""Known-good and known-bad "synthetic" tables for calibrating the quality gates (issue 22).

Each case is a function ``case(split, seed) -> polars.DataFrame`` that builds a table of
``split.unseen.height`` rows from a seeded, disjoint split of a real shared dataset (training
rows, a holdout of 20 % of the training size, and unseen real rows). ``EXPECTED`` is the one
table of what every gate must say about every case, with the reason; ``judge`` turns a gate's
status into an outcome of the confusion table. The bench (tests/bench/bench_gates.py) and the
CI slice (tests/calibration/test_gate_calibration.py) both read this module, so the slice and
the full suite judge with the same expectations.

Two cases train a model (``MODEL_CASES``: a differentially private model at epsilon 1, and a
model trained for many epochs on few rows, which applies only to 1,000 training rows; see
``not_applicable``); their functions take a ``cache`` folder where the sampled output is kept
between runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

import engine
from tests.conftest import DATASETS

# -- the datasets -------------------------------------------------------------------------------


def _read_plain(file: str) -> Callable[[], pl.DataFrame]:
    return lambda: pl.read_csv(Path(DATASETS) / file)


_READERS: dict[str, Callable[[], pl.DataFrame]] = {
    # engine.read strips adult's leading spaces and reads '?' as null
    "adult": lambda: engine.read(Path(DATASETS) / "adult.csv"),
    "california": _read_plain("california_housing.csv.gz"),
    "mushroom": lambda: engine.read(Path(DATASETS) / "mushroom.csv"),
    "nyc": lambda: pl.read_csv(Path(DATASETS) / "nyc_airbnb_2019.csv.gz", try_parse_dates=True),
}
TARGETS = {"adult": "income", "california": "median_house_value", "mushroom": "class", "nyc": "price"}
DATASET_NAMES = tuple(_READERS)
HOLDOUT_SHARE = 0.2  # the platform sets aside 20 % of the training size
MIN_UNSEEN_ROWS = 1_000  # below this many unseen rows left over, a training size is not supplied


@functools.lru_cache(maxsize=None)
def load(name: str) -> pl.DataFrame:
    """One shared dataset, read once per process."""
    if name not in _READERS:
        raise ValueError(f"unknown dataset {name!r}; datasets: {', '.join(DATASET_NAMES)}")
    return _READERS[name]()


@dataclass(frozen=True)
class Split:
    """Disjoint real rows: what the generator trained on, the holdout, and more unseen rows."""

    dataset: str
    train: pl.DataFrame
    holdout: pl.DataFrame
    unseen: pl.DataFrame

    @property
    def target(self) -> str:
        return TARGETS[self.dataset]

    @property
    def rows(self) -> int:
        """Rows of every synthetic table built from this split (the unseen rows' count)."""
        return self.unseen.height


def supplied_rows(name: str, n_train: int) -> int | None:
    """Unseen rows a training size leaves (at most ``n_train``), or None when under MIN_UNSEEN_ROWS."""
    left = load(name).height - n_train - int(n_train * HOLDOUT_SHARE)
    return min(n_train, left) if left >= MIN_UNSEEN_ROWS else None


@functools.lru_cache(maxsize=None)
def split(name: str, n_train: int, seed: int = 0) -> Split:
    """Seeded disjoint split: ``n_train`` training rows, 20 % of that as holdout, then unseen rows.

    The unseen rows number ``n_train`` where the dataset has enough rows, else what is left
    (at least MIN_UNSEEN_ROWS; ValueError otherwise, naming how many rows the dataset has).
    """
    m = supplied_rows(name, n_train)
    frame = load(name)
    if m is None:
        raise ValueError(f"{name} has {frame.height:,} rows: too few for {n_train:,} training rows, a "
                         f"{HOLDOUT_SHARE:.0%} holdout and {MIN_UNSEEN_ROWS:,} unseen rows")
    n_hold = int(n_train * HOLDOUT_SHARE)
    order = np.random.default_rng(seed).permutation(frame.height)
    return Split(name, frame[order[:n_train]], frame[order[n_train:n_train + n_hold]],
                 frame[order[n_train + n_hold:n_train + n_hold + m]])


# -- building blocks ----------------------------------------------------------------------------


def _training_rows(s: Split, rng: np.random.Generator, k: int) -> pl.DataFrame:
    """``k`` distinct training rows in random order."""
    return s.train[rng.choice(s.train.height, size=k, replace=False)]


def _replace_rows(base: pl.DataFrame, rows: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``base`` with ``rows.height`` of its rows, at random positions, replaced by ``rows``."""
    keep = np.sort(rng.choice(base.height, size=base.height - rows.height, replace=False))
    mixed = pl.concat([base[keep], rows.select(base.columns).cast(base.schema)], how="vertical")
    return mixed[rng.permutation(mixed.height)]


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


# -- the cases ----------------------------------------------------------------------------------


def unseen(s: Split, seed: int) -> pl.DataFrame:
    """Real rows the generator never saw: the ideal synthetic table."""
    return s.unseen


def copy(s: Split, seed: int) -> pl.DataFrame:
    """Training rows verbatim."""
    return _training_rows(s, np.random.default_rng(seed), s.rows)


def noisy_copy(s: Split, seed: int, share: float = 0.01) -> pl.DataFrame:
    """Training rows with 1 % noise: numbers + N(0, 1 % of the column's std); 1 % of other cells redrawn.

    Redrawn cells take a random training value of their column, so an all-categorical table
    (mushroom) still differs from a plain copy in about one row in five.
    """
    rng = np.random.default_rng(seed)
    rows = _training_rows(s, rng, s.rows)
    out = []
    for name, dtype in rows.schema.items():
        if _is_numeric(dtype):
            std = float(s.train[name].cast(pl.Float64).std() or 1.0)
            noise = pl.Series(rng.normal(0.0, share * std, rows.height))
            out.append((pl.col(name).cast(pl.Float64) + noise).alias(name))
        else:
            hit = pl.Series(rng.random(rows.height) < share)
            drawn = s.train[name].sample(rows.height, with_replacement=True, seed=int(rng.integers(2**31)))
            out.append(pl.when(hit).then(drawn).otherwise(pl.col(name)).alias(name))
    return rows.with_columns(out)


def shuffled_columns(s: Split, seed: int) -> pl.DataFrame:
    """Training rows with every column permuted on its own: marginals exact, relationships gone."""
    rows = _training_rows(s, np.random.default_rng(seed), s.rows)
    return rows.with_columns(pl.col(c).shuffle(seed=seed + i) for i, c in enumerate(rows.columns))


def repeated_50(s: Split, seed: int) -> pl.DataFrame:
    """50 training rows repeated to full size."""
    rows = _training_rows(s, np.random.default_rng(seed), 50)
    return rows[np.arange(s.rows) % 50]


def mixed_copies(s: Split, seed: int, share: float = 0.2) -> pl.DataFrame:
    """Unseen real rows with 20 % of them replaced by training rows."""
    rng = np.random.default_rng(seed)
    return _replace_rows(s.unseen, _training_rows(s, rng, int(round(share * s.rows))), rng)


def constant_column(s: Split, seed: int) -> pl.DataFrame:
    """Unseen real rows with one column (the least concentrated one, target excluded) set to its training mode."""
    shares = {c: s.train[c].value_counts(sort=True)["count"][0] / s.train.height
              for c in s.train.columns if c != s.target}
    column = min(shares, key=shares.__getitem__)
    mode = s.train[column].mode().sort(nulls_last=True)[0]
    return s.unseen.with_columns(pl.lit(mode, dtype=s.unseen.schema[column]).alias(column))


def rare_rows_leaked(s: Split, seed: int, share: float = 0.05) -> pl.DataFrame:
    """Unseen real rows with 5 % replaced by the training rows that hold the rarest category values.

    A row's rarity is the smallest training count of its values over the non-numeric columns
    (null is a value). Rows that rare are unique in train + holdout: the rows the exact-copy gate
    counts. A table without a non-numeric column ranks all rows equal and leaks random rows.
    """
    rng = np.random.default_rng(seed)
    cats = [c for c, t in s.train.schema.items() if not _is_numeric(t)]
    rarity = pl.min_horizontal([pl.len().over(c) for c in cats]) if cats else pl.lit(0)
    ranked = s.train.with_row_index("_row").select(
        "_row", rarity.alias("_rarity"), pl.Series("_tie", rng.random(s.train.height)))
    chosen = ranked.sort("_rarity", "_tie")["_row"][:int(round(share * s.rows))].to_numpy()
    return _replace_rows(s.unseen, s.train[chosen], rng)


def marginals_only(s: Split, seed: int) -> pl.DataFrame:
    """Each column drawn independently (with replacement) from its training marginal: right columns, no relations."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame({c: s.train[c].sample(s.rows, with_replacement=True, seed=int(rng.integers(2**31)))
                         for c in s.train.columns})


def label_noise(s: Split, seed: int, share: float = 0.2) -> pl.DataFrame:
    """Unseen real rows with 20 % of target values redrawn from the training target's marginal."""
    rng = np.random.default_rng(seed)
    hit = pl.Series(rng.random(s.rows) < share)
    drawn = s.train[s.target].sample(s.rows, with_replacement=True, seed=int(rng.integers(2**31)))
    return s.unseen.with_columns(pl.when(hit).then(drawn).otherwise(pl.col(s.target)).alias(s.target))


def self_duplicates(s: Split, seed: int, share: float = 0.3) -> pl.DataFrame:
    """Unseen real rows where 30 % of the rows are duplicates of other rows of the same set."""
    rng = np.random.default_rng(seed)
    n_dup = int(round(share * s.rows))
    kept = s.unseen[rng.choice(s.rows, size=s.rows - n_dup, replace=False)]
    dups = kept[rng.choice(kept.height, size=n_dup, replace=True)]
    mixed = pl.concat([kept, dups], how="vertical")
    return mixed[rng.permutation(mixed.height)]


def _cached_model_output(s: Split, seed: int, cache: Path | None, tag: str,
                         fit: Callable[[], engine.Synthesizer]) -> pl.DataFrame:
    path = None
    if cache is not None:
        path = Path(cache) / f"{s.dataset}-{s.train.height}-seed{seed}-{tag}.parquet"
        if path.exists():
            return pl.read_parquet(path)
    out = fit().sample(s.rows, seed=seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        out.write_parquet(path)
    return out


def dp_epsilon_1(s: Split, seed: int, cache: Path | None = None) -> pl.DataFrame:
    """A model trained with differential privacy at epsilon 1 ("auto" picks MST there), sampled."""
    return _cached_model_output(s, seed, cache, "dp-eps1", lambda: engine.train(
        s.train, model="auto", privacy={"epsilon": 1.0, "delta": 1e-6}, seed=seed))


OVERFIT = {"model": "argn", "epochs": 300, "validation_share": 0.0, "patience": None}
OVERFIT_MAX_TRAIN_ROWS = 1_000  # "many epochs on few rows"; larger sizes are not this case


def overfit_model(s: Split, seed: int, cache: Path | None = None) -> pl.DataFrame:
    """ARGN trained 300 epochs on all (at most 1,000) training rows, early stopping off, sampled.

    Probed on 1,000 rows (seed 0): 42 % of its mushroom rows and 0.7 % of its adult rows are
    exact training rows (the holdout matches none), DCR share ~0.6 on both, membership
    advantage 0.25-0.49. TVAE memorised far less (300 epochs: no exact copy on adult; 1,500
    epochs: 14 % on mushroom), so ARGN is the memorising model here.
    """
    if s.train.height > OVERFIT_MAX_TRAIN_ROWS:
        raise ValueError(f"overfit_model needs at most {OVERFIT_MAX_TRAIN_ROWS:,} training rows, "
                         f"got {s.train.height:,}")
    params = {k: v for k, v in OVERFIT.items() if k != "model"}
    return _cached_model_output(s, seed, cache, "overfit-argn300", lambda: engine.train(
        s.train, model=OVERFIT["model"], seed=seed, **params))


def not_applicable(case: str, s: Split) -> str | None:
    """Why ``case`` does not apply to split ``s`` (None when it does)."""
    if case == "overfit_model" and s.train.height > OVERFIT_MAX_TRAIN_ROWS:
        return f"the overfit model trains on at most {OVERFIT_MAX_TRAIN_ROWS:,} rows (300 ARGN epochs)"
    return None


CASES: dict[str, Callable[..., pl.DataFrame]] = {
    "unseen": unseen,
    "copy": copy,
    "noisy_copy": noisy_copy,
    "shuffled_columns": shuffled_columns,
    "repeated_50": repeated_50,
    "mixed_copies": mixed_copies,
    "constant_column": constant_column,
    "rare_rows_leaked": rare_rows_leaked,
    "marginals_only": marginals_only,
    "label_noise": label_noise,
    "self_duplicates": self_duplicates,
    "dp_epsilon_1": dp_epsilon_1,
    "overfit_model": overfit_model,
}
MODEL_CASES = frozenset({"dp_epsilon_1", "overfit_model"})


def build(case: str, s: Split, seed: int = 0, cache: Path | None = None) -> pl.DataFrame:
    """The synthetic table of ``case`` for split ``s``."""
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; cases: {', '.join(CASES)}")
    if case in MODEL_CASES:
        return CASES[case](s, seed, cache=cache)
    return CASES[case](s, seed)


# -- what each gate must say ---------------------------------------------------------------------

GATES = ("column_distance", "correlation_difference", "utility_ratio", "membership_inference", "exact_copies")
OVERALL = "overall"
PASS, NOT_BLOCK, BLOCK, WARN = "pass", "must-not-block", "must-block", "must-warn"
EXPECTATIONS = (PASS, NOT_BLOCK, BLOCK, WARN)

_REAL = "real rows the model never saw: as good as synthetic data gets"
_FRESH_FIDELITY = "the rows are (mostly) unseen real rows, so every marginal and relationship is the population's"
_COPY_FIDELITY = "training rows are a sample of the same population"

# EXPECTED[case][gate] = (expectation, reason). A gate a case makes no claim about is absent
# (its verdicts are recorded but not scored). "overall" is the report's verdict: must-not-block
# = no gate blocks (a utility warning is fine), must-block = some gate blocks.
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "unseen": {
        "column_distance": (PASS, _REAL), "correlation_difference": (PASS, _REAL), "utility_ratio": (PASS, _REAL),
        "membership_inference": (PASS, _REAL), "exact_copies": (PASS, _REAL), OVERALL: (NOT_BLOCK, _REAL),
    },
    "copy": {
        "column_distance": (PASS, _COPY_FIDELITY), "correlation_difference": (PASS, _COPY_FIDELITY),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "membership_inference": (BLOCK, "copied members sit on a synthetic row at distance 0 (see FULL_SIZE_ONLY)"),
        "exact_copies": (BLOCK, "every rare training row in the sample is copied"),
        OVERALL: (BLOCK, "a copy of the training rows must never be released"),
    },
    "noisy_copy": {
        # column_distance: no claim - noise smears a column's point masses (capital-gain = 0 in ~90 % of
        # adult's rows becomes a cloud around 0), which KS rightly sees as a different distribution
        "correlation_difference": (PASS, "1 % noise leaves the relationships"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "membership_inference": (BLOCK, "every member has a synthetic row a hair away; non-members do not"),
        # exact_copies: no claim - numeric noise breaks every exact match (adult, california) while an
        # all-categorical table keeps ~80 % of the rows verbatim (mushroom): both verdicts are right
        OVERALL: (BLOCK, "near-copies of training rows reveal them"),
    },
    "shuffled_columns": {
        "column_distance": (PASS, "each column is an exact permutation of training values"),
        "correlation_difference": (BLOCK, "every relationship is gone; each dataset has pairs associated above 0.2"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "exact_copies": (PASS, "a row of independently permuted columns equals a rare training row by chance only"),
        # membership_inference: no claim - the columns are training values, the rows are not
        OVERALL: (BLOCK, "no relationships"),
    },
    "repeated_50": {
        "column_distance": (BLOCK, "a 50-row sample misses marginals by KS/TV ~0.1-0.2 per column; the worst "
                            "column exceeds 0.15"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "exact_copies": (BLOCK, "50 rare training rows, each copied rows/50 times"),
        # membership_inference: no claim - only 50 of the members are copied: the attacks' advantage is ~50/rows
        OVERALL: (BLOCK, "no variety, and the 50 rows are training rows"),
    },
    "mixed_copies": {
        "column_distance": (PASS, _FRESH_FIDELITY), "correlation_difference": (PASS, _FRESH_FIDELITY),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "exact_copies": (BLOCK, "20 % of the rows are training rows, far above the holdout's chance rate"),
        # membership_inference: no claim - the advantage is ~0.2 x rows / training rows: above 0.10 when the
        # set is as large as the training rows, not where the dataset supplies fewer unseen rows
        OVERALL: (BLOCK, "hundreds of training rows released verbatim"),
    },
    "constant_column": {
        "column_distance": (BLOCK, "the column chosen has no value above ~50 % of rows: its TV/KS is large"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "membership_inference": (PASS, "unseen real rows otherwise"),
        "exact_copies": (PASS, "unseen real rows otherwise"),
        # correlation_difference: no claim - it blocks only if the constant column had an association above 0.2
        OVERALL: (BLOCK, "a column carries no information"),
    },
    "rare_rows_leaked": {
        "column_distance": (PASS, "95 % unseen real rows"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "exact_copies": (BLOCK, "5 % of the rows are the training table's rarest rows, copied verbatim"),
        # correlation_difference: no claim - the rarest rows over-represent rare levels, which can move
        # Cramér's V of small-sample pairs; membership_inference: no claim - 5 % of rows move the attacks little
        OVERALL: (BLOCK, "rare people's rows are the most revealing ones to copy"),
    },
    "marginals_only": {
        "column_distance": (PASS, "each column is drawn from its training marginal"),
        "correlation_difference": (BLOCK, "no relationships; each dataset has pairs associated above 0.2"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "exact_copies": (PASS, "independent draws equal a rare training row by chance only"),
        OVERALL: (BLOCK, "no relationships"),
    },
    "label_noise": {
        "column_distance": (PASS, "the target is redrawn from its own marginal"),
        "utility_ratio": (NOT_BLOCK, "utility never blocks: label noise may cost a warning, no more"),
        "membership_inference": (PASS, "unseen real rows otherwise"),
        "exact_copies": (PASS, "unseen real rows otherwise"),
        # correlation_difference: no claim - the target's associations weaken by ~20 %: on a table where one
        # column nearly determines the target (mushroom: odor) that exceeds 0.2, rightly
    },
    "self_duplicates": {
        # good: duplicating unseen rows reveals nothing about the training rows; the marginals move by
        # sampling noise only. Diversity is worse, but no gate measures it and none should block for it.
        "column_distance": (PASS, "a resample of unseen real rows"),
        "correlation_difference": (PASS, "a resample of unseen real rows"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "membership_inference": (PASS, "no training row is involved"),
        "exact_copies": (PASS, "no training row is involved beyond the holdout's chance rate"),
        OVERALL: (NOT_BLOCK, "duplicates of unseen rows reveal no training row"),
    },
    "dp_epsilon_1": {
        "membership_inference": (NOT_BLOCK, "epsilon 1 bounds any attack's advantage to e^1 - 1 in theory and far "
                                 "below 10 % in practice"),
        "exact_copies": (NOT_BLOCK, "a DP model copies a rare row only by chance"),
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        # fidelity: no claim - MST at epsilon 1 on 1,000 rows may miss marginals; that is a real fidelity fail
    },
    "overfit_model": {
        "utility_ratio": (NOT_BLOCK, "utility only warns"),
        "membership_inference": (BLOCK, "the model reproduces its training rows (DCR share ~0.6): members sit "
                                 "closer to synthetic rows than non-members"),
        # exact_copies: no claim - an all-categorical table gets many verbatim rows (mushroom: 42 %), a table
        # with continuous columns few (adult: 0.7 %), which the holdout-rate test may or may not reject;
        # fidelity: no claim - a memorising model can be faithful
        OVERALL: (BLOCK, "a model that memorises its training rows must not be released"),
    },
}


# Claims that hold only when the synthetic set is at least half as large as the training rows: the
# attacks draw members from all training rows, of which only rows / training rows were copied, so
# the advantage is about that share (adult at 25,000 training rows has 2,561 unseen rows: ~0.10).
FULL_SIZE_ONLY = frozenset({("copy", "membership_inference"), ("noisy_copy", "membership_inference")})


def expectation(case: str, gate: str, synthetic_share: float = 1.0) -> tuple[str, str] | None:
    """(expectation, reason) of ``gate`` (or "overall") for ``case``, None when the case makes no claim.

    ``synthetic_share``: synthetic rows / training rows (below 0.5 the FULL_SIZE_ONLY claims lapse).
    """
    if (case, gate) in FULL_SIZE_ONLY and synthetic_share < 0.5:
        return None
    return EXPECTED[case].get(gate)


def overall_status(statuses: dict[str, str]) -> str:
    """One status for a whole report: block if any gate blocks, then inconclusive, warn, pass."""
    values = set(statuses.values())
    for status in ("block", "inconclusive", "warn"):
        if status in values:
            return status
    return "pass"


OUTCOMES = ("right", "false_pass", "false_block", "false_warn", "inconclusive", "skipped")


def judge(expected: str, status: str) -> str:
    """Outcome of one verdict: right, false_pass, false_block, false_warn, inconclusive or skipped.

    ``status`` is a gate's status (pass / warn / block / skipped / inconclusive); any other
    status a future gate reports counts as inconclusive (neither a pass nor a block).
    """
    if expected not in EXPECTATIONS:
        raise ValueError(f"unknown expectation {expected!r}; allowed: {', '.join(EXPECTATIONS)}")
    if status == "skipped":
        return "skipped"
    if status not in ("pass", "warn", "block"):
        return "inconclusive"
    if expected == BLOCK:
        return "right" if status == "block" else "false_pass"
    if expected == WARN:
        return {"warn": "right", "pass": "false_pass", "block": "false_block"}[status]
    if status == "block":
        return "false_block"
    if expected == PASS and status == "warn":
        return "false_warn"
    return "right"


def verdicts(report: engine.QualityReport, case: str, synthetic_share: float = 1.0) -> list[dict[str, str]]:
    """Every verdict of one report: gate, status, expectation, outcome (None where the case claims nothing)."""
    statuses = {g.name: g.status for g in report.gates}
    statuses_all = dict(statuses, **{OVERALL: overall_status(statuses)})
    out = []
    for gate in (*GATES, OVERALL):
        claim = expectation(case, gate, synthetic_share)
        status = statuses_all.get(gate, "skipped")
        out.append({"gate": gate, "status": status, "expected": claim[0] if claim else None,
                    "outcome": judge(claim[0], status) if claim else None})
    return out
