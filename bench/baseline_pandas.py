"""The same night the plain pandas way: the baseline that bench/night.py compares caseflow with.

    .venv/bin/python bench/baseline_pandas.py --date 2026-11-23 --input DIR --out DIR

Written as a careful analyst would write it without caseflow: pandas and openpyxl, vectorised
where pandas makes that the obvious way (string matching, groupby aggregations, merges), ``apply``
where a rule is a Python function (dates in several forms, the id check character, Luhn, reasons),
``iterrows`` where the logic is a loop (the greedy allocation). Same rules as caseflow in a
simplified but honest form:

- read every ``cases*`` / ``contacts*`` / ``payments*`` / ``collectors*`` file (Parquet, CSV or
  XLSX, the contract's English headers; no Chinese aliases or GB18030 detection);
- validate: required columns, amounts as banks write them, dates in the contract's forms, ranges,
  dates not after the business date, return after hand-over, known words, the id number's date
  and ISO 7064 MOD 11-2 check character, card numbers (Luhn for credit cards), mobile or landline
  phones, duplicate keys in a file; every bad row is set aside with file, row, column, rule and
  the value masked;
- per case from the notes and payments as of the night: attempts, right-party contacts, the last
  promise, promises kept and open, payments in the last 30 and 90 days, the last letter's outcome
  and the collector who worked it last;
- score by DOMAIN.md's R6 rule (models/score.py ``rule_scores``: the same points and scale);
- hold closed, disputed and legal cases, do-not-contact debtors and debtors with a promise not yet
  due; channels as pipeline/strategy.py allows them (phone needs a number; a visit an address and
  an active visit collector in the city; a letter more than 1,000 owed, an address whose mail did
  not come back and a verified debtor); a debtor's value per channel is
  p_repay x owed x effect - cost;
- allocate debtors greedily by their best value, under each collector's daily capacity, visits
  within the collector's cities, the previous collector first when there is room;
- write each collector's worklist as CSV and XLSX (pandas ``to_excel`` with openpyxl), the letters
  (CSV and XLSX), holds.csv with the reason and rejected.csv.

Prints one JSON line: the seconds of each step and the night's counts.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PRODUCTS = {"credit_card", "consumer_loan", "cash_loan", "auto_loan", "mortgage", "other"}
STATUSES = {"active", "paid", "settled", "returned", "disputed", "legal"}
CLOSED = ["paid", "settled", "returned", "disputed", "legal"]
NOTE_CHANNELS = {"phone", "visit", "letter", "sms"}
WORK_CHANNELS = ["phone", "visit", "letter"]
OUTCOMES = {
    "no_answer",
    "wrong_number",
    "third_party",
    "right_party",
    "promise_to_pay",
    "refused",
    "paid_claimed",
    "letter_sent",
    "mail_returned",
    "visit_met",
    "visit_absent",
}
RIGHT_PARTY = ["right_party", "promise_to_pay", "refused", "paid_claimed", "visit_met"]
DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"]
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
TRUE = {"true", "1", "y", "yes", "是"}
FALSE = {"false", "0", "n", "no", "否"}
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
REQUIRED = {
    "cases": [
        "case_id",
        "client_id",
        "product",
        "customer_id",
        "customer_name",
        "city",
        "principal",
        "amount_owed",
        "days_overdue",
        "handover_date",
        "return_date",
    ],
    "payments": ["payment_id", "case_id", "client_id", "paid_on", "amount"],
    "contacts": ["note_id", "case_id", "client_id", "channel", "contacted_at", "outcome"],
    "collectors": ["collector_id", "channel", "daily_capacity"],
}
# policy defaults (pipeline/policy.py)
COST = {"phone": 3.0, "visit": 200.0, "letter": 15.0}
EFFECT = {"phone": 1.0, "visit": 1.6, "letter": 0.4}
LETTER_MIN = 1000.0
NOTICE_DAYS = 3
# the R6 rule's scale (models/score.py)
RULE_FLOOR, RULE_SPAN, RULE_MAX_POINTS = 0.02, 0.5, 5
KEYS = ["client_id", "case_id"]

steps: dict[str, float] = {}


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    steps[name] = round(time.perf_counter() - started, 2)


# ---- reading -------------------------------------------------------------------------------


def read_kind(folder: Path, kind: str) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.iterdir()):
        if not path.name.lower().startswith(kind):
            continue
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            df = pd.read_parquet(path)
            first_row = 1
        elif suffix == ".csv":
            df = pd.read_csv(path, dtype=str, encoding="utf-8-sig", skip_blank_lines=True)
            first_row = 2
        elif suffix == ".xlsx":
            df = pd.read_excel(path, dtype=str, engine="openpyxl")
            first_row = 2
        else:
            continue
        df.columns = [str(c).strip().lower() for c in df.columns]
        df["_file"] = path.name
        df["_row"] = np.arange(first_row, first_row + len(df))
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[*REQUIRED[kind], "_file", "_row"])
    return pd.concat(frames, ignore_index=True)


# ---- parsing and checking ------------------------------------------------------------------


def parse_date(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return pd.NaT
    if isinstance(value, datetime | date | pd.Timestamp):
        return pd.Timestamp(value).normalize()
    text = str(value).strip()
    if not text:
        return pd.NaT
    for fmt in DATE_FORMATS:
        try:
            return pd.Timestamp(datetime.strptime(text, fmt))
        except ValueError:
            continue
    return pd.NaT


def parse_timestamp(value: Any) -> Any:
    if isinstance(value, datetime | pd.Timestamp):
        return pd.Timestamp(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return pd.NaT
    text = str(value).strip()
    for fmt in TIME_FORMATS:
        try:
            return pd.Timestamp(datetime.strptime(text, fmt))
        except ValueError:
            continue
    return parse_date(text)


def to_dates(series: pd.Series, with_time: bool = False) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series if with_time else series.dt.normalize()
    parsed = series.apply(parse_timestamp if with_time else parse_date)
    return pd.to_datetime(parsed)


def to_money(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    text = series.astype("string").str.replace(r"[,¥￥元\s]|^(?i:rmb|cny)", "", regex=True)
    return pd.to_numeric(text, errors="coerce")


def to_bool(series: pd.Series, default: bool) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series
    text = series.astype("string").str.strip().str.lower()
    return text.map(lambda v: True if v in TRUE else False if v in FALSE else None).where(
        text.notna(), default
    )


def valid_id(value: Any) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    number = str(value).strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    try:
        datetime.strptime(number[6:14], "%Y%m%d")
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17]


def luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def mask(column: str, value: Any) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    if column == "id_number" and len(text) > 10:
        return text[:6] + "********" + text[-4:]
    if column == "card_number" and len(text) > 4:
        return "****" + text[-4:]
    if column == "phone" and len(text) > 5:
        return text[:3] + "*" * (len(text) - 5) + text[-2:]
    if column in ("customer_name", "address") and text:
        return text[:1] + "**"
    return text


class Checker:
    """Collects rejected lines of one kind; ``ok`` is False for every row with any failure."""

    def __init__(self, kind: str, df: pd.DataFrame, rejects: list[pd.DataFrame]) -> None:
        self.kind, self.df, self.rejects = kind, df, rejects
        self.ok = pd.Series(True, index=df.index)

    def flag(self, bad: pd.Series, column: str, rule: str, raw: pd.Series | None = None) -> None:
        bad = bad.fillna(False).astype(bool)
        if not bad.any():
            return
        values = (raw if raw is not None else self.df[column])[bad]
        self.rejects.append(
            pd.DataFrame(
                {
                    "file": self.df.loc[bad, "_file"],
                    "row": self.df.loc[bad, "_row"],
                    "kind": self.kind,
                    "column": column,
                    "rule": rule,
                    "value": values.apply(lambda v: mask(column, v)),
                }
            )
        )
        self.ok &= ~bad

    def required(self) -> None:
        for column in REQUIRED[self.kind]:
            if column not in self.df:
                self.df[column] = None
            blank = self.df[column].isna() | (self.df[column].astype("string").str.strip() == "")
            self.flag(blank, column, "required")

    def parsed(self, column: str, parsed: pd.Series, rule: str) -> pd.Series:
        raw = self.df[column]
        present = raw.notna() & (raw.astype("string").str.strip() != "")
        self.flag(present & parsed.isna(), column, rule)
        return parsed

    def one_of(self, column: str, allowed: set[str]) -> pd.Series:
        words = self.df[column].astype("string").str.strip().str.lower()
        self.flag(words.notna() & ~words.isin(allowed), column, "unknown_value")
        return words

    def unique(self, *keys: str) -> None:
        dup = self.df.duplicated(["_file", *keys], keep=False) & self.df[keys[-1]].notna()
        self.flag(dup, keys[-1], "duplicate_key")


def validate_cases(df: pd.DataFrame, bd: pd.Timestamp, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    c = Checker("cases", df, rejects)
    c.required()
    df["product"] = c.one_of("product", PRODUCTS)
    df["status"] = c.one_of("status", STATUSES).fillna("active")
    for column in ("principal", "amount_owed", "last_payment_amount"):
        if column in df:
            df[column] = c.parsed(column, to_money(df[column]), "unreadable_number")
    df["days_overdue"] = c.parsed(
        "days_overdue", pd.to_numeric(df["days_overdue"], errors="coerce"), "unreadable_number"
    )
    for column in ("handover_date", "return_date", "last_payment_date"):
        if column in df:
            df[column] = c.parsed(column, to_dates(df[column]), "unreadable_date")
    dnc = df["do_not_contact"] if "do_not_contact" in df else pd.Series(None, index=df.index)
    df["do_not_contact"] = to_bool(dnc, False).astype(bool)
    c.flag(df["principal"] < 0, "principal", "negative")
    c.flag(df["amount_owed"] <= 0, "amount_owed", "not_positive")
    c.flag(
        ~df["days_overdue"].between(0, 3650) & df["days_overdue"].notna(),
        "days_overdue",
        "out_of_range",
    )
    c.flag(df["handover_date"] > bd, "handover_date", "after_business_date")
    c.flag(df["last_payment_date"] > bd, "last_payment_date", "after_business_date")
    c.flag(df["return_date"] <= df["handover_date"], "return_date", "return_before_handover")
    c.flag(~df["id_number"].apply(valid_id), "id_number", "id_number_invalid")
    card = df["card_number"].astype("string").str.replace(r"\s", "", regex=True)
    shape_ok = card.str.fullmatch(r"\d{12,19}")
    luhn_ok = card.apply(lambda v: luhn(v) if isinstance(v, str) and v.isdigit() else False)
    card_bad = card.notna() & (~shape_ok | ((df["product"] == "credit_card") & ~luhn_ok))
    c.flag(card_bad, "card_number", "card_number_invalid")
    phone = df["phone"].astype("string").str.replace(r"[\s\-()（）]", "", regex=True)
    phone_ok = phone.str.fullmatch(r"(?:\+?86)?1[3-9]\d{9}") | phone.str.fullmatch(
        r"0\d{2,3}\d{7,8}"
    )
    c.flag(phone.notna() & ~phone_ok.fillna(False), "phone", "phone_invalid")
    c.unique("client_id", "case_id")
    return df[c.ok].copy()


def validate_payments(
    df: pd.DataFrame, bd: pd.Timestamp, rejects: list[pd.DataFrame]
) -> pd.DataFrame:
    c = Checker("payments", df, rejects)
    c.required()
    df["paid_on"] = c.parsed("paid_on", to_dates(df["paid_on"]), "unreadable_date")
    df["amount"] = c.parsed("amount", to_money(df["amount"]), "unreadable_number")
    c.flag(df["amount"] <= 0, "amount", "not_positive")
    c.flag(df["paid_on"] > bd, "paid_on", "after_business_date")
    c.unique("client_id", "payment_id")
    return df[c.ok].copy()


def validate_contacts(
    df: pd.DataFrame, bd: pd.Timestamp, rejects: list[pd.DataFrame]
) -> pd.DataFrame:
    c = Checker("contacts", df, rejects)
    c.required()
    df["channel"] = c.one_of("channel", NOTE_CHANNELS)
    df["outcome"] = c.one_of("outcome", OUTCOMES)
    df["contacted_at"] = c.parsed(
        "contacted_at", to_dates(df["contacted_at"], with_time=True), "unreadable_timestamp"
    )
    df["promise_date"] = c.parsed("promise_date", to_dates(df["promise_date"]), "unreadable_date")
    df["promise_amount"] = c.parsed(
        "promise_amount", to_money(df["promise_amount"]), "unreadable_number"
    )
    complaint = df["complaint"] if "complaint" in df else pd.Series(None, index=df.index)
    df["complaint"] = to_bool(complaint, False).astype(bool)
    c.flag(df["contacted_at"] >= bd + pd.Timedelta(days=1), "contacted_at", "after_business_date")
    c.flag(df["promise_amount"] < 0, "promise_amount", "negative")
    c.unique("client_id", "note_id")
    return df[c.ok].copy()


def validate_collectors(df: pd.DataFrame, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    c = Checker("collectors", df, rejects)
    c.required()
    df["channel"] = c.one_of("channel", set(WORK_CHANNELS))
    df["daily_capacity"] = c.parsed(
        "daily_capacity", pd.to_numeric(df["daily_capacity"], errors="coerce"), "unreadable_number"
    )
    c.flag(df["daily_capacity"] <= 0, "daily_capacity", "not_positive")
    df["active"] = to_bool(df["active"], True).astype(bool)
    df["cities"] = (
        df["city"].fillna("").apply(lambda v: [x.strip() for x in str(v).split(";") if x.strip()])
    )
    c.flag(
        (df["channel"] == "visit") & (df["cities"].str.len() == 0),
        "city",
        "visit_collector_without_city",
    )
    c.unique("collector_id")
    return df[c.ok].copy()


# ---- the night -----------------------------------------------------------------------------


def history(
    cases: pd.DataFrame, notes: pd.DataFrame, payments: pd.DataFrame, bd: pd.Timestamp
) -> pd.DataFrame:
    """Per case: the figures of notes and payments as of the night."""
    notes = notes[notes["contacted_at"] < bd + pd.Timedelta(days=1)].copy()
    notes["right_party"] = notes["outcome"].isin(RIGHT_PARTY)
    notes["contacted_on"] = notes["contacted_at"].dt.normalize()
    by_case = notes.groupby(KEYS)
    figures = by_case.agg(
        attempts=("note_id", "count"), right_party_contacts=("right_party", "sum")
    )
    figures["last_right_party"] = notes[notes["right_party"]].groupby(KEYS)["contacted_on"].max()
    promises = notes[notes["outcome"] == "promise_to_pay"].copy()
    figures["last_promise_date"] = promises.groupby(KEYS)["promise_date"].max()
    ordered = notes.sort_values("contacted_at")
    letters = ordered[ordered["channel"] == "letter"]
    figures["last_letter_outcome"] = letters.groupby(KEYS)["outcome"].last()
    worked = ordered[ordered["collector_id"].notna()]
    figures["previous_collector_id"] = worked.groupby(KEYS)["collector_id"].last()

    paid = payments[payments["paid_on"] <= bd].copy()
    age = (bd - paid["paid_on"]).dt.days
    figures["paid_30d"] = paid[age < 30].groupby(KEYS)["amount"].sum()
    figures["paid_90d"] = paid[age < 90].groupby(KEYS)["amount"].sum()

    # promises kept (a payment between the promise and its due date) and open (not yet due)
    promises["due_on"] = promises["promise_date"].fillna(
        promises["contacted_on"] + pd.Timedelta(days=7)
    )
    joined = promises[[*KEYS, "note_id", "contacted_on", "due_on"]].merge(
        paid[[*KEYS, "paid_on"]], on=KEYS, how="left"
    )
    joined["kept"] = (joined["paid_on"] >= joined["contacted_on"]) & (
        joined["paid_on"] <= joined["due_on"]
    )
    per_promise = joined.groupby([*KEYS, "note_id"]).agg(
        kept=("kept", "any"), due_on=("due_on", "first")
    )
    per_promise["open"] = ~per_promise["kept"] & (per_promise["due_on"] >= bd)
    kept_open = per_promise.groupby(level=KEYS)[["kept", "open"]].sum()
    figures["promises_kept"] = kept_open["kept"]
    figures["promises_open"] = kept_open["open"]

    book = cases.merge(figures.reset_index(), on=KEYS, how="left")
    for column in ("attempts", "right_party_contacts", "paid_30d", "paid_90d"):
        book[column] = book[column].fillna(0)
    for column in ("promises_kept", "promises_open"):
        book[column] = book[column].fillna(0)
    return book


def r6_scores(book: pd.DataFrame, bd: pd.Timestamp) -> pd.DataFrame:
    paid = np.where(book["paid_30d"] > 0, 2, np.where(book["paid_90d"] > 0, 1, 0))
    since = (bd - book["last_right_party"]).dt.days.fillna(9999)
    reached = (since < 30).astype(int)
    kept = (book["promises_kept"] > 0).astype(int)
    open_promise = (book["promises_open"] > 0).astype(int)
    fresher = 1.0 - book["days_overdue"].clip(0, 3650) / 3651.0
    rank = (paid + reached + kept + open_promise + fresher) / (RULE_MAX_POINTS + 1)
    book["p_repay"] = RULE_FLOOR + RULE_SPAN * rank
    book["expected_recovery"] = book["p_repay"] * book["balance"]
    book["reached"] = reached
    return book


def reasons(row: pd.Series) -> str:
    facts = []
    if row["paid_30d"] > 0:
        facts.append("paid in the last 30 days")
    elif row["paid_90d"] > 0:
        facts.append("paid in the last 90 days")
    if row["reached"]:
        facts.append("reached in person in the last 30 days")
    if row["promises_kept"] > 0:
        facts.append("promise kept")
    if row["promises_open"] > 0:
        facts.append("promise to pay due")
    facts.append(f"{int(row['days_overdue'])} days overdue")
    return "R6 rule (no trained model): " + "; ".join(facts)


def overdue_stage(days: Any) -> str:
    if days <= 0:
        return "M0"
    month = min((int(days) - 1) // 30 + 1, 7)
    return "M7+" if month >= 7 else f"M{month}"


def decide(book: pd.DataFrame, roster: pd.DataFrame, bd: pd.Timestamp) -> pd.DataFrame:
    """Holds and the channels each case may get."""
    book["debtor_key"] = book["client_id"] + "/" + book["customer_id"]
    book["verified"] = book["right_party_contacts"] > 0
    pending = book["last_promise_date"] > bd
    book["debtor_dnc"] = book.groupby("debtor_key")["do_not_contact"].transform("any")
    book["debtor_promise"] = pending.groupby(book["debtor_key"]).transform("any")
    # the first reason that applies, in this order: closed status, do-not-contact, promise
    reason = pd.Series(None, index=book.index, dtype="object")
    reason[book["debtor_promise"]] = "promise to pay not yet due"
    reason[book["debtor_dnc"]] = "do-not-contact"
    closed = book["status"].isin(CLOSED)
    reason[closed] = book.loc[closed, "status"]
    book["hold_reason"] = reason
    active = roster[roster["active"]]
    has = {c: (active["channel"] == c).any() for c in WORK_CHANNELS}
    visit_cities = {
        city for cities in active[active["channel"] == "visit"]["cities"] for city in cities
    }
    book["can_phone"] = has["phone"] & book["phone"].notna()
    book["can_visit"] = has["visit"] & book["city"].isin(visit_cities) & book["address"].notna()
    book["can_letter"] = (
        has["letter"]
        & (book["balance"] > LETTER_MIN)
        & book["address"].notna()
        & (book["last_letter_outcome"].fillna("") != "mail_returned")
        & book["verified"]
    )
    book["extension_due"] = (book["return_date"] >= bd) & (
        book["return_date"] <= bd + pd.Timedelta(days=NOTICE_DAYS)
    )
    return book


def debtor_values(workable: pd.DataFrame) -> pd.DataFrame:
    er = workable["p_repay"] * workable["balance"]
    parts = workable.assign(
        er_phone=er * EFFECT["phone"],
        er_visit=er * EFFECT["visit"],
        er_letter=np.where(workable["can_letter"], er * EFFECT["letter"] - COST["letter"], 0.0),
    )
    debtors = parts.groupby("debtor_key").agg(
        debtor_cases=("case_id", "count"),
        letter_cases=("can_letter", "sum"),
        can_phone=("can_phone", "any"),
        can_visit=("can_visit", "any"),
        can_letter=("can_letter", "any"),
        er_phone=("er_phone", "sum"),
        er_visit=("er_visit", "sum"),
        er_letter=("er_letter", "sum"),
        previous_collector_id=("previous_collector_id", "first"),
    )
    debtors["debtor_city"] = (
        workable.sort_values("balance", ascending=False).groupby("debtor_key")["city"].first()
    )
    debtors["value_phone"] = (debtors["er_phone"] - COST["phone"]).where(debtors["can_phone"])
    debtors["value_visit"] = (debtors["er_visit"] - COST["visit"]).where(debtors["can_visit"])
    debtors["value_letter"] = debtors["er_letter"].where(debtors["can_letter"])
    return debtors


def allocate(debtors: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame:
    """Greedy: best debtors first, each to its best channel with room, the previous collector
    first, else the collector of the pool with the most room left."""
    staff = roster[roster["active"] & (roster["daily_capacity"] > 0)]
    remaining = dict(zip(staff["collector_id"], staff["daily_capacity"].astype(int), strict=True))
    pools: dict[str, list[str]] = {"phone": [], "letter": []}
    by_city: dict[str, list[str]] = {}
    for _, collector in staff.iterrows():
        if collector["channel"] == "visit":
            for city in collector["cities"]:
                by_city.setdefault(city, []).append(collector["collector_id"])
        else:
            pools[collector["channel"]].append(collector["collector_id"])
    left = sum(remaining.values())
    debtors = debtors.copy()
    debtors["best"] = debtors[["value_phone", "value_visit", "value_letter"]].max(axis=1)
    debtors = debtors[debtors["best"].notna()].sort_values("best", ascending=False)
    rows = []
    for key, debtor in debtors.iterrows():
        if left <= 0:
            break
        options = [
            (debtor[f"value_{c}"], c) for c in WORK_CHANNELS if pd.notna(debtor[f"value_{c}"])
        ]
        for value, channel in sorted(options, reverse=True):
            units = int(debtor["letter_cases"] if channel == "letter" else debtor["debtor_cases"])
            units = max(units, 1)
            candidates = (
                by_city.get(debtor["debtor_city"], []) if channel == "visit" else pools[channel]
            )
            if not candidates:
                continue
            previous = debtor["previous_collector_id"]
            if previous in candidates and remaining[previous] >= units:
                chosen = previous
            else:
                chosen = max(candidates, key=lambda cid: remaining[cid])
                if remaining[chosen] < units:
                    continue
            remaining[chosen] -= units
            left -= units
            rows.append(
                {"debtor_key": key, "collector_id": chosen, "channel": channel, "value": value}
            )
            break
    return pd.DataFrame(rows, columns=["debtor_key", "collector_id", "channel", "value"])


def worklist_action(row: pd.Series) -> str:
    if row["channel"] == "letter":
        return "send demand letter (registered mail)"
    if not row["verified"]:
        return (
            "first call: verify identity"
            if row["channel"] == "phone"
            else "visit: verify identity first"
        )
    if pd.notna(row["last_promise_date"]) and row["last_promise_date"] == row["_bd"]:
        return "promise due today: confirm payment"
    return "visit: collect" if row["channel"] == "visit" else "call: collect"


def write_outputs(
    out: Path,
    book: pd.DataFrame,
    assigned: pd.DataFrame,
    rejects: pd.DataFrame,
    bd: pd.Timestamp,
) -> dict[str, int]:
    (out / "worklists").mkdir(parents=True, exist_ok=True)
    # a debtor's workable cases go with it; its held ones (closed, say) stay held
    worked = book[book["hold_reason"].isna()].merge(assigned, on="debtor_key", how="inner")
    # a letter goes only to the debtor's cases that may get one
    worked = worked[(worked["channel"] != "letter") | worked["can_letter"]].copy()
    worked["_bd"] = bd
    worked["overdue_stage"] = worked["days_overdue"].apply(overdue_stage)
    worked["reasons"] = worked.apply(reasons, axis=1)
    worked["action"] = worked.apply(worklist_action, axis=1)
    worked["id_number"] = worked["id_number"].apply(lambda v: mask("id_number", v))
    worked["card_number"] = worked["card_number"].apply(lambda v: mask("card_number", v))
    worked["phone"] = worked["phone"].where(worked["channel"] == "phone")
    worked["address"] = worked["address"].where(worked["channel"] != "phone")
    worked = worked.sort_values(
        ["collector_id", "value", "balance"], ascending=[True, False, False]
    )
    worked["rank"] = worked.groupby("collector_id").cumcount() + 1
    columns = [
        "rank",
        "case_id",
        "client_id",
        "customer_name",
        "phone",
        "id_number",
        "card_number",
        "city",
        "address",
        "amount_owed",
        "days_overdue",
        "overdue_stage",
        "p_repay",
        "expected_recovery",
        "channel",
        "action",
        "reasons",
        "return_date",
        "extension_due",
    ]
    for cid, rows in worked.groupby("collector_id"):
        rows[columns].to_csv(out / "worklists" / f"{cid}.csv", index=False, encoding="utf-8-sig")
        rows[columns].to_excel(out / "worklists" / f"{cid}.xlsx", index=False, engine="openpyxl")
    letters = worked[worked["channel"] == "letter"]
    letters[columns].to_csv(out / "letters.csv", index=False, encoding="utf-8-sig")
    letters[columns].to_excel(out / "letters.xlsx", index=False, engine="openpyxl")

    done = set(zip(worked["client_id"], worked["case_id"], strict=True))
    is_worked = pd.Series(
        [k in done for k in zip(book["client_id"], book["case_id"], strict=True)], index=book.index
    )
    holds = book[~is_worked].copy()
    holds["reason"] = holds["hold_reason"].fillna("over capacity")
    unreachable = holds["hold_reason"].isna() & ~(
        holds["can_phone"] | holds["can_visit"] | holds["can_letter"]
    )
    holds.loc[unreachable & ~holds["verified"], "reason"] = (
        "unverified identity: no phone or visit to verify (trace)"
    )
    holds.loc[unreachable & holds["verified"], "reason"] = "no usable channel (trace)"
    holds[["client_id", "case_id", "customer_id", "reason", "amount_owed", "days_overdue"]].to_csv(
        out / "holds.csv", index=False, encoding="utf-8-sig"
    )
    rejects.to_csv(out / "rejected.csv", index=False, encoding="utf-8-sig")
    return {
        "book": len(book),
        "worked": len(worked),
        "held": len(holds),
        "letters": len(letters),
        "rejected_lines": len(rejects),
        "rows_rejected": int(rejects[["file", "row"]].drop_duplicates().shape[0]),
        "worklist_files": int(worked["collector_id"].nunique()),
    }


def run(folder: Path, out: Path, business_date: date) -> dict[str, Any]:
    bd = pd.Timestamp(business_date)
    with step("read"):
        raw = {k: read_kind(folder, k) for k in REQUIRED}
    rejects: list[pd.DataFrame] = []
    with step("validate"):
        cases = validate_cases(raw["cases"], bd, rejects)
        payments = validate_payments(raw["payments"], bd, rejects)
        notes = validate_contacts(raw["contacts"], bd, rejects)
        roster = validate_collectors(raw["collectors"], rejects)
        # a later row for the same case updates it
        cases = cases.drop_duplicates(KEYS, keep="last")
        cases["balance"] = cases["amount_owed"]
        cases.loc[(cases["status"] == "active") & (cases["return_date"] < bd), "status"] = (
            "returned"
        )
    with step("history"):
        book = history(cases, notes, payments, bd)
    with step("score"):
        book = r6_scores(book, bd)
    with step("strategy"):
        book = decide(book, roster, bd)
        debtors = debtor_values(book[book["hold_reason"].isna()])
    with step("allocate"):
        assigned = allocate(debtors, roster)
    with step("write"):
        columns = ["file", "row", "kind", "column", "rule", "value"]
        rejected = (
            pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=columns)
        )
        counts = write_outputs(out, book, assigned, rejected, bd)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = run(args.input, args.out, date.fromisoformat(args.date))
    seconds = round(time.perf_counter() - started, 2)
    print(json.dumps({"seconds": seconds, "steps": steps, **counts}))


if __name__ == "__main__":
    main()
