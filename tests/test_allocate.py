"""Allocation invariants, on crafted and on generated rosters and books."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.allocate import allocate
from pipeline.policy import Policy
from tests.factories import collector, roster

CITIES = ["上海", "杭州", "南京"]
DEBTOR_SCHEMA = {
    "debtor_key": pl.Utf8,
    "debtor_cases": pl.UInt32,
    "letter_cases": pl.UInt32,
    "debtor_city": pl.Utf8,
    "previous_collector_id": pl.Utf8,
    "value_phone": pl.Float64,
    "value_visit": pl.Float64,
    "value_letter": pl.Float64,
}


def debtors(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=DEBTOR_SCHEMA)


def debtor(key: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "debtor_key": key,
        "debtor_cases": 1,
        "letter_cases": 1,
        "debtor_city": "上海",
        "previous_collector_id": None,
        "value_phone": 100.0,
        "value_visit": None,
        "value_letter": None,
    }
    row.update(values)
    return row


def test_best_value_first_and_the_rest_over_capacity() -> None:
    book = debtors([debtor("a", value_phone=10.0), debtor("b", value_phone=30.0), debtor("c")])
    result = allocate(book, roster(collector("P1", "phone", capacity=2)), Policy())
    assert sorted(result.assigned.get_column("debtor_key").to_list()) == ["b", "c"]
    assert result.unassigned.get_column("debtor_key").to_list() == ["a"]


def test_a_full_pool_falls_back_to_the_next_best_channel() -> None:
    book = debtors(
        [debtor("a", value_phone=50.0, value_letter=20.0), debtor("b", value_phone=60.0)]
    )
    team = roster(collector("P1", "phone", capacity=1), collector("L1", "letter"))
    result = allocate(book, team, Policy())
    channels = dict(result.assigned.select("debtor_key", "channel").iter_rows())
    assert channels == {"b": "phone", "a": "letter"}


def test_continuity_keeps_the_debtor_with_its_collector() -> None:
    book = debtors([debtor("a", previous_collector_id="P2")])
    team = roster(collector("P1", "phone", capacity=9), collector("P2", "phone", capacity=1))
    result = allocate(book, team, Policy())
    assert result.assigned.get_column("collector_id").to_list() == ["P2"]


def test_a_debtor_whose_collector_is_away_goes_to_another() -> None:
    book = debtors([debtor("a", previous_collector_id="P2")])
    team = roster(collector("P1", "phone"), collector("P2", "phone", active=False))
    result = allocate(book, team, Policy())
    assert result.assigned.get_column("collector_id").to_list() == ["P1"]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    n_collectors = draw(st.integers(1, 8))
    team = []
    for i in range(n_collectors):
        channel = draw(st.sampled_from(["phone", "visit", "letter"]))
        cities = draw(st.lists(st.sampled_from(CITIES), min_size=1, max_size=2, unique=True))
        team.append(
            collector(
                f"K{i}",
                channel,
                capacity=draw(st.integers(1, 6)),
                cities=cities if channel == "visit" else [],
                active=draw(st.booleans()),
            )
        )
    ids = [str(c["collector_id"]) for c in team]
    value = st.one_of(st.none(), st.floats(-50, 5000, allow_nan=False))
    book = [
        debtor(
            f"d{j}",
            debtor_cases=draw(st.integers(1, 3)),
            letter_cases=1,
            debtor_city=draw(st.sampled_from(CITIES)),
            previous_collector_id=draw(st.one_of(st.none(), st.sampled_from(ids))),
            value_phone=draw(value),
            value_visit=draw(value),
            value_letter=draw(value),
        )
        for j in range(draw(st.integers(0, 30)))
    ]
    return debtors(book), roster(*team)


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_allocation_invariants(world: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    book, team = world
    result = allocate(book, team, Policy())
    assigned = result.assigned.join(book, on="debtor_key").join(team, on="collector_id")
    # each debtor at most once
    assert assigned.get_column("debtor_key").is_unique().all()
    # inactive collectors get nothing; a collector only works its own channel
    assert assigned.get_column("active").all()
    assert (assigned.get_column("channel") == assigned.get_column("channel_right")).all()
    # visits only within the collector's cities
    visits = assigned.filter(pl.col("channel") == "visit")
    for city, cities in visits.select("debtor_city", "cities").iter_rows():
        assert city in cities
    # no collector over capacity (letters count the letter cases, other channels all cases)
    units = pl.when(pl.col("channel") == "letter").then("letter_cases").otherwise("debtor_cases")
    load = assigned.group_by("collector_id").agg(
        units.sum().alias("used"), pl.col("daily_capacity").first()
    )
    assert (load.get_column("used") <= load.get_column("daily_capacity")).all()
    # every debtor with an eligible channel is either allocated or over capacity, never both
    eligible = book.filter(
        pl.any_horizontal(pl.col(f"value_{c}").is_not_null() for c in ("phone", "visit", "letter"))
    ).get_column("debtor_key")
    placed = set(result.assigned.get_column("debtor_key")) | set(
        result.unassigned.get_column("debtor_key")
    )
    assert placed == set(eligible)
    assert not set(result.assigned.get_column("debtor_key")) & set(
        result.unassigned.get_column("debtor_key")
    )
