"""Benchmark of a whole night: the real ``caseflow run`` on a synthetic bank of N cases.

    .venv/bin/python bench/night.py --cases 1000000                 # `make bench`
    .venv/bin/python bench/night.py --cases 1000000 --baseline      # and the pandas baseline
    .venv/bin/python bench/night.py --cases 1000000 --model         # score with a trained model
    .venv/bin/python bench/night.py --cases 10000000 --keep         # keep home and outputs
    .venv/bin/python bench/night.py --cases 3000000 --part-cases 300000  # 10 parts of 300k
    .venv/bin/python bench/night.py --cases 1000000 --next-night    # and the night after

Makes (or reuses) the seeded world of ``bench/world_gen.py`` under ``bench/world/`` (git-ignored:
N cases, ~5 notes and ~0.3 payments a case, max(N/5,000, 20) collectors, Parquet and CSV), then
runs ``caseflow run --quiet`` on it in a child process with a fresh home folder and prints ONE
JSON line on stdout: the wall time of every stage (from the stage lines the night prints), the
child's whole wall time (Python start, imports and the final checkpoint included), cases per
second, the peak memory of the child process tree as the operating system accounts it (the
``ru_maxrss`` of ``wait4`` on the child, i.e. RUSAGE_CHILDREN for that child alone, in MB), the
rows written (from the out folder's manifest.json "outputs"), the world's size and the machine.

``--model`` first trains a model once on ``data/samples/history`` in a cached home
(``bench/world/model-home``) and copies its ``models/`` folder into the night's home, so the night
scores with a real model; without it the night ranks by the R6 rule. ``--baseline`` also runs
``bench/baseline_pandas.py`` (the same night written the plain pandas way) on the same files in
its own child process, and adds its time, memory and the ratio to the same line.
``--part-cases`` runs the night through ``bench/in_parts.py`` with smaller parts of the book, to
see how a stage grows with the number of parts on a smaller world (bench only).
``--next-night`` then runs the night after on the same home (``world_gen.make_next_night``: the
book sent again, a day's notes and payments), the night a bank runs every day once the history
is loaded, and adds its figures under ``next_night``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SAMPLES_HISTORY = ROOT / "data" / "samples" / "history"
# the manifest's counts worth a place in the line (the rest is in the kept manifest)
COUNTS = (
    "book",
    "worked",
    "worked_by_channel",
    "held",
    "letters",
    "rows_rejected",
    "collectors_with_work",
)

sys.path.insert(0, str(BENCH))

from world_gen import World, ensure_next_night, ensure_world  # noqa: E402


@dataclass(frozen=True)
class Child:
    """One finished child process: exit code, wall time, peak RSS, and what it printed."""

    code: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float  # user and system, of the whole process tree (wait4)
    stdout: str
    stderr: str
    killed: str | None = None  # why the benchmark stopped it (--timeout, --max-rss-gb)


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


class StageMemory:
    """The child's memory as each stage ends: watches its stderr for stage lines and reads the
    kernel's figures for the process when one appears (VmHWM: the peak resident set so far;
    VmRSS: the resident set now), so the line can say which stage sets the peak."""

    def __init__(self, err_path: Path) -> None:
        self.err_path = err_path
        self.offset = 0
        self.partial = b""
        self.by_stage: dict[str, dict[str, int]] = {}
        # the CPU seconds (every thread's) each stage took: steadier than its wall time on a
        # machine that other work shares, to compare two versions by
        self.cpu_by_stage: dict[str, float] = {}
        self.cpu_before = 0.0

    def __call__(self, pid: int) -> None:
        with self.err_path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for line in lines:
            stage = next(iter(stage_lines(line.decode("utf-8", errors="replace"))), None)
            if stage is not None:
                self.by_stage[stage] = proc_memory_mb(pid)
                cpu = proc_cpu_seconds(pid)
                if cpu is not None:
                    self.cpu_by_stage[stage] = round(cpu - self.cpu_before, 2)
                    self.cpu_before = cpu


def proc_memory_mb(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of ``pid`` in MB (empty if it is gone)."""
    found: dict[str, int] = {}
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return found
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[{"VmHWM": "peak_mb", "VmRSS": "rss_mb"}[key]] = int(value.split()[0]) // 1024
    return found


