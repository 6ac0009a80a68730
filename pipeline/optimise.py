"""optimise: the allocation problem as arrays, and the methods that solve it.

The model (README, "The allocation problem"). A debtor takes one channel and one collector, or
nothing. Collectors are aggregated into **groups** of interchangeable ones: all phone collectors,
all letter collectors, and the visit collectors with the same set of cities. Debtors ask for
work in **markets**: phone, letter and one visit market per city. A **link** says a group may
serve a market (a visit group serves each of its cities). An **arc** is one way to work a debtor:

- a market arc (debtor i, market j): any collector of a group linked to j; weight = the channel's
  expected net value;
- a continuity arc (debtor i, collector k): the collector who worked i earlier in the cycle, if
  still active and on a channel i may get (a visit: in i's city); weight = value + bonus. It uses
  k's capacity, and at most ``continuity_room[k]`` units of k go to such arcs.

A debtor of ``s`` cases takes ``s`` units (letters: its letter cases). Maximise the total weight.
As a linear program, with x_a in [0, 1] per arc and a flow f_jg >= 0 per link:

    max  sum_a w_a x_a
    s.t. sum_{a of i} x_a <= 1                                      each debtor        (u_i)
         sum_{market arcs a in j} s_a x_a - sum_g f_jg <= 0          each market        (pi_j)
         sum_j f_jg + sum_{continuity arcs a into g} s_a x_a <= cap_g  each group       (lam_g)
         sum_{continuity arcs a to k} s_a x_a <= continuity_room_k     each collector   (mu_k)

Why this shape: arcs per (debtor, collector) would be billions on a big night; per (debtor,
group) they multiply with every city combination the visit roster has; per (debtor, market) they
are at most one per channel, plus continuity. With one-case debtors the matrix is a network
matrix (debtor -> market -> group -> sink), so the LP optimum is integral; with several-case
debtors it is a multiple-choice knapsack whose LP optimum has few fractional arcs, at most one
per binding capacity row (4 of 99,536 on a synthetic 50k-case night). On that night HiGHS's MIP
(scipy.optimize.milp) found no integer solution within a 200 s limit, while the LP takes a few
seconds. So: the LP, rounded, with whatever the rounding leaves re-offered to the room left, and
the gap to the LP bound measured and reported every night (0.03% on that night).

Methods, all deterministic (sorted inputs, dual simplex, ties broken by debtor index, which is
debtor_key order; the fast path's sample is drawn with a fixed seed):

- ``solve_lp``: the LP over a candidate set of arcs (the best ones per market, about twice its
  capacity), then column generation: arcs outside with positive reduced weight are added until
  none is left (the LP is then exact for the whole night), the bound proves it close enough, or
  the rounds run out. On the fast path it runs once over a fixed-size sample of the candidates,
  capacities scaled to match, for prices only: its cost then does not grow with the night.
- ``dual_bound``: for any prices lam, mu >= 0, sum_g lam_g cap_g + sum_k mu_k room_k +
  sum_i max(0, max_a reduced weight of a) bounds every allocation (LP duality, pi_j = min of the
  linked groups' lam). Evaluated over all arcs, so it certifies the published answer's gap.
- ``greedy``: arcs best first by a score (the weight, or the weight less the prices of the
  capacity it uses), each placed if its debtor is free and a collector has room. O(A log A) at
  worst; only the best few times the capacity is sorted up front, since the pools are full
  long before the rest (10M cases, 25M arcs: about 30 s in all, the sampled LP included).
- ``place_lp``: the LP's answer to collectors: continuity arcs first, then market arcs best first
  within the LP's flows, then everything else offered to the room left.

Placing a market arc picks, among the market's collectors with room, the one given the least
expected value per unit of capacity so far (a balanced deal: fairness, R25). Then a pass trades
debtors between a pool's best- and worst-served members while its spread is above the bound
(``_ef1_spread``: fair up to one debtor, since debtors are indivisible), and one brings a debtor
back to its previous collector wherever a move or a like-for-like swap allows without breaking
that bound: the bound is a rule, continuity a bonus.

The objective compared between methods and bounded by the dual counts positive-weight placements:
work worth doing. Debtors whose every channel loses money still go to capacity that would
otherwise sit idle (the covering first call on every case), least loss first, after all
worthwhile work, so "over capacity" always means no eligible collector has room.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import linprog

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

BLOCK = 1 << 15  # arcs screened per vectorised step of a greedy pass
CANDIDATE_FACTOR = 2.0  # candidate arcs per market: about this many times its capacity
LP_ROUNDS = 6  # column-generation rounds before the LP settles for its bound
LP_GAP = 1e-4  # column generation stops once the dual bound is this close to the LP
BALANCE_STEPS = 8  # fairness trades per collector of a pool, at most
TOLERANCE = 1e-7
NEVER = 1 << 62
HEAD_FACTOR = 4  # arcs sorted up front by a greedy pass: this many times the capacity in units
LP_SAMPLE = 25_000  # candidate debtors in the fast path's pricing LP (about a second)
SAMPLE_SEED = 20261123  # fixed: the same night draws the same sample


class LPFailed(RuntimeError):
    """HiGHS gave no optimal LP; the caller falls back on the greedy."""


@dataclass(frozen=True)
class Problem:
    """One night as arrays. Collectors are the active ones with capacity, sorted by id; arcs are
    sorted by (debtor, market, collector) with market arcs (collector -1) first."""

    capacity: Ints  # per collector, units
    continuity_room: Ints  # per collector: units continuity arcs may take
    collector_group: Ints  # per collector
    group_capacity: Ints  # per group
    link_market: Ints  # per link: market j may be served by group g
    link_group: Ints
    n_markets: int
    n_debtors: int
    debtor: Ints  # per arc
    market: Ints  # per arc (for a continuity arc: the debtor's market on that channel)
    collector: Ints  # per arc: the continuity collector, or -1 for a market arc
    size: Ints  # per arc, units
    value: Floats  # per arc: expected net value of the channel
    weight: Floats  # per arc: value, plus the continuity bonus on continuity arcs
    previous: Ints  # per debtor: the collector of its continuity arc, or -1
    continuity_arc: Ints  # per debtor: its continuity arc, or -1

    @property
    def n_groups(self) -> int:
        return len(self.group_capacity)

    @property
    def n_collectors(self) -> int:
        return len(self.capacity)

    @cached_property
    def market_arc(self) -> Ints:
        """Per arc: for a continuity arc, the same debtor's market arc in the same market (-1 if
        none); for a market arc, itself."""
        key = self.debtor * max(self.n_markets, 1) + self.market
        first = np.searchsorted(key, key, side="left")
        out: Ints = np.where(self.collector[first] < 0, first, -1).astype(np.int64)
        return out

    @cached_property
    def members(self) -> list[list[int]]:
        """Per market, the collectors that may serve it, in collector order."""
        groups: list[list[int]] = [[] for _ in range(self.n_groups)]
        for k, g in enumerate(self.collector_group.tolist()):
            groups[g].append(k)
        out: list[list[int]] = [[] for _ in range(self.n_markets)]
        for j, g in zip(self.link_market.tolist(), self.link_group.tolist(), strict=True):
            out[j].extend(groups[g])
        return [sorted(m) for m in out]


@dataclass
class Placement:
    """Who works whom: per debtor the arc used (-1: not placed) and the collector."""

    arc: Ints
    collector: Ints
    kept: Bools  # with its continuity collector, within that collector's continuity room
    room: Ints  # per collector, units left
    continuity_left: Ints  # per collector, continuity units left

    def weights(self, p: Problem) -> Floats:
        """Per placed debtor (in debtor order): value, plus the bonus where continuity is kept."""
        placed = self.arc >= 0
        bonus = np.zeros(p.n_debtors)
        has = p.continuity_arc >= 0
        cont = p.continuity_arc[has]
        bonus[has] = p.weight[cont] - p.value[cont]
        out: Floats = p.value[self.arc[placed]] + np.where(self.kept, bonus, 0.0)[placed]
        return out

    def objective(self, p: Problem) -> float:
        """Total weight of worthwhile (positive-weight) placements: the quantity maximised."""
        return float(np.maximum(self.weights(p), 0.0).sum())


@dataclass(frozen=True)
class Prices:
    """Duals of the capacity rows: per group (lam), per collector's continuity room (mu)."""

    group: Floats
    continuity: Floats

    def market(self, p: Problem) -> Floats:
        """pi_j: the cheapest linked group's price (what a market arc pays per unit)."""
        out = np.full(p.n_markets, np.inf)
        np.minimum.at(out, p.link_market, self.group[p.link_group])
        out[~np.isfinite(out)] = 0.0
        return out

    def per_arc(self, p: Problem) -> Floats:
        """Price per unit each arc pays."""
        cont = p.collector >= 0
        k = np.maximum(p.collector, 0)
        via = self.group[p.collector_group[k]] + self.continuity[k]
        out: Floats = np.where(cont, via, self.market(p)[p.market])
        return out


