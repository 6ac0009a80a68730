"""Benchmark of the strategy and allocate stages alone, on a loaded night, with an equality check.

    .venv/bin/python bench/strategy.py prepare --world bench/world/n1000000-s7-c200 --scratch S
    .venv/bin/python bench/strategy.py run --scratch S --save ref      # the reference outputs
    .venv/bin/python bench/strategy.py run --scratch S --compare ref   # after a change

``prepare`` loads the world's night into a scratch home (ingest, validate, load, committed) with
the cached model of ``bench/night.py --model``, and keeps the inputs of the strategy stage
(the night's book, the roster, the scores) as Parquet. ``run`` then times what the night does
in its "strategy" (``evidence.gather`` and ``strategy.decide``) and "allocate" (``allocate``)
stages, wall and CPU seconds each, on the scratch warehouse (never committed), and either saves
the outputs (cases, debtors, assigned, unassigned, the allocation's figures) or compares them
with saved ones: the frames must be equal; the objective the same or higher. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from pipeline import warehouse  # noqa: E402
from pipeline.allocate import allocate  # noqa: E402
from pipeline.evidence import gather  # noqa: E402
from pipeline.load import begin, commit, night_book  # noqa: E402
from pipeline.policy import load_policy  # noqa: E402
from pipeline.strategy import decide  # noqa: E402

FIGURES = ("objective", "upper_bound", "gap_bound", "assigned", "over_capacity", "method")


def prepare(world: Path, scratch: Path, policy: Path | None) -> None:
    from datetime import date

    from models.score import score_night
    from pipeline.run import Timer, _ingest_and_load

    facts = json.loads((world / "world.json").read_text())
    business_date = date.fromisoformat(facts["business_date"])
    home = scratch / "home"
    if scratch.exists():
        shutil.rmtree(scratch)
    home.mkdir(parents=True)
    shutil.copytree(BENCH / "world" / "model-home" / "models", home / "models")
    if policy is not None:
        shutil.copy(policy, home / "policy.toml")
    con = warehouse.connect(home)
    begin(con)
    incoming = world / "incoming" / business_date.isoformat()
    _ingest_and_load(con, incoming, home, business_date, Timer())
    commit(con)
    night_book(con, business_date).write_parquet(scratch / "night.parquet")
    warehouse.query(con, "roster", {}).write_parquet(scratch / "roster.parquet")
    score_night(con, home, business_date).frame.write_parquet(scratch / "scores.parquet")
    con.close()
    (scratch / "date").write_text(business_date.isoformat())


def _timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run(
    scratch: Path, save: Path | None, compare: Path | None, policy_path: Path | None = None
) -> dict[str, Any]:
    from datetime import date

    business_date = date.fromisoformat((scratch / "date").read_text().strip())
    home = scratch / "home"
    policy = load_policy(policy_path or home / "policy.toml")
    night = pl.read_parquet(scratch / "night.parquet")
    roster = pl.read_parquet(scratch / "roster.parquet")
    scores = pl.read_parquet(scratch / "scores.parquet")
    con = warehouse.connect(home)
    try:
        evidence, g_wall, g_cpu = _timed(gather, con, business_date, policy)
    finally:
        con.close()
    (cases, debtors), d_wall, d_cpu = _timed(
        decide, night, scores, roster, policy, business_date, evidence
    )
    allocation, a_wall, a_cpu = _timed(allocate, debtors, roster, policy)
    stats = allocation.stats
    out: dict[str, Any] = {
        "load_1min": round(os.getloadavg()[0], 2),
        "rule_pack": policy.rule_pack,
        "gather": [round(g_wall, 2), round(g_cpu, 2)],
        "decide": [round(d_wall, 2), round(d_cpu, 2)],
        "strategy": [round(g_wall + d_wall, 2), round(g_cpu + d_cpu, 2)],
        "allocate": [round(a_wall, 2), round(a_cpu, 2)],
        "lp": stats["lp"],
        "shortlist": stats["shortlist"],
        **{k: stats[k] for k in FIGURES},
    }
    frames = {
        "cases": cases,
        "debtors": debtors.sort("debtor_key"),
        "assigned": allocation.assigned.sort("debtor_key"),
        "unassigned": allocation.unassigned,
    }
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            frame.write_parquet(save / f"{name}.parquet")
        (save / "figures.json").write_text(json.dumps({k: stats[k] for k in FIGURES}))
    if compare is not None:
        same = {}
        for name, frame in frames.items():
            ref = pl.read_parquet(compare / f"{name}.parquet")
            if name == "cases" and set(frame.columns) == set(ref.columns):
                frame = frame.select(ref.columns)  # the columns' order may differ, not the rows'
            same[name] = frame.equals(ref)
        ref_figures = json.loads((compare / "figures.json").read_text())
        out["same"] = same
        out["ref_objective"] = ref_figures["objective"]
        out["objective_delta"] = round(stats["objective"] - ref_figures["objective"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--world", type=Path, required=True)
    p.add_argument("--scratch", type=Path, required=True)
    p.add_argument("--policy", type=Path, default=None)
    r = sub.add_parser("run")
    r.add_argument("--scratch", type=Path, required=True)
    r.add_argument("--save", type=Path, default=None)
    r.add_argument("--compare", type=Path, default=None)
    r.add_argument("--policy", type=Path, default=None, help="instead of the home's policy.toml")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.world, args.scratch, args.policy)
    else:
        print(json.dumps(run(args.scratch, args.save, args.compare, args.policy)), flush=True)


if __name__ == "__main__":
    main()
