"""allocate: debtors to collectors under capacity, region and continuity, most value first.

The problem: each debtor has an expected net value per eligible channel; each active collector has
a daily capacity (in cases); visits stay within the collector's cities; a debtor worked by an
active collector earlier in the cycle earns a continuity bonus with that collector. Maximise the
total value.

This first version is a greedy pass over (debtor, channel) pairs in decreasing value: a debtor
takes its best channel whose pool still has room, with its previous collector when that one has
room, else with the collector who has the most room left (which spreads work evenly). Whatever
does not fit is held as "over capacity", never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import polars as pl

from pipeline.policy import CHANNELS, Policy

OVER_CAPACITY = "over capacity"


@dataclass(frozen=True)
class Allocation:
    assigned: pl.DataFrame  # debtor_key, collector_id, channel, value
    unassigned: pl.DataFrame  # debtor_key (eligible for some channel, no room tonight)


def _pools(roster: pl.DataFrame) -> tuple[dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """Active phone/letter collectors by channel, and visit collectors by city."""
    active = roster.filter(pl.col("active")).sort("collector_id")
    by_channel: dict[str, list[str]] = defaultdict(list)
    by_city: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cid, channel, cities in active.select("collector_id", "channel", "cities").iter_rows():
        by_channel[channel].append(cid)
        if channel == "visit":
            for city in cities or []:
                by_city[("visit", city)].append(cid)
    return dict(by_channel), dict(by_city)


def _candidates(debtors: pl.DataFrame, roster: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """One row per (debtor, eligible channel) with its value, continuity bonus included."""
    channel_of = roster.select("collector_id", pl.col("channel").alias("_prev_channel"))
    rows = []
    for channel in CHANNELS:
        units = pl.col("letter_cases") if channel == "letter" else pl.col("debtor_cases")
        rows.append(
            debtors.filter(pl.col(f"value_{channel}").is_not_null()).select(
                "debtor_key",
                "debtor_city",
                "previous_collector_id",
                pl.lit(channel).alias("channel"),
                pl.col(f"value_{channel}").alias("value"),
                units.cast(pl.Int64).alias("units"),
            )
        )
    pairs = pl.concat(rows).join(
        channel_of, left_on="previous_collector_id", right_on="collector_id", how="left"
    )
    keeps = pl.col("_prev_channel") == pl.col("channel")
    bonus = pl.when(keeps).then(pl.col("value").abs() * policy.continuity_bonus).otherwise(0.0)
    # Deterministic order: value, then the debtor key, so the same night gives the same result.
    return (
        pairs.with_columns(priority=pl.col("value") + bonus)
        .sort(["priority", "debtor_key", "channel"], descending=[True, False, False])
        .drop("_prev_channel")
    )


def allocate(debtors: pl.DataFrame, roster: pl.DataFrame, policy: Policy) -> Allocation:
    """Assign each debtor to at most one collector; see the module docstring."""
    by_channel, by_city = _pools(roster)
    room = dict(
        roster.filter(pl.col("active")).select("collector_id", "daily_capacity").iter_rows()
    )
    pairs = _candidates(debtors, roster, policy)
    taken: dict[str, tuple[str, str, float]] = {}
    for key, city, previous, channel, value, units, _ in pairs.iter_rows():
        if key in taken:
            continue
        pool = (
            by_city.get(("visit", city), []) if channel == "visit" else by_channel.get(channel, [])
        )
        if previous in pool and room[previous] >= units:
            chosen: str | None = previous
        else:
            chosen = max(pool, key=lambda c: room[c], default=None)
            if chosen is not None and room[chosen] < units:
                chosen = None
        if chosen is None:
            continue
        room[chosen] -= units
        taken[key] = (chosen, channel, value)
    assigned = pl.DataFrame(
        {
            "debtor_key": list(taken),
            "collector_id": [t[0] for t in taken.values()],
            "channel": [t[1] for t in taken.values()],
            "value": [t[2] for t in taken.values()],
        },
        schema={
            "debtor_key": pl.Utf8,
            "collector_id": pl.Utf8,
            "channel": pl.Utf8,
            "value": pl.Float64,
        },
    )
    unassigned = (
        pairs.select("debtor_key").unique().filter(~pl.col("debtor_key").is_in(list(taken)))
    )
    return Allocation(assigned=assigned, unassigned=unassigned.sort("debtor_key"))
