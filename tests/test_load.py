"""load: upserts, appends without duplicates, roster replacement, snapshots, paid-off cases."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline import warehouse
from pipeline.load import begin, commit, load, rollback, transaction

NIGHT1 = date(2026, 11, 16)
NIGHT2 = date(2026, 11, 23)


@dataclass
class File:
    name: str
    sha256: str
    kind: str | None = "cases"
    status: str = "read"
    rows: int = 1
    archived_path: str = "archive/x"


def cases(*rows: tuple[str, float, str]) -> pl.DataFrame:
    """(case_id, amount_owed, customer_id) rows of one client's cases file."""
    n = len(rows)
    return pl.DataFrame(
        {
            "client_id": ["EASTBANK"] * n,
            "case_id": [r[0] for r in rows],
            "batch_id": ["B1"] * n,
            "product": ["credit_card"] * n,
            "customer_id": [r[2] for r in rows],
            "customer_name": ["李四"] * n,
            "id_number": [None] * n,
            "card_number": [None] * n,
            "phone": ["13900139000"] * n,
            "address": ["杭州市西湖区"] * n,
            "province": ["浙江"] * n,
            "city": ["杭州"] * n,
            "principal": [r[1] for r in rows],
            "amount_owed": [r[1] for r in rows],
            "days_overdue": pl.Series([40] * n, dtype=pl.Int32),
            "last_payment_date": pl.Series([None] * n, dtype=pl.Date),
            "last_payment_amount": pl.Series([None] * n, dtype=pl.Float64),
            "handover_date": [NIGHT1 - timedelta(days=10)] * n,
            "return_date": [NIGHT1 + timedelta(days=80)] * n,
            "status": ["active"] * n,
            "do_not_contact": [False] * n,
            "_file": ["cases.csv"] * n,
            "_row": list(range(2, n + 2)),
        }
    )


def payments(*rows: tuple[str, str, date, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "client_id": ["EASTBANK"] * len(rows),
            "payment_id": [r[0] for r in rows],
            "case_id": [r[1] for r in rows],
            "paid_on": [r[2] for r in rows],
            "amount": [r[3] for r in rows],
            "_file": ["payments.csv"] * len(rows),
            "_row": list(range(2, len(rows) + 2)),
        }
    )


NO_REJECTS = pl.DataFrame(
    schema={
        "file": pl.Utf8,
        "row": pl.Int64,
        "kind": pl.Utf8,
        "column": pl.Utf8,
        "rule": pl.Utf8,
        "value": pl.Utf8,
    }
)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return warehouse.connect(tmp_path)


def snapshot(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, tuple[float, int, str]]:
    rows = con.execute(
        "select case_id, balance, days_overdue, status from case_snapshots "
        "where business_date = ? order by case_id",
        [day],
    ).fetchall()
    return {r[0]: (float(r[1]), r[2], r[3]) for r in rows}


def test_a_night_is_loaded_and_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    stats = load(
        con,
        {"cases": cases(("A", 500.0, "D1"), ("B", 800.0, "D2"))},
        NO_REJECTS,
        [File("cases.csv", "s1")],
        NIGHT1,
    )
    assert stats.cases_upserted == 2
    assert snapshot(con, NIGHT1) == {"A": (500.0, 40, "active"), "B": (800.0, 40, "active")}


def test_payments_reduce_the_balance_and_close_a_paid_case(con: duckdb.DuckDBPyConnection) -> None:
    load(
        con,
        {"cases": cases(("A", 500.0, "D1"), ("B", 800.0, "D2"))},
        NO_REJECTS,
        [File("cases.csv", "s1")],
        NIGHT1,
    )
    paid = payments(
        ("p1", "A", NIGHT2, 500.0), ("p2", "B", NIGHT2, 300.0), ("p3", "Z", NIGHT2, 9.0)
    )
    stats = load(
        con, {"payments": paid}, NO_REJECTS, [File("payments.csv", "s2", "payments")], NIGHT2
    )
    assert stats.payments_added == 3
    assert stats.payments_unknown_case == 1  # kept and reported, not dropped
    assert stats.cases_closed_paid == 1
    # days overdue age by a week; A is paid off
    assert snapshot(con, NIGHT2) == {"A": (0.0, 47, "paid"), "B": (500.0, 47, "active")}
    status = con.execute("select status from cases where case_id = 'A'").fetchone()
    assert status == ("paid",)


