"""Conditions: the safe expression language and the dict form, applied to the real adult table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from engine.errors import ConfigError
from engine.models.conditions import InfeasibleConditionError, parse_conditions


def _adult(path: Path) -> pl.DataFrame:
    frame = pl.read_csv(path)
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(pl.col(strings).str.strip_chars_start())
    return frame.with_columns(pl.when(pl.col(c) == "?").then(None).otherwise(pl.col(c)).alias(c) for c in strings)


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return _adult(datasets / "adult.csv")


def _rows(adult: pl.DataFrame, conditions: object) -> pl.DataFrame:
    parsed = parse_conditions(conditions, schema=adult.schema)
    assert parsed is not None
    return adult.filter(parsed.expr)


def test_an_expression_selects_the_rows_polars_would(adult: pl.DataFrame) -> None:
    got = _rows(adult, "age > 65 and sex == 'Female'")
    want = adult.filter((pl.col("age") > 65) & (pl.col("sex") == "Female"))
    assert got.height > 0 and got.equals(want)


def test_or_not_in_and_parentheses_combine_as_in_python(adult: pl.DataFrame) -> None:
    got = _rows(adult, "(workclass in ['State-gov', 'Local-gov'] or income == '>50K') and not (age < 30)")
    want = adult.filter(
        (pl.col("workclass").is_in(["State-gov", "Local-gov"]) | (pl.col("income") == ">50K")) & ~(pl.col("age") < 30)
    )
    assert got.height > 0 and got.equals(want)


def test_chained_comparisons_become_one_term_per_link(adult: pl.DataFrame) -> None:
    parsed = parse_conditions("18 <= age < 30", schema=adult.schema)
    assert parsed is not None
    assert [c.text for c in parsed.conjuncts] == ["18 <= age", "age < 30"]
    assert adult.filter(parsed.expr).equals(adult.filter((pl.col("age") >= 18) & (pl.col("age") < 30)))


def test_a_constant_on_the_left_is_flipped(adult: pl.DataFrame) -> None:
    assert _rows(adult, "65 < age").equals(adult.filter(pl.col("age") > 65))


def test_negative_numbers_and_not_in_are_allowed(adult: pl.DataFrame) -> None:
    got = _rows(adult, "capital-gain > -1 and race not in ('White', 'Black')".replace("capital-gain", "age"))
    assert got.equals(adult.filter((pl.col("age") > -1) & ~pl.col("race").is_in(["White", "Black"])))


def test_none_means_missing(adult: pl.DataFrame) -> None:
    assert _rows(adult, "occupation == None").height == adult.get_column("occupation").null_count()
    assert _rows(adult, "occupation != None").height == adult.height - adult.get_column("occupation").null_count()


def test_a_dict_means_every_equality_and_a_list_means_one_of(adult: pl.DataFrame) -> None:
    got = _rows(adult, {"sex": "Female", "workclass": ["Private", "State-gov"]})
    want = adult.filter((pl.col("sex") == "Female") & pl.col("workclass").is_in(["Private", "State-gov"]))
    assert got.height > 0 and got.equals(want)


def test_equalities_are_listed_for_native_conditioning(adult: pl.DataFrame) -> None:
    parsed = parse_conditions("age > 65 and sex == 'Female' and 'Private' == workclass", schema=adult.schema)
    assert parsed is not None
    assert parsed.equalities() == {"sex": "Female", "workclass": "Private"}
    assert parse_conditions("sex == 'Female' or age > 65", schema=adult.schema).equalities() == {}  # type: ignore[union-attr]


def test_no_conditions_parse_to_none(adult: pl.DataFrame) -> None:
    assert parse_conditions(None, schema=adult.schema) is None
    assert parse_conditions("  ", schema=adult.schema) is None
    assert parse_conditions({}, schema=adult.schema) is None


def test_an_unknown_column_is_named(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown column 'salary'"):
        parse_conditions("salary > 5", schema=adult.schema)
    with pytest.raises(ConfigError, match="unknown column 'salary'"):
        parse_conditions({"salary": 5}, schema=adult.schema)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("__import__('os').system('true')", "Call"),
        ("age.real > 3", "Attribute"),
        ("age + 1 > 3", "BinOp"),
        ("age > 3 if sex else 1", "IfExp"),
        ("[x for x in age]", "ListComp"),
        ("lambda: 1", "Lambda"),
        ("age is None", "Is"),
    ],
)
def test_anything_beyond_comparisons_and_boolean_logic_is_refused_by_name(adult: pl.DataFrame, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_conditions(text, schema=adult.schema)


def test_syntax_errors_say_where(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="not valid syntax at column"):
        parse_conditions("age >> > 3", schema=adult.schema)


def test_a_bare_column_is_not_a_condition(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="bare column"):
        parse_conditions("age and sex == 'Male'", schema=adult.schema)


def test_constants_must_match_the_column_type(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="'age' holds numbers"):
        parse_conditions("age == 'old'", schema=adult.schema)
    with pytest.raises(ConfigError, match="'sex' holds strings"):
        parse_conditions({"sex": 1}, schema=adult.schema)


def test_date_columns_take_iso_strings(datasets: Path) -> None:
    airbnb = pl.read_csv(datasets / "nyc_airbnb_2019.csv.gz", try_parse_dates=True)
    assert airbnb.schema["last_review"] == pl.Date
    got = airbnb.filter(parse_conditions("last_review >= '2019-06-01'", schema=airbnb.schema).expr)  # type: ignore[union-attr]
    want = airbnb.filter(pl.col("last_review") >= dt.date(2019, 6, 1))
    assert got.height > 0 and got.equals(want)
    with pytest.raises(ConfigError, match="not an ISO date"):
        parse_conditions("last_review > 'June'", schema=airbnb.schema)


def test_an_equality_outside_the_learned_values_is_infeasible_at_once(adult: pl.DataFrame) -> None:
    domains = {"sex": ["Male", "Female"]}
    with pytest.raises(InfeasibleConditionError, match=r"'Femal' is not a value of 'sex'.*acceptance rate 0%") as info:
        parse_conditions("age > 30 and sex == 'Femal'", schema=adult.schema, domains=domains)
    assert info.value.condition == "sex == 'Femal'"


def test_conditions_must_be_a_string_or_a_dict(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="expression string or a dict"):
        parse_conditions(["age > 3"], schema=adult.schema)  # type: ignore[arg-type]
