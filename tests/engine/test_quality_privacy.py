"""assess_privacy on real tables: calibration of the gates' metrics, the exact-copy rule, the report's shape.

Calibration cases (adult and california_housing, split with a seed into train / holdout /
unseen rows, subsampled for speed):
- unseen real rows, or the holdout itself, as the synthetic set pass: no exact copies beyond
  what the holdout explains, membership-inference advantage upper bound < 0.10;
- a copy of the training set fails both;
- training rows with small numeric noise have no exact copy but still fail the attack gate.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from engine.errors import ConfigError, InputError
from engine.quality.privacy import PrivacyConfig, PrivacyResult, assess_privacy
from tests.conftest import DATASETS

MIA_GATE = 0.10
ROWS = 6_500  # per part: train, holdout, unseen


def read_adult(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path)
    strings = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns([pl.col(c).str.strip_chars().replace("?", None) for c in strings])


@cache
def splits(name: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(train, holdout, unseen): three disjoint seeded samples of a real dataset."""
    if name == "adult":
        df = read_adult(DATASETS / "adult.csv")
    else:
        df = pl.read_csv(DATASETS / "california_housing.csv.gz")
    df = df.sample(n=3 * ROWS, shuffle=True, seed=11)
    return df[:ROWS], df[ROWS : 2 * ROWS], df[2 * ROWS :]


def with_numeric_noise(frame: pl.DataFrame, *, scale: float, seed: int) -> pl.DataFrame:
    """Every numeric value moved by Gaussian noise of ``scale`` x the column's standard deviation."""
    rng = np.random.default_rng(seed)
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
    return frame.with_columns(
        [(pl.col(c) + pl.Series(rng.normal(0.0, scale * frame[c].std(), frame.height))).alias(c) for c in numeric]
    )


@cache
def assessed(name: str, scenario: str) -> PrivacyResult:
    train, holdout, unseen = splits(name)
    synthetic = {
        "unseen": unseen,
        "holdout": holdout,
        "copy": train,
        "noisy": with_numeric_noise(train, scale=0.01, seed=5),
    }[scenario]
    return assess_privacy(real=train, synthetic=synthetic, holdout=holdout, seed=0)


DATASET_NAMES = ["adult", "california_housing"]


# -- calibration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_unseen_real_rows_as_synthetic_pass_the_privacy_gates(name: str) -> None:
    m = assessed(name, "unseen").metrics
    assert m["exact_copies_beyond_holdout"] == 0
    assert m["mia_advantage_worst_upper"] < MIA_GATE


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_holdout_itself_as_synthetic_passes_the_privacy_gates(name: str) -> None:
    m = assessed(name, "holdout").metrics
    assert m["exact_copies"] == 0  # a holdout row equal to a train row makes that row non-unique
    assert m["exact_copies_beyond_holdout"] == 0
    assert m["mia_advantage_worst_upper"] < MIA_GATE


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_copy_of_training_set_fails_exact_copy_and_attack_gates(name: str) -> None:
    train, holdout, _ = splits(name)
    m = assessed(name, "copy").metrics
    train_unique_rows = train.filter(~train.is_duplicated()).join(holdout, on=train.columns, how="anti", nulls_equal=True)
    assert m["exact_copies"] == train_unique_rows.height
    assert m["exact_copies_beyond_holdout"] > 0.9 * train.height
    assert m["mia_advantage_worst_upper"] >= MIA_GATE
    assert m["mia_distance_advantage"] > 0.9


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_training_rows_with_small_noise_have_no_exact_copy_but_fail_the_attack_gate(name: str) -> None:
    m = assessed(name, "noisy").metrics
    assert m["exact_copies"] == 0
    assert m["exact_match_share"] == 0.0
    assert m["mia_advantage_worst_upper"] >= MIA_GATE


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_dcr_share_is_about_half_for_unseen_real_rows(name: str) -> None:
    assert 0.45 <= assessed(name, "unseen").metrics["dcr_share"] <= 0.55


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_dcr_share_is_about_one_for_a_training_copy(name: str) -> None:
    assert assessed(name, "copy").metrics["dcr_share"] > 0.95


def test_copied_rows_are_at_distance_zero_and_single_out_one_training_row() -> None:
    copy, unseen = assessed("adult", "copy").metrics, assessed("adult", "unseen").metrics
    assert copy["dcr_p05_synthetic_to_train"] == 0.0
    assert copy["nndr_p05"] == 0.0
    assert unseen["dcr_p05_synthetic_to_train"] > 0.0
    assert unseen["nndr_p05"] > 0.1


def test_unseen_rows_are_as_far_from_train_as_the_holdout_is() -> None:
    m = assessed("california_housing", "unseen").metrics
    assert m["dcr_p05_synthetic_to_train"] == pytest.approx(m["dcr_p05_holdout_to_train"], rel=0.2)


