"""cn-2026: the China Banking Association's 2026 guideline on collecting personal consumer loans
and the internet-finance collection standard.

- no contact 22:00-08:00: phone rows carry the call window (``CALL_WINDOW``);
- at most 6 dial attempts a day to a number that does not answer (``attempts_allowed``);
- at most 3 connected calls a day per debtor, across all cases and collectors
  (``connected_calls_allowed``; a debtor's cases go to one collector);
- third-party contact only once the debtor is unreachable: an invalid number, 3 consecutive
  failed attempts, or 3 days unreachable: failed calls on each of the last 3 days up to the
  business date and no right-party contact in them (``failed_days_recent`` and
  ``reached_recent``, sql/contact_recency.sql). A failed call weeks after the debtor was last
  reached is not "unreachable" now: counting over the whole history put trace on half the book.
- a cooling-off hold of ``policy.cooling_off_days`` days after a complaint, all the debtor's cases.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from pipeline.policy import Policy
from pipeline.rules.base import consecutive_failed_calls, debtor_any, hold

CALL_WINDOW = "08:00-22:00"
DAILY_DIAL_ATTEMPTS = 6
DAILY_CONNECTED_CALLS = 3
FAILED_IN_A_ROW = 3
DAYS_UNREACHABLE = 3
COOLING_OFF = "cn-2026: cooling-off after a complaint"


def apply(cases: pl.DataFrame, policy: Policy, business_date: date) -> pl.DataFrame:
    """Hold reasons and phone limits of cn-2026; see the module docstring."""
    # the work day is business_date + 1; a complaint on day X bars days X+1 .. X+cooling_off_days
    cooling_since = business_date + timedelta(days=1 - policy.cooling_off_days)
    cases = hold(
        cases, debtor_any(pl.col("last_complaint_on") >= pl.lit(cooling_since)), COOLING_OFF
    )
    unreachable = (
        pl.col("third_party_allowed")
        | consecutive_failed_calls(FAILED_IN_A_ROW)
        | (
            (pl.col("failed_days_recent").fill_null(0) >= DAYS_UNREACHABLE)
            & (pl.col("reached_recent").fill_null(0) == 0)
        )
    )
    return cases.with_columns(
        third_party_allowed=debtor_any(unreachable),
        attempts_allowed=pl.lit(DAILY_DIAL_ATTEMPTS, dtype=pl.Int32),
        connected_calls_allowed=pl.lit(DAILY_CONNECTED_CALLS, dtype=pl.Int32),
    )
