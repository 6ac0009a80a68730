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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from pipeline.optimise import (
    LP_SAMPLE,
    Bools,
    Floats,
    Ints,
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
# The fast path's shortlist (see ``_shortlist``): per market, the densest debtors up to this many
# times its capacity in units; nights with fewer debtors than the floor are solved whole.
SHORTLIST_FACTOR = 4.0
SHORTLIST_FLOOR = 50_000
SHORTLIST_ROUNDS = 4  # widenings while a market keeps room that a left-out debtor could use

# What the allocation reads of a debtor. The night's debtors carry more (the review's and the
# strategy's columns), and a filter or join of the whole frame would copy those too: at 10M
# cases such copies of 7.5M debtors added 4 GB to the allocation's peak.
BOOK_COLUMNS = (
    "debtor_key",
    "debtor_cases",
    "letter_cases",
    "debtor_city",
    "previous_collector_id",
    *(f"value_{channel}" for channel in CHANNELS),
)

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


@dataclass(frozen=True)
class _Crew:
    """Tonight's collectors as the problem sees them; the same whatever the debtors."""

    staff: pl.DataFrame  # per collector (index k): id, channel, cities, capacity, group g
    groups: pl.DataFrame  # g, group, group_capacity
    links: pl.DataFrame  # which group g serves which market j
    markets: pl.DataFrame  # j, market, channel, largest, capacity (units that may serve it)


def _crew(roster: pl.DataFrame, policy: Policy) -> _Crew:
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
    served = links.join(groups.select("g", "group_capacity"), on="g")
    markets = (
        served.group_by("market")
        .agg(
            pl.col("channel").first(),
            pl.col("largest").max(),
            pl.col("group_capacity").sum().alias("capacity"),
        )
        .sort("market")
        .with_row_index("j")
        .with_columns(pl.col("j").cast(pl.Int64))
    )
    links = links.join(markets.select("market", "j"), on="market").sort("j", "g")
    return _Crew(staff=staff, groups=groups, links=links, markets=markets)


def _night(book: pl.DataFrame, crew: _Crew, policy: Policy) -> _Night:
    """Build the problem's arrays from the frames (``book`` sorted by debtor_key)."""
    book = book.with_row_index("i").with_columns(pl.col("i").cast(pl.Int64))
    staff, groups, links, markets = crew.staff, crew.groups, crew.links, crew.markets
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
    return _Night(
        problem=problem,
        debtor_keys=book.get_column("debtor_key"),
        collector_ids=staff.get_column("collector_id"),
        markets=markets.select("j", "market", "channel"),
    )


def eligible_debtors(book: pl.DataFrame) -> pl.DataFrame:
    """The debtor_key of each debtor some channel allows."""
    allowed = pl.any_horizontal(_allowed(c) for c in CHANNELS)
    # lazy: only the key and the values are read, not every column of ``book`` filtered
    return book.lazy().filter(allowed).select("debtor_key").collect()


# --- the fast path's shortlist ------------------------------------------------------------
#
# On a big night the pools are full long before the book is: 10M cases meet about 100k units
# of capacity. Arcs for every debtor (25M at 10M cases) cost more than solving. So the fast path
# solves over a shortlist: per market the densest debtors (value per unit) up to
# SHORTLIST_FACTOR times its capacity, and per collector the densest of its continuity debtors
# up to the same multiple of its continuity room. A debtor left out is over capacity unless a
# market ends the night with room it could use: then the shortlist widens by the densest such
# debtors and the night is solved again (the last widening takes every one), so "over capacity"
# keeps its meaning. The dual bound still covers the whole book: a left-out debtor adds
# max(0, value + continuity bonus - pi_j x units) over its channels, which is at least its best
# arc's reduced weight (a continuity arc pays its group's price, never below pi_j).


def _channel_rows(book: pl.DataFrame | pl.LazyFrame, channel: str, *keep: str) -> pl.DataFrame:
    """Per debtor allowed on ``channel``: its market, units and value per unit (and ``keep``).
    Lazy, so that only those columns of ``book`` are filtered (or joined, see ``_shortlist``)."""
    size = _units(channel)
    density = pl.col(f"value_{channel}") / size
    rows = book.lazy().filter(_allowed(channel))
    market = _market_of(channel)
    return rows.select("_b", *keep, market=market, size=size, density=density).collect()


def _densest_per(rows: pl.DataFrame, over: str, limit: pl.Expr) -> pl.Series:
    """Book rows (``_b``) of the densest rows of each ``over`` group: those at or above the
    group's ``limit``-th highest density (ties at the threshold all stay, so the set is defined
    by the data alone). Units are at least one, so that covers ``limit`` units. O(rows)."""
    k = limit.ceil().clip(lower_bound=1).cast(pl.Int64).first()
    thresholds = rows.group_by(over).agg(threshold=pl.col("density").top_k(k).min())
    return (
        rows.join(thresholds, on=over)
        .filter(pl.col("density") >= pl.col("threshold"))
        .get_column("_b")
    )


def _shortlist(book: pl.DataFrame, crew: _Crew, factor: float) -> Bools:
    """Per book row (``_b``): whether the debtor is worth solving over (see above)."""
    capacity = crew.markets.select("market", "capacity")
    parts = [
        _densest_per(
            _channel_rows(book, channel).join(capacity, on="market"),
            "market",
            pl.col("capacity") * factor,
        )
        for channel in CHANNELS
    ]
    staff = crew.staff.select(
        "collector_id", pl.col("channel").alias("k_channel"), "continuity_room"
    )
    carried = book.lazy().join(
        staff.lazy(), left_on="previous_collector_id", right_on="collector_id"
    )
    for channel in CHANNELS:
        mine = _channel_rows(
            carried.filter(pl.col("k_channel") == channel),
            channel,
            "previous_collector_id",
            "continuity_room",
        )
        parts.append(
            _densest_per(mine, "previous_collector_id", pl.col("continuity_room") * factor)
        )
    keep = np.zeros(book.height, dtype=np.bool_)
    for part in parts:
        keep[part.to_numpy()] = True
    return keep


def _room_takers(rest: pl.LazyFrame, crew: _Crew, room: Ints) -> pl.DataFrame:
    """Left-out debtors that the room a market has left tonight could take: book row (``_b``),
    market, density and the market's room."""
    markets = (
        crew.markets.select("market", "channel")
        .with_columns(room=pl.Series(room.astype(np.int64)))
        .filter(pl.col("room") > 0)
    )
    open_channels = set(markets.get_column("channel").to_list())
    parts = [
        _channel_rows(rest, channel)
        .join(markets.select("market", "room"), on="market")
        .filter(pl.col("size") <= pl.col("room"))
        .select("_b", "market", "density", "room")
        for channel in CHANNELS
        if channel in open_channels
    ]
    schema = {"_b": pl.UInt32, "market": pl.Utf8, "density": pl.Float64, "room": pl.Int64}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _market_room(p: Problem, placement: Placement) -> Ints:
    """Per market, the most units any of its collectors has left."""
    out = np.zeros(p.n_markets, dtype=np.int64)
    for j, ks in enumerate(p.members):
        if ks:
            out[j] = int(placement.room[ks].max())
    return out


def _left_out_bound(rest: pl.LazyFrame, crew: _Crew, pi: Floats, policy: Policy) -> float:
    """What the left-out debtors can add to any allocation at market prices ``pi`` (>= 0)."""
    price = dict(
        zip(crew.markets.get_column("market").to_list(), np.maximum(pi, 0.0).tolist(), strict=True)
    )
    visit = {m.removeprefix("visit:"): v for m, v in price.items() if m.startswith("visit:")}
    market_price = {
        "phone": pl.lit(price.get("phone"), dtype=pl.Float64),
        "letter": pl.lit(price.get("letter"), dtype=pl.Float64),
        # a city no visit collector covers has no visit arc: null drops the term
        "visit": pl.col("debtor_city").replace_strict(visit, default=None, return_dtype=pl.Float64),
    }
    terms = []
    for channel in CHANNELS:
        value = pl.col(f"value_{channel}")
        bonus = pl.when(pl.col("previous_collector_id").is_not_null()).then(
            value.abs() * policy.continuity_bonus
        )
        terms.append(value + bonus.fill_null(0.0) - market_price[channel] * _units(channel))
    best = rest.select(pl.max_horizontal(terms).clip(lower_bound=0.0).sum()).collect().item()
    return float(best or 0.0)


@dataclass(frozen=True)
class _Shortlisted:
    night: _Night
    solved: _Solved
    debtors: int  # on the shortlist at the end
    widenings: int


def _solve_shortlisted(book: pl.DataFrame, crew: _Crew, policy: Policy) -> _Shortlisted:
    """The fast path over a shortlist, widened while room is left that a left-out debtor fits."""
    book = book.with_row_index("_b")
    kept = _shortlist(book, crew, SHORTLIST_FACTOR)
    widenings = 0
    while True:
        night = _night(book.filter(pl.Series(kept)), crew, policy)
        solved = _solve(night.problem, False, policy.fairness_max_spread)
        rest = book.lazy().filter(pl.lit(pl.Series(~kept)))  # never held: nearly the whole book
        room = _market_room(night.problem, solved.chosen)
        takers = _room_takers(rest, crew, room)
        if takers.is_empty():
            break
        if widenings < SHORTLIST_ROUNDS:  # the densest for the room; at the last, every one
            kept[_densest_per(takers, "market", pl.col("room") * SHORTLIST_FACTOR).to_numpy()] = (
                True
            )
        else:
            kept[takers.get_column("_b").to_numpy()] = True
        widenings += 1
    prices = solved.lp.prices if solved.lp is not None else zero_prices(night.problem)
    extra = _left_out_bound(rest, crew, prices.market(night.problem), policy)
    solved = replace(solved, bound=solved.bound + extra)
    return _Shortlisted(night, solved, int(kept.sum()), widenings)


def _frames(
    night: _Night, placement: Placement, eligible: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    return assigned, over_capacity(eligible, assigned).sort("debtor_key")


def over_capacity(eligible: pl.DataFrame, assigned: pl.DataFrame) -> pl.DataFrame:
    """The debtors of ``eligible`` (``eligible_debtors`` of a night's or a part's debtors) that
    the allocation did not assign (``assigned``): left over capacity (``Allocation.unassigned``
    is the night's)."""
    return eligible.join(assigned.select("debtor_key"), on="debtor_key", how="anti")


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
    book = debtors.select(BOOK_COLUMNS).sort("debtor_key")
    crew = _crew(roster, policy)
    eligible = eligible_debtors(book)
    cases = int(debtors.get_column("debtor_cases").cast(pl.Int64).sum() or 0)
    exact_path = cases <= policy.exact_max_cases
    shortlist: dict[str, Any] | None = None
    if exact_path or book.height <= SHORTLIST_FLOOR:
        night = _night(book, crew, policy)
        solved = _solve(night.problem, exact_path, policy.fairness_max_spread)
    else:
        fast = _solve_shortlisted(book, crew, policy)
        night, solved = fast.night, fast.solved
        shortlist = {"debtors": fast.debtors, "widenings": fast.widenings}
    p = night.problem
    assigned, unassigned = _frames(night, solved.chosen, eligible)
    totals = summary(p, solved.chosen)
    pools = _pool_stats(night, solved.chosen, policy)
    stats: dict[str, Any] = {
        "path": "exact" if exact_path else "fast",
        "method": solved.method,
        "cases": cases,
        "debtors": book.height,
        "collectors": p.n_collectors,
        "eligible": eligible.height,
        "shortlist": shortlist,
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
