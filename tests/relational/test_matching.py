"""Second-parent matching: capacities kept, close attributes preferred, refused inputs named."""

from __future__ import annotations

import datetime

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError
from engine.relational import matching
from engine.relational.matching import match_parents


@pytest.fixture(scope="module")
def clients(berka) -> pl.DataFrame:
    """berka ``client`` attributes as a child would want them: birth number, district as a category."""
    return berka["client"].select("birth_number", pl.col("district_id").cast(pl.String))


def _perturbed(clients: pl.DataFrame, seed: int) -> pl.DataFrame:
    """A copy with each birth number moved by up to 3 (days, in berka's YYMMDD encoding)."""
    rng = np.random.default_rng(seed)
    return clients.with_columns(pl.col("birth_number") + rng.integers(-3, 4, clients.height))


def test_capacities_are_met_exactly_when_they_sum_to_the_wanted_rows(clients):
    rng = np.random.default_rng(0)
    wanted = clients.sample(n=8_000, with_replacement=True, seed=1)
    capacity = rng.multinomial(wanted.height, np.ones(clients.height) / clients.height)

    assigned = match_parents(wanted=wanted, offered=clients, capacity=capacity, at_most_one=False, seed=0)

    assert (assigned >= 0).all()
    assert np.array_equal(np.bincount(assigned, minlength=clients.height), capacity)


def test_at_most_one_never_gives_an_offered_row_two_children_and_leaves_the_rest_unmatched(clients):
    offered = clients.head(3_000)
    assigned = match_parents(
        wanted=clients, offered=offered, capacity=np.ones(offered.height, dtype=int), at_most_one=True, seed=0
    )

    matched = assigned[assigned >= 0]
    assert np.bincount(matched).max() == 1
    assert matched.size == offered.height
    assert (assigned == -1).sum() == clients.height - offered.height


def test_capacities_short_of_the_wanted_rows_are_scaled_up_so_every_row_is_placed(clients):
    capacity = np.where(np.arange(clients.height) % 2 == 0, 1, 0)  # room for half the rows

    assigned = match_parents(wanted=clients, offered=clients, capacity=capacity, at_most_one=False, seed=0)

    assert (assigned >= 0).all()
    assert (capacity[assigned] > 0).all()  # scaled proportionally: capacity 0 stays unused
    assert np.bincount(assigned, minlength=clients.height).max() == 2


def test_offered_rows_without_capacity_take_children_only_when_the_others_are_full(clients):
    capacity = np.where(np.arange(clients.height) < 1_000, 1, 0)
    wanted = clients.head(1_200)

    assigned = match_parents(wanted=wanted, offered=clients, capacity=capacity, at_most_one=True, seed=0)

    assert (assigned >= 0).all()
    assert (capacity[assigned] == 0).sum() == 200
    assert np.bincount(assigned).max() == 1


def test_capacities_all_zero_spread_the_rows_evenly(clients):
    wanted = clients.head(1_000)

    assigned = match_parents(
        wanted=wanted, offered=clients.head(250), capacity=np.zeros(250, dtype=int), at_most_one=False, seed=0
    )

    assert np.bincount(assigned, minlength=250).tolist() == [4] * 250


def test_rows_left_after_the_nearest_neighbour_rounds_are_dealt_within_capacity(clients, monkeypatch):
    monkeypatch.setattr(matching, "_ROUNDS", 0)  # every row goes to the round-robin fill
    capacity = np.random.default_rng(6).multinomial(clients.height, np.ones(clients.height) / clients.height)

    assigned = match_parents(wanted=clients, offered=clients, capacity=capacity, at_most_one=False, seed=0)

    assert np.array_equal(np.bincount(assigned, minlength=clients.height), capacity)


def test_most_clients_get_their_own_row_back_from_a_perturbed_copy(clients):
    wanted = _perturbed(clients, seed=3)

    assigned = match_parents(
        wanted=wanted, offered=clients, capacity=np.ones(clients.height, dtype=int), at_most_one=False, seed=0
    )

    assert (assigned == np.arange(clients.height)).mean() > 0.8


def test_a_category_mismatch_weighs_more_than_a_near_number(clients):
    """Client 0 is offered twice, among the clients of other districts: with a birth number about
    0.4 sd off (12% of the ranks), or exact but in another district. The first must win."""
    first = clients.row(0, named=True)
    others = clients.filter(pl.col("district_id") != first["district_id"])
    numbers = others["birth_number"].sort()
    step = round(0.12 * numbers.len())
    rank = numbers.search_sorted(first["birth_number"])
    near = numbers[rank + step] if rank + step < numbers.len() else numbers[rank - step]
    offered = pl.concat(
        [
            pl.DataFrame({"birth_number": [near, first["birth_number"]], "district_id": [first["district_id"], others["district_id"][0]]}),
            others,
        ]
    )

    assigned = match_parents(
        wanted=clients.head(1), offered=offered, capacity=np.ones(offered.height, dtype=int), at_most_one=False, seed=0
    )

    assert assigned.tolist() == [0]