@dataclass(frozen=True)
class LPResult:
    arcs: Ints  # the candidate arcs the final LP used
    x: Floats  # their values
    flow: Floats  # per link
    prices: Prices
    objective: float  # the LP's optimum over the candidates
    bound: float  # dual bound over all arcs: an upper bound on every allocation
    converged: bool  # no arc outside the candidates could improve the LP
    rounds: int
    share: float  # share of the candidate debtors the LP saw (below 1: a sample, for prices)
    seconds: float


def zero_prices(p: Problem) -> Prices:
    return Prices(np.zeros(p.n_groups), np.zeros(p.n_collectors))


def arc_order(p: Problem, score: Floats, arcs: Ints | None = None) -> Ints:
    """Arcs (all, or ``arcs``, given in increasing order) by score, best first; ties in arc
    order, which is (debtor, market, collector) order: one stable sort on one key."""
    if arcs is None:
        out: Ints = np.argsort(-score, kind="stable")
        return out
    out = arcs[np.argsort(-score[arcs], kind="stable")]
    return out


def dual_bound(p: Problem, prices: Prices) -> float:
    """An upper bound on the objective of every allocation, for any prices >= 0."""
    lam = np.maximum(prices.group, 0.0)
    mu = np.maximum(prices.continuity, 0.0)
    safe = Prices(lam, mu)
    reduced = p.weight - safe.per_arc(p) * p.size
    best = np.zeros(p.n_debtors)
    np.maximum.at(best, p.debtor, reduced)
    return float(lam @ p.group_capacity + mu @ p.continuity_room + best.sum())


