"""cn-2026: the China Banking Association's 2026 guideline on collecting personal consumer loans
and the internet-finance collection standard.

- no contact 22:00-08:00: phone rows carry the call window (``CALL_WINDOW``);
- at most 6 dial attempts a day to a number that does not answer (``attempts_allowed``);
- at most 3 connected calls a day per debtor, across all cases and collectors
  (``connected_calls_allowed``; a debtor's cases go to one collector);
- third-party contact only once the debtor is unreachable: no valid number (the decks' R20), or,
  over the last 3 days up to the business date (``DAYS_UNREACHABLE``) with no right-party
  contact in them, 3 failed call attempts (consecutive, then) or failed calls on each of the 3
  days (``failed_attempts_recent``, ``failed_days_recent``, ``reached_recent``:
  sql/contact_recency.sql). Both are counted in that recent window only: counted over the whole
  history (3 failures in a row weeks ago, failed-call days since the debtor was last reached
  months ago) they put trace on half the samples' rows (1,114 of 2,320), against 47 cases now.
- a cooling-off hold of ``policy.cooling_off_days`` days after a complaint, all the debtor's cases
  (a complaint noted on any of the debtor's cases, even one no longer in tonight's book:
  ``debtor_complaint_on``, sql/debtor_history.sql).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from pipeline.policy import Policy
from pipeline.rules.base import debtor_any, with_reasons

CALL_WINDOW = "08:00-22:00"
DAILY_DIAL_ATTEMPTS = 6
DAILY_CONNECTED_CALLS = 3
FAILED_IN_A_ROW = 3
DAYS_UNREACHABLE = 3
COOLING_OFF = "cn-2026: cooling-off after a complaint"


def apply(cases: pl.DataFrame, policy: Policy, business_date: date) -> pl.DataFrame:
    """Hold reasons and phone limits of cn-2026; see the module docstring. One pass: each
    expression reads the columns as the decks' rules left them."""
    # the work day is business_date + 1; a complaint on day X bars days X+1 .. X+cooling_off_days
    cooling_since = business_date + timedelta(days=1 - policy.cooling_off_days)
    cooling = debtor_any(
        (pl.col("last_complaint_on") >= pl.lit(cooling_since))
        | (pl.col("debtor_complaint_on") >= pl.lit(cooling_since))
    )
    failing = (pl.col("failed_attempts_recent").fill_null(0) >= FAILED_IN_A_ROW) | (
        pl.col("failed_days_recent").fill_null(0) >= DAYS_UNREACHABLE
    )
    # reached on any of the debtor's cases in the window: the debtor is reachable
    reached = debtor_any(pl.col("reached_recent").fill_null(0) > 0)
    unreachable = pl.col("third_party_allowed") | (debtor_any(failing) & ~reached)
    return with_reasons(
        cases,
        "hold_reason",
        [(cooling, COOLING_OFF)],
        third_party_allowed=unreachable,
        attempts_allowed=pl.lit(DAILY_DIAL_ATTEMPTS, dtype=pl.Int32),
        connected_calls_allowed=pl.lit(DAILY_CONNECTED_CALLS, dtype=pl.Int32),
    )
