"""parse: the strict common forms read exactly what the lenient parsers read, to the same value,
so reading a column strict-first changes the speed and never the result."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import parse

VALUE_TYPES = sorted(parse.DTYPES)
LIKELY = st.sampled_from(
    [
        "2026-11-23",
        "2026/11/23",
        "20261123",
        "2026-02-30",
        "2026/2/3",
        "2026年11月5日",
        "0000-01-01",
        "1899-12-31",
        "2026-11-23 08:15:00",
        "2026-11-23 24:00:00",
        "2026-11-23T08:15:00",
        "46349",
        "46349.5",
        "1,234.50",
        "-0",
        "+5",
        "007",
        "1e5",
        "inf",
        "NaN",
        "¥88",
        "88元",
        "RMB 88",
        "1234567890",
        "999999999",
        "-999999999",
        "45.0",
        "true",
        "TRUE",
        "是",
        "0",
        " 2026-11-23 ",
        "",
        " ",
    ]
)
TEXT = st.one_of(st.none(), LIKELY, st.text(alphabet="0123456789-/ :.T", max_size=20))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, st.booleans()), max_size=25))
def test_strict_first_is_the_lenient_parser(rows: list[tuple[str | None, bool]]) -> None:
    values = pl.Series("v", [r[0] for r in rows], dtype=pl.Utf8)
    xlsx = pl.Series("_xlsx", [r[1] for r in rows], dtype=pl.Boolean)
    frame = pl.DataFrame([values, xlsx])
    for value_type in VALUE_TYPES:
        got = parse.parse_text(values, value_type, xlsx)
        lenient = parse._lenient(value_type, "v", pl.col("_xlsx"))
        want = frame.select(lenient.cast(parse.DTYPES[value_type])).to_series()
        assert got.to_list() == want.to_list(), value_type


@pytest.mark.parametrize(
    ("values", "value_type", "expected"),
    [
        (pl.Series([1.005, float("nan"), None, 3.0]), "money", [1.0, None, None, 3.0]),
        (pl.Series([45, 10**10], dtype=pl.Int64), "integer", [45, None]),
        (pl.Series([date(2026, 11, 1), date(1800, 1, 1)]), "date", [date(2026, 11, 1), None]),
        (
            pl.Series([datetime(2026, 11, 1, 8, 15)]),
            "date",
            [date(2026, 11, 1)],
        ),
        (pl.Series([date(2026, 11, 1)]), "timestamp", [datetime(2026, 11, 1)]),
        (pl.Series([True, None]), "boolean", [True, None]),
    ],
)
def test_typed_columns_are_checked_as_their_text_would_be(
    values: pl.Series, value_type: str, expected: list[object]
) -> None:
    got = parse.parse_typed(values, value_type)
    assert got is not None and got.to_list() == expected
    assert got.dtype == parse.DTYPES[value_type]


def test_a_column_of_another_type_is_left_to_the_text_parser() -> None:
    assert parse.parse_typed(pl.Series([1.5]), "date") is None
    assert parse.parse_typed(pl.Series([1.5]), "integer") is None
    tz = pl.Series([datetime(2026, 11, 1)]).dt.replace_time_zone("Asia/Shanghai")
    assert parse.parse_typed(tz, "timestamp") is None
