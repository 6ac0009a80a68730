"""Benchmark of ingest + validate alone, on a cached bench world (``bench/world_gen.py``).

    .venv/bin/python bench/validate.py --cases 1000000
    .venv/bin/python bench/validate.py --cases 10000000 --steps

Runs ``pipeline.ingest.ingest`` and ``pipeline.validate.validate`` in this process on the world's
incoming folder, with a fresh temporary home (the archive is written there, as a night would),
and prints ONE JSON line: the seconds of each stage (wall and CPU), the peak resident memory
after each (VmHWM from /proc, the kernel's own figure), the rows per kind that went on and the
reject count by rule, and the machine's load before and after (2 cores shared: a load above ~1 means
other work shared the CPUs). ``--steps`` adds validate's seconds per kind.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from world_gen import ensure_world  # noqa: E402


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu() -> float:
    """This process's CPU seconds (user + system): on a shared machine, beside the wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--steps", action="store_true", help="validate's seconds per kind")
    parser.add_argument(
        "--dump", type=Path, help="write the good frames and the rejects as Parquet here (to diff)"
    )
    args = parser.parse_args()

    import polars as pl

    from pipeline import validate as v
    from pipeline.ingest import ingest

    world = ensure_world(BENCH / "world", args.cases, args.seed)
    load_before = os.getloadavg()
    line: dict[str, Any] = {"cases": args.cases, "rss_start_mb": round(_status_mb("VmRSS"))}
    home = Path(tempfile.mkdtemp(prefix="caseflow-bench-"))
    try:
        start, cpu = time.perf_counter(), _cpu()
        received = ingest(world.incoming, home, world.business_date, {})
        line["ingest_s"] = round(time.perf_counter() - start, 2)
        line["ingest_cpu_s"] = round(_cpu() - cpu, 2)
        line["ingest_peak_mb"] = round(_status_mb("VmHWM"))
        line["rows_read"] = {k: t.height for k, t in received.tables.items()}
        start = time.perf_counter()
        if args.steps:
            per_kind: dict[str, float] = {}
            for kind, table in sorted(received.tables.items()):
                t0 = time.perf_counter()
                good, _ = v.validate_kind(kind, table, world.business_date)
                v.superseded(kind, good)
                per_kind[kind] = round(time.perf_counter() - t0, 2)
            line["validate_by_kind_s"] = per_kind
            start = time.perf_counter()
        cpu = _cpu()
        checked = v.validate(received.tables, world.business_date)
        line["validate_s"] = round(time.perf_counter() - start, 2)
        line["validate_cpu_s"] = round(_cpu() - cpu, 2)
        line["peak_mb"] = round(_status_mb("VmHWM"))
        line["rss_end_mb"] = round(_status_mb("VmRSS"))
        line["rows_good"] = {k: f.height for k, f in checked.frames.items()}
        line["rejects_by_rule"] = dict(
            checked.rejects.group_by("rule").len().sort("rule").iter_rows()
        )
        if args.dump is not None:
            args.dump.mkdir(parents=True, exist_ok=True)
            checked.rejects.write_parquet(args.dump / "rejects.parquet")
            for kind, frame in checked.frames.items():
                frame.write_parquet(args.dump / f"{kind}.parquet")
        line["ingest_plus_validate_s"] = round(line["ingest_s"] + line["validate_s"], 2)
        del pl
    finally:
        shutil.rmtree(home, ignore_errors=True)
    line["load_before"] = [round(x, 2) for x in load_before]
    line["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