def test_nulls_strings_dates_and_booleans_match_their_equals():
    offered = pl.DataFrame(
        {
            "amount": [10.0, None, 30.0, 40.0, None, 60.0],
            "kind": ["a", "b", None, "a", "b", None],
            "day": [datetime.date(2020, 1, d) for d in (1, 2, 3, 4, 5, 6)],
            "flag": [True, False, None, True, False, True],
        }
    )
    order = [5, 3, 0, 4, 1, 2]
    wanted = offered[order]

    assigned = match_parents(wanted=wanted, offered=offered, capacity=np.ones(6, dtype=int), at_most_one=False, seed=0)

    assert assigned.tolist() == order


def test_a_null_wanted_value_prefers_a_null_offered_one():
    offered = pl.DataFrame({"amount": [None, 5.0, 7.0], "kind": ["x", "x", "y"]})
    wanted = pl.DataFrame({"amount": [None], "kind": ["x"]})

    assigned = match_parents(wanted=wanted, offered=offered, capacity=np.ones(3, dtype=int), at_most_one=False, seed=0)

    assert assigned.tolist() == [0]


def test_wanted_floats_match_offered_integers_and_column_order_does_not_matter(clients):
    wanted = clients.select("district_id", pl.col("birth_number").cast(pl.Float64))

    assigned = match_parents(
        wanted=wanted, offered=clients, capacity=np.ones(clients.height, dtype=int), at_most_one=False, seed=0
    )

    assert (assigned == np.arange(clients.height)).mean() > 0.95


def test_the_same_seed_gives_the_same_assignment(clients):
    wanted = _perturbed(clients, seed=4)
    capacity = np.random.default_rng(5).multinomial(clients.height, np.ones(clients.height) / clients.height)

    runs = [
        match_parents(wanted=wanted, offered=clients, capacity=capacity, at_most_one=False, seed=seed)
        for seed in (7, 7, 8)
    ]

    assert np.array_equal(runs[0], runs[1])
    assert np.bincount(runs[2], minlength=clients.height).tolist() == capacity.tolist()


def test_two_hundred_thousand_children_match_fifty_thousand_parents():
    rng = np.random.default_rng(0)

    def frame(rows: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "amount": rng.lognormal(size=rows),
                "kind": rng.choice(["a", "b", "c", "d"], rows),
                "city": rng.integers(0, 500, rows).astype(str),
                "since": pl.Series(rng.integers(0, 20_000, rows)).cast(pl.Date),
            }
        )

    capacity = rng.multinomial(200_000, np.ones(50_000) / 50_000)

    assigned = match_parents(wanted=frame(200_000), offered=frame(50_000), capacity=capacity, at_most_one=False, seed=0)

    assert np.array_equal(np.bincount(assigned, minlength=50_000), capacity)


def test_no_offered_rows_leaves_every_row_unmatched(clients):
    assigned = match_parents(
        wanted=clients.head(5), offered=clients.head(0), capacity=np.zeros(0, dtype=int), at_most_one=False, seed=0
    )

    assert assigned.tolist() == [-1] * 5


def test_columns_on_one_side_only_are_refused_by_name(clients):
    with pytest.raises(ConfigError, match=r"only in wanted: 'age'.*only in offered: 'district_id'"):
        match_parents(
            wanted=clients.select("birth_number", age=pl.lit(1)),
            offered=clients,
            capacity=np.ones(clients.height, dtype=int),
            at_most_one=False,
            seed=0,
        )


def test_capacity_of_the_wrong_shape_is_refused(clients):
    with pytest.raises(ConfigError, match=r"capacity must have shape \(5369,\)"):
        match_parents(wanted=clients, offered=clients, capacity=np.ones(10, dtype=int), at_most_one=False, seed=0)


def test_negative_capacity_is_refused(clients):
    capacity = np.ones(clients.height, dtype=int)
    capacity[3] = -1
    with pytest.raises(ConfigError, match="non-negative; 1 offered rows"):
        match_parents(wanted=clients, offered=clients, capacity=capacity, at_most_one=False, seed=0)


def test_columns_of_incompatible_types_are_refused_by_name(clients):
    offered = clients.with_columns(pl.date(2000, 1, 1).alias("birth_number"))
    with pytest.raises(ConfigError, match="column 'birth_number' cannot be matched"):
        match_parents(
            wanted=clients, offered=offered, capacity=np.ones(clients.height, dtype=int), at_most_one=False, seed=0
        )


def test_a_seed_that_is_not_a_whole_number_is_refused(clients):
    with pytest.raises(ConfigError, match="seed must be a whole number; got None"):
        match_parents(
            wanted=clients, offered=clients, capacity=np.ones(clients.height, dtype=int), at_most_one=False, seed=None
        )
