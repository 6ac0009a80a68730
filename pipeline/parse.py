"""Reading values as banks write them, as vectorised polars expressions.

Each parser returns the parsed value; a value that was present but could not be read comes back
null, and ``unreadable(raw, parsed)`` tells those apart from values that were simply absent.
Nothing is guessed: ``12/11/2026`` (day or month first?) is unreadable, not a date.

``parse_text`` reads a whole column: one strict common form first (``2026-11-23``, ``1234.50``),
which nearly every value of a machine-written file takes at about a microsecond, and the lenient
parsers below only on the few values that form did not read. ``parse_typed`` takes a column that
arrived typed (Parquet) and only checks it: a date needs no parsing, a NaN amount is unreadable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

EXCEL_EPOCH = date(1899, 12, 30)
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，－", "0123456789.,-")
_FULL_WIDTH_FROM = "０１２３４５６７８９．，－"
_FULL_WIDTH_TO = "0123456789.,-"

TRUE_WORDS = ("true", "t", "1", "y", "yes", "是", "真")
FALSE_WORDS = ("false", "f", "0", "n", "no", "否", "假")

DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
)


def _half_width(text: pl.Expr) -> pl.Expr:
    for a, b in zip(_FULL_WIDTH_FROM, _FULL_WIDTH_TO, strict=True):
        text = text.str.replace_all(a, b, literal=True)
    return text


def clean(column: str) -> pl.Expr:
    """The raw text, trimmed; blank is null."""
    text = pl.col(column).str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text).otherwise(None)


def money(column: str) -> pl.Expr:
    """``1,234.50``, ``¥1234.5``, ``￥88``, ``88元``, ``RMB 88`` -> 1234.5 / 88.0, to 2 decimals."""
    text = _half_width(clean(column)).str.replace_all(r"(?i)^(rmb|cny)|[¥￥元\s,]", "")
    number = pl.when(text.str.contains(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")).then(text)
    return number.cast(pl.Float64, strict=False).round(2)


def integer(column: str) -> pl.Expr:
    """Whole numbers; ``45`` and ``45.0`` (as spreadsheets store them) read, ``45.5`` does not."""
    text = _half_width(clean(column)).str.replace_all(r"[\s,]", "").str.replace(r"\.0+$", "")
    number = pl.when(text.str.contains(r"^[+-]?\d{1,9}$")).then(text)
    return number.cast(pl.Int64, strict=False)


def boolean(column: str) -> pl.Expr:
    text = clean(column).str.to_lowercase()
    return (
        pl.when(text.is_in(TRUE_WORDS))
        .then(True)
        .when(text.is_in(FALSE_WORDS))
        .then(False)
        .otherwise(None)
    )


def _excel_serial(text: pl.Expr) -> pl.Expr:
    """An Excel serial day number (XLSX only): 46349 is 2026-11-23."""
    days = pl.when(text.str.contains(r"^\d{4,5}(\.0+)?$")).then(text).cast(pl.Float64, strict=False)
    valid = days.is_between(1, 80000)
    return pl.when(valid).then(pl.lit(EXCEL_EPOCH) + pl.duration(days=days.cast(pl.Int64)))


def _plausible(value: pl.Expr) -> pl.Expr:
    return pl.when(value.dt.year().is_between(1900, 2200)).then(value)


def date_value(column: str, *, excel: bool = False) -> pl.Expr:
    """Dates in the contract's forms (and 2026年11月5日); a timestamp's time of day is dropped."""
    # 2026年11月5日 is how Chinese systems print a date; 2026年13月5日 stays unreadable.
    text = _half_width(clean(column)).str.replace_all("[年月]", "-").str.replace_all("日", "")
    day_part = text.str.extract(
        r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{8})(?:[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$", 1
    )
    padded = day_part.str.replace(r"^(\d{4})([-/.])(\d)([-/.])", "${1}${2}0${3}${4}").str.replace(
        r"^(\d{4}[-/.]\d{2}[-/.])(\d)$", "${1}0${2}"
    )
    parsed = pl.coalesce(*(padded.str.to_date(f, strict=False) for f in DATE_FORMATS))
    if excel:
        parsed = pl.coalesce(parsed, _excel_serial(text))
    return _plausible(parsed)


def timestamp(column: str, *, excel: bool = False) -> pl.Expr:
    """Timestamps in the contract's forms; a bare date is midnight."""
    text = _half_width(clean(column))
    parsed = pl.coalesce(
        *(text.str.to_datetime(f, strict=False, time_unit="us") for f in TIME_FORMATS),
        date_value(column, excel=False).cast(pl.Datetime("us")),
    )
    if excel:
        serial = text.cast(pl.Float64, strict=False)
        from_serial = pl.when(serial.is_between(1, 80000)).then(
            pl.lit(EXCEL_EPOCH).cast(pl.Datetime("us"))
            + pl.duration(microseconds=(serial * 86_400_000_000).round(0).cast(pl.Int64))
        )
        parsed = pl.coalesce(parsed, from_serial)
    return _plausible(parsed)


def unreadable(column: str, parsed: pl.Expr) -> pl.Expr:
    """True where the raw value was present but the parser could not read it."""
    return clean(column).is_not_null() & parsed.is_null()


