"""Crash recovery (issue 7, point 3): `caseflow run` killed with SIGKILL, then run again.

Each trial starts from the same home (night 1 done), runs night 2 with the real command in a
subprocess and kills it: just after it reports a stage done ("✓ load" on stderr), or after a
random time. Right after the kill, a reader sees night 2 either not at all or whole (its
manifest lists every file with the right SHA-256), and the warehouse holds all of night 2 or
none of it. Then the same command runs again, and must end exactly where a run that was never
killed ends: the same CSV and XLSX bytes, the same rows in every table of the warehouse (the
audit trail of runs aside: it has one row per run by design).

The kills are real (a subprocess, SIGKILL); the clean run and the re-runs are made in-process,
which runs the same code without paying the command's start-up time again. Kill points: after
the first stage, after the load, after the last stage before publishing, after publishing
(around the commit and the move into place), and twice after a random stage plus a random delay.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline.run import run_night
from tests.nights import night, published, warehouse_state

pytestmark = pytest.mark.slow

CASEFLOW = Path(sys.executable).parent / "caseflow"
NIGHT1 = date(2026, 11, 16)
NIGHT2 = date(2026, 11, 23)
RANDOM_KILLS = 2


@dataclass(frozen=True)
class Trial:
    kill: str  # "after <stage>" (+ a delay)
    seen: list[str]  # the stages the run reported before it died
    home: Path
    out: Path


def _command(inputs: Path, out: Path, home: Path) -> list[str]:
    return [
        str(CASEFLOW),
        "run",
        "--date",
        NIGHT2.isoformat(),
        "--input",
        str(inputs),
        "--out",
        str(out),
        "--home",
        str(home),
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200", "NO_COLOR": "1"}


def _stage(line: str) -> str | None:
    return line.split("✓", 1)[1].split()[0] if "✓" in line else None


def _run_and_kill(inputs: Path, out: Path, home: Path, *, after: str, delay: float) -> Trial:
    """Start the night; SIGKILL it ``delay`` seconds after it reports stage ``after`` done."""
    process = subprocess.Popen(
        _command(inputs, out, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
        encoding="utf-8",
    )
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        stage = _stage(line)
        if stage:
            seen.append(stage)
        if stage == after:
            if delay:
                time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            break
    rest = process.stderr.read()
    process.wait(timeout=120)
    kill = f"after {after}" + (f" + {delay:.2f} s" if delay else "")
    if process.returncode == 0:  # a fast machine may end the night within the delay
        kill += " (the night ended first)"
    else:
        assert process.returncode == -signal.SIGKILL, f"{kill}: {seen} {rest}"
    return Trial(kill, seen, home, out)


def _assert_whole_or_absent(out: Path) -> None:
    """A reader never sees part of a night: no folder, or a manifest that lists every file."""
    if not out.exists():
        return
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = manifest["outputs"]
    present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert present == set(listed) | {"manifest.json"}
    for name, entry in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"], name


def _night2_rows(home: Path) -> tuple[int, int]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        files = con.execute(
            "select count(*) from received_files where business_date = ?", [NIGHT2]
        ).fetchall()[0][0]
        allocated = con.execute(
            "select count(*) from allocations where business_date = ?", [NIGHT2]
        ).fetchall()[0][0]
    finally:
        con.close()
    return int(files), int(allocated)


def _stages(inputs: Path, out: Path, home: Path) -> list[str]:
    """Run the night in-process, as a clean run; the stages it reports, in order."""
    seen: list[str] = []
    run_night(NIGHT2, inputs, out, home, on_stage=lambda stage, _: seen.append(stage))
    return seen


def test_a_night_killed_anywhere_and_run_again_ends_as_a_clean_run(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    night(NIGHT1, 150, seed=1).write(inputs / "night1")
    tonight = night(NIGHT2, 150, seed=2)
    tonight.collectors[0]["daily_capacity"] = 30  # a roster change tonight
    tonight.write(inputs / "night2")
    base = tmp_path / "base"
    run_night(NIGHT1, inputs / "night1", tmp_path / "out-base" / "night1", base)

    clean_home = tmp_path / "clean"
    shutil.copytree(base, clean_home)
    stages = list(dict.fromkeys(_stages(inputs / "night2", tmp_path / "clean-out", clean_home)))
    assert stages[0] == "ingest" and stages[-1] == "publish" and "load" in stages, stages
    clean_bytes = published(tmp_path / "clean-out")
    clean_state = warehouse_state(clean_home)
    clean_rows = _night2_rows(clean_home)

    rng = random.Random(20261123)
    plans: list[tuple[str, float]] = [(s, 0.0) for s in ("ingest", "load", stages[-2], "publish")]
    plans += [(rng.choice(stages), rng.uniform(0.0, 0.3)) for _ in range(RANDOM_KILLS)]

    def trial(n: int, plan: tuple[str, float]) -> Trial:
        home = tmp_path / f"home{n}"
        shutil.copytree(base, home)
        out = tmp_path / f"out{n}" / "night2"
        return _run_and_kill(inputs / "night2", out, home, after=plan[0], delay=plan[1])

    with ThreadPoolExecutor(max_workers=2) as pool:
        trials = list(pool.map(trial, range(len(plans)), plans))

    found = []
    for t in trials:
        _assert_whole_or_absent(t.out)
        rows = _night2_rows(t.home)
        assert rows in {(0, 0), clean_rows}, t.kill  # all of the night or none of it
        state = "published" if t.out.exists() else "committed" if rows[0] else "nothing"
        found.append(f"{t.kill}: {state}")
        run_night(NIGHT2, inputs / "night2", t.out, t.home)
        assert published(t.out) == clean_bytes, t.kill
        assert warehouse_state(t.home) == clean_state, t.kill
    print("kills and what they left:", "; ".join(found))
