"""The night benchmark at a tiny size, so that it (and the pandas baseline) cannot rot.

``bench/night.py`` is run as ``make bench`` runs it, in a child process, on a 2,000-case world in
a temporary folder; its one JSON line must hold every stage's time and sane figures. The world
generator is checked for what the benchmark relies on: the same seed gives the same bytes, and its
values pass the contract's checks except for the few bad rows it plants.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from stdnum import luhn
from stdnum.iso7064 import mod_11_2

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
STAGES = {"ingest", "validate", "load", "score", "strategy", "allocate", "publish"}
HAS_PANDAS = importlib.util.find_spec("pandas") is not None

sys.path.insert(0, str(BENCH))

from world_gen import ensure_world  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One run of the benchmark (with the baseline when pandas is installed), kept for reading."""
    world = tmp_path_factory.mktemp("bench-world")
    cmd = [sys.executable, str(BENCH / "night.py"), "--cases", "2000", "--world", str(world)]
    cmd += ["--keep", "--next-night"] + (["--baseline"] if HAS_PANDAS else [])
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"one JSON line expected on stdout, got {len(lines)}"
    return json.loads(lines[0]), world


def test_the_line_times_every_stage_and_counts_what_was_written(
    bench_run: tuple[dict[str, Any], Path],
) -> None:
    line, _ = bench_run
    assert line["cases"] == 2000
    assert line["collectors"] == 20  # max(N/5,000, 20)
    assert 4 <= line["notes"] / line["cases"] <= 6
    assert 0.25 <= line["payments"] / line["cases"] <= 0.35
    assert set(line["stages"]) >= STAGES, f"stages missing: {STAGES - set(line['stages'])}"
    assert all(seconds >= 0 for seconds in line["stages"].values())
    assert 0 < line["stages_seconds"] <= line["wall_seconds"]
    assert line["cases_per_second"] > 0
    assert 50 < line["peak_rss_mb"] < 8000  # the child's own peak, from the kernel
    memory = line["memory_by_stage"]  # read from /proc as each stage line appears
    assert memory and set(memory) <= set(line["stages"])
    assert all(0 < m["peak_mb"] <= line["peak_rss_mb"] + 1 for m in memory.values())
    cpu = line["cpu_by_stage"]  # CPU seconds of each stage, from /proc, and the night's own
    assert cpu and set(cpu) <= set(line["stages"]) and all(s >= 0 for s in cpu.values())
    assert 0 < sum(cpu.values()) <= line["cpu_seconds"] + 0.1
    written = line["rows_written"]
    assert written["worklists"] > 0
    assert written["worklist_files_csv"] > 0
    assert written["worklist_files_csv"] == written["worklist_files_xlsx"]
    assert written["holds"] > 0 and written["rejected"] > 0
    assert written["total"] == sum(
        written[k] for k in ("worklists", "letters", "holds", "rejected")
    )
    # every case of the book ends the night in one place (CONTRACT.md)
    counts = line["counts"]
    assert counts["worked"] + counts["held"] == counts["book"]
    assert line["machine"]["nproc"] >= 1 and line["machine"]["memory_gb"] > 0


def test_a_night_that_fails_still_gives_its_line_with_the_stages_it_finished(
    tmp_path: Path,
) -> None:
    """A night out of memory inside DuckDB (the 10M night's way to end, issue 8) is a figure
    worth printing, like one the benchmark stops: the failure, the stages done, the peak."""
    cmd = [sys.executable, str(BENCH / "night.py"), "--cases", "2000", "--world", str(tmp_path)]
    env = {**os.environ, "CASEFLOW_DUCKDB_MEMORY": "8MB"}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    line = json.loads(done.stdout)
    assert line["outcome"].startswith("failed (exit 1): error: the warehouse ran out of memory")
    assert {"ingest", "validate"} <= set(line["stages"]) and "publish" not in line["stages"]
    assert line["peak_rss_mb"] > 50 and "wall_seconds" not in line