# What each value type of ``headers.VALUE_TYPES`` becomes.
DTYPES: dict[str, pl.DataType] = {
    "money": pl.Float64(),
    "integer": pl.Int32(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
    "boolean": pl.Boolean(),
}
RULES = {
    "money": "unreadable_number",
    "integer": "unreadable_number",
    "date": "unreadable_date",
    "timestamp": "unreadable_timestamp",
    "boolean": "unreadable_boolean",
}
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ISO_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
_MAX_INTEGER = 999_999_999  # what the text form accepts: at most nine digits


def _strict_money(v: pl.Expr) -> pl.Expr:
    number = pl.when(v.str.contains(r"^-?[0-9]+(\.[0-9]+)?$")).then(v)
    return number.cast(pl.Float64, strict=False).round(2)


def _strict_integer(v: pl.Expr) -> pl.Expr:
    return pl.when(v.str.contains(r"^-?[0-9]{1,9}$")).then(v).cast(pl.Int64, strict=False)


def _date_form(pattern: str, form: str) -> Callable[[pl.Expr], pl.Expr]:
    def strict(v: pl.Expr) -> pl.Expr:
        return _plausible(pl.when(v.str.contains(pattern)).then(v).str.to_date(form, strict=False))

    return strict


def _strict_timestamp(v: pl.Expr) -> pl.Expr:
    text = pl.when(v.str.contains(_ISO_TIME)).then(v)
    return _plausible(text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"))


def _strict_boolean(v: pl.Expr) -> pl.Expr:
    return pl.when(v == "true").then(True).when(v == "false").then(False).otherwise(None)


# Each strict form reads a subset of what the lenient parser reads, to the same value: a value
# it leaves null goes to the lenient parser, so the strict form changes speed, never results.
# Dates come in three common forms: each tries the values the ones before it left.
_STRICT: dict[str, list[Callable[[pl.Expr], pl.Expr]]] = {
    "money": [_strict_money],
    "integer": [_strict_integer],
    "date": [
        _date_form(_ISO_DATE, "%Y-%m-%d"),
        _date_form(r"^[0-9]{4}/[0-9]{2}/[0-9]{2}$", "%Y/%m/%d"),
        _date_form(r"^[0-9]{8}$", "%Y%m%d"),
    ],
    "timestamp": [_strict_timestamp],
    "boolean": [_strict_boolean],
}


def _lenient(value_type: str, column: str, xlsx: pl.Expr) -> pl.Expr:
    """The full parser; Excel serial numbers are dates only in a workbook's rows."""
    if value_type == "money":
        return money(column)
    if value_type == "integer":
        return integer(column)
    if value_type == "boolean":
        return boolean(column)
    if value_type == "date":
        return pl.when(xlsx).then(date_value(column, excel=True)).otherwise(date_value(column))
    return pl.when(xlsx).then(timestamp(column, excel=True)).otherwise(timestamp(column))


def parse_text(values: pl.Series, value_type: str, xlsx: pl.Series) -> pl.Series:
    """A text column as ``DTYPES[value_type]``; present but unreadable values come back null.

    ``xlsx`` marks the rows that come from a workbook (row-aligned with ``values``).
    """
    dtype = DTYPES[value_type]
    frame = pl.DataFrame({"v": values.cast(pl.Utf8)})
    first, *others = _STRICT[value_type]
    parsed = frame.select(first(pl.col("v")).cast(dtype)).to_series()
    left = (parsed.is_null() & frame.get_column("v").is_not_null()).arg_true()
    for strict in others:
        if left.len() == 0:
            break
        found = frame[left].select(strict(pl.col("v")).cast(dtype)).to_series()
        parsed = parsed.scatter(left, found)
        left = left.filter(found.is_null())
    if left.len() == 0:
        return parsed.alias(values.name)
    rest = frame[left].with_columns(xlsx.gather(left).alias("_xlsx"))
    lenient = rest.select(_lenient(value_type, "v", pl.col("_xlsx")).cast(dtype)).to_series()
    return parsed.scatter(left, lenient).alias(values.name)


def parse_typed(values: pl.Series, value_type: str) -> pl.Series | None:
    """A column that arrived typed, checked as its text form would be; None if its dtype is not
    one of ``value_type``'s (the caller then reads it as text)."""
    dtype = values.dtype
    frame = values.to_frame("v")
    v = pl.col("v")
    if value_type == "money" and (dtype.is_numeric()):
        number = v.cast(pl.Float64)
        out = pl.when(number.is_finite()).then(number).round(2)
    elif value_type == "integer" and dtype.is_integer():
        whole = v.cast(pl.Int64, strict=False)
        out = pl.when(whole.abs() <= _MAX_INTEGER).then(whole)
    elif value_type in ("date", "timestamp") and dtype == pl.Date:
        out = _plausible(v)
    elif value_type in ("date", "timestamp") and isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return None
        out = _plausible(v.dt.date() if value_type == "date" else v.cast(pl.Datetime("us")))
    elif value_type == "boolean" and dtype == pl.Boolean:
        return values
    else:
        return None
    out = out.cast(DTYPES[value_type])
    if dtype == DTYPES[value_type] and not frame.select(v.ne_missing(out).any()).item():
        return values  # nothing to change: the column itself, not a copy of it
    return frame.select(out).to_series().alias(values.name)
