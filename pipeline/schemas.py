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

import numpy as np
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


def _luhn(value: str) -> bool:
    return bool(luhn.is_valid(value))


# The Python validators above are the reference; the checks run these vectorised versions on
# ASCII values (nearly all) and the Python ones only on the rest, once per distinct value:
# tests/test_checks.py proves both agree on any text. ``str.strip`` and ``re``'s ``\s`` take
# these ASCII characters for white space (polars' white space lacks \x1c-\x1f).
_PY_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_PY_SPACE_CLASS = r"[ \t\n\r\x0b\x0c\x1c-\x1f]"


# Each takes a text column and works in steps (a column computed once, then used), since an
# expression used several times in one eager select is evaluated each time.


def id_number_ok(values: pl.Series) -> pl.Series:
    """``_valid_id_number`` for ASCII text. The MOD 11-2 sum of the first 17 digits weighs digit
    i by 2^(17-i); 13 = 2 (mod 11), so it is their value in base 13, mod 11 (as python-stdnum's
    ``ric.calc_check_digit`` computes it); 13^17 < 2^63."""
    n = pl.col("n")
    last = n.str.slice(17, 1)
    return (
        values.to_frame("v")
        .select(pl.col("v").str.strip_chars(_PY_SPACE).str.to_uppercase().alias("n"))
        .select(
            n.str.contains(r"^[0-9]{17}[0-9X]$").alias("shape"),
            n.str.slice(6, 8).str.to_date("%Y%m%d", strict=False).is_not_null().alias("born"),
            # Python has no year 0
            (n.str.slice(6, 4).cast(pl.Int32, strict=False) >= 1).alias("year"),
            (n.str.slice(0, 17).str.to_integer(base=13, strict=False) % 11).alias("first"),
            pl.when(last == "X")
            .then(10)
            .otherwise(last.cast(pl.Int64, strict=False))
            .alias("last"),
        )
        .select(
            pl.col("shape")
            & pl.col("born")
            & pl.col("year")
            & ((2 * pl.col("first") + pl.col("last")) % 11 == 1)
        )
        .to_series()
    )


def card_digits_ok(values: pl.Series) -> pl.Series:
    """``_valid_card_digits`` for ASCII text."""
    digits = pl.col("v").str.replace_all(_PY_SPACE_CLASS, "")
    return values.to_frame("v").select(digits.str.contains(r"^[0-9]{12,19}$")).to_series()


# Luhn's figure for a digit in an even place from the right (the 2nd, 4th, ...): twice the
# digit, its digits summed; indexed by the digit's ASCII byte (b"0" is 48).
_LUHN_DOUBLED = np.zeros(256, dtype=np.uint8)
_LUHN_DOUBLED[ord("0") : ord("9") + 1] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
_LUHN_WIDTH = 19