def test_every_attack_reports_auc_advantage_bound_and_low_fpr_tpr() -> None:
    m = assessed("adult", "noisy").metrics
    for attack in ("distance", "dcr_diff", "density_ratio"):
        assert 0.0 <= m[f"mia_{attack}_auc"] <= 1.0
        assert 0.0 <= m[f"mia_{attack}_advantage"] <= m[f"mia_{attack}_advantage_upper"] <= 1.0
        assert 0.0 <= m[f"mia_{attack}_tpr_at_1pct_fpr"] <= 1.0
    worst = max(m[f"mia_{a}_advantage_upper"] for a in ("distance", "dcr_diff", "density_ratio"))
    assert m["mia_advantage_worst_upper"] == worst
    assert m["mia_distance_tpr_at_1pct_fpr"] > 0.9  # near copies are found at almost no false accusation


# -- the exact-copy rule on a low-cardinality table --------------------------------------------------

MUSHROOM_COLUMNS = ["cap-shape", "cap-surface", "cap-color", "bruises", "odor", "habitat"]


@cache
def mushroom_parts() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    # Six of mushroom's categorical columns: a few hundred distinct rows among 8,124, so real
    # rows that were never trained on equal training rows all the time.
    df = pl.read_csv(DATASETS / "mushroom.csv").select(MUSHROOM_COLUMNS).sample(fraction=1.0, shuffle=True, seed=3)
    return df[:2700], df[2700:5400], df[5400:8100]


def test_low_cardinality_holdout_matches_training_rows_literally_but_is_no_exact_copy() -> None:
    train, holdout, _ = mushroom_parts()
    m = assess_privacy(real=train, synthetic=holdout, holdout=holdout, seed=0).metrics
    assert m["exact_match_share"] > 0.9  # the literal zero-match rule would fail it
    assert m["exact_copies"] == 0
    assert m["exact_copies_beyond_holdout"] == 0


def test_low_cardinality_unseen_rows_copy_no_more_rare_rows_than_the_holdout_explains() -> None:
    train, holdout, unseen = mushroom_parts()
    m = assess_privacy(real=train, synthetic=unseen, holdout=holdout, seed=0).metrics
    assert m["exact_copies"] > 0  # fresh rows do hit rare training rows now and then ...
    assert m["holdout_exact_copy_share"] > 0  # ... and so do holdout rows,
    assert m["exact_copies"] <= m["exact_copies_allowed"]  # at a rate the test accepts
    assert m["exact_copies_beyond_holdout"] == 0


def test_copies_of_rare_training_rows_beyond_the_holdout_rate_are_counted() -> None:
    train, holdout, unseen = mushroom_parts()
    rare = train.filter(pl.len().over(MUSHROOM_COLUMNS) == 1).join(holdout, on=MUSHROOM_COLUMNS, how="anti")
    synthetic = pl.concat([unseen[: unseen.height - 40 * rare.height], *([rare] * 40)])
    m = assess_privacy(real=train, synthetic=synthetic, holdout=holdout, seed=0).metrics
    assert m["exact_copies"] >= 40 * rare.height
    assert m["exact_copies_beyond_holdout"] == m["exact_copies"] - m["exact_copies_allowed"] > 0


def test_nulls_are_equal_to_nulls_and_integers_to_equal_floats_when_matching_rows() -> None:
    train = pl.DataFrame({"a": [1, 2, 3, 4], "b": ["x", None, "y", None], "c": [None, 1.5, 2.5, 3.5]})
    synthetic = pl.DataFrame({"a": [2.0, 9.0], "b": [None, "x"], "c": [1.5, None]})
    m = assess_privacy(real=train, synthetic=synthetic, seed=0).metrics
    assert m["exact_copies"] == 1  # (2, null, 1.5) equals a training row; (9, x, null) does not


# -- without a holdout, small holdouts, options ------------------------------------------------------


def test_without_holdout_only_train_comparisons_are_made_and_the_notes_say_why() -> None:
    train, _, _ = splits("adult")
    res = assess_privacy(real=train[:3000], synthetic=train[:500], holdout=None, seed=0)
    m = res.metrics
    assert m["exact_copies"] == 500 - train[:500].is_duplicated().sum()
    assert m["exact_copies_beyond_holdout"] == m["exact_copies"]
    for key in ("holdout_exact_copy_share", "dcr_share", "dcr_p05_holdout_to_train", "mia_advantage_worst_upper",
                "mia_distance_auc", "mia_density_ratio_advantage_upper"):
        assert m[key] is None
    assert m["dcr_p05_synthetic_to_train"] == 0.0
    assert res.attacks == []
    assert any("No holdout" in note for note in res.notes)


