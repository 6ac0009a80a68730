"""Small frames in the shape the stages exchange, for tests that build their own nights."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from pipeline.assemble import DETAIL_COLUMNS, CaseDetails

TONIGHT = date(2026, 11, 23)

NIGHT_SCHEMA: dict[str, Any] = {
    "client_id": pl.Utf8,
    "case_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "has_phone": pl.Boolean,
    "has_address": pl.Boolean,
    "city": pl.Utf8,
    "product": pl.Utf8,
    "principal": pl.Float64,
    "balance": pl.Float64,
    "days_overdue": pl.Int32,
    "handover_date": pl.Date,
    "return_date": pl.Date,
    "status": pl.Utf8,
    "do_not_contact": pl.Boolean,
    "previous_status": pl.Utf8,
    "attempts": pl.Int64,
    "right_party_contacts": pl.Int64,
    "wrong_numbers": pl.Int64,
    "recent_complaints": pl.Int64,
    "last_promise_date": pl.Date,
    "last_outcome": pl.Utf8,
    "last_phone_outcomes": pl.List(pl.Utf8),
    "last_letter_outcome": pl.Utf8,
    "paid_recently": pl.Float64,
    "previous_collector_id": pl.Utf8,
    "previous_worked_on": pl.Date,
    "phone_attempts_6d": pl.Int64,
    "last_conversation_on": pl.Date,
    "last_complaint_on": pl.Date,
    "failed_call_days": pl.Int64,
    "refusals": pl.Int64,
}


def case(case_id: str, **overrides: Any) -> dict[str, Any]:
    """One case of tonight's book: active, verified, with phone and address, 5,000 yuan owed."""
    row: dict[str, Any] = {
        "client_id": "EASTBANK",
        "case_id": case_id,
        "customer_id": f"C-{case_id}",
        "customer_name": "张三",
        "id_number": "110101199003074477",
        "card_number": "6222020200112233445",
        "phone": "13800138000",
        "address": "上海市浦东新区某路1号",
        "province": "上海",
        "city": "上海",
        "district": "浦东新区",
        "product": "credit_card",
        "principal": 4000.0,
        "balance": 5000.0,
        "days_overdue": 45,
        "handover_date": TONIGHT - timedelta(days=20),
        "return_date": TONIGHT + timedelta(days=70),
        "status": "active",
        "do_not_contact": False,
        "previous_status": "active",
        "attempts": 3,
        "right_party_contacts": 1,
        "wrong_numbers": 0,
        "recent_complaints": 0,
        "last_promise_date": None,
        "last_outcome": "right_party",
        "last_phone_outcomes": ["right_party"],
        "last_letter_outcome": None,
        "paid_recently": 0.0,
        "previous_collector_id": None,
        "previous_worked_on": None,
        "phone_attempts_6d": 0,
        "last_conversation_on": None,
        "last_complaint_on": None,
        "failed_call_days": 0,
        "refusals": 0,
    }
    row.update(overrides)
    return row


def night(*rows: dict[str, Any]) -> pl.DataFrame:
    """The book of ``rows`` as sql/night_part.sql gives it: whether each case has a phone number
    and an address, never the text (``details`` gives that)."""
    flagged = [
        {**r, "has_phone": r["phone"] is not None, "has_address": r["address"] is not None}
        for r in rows
    ]
    return pl.DataFrame([{c: r.get(c) for c in NIGHT_SCHEMA} for r in flagged], schema=NIGHT_SCHEMA)


def details(*rows: dict[str, Any]) -> CaseDetails:
    """``rows``' names, numbers and addresses for ``pipeline.assemble.assemble``, as
    ``pipeline.load.case_details`` reads them from the warehouse: only the keys asked for."""
    text = pl.DataFrame(
        [{c: r.get(c) for c in ("client_id", "case_id", *DETAIL_COLUMNS)} for r in rows],
        schema={c: pl.Utf8 for c in ("client_id", "case_id", *DETAIL_COLUMNS)},
    )

    def read(keys: pl.DataFrame) -> pl.DataFrame:
        return text.join(keys, on=["client_id", "case_id"], how="semi")

    return read


def scores(frame: pl.DataFrame, p: float = 0.3) -> pl.DataFrame:
    return frame.select(
        "client_id",
        "case_id",
        pl.lit(p).alias("p_repay"),
        (pl.lit(p) * pl.col("balance")).alias("expected_recovery"),
        pl.lit("test").alias("reasons"),
    )


def collector(
    collector_id: str, channel: str, capacity: int = 10, **overrides: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "collector_id": collector_id,
        "name": f"name {collector_id}",
        "team": f"{channel}-1",
        "channel": channel,
        "cities": ["上海"] if channel == "visit" else [],
        "daily_capacity": capacity,
        "active": True,
    }
    row.update(overrides)
    return row


def roster(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        list(rows),
        schema={
            "collector_id": pl.Utf8,
            "name": pl.Utf8,
            "team": pl.Utf8,
            "channel": pl.Utf8,
            "cities": pl.List(pl.Utf8),
            "daily_capacity": pl.Int32,
            "active": pl.Boolean,
        },
    )
