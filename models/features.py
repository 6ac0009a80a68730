"""The model's inputs: point-in-time features of a case on a night, and the label it learns.

``sql/features.sql`` computes, for every case snapshot of a range of nights, what the warehouse
knew at the end of that night and nothing later; ``sql/labels.sql`` says whether the debtor then
paid within the horizon. This module runs them and turns the features into the numeric matrix the
estimators take, in the one fixed column order that ``FEATURES`` defines (saved with each model).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline import warehouse

Matrix = npt.NDArray[np.float64]

# CONTRACT.md's products; one 0/1 column each, so both learners read the same matrix
PRODUCTS = ("credit_card", "consumer_loan", "cash_loan", "auto_loan", "mortgage", "other")

# "Days since" an event that never happened, or happened longer ago than this, reads as this:
# a year is longer than any collection cycle, and a bounded value keeps the linear baseline and
# the standardised reason codes sane.
DAYS_CAP = 365

# Label defaults (the issue): a payment of at least min(100 yuan, balance) within 30 days.
HORIZON_DAYS = 30
MIN_PAYMENT = 100.0


@dataclass(frozen=True)
class Feature:
    """One model input. ``monotonic`` is +1 where the business is sure that more of it never
    lowers the chance of payment, -1 where it never raises it, 0 where the learner decides."""

    name: str
    monotonic: int = 0
    days_since: bool = False  # null (never) and values above DAYS_CAP read as DAYS_CAP


FEATURES: tuple[Feature, ...] = (
    # the case at night t
    Feature("balance"),
    Feature("principal"),
    Feature("days_overdue", monotonic=-1),
    Feature("days_since_handover"),
    Feature("days_to_return"),
    # payments up to t
    Feature("payments_count", monotonic=+1),
    Feature("days_since_last_payment", monotonic=-1, days_since=True),
    Feature("paid_30d", monotonic=+1),
    Feature("paid_90d", monotonic=+1),
    Feature("share_repaid"),
    # collection notes up to t
    Feature("attempts"),
    Feature("attempts_30d"),
    Feature("right_party_contacts", monotonic=+1),
    Feature("right_party_rate", monotonic=+1),
    Feature("days_since_right_party", monotonic=-1, days_since=True),
    Feature("days_since_contact", days_since=True),
    Feature("refusals"),
    Feature("wrong_numbers", monotonic=-1),
    Feature("complaints"),
    Feature("promises_made"),
    Feature("promises_kept", monotonic=+1),
    Feature("promises_broken"),
    Feature("promises_open", monotonic=+1),
    # the debtor's other cases with the same client, the same night
    Feature("debtor_open_cases"),
    Feature("debtor_total_balance"),
    # the product, one indicator each
    *(Feature(f"product_{p}") for p in PRODUCTS),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
KEYS = ("business_date", "client_id", "case_id")


def monotonic_constraints() -> list[int]:
    """The per-feature constraints in matrix order, as HistGradientBoosting takes them."""
    return [f.monotonic for f in FEATURES]


def feature_frame(con: duckdb.DuckDBPyConnection, date_from: date, date_to: date) -> pl.DataFrame:
    """Point-in-time features of every case snapshot of the nights date_from..date_to."""
    frame = warehouse.query(con, "features", {"date_from": date_from, "date_to": date_to})
    return frame.sort(list(KEYS))  # a fixed row order: the same warehouse gives the same model


def label_frame(
    con: duckdb.DuckDBPyConnection,
    date_from: date,
    date_to: date,
    known_by: date,
    horizon_days: int = HORIZON_DAYS,
    min_payment: float = MIN_PAYMENT,
) -> pl.DataFrame:
    """``repaid`` (0/1) of every case active on a night date_from..date_to (see labels.sql)."""
    params = {
        "date_from": date_from,
        "date_to": date_to,
        "known_by": known_by,
        "horizon_days": horizon_days,
        "min_payment": min_payment,
    }
    return warehouse.query(con, "labels", params).sort(list(KEYS))


def _column(feature: Feature) -> pl.Expr:
    if feature.name.startswith("product_"):
        product = feature.name.removeprefix("product_")
        return (pl.col("product") == product).cast(pl.Float64).alias(feature.name)
    column = pl.col(feature.name).cast(pl.Float64)
    if feature.days_since:
        column = column.fill_null(DAYS_CAP).clip(upper_bound=DAYS_CAP)
    return column.fill_null(0.0).alias(feature.name)


def matrix(frame: pl.DataFrame) -> Matrix:
    """The rows of ``frame`` as a float matrix in ``FEATURE_NAMES`` order (no missing values)."""
    selected = frame.select(_column(f) for f in FEATURES)
    return selected.to_numpy().astype(np.float64, copy=False)
