"""Benchmark of the allocation: time at scale, and the fast path's gap to the exact optimum.

    .venv/bin/python bench/allocate.py                       # 1M cases, 2,000 collectors
    .venv/bin/python bench/allocate.py --cases 10000000      # the issue's 10M-case night
    .venv/bin/python bench/allocate.py --gap-only            # the 50k-case gap instances only

Prints one JSON object. Nights are synthetic but shaped like the samples (mostly one case per
debtor, some two or three; 63% phone, 29% visit, 8% letter collectors; visits in 40 cities of very
different sizes; most debtors worked before by someone) and built with numpy and polars, never a
Python loop per debtor, so 10M cases take seconds to make. The same seed gives the same night.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.allocate import allocate
from pipeline.policy import Policy

N_CITIES = 40


def synthetic_night(
    n_cases: int, n_collectors: int, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(debtors, roster) of about ``n_cases`` cases and ``n_collectors`` collectors."""
    rng = np.random.default_rng(seed)
    cities = np.array([f"C{c:02d}" for c in range(N_CITIES)])
    city_weight = 1.0 / np.arange(1, N_CITIES + 1) ** 0.8
    city_weight /= city_weight.sum()
    roster = _roster(rng, n_collectors, cities, city_weight)
    n = max(1, round(n_cases / 1.12))
    cases = rng.choice(np.array([1, 2, 3]), size=n, p=[0.9, 0.08, 0.02])
    city = cities[rng.choice(N_CITIES, size=n, p=city_weight)]
    balance = rng.lognormal(8.6, 0.9, size=n) * cases
    p_repay = rng.beta(1.5, 8.0, size=n)
    expected = p_repay * balance
    visit_cities = (
        roster.filter(pl.col("active") & (pl.col("channel") == "visit"))
        .explode("cities")
        .get_column("cities")
        .unique()
        .to_list()
    )
    has_address = rng.random(n) < 0.9
    can_phone = rng.random(n) < 0.9
    can_visit = has_address & np.isin(city, visit_cities)
    can_letter = has_address & (balance > 1000) & (rng.random(n) < 0.7)
    ids = roster.get_column("collector_id").to_numpy()
    previous = ids[rng.integers(0, len(ids), size=n)]
    worked = rng.random(n) < 0.7
    debtors = pl.DataFrame(
        {
            "debtor_key": np.char.add("D", np.char.zfill(np.arange(n).astype(str), 9)),
            "debtor_cases": cases.astype(np.uint32),
            "letter_cases": cases.astype(np.uint32),
            "debtor_city": city,
            "previous_collector_id": previous,
            "worked": worked,
            "value_phone": np.where(can_phone, expected - 3.0, np.nan),
            "value_visit": np.where(can_visit, 1.6 * expected - 200.0, np.nan),
            "value_letter": np.where(can_letter, 0.4 * expected - 15.0 * cases, np.nan),
        }
    ).select(
        "debtor_key",
        "debtor_cases",
        "letter_cases",
        "debtor_city",
        pl.when("worked").then("previous_collector_id").alias("previous_collector_id"),
        pl.col("value_phone", "value_visit", "value_letter").fill_nan(None),
    )
    return debtors, roster


