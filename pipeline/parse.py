"""Reading values as banks write them, as vectorised polars expressions.

Each parser returns the parsed value; a value that was present but could not be read comes back
null, and ``unreadable(raw, parsed)`` tells those apart from values that were simply absent.
Nothing is guessed: ``12/11/2026`` (day or month first?) is unreadable, not a date.
"""

from __future__ import annotations

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
