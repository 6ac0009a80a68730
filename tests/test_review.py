"""The night looked back on: decisions, what moved since the night before and why, scorecards."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from pipeline import warehouse
from pipeline.assemble import NightFrames
from pipeline.changes import CHANGE_KINDS, DECISION_SCHEMA, decisions_frame, night_changes
from pipeline.policy import Policy
from pipeline.review import NightReview, load_review, record_review
from pipeline.scorecards import SCORECARD_SCHEMA, cycle_start, scorecards
from pipeline.strategy import decide
from tests.factories import TONIGHT, case, collector, night, roster, scores
from tests.test_report import holds, work, worklists

ROSTER = roster(
    collector("P1", "phone", 2),
    collector("P2", "phone", 10),
    collector("P3", "phone", 5, active=False),
    collector("V1", "visit", 4),
    collector("L1", "letter", 50),
)


NO_WORK = pl.DataFrame(schema={"client_id": pl.Utf8, "case_id": pl.Utf8, "collector_id": pl.Utf8})


def decision(case_id: str, **overrides: Any) -> dict[str, Any]:
    """One case's decision: active, verified, worked by P2 by phone."""
    row: dict[str, Any] = {name: None for name in DECISION_SCHEMA}
    row.update(
        client_id="EASTBANK",
        case_id=case_id,
        customer_id=f"C-{case_id}",
        city="上海",
        status="active",
        previous_status="active",
        balance=5000.0,
        days_overdue=45,
        overdue_stage="M2",
        handover_date=TONIGHT - timedelta(days=20),
        return_date=TONIGHT + timedelta(days=70),
        p_repay=0.3,
        expected_recovery=1500.0,
        verified=True,
        can_phone=True,
        can_visit=True,
        can_letter=True,
        value_phone=1497.0,
        value_visit=2200.0,
        value_letter=585.0,
        placement="worked",
        collector_id="P2",
        channel="phone",
        rank=1,
        action="call: collect",
    )
    row.update(overrides)
    return row


def decisions(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=DECISION_SCHEMA)


def _change(changes: pl.DataFrame, case_id: str) -> dict[str, Any]:
    found = changes.filter(pl.col("case_id") == case_id)
    assert found.height == 1, f"{case_id}: {found.height} change rows"
    return found.row(0, named=True)


# --- decisions ---------------------------------------------------------------------------------


def test_every_case_of_the_book_gets_one_decision_with_its_rules_and_values() -> None:
    book = night(
        case("A"),  # worked by phone
        case("B", status="paid", previous_status="active"),  # closed tonight
        case("C", balance=800.0, right_party_contacts=0),  # no letter: R11, R19
        case("D", phone=None, address=None),  # no phone, no address
    )
    cases, debtors = decide(book, scores(book), ROSTER, Policy(), TONIGHT)
    frames = NightFrames(
        worklists=worklists(work("P2", 1, "A"), work("P2", 2, "C")),
        holds=holds(("B", "paid", None), ("D", "no usable channel (trace)", None)),
        letters=pl.DataFrame(),
    )
    got = decisions_frame(cases, debtors, frames, Policy())
    assert got.columns == list(DECISION_SCHEMA)
    assert got.get_column("case_id").to_list() == ["A", "B", "C", "D"]
    a, b, c, d = got.iter_rows(named=True)
    assert (a["placement"], a["collector_id"], a["channel"]) == ("worked", "P2", "phone")
    assert a["value_phone"] is not None and a["letter_rule"] is None
    assert (b["placement"], b["hold_reason"]) == ("held", "paid")
    assert c["letter_rule"].startswith("R11")
    assert d["phone_rule"] == "no phone number" and d["visit_rule"] == "no address to visit"


def test_decisions_keep_the_debtors_strategy_group_when_the_strategy_drew_one() -> None:
    book = night(case("A"), case("B", status="paid", previous_status="active"))
    cases, debtors = decide(book, scores(book), ROSTER, Policy(), TONIGHT)
    frames = NightFrames(
        worklists=worklists(work("P2", 1, "A")),
        holds=holds(("B", "paid", None)),
        letters=pl.DataFrame(),
    )
    drawn = cases.with_columns(
        pl.when(pl.col("case_id") == "A")
        .then(pl.lit("challenger"))
        .otherwise(pl.lit("champion"))
        .alias("strategy_group")
    )
    got = decisions_frame(drawn, debtors, frames, Policy())
    assert got.get_column("strategy_group").to_list() == ["challenger", "champion"]
    # A frame without groups (an older strategy) gives a null group, not an error.
    plain = decisions_frame(cases.drop("strategy_group", strict=False), debtors, frames, Policy())
    assert plain.get_column("strategy_group").null_count() == plain.height


