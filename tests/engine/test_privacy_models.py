"""Differentially private training of every model, checked as a contract.

Each DP-capable kind trains once (small networks, one or two epochs) on a 1,200-row sample of
the real adult table plus one *canary* row that no one else shares (age 999, born in
Atlantis, a weight of 10^8). The checks: the run spends no more than its target (recomputed
from the accountant), the model file records what was spent, seeded sampling stays
deterministic, and nothing about the canary reaches the model.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import engine
from engine.privacy.private_statistics import FINE_CELLS
from engine.errors import ConfigError
from engine.models.base import Synthesizer
from engine.models.registry import model_class
from engine.privacy import Privacy
from engine.privacy.private_statistics import private_transformer
from engine.privacy.run import PrivateRun, accountant_epsilon
from engine.transform import DataTransformer
from tests.engine.test_models_contract import read_adult

EPSILON, DELTA = 2.0, 1e-4
SMALL = {
    "tvae": {"epochs": 2, "batch_size": 200, "compress_dims": (32,), "decompress_dims": (32,), "embedding_dim": 16},
    "ctgan": {"epochs": 1, "batch_size": 200, "generator_dim": (32,), "discriminator_dim": (32,), "embedding_dim": 16},
    "argn": {"epochs": 1, "batch_size": 200, "hidden_dim": 32},
    "mst": {},
    "diffusion": {"epochs": 1, "batch_size": 200, "hidden_dims": (32,), "time_dim": 8, "sample_steps": 4},
}
CANARY = {"age": 999, "native-country": "Atlantis", "fnlwgt": 100_000_000}


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    rows = read_adult(datasets / "adult.csv", rows=1_200, seed=13)
    canary = rows.head(1).with_columns(pl.lit(value).cast(rows.schema[name]).alias(name) for name, value in CANARY.items())
    return pl.concat([rows, canary])


def _train(kind: str, data: pl.DataFrame, **extra: object) -> Synthesizer:
    privacy = Privacy(epsilon=EPSILON, delta=DELTA)
    return model_class(kind)(seed=5, device="cpu", privacy=privacy, **{**SMALL[kind], **extra}).fit(data)


@pytest.fixture(scope="module", params=list(SMALL))
def trained(request: pytest.FixtureRequest, adult: pl.DataFrame) -> Synthesizer:
    return _train(request.param, adult)


def test_training_spends_no_more_than_the_target_epsilon(trained: Synthesizer) -> None:
    report = trained.privacy_report_
    recomputed = accountant_epsilon(report["history"], delta=report["accountant_delta"], accountant=report["accountant"])
    assert report["epsilon"] == pytest.approx(recomputed, rel=1e-9)
    assert 0 < report["epsilon"] <= EPSILON
    assert report["delta"] <= DELTA


def test_the_model_file_records_the_spend_its_mechanisms_and_their_shares(trained: Synthesizer, tmp_path: Path) -> None:
    manifest = json.loads((trained.save(tmp_path / "model") / "model.json").read_text())
    privacy = manifest["privacy"]
    assert privacy["epsilon"] == trained.privacy_report_["epsilon"]
    assert (privacy["delta"], privacy["epsilon_target"]) == (DELTA, EPSILON)
    assert privacy["accountant"] == "rdp"
    shares = [m["budget_share"] for m in privacy["mechanisms"] if "budget_share" in m]
    assert shares and sum(shares) == pytest.approx(1.0)
    names = [m["name"] for m in privacy["mechanisms"]]
    assert names[0].startswith("preprocessing histograms")
    if trained.kind == "mst":
        assert names[-3:] == ["MST one-way marginals", "MST tree selection", "MST two-way marginals"]
    else:
        assert names[-1] == "DP-SGD"
        assert privacy["noise_multiplier"] > 0 and privacy["steps"] > 0 and 0 < privacy["sample_rate"] < 1
    assert manifest["data_hash"] is None  # a hash of the rows would let anyone test a guess
    for epoch in manifest["metrics"]["history"]:  # losses on real rows are not published
        assert set(epoch) == {"epoch", "epsilon"}


def test_seeded_sampling_is_deterministic_and_survives_save_and_load(trained: Synthesizer, tmp_path: Path) -> None:
    first = trained.sample(300, seed=9)
    assert first.equals(trained.sample(300, seed=9))
    assert not first.equals(trained.sample(300, seed=10))
    loaded = engine.load_model(trained.save(tmp_path / "model.zip"))
    assert loaded.sample(300, seed=9).equals(first)
    assert loaded.privacy_report_["epsilon"] == trained.privacy_report_["epsilon"]


def test_nothing_about_a_unique_row_reaches_the_model(trained: Synthesizer, tmp_path: Path) -> None:
    manifest = (trained.save(tmp_path / "model") / "model.json").read_text()
    assert "Atlantis" not in manifest
    rows = trained.sample(2_000, seed=1)
    assert "Atlantis" not in rows.get_column("native-country").to_list()
    assert rows.get_column("age").max() < 200
    assert rows.get_column("fnlwgt").max() < 10_000_000


def test_a_category_frequent_enough_for_the_plain_protections_is_still_not_kept_privately(adult: pl.DataFrame) -> None:
    # 8 rows from Atlantis: the non-private rare-category merge (k=5) keeps the value; the private
    # selection's noisy threshold (far above 8 at this budget) does not. The canary tests above
    # cannot tell the two apart, since both merge a single row and cap its extremes.
    data = pl.concat([adult, adult.tail(8).with_columns(pl.lit("Atlantis").alias("native-country"))])

    def levels(transformer: DataTransformer) -> list:
        encoder = next(e for e in transformer.encoders_ if e.name == "native-country")
        return encoder.levels.to_list()

    assert "Atlantis" in levels(DataTransformer().fit(data))
    domain = private_transformer(data, run=PrivateRun(Privacy(epsilon=EPSILON, delta=DELTA), data.height), transformer_kwargs={})
    assert "Atlantis" not in levels(domain.transformer)


def test_ctgan_notes_that_pac_is_one_under_privacy(adult: pl.DataFrame) -> None:
    model = _train("ctgan", adult.head(400), pac=10, batch_size=50)
    assert any("pac=10 was set to 1" in note for note in model.privacy_report_["notes"])


def test_declared_bounds_and_categories_are_public_and_cost_nothing(adult: pl.DataFrame) -> None:
    numbers = [c for c, t in adult.schema.items() if t.is_integer()]
    texts = [c for c, t in adult.schema.items() if t == pl.String]
    privacy = Privacy(
        epsilon=EPSILON,
        delta=DELTA,
        bounds={c: (0, 1_000_000) for c in numbers} | {"age": (17, 90)},
        categories={c: [v for v in adult.get_column(c).unique().to_list() if v != "Atlantis"] for c in texts},
    )
    model = model_class("tvae")(seed=5, device="cpu", privacy=privacy, **SMALL["tvae"]).fit(adult)
    assert [m["name"] for m in model.privacy_report_["mechanisms"]] == ["DP-SGD"]
    rows = model.sample(1_000, seed=2)
    assert rows.get_column("age").min() >= 17 and rows.get_column("age").max() <= 90
    assert set(rows.get_column("sex").drop_nulls()) <= {"Female", "Male", "__other__"}


def test_auto_picks_mst_for_small_budgets_and_dp_sgd_above(adult: pl.DataFrame) -> None:
    assert engine.train(adult, model="auto", privacy={"epsilon": 1.0}, device="cpu").kind == "mst"
    model = engine.train(adult.head(300), model="auto", privacy={"epsilon": 5.0, "delta": 1e-4}, epochs=1, device="cpu")
    assert model.kind == "argn" and model.privacy_report_["epsilon"] <= 5.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epsilon": 0}, r"epsilon must lie in \(0, 100\]"),
        ({"epsilon": 1, "accountant": "moments"}, "accountant must be one of rdp, prv"),
        ({"epsilon": 1, "bounds": {"age": (90, 17)}}, r"bounds\['age'\] must have low < high"),
        ({"epsilon": 1, "categories": {"sex": []}}, r"categories\['sex'\] must be a non-empty list"),
        ({"epsilon": 1, "bounds": {"age": (0, 1)}, "categories": {"age": [1]}}, r"given both bounds and categories"),
        ({"epsilon": 1, "noise": 2}, r"unknown settings \['noise'\]"),
        ({"delta": 1e-5}, "privacy needs an epsilon"),
    ],
)
def test_a_bad_privacy_setting_is_refused_with_a_message_naming_it(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Privacy.coerce(settings)


def test_a_delta_too_large_for_the_rows_is_refused(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"delta=0.005 is not below 1/rows"):
        engine.train(adult.head(300), model="mst", privacy={"epsilon": 1.0, "delta": 5e-3})


def test_date_strings_cannot_be_parsed_privately(adult: pl.DataFrame) -> None:
    dated = adult.head(300).with_columns(pl.lit("2020-01-31").alias("hired"))
    with pytest.raises(ConfigError, match="convert date strings to a Date/Datetime dtype first"):
        engine.train(dated, model="mst", privacy={"epsilon": 1.0, "delta": 1e-4}, column_types={"hired": "datetime"})


@pytest.fixture(scope="module")
def airbnb(datasets: Path) -> pl.DataFrame:
    frame = pl.read_csv(datasets / "nyc_airbnb_2019.csv.gz", try_parse_dates=True)
    return frame.select("neighbourhood_group", "room_type", "price", "last_review", "reviews_per_month").sample(5_000, seed=3)


def test_dates_floats_and_nulls_are_learned_privately(airbnb: pl.DataFrame) -> None:
    model = engine.train(airbnb, model="mst", privacy={"epsilon": 5.0, "delta": 1e-5}, device="cpu")
    rows = model.sample(5_000, seed=4)
    assert rows.schema == airbnb.schema
    real, fake = airbnb.get_column("last_review"), rows.get_column("last_review")
    # The private range is the support of the cells above the noise, exact only to one fine
    # cell: the log partition's cells holding these dates (days since 1970) are
    # [14336, 16384) and [16384, 20480), and their span is cut into FINE_CELLS (64) equal cells.
    cell = dt.timedelta(days=(20480 - 14336) / FINE_CELLS)
    assert fake.min() >= real.min() - cell and fake.max() <= real.max() + cell
    assert abs(fake.null_count() - real.null_count()) < 0.05 * len(real)  # the null share is measured too
    assert abs(rows.get_column("reviews_per_month").median() - airbnb.get_column("reviews_per_month").median()) < 0.5


def test_declared_date_bounds_are_kept(airbnb: pl.DataFrame) -> None:
    bounds = {"last_review": ("2018-01-01", "2019-07-31")}
    model = engine.train(airbnb, model="mst", privacy={"epsilon": 5.0, "delta": 1e-5, "bounds": bounds}, device="cpu")
    dates = model.sample(2_000, seed=4).get_column("last_review").drop_nulls()
    assert dates.min() >= dt.date(2018, 1, 1) and dates.max() <= dt.date(2019, 7, 31)


def test_a_model_takes_its_dp_defaults_under_privacy_and_given_parameters_still_win() -> None:
    from engine.models.tvae import TVAE

    private = TVAE(privacy={"epsilon": 10.0})
    assert {k: private.model_params[k] for k in TVAE.default_dp_params} == TVAE.default_dp_params
    assert TVAE(privacy={"epsilon": 10.0}, embedding_dim=32).model_params["embedding_dim"] == 32
    assert TVAE().model_params["embedding_dim"] == TVAE.default_params["embedding_dim"]


def test_a_thin_tail_next_to_the_bulk_survives_the_cleaning_where_an_equal_far_cell_does_not() -> None:
    from engine.privacy.private_statistics import CELLS_PER_OCTAVE, RANGE_MISS, _noisy_segments, log_partition

    rng = np.random.default_rng(0)  # seeded here; the private path draws from the OS
    bulk = np.repeat(np.arange(2.0, 17.0), 1_700)
    near_kept = far_kept = 0
    for _ in range(200):
        for tail, counter in ((1.0, "near"), (1e9, "far")):  # 40 rows: 1 sits 4 cells below 2, 1e9 far away
            x = np.concatenate([np.full(40, tail), bulk])
            segments, _ = _noisy_segments(x, log_partition(), sigma=8.0, rng=rng, extra_cells=1, miss=RANGE_MISS, near=CELLS_PER_OCTAVE)
            kept = any(low <= tail < high for low, high, _ in segments)
            near_kept += kept and counter == "near"
            far_kept += kept and counter == "far"
    assert near_kept >= 190 and far_kept <= 120  # the far cell meets the strict threshold only


def test_an_integer_spike_keeps_its_value_in_the_float_encoding(datasets: Path) -> None:
    from engine.privacy.private_statistics import _core, _measure_numeric
    from engine.transform import DataTransformer
    from engine.transform.params import validate_params

    hours = pl.read_csv(datasets / "adult.csv", columns=["hours-per-week"]).to_series().to_numpy().astype(np.float64)  # 1..99, 40 on 47 %
    num = _measure_numeric(hours, np.zeros(len(hours), bool), sigma=8.0, rng=np.random.default_rng(0), integer=True)
    assert all(high - low <= 1.0 for low, high, _ in num.segments)  # one fine cell per integer
    assert any((low, high) == (39.5, 40.5) for low, high, _ in num.segments)
    modes = _core(num, params=validate_params(**DataTransformer().get_params()), integer=True, decimals=None).vgm
    # every bin holding any of 40's mass decodes (mean +- 4 std, then rounded) to 40 only
    low, high = modes.means - 4 * modes.stds, modes.means + 4 * modes.stds
    touching = (high > 39.5) & (low < 40.5)
    assert touching.any() and (low[touching] >= 39.5 - 1e-9).all() and (high[touching] <= 40.5 + 1e-9).all()
