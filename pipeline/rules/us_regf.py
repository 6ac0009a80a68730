"""us-regf: the US CFPB's Regulation F (12 CFR 1006.14), as a second pack.

- at most 7 call attempts in 7 consecutive days per debt: the work day and the 6 days before it
  (``phone_attempts_6d`` in sql/night_cases.sql). A call to the debtor is an attempt on each of
  their debts (their cases are worked together), so a debtor's attempts left are the fewest of
  any of their cases;
- no call within 7 days after a telephone conversation with the debtor (any of their debts);
- both are limits on telephone calls: they bar the phone only (``phone_barred``); the debtor keeps
  a visit or a letter where eligible and is held with the rule's name when none is;
- calls 08:00-21:00 local time (``CALL_WINDOW``);
- third-party (location) contact as the decks' R20: only when no number reaches the debtor.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from pipeline.policy import Policy
from pipeline.rules.base import DEBTOR, debtor_any, with_reasons

CALL_WINDOW = "08:00-21:00"
ATTEMPTS_IN_7_DAYS = 7
QUIET_DAYS_AFTER_CONVERSATION = 7
ATTEMPT_CAP = "us-regf: 7 call attempts in 7 days"
AFTER_CONVERSATION = "us-regf: telephone conversation within 7 days"


def apply(cases: pl.DataFrame, policy: Policy, business_date: date) -> pl.DataFrame:
    """Hold reasons and phone limits of us-regf; see the module docstring. One pass (the cap's
    test repeats the attempts' expression rather than read the new column)."""
    # the work day is business_date + 1; a conversation on day X bars calls on X+1 .. X+7
    quiet_since = business_date + timedelta(days=1 - QUIET_DAYS_AFTER_CONVERSATION)
    allowed = (pl.lit(ATTEMPTS_IN_7_DAYS) - pl.col("phone_attempts_6d").fill_null(0)).clip(0)
    attempts_allowed = allowed.min().over(DEBTOR).cast(pl.Int32)
    bars: list[tuple[pl.Expr, str | pl.Expr]] = [
        (debtor_any(pl.col("last_conversation_on") >= pl.lit(quiet_since)), AFTER_CONVERSATION),
        (attempts_allowed <= 0, ATTEMPT_CAP),
    ]
    return with_reasons(
        cases,
        "phone_barred",
        bars,
        attempts_allowed=attempts_allowed,
        # one conversation ends the calls of the day (and of the next 7)
        connected_calls_allowed=pl.lit(1, dtype=pl.Int32),
    )