def _roster(
    rng: np.random.Generator, m: int, cities: np.ndarray[Any, Any], weight: np.ndarray[Any, Any]
) -> pl.DataFrame:
    channel = rng.choice(np.array(["phone", "visit", "letter"]), size=m, p=[0.63, 0.29, 0.08])
    low = np.select([channel == "phone", channel == "visit"], [40, 5], 110)
    high = np.select([channel == "phone", channel == "visit"], [80, 8], 200)
    capacity = rng.integers(low, high + 1)
    first = cities[rng.choice(len(cities), size=m, p=weight)]
    second = cities[rng.choice(len(cities), size=m, p=weight)]
    two = rng.random(m) < 0.2
    return pl.DataFrame(
        {
            "collector_id": np.char.add("K", np.char.zfill(np.arange(m).astype(str), 5)),
            "name": np.char.add("name ", np.arange(m).astype(str)),
            "team": np.char.add(channel, "-1"),
            "channel": channel,
            "first": first,
            "second": second,
            "two": two,
            "daily_capacity": capacity.astype(np.int32),
            "active": rng.random(m) < 0.95,
        }
    ).select(
        "collector_id",
        "name",
        "team",
        "channel",
        pl.when(pl.col("channel") == "visit")
        .then(
            pl.when("two")
            .then(pl.concat_list("first", "second"))
            .otherwise(pl.concat_list("first"))
            .list.unique()
            .list.sort()
        )
        .otherwise(pl.lit([], dtype=pl.List(pl.Utf8)))
        .alias("cities"),
        "daily_capacity",
        "active",
    )


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def time_allocation(n_cases: int, n_collectors: int, seed: int) -> dict[str, Any]:
    """Wall and CPU time of one allocation of a synthetic night, with the night's own figures."""
    made = time.perf_counter()
    debtors, roster = synthetic_night(n_cases, n_collectors, seed)
    built, cpu = time.perf_counter(), time.process_time()
    result = allocate(debtors, roster, Policy())
    done, cpu_done = time.perf_counter(), time.process_time()
    stats = result.stats
    return {
        "cases": stats["cases"],
        "debtors": stats["debtors"],
        "shortlist": stats["shortlist"],
        "collectors": roster.height,
        "capacity_units": int(roster.filter("active").get_column("daily_capacity").sum()),
        "make_seconds": round(built - made, 2),
        "allocate_seconds": round(done - built, 2),
        "allocate_cpu_seconds": round(cpu_done - cpu, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "path": stats["path"],
        "method": stats["method"],
        "assigned": stats["assigned"],
        "objective": stats["objective"],
        "upper_bound": stats["upper_bound"],
        "gap_bound": stats["gap_bound"],
        "greedy_objective": stats["greedy_objective"],
        "greedy_gap_bound": _gap(stats["upper_bound"], stats["greedy_objective"]),
        "lp": stats["lp"],
        "fairness_max_spread": stats["fairness_max_spread"],
        "pools_over_fairness_bound": sum(not pool["within_bound"] for pool in stats["pools"]),
    }


def _gap(reference: float, objective: float) -> float:
    """How far below the reference (an optimum or an upper bound) the objective is."""
    return round(max(0.0, (reference - objective) / reference), 6) if reference > 0 else 0.0


def gap_instance(n_cases: int, n_collectors: int, seed: int) -> dict[str, Any]:
    """One night solved both ways: exactly, and by the fast path alone (its own sampled prices)."""
    debtors, roster = synthetic_night(n_cases, n_collectors, seed)
    started = time.process_time()
    exact = allocate(debtors, roster, replace(Policy(), exact_max_cases=n_cases * 2)).stats
    middle = time.process_time()
    fast = allocate(debtors, roster, replace(Policy(), exact_max_cases=0)).stats
    ended = time.process_time()
    best = exact["objective"]
    return {
        "collectors": roster.height,
        "seed": seed,
        "cases": exact["cases"],
        "capacity_share": round(
            int(roster.filter("active").get_column("daily_capacity").sum()) / exact["cases"], 3
        ),
        "exact_method": exact["method"],
        "exact_objective": best,
        "lp_bound": exact["upper_bound"],
        "exact_gap_to_lp_bound": exact["gap_bound"],
        "greedy_gap": _gap(best, exact["greedy_objective"]),
        "fast_method": fast["method"],
        "fast_gap": _gap(best, fast["objective"]),
        "fast_gap_bound_reported": fast["gap_bound"],
        "fairness_max_spread": [exact["fairness_max_spread"], fast["fairness_max_spread"]],
        "exact_cpu_seconds": round(middle - started, 2),
        "fast_cpu_seconds": round(ended - middle, 2),
    }


def gap_instances(n_cases: int, collectors: list[int], seeds: int) -> dict[str, Any]:
    """The fast path and the plain greedy against the exact optimum on nights both can solve."""
    rows = [gap_instance(n_cases, m, 1000 + s) for m in collectors for s in range(seeds)]

    def worst(key: str) -> float:
        return max(float(r[key]) for r in rows)

    def mean(key: str) -> float:
        return round(sum(float(r[key]) for r in rows) / len(rows), 6)

    return {
        "instances": rows,
        "greedy_gap_max": worst("greedy_gap"),
        "greedy_gap_mean": mean("greedy_gap"),
        "fast_gap_max": worst("fast_gap"),
        "fast_gap_mean": mean("fast_gap"),
        "fast_gap_bound_reported_max": worst("fast_gap_bound_reported"),
        "exact_gap_to_lp_bound_max": worst("exact_gap_to_lp_bound"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--collectors", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gap-cases", type=int, default=50_000)
    parser.add_argument("--gap-collectors", type=int, nargs="+", default=[150, 400, 1000])
    parser.add_argument("--gap-seeds", type=int, default=2)
    parser.add_argument("--gap-only", action="store_true")
    parser.add_argument("--no-gap", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    if not args.gap_only:
        out["time"] = time_allocation(args.cases, args.collectors, args.seed)
    if not args.no_gap:
        out["gap"] = gap_instances(args.gap_cases, args.gap_collectors, args.gap_seeds)
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
