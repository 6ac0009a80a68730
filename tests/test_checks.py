"""The vectorised id-number, card and phone checks agree with python-stdnum and the reference
validators on any text: the ASCII forms banks write, near misses, and arbitrary strings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl
from hypothesis import find, given, settings
from hypothesis import strategies as st
from pandera.api.polars.types import PolarsData
from stdnum import luhn
from stdnum.iso7064 import mod_11_2

from pipeline import schemas

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=19)
NOISE = st.sampled_from(["", " ", "\t", "-", "(", ")", "\x1c", "\u3000", "８", "X", "x", "+86"])


def _ascii(check: Callable[[pl.Series], pl.Series], values: list[str]) -> list[bool | None]:
    return check(pl.Series(values, dtype=pl.Utf8)).to_list()


def _checked(name: str, values: list[str | None], product: str = "credit_card") -> list[bool]:
    """Which rows the cases schema's check ``name`` passes (its function, as pandera runs it)."""
    schema = schemas.cases_schema(date(2026, 11, 23))
    column = {"id_number_invalid": "id_number", "card_number_invalid": "card_number"}.get(
        name, "phone"
    )
    check = next(c for c in schema.columns[column].checks if c.name == name)
    frame = pl.DataFrame(
        {column: values, "product": [product] * len(values)},
        schema={column: pl.Utf8, "product": pl.Utf8},
    ).lazy()
    out = check._check_fn(PolarsData(frame, column)).collect().to_series()
    return out.to_list()  # type: ignore[no-any-return]


def _id_like(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet="0123456789", min_size=17, max_size=17))
    date = draw(st.sampled_from(["19491231", "20000229", "19000229", "00000101", "19991301"]))
    if draw(st.booleans()):
        body = body[:6] + date + body[14:]
    right = mod_11_2.calc_check_digit(body)
    check = right if draw(st.booleans()) else draw(st.sampled_from("0123456789Xx"))
    return draw(NOISE) + body + check + draw(NOISE)


ID_LIKE = st.composite(_id_like)()
ANY_TEXT = st.text(max_size=24)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(ID_LIKE, ANY_TEXT, st.none()), max_size=30))
def test_id_numbers_agree_with_python_stdnum(values: list[str | None]) -> None:
    got = _checked("id_number_invalid", values)
    assert got == [None if v is None else schemas._valid_id_number(v) for v in values]


def _card_like(draw: st.DrawFn) -> str:
    digits = draw(st.text(alphabet="0123456789", min_size=10, max_size=21))
    if draw(st.booleans()) and len(digits) > 1:  # make it Luhn-valid
        body = digits[:-1]
        digits = body + luhn.calc_check_digit(body)
    sep = draw(NOISE)
    return sep.join([digits[:4], digits[4:8], digits[8:]]) if draw(st.booleans()) else digits


CARD_LIKE = st.composite(_card_like)()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(CARD_LIKE, ANY_TEXT, st.none()), max_size=30),
    st.sampled_from(["credit_card", "cash_loan"]),
)
def test_card_numbers_agree_with_python_stdnum_luhn(values: list[str | None], product: str) -> None:
    def reference(v: str) -> bool:
        # the check as it was: the shape in Python, Luhn on the digits polars' \s leaves
        digits = pl.Series([v]).str.replace_all(r"\s", "").item()
        return schemas._valid_card_digits(v) and (
            product != "credit_card" or bool(luhn.is_valid(digits))
        )

    got = _checked("card_number_invalid", values, product)
    assert got == [None if v is None else reference(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(DIGITS, max_size=30))
def test_luhn_of_up_to_19_digits_is_stdnum_luhn(values: list[str]) -> None:
    assert _ascii(schemas.luhn_ok, values) == [bool(luhn.is_valid(v)) for v in values]


def _phone_like(draw: st.DrawFn) -> str:
    core = draw(
        st.one_of(
            st.from_regex(r"1[0-9]{10}", fullmatch=True),
            st.from_regex(r"0[0-9]{9,11}", fullmatch=True),
            st.from_regex(r"[0-9]{6,13}", fullmatch=True),
        )
    )
    prefix = draw(st.sampled_from(["", "86", "+86", "+8", "(", "（"]))
    sep = draw(NOISE)
    return prefix + sep.join([core[:3], core[3:7], core[7:]])


PHONE_LIKE = st.composite(_phone_like)()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(PHONE_LIKE, ANY_TEXT, st.none()), max_size=30))
def test_phones_agree_with_the_reference(values: list[str | None]) -> None:
    got = _checked("phone_invalid", values)
    assert got == [None if v is None else schemas._valid_phone(v) for v in values]


def test_the_generators_make_valid_numbers_too() -> None:
    """The properties above would prove little if no generated value were valid."""
    assert schemas._valid_id_number(find(ID_LIKE, schemas._valid_id_number))
    card = find(CARD_LIKE, lambda v: len(v) >= 12 and luhn.is_valid(v))
    assert luhn.is_valid(card)


def test_known_values() -> None:
    assert _checked("id_number_invalid", ["11010519491231002X", "110105194912310021"]) == [
        True,
        False,
    ]
    assert _checked("card_number_invalid", ["4111 1111 1111 1111", "4111111111111112"]) == [
        True,
        False,
    ]
    assert _checked("phone_invalid", ["021-64972730", "+86 138 0013 8000", "1380013"]) == [
        True,
        True,
        False,
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.csv", "b.csv"]),
            st.one_of(st.none(), st.sampled_from(["E", "W"])),
            st.one_of(st.none(), st.sampled_from(["1", "2", "3"])),
        ),
        max_size=20,
    )
)
def test_duplicated_is_polars_is_duplicated(rows: list[tuple[str, str | None, str | None]]) -> None:
    keys = (
        pl.DataFrame(rows, schema={"_file": pl.Utf8, "c": pl.Utf8, "k": pl.Utf8}, orient="row")
        .select(pl.struct("_file", "c", "k"))
        .to_series()
    )
    assert schemas.duplicated(keys).to_list() == keys.is_duplicated().to_list()
