"""The night, stage by stage: ingest, validate, load, score, strategy, allocate, publish.

This module only calls the stages in order, times them and records the run; each stage lives
in its own module and can be run and tested alone.

A night is all or nothing (README "Reliability"). Everything it writes into the warehouse, from
the load to the record of its allocation, is one DuckDB transaction; its outputs are staged
beside ``--out`` inside that transaction, the transaction commits, and only then are they moved
into place. A failure before the commit (a bad disk, a bug, an interruption) rolls the warehouse
back and removes the staged outputs: the warehouse and the nights published before are as they
were, and the re-run starts from the same state. A crash after the commit and before the move
leaves the night in the warehouse but not in ``--out``: the re-run skips the files as received
before and publishes the same allocation from the warehouse. Stages called inside the night
must not BEGIN or COMMIT themselves; ``pipeline.load.transaction`` joins the night's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from models.drift import Counts, add_counts
from models.features import night_inputs
from models.score import REASON_INPUTS, SCORE_SCHEMA, NightScorer, Scores, night_scorer
from pipeline import stream, warehouse
from pipeline.allocate import BOOK_COLUMNS, OVER_CAPACITY, allocate
from pipeline.assemble import PartReasons, PlacedNight, assemble_parts
from pipeline.changes import CHANGE_KINDS, DEBTOR_VALUES
from pipeline.errors import CaseflowError, UsageError
from pipeline.evidence import gather
from pipeline.ingest import IngestResult, ReceivedFile, ingest
from pipeline.load import (
    LoadStats,
    begin,
    case_details,
    commit,
    finish_load,
    rollback,
    transaction,
)
from pipeline.locking import home_lock
from pipeline.masking import scrub_error, scrub_text
from pipeline.parts import CaseParts, Part, night_parts, tag_part
from pipeline.policy import Policy, load_policy
from pipeline.publish import (
    NightOutputs,
    check_replaceable,
    discard_staged,
    publish_staged,
    stage,
)
from pipeline.report import report_data
from pipeline.review import (
    NightReview,
    record_review,
    review_inputs,
    review_night,
    stored_worklists,
)
from pipeline.safety import check_free_space, describe_os_error, keep_last_good
from pipeline.strategy import decide
from pipeline.validate import Validated

StageCallback = Callable[[str, float], None]
REJECT_SCHEMA = {
    "file": pl.Utf8,
    "row": pl.Int64,
    "kind": pl.Utf8,
    "column": pl.Utf8,
    "rule": pl.Utf8,
    "value": pl.Utf8,
}

# Rows of holds.csv and changes.csv read from the warehouse at a time (about 100 MB of text).
CSV_BATCH_ROWS = 500_000

RULE_ADVICE = (
    "no trained model yet: cases are ranked by the R6 rule (ability to pay, then days overdue); "
    "run `caseflow train` once the warehouse holds history"
)


@dataclass
class Timer:
    """Wall time per stage, reported in the manifest and to the caller as each stage ends."""

    on_stage: StageCallback | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    _total: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    @contextmanager
    def stage(self, name: str, *, last: bool = True) -> Iterator[None]:
        """Time a stage. A stage run once per part of the book (``pipeline.parts``) adds up:
        its time is the sum, told to ``on_stage`` once, when its ``last`` part ends."""
        start = time.perf_counter()
        yield
        elapsed = self._total.get(name, 0.0) + time.perf_counter() - start
        self._total[name] = elapsed
        self.seconds[name] = round(elapsed, 3)
        if last and self.on_stage is not None:
            self.on_stage(name, elapsed)


@dataclass(frozen=True)
class NightSummary:
    run_id: str
    business_date: date
    out_dir: Path
    manifest: dict[str, Any]
    warnings: list[str]


@dataclass(frozen=True)
class Loaded:
    """What the rest of the night needs of tonight's files once they are in the warehouse: the
    files, the counts and the validation's reject lines. The text and parsed frames themselves
    (gigabytes on a large night) are let go as soon as the load is done, not held to publish."""

    files: list[ReceivedFile]
    rows_valid: dict[str, int]  # kind -> valid rows read tonight
    rejects: pl.DataFrame  # the validation's reject lines (bad rows only: small)
    stats: LoadStats


def _ingest_and_load(
    con: duckdb.DuckDBPyConnection, input_dir: Path, home: Path, business_date: date, timer: Timer
) -> Loaded:
    """Receive, validate and load the night's files (``pipeline.stream``: a Parquet file in
    batches, never whole). The ingest stage also reads each Parquet file through once (a file
    that cannot be read is refused before any of its rows is loaded); the validate stage finds
    the keys repeated within or across files; the load stage validates and loads batch by
    batch, in one transaction (the night's, when run_night began one)."""
    known = {
        sha: f"{day} as {name}"
        for sha, day, name in con.execute(
            "select sha256, business_date, file_name from received_files"
        ).fetchall()
    }
    with timer.stage("ingest"):
        received = ingest(input_dir, home, business_date, known, stream_parquet=True)
        scanned = stream.scan(received, stream.BATCH_ROWS)
        del received
    with timer.stage("validate"):
        plans = stream.plan(scanned, stream.BATCH_ROWS)
        files = scanned.files
        del scanned
    with timer.stage("load"), transaction(con):
        night = stream.load_kinds(con, plans, business_date, stream.BATCH_ROWS)
        del plans
        rejects = pl.concat([night.rejects, _refused_files(files)], how="vertical_relaxed")
        stats = finish_load(con, night.loaded, rejects, files, business_date, night.rows_per_file)
    return Loaded(files=files, rows_valid=night.rows_valid, rejects=night.rejects, stats=stats)


def _refused_files(files: list[ReceivedFile]) -> pl.DataFrame:
    """A file refused whole is one line of rejected.csv (row 0), so it is never lost silently."""
    refused = [f for f in files if f.status == "refused"]
    return pl.DataFrame(
        {
            "file": [f.name for f in refused],
            "row": [0] * len(refused),
            "kind": [f.kind for f in refused],
            "column": ["(file)"] * len(refused),
            "rule": ["file_refused"] * len(refused),
            "value": [scrub_text(f.message or "") for f in refused],
        },
        schema=REJECT_SCHEMA,
    )


def load_night(
    input_dir: Path, home: Path, business_date: date, on_stage: StageCallback | None = None
) -> tuple[IngestResult, Validated, LoadStats]:
    """Ingest, validate and load one night's files without allocating (history backfill).

    The files and the reject lines come back, not the night's rows (they are in the warehouse)."""
    _check_input(input_dir)
    check_folder_date(input_dir, business_date)
    with home_lock(home):
        con = warehouse.connect(home)
        try:
            loaded = _ingest_and_load(con, input_dir, home, business_date, Timer(on_stage))
        finally:
            con.close()
    return IngestResult(loaded.files), Validated({}, loaded.rejects), loaded.stats


def _check_input(input_dir: Path) -> None:
    if not input_dir.is_dir():
        raise UsageError(f"--input {input_dir}: no such folder")


def check_folder_date(input_dir: Path, business_date: date) -> None:
    """A night's folder named for another date (incoming/2026-11-22 with --date 2026-11-23) is a
    mistake that would file the night's rows under the wrong date: refused before anything."""
    try:
        named = date.fromisoformat(input_dir.resolve().name)
    except ValueError:
        return  # not named for a date: nothing to compare
    if len(input_dir.resolve().name) == 10 and named != business_date:
        raise UsageError(
            f"--input {input_dir} is the folder of {named}, not of --date {business_date}: "
            "correct --date or --input (nothing was changed)"
        )


def _record(
    con: duckdb.DuckDBPyConnection,
    worklists: pl.DataFrame,
    manifest: dict[str, Any],
    business_date: date,
    review: NightReview | None = None,
    roster: pl.DataFrame | None = None,
) -> None:
    """Keep tonight's allocation, review and run in the warehouse (continuity, export,
    explain); the decisions (and so the holds, a view of them) and changes are stored already,
    part by part (``review_night``). A re-run of the same date replaces that date's allocation.
    """
    run_id = manifest["run_id"]
    params = {"business_date": business_date}
    allocations = worklists.select(
        pl.lit(business_date).alias("business_date"),
        pl.lit(run_id).alias("run_id"),
        *stored_worklists(worklists),  # what the worklists showed (export, explain)
    )
    with transaction(con):  # the night's, when run_night began one
        con.execute("delete from allocations where business_date = $business_date", params)
        # relations, not views: a view's frame would be held to the night's commit
        warehouse.frame_relation(con, allocations).query(
            "night_allocations", "insert into allocations by name select * from night_allocations"
        )
        if review is not None and roster is not None:
            record_review(con, business_date, run_id, review, roster)
        con.execute(
            "insert into runs values (?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                business_date,
                datetime.fromisoformat(manifest["started_at"]),
                datetime.now(),
                "published",
                manifest["model"]["version"],
                json.dumps(manifest, sort_keys=True),
            ],
        )


