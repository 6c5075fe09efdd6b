"""The profile's PII treatments are carried out: faked columns are never learned, dropped ones are gone.

The table is adult's first rows with three columns of personal data built here with numpy:
unique e-mail addresses, Luhn-valid card numbers (both faked) and US SSNs (dropped).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from engine.profiling.checksums import iban_valid, luhn_valid
from engine.transform import DataTransformer
from engine.transform.fakes import CARD_PREFIX, EMAIL_DOMAINS, FakeFormat
from engine.training import resolve_auto
from tests.engine.test_models_contract import TRANSFORMER, read_adult

ROWS = 2_000
COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]


def _cards(rng: np.random.Generator, n: int) -> pl.Series:
    """Random 16-digit numbers with a valid Luhn check digit, issuer prefix 5 (like Mastercard)."""
    digits = rng.integers(0, 10, (n, 16))
    digits[:, 0] = 5
    d = digits[:, :15].copy()
    double = (np.arange(15)[::-1] % 2) == 0  # with the check digit appended these sit at odd distances
    d[:, double] = np.where(d[:, double] * 2 > 9, d[:, double] * 2 - 9, d[:, double] * 2)
    digits[:, 15] = (10 - d.sum(axis=1) % 10) % 10
    return pl.Series("card_number", (digits * 10 ** np.arange(15, -1, -1)).sum(axis=1).astype(np.int64)).cast(pl.String)


def _emails(rng: np.random.Generator, n: int) -> pl.Series:
    users = pl.Series(rng.choice(["anna", "bert", "chen", "dora", "emil"], n)) + pl.Series(np.arange(n)).cast(pl.String)
    return (users + "@" + pl.Series(rng.choice(["gmail.com", "web.de", "yahoo.fr"], n))).alias("email")


def _ssns(rng: np.random.Generator, n: int) -> pl.Series:
    area = pl.Series(rng.integers(1, 666, n)).cast(pl.String).str.pad_start(3, "0")
    group = pl.Series(rng.integers(1, 100, n)).cast(pl.String).str.pad_start(2, "0")
    serial = pl.Series(rng.integers(1, 10_000, n)).cast(pl.String).str.pad_start(4, "0")
    return (area + "-" + group + "-" + serial).alias("ssn")


@pytest.fixture(scope="module")
def people(datasets: Path) -> pl.DataFrame:
    rng = np.random.default_rng(17)
    adult = read_adult(datasets / "adult.csv", rows=ROWS, seed=3).select(COLUMNS)
    return adult.with_columns(_emails(rng, ROWS), _cards(rng, ROWS), _ssns(rng, ROWS))


@pytest.fixture(scope="module")
def model(people: pl.DataFrame) -> engine.Synthesizer:
    return engine.train(people, model="auto", epochs=1, seed=0, device="cpu", transformer_params=TRANSFORMER)


@pytest.fixture(scope="module")
def synthetic(model: engine.Synthesizer) -> pl.DataFrame:
    return model.sample(1_000, seed=5)


def test_the_built_table_is_profiled_as_holding_an_email_a_card_and_an_ssn_column(people: pl.DataFrame) -> None:
    found = {f.column: (f.kind, f.treatment) for f in engine.profile(people).pii}
    assert found == {"email": ("email", "fake"), "card_number": ("credit_card", "fake"), "ssn": ("us_ssn", "drop")}


def test_auto_names_the_columns_it_fakes_and_drops_and_says_so(people: pl.DataFrame) -> None:
    choice = resolve_auto(columns=people.columns, profile=engine.profile(people))
    assert choice.params["transformer_params"]["fake_columns"] == {"email": "email", "card_number": "credit_card"}
    assert choice.dropped == ("ssn",) and "ssn" not in choice.params["column_types"]
    assert "faked, never learned: email, card_number" in choice.reason
    assert "left out of training and of the synthetic output: ssn" in choice.reason


def test_the_dropped_ssn_column_is_not_trained_on_nor_generated(
    model: engine.Synthesizer, synthetic: pl.DataFrame
) -> None:
    assert "ssn" not in model.columns_ and "ssn" not in synthetic.columns
    assert synthetic.columns == [*COLUMNS, "email", "card_number"]


def test_faked_columns_are_not_learned_and_no_fake_equals_a_training_value(
    model: engine.Synthesizer, people: pl.DataFrame, synthetic: pl.DataFrame
) -> None:
    assert model.transformer_.encoders_[model.transformer_.columns_.index("email")].tag == "fake"
    assert {t.column for t in model.transformer_.token_info_}.isdisjoint({"email", "card_number"})
    for column in ("email", "card_number"):
        assert synthetic.get_column(column).is_in(people.get_column(column).implode()).sum() == 0


def test_every_fake_email_is_an_address_on_a_reserved_example_domain(synthetic: pl.DataFrame) -> None:
    domains = synthetic.get_column("email").str.split("@").list.last()
    assert domains.is_in(list(EMAIL_DOMAINS)).all()


def test_every_fake_card_passes_luhn_with_the_test_issuer_prefix(synthetic: pl.DataFrame) -> None:
    cards = synthetic.get_column("card_number")
    assert luhn_valid(cards).all() and cards.str.starts_with(CARD_PREFIX).all()
    assert (cards.str.len_chars() == 16).all()


def test_the_profile_of_the_synthetic_output_finds_the_same_kinds(synthetic: pl.DataFrame) -> None:
    assert {f.column: f.kind for f in engine.profile(synthetic).pii} == {"email": "email", "card_number": "credit_card"}


def test_the_same_seed_gives_the_same_fakes_and_another_seed_others(
    model: engine.Synthesizer, synthetic: pl.DataFrame
) -> None:
    again = model.sample(1_000, seed=5)
    other = model.sample(1_000, seed=6)
    assert again.get_column("email").equals(synthetic.get_column("email"))
    assert not other.get_column("email").equals(synthetic.get_column("email"))


def test_a_saved_model_reloads_and_gives_the_same_rows(
    model: engine.Synthesizer, synthetic: pl.DataFrame, tmp_path: Path
) -> None:
    path = model.save(tmp_path / "people.doppel")
    reloaded = engine.load_model(path)
    assert reloaded.sample(1_000, seed=5).equals(synthetic)


def test_the_saved_model_stores_the_fake_format_and_no_training_value(
    model: engine.Synthesizer, people: pl.DataFrame
) -> None:
    state = json.dumps(model.transformer_.to_dict())
    assert '"kind": "credit_card"' in state and '"shape": "9999999999999999"' in state
    for column in ("email", "card_number", "ssn"):
        assert not any(value in state for value in people.get_column(column).head(200).to_list())


def test_a_float_encoding_model_fakes_too(people: pl.DataFrame) -> None:
    tvae = engine.train(people, model="tvae", epochs=1, seed=0, device="cpu",
                        transformer_params={**TRANSFORMER, "fake_columns": {"email": "email"}})
    emails = tvae.sample(300, seed=1).get_column("email")
    assert emails.str.split("@").list.last().is_in(list(EMAIL_DOMAINS)).all()
    assert emails.equals(tvae.sample(300, seed=1).get_column("email"))


def test_the_callers_fake_columns_win_and_a_named_drop_column_is_faked_instead(people: pl.DataFrame) -> None:
    small = people.head(300)
    model = engine.train(small, model="auto", epochs=1, seed=0, device="cpu",
                         transformer_params={**TRANSFORMER, "fake_columns": {"ssn": "us_ssn"}})
    rows = model.sample(200, seed=2)
    assert rows.get_column("ssn").str.contains(r"^9\d{2}-\d{2}-\d{4}$").all()  # area 900-999 is never issued
    assert model.transformer_.encoders_[model.transformer_.columns_.index("email")].tag != "fake"


def test_nulls_keep_the_columns_null_share() -> None:
    values = pl.Series("mobile", ["+44 7911 123456", None, "+44 7700 900123", "+44 7400 111222"] * 500)
    fmt = FakeFormat.fit("phone", values, rng=np.random.default_rng(0))
    fakes = fmt.generate("mobile", 4_000, pl.String, np.random.default_rng(1))
    assert fmt.prefix == "+44 7" and abs(fakes.null_count() / 4_000 - 0.25) < 0.03
    assert fakes.drop_nulls().str.contains(r"^\+44 7\d{3} \d{6}$").all()


def test_fake_ibans_keep_the_country_and_shape_and_have_valid_check_digits() -> None:
    values = pl.Series("iban", ["GB82 WEST 1234 5698 7654 32", "GB33 BUKB 2020 1555 5555 55"] * 20)
    fakes = FakeFormat.fit("iban", values, rng=np.random.default_rng(0)).generate("iban", 500, pl.String,
                                                                                   np.random.default_rng(1))
    assert fakes.str.contains(r"^GB\d{2} [A-Z]{4}( \d{4}){3} \d{2}$").all()
    assert iban_valid(fakes.str.replace_all(" ", "")).all()


def test_fake_ip_addresses_lie_in_the_documentation_networks() -> None:
    fakes = FakeFormat.default("ip_address").generate("ip", 1_000, pl.String, np.random.default_rng(0))
    assert fakes.str.contains(r"^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}$").all()


def test_a_fake_kind_that_is_not_allowed_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"fake_columns\['zip'\] = 'postcode' is not a kind .* allowed: email, phone"):
        DataTransformer(fake_columns={"zip": "postcode"})


def test_fake_columns_must_be_a_dict_of_column_names() -> None:
    with pytest.raises(ConfigError, match="fake_columns must be a dict of column name -> kind"):
        DataTransformer(fake_columns=["email"])


def test_a_fake_column_the_frame_lacks_is_refused_naming_it(people: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"fake_columns names columns the frame does not have: \['mail'\]"):
        DataTransformer(fake_columns={"mail": "email"}, n_jobs=1).fit(people.head(50))


def test_a_kind_that_needs_strings_is_refused_on_a_number_column(people: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="column 'age' has dtype Int64; fake email values need a string column"):
        DataTransformer(fake_columns={"age": "email"}, n_jobs=1).fit(people.head(50))


def test_under_dp_declared_fake_columns_are_faked_in_their_default_format(people: pl.DataFrame) -> None:
    """Under DP the rows are not profiled: only declared columns are faked, and their format reads no row."""
    model = engine.train(people.head(500), model="auto", privacy={"epsilon": 1.0, "delta": 1e-5}, seed=0, device="cpu",
                         transformer_params={"fake_columns": {"card_number": "credit_card"}})
    encoder = model.transformer_.encoders_[model.transformer_.columns_.index("card_number")]
    assert encoder.tag == "fake" and encoder.fmt == FakeFormat.default("credit_card")
    assert luhn_valid(model.sample(200, seed=1).get_column("card_number")).all()


def test_under_dp_a_declared_fake_column_spends_no_budget(people: pl.DataFrame) -> None:
    """A faked column is never measured: no preprocessing histogram is taken of it."""
    model = engine.train(people.head(500), model="auto", privacy={"epsilon": 1.0, "delta": 1e-5}, seed=0, device="cpu",
                         transformer_params={"fake_columns": {"card_number": "credit_card"}})
    records = {r["column"]: r for r in model.transformer_.protections_["differential_privacy"]}
    assert records["card_number"]["role"] == "fake"
    assert "card_number" not in json.dumps(model.privacy_report_.get("mechanisms", model.privacy_report_))


def test_a_named_model_treats_the_personal_data_that_detection_finds(people: pl.DataFrame) -> None:
    tvae = engine.train(people, model="tvae", epochs=1, seed=0, device="cpu")
    assert "ssn" not in tvae.columns_
    fakes = {enc.name: enc.fmt.kind for enc in tvae.transformer_.encoders_ if enc.tag == "fake"}
    assert fakes == {"email": "email", "card_number": "credit_card"}


def test_a_named_model_fakes_nothing_when_the_caller_says_so(people: pl.DataFrame) -> None:
    tvae = engine.train(people.drop("ssn"), model="tvae", epochs=1, seed=0, device="cpu",
                        transformer_params={"fake_columns": {}})
    assert not any(enc.tag == "fake" for enc in tvae.transformer_.encoders_)
