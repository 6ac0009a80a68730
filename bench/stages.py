"""Load and score alone, on a world read and validated once: the stages issue 8 works on.

    .venv/bin/python bench/stages.py --cases 1000000            # R6 rule
    .venv/bin/python bench/stages.py --cases 1000000 --model    # the model of bench/night.py

The first call ingests and validates the world (bench/world_gen.py, cached by bench/night.py)
and keeps the validated frames as Parquet beside it (``validated/``); later calls start from
them, so a change to load or score is measured in seconds, not after minutes of validation.
Each call loads the night into a fresh warehouse in one transaction (as ``caseflow run`` does),
then times the night's book and features (read as the night reads them: one query on the
contact stats, ``models.features.night_inputs``), the roster and the scoring (without the
reasons, as the night scores its book), and prints one JSON
line with the seconds of each, the peak memory (VmHWM) and the machine's load.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import warehouse  # noqa: E402
from pipeline.ingest import ReceivedFile, ingest  # noqa: E402
from pipeline.load import begin, load, rollback  # noqa: E402


def book_and_features(
    con: duckdb.DuckDBPyConnection, business_date: date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The night's book and features as this caseflow reads them; a caseflow from before one
    query gave both (or before the contact stats) reads them apart, to measure the "before"."""
    from models import features

    if hasattr(features, "night_inputs"):
        return features.night_inputs(con, business_date)
    try:
        from pipeline.load import night_book

        book = night_book(con, business_date)
    except ImportError:
        book = warehouse.query(con, "night_cases", {"business_date": business_date})
    return book, features.night_features(con, business_date)


from pipeline.validate import validate  # noqa: E402

WORLD = ROOT / "bench" / "world"


def world_dir(cases: int, seed: int) -> Path:
    found = sorted(WORLD.glob(f"n{cases}-s{seed}-c*"))
    if not found:
        raise SystemExit(f"no world of {cases} cases: run bench/night.py --cases {cases} first")
    return found[0]


def validated(
    world: Path, business_date: date
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, list[ReceivedFile]]:
    """The world's validated frames, rejects and files (computed once, then read back)."""
    cache = world / "validated"
    if not (cache / "files.json").exists():
        home = Path(tempfile.mkdtemp(prefix="stages-ingest-"))
        try:
            received = ingest(
                world / "incoming" / business_date.isoformat(), home, business_date, {}
            )
            checked = validate(received.tables, business_date)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        cache.mkdir(exist_ok=True)
        for kind, frame in checked.frames.items():
            frame.write_parquet(cache / f"{kind}.parquet")
        checked.rejects.write_parquet(cache / "rejects.parquet")
        described = [f.__dict__ for f in received.files]
        (cache / "files.json").write_text(json.dumps(described), encoding="utf-8")
    frames = {p.stem: pl.read_parquet(p) for p in cache.glob("*.parquet") if p.stem != "rejects"}
    rejects = pl.read_parquet(cache / "rejects.parquet")
    files = [ReceivedFile(**f) for f in json.loads((cache / "files.json").read_text())]
    return frames, rejects, files


@contextmanager
def timed(name: str, wall: dict[str, float], cpu: dict[str, float]) -> Iterator[None]:
    """Wall and CPU seconds of the block (CPU: all the process's threads; on a shared machine
    the steadier figure)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    yield
    wall[name] = time.perf_counter() - start
    cpu[name] = time.process_time() - start_cpu


def peak_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", action="store_true", help="score with bench/night.py's model")
    args = parser.parse_args()
    world = world_dir(args.cases, args.seed)
    business_date = date.fromisoformat(
        json.loads((world / "world.json").read_text())["business_date"]
    )
    load_before = os.getloadavg()[0]
    frames, rejects, files = validated(world, business_date)
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds of the process (DuckDB's threads too)
    home = Path(tempfile.mkdtemp(prefix="stages-home-"))
    try:
        if args.model:
            shutil.copytree(WORLD / "model-home" / "models", home / "models")
        from models.score import night_scorer  # as run.py imports it (after the load's modules)

        con = warehouse.connect(home)
        begin(con)
        try:
            with timed("load", seconds, cpu):
                stats = load(con, frames, rejects, files, business_date)
            del frames
            with timed("book_and_features", seconds, cpu):
                night, features = book_and_features(con, business_date)
            with timed("score", seconds, cpu):
                warehouse.query(con, "roster", {})
                scorer = night_scorer(home)
                # as the night scores its book: the reasons are worded later, for the worked
                # cases (a caseflow from before that scores with them has no ``explain``; asked
                # of the signature, so a TypeError inside the scoring is not taken for that)
                if "explain" in inspect.signature(scorer.score).parameters:
                    scored = scorer.score(features, explain=False)
                else:
                    scored = scorer.score(features)
                scores = scorer.scores(*scored)
        finally:
            rollback(con)
            con.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result: dict[str, Any] = {
        "cases": args.cases,
        "method": scores.method,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "score_stage": round(seconds["book_and_features"] + seconds["score"], 2),
        "scored_per_second": round(scores.frame.height / seconds["score"]),
        "book": night.height,
        "loaded": stats.__dict__,
        "peak_mb": peak_mb(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