def _counts(
    loaded: Loaded,
    book: int,
    placed: PlacedNight,
    rejects: pl.DataFrame,
) -> dict[str, Any]:
    """The night's figures; they add up: book = worked + held (CONTRACT.md)."""
    stats = loaded.stats
    worked = placed.worklists
    # From the warehouse, not tonight's reading: a re-run that skips every file as received
    # before republishes the same rejected rows and must count them the same.
    bad_rows = rejects.filter(pl.col("row") > 0)
    return {
        "files": {
            s: sum(f.status == s for f in loaded.files) for s in ("read", "duplicate", "refused")
        },
        "rows_rejected": bad_rows.select(pl.struct("file", "row").n_unique()).item()
        if not bad_rows.is_empty()
        else 0,
        "rejects_by_rule": dict(sorted(rejects.group_by("rule").len().iter_rows())),
        "rows_valid": dict(loaded.rows_valid),
        "loaded": {
            "cases_upserted": stats.cases_upserted,
            "payments_added": stats.payments_added,
            "payments_for_unknown_cases": stats.payments_unknown_case,
            "contacts_added": stats.contacts_added,
            "cases_closed_paid": stats.cases_closed_paid,
        },
        "book": book,
        "worked": worked.height,
        "worked_by_channel": dict(sorted(worked.group_by("channel").len().iter_rows())),
        "held": placed.held.total,
        "held_by_reason": dict(sorted(placed.held.by_reason.items())),
        "letters": placed.letters.height,
        "collectors_with_work": worked.get_column("collector_id").n_unique(),
        "expected_recovery": round(float(worked.get_column("expected_recovery").sum() or 0.0), 2),
    }