def test_the_baseline_runs_on_the_same_world_and_gives_the_ratio(
    bench_run: tuple[dict[str, Any], Path],
) -> None:
    if not HAS_PANDAS:
        pytest.skip("pandas is not installed: the baseline needs `pip install -e '.[bench]'`")
    line, world = bench_run
    baseline = line["baseline"]
    assert baseline["wall_seconds"] > 0 and line["baseline_over_caseflow"] > 0
    assert baseline["book"] == line["counts"]["book"]  # the same cases read and kept
    assert baseline["rows_rejected"] == line["counts"]["rows_rejected"]
    assert 0 < baseline["worked"] <= line["capacity"]
    assert baseline["worklist_files"] > 0
    # no deprecation or other warning from pandas: the baseline keeps running on upgrades
    log = next(world.glob("*/run/baseline-log/stderr.txt")).read_text(encoding="utf-8")
    assert "Warning" not in log, log[-2000:]


def test_the_night_after_runs_on_the_warehouse_the_first_left_with_a_day_of_notes(
    bench_run: tuple[dict[str, Any], Path],
) -> None:
    """--next-night: the night a bank runs every day once its history is loaded (the book sent
    again, one day's notes and payments), on the same home, timed like the first."""
    line, world = bench_run
    after = line["next_night"]
    assert after["outcome"] == "published" and after["business_date"] == "2026-11-24"
    assert set(after["stages"]) >= STAGES and after["wall_seconds"] > 0
    assert after["cases"] == line["cases"]
    assert 0 < after["notes"] < line["notes"] / 20  # a day's notes, not the history's
    counts = after["counts"]
    assert counts["book"] > 0 and counts["worked"] + counts["held"] == counts["book"]
    home = next(world.glob("*/run/home"))
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    published = con.execute(
        "select business_date from runs where outcome = 'published' order by 1"
    ).fetchall()
    notes = con.execute("select count(*) from contacts").fetchall()[0][0]
    con.close()
    assert [str(d) for (d,) in published] == ["2026-11-23", "2026-11-24"]
    assert notes > line["notes"] * 0.99  # the first night's notes are still there


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_same_seed_makes_the_same_world(tmp_path: Path) -> None:
    one = ensure_world(tmp_path / "a", 500, seed=3)
    two = ensure_world(tmp_path / "b", 500, seed=3)
    other = ensure_world(tmp_path / "c", 500, seed=4)
    assert _files(one.incoming) == _files(two.incoming)
    assert _files(one.incoming) != _files(other.incoming)
    assert ensure_world(tmp_path / "a", 500, seed=3).facts["reused"]


def test_the_world_values_pass_the_contract_checks_but_a_planted_few(tmp_path: Path) -> None:
    world = ensure_world(tmp_path, 20_000, seed=5)
    cases = pl.concat([pl.read_parquet(p) for p in sorted(world.incoming.glob("cases_*"))])
    assert cases.get_column("client_id").n_unique() == 3
    ids = cases.get_column("id_number").drop_nulls().to_list()
    cards = cases.filter(pl.col("product") == "credit_card").get_column("card_number").to_list()
    phones = cases.get_column("phone").drop_nulls().to_list()
    mobile, landline = re.compile(r"1[3-9]\d{9}"), re.compile(r"0\d{2,3}-\d{7,8}")
    bad_ids = sum(not mod_11_2.is_valid(v) for v in ids)
    bad_cards = sum(not luhn.is_valid(v) for v in cards)
    bad_phones = sum(not (mobile.fullmatch(v) or landline.fullmatch(v)) for v in phones)
    assert all(len(v) == 18 for v in ids) and all(len(v) == 16 for v in cards)
    for bad, total in ((bad_ids, len(ids)), (bad_cards, len(cards)), (bad_phones, len(phones))):
        assert bad / total < 0.005
    assert bad_ids + bad_cards + bad_phones > 0  # some are planted
    assert sum(v.startswith(("13", "15", "18", "19")) for v in phones) > len(phones) / 2
    roster = pl.read_csv(world.incoming / "collectors.csv")
    shares = roster.get_column("channel").value_counts(normalize=True)
    assert set(shares.get_column("channel")) == {"phone", "visit", "letter"}
    payments = pl.read_csv(world.incoming / "payments.csv", infer_schema=False)
    forms = payments.get_column("paid_on").str.replace_all(r"\d", "9").value_counts()
    assert {"9999-99-99", "9999/99/99", "99999999"} <= set(forms.get_column("paid_on"))
