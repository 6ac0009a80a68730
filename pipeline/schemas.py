"""The contract's rules for each input kind, as pandera (polars) schemas.

The frames checked here are already parsed (``validate.parse_kind``): values that could not be
read at all were rejected there. Each check has the name of the rule that ``rejected.csv``
reports, so a person reads "id_number_invalid", not a library's expression. The schemas are lazy:
one pass reports every failing row of every column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_11_2

PRODUCTS = ("credit_card", "consumer_loan", "cash_loan", "auto_loan", "mortgage", "other")
STATUSES = ("active", "paid", "settled", "returned", "disputed", "legal")
CONTACT_CHANNELS = ("phone", "visit", "letter", "sms")
OUTCOMES = (
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
)
WORK_CHANNELS = ("phone", "visit", "letter")
MAX_DAYS_OVERDUE = 3650
# No debt, payment or promise of one person reaches a trillion yuan; a larger figure is a broken
# value (a card number in the amount column), and beyond 10^16 the warehouse's DECIMAL(18, 2)
# could not hold it: checked here, so that one such row is rejected and never fails the night.
MAX_AMOUNT = 1e12

# Values as Chinese banks write them (DOMAIN.md glossary), mapped to the contract's words.
VALUE_ALIASES: dict[str, dict[str, str]] = {
    "product": {
        "信用卡": "credit_card",
        "消费贷": "consumer_loan",
        "消费贷款": "consumer_loan",
        "现金贷": "cash_loan",
        "现金贷款": "cash_loan",
        "车贷": "auto_loan",
        "汽车贷款": "auto_loan",
        "房贷": "mortgage",
        "住房贷款": "mortgage",
        "其他": "other",
        "其它": "other",
    },
    "status": {
        "正常": "active",
        "在催": "active",
        "已还清": "paid",
        "还清": "paid",
        "结清": "settled",
        "已结清": "settled",
        "退案": "returned",
        "已退案": "returned",
        "争议": "disputed",
        "诉讼": "legal",
        "法诉": "legal",
    },
    "channel": {
        "电催": "phone",
        "电话": "phone",
        "外访": "visit",
        "上门": "visit",
        "信函": "letter",
        "短信": "sms",
    },
}

_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
_PHONE_NOISE = re.compile(r"[\s\-()（）]")

CheckFn = Callable[[PolarsData], pl.LazyFrame]


def _check(name: str, expr: Callable[[pl.Expr], pl.Expr]) -> pa.Check:
    """A named element-wise check; null results (a missing input) are not failures."""

    def run(data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(expr(pl.col(data.key)))

    return pa.Check(run, name=name)


def _valid_id_number(value: str) -> bool:
    """18 characters, a real birth date, and the ISO 7064 MOD 11-2 check character.

    Not ``ric.is_valid``: that also looks the birth-place code up in python-stdnum's own list of
    areas, which lacks codes in use (Shanghai Pudong, 310115), and the contract asks for the
    check digit, not the area.
    """
    number = value.strip().upper()
    if not _ID_SHAPE.match(number):
        return False
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return bool(mod_11_2.is_valid(number))


def _valid_phone(value: str) -> bool:
    digits = _PHONE_NOISE.sub("", value)
    return bool(_MOBILE.match(digits) or _LANDLINE.match(digits))


def _valid_card_digits(value: str) -> bool:
    digits = re.sub(r"\s", "", value)
    return digits.isdigit() and 12 <= len(digits) <= 19


def _by_value(fn: Callable[[str], bool]) -> Callable[[pl.Expr], pl.Expr]:
    """Apply a Python validator (python-stdnum) once per distinct value, not once per row."""
    cached = lru_cache(maxsize=None)(fn)
    return lambda col: col.map_elements(cached, return_dtype=pl.Boolean, skip_nulls=True)


def _card_number_check() -> pa.Check:
    """12-19 digits; Luhn-valid when the product is a credit card."""

    def run(data: PolarsData) -> pl.LazyFrame:
        card = pl.col(data.key)
        digits = card.str.replace_all(r"\s", "")
        shape_ok = _by_value(_valid_card_digits)(card)
        luhn_ok = _by_value(lambda v: bool(luhn.is_valid(v)))(digits)
        needs_luhn = pl.col("product") == "credit_card"
        return data.lazyframe.select(shape_ok & (~needs_luhn | luhn_ok))

    return pa.Check(run, name="card_number_invalid")


def _amount(rule: str, low: Callable[[pl.Expr], pl.Expr], *, required: bool) -> pa.Column:
    """A money column: its lower bound under ``rule``, and at most ``MAX_AMOUNT``."""
    return pa.Column(
        pl.Float64,
        checks=[_check(rule, low), _check("out_of_range", lambda c: c <= MAX_AMOUNT)],
        nullable=not required,
    )


def _not_negative(c: pl.Expr) -> pl.Expr:
    return c >= 0


def _positive(c: pl.Expr) -> pl.Expr:
    return c > 0


def _not_after(business_date: date) -> pa.Check:
    return _check("after_business_date", lambda c: c <= pl.lit(business_date))


def _unique_in_file(*keys: str) -> pa.Check:
    """A key may appear once per file (a later file of the night updates it; load handles that)."""

    def run(data: PolarsData) -> pl.LazyFrame:
        dup = pl.struct("_file", *keys).is_duplicated()
        return data.lazyframe.select(~dup | pl.col(data.key).is_null())

    return pa.Check(run, name="duplicate_key")


def _one_of(values: tuple[str, ...]) -> pa.Check:
    return _check("unknown_value", lambda c: c.is_in(list(values)))


def _text(required: bool, *checks: pa.Check) -> pa.Column:
    return pa.Column(pl.Utf8, checks=list(checks), nullable=not required)


ROW_COLUMNS = {"_file": pa.Column(pl.Utf8), "_row": pa.Column(pl.Int64)}


def cases_schema(business_date: date) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "case_id": _text(True, _unique_in_file("client_id", "case_id")),
            "client_id": _text(True),
            "batch_id": _text(False),
            "product": _text(True, _one_of(PRODUCTS)),
            "customer_id": _text(True),
            "customer_name": _text(True),
            "id_number": _text(False, _check("id_number_invalid", _by_value(_valid_id_number))),
            "card_number": _text(False, _card_number_check()),
            "phone": _text(False, _check("phone_invalid", _by_value(_valid_phone))),
            "address": _text(False),
            "province": _text(False),
            "city": _text(True),
            "district": _text(False),
            "principal": _amount("negative", _not_negative, required=True),
            "amount_owed": _amount("not_positive", _positive, required=True),
            "days_overdue": pa.Column(
                pl.Int32,
                checks=[_check("out_of_range", lambda c: c.is_between(0, MAX_DAYS_OVERDUE))],
                nullable=False,
            ),
            "last_payment_date": pa.Column(
                pl.Date, checks=[_not_after(business_date)], nullable=True
            ),
            "last_payment_amount": _amount("negative", _not_negative, required=False),
            "handover_date": pa.Column(pl.Date, checks=[_not_after(business_date)], nullable=False),
            "return_date": pa.Column(
                pl.Date,
                checks=[_check("return_before_handover", lambda c: c > pl.col("handover_date"))],
                nullable=False,
            ),
            "status": _text(True, _one_of(STATUSES)),
            "do_not_contact": pa.Column(pl.Boolean, nullable=False),
            **ROW_COLUMNS,
        },
        strict=False,
    )


def payments_schema(business_date: date) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "payment_id": _text(True, _unique_in_file("client_id", "payment_id")),
            "case_id": _text(True),
            "client_id": _text(True),
            "paid_on": pa.Column(pl.Date, checks=[_not_after(business_date)], nullable=False),
            "amount": _amount("not_positive", _positive, required=True),
            **ROW_COLUMNS,
        },
        strict=False,
    )


def contacts_schema(business_date: date) -> pa.DataFrameSchema:
    end_of_day = pl.lit(business_date).cast(pl.Datetime("us")) + pl.duration(days=1)
    return pa.DataFrameSchema(
        {
            "note_id": _text(True, _unique_in_file("client_id", "note_id")),
            "case_id": _text(True),
            "client_id": _text(True),
            "collector_id": _text(False),
            "channel": _text(True, _one_of(CONTACT_CHANNELS)),
            "contacted_at": pa.Column(
                pl.Datetime("us"),
                checks=[_check("after_business_date", lambda c: c < end_of_day)],
                nullable=False,
            ),
            "outcome": _text(True, _one_of(OUTCOMES)),
            "promise_amount": _amount("negative", _not_negative, required=False),
            "promise_date": pa.Column(pl.Date, nullable=True),
            "complaint": pa.Column(pl.Boolean, nullable=False),
            **ROW_COLUMNS,
        },
        strict=False,
    )


def collectors_schema(business_date: date) -> pa.DataFrameSchema:
    def visit_needs_city(data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("channel") != "visit") | (pl.col(data.key).list.len() > 0)
        )

    return pa.DataFrameSchema(
        {
            "collector_id": _text(True, _unique_in_file("collector_id")),
            "name": _text(False),
            "team": _text(False),
            "channel": _text(True, _one_of(WORK_CHANNELS)),
            "cities": pa.Column(
                pl.List(pl.Utf8),
                checks=[pa.Check(visit_needs_city, name="visit_collector_without_city")],
                nullable=False,
            ),
            "daily_capacity": pa.Column(
                pl.Int32, checks=[_check("not_positive", lambda c: c > 0)], nullable=False
            ),
            "active": pa.Column(pl.Boolean, nullable=False),
            **ROW_COLUMNS,
        },
        strict=False,
    )


SCHEMAS: dict[str, Callable[[date], pa.DataFrameSchema]] = {
    "cases": cases_schema,
    "payments": payments_schema,
    "contacts": contacts_schema,
    "collectors": collectors_schema,
}