def test_small_holdout_is_split_between_non_members_and_reference_and_the_notes_say_so() -> None:
    train, holdout, unseen = splits("california_housing")
    res = assess_privacy(real=train, synthetic=unseen, holdout=holdout[:600], seed=0)
    assert res.sizes["mia_members"] == res.sizes["mia_nonmembers"] == 300
    assert res.sizes["mia_reference_rows"] == 300
    assert any("300 members (training rows) against 300 non-members" in note and "95% confidence intervals" in note
               for note in res.notes)


def test_subsampling_is_stated_in_the_notes() -> None:
    res = assessed("adult", "unseen")
    config = PrivacyConfig(dcr_query_rows=1000, mia_rows_per_side=500, mia_synthetic_rows=2000, kde_rows=1000)
    train, holdout, unseen = splits("adult")
    small = assess_privacy(real=train, synthetic=unseen, holdout=holdout, config=config, seed=0)
    assert small.sizes["dcr_synthetic_queries"] == 1000
    assert small.sizes["mia_synthetic_rows"] == 2000
    assert any("1,000 of 6,500 synthetic rows" in n for n in small.notes)
    assert any("2,000 of 6,500 synthetic rows" in n for n in small.notes)
    assert res.sizes["mia_members"] == 3250  # half of the 6,500-row holdout; the rest is the reference


def test_ignored_identifier_column_lets_copies_with_fresh_ids_be_found() -> None:
    train, holdout, _ = splits("california_housing")
    train, holdout = train[:2000], holdout[:2000]
    with_ids = train.with_row_index("id")
    fresh_ids = train.with_columns(pl.Series("id", np.arange(10**6, 10**6 + train.height, dtype=np.uint32))).select(
        with_ids.columns
    )
    hold_ids = holdout.with_row_index("id", offset=5 * 10**6)
    plain = assess_privacy(real=with_ids, synthetic=fresh_ids, holdout=hold_ids, seed=0).metrics
    ignored = assess_privacy(
        real=with_ids, synthetic=fresh_ids, holdout=hold_ids, config={"ignore_columns": ["id"]}, seed=0
    ).metrics
    assert plain["exact_copies"] == 0
    assert ignored["exact_copies"] > 1900


def test_pandas_frames_are_accepted_and_give_the_same_result() -> None:
    train, holdout, unseen = (f[:1500] for f in splits("california_housing"))
    config = {"mia_rows_per_side": 500}
    from_polars = assess_privacy(real=train, synthetic=unseen, holdout=holdout, config=config, seed=1)
    from_pandas = assess_privacy(
        real=train.to_pandas(), synthetic=unseen.to_pandas(), holdout=holdout.to_pandas(), config=config, seed=1
    )
    assert isinstance(train.to_pandas(), pd.DataFrame)
    assert from_pandas.to_dict() == from_polars.to_dict()


# -- the report's shape ----------------------------------------------------------------------------


