"""The model's inputs: point-in-time features of a case on a night, and the label it learns.

``sql/features.sql`` computes, for every case snapshot of a range of nights, what the warehouse
knew at the end of that night and nothing later; ``sql/labels.sql`` says whether the debtor then
paid within the horizon. This module runs them and prepares the model's columns (``prepare``):
the numeric features of ``NUMERIC_FEATURES`` (days-since capped, so "never" reads as a long time)
and the product as a categorical one; ``models.learner`` does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from pipeline import warehouse
from pipeline.load import contact_stats_current, night_book, night_part
from pipeline.parts import WHOLE, Part

# CONTRACT.md's products (the model learns its own list from the training rows)
PRODUCTS = ("credit_card", "consumer_loan", "cash_loan", "auto_loan", "mortgage", "other")

# "Days since" an event that never happened, or happened longer ago than this, reads as this:
# a year is longer than any collection cycle, and a bounded value keeps the linear baseline
# sane and lets the reasons say "no payment in the past year".
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


NUMERIC_FEATURES: tuple[Feature, ...] = (
    # the case at night t
    Feature("balance"),
    Feature("principal"),
    Feature("days_overdue", monotonic=-1),
    Feature("overdue_stage", monotonic=-1),  # 0..7 for M0..M7+, as banks group days overdue
    Feature("days_since_handover"),  # the age of the case in its hand-over cycle
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
)
NUMERIC: tuple[str, ...] = tuple(f.name for f in NUMERIC_FEATURES)
CATEGORICAL: tuple[str, ...] = ("product",)
FEATURE_NAMES: tuple[str, ...] = NUMERIC + CATEGORICAL
MONOTONIC: dict[str, int] = {f.name: f.monotonic for f in NUMERIC_FEATURES if f.monotonic}
# the columns whose values the card reports ROC AUC for (``stage`` is overdue_stage as text)
SEGMENTS = ("product", "stage")
KEYS = ("business_date", "client_id", "case_id")


def feature_frame(
    con: duckdb.DuckDBPyConnection, date_from: date, date_to: date, part: Part = WHOLE
) -> pl.DataFrame:
    """Point-in-time features of every case snapshot of the nights date_from..date_to (of one
    ``part`` of the debtors: ``pipeline.parts``)."""
    params = {"date_from": date_from, "date_to": date_to, **part.params()}
    frame = warehouse.query(con, "features", params)
    return frame.sort(list(KEYS))  # a fixed row order: the same warehouse gives the same model


def night_features(
    con: duckdb.DuckDBPyConnection, business_date: date, part: Part = WHOLE
) -> pl.DataFrame:
    """``feature_frame`` of one night (or of one ``part`` of it), as scoring needs it: from the
    contact stats the load keeps (``pipeline.load.night_part``, no rescan of every note) when
    they are current for the night, else from the whole history. The same rows either way
    (tests/test_contact_stats.py).
    """
    if not contact_stats_current(con, business_date):
        return feature_frame(con, business_date, business_date, part)
    return night_part(con, business_date, part)[1]


def night_inputs(
    con: duckdb.DuckDBPyConnection, business_date: date, part: Part = WHOLE
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The night's book (``pipeline.load.night_book``) and its features (``night_features``)
    of one ``part``: from one query on the contact stats when they are current for the night
    (``pipeline.load.night_part``: the two read the same notes, stats and payments), else each
    from the whole history."""
    if contact_stats_current(con, business_date):
        return night_part(con, business_date, part)
    return night_book(con, business_date, part), feature_frame(
        con, business_date, business_date, part
    )


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


def stage_label(stage: pl.Expr) -> pl.Expr:
    """0..7 as M0..M7+ (the names of pipeline.strategy.overdue_stage)."""
    return (
        pl.when(stage >= 7)
        .then(pl.lit("M7+"))
        .otherwise(pl.concat_str(pl.lit("M"), stage.cast(pl.Int64).cast(pl.Utf8)))
    )


def _numeric(feature: Feature) -> pl.Expr:
    column = pl.col(feature.name).cast(pl.Float64)
    if feature.days_since:
        column = column.fill_null(DAYS_CAP).clip(upper_bound=DAYS_CAP)
    return column.fill_null(0.0).alias(feature.name)


def prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """The model's columns from ``feature_frame``'s (keys and other columns kept): numeric
    features as floats without missing values, the product as text, and ``stage`` (M0..M7+)."""
    return frame.with_columns(
        *(_numeric(f) for f in NUMERIC_FEATURES),
        pl.col("product").cast(pl.Utf8),
        stage_label(pl.col("overdue_stage").fill_null(0)).alias("stage"),
    )
