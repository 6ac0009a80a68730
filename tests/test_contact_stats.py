"""The per-case contact stats (sql/contact_stats.sql), folded in night after night from each
night's new notes, give the night's book exactly as the whole-history query does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.features import feature_frame, night_features
from models.score import model_scores
from models.train import train
from pipeline import warehouse
from pipeline.load import (
    build_contact_stats,
    contact_stats_current,
    load,
    night_book,
    night_part,
)
from pipeline.parts import WHOLE, night_parts
from tests.warehouse_fixture import NO_REJECTS, File, history_dates, history_warehouse

NIGHTS = history_dates()
KEYS = ["client_id", "case_id"]  # the queries leave the order to pipeline.load.night_book
LAST_NIGHT = NIGHTS[-1]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The samples' 13 history nights, loaded night by night (the stats folded 13 times)."""
    yield from history_warehouse(tmp_path_factory.mktemp("stats"))


def _full(con: duckdb.DuckDBPyConnection, day: date) -> pl.DataFrame:
    return warehouse.query(con, "night_cases", {"business_date": day, **WHOLE.params()}).sort(KEYS)


def _from_stats(con: duckdb.DuckDBPyConnection, day: date) -> pl.DataFrame:
    return night_part(con, day)[0]


def test_the_book_from_the_stats_equals_the_book_from_the_whole_history(
    con: duckdb.DuckDBPyConnection,
) -> None:
    full = _full(con, LAST_NIGHT)
    assert full.height > 1000 and full.get_column("attempts").sum() > 0
    # the columns the rule packs count are not all empty: the comparison means something
    for column in ("last_phone_outcomes", "last_letter_outcome", "last_conversation_on"):
        assert full.get_column(column).null_count() < full.height, column
    assert full.get_column("failed_call_days").sum() > 0
    assert full.get_column("phone_attempts_6d").sum() > 0
    assert_frame_equal(_from_stats(con, LAST_NIGHT), full)
    assert_frame_equal(night_book(con, LAST_NIGHT), full)


def test_tonights_features_from_the_stats_equal_the_point_in_time_recomputation(
    con: duckdb.DuckDBPyConnection,
) -> None:
    full = feature_frame(con, LAST_NIGHT, LAST_NIGHT)
    assert contact_stats_current(con, LAST_NIGHT)
    incremental = night_part(con, LAST_NIGHT)[1]
    # the comparison means something: every history feature varies across the night's cases
    for column in ("attempts", "attempts_30d", "complaints", "promises_kept", "promises_broken"):
        assert full.get_column(column).n_unique() > 1, column
    assert_frame_equal(incremental.sort("client_id", "case_id"), full)
    assert_frame_equal(night_features(con, LAST_NIGHT), full)


