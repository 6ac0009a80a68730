"""scorecards: each collector's results over the current cycle (DOMAIN.md R25).

Collectors are judged not only by the amount recovered but by their work and its quality:
cases allocated and worked, attempts, right-party contacts, promises made, due and kept, amount
recovered and complaints, over the cycle (``policy.cycle_days``, R1) that ends on the night.
The figures come from the warehouse (``sql/scorecards.sql``): the collection notes, the payments
and the allocations of the cycle, tonight's included.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl

from pipeline import warehouse

SCORECARD_SCHEMA: dict[str, Any] = {
    "collector_id": pl.Utf8,
    "collector_name": pl.Utf8,
    "team": pl.Utf8,
    "channel": pl.Utf8,
    "cycle_start": pl.Date,
    "cycle_end": pl.Date,
    "cases_allocated": pl.Int64,
    "cases_worked": pl.Int64,
    "attempts": pl.Int64,
    "right_party_contacts": pl.Int64,
    "promises": pl.Int64,
    "promises_due": pl.Int64,
    "promises_kept": pl.Int64,
    "kept_rate": pl.Float64,
    "amount_recovered": pl.Float64,
    "complaints": pl.Int64,
}
_COUNTS = (
    "cases_allocated",
    "cases_worked",
    "attempts",
    "right_party_contacts",
    "promises",
    "promises_due",
    "promises_kept",
    "complaints",
)


def cycle_start(business_date: date, cycle_days: int) -> date:
    """The first day of the cycle of ``cycle_days`` that ends on ``business_date``."""
    return business_date - timedelta(days=cycle_days - 1)


def scorecards(
    con: duckdb.DuckDBPyConnection,
    tonight: pl.DataFrame,
    roster: pl.DataFrame,
    business_date: date,
    cycle_days: int,
) -> pl.DataFrame:
    """One row per collector in the roster or with work in the cycle (``SCORECARD_SCHEMA``).

    ``tonight`` holds tonight's allocation (client_id, case_id, collector_id); ``roster`` is
    the night's roster (names, teams, channels). Best recovery first, then by id.
    """
    start = cycle_start(business_date, cycle_days)
    allocation = tonight.select(
        pl.col("client_id").cast(pl.Utf8),
        pl.col("case_id").cast(pl.Utf8),
        pl.col("collector_id").cast(pl.Utf8),
    )
    con.register("night_allocation", allocation.to_arrow())
    try:
        figures = warehouse.query(
            con, "scorecards", {"business_date": business_date, "cycle_start": start}
        )
    finally:
        con.unregister("night_allocation")
    people = roster.select(
        "collector_id",
        pl.col("name").alias("collector_name"),
        "team",
        "channel",
        pl.col("active"),
    )
    joined = people.join(figures, on="collector_id", how="full", coalesce=True)
    # Everyone in tonight (or with figures in the cycle); someone on leave with nothing, not.
    has_figures = pl.any_horizontal(pl.col(c).fill_null(0) > 0 for c in _COUNTS) | (
        pl.col("amount_recovered").cast(pl.Float64).fill_null(0.0) > 0
    )
    return (
        joined.filter(pl.col("active").fill_null(False) | has_figures)
        .with_columns(
            *(pl.col(c).fill_null(0).cast(pl.Int64) for c in _COUNTS),
            pl.col("amount_recovered").cast(pl.Float64).fill_null(0.0).round(2),
            pl.lit(start).alias("cycle_start"),
            pl.lit(business_date).alias("cycle_end"),
        )
        .with_columns(
            kept_rate=pl.when(pl.col("promises_due") > 0)
            .then(pl.col("promises_kept") / pl.col("promises_due"))
            .otherwise(None)
        )
        .select(pl.col(n).cast(t) for n, t in SCORECARD_SCHEMA.items())
        .sort(["amount_recovered", "collector_id"], descending=[True, False])
    )