# --- changes -----------------------------------------------------------------------------------


def test_a_first_night_compares_collectors_with_the_last_notes() -> None:
    tonight = decisions(
        decision("A", previous_collector_id="P3"),  # P3 is on leave
        decision("B", previous_collector_id="P2"),  # stayed
        decision("C", previous_status=None),  # new from the client
        decision("D", status="paid", placement="held", hold_reason="paid", collector_id=None),
    )
    changes = night_changes(tonight, None, ROSTER)
    assert _change(changes, "A")["change"] == "collector changed"
    assert _change(changes, "A")["reason"] == "P3 is on leave tonight"
    assert "B" not in changes.get_column("case_id").to_list()
    assert _change(changes, "C")["change"] == "new case"
    closed = _change(changes, "D")
    assert (closed["change"], closed["after"], closed["reason"]) == (
        "closed",
        "paid",
        "paid in full",
    )


def test_each_move_since_the_previous_night_says_why() -> None:
    before = decisions(
        decision("GONE", collector_id="PX"),  # PX left the roster
        decision("FULL", collector_id="P1"),  # P1 is full tonight
        decision("HELD", collector_id="P2"),
        decision("BACK", placement="held", hold_reason="over capacity", collector_id=None),
        decision("LETTER", collector_id="L1", channel="letter"),
        decision("VISIT", collector_id="P2"),
        decision("SAME", collector_id="P2"),
    )
    tonight = decisions(
        decision("GONE", collector_id="P2"),
        decision("FULL", collector_id="P2"),
        decision("P1A", collector_id="P1"),
        decision("P1B", collector_id="P1"),
        decision(
            "HELD",
            placement="held",
            hold_reason="promise to pay not yet due",
            collector_id=None,
            channel=None,
        ),
        decision("BACK", collector_id="P2"),
        decision("LETTER", letter_rule="R12: mail returned", can_letter=False),
        decision("VISIT", collector_id="V1", channel="visit"),
        decision("SAME", collector_id="P2"),
    )
    changes = night_changes(tonight, before, ROSTER)
    assert _change(changes, "GONE")["reason"] == "PX is no longer in the roster"
    assert _change(changes, "FULL")["reason"] == "P1 was full tonight (2/2 cases)"
    held = _change(changes, "HELD")
    assert (held["change"], held["before"], held["after"]) == (
        "now held",
        "P2 (phone)",
        "held: promise to pay not yet due",
    )
    back = _change(changes, "BACK")
    assert back["change"] == "back to work" and "over capacity" in back["reason"]
    letter = _change(changes, "LETTER")
    assert letter["change"] == "channel changed"
    assert letter["reason"] == "letter not possible tonight: R12: mail returned"
    visit = _change(changes, "VISIT")
    assert visit["change"] == "channel changed"
    assert visit["reason"] == "visit now worth more: ¥2200 against ¥1497 by phone"
    assert "SAME" not in changes.get_column("case_id").to_list()
    kinds = changes.get_column("change").to_list()
    assert kinds == sorted(kinds, key=CHANGE_KINDS.index), "listed in the order of CHANGE_KINDS"


def test_no_change_on_an_empty_night() -> None:
    assert night_changes(decisions(), None, ROSTER).is_empty()


# --- scorecards --------------------------------------------------------------------------------


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return warehouse.connect(tmp_path)


def _note(
    con: duckdb.DuckDBPyConnection, note_id: str, case_id: str, collector_id: str, **kw: Any
) -> None:
    row: dict[str, Any] = {
        "client_id": "EASTBANK",
        "note_id": note_id,
        "case_id": case_id,
        "collector_id": collector_id,
        "channel": "phone",
        "contacted_at": datetime(2026, 11, 10, 10, 0),
        "outcome": "no_answer",
        "promise_amount": None,
        "promise_date": None,
        "complaint": False,
        "business_date": date(2026, 11, 16),
    }
    row.update(kw)
    con.execute(
        "insert into contacts by name select * from (select "
        + ", ".join(f"${k} as {k}" for k in row)
        + ")",
        row,
    )


