"""Masking of debtors' identifiers (CONTRACT.md, DOMAIN.md R16).

id number: first 6 + ``********`` + last 4; card number: last 4 only; phone: first 3 + last 2.
Anything that leaves the process (logs, errors, rejected.csv, manifest, report) goes through here.
"""

from __future__ import annotations

import re

import polars as pl

_DIGITS_RUN = re.compile(r"\d{7,}")


def mask_id_number(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if len(v) <= 10:
        return "*" * len(v)
    return v[:6] + "********" + v[-4:]


def mask_card_number(value: str | None) -> str | None:
    if value is None:
        return None
    v = re.sub(r"\s", "", value)
    if len(v) <= 4:
        return "*" * len(v)
    return "****" + v[-4:]


def mask_phone(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if len(v) <= 5:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 5) + v[-2:]


def scrub_text(text: str) -> str:
    """Hide any run of 7+ digits in free text (error messages from libraries quote raw values)."""
    return _DIGITS_RUN.sub(
        lambda m: m.group(0)[:2] + "*" * (len(m.group(0)) - 4) + m.group(0)[-2:], text
    )


MASKERS = {"id_number": mask_id_number, "card_number": mask_card_number, "phone": mask_phone}


def mask_value(column: str, value: str | None) -> str | None:
    """Mask ``value`` if ``column`` holds PII, else scrub long digit runs from it."""
    if value is None:
        return None
    masker = MASKERS.get(column)
    return masker(value) if masker else scrub_text(value)


def mask_id_expr(col: str) -> pl.Expr:
    c = pl.col(col).str.strip_chars()
    return (
        pl.when(c.str.len_chars() > 10)
        .then(c.str.slice(0, 6) + pl.lit("********") + c.str.slice(-4))
        .otherwise(None)
        .alias(col)
    )


def mask_card_expr(col: str) -> pl.Expr:
    c = pl.col(col).str.replace_all(r"\s", "")
    return (
        pl.when(c.str.len_chars() > 4)
        .then(pl.lit("****") + c.str.slice(-4))
        .otherwise(None)
        .alias(col)
    )
