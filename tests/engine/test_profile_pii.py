"""engine.profile finds personal data by value patterns, checksums and column names.

Frames are built from real data (adult rows, baseball player names) plus PII-shaped columns
generated here with a seeded generator; the check digits are computed with plain-Python
reference implementations written for these tests, independent of the profiler's vectorised ones.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import engine
from engine.profiling.checksums import iban_valid, luhn_valid

N = 2_000


def _strip_adult(df: pl.DataFrame) -> pl.DataFrame:
    strings = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns([pl.col(c).str.strip_chars().replace("?", None) for c in strings])


@pytest.fixture(scope="module")
def adult(datasets) -> pl.DataFrame:
    return _strip_adult(pl.read_csv(datasets / "adult.csv"))


@pytest.fixture(scope="module")
def players(datasets) -> pl.DataFrame:
    return pl.read_csv(datasets / "multitable" / "baseball" / "players.csv.gz")


def _luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def _cards(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for _ in range(n):
        body = "4" + "".join(str(d) for d in rng.integers(0, 10, 14))
        number = body + _luhn_check_digit(body)
        out.append(" ".join(number[i : i + 4] for i in range(0, 16, 4)))
    return out


def _ibans(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for i in range(n):
        if i % 2:
            out.append(_iban("DE", "".join(str(d) for d in rng.integers(0, 10, 18))))
        else:
            bank = "".join(chr(65 + c) for c in rng.integers(0, 26, 4))
            out.append(_iban("GB", bank + "".join(str(d) for d in rng.integers(0, 10, 14))))
    return out


def _ssns(rng: np.random.Generator, n: int) -> list[str]:
    area = rng.integers(1, 666, n)
    group = rng.integers(1, 100, n)
    serial = rng.integers(1, 10_000, n)
    return [f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(area, group, serial, strict=True)]


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for i in range(n):
        a, b, c = rng.integers(200, 999), rng.integers(200, 999), rng.integers(0, 10_000)
        style = i % 3
        if style == 0:
            out.append(f"+1 ({a}) {b}-{c:04d}")
        elif style == 1:
            out.append(f"{a}-{b}-{c:04d}")
        else:
            out.append(f"+44 20 {b}{c % 10} {c:04d}")
    return out


def _ips(rng: np.random.Generator, n: int) -> list[str]:
    octets = rng.integers(0, 256, (n, 4))
    out = [".".join(str(o) for o in row) for row in octets]
    for i in range(0, n, 10):  # every tenth an IPv6 address
        out[i] = f"2001:db8:{octets[i, 0]:x}::{octets[i, 1]:x}"
    return out


@pytest.fixture(scope="module")
def pii_frame(adult, players) -> pl.DataFrame:
    """2,000 real adult rows and real player names, plus generated PII-shaped columns."""
    rng = np.random.default_rng(7)
    names = players.filter(pl.col("nameFirst").is_not_null()).sample(N, seed=3)
    first, last = names.get_column("nameFirst"), names.get_column("nameLast")
    email = (
        first.str.to_lowercase().str.replace_all(r"[^a-z]", "")
        + "."
        + last.str.to_lowercase().str.replace_all(r"[^a-z]", "")
        + pl.Series([str(i) for i in range(N)])
        + "@example.org"
    )
    uk_postcodes = [f"SW{d}A {e}{chr(65 + a)}{chr(65 + b)}" for d, e, a, b in rng.integers(1, 9, (N, 4))]
    zips = [f"{z:05d}" for z in rng.integers(501, 99_950, N)]
    return pl.concat(
        [
            adult.head(N),
            pl.DataFrame(
                {
                    "first_name": first,
                    "last_name": last,
                    "contact": email,
                    "tel": _phones(rng, N),
                    "card": _cards(rng, N),
                    "account": _ibans(rng, N),
                    "tax_ref": _ssns(rng, N),
                    "client_addr": _ips(rng, N),
                    "post": uk_postcodes,
                    "zip_code": zips,
                }
            ),
        ],
        how="horizontal",
    )


@pytest.fixture(scope="module")
def pii_profile(pii_frame):
    return engine.profile(pii_frame)


def _finding(prof, column):
    found = [f for f in prof.pii if f.column == column]
    assert len(found) == 1, f"expected one finding on {column!r}, got {prof.pii}"
    return found[0]


@pytest.mark.parametrize(
    ("column", "kind", "treatment"),
    [
        ("contact", "email", "fake"),
        ("tel", "phone", "fake"),
        ("card", "credit_card", "fake"),
        ("account", "iban", "fake"),
        ("tax_ref", "us_ssn", "drop"),
        ("client_addr", "ip_address", "fake"),
        ("post", "postcode", "keep"),
        ("zip_code", "postcode", "keep"),
        ("first_name", "person_name", "fake"),
        ("last_name", "person_name", "fake"),
    ],
)
def test_each_pii_kind_is_found_with_its_treatment(pii_profile, column, kind, treatment):
    finding = _finding(pii_profile, column)
    assert (finding.kind, finding.treatment) == (kind, treatment)
    assert finding.share > 0.95
    assert finding.reason


def test_no_pii_is_reported_on_adults_ordinary_columns(pii_profile, adult):
    flagged = {f.column for f in pii_profile.pii}
    assert flagged.isdisjoint(adult.columns)


def test_share_is_the_matching_fraction_of_non_null_values(adult):
    emails = [f"user{i}@mail.example.com" for i in range(N)]
    for i in range(0, N, 10):  # 10% junk
        emails[i] = "not an address"
    for i in range(5, N, 4):  # 25% missing: they do not count
        emails[i] = None
    frame = adult.head(N).with_columns(pl.Series("reach", emails))
    finding = _finding(engine.profile(frame), "reach")
    non_null = sum(e is not None for e in emails)
    matching = sum(e is not None and "@" in e for e in emails)
    assert finding.kind == "email"
    assert finding.share == pytest.approx(matching / non_null)


def test_numbers_failing_the_luhn_check_are_not_card_numbers(adult):
    rng = np.random.default_rng(5)
    bodies = ["5" + "".join(str(d) for d in rng.integers(0, 10, 14)) for _ in range(N)]
    wrong = [b + str((int(_luhn_check_digit(b)) + 1) % 10) for b in bodies]
    prof = engine.profile(adult.head(N).with_columns(pl.Series("card", wrong)))
    assert [f for f in prof.pii if f.column == "card"] == []


def test_ibans_with_wrong_check_digits_are_not_ibans(adult):
    rng = np.random.default_rng(6)
    good = _ibans(rng, N)
    bad = [iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:] for iban in good]
    prof = engine.profile(adult.head(N).with_columns(pl.Series("account", bad)))
    assert [f for f in prof.pii if f.kind == "iban"] == []


def test_card_numbers_stored_as_integers_are_found(adult):
    rng = np.random.default_rng(8)
    numbers = [int(c.replace(" ", "")) for c in _cards(rng, N)]
    prof = engine.profile(adult.head(N).with_columns(pl.Series("pan", numbers, dtype=pl.Int64)))
    assert _finding(prof, "pan").kind == "credit_card"


def test_bare_digit_strings_are_phone_numbers_only_when_the_name_says_so(adult):
    rng = np.random.default_rng(9)
    digits = [str(x) for x in rng.integers(2_000_000_000, 9_999_999_999, N)]
    frame = adult.head(N).with_columns(pl.Series("mobile", digits), pl.Series("reference", digits))
    prof = engine.profile(frame)
    assert _finding(prof, "mobile").kind == "phone"
    assert [f for f in prof.pii if f.column == "reference"] == []


def test_capitalised_words_are_names_only_under_a_name_like_column(players):
    frame = players.select("nameLast", pl.col("nameLast").alias("team_nickname"), "country")
    flagged = {f.column: f.kind for f in engine.profile(frame).pii}
    assert flagged == {"nameLast": "person_name"}


@pytest.mark.parametrize(
    "path",
    ["nyc_airbnb_2019.csv.gz", "mushroom.csv", "california_housing.csv.gz", "multitable/berka/order.csv.gz"],
)
def test_real_tables_without_personal_columns_have_no_findings(datasets, path):
    assert engine.profile(pl.read_csv(datasets / path)).pii == []


def test_a_unique_column_of_personal_data_is_warned_as_identifying(pii_profile):
    identifying = {w.column for w in pii_profile.warnings if w.code == "identifying"}
    assert "contact" in identifying  # every e-mail address is different
    assert "post" not in identifying  # a postcode is shared by many people


def test_recommendation_fakes_or_drops_the_personal_columns(pii_profile):
    roles = pii_profile.recommendation.settings["columns"]
    assert "tax_ref" in roles["drop"]
    assert {"contact", "tel", "card", "account", "client_addr", "first_name"} <= set(roles["fake"])
    assert "post" in roles["learn"]
    assert pii_profile.recommendation.settings["differential_privacy_suggested"] is True


def test_luhn_check_accepts_published_test_numbers_and_rejects_altered_ones():
    numbers = pl.Series(["4111111111111111", "5555555555554444", "378282246310005", "4111111111111112"])
    assert luhn_valid(numbers).tolist() == [True, True, True, False]


def test_iban_check_accepts_published_examples_and_rejects_altered_ones():
    ibans = pl.Series(["GB82WEST12345698765432", "DE89370400440532013000", "GB82WEST12345698765433"])
    assert iban_valid(ibans).tolist() == [True, True, False]