def _warnings(
    scores: Scores,
    loaded: Loaded,
    roster: pl.DataFrame,
    placed: PlacedNight,
) -> list[str]:
    """What the ops lead must know tonight (terminal, manifest and report)."""
    stats = loaded.stats
    found = [] if scores.method == "model" else [RULE_ADVICE]
    if scores.drift_warning:  # PSI above 0.25 against the champion's training data
        found.append(scores.drift_warning)
    for f in loaded.files:
        if f.status == "refused":
            found.append(f"file refused whole: {scrub_text(f.message or f.name)}")
    if roster.is_empty() or not roster.get_column("active").any():
        rosters = [f.name for f in loaded.files if f.kind == "collectors" and f.status == "read"]
        source = ", ".join(rosters) if rosters else "the roster in force (no roster file tonight)"
        found.append(
            f"no active collector in {source} ({roster.height} collectors, none active): "
            "every workable case is held"
        )
    over = placed.held.by_reason[OVER_CAPACITY]
    if over:
        found.append(f"{over} cases held as over capacity: not enough collectors tonight")
    if stats.payments_unknown_case:
        found.append(
            f"{stats.payments_unknown_case} payments name a case the warehouse does not know "
            "(kept, not applied)"
        )
    return found


ALLOCATION_KEYS = (
    "path",
    "method",
    "objective",
    "value",
    "upper_bound",
    "gap_bound",
    "greedy_objective",
    "fast_objective",
    "rounded_objective",
    "assigned",
    "over_capacity",
    "continuity_kept",
    "idle_fill",
    "fairness_bound",
    "fairness_max_spread",
    "pools",
)
GAP_WARNING = 0.01  # above 1% from the proven optimum, the ops lead should know


def _allocation_record(stats: dict[str, Any]) -> dict[str, Any]:
    """The optimiser's account of the night: method, objective, proven gap, fairness per pool.

    Seconds stay out (the manifest's timings hold them), so a re-run records the same thing.
    """
    record = {key: stats[key] for key in ALLOCATION_KEYS if key in stats}
    if isinstance(stats.get("lp"), dict):
        record["lp"] = {k: v for k, v in stats["lp"].items() if k != "seconds"}
    return record


