"""allocate: debtors to collectors under capacity, region and continuity, most value first.

The problem (README, "The allocation problem"): each debtor has an expected net value per
eligible channel; each active collector has a daily capacity in cases (a debtor takes its cases on
phone or visit, its letter cases on letter); visits stay within the collector's cities; inactive
collectors get nothing; a debtor worked earlier in the cycle by a collector who is in tonight
earns a continuity bonus (``policy.continuity_bonus``) with that collector, within
``policy.continuity_limit`` of the collector's capacity. Maximise the total value, with the
expected value each collector is given kept fair within its pool (``policy.fairness_max_spread``).

This module turns frames into the arrays of ``pipeline.optimise`` and back; the model and the
methods are described there. Up to ``policy.exact_max_cases`` cases the night is solved exactly
(the LP over all useful arcs, rounded) and the fast path runs too, so every such night measures
the fast path's gap; above it only the fast path runs (greedy by value, and greedy at the prices
of an LP over a fixed-size sample; the better of the two), O(n log n) in the arcs. Either way
the LP's dual bounds the published answer's gap, and ``Allocation.stats`` says which method ran,
the objective, the bound and every pool's fairness spread. Whatever does not fit is held as
"over capacity", never dropped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from pipeline.optimise import (
    LP_SAMPLE,
    LPFailed,
    LPResult,
    Placement,
    Problem,
    dual_bound,
    greedy,
    place_lp,
    pool_spreads,
    solve_lp,
    summary,
    zero_prices,
)
from pipeline.policy import CHANNELS, Policy

OVER_CAPACITY = "over capacity"

ASSIGNED_SCHEMA = {
    "debtor_key": pl.Utf8,
    "collector_id": pl.Utf8,
    "channel": pl.Utf8,
    "value": pl.Float64,
}


@dataclass(frozen=True)
class Allocation:
    assigned: pl.DataFrame  # debtor_key, collector_id, channel, value
    unassigned: pl.DataFrame  # debtor_key (eligible for some channel, no room tonight)
    stats: dict[str, Any] = field(default_factory=dict)  # method, objective, bound, fairness


@dataclass(frozen=True)
class _Night:
    """The problem's arrays with the keys needed to turn an answer back into frames."""

    problem: Problem
    debtor_keys: pl.Series  # in debtor index order
    collector_ids: pl.Series  # in collector index order
    markets: pl.DataFrame  # j, market, channel
    eligible: pl.DataFrame  # debtor_key of debtors with some allowed channel


