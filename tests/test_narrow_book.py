"""Issue 8: the night's book carries no names, numbers or addresses; the worked rows' are read by
key after the allocation, and they show on the worklists and letters as before."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.features import night_features
from models.score import rule_scores
from pipeline import warehouse
from pipeline.allocate import allocate
from pipeline.assemble import DETAIL_COLUMNS, CaseDetails, NightFrames, assemble
from pipeline.changes import DEBTOR_VALUES, decisions_frame
from pipeline.load import case_details, night_book, night_part
from pipeline.parts import WHOLE
from pipeline.policy import Policy
from pipeline.review import review_inputs
from pipeline.strategy import decide
from tests.factories import TONIGHT, case, collector, details, night, roster, scores
from tests.warehouse_fixture import history_dates, history_warehouse

LAST_NIGHT = history_dates()[-1]
# What a case says of the person: none of it is in the book.
PERSONAL = {"customer_name", "id_number", "card_number", "phone", "address", "province", "district"}
KEYS = ["client_id", "case_id"]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The samples' 13 history nights."""
    yield from history_warehouse(tmp_path_factory.mktemp("narrow"))


@pytest.mark.parametrize("name", ["night_part", "night_cases"])
def test_the_book_says_whether_a_case_has_a_phone_and_an_address_never_what_they_are(
    con: duckdb.DuckDBPyConnection, name: str
) -> None:
    if name == "night_part":  # the book from the stats, and its features beside it
        book, features = night_part(con, LAST_NIGHT)
        assert PERSONAL.isdisjoint(features.columns)
    else:
        book = warehouse.query(con, name, {"business_date": LAST_NIGHT, **WHOLE.params()})
    assert book.height > 1000
    assert PERSONAL.isdisjoint(book.columns)
    truth = warehouse.select(
        con,
        "select client_id, case_id, phone is not null as has_phone, "
        "address is not null as has_address from cases",
    )
    got = book.select(*KEYS, "has_phone", "has_address").join(truth, on=KEYS, suffix="_cases")
    assert got.height == book.height
    for flag in ("has_phone", "has_address"):
        assert got.get_column(flag).equals(got.get_column(f"{flag}_cases")), flag
    # the samples hold cases with and without a phone: the comparison means something
    assert got.get_column("has_phone").n_unique() == 2


def test_case_details_are_the_current_cases_text_for_the_keys_asked_only(
    con: duckdb.DuckDBPyConnection,
) -> None:
    keys = night_book(con, LAST_NIGHT).select(KEYS).gather_every(97)
    got = case_details(con, keys)
    assert got.columns == [*KEYS, *DETAIL_COLUMNS]
    expected = (
        warehouse.select(con, f"select {', '.join([*KEYS, *DETAIL_COLUMNS])} from cases")
        .join(keys, on=KEYS, how="semi")
        .sort(KEYS)
    )
    assert got.height == keys.height
    assert_frame_equal(got, expected)


def _recording(source: CaseDetails, asked: list[pl.DataFrame]) -> CaseDetails:
    def read(keys: pl.DataFrame) -> pl.DataFrame:
        asked.append(keys)
        return source(keys)

    return read


def test_only_the_worked_rows_text_is_read_and_the_worklists_show_it() -> None:
    rows: tuple[dict[str, Any], ...] = (
        case("A", customer_id="D1", customer_name="张三", city="北京"),  # no visit there
        case("B", customer_id="D2", customer_name="李四", status="paid"),  # held: paid
        case("C", customer_id="D3", customer_name="王五", phone=None, balance=900.0),  # a visit
        case("D", customer_id="D4", customer_name="赵六", do_not_contact=True),  # held
    )
    team = roster(collector("P1", "phone"), collector("V1", "visit"))
    book = night(*rows)
    cases, debtors = decide(book, scores(book), team, Policy(), TONIGHT)
    asked: list[pl.DataFrame] = []
    frames = assemble(
        cases,
        debtors,
        allocate(debtors, team, Policy()),
        team,
        Policy(),
        TONIGHT,
        details=_recording(details(*rows), asked),
    )
    assert len(asked) == 1  # one read, of the worked rows: the held ones' text is never read
    assert sorted(asked[0].get_column("case_id").to_list()) == ["A", "C"]
    assert sorted(frames.holds.get_column("case_id").to_list()) == ["B", "D"]
    shown = {r["case_id"]: r for r in frames.worklists.iter_rows(named=True)}
    a, c = shown["A"], shown["C"]
    assert (a["channel"], a["customer_name"], a["phone"], a["address"]) == (
        "phone",
        "张三",
        "13800138000",
        None,  # an address only on visits and letters
    )
    assert (a["id_number"], a["card_number"]) == ("110101********4477", "****3445")
    assert (c["channel"], c["customer_name"], c["phone"]) == ("visit", "王五", None)
    assert (c["address"], c["district"]) == ("上海市浦东新区某路1号", "浦东新区")


def test_the_columns_kept_after_the_strategy_give_the_same_worklists_holds_and_decisions(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """pipeline.run keeps only ``review_inputs`` of a part's decided cases: if assemble or the
    decisions read a column left out, they would get nulls; on the samples' last night they
    give what the whole frame gives."""
    book = night_book(con, LAST_NIGHT)
    team = warehouse.query(con, "roster", {})
    policy = Policy()
    scored = rule_scores(night_features(con, LAST_NIGHT))
    cases, debtors = decide(book, scored, team, policy, LAST_NIGHT)
    narrow = review_inputs(cases)
    assert len(narrow.columns) < len(cases.columns) - 10  # something is let go
    allocation = allocate(debtors, team, policy)

    def night_of(frame: pl.DataFrame, values: pl.DataFrame) -> tuple[NightFrames, pl.DataFrame]:
        read = partial(case_details, con)
        frames = assemble(frame, debtors, allocation, team, policy, LAST_NIGHT, details=read)
        return frames, decisions_frame(frame, values, frames, policy)

    # the review reads only DEBTOR_VALUES of the debtors (pipeline.run lets the rest go)
    whole_frames, whole_decisions = night_of(cases, debtors)
    frames, decisions = night_of(narrow, debtors.select(DEBTOR_VALUES))
    assert whole_frames.worklists.height > 100 and whole_frames.holds.height > 100
    assert_frame_equal(frames.worklists, whole_frames.worklists)
    assert_frame_equal(frames.holds, whole_frames.holds)
    assert_frame_equal(decisions, whole_decisions)
