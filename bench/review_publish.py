"""Benchmark of the review and publish stages alone, on the frames of a real night.

    .venv/bin/python bench/review_publish.py --home HOME --date 2026-11-23 [--repeat 2]

HOME is the home folder of a night already run (``bench/night.py --keep`` keeps one). The first
call scores, decides, allocates and assembles that night again from the warehouse (as
``pipeline.run`` does) and caches the frames as Parquet beside HOME (``HOME.frames/``); later
calls read the cache. Then, on a scratch copy of the warehouse, it times what the night's review
and publish stages do, piece by piece: ``review_night`` (decisions, changes against the night
before, scorecards; the decisions, holds and changes stored), ``build_report_data``, ``stage``
(every output file written and synced, holds.csv and changes.csv from the warehouse) and the
record of the night (``run._record``: allocations, scorecards, the review and the run), in a
transaction rolled back afterwards. The night is reviewed as the day after HOME's night,
so tonight's changes are computed against a real previous night. Prints one JSON line.
Figures are wall seconds on a shared machine: the line carries the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from models.score import Scores, score_night  # noqa: E402
from pipeline import warehouse  # noqa: E402
from pipeline.allocate import allocate  # noqa: E402
from pipeline.assemble import HoldCounts, NightFrames, PlacedNight, assemble  # noqa: E402
from pipeline.changes import CHANGE_KINDS  # noqa: E402
from pipeline.load import begin, case_details, rollback  # noqa: E402
from pipeline.parts import WHOLE  # noqa: E402
from pipeline.policy import load_policy  # noqa: E402
from pipeline.publish import NightOutputs, stage  # noqa: E402
from pipeline.report import build_report_data  # noqa: E402
from pipeline.review import review_night  # noqa: E402
from pipeline.run import CSV_BATCH_ROWS, _record  # noqa: E402
from pipeline.strategy import decide  # noqa: E402

FRAMES = ("cases", "debtors", "worklists", "holds", "letters", "roster", "scores", "rejects")


def _build_cache(home: Path, day: date, cache: Path) -> None:
    """The night's frames after allocation, as pipeline.run computes them, saved as Parquet."""
    policy = load_policy(home / "policy.toml")
    con = warehouse.connect(home)
    try:
        params = {"business_date": day}
        book = {**params, **WHOLE.params()}
        night = warehouse.query(con, "night_cases", book).sort("client_id", "case_id")
        roster = warehouse.query(con, "roster", {})
        scores = score_night(con, home, day)
        cases, debtors = decide(night, scores.frame, roster, policy, day)
        allocation = allocate(debtors, roster, policy)
        frames = assemble(
            cases, debtors, allocation, roster, policy, day, details=lambda k: case_details(con, k)
        )
        rejects = warehouse.query(con, "night_rejects", params)
    finally:
        con.close()
    cache.mkdir(parents=True, exist_ok=True)
    found = {
        "cases": cases,
        "debtors": debtors,
        "worklists": frames.worklists,
        "holds": frames.holds,
        "letters": frames.letters,
        "roster": roster,
        "scores": scores.frame,
        "rejects": rejects,
    }
    for name, frame in found.items():
        frame.write_parquet(cache / f"{name}.parquet")
    meta = {"method": scores.method, "version": scores.model_version, "sha": scores.model_sha256}
    (cache / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def _decisions_as_created_now(con: Any) -> None:
    """HOME's decisions in a table as a warehouse created today has it (no key index: a
    warehouse created before the index was dropped keeps it, and would be timed with it)."""
    con.execute("create table decisions_now as select * from decisions")
    con.execute("drop table decisions")
    con.execute("alter table decisions_now rename to decisions")
    con.execute("checkpoint")


def _timed(seconds: dict[str, float], name: str, started: tuple[float, float]) -> None:
    """Wall seconds and CPU seconds (all threads: the figure less bent by a shared machine)."""
    seconds[name] = round(time.perf_counter() - started[0], 3)
    seconds[f"{name}_cpu"] = round(time.process_time() - started[1], 3)


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def run(home: Path, day: date, repeat: int, keep_index: bool = False) -> dict[str, Any]:
    cache = home.with_name(home.name + ".frames")
    if not (cache / "meta.json").exists():
        _build_cache(home, day, cache)
    f = {name: pl.read_parquet(cache / f"{name}.parquet") for name in FRAMES}
    # The day after: every case was in the book the night before (a steady night, not a first).
    f["cases"] = f["cases"].with_columns(pl.col("status").alias("previous_status"))
    meta = json.loads((cache / "meta.json").read_text(encoding="utf-8"))
    scores = Scores(f["scores"], meta["method"], meta["version"], meta["sha"])
    frames = NightFrames(worklists=f["worklists"], holds=f["holds"], letters=f["letters"])
    policy = load_policy(home / "policy.toml")
    scratch = home.with_name(home.name + ".scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    shutil.copy2(home / "warehouse.duckdb", scratch / "warehouse.duckdb")
    tonight = day + timedelta(days=1)  # reviewed against HOME's night, as the day after
    runs = []
    con = warehouse.connect(scratch)
    try:
        if not keep_index:
            _decisions_as_created_now(con)
        for i in range(repeat):
            seconds: dict[str, float] = {}
            begin(con)
            t = _now()
            review = review_night(
                con,
                scratch,
                [f["cases"]],
                [frames.holds],
                [f["debtors"]],
                PlacedNight(frames.worklists, frames.letters, HoldCounts.of(frames.holds)),
                f["roster"],
                policy,
                tonight,
                scores.model_version,
                f"bench-{i}",
            )
            _timed(seconds, "review", t)
            manifest: dict[str, Any] = {
                "run_id": f"bench-{i}",
                "business_date": tonight.isoformat(),
                "started_at": datetime.now().isoformat(timespec="seconds"),
                "model": {"method": scores.method, "version": scores.model_version},
                "counts": {},
                "warnings": [],
            }
            t = _now()
            report = build_report_data(manifest, frames, f["roster"], scores, f["rejects"], review)
            _timed(seconds, "report_data", t)
            out = scratch / "out" / tonight.isoformat()
            shutil.rmtree(out, ignore_errors=True)
            params = {"business_date": tonight}
            kinds = {**params, "kinds": list(CHANGE_KINDS)}
            t = _now()
            outputs = NightOutputs(
                business_date=tonight,
                run_id=f"bench-{i}",
                worklists=frames.worklists,
                # as the night writes them: from what review_night stored
                holds=partial(warehouse.query_batches, con, "holds_csv", params, CSV_BATCH_ROWS),
                letters=frames.letters,
                rejects=f["rejects"],
                roster=f["roster"],
                manifest=manifest,
                report=report,
                changes=partial(warehouse.query_batches, con, "changes_csv", kinds, CSV_BATCH_ROWS),
                scorecards=review.scorecards,
            )
            stage(out, outputs)
            _timed(seconds, "stage_files", t)
            t = _now()
            _record(con, frames.worklists, manifest, tonight, review, f["roster"])
            _timed(seconds, "record", t)
            for unit in ("", "_cpu"):
                seconds[f"publish{unit}"] = round(
                    sum(seconds[f"{k}{unit}"] for k in ("report_data", "stage_files", "record")),
                    3,
                )
            rollback(con)
            shutil.rmtree(out.parent, ignore_errors=True)
            runs.append(seconds)
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "book": f["cases"].height,
        "worked": f["worklists"].height,
        "held": f["holds"].height,
        "collectors_with_work": f["worklists"].get_column("collector_id").n_unique(),
        "changes": sum(review.counted().changes.values()),
        "runs": runs,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--date", type=date.fromisoformat, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--keep-index", action="store_true", help="time HOME's decisions table as it is"
    )
    args = parser.parse_args()
    print(json.dumps(run(args.home, args.date, args.repeat, args.keep_index)), flush=True)


if __name__ == "__main__":
    main()