def _collectors(roster: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Active collectors with capacity, sorted by id, each with its group's name."""
    visit = pl.col("channel") == "visit"
    cities = pl.col("cities").fill_null([]).list.drop_nulls().list.unique().list.sort()
    return (
        roster.filter(
            pl.col("active").fill_null(False)
            & (pl.col("daily_capacity").fill_null(0) > 0)
            & pl.col("channel").is_in(CHANNELS)
        )
        .unique("collector_id", keep="first", maintain_order=True)
        .sort("collector_id")
        .select(
            "collector_id",
            "channel",
            pl.when(visit)
            .then(cities)
            .otherwise(pl.lit([], dtype=pl.List(pl.Utf8)))
            .alias("cities"),
            pl.col("daily_capacity").cast(pl.Int64).alias("capacity"),
        )
        .with_columns(
            group=pl.when(visit)
            .then(pl.lit("visit:") + pl.col("cities").list.join("\x1f"))
            .otherwise(pl.col("channel")),
            # A hair above the product so that 0.5 x 8 is 4, not 3.9999.
            continuity_room=(pl.col("capacity") * policy.continuity_limit + 1e-9)
            .floor()
            .cast(pl.Int64),
        )
        .with_row_index("k")
        .with_columns(pl.col("k").cast(pl.Int64))
    )


def _links(staff: pl.DataFrame) -> pl.DataFrame:
    """Which group serves which market: phone and letter one each, a visit group each city."""
    market = (
        pl.when(pl.col("channel") == "visit")
        .then(pl.lit("visit:") + pl.col("cities"))
        .otherwise(pl.col("channel"))
    )
    return (
        staff.explode("cities", empty_as_null=True)
        .filter((pl.col("channel") != "visit") | pl.col("cities").is_not_null())
        .group_by("group", "channel", "cities")
        .agg(pl.col("capacity").max().alias("largest"))
        .select("group", "channel", "largest", market.alias("market"))
        .sort("market", "group")
    )


def _units(channel: str) -> pl.Expr:
    """Capacity a debtor takes on a channel; at least one unit, whatever the counts say."""
    units = pl.col("letter_cases") if channel == "letter" else pl.col("debtor_cases")
    return units.cast(pl.Int64).fill_null(1).clip(lower_bound=1)


def _allowed(channel: str) -> pl.Expr:
    value = pl.col(f"value_{channel}")
    return value.is_not_null() & value.is_finite()


def _market_of(channel: str) -> pl.Expr:
    """The debtor's market on a channel: its city's for a visit."""
    return pl.lit("visit:") + pl.col("debtor_city") if channel == "visit" else pl.lit(channel)


def _arcs(
    book: pl.DataFrame, staff: pl.DataFrame, markets: pl.DataFrame, policy: Policy
) -> pl.DataFrame:
    """Market arcs (any collector of the market) and continuity arcs (the previous collector,
    still in tonight, on a channel the debtor may get; for a visit, covering its city), each
    only where some collector could hold the debtor's units at all."""
    parts = []
    previous = book.join(
        staff.select(
            "collector_id", "k", pl.col("channel").alias("k_channel"), "k_cities", "continuity_room"
        ),
        left_on="previous_collector_id",
        right_on="collector_id",
    )
    for channel in CHANNELS:
        value = pl.col(f"value_{channel}")
        base = book.filter(_allowed(channel)).select(
            "i", market=_market_of(channel), size=_units(channel), value=value
        )
        parts.append(
            base.join(markets.select("market", "j", "largest"), on="market")
            .filter(pl.col("size") <= pl.col("largest"))
            .select(
                "i", "j", pl.lit(-1, dtype=pl.Int64).alias("k"), "size", "value", weight="value"
            )
        )
        mine = previous.filter((pl.col("k_channel") == channel) & _allowed(channel))
        if channel == "visit":
            mine = mine.filter(pl.col("k_cities").list.contains(pl.col("debtor_city")))
        parts.append(
            mine.select(
                "i",
                "k",
                "continuity_room",
                market=_market_of(channel),
                size=_units(channel),
                value=value,
                weight=value + value.abs() * policy.continuity_bonus,
            )
            .filter(pl.col("size") <= pl.col("continuity_room"))
            .join(markets.select("market", "j"), on="market")
            .select("i", "j", "k", "size", "value", "weight")
        )
    schema = pl.Schema(
        {
            "i": pl.Int64(),
            "j": pl.Int64(),
            "k": pl.Int64(),
            "size": pl.Int64(),
            "value": pl.Float64(),
            "weight": pl.Float64(),
        }
    )
    return pl.concat([part.cast(schema) for part in parts]).sort("i", "j", "k")


def _numbers(frame: pl.DataFrame, name: str) -> Any:
    # Read-only views where polars can give them: the problem's arrays are never written.
    return frame.get_column(name).to_numpy()


def _night(debtors: pl.DataFrame, roster: pl.DataFrame, policy: Policy) -> _Night:
    """Build the problem's arrays from the frames, in a deterministic order."""
    book = debtors.sort("debtor_key").with_row_index("i").with_columns(pl.col("i").cast(pl.Int64))
    staff = _collectors(roster, policy)
    groups = (
        staff.group_by("group")
        .agg(pl.col("capacity").sum().alias("group_capacity"))
        .sort("group")
        .with_row_index("g")
        .with_columns(pl.col("g").cast(pl.Int64))
    )
    staff = (
        staff.join(groups.select("group", "g"), on="group")
        .sort("k")
        .with_columns(k_cities=pl.col("cities"))
    )
    links = _links(staff).join(groups.select("group", "g"), on="group")
    markets = (
        links.group_by("market")
        .agg(pl.col("channel").first(), pl.col("largest").max())
        .sort("market")
        .with_row_index("j")
        .with_columns(pl.col("j").cast(pl.Int64))
    )
    links = links.join(markets.select("market", "j"), on="market").sort("j", "g")
    arcs = _arcs(book, staff, markets, policy)
    n = book.height
    continuity = arcs.with_row_index("a").filter(pl.col("k") >= 0)
    previous = np.full(n, -1, dtype=np.int64)
    continuity_arc = np.full(n, -1, dtype=np.int64)
    at = _numbers(continuity, "i")
    previous[at] = _numbers(continuity, "k")
    continuity_arc[at] = _numbers(continuity, "a").astype(np.int64)
    problem = Problem(
        capacity=_numbers(staff, "capacity"),
        continuity_room=_numbers(staff, "continuity_room"),
        collector_group=_numbers(staff, "g"),
        group_capacity=_numbers(groups, "group_capacity").astype(np.int64),
        link_market=_numbers(links, "j"),
        link_group=_numbers(links, "g"),
        n_markets=markets.height,
        n_debtors=n,
        debtor=_numbers(arcs, "i"),
        market=_numbers(arcs, "j"),
        collector=_numbers(arcs, "k"),
        size=_numbers(arcs, "size"),
        value=_numbers(arcs, "value"),
        weight=_numbers(arcs, "weight"),
        previous=previous,
        continuity_arc=continuity_arc,
    )
    eligible = book.filter(pl.any_horizontal(_allowed(c) for c in CHANNELS)).select("debtor_key")
    return _Night(
        problem=problem,
        debtor_keys=book.get_column("debtor_key"),
        collector_ids=staff.get_column("collector_id"),
        markets=markets.select("j", "market", "channel"),
        eligible=eligible,
    )


def _frames(night: _Night, placement: Placement) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The answer as frames: assigned debtors, and the eligible ones left over capacity."""
    p = night.problem
    placed = np.flatnonzero(placement.arc >= 0)
    arcs = placement.arc[placed]
    assigned = pl.DataFrame(
        {
            "debtor_key": night.debtor_keys.gather(placed),
            "collector_id": night.collector_ids.gather(placement.collector[placed]),
            "channel": night.markets.get_column("channel").gather(p.market[arcs]),
            "value": p.value[arcs],
        },
        schema=ASSIGNED_SCHEMA,
    )
    unassigned = night.eligible.join(assigned.select("debtor_key"), on="debtor_key", how="anti")
    return assigned, unassigned.sort("debtor_key")


def _money(x: float) -> float:
    return round(x, 2) if math.isfinite(x) else x


def _ratio(x: float) -> float:
    return round(x, 6) if math.isfinite(x) else x


def _pool_stats(night: _Night, placement: Placement, policy: Policy) -> list[dict[str, Any]]:
    """Per pool (market): its collectors, their capacity, the units and value it placed, and the
    fairness spread of value per unit of capacity among its collectors."""
    p = night.problem
    spreads, raw = pool_spreads(p, placement)
    placed = placement.arc >= 0
    arcs = placement.arc[placed]
    units = np.bincount(p.market[arcs], weights=p.size[arcs], minlength=p.n_markets)
    value = np.bincount(p.market[arcs], weights=p.value[arcs], minlength=p.n_markets)
    out = []
    for (j, name, channel), members in zip(night.markets.iter_rows(), p.members, strict=True):
        out.append(
            {
                "pool": name,
                "channel": channel,
                "collectors": len(members),
                "capacity": int(p.capacity[members].sum()),
                "used": int(units[j]),
                "value": _money(float(value[j])),
                "spread": _ratio(float(spreads[j])),
                "raw_spread": _ratio(float(raw[j])),
                "within_bound": bool(spreads[j] <= policy.fairness_max_spread + 1e-9),
            }
        )
    return out


def _gap(bound: float, objective: float) -> float:
    """How far below the upper bound the objective is, relative to the bound (0: optimal)."""
    if bound <= 0:
        return 0.0
    return max(0.0, (bound - objective) / bound)


def _better(first: Placement, second: Placement, p: Problem) -> Placement:
    """The one with the larger objective; ties (within float noise) go to the first."""
    a, b = first.objective(p), second.objective(p)
    return second if b > a + 1e-9 * max(1.0, abs(a)) else first


@dataclass(frozen=True)
class _Solved:
    chosen: Placement
    method: str
    plain: Placement  # greedy by value: the rule a person would follow
    fast: Placement  # the better of plain and greedy at LP prices
    rounded: Placement | None  # the LP's answer, on the exact path
    lp: LPResult | None  # None when the LP failed
    bound: float  # upper bound on every allocation's objective


def _solve(p: Problem, exact_path: bool, spread: float) -> _Solved:
    """Run the night's methods and keep the best answer (see the module docstring)."""
    plain = greedy(p, zero_prices(p), spread)
    try:
        # Above the limit the LP sees a fixed-size sample of the candidates: its prices steer
        # the greedy and its dual bound, evaluated over every arc, bounds the night.
        lp = solve_lp(p) if exact_path else solve_lp(p, sample=LP_SAMPLE)
    except LPFailed as exc:
        # Never a failed night for want of an LP: the greedy, with the bound at zero prices.
        bound = dual_bound(p, zero_prices(p))
        return _Solved(plain, f"greedy (LP failed: {exc})", plain, plain, None, None, bound)
    priced = greedy(p, lp.prices, spread)
    fast = _better(plain, priced, p)
    method = "greedy at LP prices" if fast is priced else "greedy"
    if not exact_path:
        return _Solved(fast, method, plain, fast, None, lp, lp.bound)
    rounded = place_lp(p, lp, spread)
    # Never publish less than the fast path found; ties go to the LP's answer.
    chosen = _better(rounded, fast, p)
    if chosen is rounded:
        method = "LP, rounded" + ("" if lp.converged else " (column generation cut short)")
    return _Solved(chosen, method, plain, fast, rounded, lp, lp.bound)


def _lp_stats(lp: LPResult | None, p: Problem) -> dict[str, Any] | None:
    if lp is None:
        return None
    return {
        "objective": _money(lp.objective),
        "converged": lp.converged,
        "rounds": lp.rounds,
        "sampled_share": _ratio(lp.share),
        "columns": len(lp.arcs),
        "arcs": len(p.debtor),
        "seconds": round(lp.seconds, 3),
    }


def allocate(debtors: pl.DataFrame, roster: pl.DataFrame, policy: Policy) -> Allocation:
    """Assign each debtor to at most one collector; see the module docstring."""
    started = time.perf_counter()
    night = _night(debtors, roster, policy)
    p = night.problem
    cases = int(debtors.get_column("debtor_cases").cast(pl.Int64).sum() or 0)
    exact_path = cases <= policy.exact_max_cases
    solved = _solve(p, exact_path, policy.fairness_max_spread)
    assigned, unassigned = _frames(night, solved.chosen)
    totals = summary(p, solved.chosen)
    pools = _pool_stats(night, solved.chosen, policy)
    stats: dict[str, Any] = {
        "path": "exact" if exact_path else "fast",
        "method": solved.method,
        "cases": cases,
        "debtors": p.n_debtors,
        "collectors": p.n_collectors,
        "eligible": night.eligible.height,
        "assigned": assigned.height,
        "over_capacity": unassigned.height,
        "objective": _money(totals["objective"]),
        "value": _money(totals["value"]),
        "continuity_kept": totals["kept"],
        "idle_fill": totals["filled"],
        "upper_bound": _money(solved.bound),
        "gap_bound": _ratio(_gap(solved.bound, totals["objective"])),
        "greedy_objective": _money(solved.plain.objective(p)),
        "fast_objective": _money(solved.fast.objective(p)),
        "rounded_objective": None
        if solved.rounded is None
        else _money(solved.rounded.objective(p)),
        "lp": _lp_stats(solved.lp, p),
        "exact_max_cases": policy.exact_max_cases,
        "fairness_bound": policy.fairness_max_spread,
        "fairness_max_spread": max((pool["spread"] for pool in pools), default=0.0),
        "pools": pools,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Allocation(assigned=assigned, unassigned=unassigned, stats=stats)