def _allocation_warnings(stats: dict[str, Any]) -> list[str]:
    found = []
    if str(stats.get("method", "")).startswith("greedy (LP failed"):
        found.append(f"allocation: {stats['method']}")
    gap = stats.get("gap_bound")
    if isinstance(gap, float | int) and gap > GAP_WARNING:
        found.append(f"allocation within {gap:.1%} of the best possible (proven bound)")
    for pool in stats.get("pools", []):
        if not pool.get("within_bound", True):
            found.append(
                f"allocation: pool {pool.get('pool')} spreads expected value "
                f"{pool.get('spread', 0):.0%} between collectors, above the fairness bound"
            )
    return found


def _previous_run(con: duckdb.DuckDBPyConnection, business_date: date) -> str | None:
    """The run that last published this date, which tonight's run replaces."""
    rows = con.execute(
        "select run_id from runs where business_date = ? and outcome = 'published' "
        "order by finished_at desc, run_id desc limit 1",
        [business_date],
    ).fetchall()
    return str(rows[0][0]) if rows else None


def _input_notes(loaded: Loaded, replaces: str | None) -> list[str]:
    """What tonight's files and an earlier run of the date mean for the ops lead."""
    notes = []
    if not loaded.files:
        notes.append("no files in --input: tonight is allocated from the warehouse as it stands")
    skipped = [f for f in loaded.files if f.status == "duplicate"]
    if skipped:
        names = "; ".join(f"{f.name} ({f.message})" for f in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        files = _plural(len(skipped), "file")
        notes.append(f"{files} received before, not read again: {names}{more}")
    for f in loaded.files:
        if f.status == "read" and f.rows == 0:
            notes.append(f"{f.name}: a header and no rows")
    replaced = loaded.rejects.filter(pl.col("rule") == "superseded")
    if not replaced.is_empty():
        first = replaced.row(0, named=True)
        notes.append(
            f"{replaced.height} rows were replaced by a row of the same key in a later file "
            f"tonight (e.g. {first['file']} row {first['row']}, {first['value']}); the later "
            "row was loaded, the earlier is in rejected.csv as superseded"
        )
    if replaces is not None:
        read = sum(f.status == "read" for f in loaded.files)
        notes.append(
            f"this night replaces run {replaces} of the same date: {_plural(read, 'new file')} read"
            + (", so worklists may have changed" if read else ", the same allocation")
        )
    return notes


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _open_warehouse(home: Path) -> duckdb.DuckDBPyConnection:
    try:
        return warehouse.connect(home)
    except (duckdb.Error, OSError) as exc:
        raise CaseflowError(
            f"cannot open the warehouse in {home}: {scrub_error(str(exc))}; if the file is "
            f"damaged, the last good copies are in {home / 'last-good'} (README, Reliability)"
        ) from None


# How DuckDB and the OS word a storage failure (DuckDB raises it as an IO error, or as a failed
# commit when the disk fills while the write-ahead log is written), and what it means.
_STORAGE_REASONS = {
    "no space left on device": "the disk is full",
    "disk quota exceeded": "the disk is full",
    "read-only file system": "the file system is read-only",
    "permission denied": "permission denied",
}
_STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, getattr(errno, "EDQUOT", errno.ENOSPC)}
)


def _storage_failure(exc: BaseException, home: Path) -> CaseflowError | None:
    """A full, read-only or forbidden disk under the warehouse (DuckDB's words) or under a file
    the night writes (the OS's), as a message; None for any other error."""
    rolled_back = (
        "the night was rolled back: the warehouse and the nights published before are as they were"
    )
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        where = exc.filename or "a file of the night"
        return CaseflowError(f"{where}: {describe_os_error(exc)}; {rolled_back}")
    if isinstance(exc, CaseflowError) or not isinstance(exc, duckdb.Error):
        return None
    text = str(exc).lower()
    reason = next((why for words, why in _STORAGE_REASONS.items() if words in text), None)
    if reason is None and not isinstance(exc, duckdb.IOException):
        return None
    return CaseflowError(
        f"the warehouse in {home} could not be written: {reason or scrub_error(str(exc))}; "
        + rolled_back
    )