def test_the_scores_from_the_stats_equal_those_from_the_whole_history(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from models.registry import Registry

    home = tmp_path / "home"
    result = train(con, home)
    loaded = Registry(home).load(result.version)
    full, full_drift = model_scores(feature_frame(con, LAST_NIGHT, LAST_NIGHT), loaded)
    incremental, drift = model_scores(night_features(con, LAST_NIGHT), loaded)
    assert_frame_equal(incremental, full)
    assert drift == full_drift


def test_stats_rebuilt_at_once_equal_the_stats_folded_night_by_night(
    con: duckdb.DuckDBPyConnection,
) -> None:
    order = "order by client_id, case_id"
    folded = warehouse.select(con, f"select * from case_contact_stats {order}")
    con.execute("begin")
    try:
        con.execute("delete from case_contact_stats")
        build_contact_stats(con)
        rebuilt = warehouse.select(con, f"select * from case_contact_stats {order}")
    finally:
        con.execute("rollback")
    assert_frame_equal(rebuilt, folded)


def _stats(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return warehouse.select(con, "select * from case_contact_stats order by client_id, case_id")


def _rebuilt(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The stats built at once from every note (rolled back)."""
    con.execute("begin")
    try:
        con.execute("delete from case_contact_stats")
        build_contact_stats(con)
        return _stats(con)
    finally:
        con.execute("rollback")


def test_a_past_night_run_again_reads_the_whole_history(con: duckdb.DuckDBPyConnection) -> None:
    """Notes loaded after a past night are later than it: the stats would count them, so the
    book of that night comes from the whole history (as it did that night)."""
    past = NIGHTS[5]
    assert not contact_stats_current(con, past)
    assert not _from_stats(con, past).equals(_full(con, past))  # the stats know the future
    assert_frame_equal(night_book(con, past), _full(con, past))
    assert_frame_equal(night_features(con, past), feature_frame(con, past, past))


@pytest.mark.parametrize("night", [LAST_NIGHT, NIGHTS[5]])  # from the stats; from the history
def test_the_parts_of_a_night_are_its_book_and_features_each_debtor_in_one_part(
    con: duckdb.DuckDBPyConnection, night: date
) -> None:
    """pipeline.parts: the parts of the book and of its features, put together, are the whole
    ones, and every case of a debtor is in the same part (the rules and values are per debtor)."""
    cut = night_parts(con, night, part_cases=600)
    assert len(cut) >= 4 and {p.count for p in cut} == {len(cut)}
    books = [night_book(con, night, p).with_columns(part=pl.lit(p.index)) for p in cut]
    book = pl.concat(books)
    assert min(b.height for b in books) > 0
    assert book.select("client_id", "customer_id", "part").unique().height == (
        book.select("client_id", "customer_id").unique().height
    )
    assert_frame_equal(book.drop("part").sort(KEYS), night_book(con, night))
    features = pl.concat(night_features(con, night, p) for p in cut)
    assert_frame_equal(features.sort(KEYS), night_features(con, night).sort(KEYS))


def _case() -> dict[str, object]:
    """The one case the notes of these tests are told on."""
    return {
        "case_id": "C1",
        "client_id": "K1",
        "batch_id": None,
        "product": "credit_card",
        "customer_id": "D1",
        "customer_name": "x",
        "id_number": None,
        "card_number": None,
        "phone": None,
        "address": None,
        "province": None,
        "city": "Shanghai",
        "district": None,
        "principal": 100.0,
        "amount_owed": 100.0,
        "days_overdue": 30,
        "last_payment_date": None,
        "last_payment_amount": None,
        "handover_date": date(2026, 11, 1),
        "return_date": date(2027, 1, 1),
        "status": "active",
        "do_not_contact": False,
        "_file": "cases.csv",
        "_row": 2,
    }


def _note(note_id: str, at: datetime, channel: str, outcome: str) -> dict[str, object]:
    return {
        "note_id": note_id,
        "case_id": "C1",
        "client_id": "K1",
        "collector_id": "P1",
        "channel": channel,
        "contacted_at": at,
        "outcome": outcome,
        "promise_amount": None,
        "promise_date": None,
        "complaint": False,
        "_file": "contacts.csv",
        "_row": 2,
    }


def test_a_reach_tonight_clears_the_failed_days_kept_from_before(tmp_path: Path) -> None:
    """Failed calls on two days, then the debtor reached, then one more failed day: the stats
    fold each night's notes in, and count only the failed day after the reach."""
    first, second, third = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)
    nights = {
        first: [
            _note("n1", datetime(2026, 11, 9, 10), "phone", "no_answer"),
            _note("n2", datetime(2026, 11, 10, 10), "phone", "no_answer"),
        ],
        second: [
            _note("n3", datetime(2026, 11, 11, 9), "phone", "no_answer"),
            _note("n4", datetime(2026, 11, 11, 11), "phone", "right_party"),
        ],
        third: [_note("n5", datetime(2026, 11, 12, 10), "phone", "wrong_number")],
    }
    con = warehouse.connect(tmp_path)
    try:
        expected_days = {first: 2, second: 0, third: 1}
        for day, notes in nights.items():
            frames = {"cases": pl.DataFrame([_case()]), "contacts": pl.DataFrame(notes)}
            load(con, frames, NO_REJECTS, [File("f", f"{day}", "cases")], day)
            book = night_book(con, day)
            assert_frame_equal(book, _full(con, day))
            assert book.get_column("failed_call_days").to_list() == [expected_days[day]]
        last = night_book(con, third).row(0, named=True)
        assert last["last_phone_outcomes"] == ["wrong_number", "right_party", "no_answer"]
        assert last["last_outcome"] == "wrong_number"
        assert last["attempts"] == 5 and last["right_party_contacts"] == 1
        assert last["previous_worked_on"] == third
    finally:
        con.close()


def test_a_failed_day_told_on_two_nights_is_kept_once_with_its_last_call(tmp_path: Path) -> None:
    """A day's failed calls may arrive on two nights (a late note): the folded stats keep the
    day once, with its last call, as the whole history does."""
    case = pl.DataFrame([_case()])
    first, second = date(2026, 11, 10), date(2026, 11, 11)
    nights = {
        first: [
            _note("n1", datetime(2026, 11, 9, 10), "phone", "no_answer"),
            _note("n2", datetime(2026, 11, 10, 9), "phone", "no_answer"),
        ],
        second: [  # a later call of the 10th told late, an earlier one, and one on the 11th
            _note("n3", datetime(2026, 11, 10, 15), "phone", "third_party"),
            _note("n4", datetime(2026, 11, 9, 8), "phone", "no_answer"),
            _note("n5", datetime(2026, 11, 11, 10), "phone", "wrong_number"),
        ],
    }
    con = warehouse.connect(tmp_path)
    try:
        for day, notes in nights.items():
            frames = {"cases": case, "contacts": pl.DataFrame(notes)}
            load(con, frames, NO_REJECTS, [File("f", f"{day}", "cases")], day)
            assert_frame_equal(night_book(con, day), _full(con, day))
        kept = con.execute("select failed_days from case_contact_stats").fetchall()
        assert kept == [
            (
                [
                    {"day": date(2026, 11, 9), "called_at": datetime(2026, 11, 9, 10)},
                    {"day": date(2026, 11, 10), "called_at": datetime(2026, 11, 10, 15)},
                    {"day": date(2026, 11, 11), "called_at": datetime(2026, 11, 11, 10)},
                ],
            )
        ]
    finally:
        con.close()
