"""Masking of debtors' identifiers (CONTRACT.md, DOMAIN.md R16).

id number: first 6 + ``********`` + last 4; card number: last 4 only; phone: first 3 + last 2.
Anything that leaves the process (logs, errors, rejected.csv, manifest, report) goes through here.
"""

from __future__ import annotations

import re

import polars as pl

# A long run of digits, or digit groups split by single spaces or hyphens (cards typed as
# "6222 0202 ...", phones as "138-0013-8000"): what an id, card or phone number looks like in
# free text. Dates ("2026-11-23 08:15") and case ids ("EA0000123") stay readable.
_DIGITS_RUN = re.compile(r"\d{9,}|\d{3,}(?:[ \-]\d{3,})+")
_SCRUB_MIN_DIGITS = 9


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


def _scrub_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(ch.isdigit() for ch in text) < _SCRUB_MIN_DIGITS:
        return text
    return text[:2] + "*" * (len(text) - 4) + text[-2:]


def scrub_text(text: str) -> str:
    """Hide id-, card- and phone-like digit runs in free text (library errors quote raw values)."""
    return _DIGITS_RUN.sub(_scrub_match, text)


# In a library's error text: a quoted value that is not a plain name (a column, a table), and
# any run of Chinese characters (debtors' names and addresses; the libraries' words are English).
_QUOTED = re.compile(r"""(['"`])((?:(?!\1).){1,400}?)\1""")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
_ERROR_MAX_CHARS = 300


def _quoted(match: re.Match[str]) -> str:
    quote, inner = match.group(1), match.group(2)
    return match.group(0) if _PLAIN_NAME.fullmatch(inner) else f"{quote}…{quote}"


def scrub_error(text: str) -> str:
    """A library's error message (DuckDB, pandera, polars) fit to print: values withheld.

    Such messages quote the values they failed on ("Could not convert string '张三 138...'").
    Digit runs are scrubbed as in ``scrub_text``; quoted values other than plain names, and
    Chinese text, are replaced by "…"; the message is cut to one short line.
    """
    first = scrub_text(text).strip().splitlines()[0] if text.strip() else ""
    cleaned = _CJK.sub("…", _QUOTED.sub(_quoted, first))
    if len(cleaned) > _ERROR_MAX_CHARS:
        cleaned = cleaned[: _ERROR_MAX_CHARS - 1] + "…"
    return cleaned


def mask_name(value: str | None) -> str | None:
    """A debtor's name: the first character only (张** for 张三丰)."""
    if value is None:
        return None
    v = value.strip()
    return v[:1] + "*" * max(len(v) - 1, 1)


def mask_address(value: str | None) -> str | None:
    """An address: the first 6 characters (the city and district), the rest hidden."""
    if value is None:
        return None
    v = value.strip()
    return v[:6] + "…" if len(v) > 6 else v


MASKERS = {
    "id_number": mask_id_number,
    "card_number": mask_card_number,
    "phone": mask_phone,
    "customer_name": mask_name,
    "address": mask_address,
}


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