def _payment(con: duckdb.DuckDBPyConnection, payment_id: str, case_id: str, **kw: Any) -> None:
    row: dict[str, Any] = {
        "client_id": "EASTBANK",
        "payment_id": payment_id,
        "case_id": case_id,
        "paid_on": date(2026, 11, 12),
        "amount": 300.0,
        "business_date": date(2026, 11, 16),
    }
    row.update(kw)
    con.execute(
        "insert into payments by name select * from (select "
        + ", ".join(f"${k} as {k}" for k in row)
        + ")",
        row,
    )


def test_scorecards_count_the_cycle_work_promises_kept_recovery_and_complaints(
    con: duckdb.DuckDBPyConnection,
) -> None:
    promise = {"outcome": "promise_to_pay", "promise_date": date(2026, 11, 14)}
    _note(con, "N1", "A", "P1", outcome="right_party")
    _note(con, "N2", "A", "P1", **promise, promise_amount=300.0)  # kept: 300 paid on the 12th
    _note(con, "N3", "B", "P1", **promise, promise_amount=500.0)  # broken: nothing paid
    _note(con, "N4", "B", "P1", complaint=True)
    _note(con, "N5", "C", "P2", contacted_at=datetime(2026, 9, 1, 9, 0))  # before the cycle
    _note(  # loaded after the night: not known yet
        con, "N6", "C", "P2", contacted_at=datetime(2026, 11, 20, 9), business_date=TONIGHT
    )
    not_due = date(2026, 11, 21)
    _note(con, "N7", "D", "P2", outcome="promise_to_pay", promise_date=not_due)
    _payment(con, "Y1", "A")
    _payment(con, "Y2", "C", paid_on=date(2026, 9, 2))  # before the cycle
    tonight = pl.DataFrame(
        {"client_id": ["EASTBANK"] * 2, "case_id": ["A", "E"], "collector_id": ["P1", "P1"]}
    )
    day = date(2026, 11, 16)
    cards = scorecards(con, tonight, ROSTER, day, 30)
    assert cards.columns == list(SCORECARD_SCHEMA)
    p1 = cards.filter(pl.col("collector_id") == "P1").row(0, named=True)
    assert p1["cycle_start"] == cycle_start(day, 30) == date(2026, 10, 18)
    assert (p1["cases_allocated"], p1["cases_worked"], p1["attempts"]) == (2, 2, 4)
    assert (p1["right_party_contacts"], p1["promises"]) == (3, 2)
    assert (p1["promises_due"], p1["promises_kept"], p1["kept_rate"]) == (2, 1, 0.5)
    assert (p1["amount_recovered"], p1["complaints"]) == (300.0, 1)
    p2 = cards.filter(pl.col("collector_id") == "P2").row(0, named=True)
    assert (p2["attempts"], p2["promises"], p2["promises_due"], p2["amount_recovered"]) == (
        1,
        1,
        0,
        0.0,
    )
    # Collectors on leave with nothing in the cycle are left out; the others are all there.
    assert set(cards.get_column("collector_id")) == {"P1", "P2", "V1", "L1"}
    assert cards.get_column("collector_id").to_list()[0] == "P1", "best recovery first"


def test_a_payment_noted_by_two_collectors_at_once_goes_to_one_the_same_way_every_time(
    con: duckdb.DuckDBPyConnection,
) -> None:
    at = datetime(2026, 11, 11, 9, 30)
    for i in range(40):  # enough rows that a parallel arg_max could meet them in any order
        _note(con, f"NA{i}", f"K{i}", "P1", contacted_at=at)
        _note(con, f"NB{i}", f"K{i}", "P2", contacted_at=at)
        _note(con, f"NC{i}", f"K{i}", "V1", contacted_at=datetime(2026, 11, 1, 9, 0))
        _payment(con, f"Y{i}", f"K{i}", amount=10.0)
    day = date(2026, 11, 16)
    cards = scorecards(con, NO_WORK, ROSTER, day, 30)
    recovered = dict(cards.select("collector_id", "amount_recovered").iter_rows())
    # the later note wins; of two at the same moment, the greater collector id (P2)
    assert (recovered["P2"], recovered["P1"], recovered["V1"]) == (400.0, 0.0, 0.0)