def _memory_failure(exc: BaseException) -> CaseflowError | None:
    """DuckDB out of memory within its limit (``warehouse.memory_limit``), as a message that
    says which limit and how to raise it; None for any other error."""
    if not isinstance(exc, duckdb.OutOfMemoryException):
        return None
    return CaseflowError(
        f"the warehouse ran out of memory within DuckDB's limit of {warehouse.memory_limit()} "
        "(CASEFLOW_DUCKDB_MEMORY, e.g. 8GB; 2GB when unset): raise it or run "
        "the night on a machine with more memory; the night was rolled back: the warehouse and "
        "the nights published before are as they were"
    )


def new_run_id(business_date: date) -> str:
    """A run's id: the business date and 8 random hex digits (20261123-1a2b3c4d)."""
    return f"{business_date:%Y%m%d}-{uuid.uuid4().hex[:8]}"


def run_night(
    business_date: date,
    input_dir: Path,
    out_dir: Path,
    home: Path,
    *,
    policy_path: Path | None = None,
    on_stage: StageCallback | None = None,
    lang: str = "en",
    run_id: str | None = None,
) -> NightSummary:
    """Run one whole night and publish it into ``out_dir``; see CONTRACT.md.

    ``lang`` chooses the headers of the published tables (``pipeline.labels``); ``run_id``
    (default: ``new_run_id``) lets the caller put the run's id on its log lines from the start."""
    _check_input(input_dir)
    check_folder_date(input_dir, business_date)
    check_replaceable(out_dir)
    policy = load_policy(policy_path if policy_path is not None else home / "policy.toml")
    run_id = run_id or new_run_id(business_date)
    started = datetime.now()
    timer = Timer(on_stage)
    with home_lock(home):
        check_free_space(home, out_dir.parent, warehouse=home / "warehouse.duckdb")
        keep_last_good(home / "warehouse.duckdb")
        con = _open_warehouse(home)
        try:
            begin(con)  # the whole night is one transaction (module docstring)
            loaded = _ingest_and_load(con, input_dir, home, business_date, timer)
            summary = _allocate_and_stage(
                con,
                home,
                out_dir,
                business_date,
                run_id,
                started,
                policy,
                timer,
                loaded,
                lang,
            )
            commit(con)
        except BaseException as exc:
            rollback(con)
            discard_staged(out_dir, run_id)
            _record_failure(con, run_id, business_date, started, exc)
            con.close()
            failure = _storage_failure(exc, home) or _memory_failure(exc)
            if failure is None:
                raise
            raise failure from exc
        try:
            publish_staged(out_dir, run_id)
            _checkpoint(con, summary.warnings)
        finally:
            con.close()
        return summary


AUDITED_LIBRARIES = (
    "polars",
    "duckdb",
    "pandera",
    "scikit-learn",
    "skops",
    "numpy",
    "scipy",
    "pyarrow",
    "xlsxwriter",
)


def software_versions() -> dict[str, str]:
    """caseflow's own version and the libraries that shape a night's result (audit trail)."""
    found = {"caseflow": _version("caseflow")}
    found.update({name: _version(name) for name in AUDITED_LIBRARIES})
    return found


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _record_failure(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    business_date: date,
    started: datetime,
    exc: BaseException,
) -> None:
    """Keep a failed night in the audit trail (runs): its id, dates and what kind of failure.

    Best effort and after the rollback, in a transaction of its own: when the warehouse itself
    cannot be written (a full disk), the failure is still told on the terminal, not recorded.
    The message is scrubbed: library errors may quote a debtor's values.
    """
    record = {
        "run_id": run_id,
        "business_date": business_date.isoformat(),
        "outcome": "failed",
        "error": type(exc).__name__,
        "message": scrub_error(str(exc))[:500],
        "software": software_versions(),
    }
    # When the warehouse cannot take it, the terminal still says why the night failed.
    with contextlib.suppress(duckdb.Error, OSError):
        con.execute(
            "insert or replace into runs values (?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                business_date,
                started,
                datetime.now(),
                "failed",
                None,
                json.dumps(record, sort_keys=True),
            ],
        )


def list_runs(home: Path, limit: int = 30) -> list[tuple[Any, ...]]:
    """The audit trail, newest first: run id, date, start, end, outcome, model version."""
    if not (home / "warehouse.duckdb").exists():
        return []
    con = warehouse.connect(home, read_only=True)
    try:
        return con.execute(
            "select run_id, business_date, started_at, finished_at, outcome, model_version "
            "from runs order by started_at desc, run_id desc limit ?",
            [limit],
        ).fetchall()
    finally:
        con.close()