def test_payments_and_notes_are_not_duplicated(con: duckdb.DuckDBPyConnection) -> None:
    paid = payments(("p1", "A", NIGHT1, 50.0))
    load(con, {"payments": paid}, NO_REJECTS, [File("p1.csv", "s1", "payments")], NIGHT1)
    stats = load(con, {"payments": paid}, NO_REJECTS, [File("p2.csv", "s2", "payments")], NIGHT1)
    assert stats.payments_added == 0
    assert con.execute("select count(*) from payments").fetchone() == (1,)


def test_the_later_file_of_one_night_wins_in_any_row_order(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Two payments files of one night carry the same payment: the later file's row is kept,
    whether the frame comes in file order or not; a second key is added once."""
    first = payments(("p1", "A", NIGHT1, 50.0), ("p2", "A", NIGHT1, 10.0))
    later = payments(("p1", "A", NIGHT1, 70.0)).with_columns(
        pl.lit("payments_2.csv").alias("_file")
    )
    for frame in (pl.concat([first, later]), pl.concat([later, first])):
        con.execute("delete from payments")
        stats = load(con, {"payments": frame}, NO_REJECTS, [File("p.csv", "s", "payments")], NIGHT1)
        assert stats.payments_added == 2
        rows = con.execute("select payment_id, amount from payments order by 1").fetchall()
        assert rows == [("p1", 70), ("p2", 10)]


def test_a_later_file_updates_a_case(con: duckdb.DuckDBPyConnection) -> None:
    load(con, {"cases": cases(("A", 500.0, "D1"))}, NO_REJECTS, [File("c1.csv", "s1")], NIGHT1)
    load(con, {"cases": cases(("A", 450.0, "D1"))}, NO_REJECTS, [File("c2.csv", "s2")], NIGHT2)
    assert con.execute("select amount_owed, as_of from cases").fetchone() == (450, NIGHT2)


def test_a_case_sent_again_takes_every_column_of_the_later_file(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """The load updates a known case's daily columns (amount, days, status) and its other ones
    (the debtor's name, numbers, address, the case's terms) in two statements, the second only
    where one differs: whatever changed, the case ends up as the later file sent it."""
    first = cases(("A", 500.0, "D1"), ("B", 300.0, "D2"), ("C", 200.0, "D3"))
    load(con, {"cases": first}, NO_REJECTS, [File("c1.csv", "s1")], NIGHT1)
    later = cases(("A", 450.0, "D1"), ("B", 290.0, "D2"), ("C", 200.0, "D3"), ("D", 90.0, "D4"))
    later = later.with_columns(
        days_overdue=pl.col("days_overdue") + 7,
        # A moved and has a new phone; C's district is known now, and its return date moved
        phone=pl.when(pl.col("case_id") == "A").then(pl.lit("13700137000")).otherwise("phone"),
        address=pl.when(pl.col("case_id") == "A").then(pl.lit("上海市")).otherwise("address"),
        district=pl.when(pl.col("case_id") == "C").then(pl.lit("西湖区")),
        return_date=pl.when(pl.col("case_id") == "C")
        .then(pl.col("return_date") + timedelta(days=30))
        .otherwise("return_date"),
        _file=pl.lit("c2.csv"),
    )
    stats = load(con, {"cases": later}, NO_REJECTS, [File("c2.csv", "s2")], NIGHT2)
    assert stats.cases_upserted == 4
    columns = [c for c in later.columns if not c.startswith("_")]
    stored = warehouse.select(con, f"select {', '.join(columns)}, as_of from cases order by 2")
    expected = later.select(columns).sort("case_id")
    for column in columns:
        got = stored.get_column(column).cast(expected.schema[column]).to_list()
        assert got == expected.get_column(column).to_list(), column
    assert set(stored.get_column("as_of").to_list()) == {NIGHT2}


def test_a_failure_leaves_the_warehouse_as_it_was(con: duckdb.DuckDBPyConnection) -> None:
    load(con, {"cases": cases(("A", 500.0, "D1"))}, NO_REJECTS, [File("c1.csv", "s1")], NIGHT1)
    broken = cases(("B", 600.0, "D2")).with_columns(pl.lit(None, dtype=pl.Utf8).alias("city"))
    with pytest.raises(duckdb.Error):
        load(con, {"cases": broken}, NO_REJECTS, [File("c2.csv", "s2")], NIGHT2)
    assert con.execute("select count(*) from cases").fetchone() == (1,)
    assert con.execute("select count(*) from received_files").fetchone() == (1,)
    assert snapshot(con, NIGHT2) == {}


def _refusal(name: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file": [name],
            "row": [0],
            "kind": [None],
            "column": ["(file)"],
            "rule": ["file_refused"],
            "value": [f"{name}: is empty: no header row"],
        },
        schema=NO_REJECTS.schema,
    )


def test_a_file_refused_again_on_a_rerun_is_listed_once(con: duckdb.DuckDBPyConnection) -> None:
    refused = File("cases_bad.csv", "s9", None, "refused", 0, "")
    for _ in range(3):
        load(con, {}, _refusal("cases_bad.csv"), [refused], NIGHT1)
    assert con.execute("select count(*) from rejects").fetchone() == (1,)


def test_a_load_inside_the_nights_transaction_commits_or_rolls_back_with_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    begin(con)
    load(con, {"cases": cases(("A", 500.0, "D1"))}, NO_REJECTS, [File("c1.csv", "s1")], NIGHT1)
    rollback(con)
    assert con.execute("select count(*) from cases").fetchone() == (0,)
    assert con.execute("select count(*) from received_files").fetchone() == (0,)
    begin(con)
    load(con, {"cases": cases(("A", 500.0, "D1"))}, NO_REJECTS, [File("c1.csv", "s1")], NIGHT1)
    with transaction(con):  # joins the night's: no second BEGIN
        con.execute("delete from case_snapshots where case_id = 'nothing'")
    commit(con)
    assert con.execute("select count(*) from cases").fetchone() == (1,)


def notes(*rows: tuple[str, date]) -> pl.DataFrame:
    """(note_id, contacted on) rows: phone calls on case A that reached nobody."""
    return pl.DataFrame(
        {
            "client_id": ["EASTBANK"] * len(rows),
            "note_id": [r[0] for r in rows],
            "case_id": ["A"] * len(rows),
            "collector_id": ["C1"] * len(rows),
            "channel": ["phone"] * len(rows),
            "contacted_at": [datetime.combine(r[1], time(10)) for r in rows],
            "outcome": ["no_answer"] * len(rows),
            "promise_amount": pl.Series([None] * len(rows), dtype=pl.Float64),
            "promise_date": pl.Series([None] * len(rows), dtype=pl.Date),
            "complaint": [False] * len(rows),
            "_file": ["contacts.csv"] * len(rows),
            "_row": list(range(2, len(rows) + 2)),
        }
    )


def _notes_and_attempts(con: duckdb.DuckDBPyConnection) -> tuple[list[str], int]:
    ids = [r[0] for r in con.execute("select note_id from contacts order by 1").fetchall()]
    found = con.execute("select attempts from case_contact_stats where case_id = 'A'").fetchone()
    return ids, found[0] if found else 0


def test_a_note_sent_again_is_loaded_and_counted_once_in_order_or_rerun(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A later night's file repeats a note known from the night before (the notes go straight
    in, less the known ones), and a night run again brings its notes once more with a new one
    (the new notes are put aside first): each note is in contacts once, and counted once in the
    contact stats."""
    files = [File("contacts.csv", "s", "contacts")]
    night1 = notes(("n1", NIGHT1), ("n2", NIGHT1))
    assert load(con, {"contacts": night1}, NO_REJECTS, files, NIGHT1).contacts_added == 2
    night2 = notes(("n2", NIGHT1), ("n3", NIGHT2))
    assert load(con, {"contacts": night2}, NO_REJECTS, files, NIGHT2).contacts_added == 1
    assert _notes_and_attempts(con) == (["n1", "n2", "n3"], 3)
    again = notes(("n2", NIGHT1), ("n3", NIGHT2), ("n4", NIGHT2))
    assert load(con, {"contacts": again}, NO_REJECTS, files, NIGHT2).contacts_added == 1
    assert _notes_and_attempts(con) == (["n1", "n2", "n3", "n4"], 4)
    later = con.execute("select business_date from contacts where note_id = 'n3'").fetchone()
    assert later == (NIGHT2,)