def proc_cpu_seconds(pid: int) -> float | None:
    """The user and system CPU seconds of ``pid``'s threads so far (None if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command's name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_child(
    cmd: list[str],
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    watch: Callable[[int], None] | None = None,
    max_rss_mb: float | None = None,
) -> Child:
    """Run ``cmd`` to the end, or kill its tree after ``timeout`` seconds or once its resident
    set passes ``max_rss_mb`` (a night too big for the machine is stopped before the kernel's
    OOM killer picks a victim among other people's work); its peak memory comes from the
    kernel's accounting (wait4). ``watch(pid)`` is called every 20 ms while it runs.

    ``wait4`` returns the child's own rusage, whose ``ru_maxrss`` is the largest resident set of
    the child and of every descendant it waited for: the process tree's peak, and only this
    child's (an earlier child of the benchmark, such as the baseline, cannot leak into it).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    killed = None
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=err, env=env, start_new_session=True
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if watch is not None:
                watch(process.pid)
            elapsed = time.perf_counter() - started
            if timeout is not None and elapsed > timeout:
                killed = f"killed after {elapsed:.0f} s (--timeout)"
            elif max_rss_mb is not None:
                rss = proc_memory_mb(process.pid).get("rss_mb", 0)
                if rss > max_rss_mb:
                    killed = f"killed at {rss / 1024:.1f} GB after {elapsed:.0f} s (--max-rss-gb)"
            if killed is not None:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: only its tree
                _, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
    return Child(
        code=process.returncode,
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
        killed=killed,
    )


def caseflow_command(profile: Path | None, part_cases: int | None = None) -> list[str]:
    """The installed ``caseflow`` script beside this interpreter, else ``python cli.py``; with
    ``part_cases``, ``bench/in_parts.py`` (the same command line, parts of that many cases)."""
    if part_cases is not None:
        entry = [str(BENCH / "in_parts.py"), str(part_cases)]
    else:
        entry = [str(ROOT / "cli.py")]
    if profile is not None:
        return [sys.executable, "-m", "cProfile", "-o", str(profile), *entry]
    if part_cases is not None:
        return [sys.executable, *entry]
    script = Path(sys.executable).parent / "caseflow"
    return [str(script)] if script.exists() else [sys.executable, *entry]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CASEFLOW_HOME", None)  # the night's home is always --home
    return env


def failure(child: Child) -> str:
    """A night that failed, as the line says it: the exit code and caseflow's error message (a
    night out of memory in DuckDB is a result worth a line, not a crash of the benchmark)."""
    lines = [line for line in child.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    # without caseflow's own message, the last line (a traceback's names the exception)
    said = errors[-1] if errors else (lines[-1].strip() if lines else "nothing on stderr")
    return f"failed (exit {child.code}): {said}"


def stage_lines(stderr: str) -> dict[str, float]:
    """The ``{"stage": ..., "seconds": ...}`` lines of ``caseflow run --quiet``, in order."""
    stages: dict[str, float] = {}
    for line in stderr.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "stage" in record and "seconds" in record:
            stages[str(record["stage"])] = round(float(record["seconds"]), 3)
    return stages


def rows_written(out_dir: Path) -> dict[str, Any]:
    """Rows per kind of output, from manifest.json "outputs" (CSV files counted, not XLSX)."""
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest.get("counts", {})
    outputs: dict[str, dict[str, Any]] = manifest.get("outputs", {})
    worklists = {name: spec for name, spec in outputs.items() if name.startswith("worklists/")}
    csv_lists = [spec for name, spec in worklists.items() if name.endswith(".csv")]
    xlsx_lists = [spec for name, spec in worklists.items() if name.endswith(".xlsx")]

    def rows(name: str) -> int:
        return int(outputs.get(name, {}).get("rows") or 0)

    written = {
        "worklists": sum(int(s.get("rows") or 0) for s in csv_lists),
        "worklist_files_csv": len(csv_lists),
        "worklist_files_xlsx": len(xlsx_lists),
        "letters": rows("letters.csv"),
        "holds": rows("holds.csv"),
        "rejected": rows("rejected.csv"),
        "bytes": sum(int(s.get("bytes") or 0) for s in outputs.values()),
    }
    written["total"] = (
        written["worklists"] + written["letters"] + written["holds"] + written["rejected"]
    )
    return {
        "rows_written": written,
        "model": manifest.get("model", {}),
        "counts": {k: counts[k] for k in COUNTS if k in counts},
    }


def machine(load_before: float) -> dict[str, Any]:
    """The machine, and how busy it was: on 2 cores a load above ~1 before the run means other
    work shared the CPUs and every time in the line is inflated."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(pages / 2**30, 1),
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def trained_models(base: Path) -> Path:
    """HOME/models of a home trained once on the samples' history (cached under ``base``)."""
    home = base / "model-home"
    models = home / "models"
    if (models / "registry.json").exists():
        return models
    say(f"training a model on {SAMPLES_HISTORY} in {home} (once)")
    if home.exists():
        shutil.rmtree(home)
    sys.path.insert(0, str(ROOT))
    from datetime import date

    from models.train import train
    from pipeline import warehouse
    from pipeline.locking import home_lock
    from pipeline.run import load_night

    for folder in sorted(SAMPLES_HISTORY.iterdir()):
        load_night(folder, home, date.fromisoformat(folder.name))
    with home_lock(home):
        con = warehouse.connect(home)
        try:
            say(train(con, home).summary())
        finally:
            con.close()
    return models


def run_caseflow(
    world: World,
    work: Path,
    models: Path | None,
    profile: Path | None,
    limits: tuple[float | None, float | None],
    part_cases: int | None = None,
    *,
    fresh: bool = True,
) -> dict[str, Any]:
    """One night of ``caseflow run --quiet`` on a fresh home (``fresh``), else on the home the
    night before left; the figures of the JSON line."""
    home, out_root = work / "home", work / "out"
    if fresh:
        for folder in (home, out_root):
            if folder.exists():
                shutil.rmtree(folder)
        home.mkdir(parents=True)
        if models is not None:
            shutil.copytree(models, home / "models")
    out_dir = out_root / world.business_date.isoformat()
    cmd = [
        *caseflow_command(profile, part_cases),
        "run",
        "--quiet",
        "--date",
        world.business_date.isoformat(),
        "--input",
        str(world.incoming),
        "--out",
        str(out_dir),
        "--home",
        str(home),
    ]
    say(f"caseflow run on {world.facts['cases']} cases")
    memory = StageMemory(work / "caseflow-log" / "stderr.txt")
    timeout, max_rss_mb = limits
    child = run_child(cmd, work / "caseflow-log", child_env(), timeout, memory, max_rss_mb)
    stages = stage_lines(child.stderr)
    if child.killed or child.code != 0:  # the stages that finished say where the time went
        return {
            "outcome": child.killed or failure(child),
            "stages": stages,
            "peak_rss_mb": round(child.peak_rss_mb),
            "memory_by_stage": memory.by_stage,
        }
    night = rows_written(out_dir)
    seconds = round(child.seconds, 2)
    return {
        "outcome": "published",
        "stages": stages,
        "stages_seconds": round(sum(stages.values()), 2),
        "wall_seconds": seconds,
        # Python start, imports, warehouse open and the final checkpoint: outside every stage
        "outside_stages_seconds": round(child.seconds - sum(stages.values()), 2),
        "cases_per_second": round(world.facts["cases"] / child.seconds),
        # the score stage: tonight's features, the model's (or R6's) p_repay and the reasons
        "score_cases_per_second": round(night["counts"].get("book", 0) / stages["score"])
        if stages.get("score")
        else None,
        "peak_rss_mb": round(child.peak_rss_mb),
        # the process's peak so far and its resident set as each stage ended (from /proc)
        "memory_by_stage": memory.by_stage,
        "cpu_seconds": round(child.cpu_seconds, 2),
        "cpu_by_stage": memory.cpu_by_stage,
        **night,
    }


def next_night(
    world: World, work: Path, limits: tuple[float | None, float | None], part_cases: int | None
) -> dict[str, Any]:
    """The night after ``world``'s, on the home its night left: what it was sent, and the
    figures of ``run_caseflow``."""
    after = ensure_next_night(world, say=say)
    facts = after.facts
    say(f"next night {after.business_date}: {'reused' if facts['reused'] else 'made'}")
    sent = {k: facts[k] for k in ("business_date", "cases", "notes", "payments")}
    return {**sent, **run_caseflow(after, work, None, None, limits, part_cases, fresh=False)}


def run_baseline(
    world: World, work: Path, limits: tuple[float | None, float | None]
) -> dict[str, Any]:
    """The pandas baseline on the same files, in its own child process."""
    out_dir = work / "baseline-out"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    cmd = [
        sys.executable,
        str(BENCH / "baseline_pandas.py"),
        "--date",
        world.business_date.isoformat(),
        "--input",
        str(world.incoming),
        "--out",
        str(out_dir),
    ]
    say(f"pandas baseline on {world.facts['cases']} cases")
    timeout, max_rss_mb = limits
    child = run_child(cmd, work / "baseline-log", timeout=timeout, max_rss_mb=max_rss_mb)
    if child.killed:
        return {"outcome": child.killed, "peak_rss_mb": round(child.peak_rss_mb)}
    if child.code != 0:
        tail = "\n".join(child.stderr.splitlines()[-15:])
        raise SystemExit(f"baseline failed (exit {child.code}):\n{tail}")
    summary: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "outcome": "done",
        "wall_seconds": round(child.seconds, 2),
        "peak_rss_mb": round(child.peak_rss_mb),
        **summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--collectors", type=int, default=None, help="default max(N/5,000, 20)")
    parser.add_argument("--baseline", action="store_true", help="also run the pandas baseline")
    parser.add_argument("--model", action="store_true", help="score with a model trained once")
    parser.add_argument("--keep", action="store_true", help="keep the night's home and outputs")
    parser.add_argument(
        "--next-night", action="store_true", help="then run the night after on the same home"
    )
    parser.add_argument(
        "--world", type=Path, default=BENCH / "world", help="folder of cached worlds"
    )
    parser.add_argument(
        "--cprofile", type=Path, default=None, help="run caseflow under cProfile into FILE"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="kill a child still running after SECONDS"
    )
    parser.add_argument(
        "--part-cases",
        type=int,
        default=None,
        help="cut the book into parts of N cases (bench only; caseflow's part is a million)",
    )
    total_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    parser.add_argument(
        "--max-rss-gb",
        type=float,
        default=round(0.8 * total_gb, 1),
        help="kill a child whose resident set passes this (default 80%% of the machine's memory)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    world = ensure_world(args.world, args.cases, args.seed, args.collectors, say=say)
    facts = world.facts
    say(
        f"world {world.root.name}: {'reused' if facts['reused'] else 'made'} "
        f"({facts['make_seconds']} s to make)"
    )
    models = trained_models(args.world) if args.model else None
    load_before = round(os.getloadavg()[0], 2)  # 1-minute load average as the night starts
    work = world.root / "run"
    result: dict[str, Any] = {
        "cases": facts["cases"],
        "debtors": facts["debtors"],
        "notes": facts["notes"],
        "payments": facts["payments"],
        "collectors": facts["collectors"],
        "collectors_active": facts["collectors_active"],
        "capacity": facts["capacity"],
        "seed": args.seed,
        "scoring": "model" if args.model else "rule",
        "part_cases": args.part_cases,  # None: caseflow's own (pipeline/parts.py PART_CASES)
    }
    try:
        limits = (args.timeout, args.max_rss_gb * 1024)
        night = run_caseflow(world, work, models, args.cprofile, limits, args.part_cases)
        result.update(night)
        if args.next_night and night["outcome"] == "published":
            result["next_night"] = next_night(world, work, limits, args.part_cases)
        if args.baseline:
            baseline = run_baseline(world, work, limits)
            result["baseline"] = baseline
            if "wall_seconds" in baseline and "wall_seconds" in night:
                result["baseline_wall_seconds"] = baseline["wall_seconds"]
                result["baseline_over_caseflow"] = round(
                    baseline["wall_seconds"] / night["wall_seconds"], 1
                )
    finally:
        if not args.keep and work.exists():
            shutil.rmtree(work)
    result["world"] = {
        "key": world.root.name,
        "reused": facts["reused"],
        "make_seconds": facts["make_seconds"],
        "input_bytes": facts["bytes"],
    }
    result["machine"] = machine(load_before)
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