def test_notes_long_before_the_cycle_count_nowhere(con: duckdb.DuckDBPyConnection) -> None:
    _note(con, "N1", "A", "P1", contacted_at=datetime(2026, 9, 1, 9, 0))  # 47 days before
    _note(con, "N2", "B", "P2", contacted_at=datetime(2026, 10, 1, 9, 0))  # 17 days before
    _payment(con, "Y1", "A", paid_on=date(2026, 10, 20))  # no note in the 30 days before
    _payment(con, "Y2", "B", paid_on=date(2026, 10, 20))  # P2's note 19 days before
    cards = scorecards(con, NO_WORK, ROSTER, date(2026, 11, 16), 30)
    recovered = dict(cards.select("collector_id", "amount_recovered").iter_rows())
    assert recovered["P2"] == 300.0 and recovered.get("P1", 0.0) == 0.0
    attempts = dict(cards.select("collector_id", "attempts").iter_rows())
    assert attempts.get("P1", 0) == 0 and attempts.get("P2", 0) == 0


def test_a_promise_made_the_day_before_the_cycle_counts_nowhere(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """The scorecard reads the notes once per figure (sql/scorecards.sql), each with the
    cycle's window: a kept promise made the day before the cycle is no one's promise."""
    kept = {"outcome": "promise_to_pay", "promise_date": date(2026, 10, 25)}
    _note(con, "N1", "A", "P1", **kept, contacted_at=datetime(2026, 10, 17, 9, 0))  # day before
    _note(con, "N2", "A", "P2", **kept, contacted_at=datetime(2026, 10, 18, 9, 0))  # first day
    _note(con, "N3", "B", "P1")  # P1 works in the cycle too
    _payment(con, "Y1", "A", paid_on=date(2026, 10, 20))
    cards = scorecards(con, NO_WORK, ROSTER, date(2026, 11, 16), 30)
    figures = {r["collector_id"]: r for r in cards.iter_rows(named=True)}
    promised = ("promises", "promises_due", "promises_kept")
    assert tuple(figures["P2"][c] for c in promised) == (1, 1, 1)
    assert tuple(figures["P1"][c] for c in promised) == (0, 0, 0)


def test_a_note_loaded_after_the_night_takes_no_payment_of_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A night's scorecards read the same when rebuilt later: the payment goes to the last note
    the warehouse held by the night, not to one loaded the next day."""
    _note(con, "N1", "A", "P1", contacted_at=datetime(2026, 11, 10, 9, 0))
    _note(con, "N2", "A", "P2", contacted_at=datetime(2026, 11, 11, 9, 0), business_date=TONIGHT)
    _payment(con, "Y1", "A", paid_on=date(2026, 11, 12))
    cards = scorecards(con, NO_WORK, ROSTER, date(2026, 11, 16), 30)
    recovered = dict(cards.select("collector_id", "amount_recovered").iter_rows())
    assert (recovered["P1"], recovered.get("P2", 0.0)) == (300.0, 0.0)


# --- the warehouse keeps the review ------------------------------------------------------------


def test_a_recorded_review_reads_back_the_same(con: duckdb.DuckDBPyConnection) -> None:
    tonight = decisions(decision("A", previous_collector_id="P3"), decision("B"))
    review = NightReview(
        decisions=tonight,
        changes=night_changes(tonight, None, ROSTER),
        scorecards=scorecards(con, NO_WORK, ROSTER, TONIGHT, 30),
        compared_with="the last collection notes (no earlier night was published)",
        cycle_start=cycle_start(TONIGHT, 30),
        training_deciles=None,
    )
    record_review(con, TONIGHT, "20261123-aaaaaaaa", review, ROSTER)
    record_review(con, TONIGHT, "20261123-bbbbbbbb", review, ROSTER)  # a re-run replaces
    back = load_review(con, Path("/nonexistent"), TONIGHT, None)
    assert back.decisions.equals(review.decisions)
    assert back.changes.equals(review.changes)
    assert back.scorecards.equals(review.scorecards)
    assert (back.compared_with, back.cycle_start) == (review.compared_with, review.cycle_start)
    count = con.execute("select count(*) from night_rosters").fetchall()[0][0]
    assert count == ROSTER.height
    # Without a key index, the re-run's delete is what keeps one row per case and night.
    rows = con.execute("select count(*), count(distinct case_id) from decisions").fetchall()[0]
    assert rows == (2, 2)


def test_an_older_warehouse_gains_the_new_columns_and_tables(tmp_path: Path) -> None:
    old = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    old.execute(
        "create table allocations (business_date date not null, run_id varchar not null, "
        "client_id varchar not null, case_id varchar not null, customer_id varchar not null, "
        "collector_id varchar not null, channel varchar not null, action varchar not null, "
        "rank integer not null, p_repay double, expected_recovery double, "
        "primary key (business_date, client_id, case_id))"
    )
    old.execute(
        "insert into allocations values ('2026-11-22', 'r', 'E', 'A', 'C', 'P1', 'phone', "
        "'call: collect', 1, 0.3, 10.0)"
    )
    old.close()
    con = warehouse.connect(tmp_path)
    columns = {r[0] for r in con.execute("describe allocations").fetchall()}
    assert {"collector_name", "amount_owed", "return_date", "extension_due"} <= columns
    assert con.execute("select count(*) from allocations").fetchall()[0][0] == 1
    tables = {r[0] for r in con.execute("show tables").fetchall()}
    assert {"decisions", "changes", "scorecards", "night_rosters", "night_reviews"} <= tables


def test_an_older_decisions_table_with_its_key_gains_the_strategy_group(tmp_path: Path) -> None:
    old = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    old.execute(
        "create table decisions (business_date date not null, run_id varchar not null, "
        "client_id varchar not null, case_id varchar not null, placement varchar not null, "
        "primary key (business_date, client_id, case_id))"
    )
    old.close()
    con = warehouse.connect(tmp_path)
    columns = {r[0] for r in con.execute("describe decisions").fetchall()}
    assert "strategy_group" in columns


def test_the_warehouse_keeps_every_column_a_worklist_shows() -> None:
    """A column added to the worklists must be kept too, or `caseflow export` cannot show it."""
    from pipeline.assemble import WORKLIST_COLUMNS
    from pipeline.review import STORED_WORKLIST_COLUMNS

    assert set(WORKLIST_COLUMNS) <= set(STORED_WORKLIST_COLUMNS)
    schema = warehouse.sql_text("schema")
    for column in WORKLIST_COLUMNS:
        assert re.search(rf"\b{column}\b", schema), f"allocations has no column {column}"


def test_holds_are_the_held_decisions_and_an_older_warehouse_keeps_its_own(tmp_path: Path) -> None:
    """``holds`` is a view of the held decisions (issue 8: no second copy of nearly the whole
    book a night). A warehouse from before keeps the holds it recorded: its table is renamed
    ``holds_recorded`` once, and its nights without decisions are read from there."""
    old = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    old.execute(  # the holds table as the first schema made it, key and all
        "create table holds (business_date date not null, run_id varchar not null, "
        "client_id varchar not null, case_id varchar not null, reason varchar not null, "
        "primary key (business_date, client_id, case_id))"
    )
    old.execute(
        "insert into holds values ('2026-10-01', 'r0', 'EASTBANK', 'E1', 'paid'), "
        "('2026-10-02', 'r1', 'EASTBANK', 'E1', 'paid')"
    )
    old.close()
    expected = [
        (date(2026, 10, 1), "EASTBANK", "E1", None, "paid", None),  # recorded, no decisions
        (date(2026, 10, 2), "EASTBANK", "E1", "C1", "legal", "extension due"),  # the decisions'
    ]
    for attempt in range(2):  # the rename happens once; connecting again changes nothing
        con = warehouse.connect(tmp_path)
        if attempt == 0:
            con.execute(
                "insert into night_reviews values ('2026-10-02', 'r1', 'notes', ?)", [TONIGHT]
            )
            con.execute(
                "insert into decisions (business_date, run_id, client_id, case_id, customer_id, "
                "placement, hold_reason, hold_detail) values "
                "('2026-10-02', 'r1', 'EASTBANK', 'E1', 'C1', 'held', 'legal', 'extension due'), "
                "('2026-10-02', 'r1', 'EASTBANK', 'E2', 'C2', 'worked', null, null)"
            )
        found = con.execute(
            "select business_date, client_id, case_id, customer_id, reason, detail from holds "
            "order by all"
        ).fetchall()
        kinds = dict(
            con.execute(
                "select table_name, table_type from information_schema.tables "
                "where table_name in ('holds', 'holds_recorded')"
            ).fetchall()
        )
        con.close()
        assert found == expected
        assert kinds == {"holds": "VIEW", "holds_recorded": "BASE TABLE"}
