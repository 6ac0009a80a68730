"""validate: the contract's value formats are read, every broken rule is a named reject, and every
good row still goes through."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.headers import COLUMNS
from pipeline.ingest import ingest
from pipeline.validate import KEYS, superseded, validate

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
TONIGHT = date(2026, 11, 23)

GOOD_CASE = {
    "case_id": "C1",
    "client_id": "EASTBANK",
    "batch_id": "B1",
    "product": "credit_card",
    "customer_id": "D1",
    "customer_name": "张三",
    "id_number": "11010519491231002X",
    "card_number": "4111111111111111",
    "phone": "13800138000",
    "address": "上海市浦东新区张杨路1号",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "principal": "4,000.00",
    "amount_owed": "5000",
    "days_overdue": "45",
    "last_payment_date": "",
    "last_payment_amount": "",
    "handover_date": "2026-11-01",
    "return_date": "2027-01-30",
    "status": "",
    "do_not_contact": "",
}


def cases_table(*overrides: Mapping[str, str | None]) -> pl.DataFrame:
    """A text frame of cases as ingest hands it over: one row per override of a good case."""
    rows = [{**GOOD_CASE, "case_id": f"C{i}", **o} for i, o in enumerate(overrides, start=1)]
    frame = pl.DataFrame(rows, schema={c: pl.Utf8 for c in COLUMNS["cases"]})
    return frame.with_columns(
        pl.lit("cases.csv").alias("_file"),
        pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias("_row"),
        pl.lit(None, dtype=pl.Utf8).alias("_shape"),
    )


def rules(frame: pl.DataFrame) -> list[tuple[int, str, str]]:
    checked = validate({"cases": frame}, TONIGHT)
    return sorted(checked.rejects.select("row", "column", "rule").iter_rows())


def test_the_samples_night_rejects_exactly_the_known_bad_rows() -> None:
    received = ingest(SAMPLES / "incoming" / TONIGHT.isoformat(), Path("/nonexistent"), TONIGHT, [])
    heights = {kind: table.height for kind, table in received.tables.items()}
    checked = validate(received.tables, TONIGHT)
    assert not received.tables  # taken over: each raw frame let go as validated
    got = checked.rejects.select("file", "row", "column", "rule").sort(pl.all()).rows()
    expected = pl.read_csv(SAMPLES / "expected_rejects.csv", schema_overrides={"row": pl.Int64})
    assert got == expected.sort(pl.all()).rows()
    # every other row went on: rows read = rows kept + rows rejected
    for kind, height in heights.items():
        bad = checked.rejects.filter(pl.col("kind") == kind).select("file", "row").n_unique()
        assert checked.frames[kind].height + bad == height, kind
    # a mapping of frames that is not ingest's own is left as it is, and validated the same
    again = ingest(SAMPLES / "incoming" / TONIGHT.isoformat(), Path("/nonexistent"), TONIGHT, [])
    plain = dict(again.tables)
    same = validate(plain, TONIGHT)
    assert set(plain) == set(heights)
    assert same.rejects.equals(checked.rejects)
    for kind, frame in checked.frames.items():
        assert same.frames[kind].equals(frame), kind


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1,234.50", 1234.5), ("¥1234.5", 1234.5), ("1234.50元", 1234.5), (" 88 ", 88.0)],
)
def test_amounts_as_banks_write_them(raw: str, value: float) -> None:
    good = validate({"cases": cases_table({"amount_owed": raw})}, TONIGHT).frames["cases"]
    assert good.get_column("amount_owed").to_list() == [value]


@pytest.mark.parametrize(
    "raw",
    ["2026-11-01", "2026/11/01", "20261101", "2026-11-01 08:15:00", "2026/11/1", "2026年11月1日"],
)
def test_dates_as_banks_write_them(raw: str) -> None:
    good = validate({"cases": cases_table({"handover_date": raw})}, TONIGHT).frames["cases"]
    assert good.get_column("handover_date").to_list() == [date(2026, 11, 1)]


@pytest.mark.parametrize(("raw", "value"), [("是", True), ("否", False), ("Y", True), ("0", False)])
def test_booleans_and_chinese_values(raw: str, value: bool) -> None:
    frame = cases_table({"do_not_contact": raw, "product": "信用卡", "status": "正常"})
    good = validate({"cases": frame}, TONIGHT).frames["cases"]
    assert good.select("do_not_contact", "product", "status").row(0) == (
        value,
        "credit_card",
        "active",
    )


@pytest.mark.parametrize(
    ("override", "column", "rule"),
    [
        ({"handover_date": "12/11/2026"}, "handover_date", "unreadable_date"),
        ({"amount_owed": "lots"}, "amount_owed", "unreadable_number"),
        ({"days_overdue": "45.5"}, "days_overdue", "unreadable_number"),
        ({"do_not_contact": "maybe"}, "do_not_contact", "unreadable_boolean"),
        ({"id_number": "110105194912310021"}, "id_number", "id_number_invalid"),
        ({"card_number": "4111111111111112"}, "card_number", "card_number_invalid"),
        ({"card_number": "12345"}, "card_number", "card_number_invalid"),
        ({"phone": "1380013"}, "phone", "phone_invalid"),
        ({"principal": "-1"}, "principal", "negative"),
        ({"amount_owed": "0"}, "amount_owed", "not_positive"),
        ({"days_overdue": "3651"}, "days_overdue", "out_of_range"),
        ({"return_date": "2026-10-01"}, "return_date", "return_before_handover"),
        ({"handover_date": "2026-11-24"}, "handover_date", "after_business_date"),
        ({"product": "payday_loan"}, "product", "unknown_value"),
        ({"status": "lost"}, "status", "unknown_value"),
        ({"city": ""}, "city", "required"),
    ],
)
def test_each_rule_rejects_its_row_and_keeps_the_good_one(
    override: dict[str, str], column: str, rule: str
) -> None:
    frame = cases_table(override, {})
    assert rules(frame) == [(2, column, rule)]
    good = validate({"cases": frame}, TONIGHT).frames["cases"]
    assert good.get_column("case_id").to_list() == ["C2"]


def test_luhn_applies_to_credit_cards_only_and_landlines_are_phones() -> None:
    frame = cases_table(
        {"product": "cash_loan", "card_number": "6222020200112233445"},
        {"phone": "021-64972730"},
        {"phone": "+86 138 0013 8000"},
    )
    assert rules(frame) == []


def test_a_case_twice_in_one_file_rejects_both_rows() -> None:
    frame = cases_table({}, {}).with_columns(pl.lit("C1").alias("case_id"))
    assert rules(frame) == [(2, "case_id", "duplicate_key"), (3, "case_id", "duplicate_key")]


def test_an_unreadable_required_value_is_reported_once() -> None:
    assert rules(cases_table({"return_date": "next month"})) == [
        (2, "return_date", "unreadable_date")
    ]


def test_rejected_values_are_masked() -> None:
    frame = cases_table(
        {"id_number": "110105194912310021", "phone": "1380013800"},
    )
    values = validate({"cases": frame}, TONIGHT).rejects.get_column("value").to_list()
    assert "110105194912310021" not in values and "1380013800" not in values
    assert "110105********0021" in values


def test_a_roster_with_city_lists_and_a_visit_collector_without_a_city() -> None:
    roster = pl.DataFrame(
        {
            "collector_id": ["V1", "V2", "P1"],
            "name": ["a", "b", "c"],
            "team": ["t", "t", "t"],
            "channel": ["visit", "visit", "phone"],
            "city": ["上海; 杭州", "", ""],
            "daily_capacity": ["8", "8", "60"],
            "active": ["true", "", "false"],
            "_file": ["collectors.csv"] * 3,
            "_row": [2, 3, 4],
            "_shape": [None, None, None],
        },
        schema_overrides={"_row": pl.Int64, "_shape": pl.Utf8},
    )
    checked = validate({"collectors": roster}, TONIGHT)
    assert checked.rejects.select("row", "column", "rule").rows() == [
        (3, "city", "visit_collector_without_city")
    ]
    good = checked.frames["collectors"]
    assert good.select("collector_id", "cities", "active").rows() == [
        ("V1", ["上海", "杭州"], True),
        ("P1", [], False),
    ]


TEXT = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", "-1", "1e9", "2026-02-30", "¥", "元", "NaN", "inf", "=1+1", "\x00"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({c: TEXT for c in COLUMNS["cases"]}), max_size=6))
def test_arbitrary_values_never_crash_and_every_row_is_kept_or_rejected(
    rows: list[dict[str, str | None]],
) -> None:
    frame = pl.DataFrame(rows, schema={c: pl.Utf8 for c in COLUMNS["cases"]}).with_columns(
        pl.lit("cases.csv").alias("_file"),
        pl.int_range(2, len(rows) + 2, dtype=pl.Int64).alias("_row"),
        pl.lit(None, dtype=pl.Utf8).alias("_shape"),
    )
    checked = validate({"cases": frame}, TONIGHT)
    kept = set(checked.frames["cases"].get_column("_row"))
    rejected = set(checked.rejects.get_column("row"))
    assert kept | rejected == set(frame.get_column("_row"))
    assert not kept & rejected


def test_the_same_case_in_two_files_of_a_night_keeps_the_later_and_names_it() -> None:
    first = cases_table({}, {"amount_owed": "100"})
    later = cases_table({"amount_owed": "999"}, {"amount_owed": "lots"}).with_columns(
        pl.lit("cases_z.csv").alias("_file")
    )
    checked = validate({"cases": pl.concat([first, later])}, TONIGHT)
    good = checked.frames["cases"].select("case_id", "amount_owed", "_file").sort("case_id")
    # C1: the later row replaces the earlier; C2: the later row is bad, so the earlier stays
    assert good.rows() == [("C1", 999.0, "cases_z.csv"), ("C2", 100.0, "cases.csv")]
    assert sorted(checked.rejects.select("file", "row", "rule", "value").rows()) == [
        ("cases.csv", 2, "superseded", "by cases_z.csv row 2"),
        ("cases_z.csv", 3, "unreadable_number", "lots"),
    ]


def test_a_huge_amount_is_rejected_not_left_to_fail_the_load() -> None:
    frame = cases_table({"amount_owed": "62220202001122334"}, {})
    assert rules(frame) == [(2, "amount_owed", "out_of_range")]
    value = validate({"cases": frame}, TONIGHT).rejects.get_column("value").item()
    assert "62220202001122334" not in value


def _superseded_by_sorting(kind: str, good: pl.DataFrame) -> tuple[list[tuple], list[tuple]]:  # type: ignore[type-arg]
    """The rule as first written (a sort and a join over every row): the reference."""
    keys = list(KEYS[kind])
    ordered = good.with_row_index("_index").sort("_file", "_row")
    last = ordered.group_by(keys, maintain_order=True).agg(
        pl.col("_index").last().alias("_keep"),
        pl.col("_file").last().alias("_by_file"),
        pl.col("_row").last().alias("_by_row"),
    )
    marked = ordered.join(last, on=keys, how="left", nulls_equal=True)
    replaced = marked.filter(pl.col("_index") != pl.col("_keep"))
    gone = set(replaced.get_column("_index").to_list())
    kept = [r for i, r in enumerate(good.rows()) if i not in gone]
    rejects = replaced.select(
        "_file", "_row", pl.format("by {} row {}", "_by_file", "_by_row")
    ).rows()
    return kept, sorted(rejects)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.csv", "b.csv", "c.parquet"]),
            st.sampled_from(["EAST", "WEST", "NORTH"]),
            st.sampled_from(["N1", "N2", "N3", "N4"]),
        ),
        max_size=14,
    )
)
def test_superseded_rows_are_those_of_a_full_sort(rows: list[tuple[str, str, str]]) -> None:
    # one key per file at most, as duplicate_key leaves them; files in any order of rows
    seen: set[tuple[str, str, str]] = set()
    unique = [r for r in rows if not (r in seen or seen.add(r))]  # type: ignore[func-returns-value]
    good = pl.DataFrame(
        {
            "client_id": [r[1] for r in unique],
            "note_id": [r[2] for r in unique],
            "_file": [r[0] for r in unique],
            "_row": list(range(2, len(unique) + 2)),
        },
        schema={"client_id": pl.Utf8, "note_id": pl.Utf8, "_file": pl.Utf8, "_row": pl.Int64},
    )
    kept, rejects = superseded("contacts", good)
    want_kept, want_rejects = _superseded_by_sorting("contacts", good)
    assert kept.rows() == want_kept
    assert sorted(rejects.select("file", "row", "value").rows()) == want_rejects
    assert set(rejects.get_column("rule")) <= {"superseded"}


def test_text_is_trimmed_and_blank_is_missing_in_every_kind_of_column() -> None:
    frame = cases_table(
        {"case_id": " C9\u3000", "client_id": " EASTBANK ", "address": "\t", "product": " 信用卡"},
        {"customer_name": "  "},
    )
    checked = validate({"cases": frame}, TONIGHT)
    good = checked.frames["cases"]
    assert good.select("case_id", "client_id", "address", "product").rows() == [
        ("C9", "EASTBANK", None, "credit_card")
    ]
    assert good.schema["client_id"] == pl.Categorical and good.schema["case_id"] == pl.Utf8
    assert checked.rejects.select("row", "column", "rule").rows() == [
        (3, "customer_name", "required")
    ]


def test_an_excel_serial_is_a_date_only_in_a_workbook() -> None:
    payments = pl.DataFrame(
        {
            "payment_id": ["P1", "P2"],
            "case_id": ["C1", "C1"],
            "client_id": ["E", "E"],
            "paid_on": ["46349", "46349"],
            "amount": ["10", "10"],
            "_file": ["payments.XLSX", "payments.csv"],
            "_row": [2, 2],
            "_shape": [None, None],
        },
        schema_overrides={"_row": pl.Int64, "_shape": pl.Utf8},
    ).with_columns(pl.col("_file").cast(pl.Categorical))
    checked = validate({"payments": payments}, TONIGHT)
    assert checked.frames["payments"].select("paid_on", "_file").rows() == [
        (date(2026, 11, 23), "payments.XLSX")
    ]
    assert checked.rejects.select("file", "column", "rule", "value").rows() == [
        ("payments.csv", "paid_on", "unreadable_date", "46349")
    ]