def _checkpoint(con: duckdb.DuckDBPyConnection, warnings: list[str]) -> None:
    """Fold the write-ahead log into the warehouse file. The night is committed and published
    already: a checkpoint that fails (a full disk) is a warning, and DuckDB retries it later."""
    try:
        con.execute("checkpoint")
    except duckdb.Error as exc:
        warnings.append(f"the warehouse checkpoint failed ({scrub_error(str(exc))}); retried later")


@dataclass(frozen=True)
class Decided:
    """The night's book scored and decided, part by part (``_score_and_decide``)."""

    debtors: pl.DataFrame  # strategy.decide's debtors, in debtor_key order
    debtor_parts: CaseParts  # the same, part by part (tagged with their part), as decided
    scores: Scores  # the method, the model and the drift; its frame is let go (empty)
    # the evidence's estimates (``Evidence.record``): its frames per case and per debtor (17M
    # rows at 10M cases) are let go once the strategy has read them
    strategy: dict[str, Any]
    book: int  # cases in the night's book
    reasons: PartReasons  # the reasons of a part's worked cases


def _score_and_decide(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    business_date: date,
    policy: Policy,
    roster: pl.DataFrame,
    timer: Timer,
    parts: list[Part],
    cases: CaseParts,
) -> Decided:
    """Score and decide the night's book one part at a time (``pipeline.parts``: a part is a
    million cases, every case of a debtor in one), so the book, its features and scores are
    never held whole; each part's decided cases go to ``cases``, and the parts' debtors are put
    together for the allocation."""
    with timer.stage("score", last=False):
        scorer = night_scorer(home)
    with timer.stage("strategy", last=False):
        evidence = gather(con, business_date, policy)  # estimates from the history (issue 4)
    # the parts' debtors, kept as their cases are (on disk beyond one part): held in memory they
    # added up to 0.6 GB by the last part at 10M cases, where the night peaks (issue 8)
    debtors = cases.beside("debtors")
    counts: Counts = {}
    book = 0
    scored = cases.beside("features")  # what the reasons of the worked cases are worded from
    for part in parts:
        last = part.index == part.count - 1
        with timer.stage("score", last=last):
            # the book and its features, in one query on the contact stats the load keeps
            night, features = night_inputs(con, business_date, part)
            # no reasons yet: they are worded once the worked cases are known (about 1% of
            # the book), from the features kept here (``_worked_reasons``)
            frame, found = scorer.score(features, explain=False)
            scored.add(features.select(REASON_INPUTS))
            del features
            counts = add_counts(counts, found)
        with timer.stage("strategy", last=False):
            part_cases, part_debtors = decide(night, frame, roster, policy, business_date, evidence)
            book += night.height
            # the part's book and scores live on in its cases, and of those only what the
            # allocation and review read: the rest is let go before the next part
            del night, frame
            cases.add(review_inputs(part_cases))
            del part_cases
            # what the allocation, the placement and the review read of a debtor, no more
            # (7.5M debtors at 10M cases: the strategy's own columns were 0.14 GB of 0.74)
            debtors.add(tag_part(part_debtors.select(*BOOK_COLUMNS, "debtor_total_owed"), part))
    with timer.stage("strategy"):  # the debtors in debtor_key order, as the allocation expects
        every = pl.concat(list(debtors)).sort("debtor_key") if len(debtors) > 1 else debtors.get(0)
    # the report reads the book's scores from the review's decisions: no frame is kept here
    scores = scorer.scores(pl.DataFrame(schema=SCORE_SCHEMA), counts)
    reasons = partial(_worked_reasons, scorer, scored)
    return Decided(every, debtors, scores, evidence.record(), book, reasons)


def _worked_reasons(
    scorer: NightScorer, features: CaseParts, index: int, worked: pl.DataFrame
) -> pl.DataFrame:
    """The reasons of part ``index``'s ``worked`` cases (client_id, case_id), worded from the
    features the score stage kept (``assemble.PartReasons``)."""
    keys = ["client_id", "case_id"]
    return scorer.reasons(features.get(index).join(worked.select(keys), on=keys, how="semi"))