def _lists(value, path="") -> list[tuple[str, int]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _lists(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [(path, len(value))] + [item for i, v in enumerate(value) for item in _lists(v, f"{path}[{i}]")]
    return []


def test_report_holds_no_per_record_values() -> None:
    res = assessed("adult", "noisy")
    data = res.to_dict()
    json.dumps(data, allow_nan=False)
    bins = res.config.histogram_bins
    for path, length in _lists(data):
        assert length <= max(bins + 1, 21, len(res.notes)), f"{path} has {length} entries"
    assert set(res.histograms) >= {"syn_to_train", "syn_to_holdout", "holdout_to_train"}
    for hist in res.histograms.values():
        assert len(hist["edges"]) == len(hist["counts"]) + 1 == bins + 1


def test_histograms_count_every_measured_row() -> None:
    res = assessed("adult", "unseen")
    assert sum(res.histograms["syn_to_train"]["counts"]) == res.sizes["dcr_synthetic_queries"]
    assert sum(res.histograms["holdout_to_train"]["counts"]) == res.sizes["dcr_holdout_queries"]


def test_metrics_are_flat_numbers_with_the_contract_keys() -> None:
    m = assessed("adult", "unseen").metrics
    expected = {
        "exact_copies", "exact_copy_share", "holdout_exact_copy_share", "exact_copies_beyond_holdout",
        "dcr_share", "dcr_p05_synthetic_to_train", "dcr_p05_holdout_to_train", "nndr_p05",
        "mia_advantage_worst_upper",
    }
    expected |= {f"mia_{a}_{s}" for a in ("distance", "dcr_diff", "density_ratio")
                 for s in ("auc", "advantage", "advantage_upper", "tpr_at_1pct_fpr")}
    assert expected <= set(m)
    # a count of rows needed is None when the rows at hand already tell
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in m.items() if not k.endswith("_needed"))
    assert m["mia_advantage_worst_lower"] <= m["mia_advantage_worst"] <= m["mia_advantage_worst_upper"]


def test_same_seed_gives_the_same_report_and_another_seed_other_samples() -> None:
    train, holdout, unseen = (f[:2000] for f in splits("adult"))
    config = {"mia_rows_per_side": 500, "dcr_query_rows": 800}
    first = assess_privacy(real=train, synthetic=unseen, holdout=holdout, config=config, seed=7).to_dict()
    again = assess_privacy(real=train, synthetic=unseen, holdout=holdout, config=config, seed=7).to_dict()
    other = assess_privacy(real=train, synthetic=unseen, holdout=holdout, config=config, seed=8).to_dict()
    assert first == again
    assert first["metrics"] != other["metrics"]


def test_progress_is_reported_by_stage_up_to_one() -> None:
    train, holdout, unseen = (f[:1000] for f in splits("california_housing"))
    calls: list[tuple[str, float]] = []
    assess_privacy(real=train, synthetic=unseen, holdout=holdout, seed=0, on_progress=lambda s, f: calls.append((s, f)))
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = {s for s, _ in calls}
    assert {"privacy: exact copies", "privacy: distance to closest record", "privacy: membership inference"} <= stages


# -- bad input ------------------------------------------------------------------------------------


def test_missing_or_extra_columns_are_named() -> None:
    train, holdout, _ = splits("california_housing")
    with pytest.raises(InputError, match=r"synthetic .*missing \['ocean_proximity'\]"):
        assess_privacy(real=train, synthetic=train.drop("ocean_proximity"), holdout=holdout)
    with pytest.raises(InputError, match=r"holdout .*unexpected \['extra'\]"):
        assess_privacy(real=train, synthetic=train, holdout=holdout.with_columns(extra=pl.lit(1)))


def test_empty_tables_and_non_tables_are_refused() -> None:
    train, _, _ = splits("california_housing")
    with pytest.raises(InputError, match="synthetic has no rows"):
        assess_privacy(real=train, synthetic=train.clear())
    with pytest.raises(InputError, match="holdout has no rows; pass holdout=None"):
        assess_privacy(real=train, synthetic=train, holdout=train.clear())
    with pytest.raises(InputError, match="real must be a polars or pandas DataFrame"):
        assess_privacy(real=[1, 2, 3], synthetic=train)


def test_a_column_that_does_not_convert_to_the_real_type_is_named() -> None:
    train, _, _ = splits("california_housing")
    bad = train.with_columns(pl.lit("many").alias("total_rooms"))
    with pytest.raises(InputError, match=r"synthetic: column\(s\) \['total_rooms'\] do not convert"):
        assess_privacy(real=train, synthetic=bad)


def test_config_mistakes_are_refused_with_the_allowed_values() -> None:
    train, _, _ = splits("california_housing")
    with pytest.raises(ConfigError, match=r"unknown privacy config key\(s\) \['mia_rows'\]"):
        assess_privacy(real=train, synthetic=train, config={"mia_rows": 10})
    with pytest.raises(ConfigError, match="'kde_dims' must be a positive integer"):
        PrivacyConfig(kde_dims=0)
    with pytest.raises(ConfigError, match=r"confidence must be a number in \[0.5, 1\)"):
        PrivacyConfig(confidence=1.0)
    with pytest.raises(ConfigError, match=r"\['bootstrap_quantile'\] are gone.*set 'confidence'"):
        PrivacyConfig.from_mapping({"bootstrap_quantile": 0.9})
    with pytest.raises(ConfigError, match="ignore_columns names column"):
        assess_privacy(real=train, synthetic=train, config={"ignore_columns": ["nope"]})


def test_a_tiny_synthetic_table_is_assessed_without_the_density_attack() -> None:
    train, holdout, unseen = splits("california_housing")
    res = assess_privacy(real=train[:2000], synthetic=unseen[:5], holdout=holdout[:2000], seed=0)
    assert [a.name for a in res.attacks] == ["distance", "dcr_diff"]
    assert res.metrics["mia_density_ratio_auc"] is None
    assert res.metrics["mia_advantage_worst_upper"] is not None
    assert any("density-ratio attack is not run (5 rows per density" in n for n in res.notes)


def test_allowed_copies_follow_the_exact_test_for_two_rare_event_rates() -> None:
    from engine.quality.uncertainty import allowed_copies as _allowed_copies

    # Equal sizes, no holdout hit: k copies are too many once 0.5 ** k <= alpha.
    assert _allowed_copies(0, 5000, 5000, 0.01) == int(np.floor(np.log(0.01) / np.log(0.5)))
    # More holdout hits allow more synthetic copies; a larger synthetic table too.
    assert _allowed_copies(10, 5000, 5000, 0.01) > _allowed_copies(0, 5000, 5000, 0.01)
    assert _allowed_copies(0, 50_000, 5000, 0.01) > _allowed_copies(0, 5000, 5000, 0.01)