def _market_capacity(p: Problem) -> Floats:
    out = np.zeros(p.n_markets)
    np.add.at(out, p.link_market, p.group_capacity[p.link_group].astype(np.float64))
    return out


def candidates(p: Problem, factor: float = CANDIDATE_FACTOR) -> Ints:
    """Positive arcs worth putting in the LP: per market (and per continuity collector) the
    densest ones (ties in arc order), up to ``factor`` times its capacity in units; then every
    positive arc of those debtors, so the LP sees each one's alternatives. O(A) but for the
    sorts of the few arcs kept."""
    positive = np.flatnonzero(p.weight > 0)
    if len(positive) == 0:
        return positive
    # Market arcs ranked in their market, continuity arcs in their collector's continuity room.
    cont = p.collector[positive] >= 0
    bucket = np.where(cont, p.n_markets + p.collector[positive], p.market[positive])
    limit = np.r_[_market_capacity(p), p.continuity_room.astype(np.float64)] * factor
    size = p.size[positive]
    density = p.weight[positive] / size
    by_bucket = np.argsort(bucket, kind="stable")
    edges = np.searchsorted(bucket[by_bucket], np.arange(len(limit) + 1))
    kept = [
        _densest(by_bucket[lo:hi], density, size, float(limit[b]))
        for b, (lo, hi) in enumerate(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        if hi > lo
    ]
    keep = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
    wanted = np.zeros(p.n_debtors, dtype=np.bool_)
    wanted[p.debtor[positive[keep]]] = True
    out: Ints = positive[wanted[p.debtor[positive]]]
    return out


def _densest(members: Ints, density: Floats, size: Ints, limit: float) -> Ints:
    """Of ``members`` (increasing), the densest first while the units before each are within
    ``limit``. Units are at least 1, so at most limit + 1 of them: only those are sorted."""
    head = int(limit) + 1
    if head < len(members):
        d = density[members]
        threshold = np.partition(d, len(d) - head)[len(d) - head]
        members = members[d >= threshold]  # ties at the threshold all stay: order is defined
    members = members[np.argsort(-density[members], kind="stable")]
    before = np.cumsum(size[members]) - size[members]
    out: Ints = members[before <= limit]
    return out


@dataclass(frozen=True)
class _Duals:
    """Duals of one LP solve: per debtor row (u), market (pi), group (lam), collector (mu)."""

    debtors: Ints  # the debtors of the debtor rows, in row order
    u: Floats
    pi: Floats
    lam: Floats
    mu: Floats

    def reduced(self, p: Problem) -> Floats:
        """Every arc's weight less what it pays at these duals (u = 0 off the LP's rows)."""
        u = np.zeros(p.n_debtors)
        u[self.debtors] = self.u
        k = np.maximum(p.collector, 0)
        pay = np.where(
            p.collector >= 0, self.lam[p.collector_group[k]] + self.mu[k], self.pi[p.market]
        )
        out: Floats = p.weight - pay * p.size - u[p.debtor]
        return out


def _lp(p: Problem, arcs: Ints, scale: float = 1.0) -> tuple[Any, _Duals]:
    """Solve the LP over ``arcs`` with capacities times ``scale`` (HiGHS dual simplex:
    deterministic)."""
    n, n_links = len(arcs), len(p.link_market)
    width = n + n_links
    cols = np.arange(n)
    debtors, row = np.unique(p.debtor[arcs], return_inverse=True)
    size = p.size[arcs].astype(np.float64)
    cont = p.collector[arcs] >= 0
    on_market = ~cont
    k = p.collector[arcs][cont]
    link_cols = n + np.arange(n_links)
    debtor_rows = sparse.coo_array((np.ones(n), (row, cols)), shape=(len(debtors), width))
    market_rows = sparse.coo_array(
        (
            np.r_[size[on_market], -np.ones(n_links)],
            (np.r_[p.market[arcs][on_market], p.link_market], np.r_[cols[on_market], link_cols]),
        ),
        shape=(p.n_markets, width),
    )
    group_rows = sparse.coo_array(
        (
            np.r_[np.ones(n_links), size[cont]],
            (np.r_[p.link_group, p.collector_group[k]], np.r_[link_cols, cols[cont]]),
        ),
        shape=(p.n_groups, width),
    )
    continuity_rows = sparse.coo_array((size[cont], (k, cols[cont])), shape=(p.n_collectors, width))
    upper = np.r_[
        np.ones(len(debtors)),
        np.zeros(p.n_markets),
        p.group_capacity * scale,
        p.continuity_room * scale,
    ]
    bounds = np.zeros((width, 2))
    bounds[:n, 1] = 1.0
    bounds[n:, 1] = np.inf
    result = linprog(
        np.r_[-p.weight[arcs], np.zeros(n_links)],
        A_ub=sparse.vstack([debtor_rows, market_rows, group_rows, continuity_rows], format="csr"),
        b_ub=upper,
        bounds=bounds,
        method="highs-ds",
    )
    if result.status != 0:
        raise LPFailed(str(result.message))
    dual = -np.asarray(result.ineqlin.marginals)
    cut = np.cumsum([len(debtors), p.n_markets, p.n_groups])
    u, pi, lam, mu = np.split(dual, cut)
    return result, _Duals(debtors, u, pi, np.maximum(lam, 0.0), np.maximum(mu, 0.0))


def _sample(p: Problem, arcs: Ints, limit: int) -> tuple[Ints, float]:
    """At most ``limit`` of the arcs' debtors (all their arcs), drawn with a fixed seed, and
    the share drawn. Prices are per unit, so a fair sample with capacities scaled by the share
    prices the whole night closely (0.3% on the bound at a quarter, measured at 50k cases)."""
    debtors = np.unique(p.debtor[arcs])
    if len(debtors) <= limit:
        return arcs, 1.0
    drawn = np.random.default_rng(SAMPLE_SEED).choice(len(debtors), size=limit, replace=False)
    keep = np.zeros(p.n_debtors, dtype=np.bool_)
    keep[debtors[drawn]] = True
    return arcs[keep[p.debtor[arcs]]], limit / len(debtors)


def _best_bound(p: Problem, duals: _Duals) -> tuple[Prices, float]:
    """The lower of the dual bounds with and without the continuity prices (both valid)."""
    with_mu = Prices(duals.lam, duals.mu)
    without = Prices(duals.lam, np.zeros(p.n_collectors))
    a, b = dual_bound(p, with_mu), dual_bound(p, without)
    return (with_mu, a) if a <= b else (without, b)


def _entering(p: Problem, arcs: Ints, duals: _Duals) -> tuple[Ints, Floats]:
    """Positive arcs outside ``arcs`` that would improve the LP, and every arc's reduced weight."""
    reduced = duals.reduced(p)
    inside = np.zeros(len(p.weight), dtype=np.bool_)
    inside[arcs] = True
    scale = max(1.0, float(np.abs(p.weight).max()))
    out: Ints = np.flatnonzero((p.weight > 0) & ~inside & (reduced > TOLERANCE * scale))
    return out, reduced


def solve_lp(p: Problem, rounds: int = LP_ROUNDS, sample: int | None = None) -> LPResult:
    """The LP relaxation by column generation from ``candidates`` (see the module docstring).

    With ``sample``, the LP runs once over at most that many candidate debtors, capacities
    scaled to match: its prices steer the fast path and its dual bound (over every arc) still
    bounds the night; its primal answer is not used.
    """
    started = time.perf_counter()
    arcs = candidates(p)
    if len(arcs) == 0:
        empty = np.zeros(0)
        return LPResult(
            arcs, empty, np.zeros(len(p.link_market)), zero_prices(p), 0.0, 0.0, True, 0, 1.0, 0.0
        )
    share = 1.0
    if sample is not None:
        arcs, share = _sample(p, arcs, sample)
        # Once, even when every candidate fits the sample: a second round re-solves the LP from
        # scratch (SciPy's HiGHS keeps no basis) for 128-960 more columns, and its prices
        # steered the greedy no better (1M cases: 2.2-3.1 s a round; the published objective
        # 0.03-0.06% lower with two rounds than with one, on a first night and the night after).
        rounds = 1
    for step in range(1, rounds + 1):
        result, duals = _lp(p, arcs, share)
        entering, reduced = _entering(p, arcs, duals)
        prices, bound = _best_bound(p, duals)
        objective = -float(result.fun) / share
        # Done when no arc can enter, or when the bound already proves the candidates' LP
        # within LP_GAP of the whole night's (another round would cost as much as this one).
        if len(entering) == 0 or step == rounds or bound - objective <= LP_GAP * abs(bound):
            x = np.asarray(result.x)
            return LPResult(
                arcs=arcs,
                x=x[: len(arcs)],
                flow=x[len(arcs) :],
                prices=prices,
                objective=objective,
                bound=bound,
                converged=len(entering) == 0 and share == 1.0,
                rounds=step,
                share=share,
                seconds=time.perf_counter() - started,
            )
        # The most promising entering arcs, with every positive arc of their debtors.
        best = entering[np.argsort(-reduced[entering], kind="stable")[: max(1000, len(arcs))]]
        wanted = np.zeros(p.n_debtors, dtype=np.bool_)
        wanted[p.debtor[best]] = True
        wanted[p.debtor[arcs]] = True
        arcs = np.flatnonzero((p.weight > 0) & wanted[p.debtor])
    raise AssertionError("unreachable")


class _Placer:
    """Collector-level state while debtors are placed, traded for fairness and for continuity."""

    def __init__(self, p: Problem, fairness_bound: float) -> None:
        self.p = p
        self.bound = fairness_bound
        self.cap = p.capacity.tolist()
        self.room = p.capacity.tolist()
        self.cont_left = p.continuity_room.tolist()
        self.worth = np.zeros(p.n_collectors)  # positive expected value given, per collector
        self.group_of = p.collector_group.tolist()
        self.arc = np.full(p.n_debtors, -1, dtype=np.int64)
        self.collector = np.full(p.n_debtors, -1, dtype=np.int64)
        self.kept = np.zeros(p.n_debtors, dtype=np.bool_)
        self.previous = p.previous.tolist()
        self.gain = np.maximum(p.value, 0.0)  # what an arc adds to its collector's worth
        self.members = p.members
        self.member_arrays = [np.asarray(ks, dtype=np.int64) for ks in self.members]
        self.serves = [set(ks) for ks in self.members]
        self.markets_of: list[list[int]] = [[] for _ in range(p.n_collectors)]
        for j, ks in enumerate(self.members):
            for k in ks:
                self.markets_of[k].append(j)
        self.heaps = [[(0.0, 0.0, k) for k in ks] for ks in self.members]
        for heap in self.heaps:
            heapq.heapify(heap)
        # Per market: the smallest size that found no room since the market's last room gain.
        self.no_room = [NEVER] * p.n_markets
        self.holding: list[set[int]] = [set() for _ in range(p.n_collectors)]
        # Per pool (market), per member: value, units and best debtor placed from that pool.
        self.slot = [{k: n for n, k in enumerate(ks)} for ks in self.members]
        self.pool_worth = [np.zeros(len(ks)) for ks in self.members]
        self.pool_units = [np.zeros(len(ks)) for ks in self.members]
        self.pool_top = [np.zeros(len(ks)) for ks in self.members]
        self.n_pools = np.asarray([len(ms) for ms in self.markets_of], dtype=np.float64)
        self.allot: dict[tuple[int, int], float] | None = None
        self._flat = np.asarray([k for ks in self.members for k in ks], dtype=np.int64)
        self._starts = np.cumsum([0] + [len(ks) for ks in self.members])[:-1].astype(np.int64)
        self._has = np.asarray([len(ks) > 0 for ks in self.members], dtype=np.bool_)
        self.market_arc = p.market_arc

    # --- placing -------------------------------------------------------------------------

    def _key(self, k: int) -> tuple[float, float]:
        cap = self.cap[k]
        return float(self.worth[k]) / cap, (cap - self.room[k]) / cap

    def market_room(self) -> Ints:
        """Per market, the most room any of its collectors has."""
        out = np.zeros(self.p.n_markets, dtype=np.int64)
        if len(self._flat):
            room = np.asarray(self.room, dtype=np.int64)[self._flat]
            out[self._has] = np.maximum.reduceat(room, self._starts[self._has])
        return out

    def pick(self, j: int, size: int) -> int:
        """The collector of market j with room for ``size`` given the least value per unit of
        capacity so far (and, while the LP's flows are in force, one of a group with flow left)."""
        if size >= self.no_room[j]:
            return -1
        heap, aside, found = self.heaps[j], [], -1
        while heap:
            v, u, k = heap[0]
            current = self._key(k)
            if (v, u) != current:  # stale: this collector's load changed since it was pushed
                heapq.heapreplace(heap, (current[0], current[1], k))
                continue
            if self.room[k] == 0:
                heapq.heappop(heap)  # pushed again by release() if room comes back
                continue
            if self.room[k] >= size and (
                self.allot is None or self.allot.get((j, self.group_of[k]), 0.0) >= size - 1e-6
            ):
                found = k
                break
            aside.append(heapq.heappop(heap))
        for entry in aside:
            heapq.heappush(heap, entry)
        if found < 0:
            self.no_room[j] = min(self.no_room[j], size)
        return found

    def assign(self, i: int, a: int, k: int) -> None:
        """Debtor i to collector k by arc a, with all the bookkeeping."""
        p = self.p
        s = int(p.size[a])
        self.room[k] -= s
        if self.previous[i] == k and self.cont_left[k] >= s:
            # With its collector: the bonus counts, within the collector's continuity room.
            self.cont_left[k] -= s
            self.kept[i] = True
        gain = float(self.gain[a])
        self.worth[k] += gain
        j, n = int(p.market[a]), self.slot[int(p.market[a])][k]
        self.pool_worth[j][n] += gain
        self.pool_units[j][n] += s
        self.pool_top[j][n] = max(float(self.pool_top[j][n]), gain)
        self.arc[i] = a
        self.collector[i] = k
        self.holding[k].add(i)
        if self.allot is not None and p.collector[a] < 0:
            key = (int(p.market[a]), self.group_of[k])
            self.allot[key] = self.allot.get(key, 0.0) - s

    def release(self, i: int) -> None:
        """Undo ``assign`` for debtor i."""
        a, k = int(self.arc[i]), int(self.collector[i])
        s = int(self.p.size[a])
        if self.room[k] == 0:
            for j in self.markets_of[k]:
                heapq.heappush(self.heaps[j], (*self._key(k), k))
        self.room[k] += s
        if self.kept[i]:
            self.cont_left[k] += s
            self.kept[i] = False
        gain = float(self.gain[a])
        self.worth[k] -= gain
        self.holding[k].discard(i)
        j, n = int(self.p.market[a]), self.slot[int(self.p.market[a])][k]
        self.pool_worth[j][n] -= gain
        self.pool_units[j][n] -= s
        if gain >= float(self.pool_top[j][n]):
            self.pool_top[j][n] = max(
                (
                    float(self.gain[self.arc[o]])
                    for o in self.holding[k]
                    if int(self.p.market[self.arc[o]]) == j
                ),
                default=0.0,
            )
        self.arc[i] = -1
        self.collector[i] = -1
        for j in self.markets_of[k]:
            self.no_room[j] = NEVER

    def offer(self, arcs: Ints) -> int:
        """Offer arcs in order; each is placed if its debtor is free and a collector has room.
        Blocks of arcs are screened at once so Python only sees arcs that may be placed.
        Returns how many were placed."""
        p = self.p
        placed = 0
        for start in range(0, len(arcs), BLOCK):
            market_room = self.market_room()
            if not market_room.any():
                break
            block = arcs[start : start + BLOCK]
            d, j, k, s = p.debtor[block], p.market[block], p.collector[block], p.size[block]
            room = np.asarray(self.room, dtype=np.int64)
            cont = np.asarray(self.cont_left, dtype=np.int64)
            kk = np.maximum(k, 0)
            ok = (self.arc[d] < 0) & np.where(
                k >= 0, (room[kk] >= s) & (cont[kk] >= s), market_room[j] >= s
            )
            for a, i, jj, c, ss in zip(
                block[ok].tolist(),
                d[ok].tolist(),
                j[ok].tolist(),
                k[ok].tolist(),
                s[ok].tolist(),
                strict=True,
            ):
                if self.arc[i] >= 0:
                    continue
                if c >= 0:
                    if self.room[c] < ss or self.cont_left[c] < ss:
                        continue
                    chosen = c
                else:
                    chosen = self.pick(jj, ss)
                    if chosen < 0:
                        continue
                self.assign(i, a, chosen)
                placed += 1
        return placed

    def fits(self, arcs: Ints) -> Bools:
        """Which arcs could be placed now: debtor free, and room (and continuity room)."""
        p = self.p
        room = np.asarray(self.room, dtype=np.int64)
        cont = np.asarray(self.cont_left, dtype=np.int64)
        k = np.maximum(p.collector[arcs], 0)
        size = p.size[arcs]
        out: Bools = (self.arc[p.debtor[arcs]] < 0) & np.where(
            p.collector[arcs] >= 0,
            (room[k] >= size) & (cont[k] >= size),
            self.market_room()[p.market[arcs]] >= size,
        )
        return out

    def offer_best_first(self, score: Floats, arcs: Ints) -> int:
        """Offer ``arcs`` (increasing) best first by score, ties in arc order. Only the best
        slice, a few times the capacity, is sorted at once; the rest is sorted only for the
        arcs that still fit after it (room only shrinks while offering, so nothing else could
        be placed): the same order as one full sort, at O(A) plus the sorts of small sets."""
        head = HEAD_FACTOR * int(self.p.capacity.sum()) + BLOCK
        rest: Ints = np.zeros(0, dtype=np.int64)
        if head < len(arcs):
            s = score[arcs]
            threshold = np.partition(s, len(s) - head)[len(s) - head]
            arcs, rest = arcs[s >= threshold], arcs[s < threshold]
        placed = self.offer(arc_order(self.p, score, arcs))
        if len(rest):
            rest = rest[self.fits(rest)]
            placed += self.offer(arc_order(self.p, score, rest))
        return placed

    def offer_leftovers(self) -> int:
        """Offer, best first, every arc of an unplaced debtor that some collector has room for."""
        arcs = np.arange(len(self.p.debtor), dtype=np.int64)
        return self.offer(arc_order(self.p, self.p.weight, arcs[self.fits(arcs)]))

    # --- trading -------------------------------------------------------------------------

    def _pool_view(self, j: int) -> tuple[Floats, Floats, Floats]:
        """Market j's members as (value, best debtor, capacity): each member's capacity is
        apportioned to the pool by the units it placed from it (all of it for a one-pool
        collector; an idle one's split evenly between its pools)."""
        ks = self.member_arrays[j]
        cap = self.p.capacity[ks].astype(np.float64)
        used = cap - np.asarray(self.room, dtype=np.float64)[ks]
        share = np.where(used > 0, self.pool_units[j] / np.maximum(used, 1.0), 1 / self.n_pools[ks])
        return self.pool_worth[j], self.pool_top[j], cap * share

    def spread(self, j: int) -> float:
        """Market j's spread, fair up to one debtor (see ``_ef1_spread``)."""
        if len(self.member_arrays[j]) < 2:
            return 0.0
        return _ef1_spread(*self._pool_view(j))

    def _apply(self, moves: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """Put each debtor i on arc a with collector k (a = -1: unplace); returns the undo."""
        undo = [(i, int(self.arc[i]), int(self.collector[i])) for i, _, _ in moves]
        for i, _, _ in moves:
            if self.arc[i] >= 0:
                self.release(i)
        for i, a, k in moves:
            if a >= 0:
                self.assign(i, a, k)
        return undo

    def _try(
        self, moves: list[tuple[int, int, int]], touched: list[int], narrowing: int = -1
    ) -> bool:
        """Apply the moves unless they push some pool of the ``touched`` collectors above the
        fairness bound (or further above it, if it already was), or fail to narrow pool
        ``narrowing``'s spread."""
        markets = sorted({j for k in touched for j in self.markets_of[k]})
        before = [self.spread(j) for j in markets]
        undo = self._apply(moves)
        for j, was in zip(markets, before, strict=True):
            now = self.spread(j)
            if now > max(self.bound, was) + 1e-12 or (j == narrowing and now >= was - 1e-12):
                self._apply(undo)
                return False
        return True

    def keep_continuity(self) -> int:
        """Bring a debtor to its previous collector (same market) by a move where that one has
        room, else by a like-for-like swap with a debtor it holds that is not its own; never
        past the fairness bound. Returns how many debtors it brought back."""
        p = self.p
        placed = np.flatnonzero((self.arc >= 0) & ~self.kept & (p.continuity_arc >= 0))
        kept = 0
        if len(placed) == 0:
            return kept
        cont_arc = p.continuity_arc[placed]
        same = p.market[cont_arc] == p.market[self.arc[placed]]
        placed, cont_arc = placed[same], cont_arc[same]
        order = np.lexsort((placed, -(p.weight[cont_arc] - p.value[cont_arc])))
        for i, a in zip(placed[order].tolist(), cont_arc[order].tolist(), strict=True):
            k, s, here = int(p.collector[a]), int(p.size[a]), int(self.collector[i])
            if here == k or self.cont_left[k] < s:
                continue
            if self.room[k] >= s:
                kept += self._try([(i, a, k)], [k, here])
                continue
            # One try: the partner nearest in value, so the swap barely moves either's load.
            value = float(self.gain[a])
            partners = [
                (abs(float(self.gain[b]) - value), other, b)
                for other in self.holding[k]
                for b in [int(self.arc[other])]
                if not self.kept[other]
                and p.collector[b] < 0
                and int(p.size[b]) == s
                and here in self.serves[int(p.market[b])]
            ]
            if partners:
                _, other, b = min(partners)
                kept += self._try([(i, a, k), (other, b, here)], [k, here])
        return kept

    def balance(self) -> None:
        """Trade debtors between a pool's best- and worst-served collectors while its spread is
        above the bound: a move or a swap of like-sized debtors that narrows the gap between the
        two. Debtors kept with their collector are traded only when nothing else helps (the
        bound is a rule, continuity a bonus). A trade is kept only if it narrows the pool's
        spread and pushes no other pool past the bound; the steps are capped per pool."""
        for j, ks in enumerate(self.members):
            for _ in range(BALANCE_STEPS * len(ks) if len(ks) > 1 else 0):
                if self.spread(j) <= self.bound or not self._trade(j):
                    break

    def _trade(self, j: int) -> bool:
        """One trade in pool j between one of its three best-served collectors (with or without
        their best debtor) and one of its three worst-served; False when none helps."""
        worth, top, capacity = self._pool_view(j)
        ks = self.member_arrays[j]
        live = capacity > 0
        per_unit = np.where(live, worth / np.maximum(capacity, 1e-12), 0.0)
        fair_high = np.where(live, (worth - top) / np.maximum(capacity, 1e-12), -np.inf)
        high = _first_unique(
            ks[np.lexsort((ks, -fair_high))][:3].tolist()
            + ks[np.lexsort((ks, -per_unit))][:3].tolist()
        )
        low = ks[live][np.lexsort((ks[live], per_unit[live]))][:3].tolist()
        att = dict(zip(ks.tolist(), capacity.tolist(), strict=True))
        for with_kept in (False, True):
            for hi in high:
                for lo in low:
                    if hi == lo:
                        continue
                    moves = self._best_trade(j, hi, lo, att, with_kept)
                    if moves and self._try(moves, [hi, lo], narrowing=j):
                        return True
        return False

    def _best_trade(
        self, j: int, hi: int, lo: int, att: dict[int, float], with_kept: bool
    ) -> list[tuple[int, int, int]]:
        """Among pool j's debtors, the move (hi -> lo) or like-sized swap that shifts value
        nearest to what would equalise the two per unit of (apportioned) capacity."""
        n_hi, n_lo = self.slot[j][hi], self.slot[j][lo]
        a_hi, a_lo = max(att[hi], 1e-12), max(att[lo], 1e-12)
        gap = self.pool_worth[j][n_hi] / a_hi - self.pool_worth[j][n_lo] / a_lo
        target = float(gap) / (1.0 / a_hi + 1.0 / a_lo)
        if target <= 0:
            return []
        give = self._tradeable(j, hi, with_kept)
        take: dict[int, list[tuple[float, int, int]]] = {}
        for value, size, i, b in self._tradeable(j, lo, with_kept):
            take.setdefault(size, []).append((value, i, b))
        for pairs in take.values():
            pairs.sort()
        best: tuple[float, list[tuple[int, int, int]]] | None = None
        for value, size, i, a in give:
            if self.room[lo] >= size and 0 < value < 2 * target:
                score = abs(value - target)
                if best is None or score < best[0]:
                    best = (score, [(i, a, lo)])
            pairs = take.get(size, [])
            if not pairs:
                continue
            other_value, other, b = pairs[_nearest([v for v, _, _ in pairs], value - target)]
            shift = value - other_value
            if 0 < shift < 2 * target:
                score = abs(shift - target)
                if best is None or score < best[0]:
                    best = (score, [(i, a, lo), (other, b, hi)])
        return [] if best is None else best[1]

    def _tradeable(self, j: int, k: int, with_kept: bool) -> list[tuple[float, int, int, int]]:
        """Collector k's debtors from pool j that may change hands: (value, size, debtor, the
        market arc it would travel on). Kept debtors only ``with_kept``."""
        p = self.p
        out = []
        for i in sorted(self.holding[k]):
            a = int(self.arc[i])
            if int(p.market[a]) != j or (self.kept[i] and not with_kept):
                continue
            a = int(self.market_arc[a])
            if a >= 0:
                out.append((float(self.gain[a]), int(p.size[a]), i, a))
        return out

    def result(self) -> Placement:
        return Placement(
            arc=self.arc,
            collector=self.collector,
            kept=self.kept,
            room=np.asarray(self.room, dtype=np.int64),
            continuity_left=np.asarray(self.cont_left, dtype=np.int64),
        )


def _ef1_spread(worth: Floats, top: Floats, capacity: Floats) -> float:
    """Spread of value per unit of capacity, fair up to one debtor: (the highest, after setting
    aside each collector's single best debtor, minus the lowest) over the pool's mean. Members
    with no capacity in the pool are left out; 0 when fewer than two remain or nothing to
    share."""
    live = capacity > 0
    if live.sum() < 2:
        return 0.0
    worth, top, capacity = worth[live], top[live], capacity[live]
    total = float(worth.sum())
    if total <= 0:
        return 0.0
    mean = total / float(capacity.sum())
    if not mean > 0:  # values so small the mean underflows: nothing to share
        return 0.0
    high = float(((worth - top) / capacity).max())
    low = float((worth / capacity).min())
    return max(0.0, high - low) / mean


def _first_unique(items: list[int]) -> list[int]:
    return list(dict.fromkeys(items))


def _nearest(sorted_values: list[float], x: float) -> int:
    at = int(np.searchsorted(sorted_values, x))
    if at == len(sorted_values):
        return at - 1
    if at > 0 and x - sorted_values[at - 1] < sorted_values[at] - x:
        return at - 1
    return at


def _finish(placer: _Placer, fill: Ints) -> Placement:
    """Offer the ``fill`` arcs best first to the room left, then continuity and fairness
    trades, then whatever the trades freed."""
    placer.allot = None
    placer.no_room = [NEVER] * placer.p.n_markets  # failures within the LP's flows may now fit
    placer.offer_best_first(placer.p.weight, fill)
    placer.keep_continuity()
    placer.balance()
    # A trade or a move back to a previous collector frees room elsewhere, and room may let
    # another debtor back to its collector: repeat until neither changes anything (each round
    # places a debtor or keeps one more with its collector, so it ends).
    while placer.offer_leftovers() + placer.keep_continuity():
        pass
    return placer.result()


def greedy(p: Problem, prices: Prices, fairness_bound: float) -> Placement:
    """Arcs best first by weight less the prices of the capacity they use (zero prices: plain
    weight), each placed while its debtor is free and a collector has room; then the rest."""
    score = p.weight - prices.per_arc(p) * p.size
    positive = p.weight > 0
    placer = _Placer(p, fairness_bound)
    placer.offer_best_first(score, np.flatnonzero(positive))
    # What did not fit then has no room now; only the money-losing arcs are left to offer.
    return _finish(placer, np.flatnonzero(~positive))


def place_lp(p: Problem, lp: LPResult, fairness_bound: float) -> Placement:
    """The LP's answer to collectors: its continuity arcs, then its market arcs best first within
    its flows from markets to groups, then everything else offered to the room left."""
    chosen = lp.arcs[lp.x > 0.5]
    chosen = chosen[np.lexsort((p.debtor[chosen], -p.weight[chosen]))]
    placer = _Placer(p, fairness_bound)
    placer.offer(chosen[p.collector[chosen] >= 0])
    placer.allot = {
        (int(j), int(g)): float(f)
        for j, g, f in zip(p.link_market, p.link_group, lp.flow, strict=True)
    }
    placer.offer(chosen[p.collector[chosen] < 0])
    return _finish(placer, np.arange(len(p.debtor), dtype=np.int64))


def pool_spreads(p: Problem, placement: Placement) -> tuple[Floats, Floats]:
    """Per market (pool): the spread fair up to one debtor, and the raw spread (no debtor set
    aside), each member's capacity apportioned to the pool as in ``_Placer._pool_view``."""
    placed = np.flatnonzero(placement.arc >= 0)
    arcs, who = placement.arc[placed], placement.collector[placed]
    gain = np.maximum(p.value[arcs], 0.0)
    cell = who * p.n_markets + p.market[arcs]
    cells = p.n_collectors * p.n_markets
    shape = (p.n_collectors, p.n_markets)
    # bincount with weights sums in float64; astype only tells the type checker so.
    worth = np.bincount(cell, weights=gain, minlength=cells).astype(np.float64).reshape(shape)
    units = np.bincount(cell, weights=p.size[arcs], minlength=cells).astype(np.float64)
    units = units.reshape(shape)
    top: Floats = np.zeros(cells)
    np.maximum.at(top, cell, gain)
    top = top.reshape(shape)
    members = p.members
    n_pools = np.zeros(p.n_collectors)
    for ks in members:
        n_pools[ks] += 1
    used = (p.capacity - placement.room).astype(np.float64)
    fair = np.zeros(p.n_markets)
    raw = np.zeros(p.n_markets)
    for j, ks in enumerate(members):
        if len(ks) < 2:
            continue
        share = np.where(used[ks] > 0, units[ks, j] / np.maximum(used[ks], 1.0), 1 / n_pools[ks])
        capacity: Floats = p.capacity[ks].astype(np.float64) * share
        fair[j] = _ef1_spread(worth[ks, j], top[ks, j], capacity)
        raw[j] = _ef1_spread(worth[ks, j], np.zeros(len(ks)), capacity)
    return fair, raw


def summary(p: Problem, placement: Placement) -> dict[str, Any]:
    """Counts and sums of a placement, for the night's stats."""
    placed = placement.arc >= 0
    weights = placement.weights(p)
    return {
        "placed": int(placed.sum()),
        "objective": float(np.maximum(weights, 0.0).sum()),
        "value": float(p.value[placement.arc[placed]].sum()),
        "kept": int(placement.kept.sum()),
        "filled": int((weights <= 0).sum()),
    }