def _allocate_and_stage(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    out_dir: Path,
    business_date: date,
    run_id: str,
    started: datetime,
    policy: Policy,
    timer: Timer,
    loaded: Loaded,
    lang: str = "en",
) -> NightSummary:
    params = {"business_date": business_date}
    roster = warehouse.query(con, "roster", {})
    parts = night_parts(con, business_date)
    with CaseParts.cleared(home, len(parts)) as cases:
        decided = _score_and_decide(con, home, business_date, policy, roster, timer, parts, cases)
        debtors, scores, book = decided.debtors, decided.scores, decided.book
        # what the review reads of each part's debtors (their channel values: the decisions
        # keep them), a part at a time; the night's 9M at 10M cases are let go after placement
        debtor_values = decided.debtor_parts.select(DEBTOR_VALUES)
        strategy, reasons = decided.strategy, decided.reasons
        del decided
        with timer.stage("allocate"):
            allocation = allocate(debtors, roster, policy)
            # each part's holds wait beside its cases for the review, which stores them with
            # its decisions (the ``holds`` view, sql/schema.sql)
            holds = cases.beside("holds")
            # names, numbers and addresses of the worked rows only: the book carries none
            placed = assemble_parts(
                cases,
                debtors,
                allocation,
                roster,
                policy,
                business_date,
                partial(case_details, con),
                holds,
                reasons,
            )
            # what the rest of the night reads of them: the optimiser's account (the debtors'
            # values, held whole through the review, were 0.25 GB of its peak at 10M cases)
            allocated = allocation.stats
            del allocation, reasons, debtors  # the book's features (a million rows a part) too
        replaces = _previous_run(con, business_date)
        with timer.stage("review"):
            # each part's decisions are stored as they are made (the book's are never held)
            review = review_night(
                con,
                home,
                cases,
                holds,
                debtor_values,
                placed,
                roster,
                policy,
                business_date,
                scores.model_version,
                run_id,
            )
        # the widest frames let go before the report and the files are made
        del holds, debtor_values
    warnings = _warnings(scores, loaded, roster, placed)
    warnings += _allocation_warnings(allocated)
    warnings += _input_notes(loaded, replaces)
    rejects = warehouse.query(con, "night_rejects", params)
    rejected_rows = dict(
        rejects.filter(pl.col("row") > 0).group_by("file").agg(pl.col("row").n_unique()).iter_rows()
    )
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "business_date": business_date.isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "inputs": [
            {
                "file": f.name,
                "sha256": f.sha256,
                "kind": f.kind,
                "status": f.status,
                "rows": f.rows,
                "rows_rejected": rejected_rows.get(f.name, 0) if f.status == "read" else 0,
                "message": f.message,
            }
            for f in loaded.files
        ],
        "software": software_versions(),
        "model": {
            "method": scores.method,
            "version": scores.model_version,
            "sha256": scores.model_sha256,
        },
        "drift": scores.drift_record(),  # PSI of the score and main features (models.drift)
        "policy_sha256": policy.digest(),
        "rule_pack": policy.rule_pack,
        "strategy": strategy,  # channel effects, rhythm, champion/challenger
        "counts": _counts(loaded, book, placed, rejects),
        "allocation": _allocation_record(allocated),
        "replaces": replaces,  # the run of the same date this one replaces, or None
        "warnings": warnings,
    }
    with timer.stage("publish"):
        manifest["timings_seconds"] = dict(timer.seconds)
        report = report_data(manifest, placed, roster, scores, rejects, review, review.counted())
        stage(  # moved into place by run_night once the warehouse has committed
            out_dir,
            NightOutputs(
                business_date=business_date,
                run_id=run_id,
                worklists=placed.worklists,
                # the holds (held decisions) and changes review_night stored, read back a batch
                # at a time
                holds=partial(warehouse.query_batches, con, "holds_csv", params, CSV_BATCH_ROWS),
                letters=placed.letters,
                rejects=rejects,
                roster=roster,
                manifest=manifest,
                report=report,
                changes=partial(
                    warehouse.query_batches,
                    con,
                    "changes_csv",
                    {**params, "kinds": list(CHANGE_KINDS)},
                    CSV_BATCH_ROWS,
                ),
                scorecards=review.scorecards,
                lang=lang,
            ),
        )
        _record(con, placed.worklists, manifest, business_date, review, roster)
    return NightSummary(run_id, business_date, out_dir, manifest, warnings)