def luhn_ok(values: pl.Series) -> pl.Series:
    """python-stdnum's ``luhn.is_valid`` for ASCII text of at most 19 characters (longer is
    never a card): digit k from the right counts once if k is odd, else doubled with its
    digits summed. Each value of 1-19 digits is zero-padded to 19 (leading zeros add nothing)
    and any other replaced by 19 zeros, so the column's text is one block of 19 bytes a row,
    which numpy sums as a table of digits in one pass (not one pass per digit)."""
    width = _LUHN_WIDTH
    digits = values.to_frame("v").select(
        pl.col("v").str.contains(rf"^[0-9]{{1,{width}}}$").alias("digits")
    )
    padded = pl.concat([values.to_frame("v"), digits], how="horizontal").select(
        pl.when(pl.col("digits")).then(pl.col("v").str.zfill(width)).otherwise(pl.lit("0" * width))
    )
    # Arrow's large_string: the rows' bytes end to end in one buffer, after an offset
    text = padded.to_series().to_arrow(compat_level=pl.CompatLevel.oldest())
    _, offsets, data = text.buffers()
    first = int(np.frombuffer(offsets, dtype=np.int64, count=1, offset=8 * text.offset)[0])
    table = np.frombuffer(data, dtype=np.uint8, count=len(text) * width, offset=first)
    table = table.reshape(len(text), width)
    # the last column is place 1 from the right; every other column leftwards is odd too
    odd = table[:, width - 1 :: -2].sum(axis=1, dtype=np.int64) - ord("0") * ((width + 1) // 2)
    even = _LUHN_DOUBLED[table[:, width - 2 :: -2]].sum(axis=1, dtype=np.int64)
    return digits.to_series() & pl.Series((odd + even) % 10 == 0)


def phone_ok(values: pl.Series) -> pl.Series:
    """``_valid_phone`` for ASCII text."""
    digits = pl.col("d")
    return (
        values.to_frame("v")
        .select(pl.col("v").str.replace_all(r"[ \t\n\r\x0b\x0c\x1c-\x1f\-()]", "").alias("d"))
        .select(
            digits.str.contains(r"^(\+?86)?1[3-9][0-9]{9}$")
            | digits.str.contains(r"^0[0-9]{2,3}[0-9]{7,8}$")
        )
        .to_series()
    )


def _vectorised(
    fn: Callable[[str], bool], ascii_check: Callable[[pl.Series], pl.Series]
) -> Callable[[pl.Expr], pl.Expr]:
    """``fn`` over a text column: ``ascii_check`` on ASCII values, ``fn`` once per distinct other
    value; null stays null (a missing value is not a failure)."""
    cached = lru_cache(maxsize=None)(fn)

    def run(values: pl.Series) -> pl.Series:
        values = values.cast(pl.Utf8)
        present = values.is_not_null()
        out = ascii_check(values).to_frame("ok").select(pl.when(present).then(pl.col("ok")))
        checked = out.to_series()
        text = values.to_frame("v").select(
            pl.col("v").str.len_bytes() != pl.col("v").str.len_chars()
        )
        other = text.to_series().arg_true()
        if other.len() > 0:
            checked = checked.scatter(other, [cached(v) for v in values.gather(other).to_list()])
        return checked

    return lambda col: col.map_batches(run, return_dtype=pl.Boolean)


def _card_number_check() -> pa.Check:
    """12-19 digits; Luhn-valid when the product is a credit card."""

    def run(data: PolarsData) -> pl.LazyFrame:
        card = pl.col(data.key)
        shape_ok = _vectorised(_valid_card_digits, card_digits_ok)(card)
        digits = card.str.replace_all(r"\s", "")
        passes_luhn = _vectorised(_luhn, luhn_ok)(digits)
        needs_luhn = pl.col("product") == "credit_card"
        return data.lazyframe.select(shape_ok & (~needs_luhn | passes_luhn))

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


def repeated(hashes: pl.Series) -> pl.Series:
    """Positions of the values of ``hashes`` that occur more than once: by a sort (a fifth of
    the cost of ``is_duplicated``'s hash table at 5M rows), then a look-up of the few repeats."""
    ordered = hashes.sort()
    repeats = ordered.filter(ordered == ordered.shift(1))
    if repeats.len() == 0:
        return pl.Series("_index", [], dtype=pl.UInt32)
    return hashes.is_in(repeats.unique().implode()).arg_true().alias("_index")


def duplicated(keys: pl.Series) -> pl.Series:
    """``keys.is_duplicated()`` for a struct column (the file, then the key), at the cost of
    hashing the key: only rows whose key's hash repeats (in any file; duplicates and rare
    collisions) are compared in full."""
    out = pl.repeat(False, keys.len(), dtype=pl.Boolean, eager=True)
    fields = keys.struct.unnest()
    candidates = repeated(fields.drop(fields.columns[0]).hash_rows())
    if candidates.len() > 0:
        out = out.scatter(candidates, keys.gather(candidates).is_duplicated())
    return out


def _unique_in_file(*keys: str) -> pa.Check:
    """A key may appear once per file (a later file of the night updates it; load handles that)."""

    def run(data: PolarsData) -> pl.LazyFrame:
        dup = pl.struct("_file", *keys).map_batches(duplicated, return_dtype=pl.Boolean)
        return data.lazyframe.select(~dup | pl.col(data.key).is_null())

    return pa.Check(run, name="duplicate_key")


def _one_of(values: tuple[str, ...]) -> pa.Check:
    return _check("unknown_value", lambda c: c.is_in(list(values)))


def _text(required: bool, *checks: pa.Check) -> pa.Column:
    return pa.Column(pl.Utf8, checks=list(checks), nullable=not required)


def _few(required: bool, *checks: pa.Check) -> pa.Column:
    """A text column of few values (``headers.FEW_VALUES``): a Categorical."""
    return pa.Column(pl.Categorical, checks=list(checks), nullable=not required)


ROW_COLUMNS = {"_file": pa.Column(pl.Categorical), "_row": pa.Column(pl.Int64)}


def cases_schema(business_date: date) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "case_id": _text(True, _unique_in_file("client_id", "case_id")),
            "client_id": _few(True),
            "batch_id": _few(False),
            "product": _few(True, _one_of(PRODUCTS)),
            "customer_id": _text(True),
            "customer_name": _text(True),
            "id_number": _text(
                False, _check("id_number_invalid", _vectorised(_valid_id_number, id_number_ok))
            ),
            "card_number": _text(False, _card_number_check()),
            "phone": _text(False, _check("phone_invalid", _vectorised(_valid_phone, phone_ok))),
            "address": _text(False),
            "province": _few(False),
            "city": _few(True),
            "district": _few(False),
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
            "status": _few(True, _one_of(STATUSES)),
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
            "client_id": _few(True),
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
            "client_id": _few(True),
            "collector_id": _few(False),
            "channel": _few(True, _one_of(CONTACT_CHANNELS)),
            "contacted_at": pa.Column(
                pl.Datetime("us"),
                checks=[_check("after_business_date", lambda c: c < end_of_day)],
                nullable=False,
            ),
            "outcome": _few(True, _one_of(OUTCOMES)),
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
            "collector_id": _few(True, _unique_in_file("collector_id")),
            "name": _text(False),
            "team": _few(False),
            "channel": _few(True, _one_of(WORK_CHANNELS)),
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
