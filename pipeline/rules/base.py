"""The decks' rules (DOMAIN.md), whatever the pack in force.

- closed (paid, settled, returned: R13), disputed and legal cases are held with their status, and
  a case past its return date as returned (R1: it leaves the worklists);
- a do-not-contact debtor is held, all of their cases (the flag on any of their cases, even one
  no longer in tonight's book: ``debtor_do_not_contact``, sql/debtor_history.sql);
- a debtor with a promise to pay not yet due is not chased;
- R17-R18: wilful refusal (``legal_review_refusals`` refusals noted) with a debtor's balance above
  ``legal_review_min_balance`` goes to legal review (a hold with its reason), not another call;
- R20 (and R4): third parties may be contacted only to locate a debtor who cannot be reached;
  ``third_party_allowed`` says when (no usable number, or the pack's test of unreachable);
- R11-R13, R19: ``letter_allowed`` (used with the roster in strategy).
- R16 (masking in field material) is applied where data leaves: pipeline.assemble and publish.

A pack may also bar the phone alone (``phone_barred`` names the rule): the debtor
keeps the other channels and is held by that rule's name only when none is open (strategy).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import polars as pl

from pipeline.policy import Policy

CLOSED_STATUSES = ("paid", "settled", "returned", "disputed", "legal")
DO_NOT_CONTACT = "do-not-contact"
PROMISE_PENDING = "promise to pay not yet due"
LEGAL_REVIEW = "legal review (R17-R18): wilful refusal above the threshold"
# What the rules set, and the recent history a pack may read (pipeline/evidence.py), when absent
OPTIONAL_COLUMNS: dict[str, pl.DataType] = {
    "hold_reason": pl.Utf8(),
    "phone_barred": pl.Utf8(),
    "failed_attempts_recent": pl.Int64(),
    "failed_days_recent": pl.Int64(),
    "reached_recent": pl.Int64(),
    "debtor_complaint_on": pl.Date(),
    "debtor_do_not_contact": pl.Boolean(),
}


def work_day(business_date: date) -> date:
    """The day the night's worklist is worked: files arrive at night, work is done the next day."""
    return business_date + timedelta(days=1)


DEBTOR = "_debtor"  # a dense integer index of debtor_key (``with_debtor_index``), dropped after


def with_debtor_index(cases: pl.DataFrame) -> pl.DataFrame:
    """The frame with ``DEBTOR``, unless it has it: the debtor windows of the rules group by
    it, an integer, about three times faster than by the debtor_key string (1M cases)."""
    if DEBTOR in cases.columns:
        return cases
    index = (pl.col("debtor_key").rank("dense") - 1).cast(pl.UInt32)
    return cases.with_columns(index.alias(DEBTOR))


def with_reasons(
    cases: pl.DataFrame,
    column: str,
    rules: Sequence[tuple[pl.Expr, str | pl.Expr]],
    **also: pl.Expr,
) -> pl.DataFrame:
    """``column`` where already set, else the reason of the first rule whose condition is true
    (and the ``also`` columns, computed beside the conditions).

    The conditions are computed first, side by side, into columns of their own, then chained:
    polars shares one grouping between the windows of one ``with_columns``, but a window inside
    a when/then chain groups the 1M cases again each time.
    """
    tests = [f"_{column}_{n}" for n in range(len(rules))]
    conditions = [c.fill_null(False).alias(t) for t, (c, _) in zip(tests, rules, strict=True)]
    cases = cases.with_columns(*conditions, **also)
    chain: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for t, (_, reason) in reversed(list(zip(tests, rules, strict=True))):
        named = pl.lit(reason) if isinstance(reason, str) else reason
        chain = pl.when(pl.col(t)).then(named).otherwise(chain)
    kept = pl.when(pl.col(column).is_not_null()).then(pl.col(column)).otherwise(chain)
    return cases.with_columns(kept.alias(column)).drop(tests)


def _any_per_debtor(both: pl.Series) -> pl.Series:
    """Per row: whether the condition holds on any row of the row's debtor. A flag per debtor
    index and a gather: a tenth of what a polars window (a hash grouping) costs on 1M cases."""
    condition = both.struct.field("condition").to_numpy()
    debtor = both.struct.field("debtor").to_numpy()
    hit = np.zeros(int(debtor.max()) + 1 if len(debtor) else 0, dtype=np.bool_)
    hit[debtor[condition]] = True
    return pl.Series(hit[debtor], dtype=pl.Boolean)


def debtor_any(condition: pl.Expr) -> pl.Expr:
    """True on every case of a debtor when it is true on any of them (over ``DEBTOR``)."""
    both = pl.struct(condition.fill_null(False).alias("condition"), pl.col(DEBTOR).alias("debtor"))
    return both.map_batches(_any_per_debtor, return_dtype=pl.Boolean)


def apply(cases: pl.DataFrame, policy: Policy, business_date: date) -> pl.DataFrame:
    """Hold reasons of the decks' rules, and the R20 gate for third-party contact, in one pass
    (the rules read only the night's columns, never each other's holds), in the rules' order,
    so the first that holds a case names it."""
    cases = with_debtor_index(cases)
    for column, dtype in OPTIONAL_COLUMNS.items():
        if column not in cases.columns:
            cases = cases.with_columns(pl.lit(None, dtype=dtype).alias(column))
    wilful = (pl.col("refusals") >= policy.legal_review_refusals).fill_null(False)
    no_number = ~pl.col("has_phone") | pl.col("phone_invalid").fill_null(False)
    rules: list[tuple[pl.Expr, str | pl.Expr]] = [
        (pl.col("status").is_in(CLOSED_STATUSES), pl.col("status")),
        # R1/R13: past its return date on the work day a case goes back to the client, even
        # before the snapshot marks it (sql/snapshot_cases.sql)
        (pl.col("return_date") < pl.lit(work_day(business_date)), "returned"),
        # any of the debtor's cases, also one gone from tonight's book: it is about the person
        (
            debtor_any(pl.col("do_not_contact") | pl.col("debtor_do_not_contact").fill_null(False)),
            DO_NOT_CONTACT,
        ),
        (debtor_any(pl.col("promise_pending")), PROMISE_PENDING),
        (
            debtor_any(wilful)
            & (pl.col("balance").sum().over(DEBTOR) > policy.legal_review_min_balance),
            LEGAL_REVIEW,
        ),
    ]
    return with_reasons(cases, "hold_reason", rules, third_party_allowed=debtor_any(no_number))


def letter_allowed(policy: Policy) -> pl.Expr:
    """R11 more than the threshold owed, R12 the address is the debtor's own (mail not
    returned), R13 only open accounts (closed ones are held), R19 only after verification."""
    return (
        (pl.col("balance") > policy.letter_min_amount)
        & pl.col("has_address")
        & (pl.col("last_letter_outcome").fill_null("") != "mail_returned")
        & pl.col("verified")
        & ~pl.col("status").is_in(CLOSED_STATUSES)
    )


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def narrower_window(first: str, second: str) -> str:
    """The hours inside both 'HH:MM-HH:MM' windows (the later start, the earlier end)."""
    (a_start, a_end), (b_start, b_end) = first.split("-"), second.split("-")
    start = a_start if _minutes(a_start) >= _minutes(b_start) else b_start
    end = a_end if _minutes(a_end) <= _minutes(b_end) else b_end
    return f"{start}-{end}"
