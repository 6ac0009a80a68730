"""report: the night at a glance for the ops lead, as one self-contained HTML page.

``build_report_data`` reduces the night to aggregates (no debtor rows, so nothing about a
debtor can reach the page; the one list of cases, the extensions due of R3, names each by its
client and case id only); ``render_report`` turns them into HTML with inline CSS and inline
SVG charts drawn here. The page loads nothing from anywhere: it opens offline, from a mail
attachment or a file share, and every text in it is escaped.

The page, top to bottom: the night at a glance (cases in, rejected, held by reason, worked by
channel, expected recovery), the warnings of the night (drift, caps hit, over capacity, refused
files), then the charts: channel mix, capacity use per team, expected recovery per collector,
tonight's scores against the model's held-out night, rejected rows by rule, holds by reason,
extensions due (R3) with the cycle weeks (R1) and the list of cases to extend, the channel
effects, contact rhythm and champion/challenger with their evidence (pipeline/evidence.py),
what changed since the night before, the collectors' scorecards (R25); and the rules and caps
that shaped the night, the first actions, the files received and the timings.
``caseflow report --date D`` draws the same page again from the warehouse.
"""

from __future__ import annotations

import html
import itertools
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from models import drift
from pipeline.assemble import EXTENSION_DUE, HoldCounts, NightFrames, PlacedNight
from pipeline.changes import CHANGE_KINDS
from pipeline.masking import scrub_text

if TYPE_CHECKING:
    from models.score import Scores
    from pipeline.review import NightReview

SCORE_BINS = 20
# Past this many collectors the per-collector chart shows the best and the worst only (the
# full list stays in a table below it), so the page stays readable and small.
MAX_COLLECTOR_BARS = 60
# Scorecards are read collector by collector: a whole department of up to this many is shown.
MAX_SCORECARD_BARS = 100
CHANNEL_ORDER = ("phone", "visit", "letter")
# The extensions due are listed case by case (R3) up to this many; the rest are counted.
MAX_EXTENSION_ROWS = 300


@dataclass(frozen=True)
class CapacityUse:
    """One team (a pool of collectors of one channel): work given tonight against capacity."""

    team: str
    channel: str
    collectors: int
    on_leave: int
    used: int
    capacity: int


@dataclass(frozen=True)
class CollectorLoad:
    collector_id: str
    name: str
    team: str
    channel: str
    cases: int
    capacity: int
    expected_recovery: float


@dataclass(frozen=True)
class InputSummary:
    file: str
    kind: str
    status: str
    rows: int
    message: str


@dataclass(frozen=True)
class ScorecardRow:
    """One collector's cycle (R25): the figures of scorecards.csv."""

    collector_id: str
    name: str
    team: str
    channel: str
    cases_allocated: int
    cases_worked: int
    attempts: int
    right_party_contacts: int
    promises: int
    promises_due: int
    promises_kept: int
    amount_recovered: float
    complaints: int


@dataclass(frozen=True)
class ReportData:
    """What report.html shows: aggregates of the night only, never a debtor's row."""

    business_date: str
    run_id: str
    method: str
    model_version: str | None
    model_sha256: str | None
    policy_sha256: str
    rule_pack: str
    book: int
    worked: int
    held: int
    letters: int
    rows_rejected: int
    expected_recovery: float
    extension_due_worked: int
    extension_due_held: int
    worked_by_channel: tuple[tuple[str, int, float], ...]  # channel, cases, expected recovery
    held_by_reason: tuple[tuple[str, int], ...]
    actions: tuple[tuple[str, int], ...]
    capacity: tuple[CapacityUse, ...]
    collectors: tuple[CollectorLoad, ...]
    scored: int
    score_bins_all: tuple[int, ...]  # SCORE_BINS equal bins of p_repay over [0, 1]
    score_bins_worked: tuple[int, ...]
    rejects_by_rule: tuple[tuple[str, int], ...]  # rule, rows
    rejects_by_file: tuple[tuple[str, int], ...]
    inputs: tuple[InputSummary, ...]
    warnings: tuple[str, ...]
    timings: tuple[tuple[str, float], ...]
    # From the review (pipeline.review); empty when the night was reported without one.
    extensions_by_client: tuple[tuple[str, int, int], ...] = ()  # client, worked, held
    training_deciles: tuple[float, ...] = ()  # lowest p_repay per held-out decile, best first
    tonight_deciles: tuple[int, ...] = ()  # tonight's book in those deciles, best first
    # Tonight's active cases against the training distribution: (bin, training %, tonight %).
    training_bins: tuple[tuple[str, float, float], ...] = ()
    training_source: str = ""
    psi: float | None = None  # population stability of tonight's scores against training
    changes_compared_with: str = ""
    changes: tuple[tuple[str, int, int], ...] = ()  # change, cases, debtors
    change_reasons: tuple[tuple[str, str, int], ...] = ()  # change, reason, cases
    cycle: tuple[str, str] = ("", "")
    scorecards: tuple[ScorecardRow, ...] = ()
    rules: tuple[tuple[str, str, int], ...] = ()  # rule or cap, what it did, cases
    caps_hit: tuple[str, ...] = ()  # caps reached tonight, as warnings
    # PSI of the score and main features against the champion's training data (models.drift)
    drift: tuple[tuple[str, float], ...] = ()
    drift_warn_above: float = 0.25
    # The optimiser's account (manifest "allocation"): label/value lines and one row per pool
    allocation: tuple[tuple[str, str], ...] = ()
    pools: tuple[tuple[str, str, int, int, int, str, str], ...] = ()
    # R1: tonight's worked cases per week of their cycle: (week, cases, of them extension due)
    cycle_weeks: tuple[tuple[int, int, int], ...] = ()
    # R3: (client, case, return date, cycle week or "", where: collector or "held: reason")
    extension_cases: tuple[tuple[str, str, str, str, str], ...] = ()
    extension_cases_total: int = 0
    # The night's evidence (manifest "strategy", pipeline/evidence.py); empty before it existed
    strategy: dict[str, Any] = field(default_factory=dict)


# --- aggregation -------------------------------------------------------------------------------


# The columns of ``ReviewFigures.extensions``: a case with an extension due and where it went.
_EXTENSION_COLUMNS = ("client_id", "case_id", "return_date", "where")
_EXTENSION_ORDER = ("return_date", "client_id", "case_id")
# The decisions' columns ``ReviewFigures.of`` counts.
_FIGURE_COLUMNS = (
    "client_id",
    "case_id",
    "status",
    "placement",
    "p_repay",
    "extension_due",
    "return_date",
    "collector_id",
    "hold_reason",
    "verified",
    "phone_invalid",
    "phone_rule",
    "visit_rule",
    "letter_rule",
)


def _summed(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Counts per bin added up (an empty tuple is no counts yet)."""
    if not a or not b:
        return a or b
    return tuple(x + y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class ReviewFigures:
    """What report.html shows of the night's decisions and changes: counts, and the first
    cases with an extension due (R3). Counted a part of the book at a time (``review_night``)
    and added up, so the book's decisions and changes are never held at once (issue 8): every
    case of a debtor is in one part, so debtors add up too."""

    scored: int = 0  # cases with a score
    score_bins: tuple[int, ...] = (0,) * SCORE_BINS  # equal bins of p_repay over [0, 1]
    active_deciles: tuple[int, ...] = ()  # active cases by the model's held-out deciles
    active_reference: tuple[int, ...] = ()  # active cases by the training reference's bins
    held: Counter[str] = field(default_factory=Counter)  # hold reason -> cases
    unverified: int = 0  # worked cases whose debtor's identity is not verified (R19)
    phone_invalid: int = 0  # worked cases whose phone no longer reaches the debtor (R4)
    barred: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, rule) -> cases
    # the first MAX_EXTENSION_ROWS cases with an extension due (_EXTENSION_COLUMNS), and all
    extensions: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=dict.fromkeys(_EXTENSION_COLUMNS, pl.Utf8))
    )
    extensions_total: int = 0
    changes: Counter[str] = field(default_factory=Counter)  # change -> cases
    change_debtors: Counter[str] = field(default_factory=Counter)  # change -> debtors
    change_reasons: Counter[tuple[str, str | None]] = field(default_factory=Counter)

    @classmethod
    def of(
        cls,
        decisions: pl.DataFrame,
        changes: pl.DataFrame,
        lowest: Sequence[float] = (),
        reference: dict[str, Any] | None = None,
    ) -> ReviewFigures:
        """The figures of ``decisions`` (``pipeline.changes.DECISION_SCHEMA``'s columns) and
        ``changes``: a night's, or a part's. ``lowest`` and
        ``reference`` are the model's (``NightReview.training_deciles``, ``score_reference``)."""
        # only the columns counted: a filter gathers every column of its frame
        decisions = decisions.select(_FIGURE_COLUMNS)
        p_repay = decisions.get_column("p_repay")
        active = decisions.filter(pl.col("status") == "active").get_column("p_repay")
        worked = decisions.filter(pl.col("placement") == "worked")
        # the cases a collector could have taken: worked, or held for want of room
        workable = decisions.filter(
            (pl.col("placement") == "worked") | (pl.col("hold_reason") == "over capacity")
        )
        barred: Counter[tuple[str, str]] = Counter()
        for channel in ("letter", "visit", "phone"):
            # the rule's words, the city left out (one line for all of them)
            rule = f"{channel}_rule"
            words = pl.col(rule).cast(pl.Utf8).str.replace(r" covers .*$", " covers the city")
            rules = workable.filter(pl.col(rule).is_not_null()).select(words)
            barred.update({(channel, w): n for w, n in _counted(rules, rule).items()})
        due = decisions.filter(pl.col("extension_due").fill_null(False)).select(
            "client_id",
            "case_id",
            pl.col("return_date").cast(pl.Utf8),
            pl.when(pl.col("placement") == "worked")
            .then(pl.col("collector_id").cast(pl.Utf8))
            .otherwise(pl.lit("held: ") + pl.col("hold_reason").cast(pl.Utf8).fill_null(""))
            .alias("where"),
        )
        by_change = changes.group_by("change").agg(
            pl.len().alias("cases"),
            pl.struct("client_id", "customer_id").n_unique().alias("debtors"),
        )
        reasons = changes.group_by("change", "reason_kind").len()
        return cls(
            scored=p_repay.drop_nulls().len(),
            score_bins=score_bins(p_repay),
            active_deciles=decile_counts(active, lowest),
            active_reference=reference_counts(active, reference["edges"]) if reference else (),
            held=_counted(decisions.filter(pl.col("placement") == "held"), "hold_reason"),
            unverified=worked.filter(~pl.col("verified").fill_null(False)).height,
            phone_invalid=worked.filter(pl.col("phone_invalid").fill_null(False)).height,
            barred=barred,
            extensions=_first_extensions(due),
            extensions_total=due.height,
            changes=Counter({str(c): int(n) for c, n, _ in by_change.iter_rows()}),
            change_debtors=Counter({str(c): int(d) for c, _, d in by_change.iter_rows()}),
            change_reasons=Counter({(str(c), k): int(n) for c, k, n in reasons.iter_rows()}),
        )

    @classmethod
    def unreviewed(
        cls, scores: pl.DataFrame, worklists: pl.DataFrame, holds: pl.DataFrame
    ) -> ReviewFigures:
        """A night reported without its review: the scores of ``scores`` (the score stage's
        frame), the extensions due from the worklists and the holds."""
        worked = worklists.filter(pl.col("extension_due").fill_null(False)).select(
            "client_id",
            "case_id",
            pl.col("return_date").cast(pl.Utf8),
            pl.col("collector_id").alias("where"),
        )
        held = holds.filter(pl.col("detail") == EXTENSION_DUE).select(
            "client_id",
            "case_id",
            pl.lit(None, pl.Utf8).alias("return_date"),
            (pl.lit("held: ") + pl.col("reason")).alias("where"),
        )
        due = pl.concat([worked, held])
        p_repay = scores.get_column("p_repay")
        return cls(
            scored=p_repay.drop_nulls().len(),
            score_bins=score_bins(p_repay),
            extensions=_first_extensions(due),
            extensions_total=due.height,
        )

    def __add__(self, other: ReviewFigures) -> ReviewFigures:
        return ReviewFigures(
            scored=self.scored + other.scored,
            score_bins=_summed(self.score_bins, other.score_bins),
            active_deciles=_summed(self.active_deciles, other.active_deciles),
            active_reference=_summed(self.active_reference, other.active_reference),
            held=self.held + other.held,
            unverified=self.unverified + other.unverified,
            phone_invalid=self.phone_invalid + other.phone_invalid,
            barred=self.barred + other.barred,
            extensions=_first_extensions(pl.concat([self.extensions, other.extensions])),
            extensions_total=self.extensions_total + other.extensions_total,
            changes=self.changes + other.changes,
            change_debtors=self.change_debtors + other.change_debtors,
            change_reasons=self.change_reasons + other.change_reasons,
        )


def _pairs(frame: pl.DataFrame, key: str) -> tuple[tuple[str, int], ...]:
    """(value of ``key``, rows), most rows first; a missing value shows as "(none)"."""
    if frame.is_empty():
        return ()
    counted = (
        frame.group_by(pl.col(key).cast(pl.Utf8).fill_null("(none)"))
        .len()
        .sort(["len", key], descending=[True, False])
    )
    return tuple((str(k), int(n)) for k, n in counted.iter_rows())


def _ranked_counts(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    """``_pairs`` of counts made already: most first, then by the value."""
    return tuple(sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0])))


def _counted(frame: pl.DataFrame, *keys: str) -> Counter[Any]:
    """Rows per value of ``keys`` (a missing value as "(none)", as ``_pairs`` shows it); one
    key's counts are keyed by its value, several keys' by their tuple."""
    grouped = frame.group_by(pl.col(k).cast(pl.Utf8).fill_null("(none)") for k in keys).len()
    if len(keys) == 1:
        return Counter({str(k): int(n) for k, n in grouped.iter_rows()})
    return Counter({tuple(r[:-1]): int(r[-1]) for r in grouped.iter_rows()})


def _rows_per(frame: pl.DataFrame, key: str) -> tuple[tuple[str, int], ...]:
    """Distinct input rows (file, row) per ``key``: a row failing two rules counts once each."""
    if frame.is_empty():
        return ()
    counted = (
        frame.group_by(pl.col(key).cast(pl.Utf8).fill_null("(none)"))
        .agg(pl.struct("file", "row").n_unique().alias("rows"))
        .sort(["rows", key], descending=[True, False])
    )
    return tuple((str(k), int(n)) for k, n in counted.iter_rows())


def _channel_rank(channel: str) -> tuple[int, str]:
    return (CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else 99, channel)


def _by_channel(worklists: pl.DataFrame) -> tuple[tuple[str, int, float], ...]:
    if worklists.is_empty():
        return ()
    grouped = worklists.group_by("channel").agg(
        pl.len().alias("cases"), pl.col("expected_recovery").sum().alias("value")
    )
    rows = [(str(c), int(n), float(v or 0.0)) for c, n, v in grouped.iter_rows()]
    return tuple(sorted(rows, key=lambda r: _channel_rank(r[0])))


def score_bins(p_repay: pl.Series, bins: int = SCORE_BINS) -> tuple[int, ...]:
    """Counts of ``p_repay`` in ``bins`` equal bins over [0, 1] (1.0 falls in the last)."""
    p = p_repay.cast(pl.Float64).drop_nulls()
    p = p.filter(p.is_finite())
    counts = [0] * bins
    if p.is_empty():
        return tuple(counts)
    index = (p.clip(0.0, 1.0) * bins).floor().cast(pl.Int64).clip(0, bins - 1)
    for b, n in pl.DataFrame({"b": index}).group_by("b").len().iter_rows():
        counts[int(b)] = int(n)
    return tuple(counts)


def _capacity(roster: pl.DataFrame, worklists: pl.DataFrame) -> tuple[CapacityUse, ...]:
    team = pl.col("team").fill_null("(no team)")
    pools = roster.group_by(team, "channel").agg(
        pl.col("active").sum().alias("collectors"),
        (~pl.col("active")).sum().alias("on_leave"),
        pl.col("daily_capacity").filter(pl.col("active")).sum().alias("capacity"),
    )
    used = worklists.group_by(team, "channel").len().rename({"len": "used"})
    joined = pools.join(used, on=["team", "channel"], how="full", coalesce=True).with_columns(
        pl.col("collectors", "on_leave", "capacity", "used").fill_null(0)
    )
    rows = [
        CapacityUse(
            team=str(r["team"]),
            channel=str(r["channel"]),
            collectors=int(r["collectors"]),
            on_leave=int(r["on_leave"]),
            used=int(r["used"]),
            capacity=int(r["capacity"]),
        )
        for r in joined.iter_rows(named=True)
    ]
    return tuple(sorted(rows, key=lambda c: (_channel_rank(c.channel), c.team)))


def _collectors(roster: pl.DataFrame, worklists: pl.DataFrame) -> tuple[CollectorLoad, ...]:
    """Every collector in tonight or with work tonight, highest expected recovery first."""
    work = worklists.group_by("collector_id").agg(
        pl.len().alias("cases"), pl.col("expected_recovery").sum().alias("value")
    )
    people = roster.select(
        "collector_id",
        "name",
        "team",
        "channel",
        pl.when(pl.col("active")).then(pl.col("daily_capacity")).otherwise(0).alias("capacity"),
        "active",
    )
    joined = (
        people.join(work, on="collector_id", how="full", coalesce=True)
        .filter(pl.col("active").fill_null(False) | pl.col("cases").is_not_null())
        .with_columns(pl.col("cases", "capacity").fill_null(0), pl.col("value").fill_null(0.0))
        .sort(["value", "collector_id"], descending=[True, False])
    )
    return tuple(
        CollectorLoad(
            collector_id=str(r["collector_id"]),
            name=str(r["name"] or ""),
            team=str(r["team"] or ""),
            channel=str(r["channel"] or ""),
            cases=int(r["cases"]),
            capacity=int(r["capacity"]),
            expected_recovery=float(r["value"]),
        )
        for r in joined.iter_rows(named=True)
    )


def _inputs(manifest: dict[str, Any]) -> tuple[InputSummary, ...]:
    return tuple(
        InputSummary(
            file=str(f.get("file", "")),
            kind=str(f.get("kind") or ""),
            status=str(f.get("status", "")),
            rows=int(f.get("rows") or 0),
            # Library messages can quote raw values: hide long digit runs (ids, cards, phones).
            message=scrub_text(str(f.get("message") or "")),
        )
        for f in manifest.get("inputs", [])
    )


def build_report_data(
    manifest: dict[str, Any],
    frames: NightFrames,
    roster: pl.DataFrame,
    scores: Scores,
    rejects: pl.DataFrame,
    review: NightReview | None = None,
) -> ReportData:
    """Reduce the night to what report.html shows (see ``ReportData``).

    With ``review``, the score distribution is that of the night's book (every case worked or
    held tonight), compared with the model's held-out night, and the page gains the changes
    since the night before, the scorecards and the rules that applied. Without, the scores are
    ``scores.frame``'s and the extensions due are read from the worklists and ``frames.holds``.
    """
    placed = PlacedNight(frames.worklists, frames.letters, HoldCounts.of(frames.holds))
    if review is None:
        figures = ReviewFigures.unreviewed(scores.frame, frames.worklists, frames.holds)
    else:
        figures = review.counted()
    return report_data(manifest, placed, roster, scores, rejects, review, figures)


def report_data(
    manifest: dict[str, Any],
    placed: PlacedNight,
    roster: pl.DataFrame,
    scores: Scores,
    rejects: pl.DataFrame,
    review: NightReview | None,
    figures: ReviewFigures,
) -> ReportData:
    """``build_report_data`` of a night whose holds, decisions and changes are counted already
    (``placed.held``, ``figures``): a large night's are never held whole (issue 8)."""
    counts: dict[str, Any] = manifest.get("counts", {})
    worklists, held = placed.worklists, placed.held
    rows_rejected = counts.get("rows_rejected")
    if rows_rejected is None:
        rows_rejected = rejects.select(pl.struct("file", "row").n_unique()).item()
    collectors = _collectors(roster, worklists)
    extra = _review_fields(review, figures, collectors) if review is not None else {}
    return ReportData(
        business_date=str(manifest.get("business_date", "")),
        run_id=str(manifest.get("run_id", "")),
        method=str(scores.method),
        model_version=None if scores.model_version is None else str(scores.model_version),
        model_sha256=None if scores.model_sha256 is None else str(scores.model_sha256),
        policy_sha256=str(manifest.get("policy_sha256", "")),
        rule_pack=str(manifest.get("rule_pack", "")),
        book=int(counts.get("book", worklists.height + held.total)),
        worked=worklists.height,
        held=held.total,
        letters=placed.letters.height,
        rows_rejected=int(rows_rejected),
        expected_recovery=float(worklists.get_column("expected_recovery").sum() or 0.0),
        extension_due_worked=int(worklists.get_column("extension_due").fill_null(False).sum()),
        extension_due_held=sum(held.extension_due.values()),
        worked_by_channel=_by_channel(worklists),
        held_by_reason=_ranked_counts(held.by_reason),
        actions=_pairs(worklists, "action"),
        capacity=_capacity(roster, worklists),
        collectors=collectors,
        scored=figures.scored,
        score_bins_all=figures.score_bins,
        score_bins_worked=score_bins(worklists.get_column("p_repay")),
        rejects_by_rule=_rows_per(rejects, "rule"),
        rejects_by_file=_rows_per(rejects, "file"),
        inputs=_inputs(manifest),
        warnings=tuple(scrub_text(str(w)) for w in manifest.get("warnings", [])),
        timings=_timings(manifest),
        extensions_by_client=_extensions(worklists, held),
        cycle_weeks=_cycle_weeks(worklists),
        **_extension_cases(worklists, figures),
        strategy=dict(manifest.get("strategy") or {}),
        **extra,
        **_drift(manifest),
        **_allocation(manifest),
    )


def _drift(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's drift (see models.score.Scores.drift_record) as ReportData fields."""
    drift = manifest.get("drift") or {}
    # The score first, then the most shifted: the same order whether the manifest is tonight's
    # or read back from the warehouse (where JSON keys come sorted).
    items = ((str(k), float(v)) for k, v in dict(drift.get("psi") or {}).items())
    psi = tuple(sorted(items, key=lambda kv: (kv[0] != "p_repay", -kv[1], kv[0])))
    return {"drift": psi, "drift_warn_above": float(drift.get("warn_above", 0.25))}


def _allocation(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's allocation record (pipeline.optimise) as lines and a pools table."""
    stats = dict(manifest.get("allocation") or {})
    if not stats:
        return {}
    lines = [("method", str(stats.get("method", "")))]
    if "objective" in stats and "upper_bound" in stats:
        lines.append(
            (
                "expected net value",
                f"{_money(float(stats['objective']))} of at most "
                f"{_money(float(stats['upper_bound']))} (proven by the LP's dual bound)",
            )
        )
    if "gap_bound" in stats:
        lines.append(("within the optimum", f"{float(stats['gap_bound']):.2%} at most"))
    if stats.get("greedy_objective") is not None:
        lines.append(
            (
                "a simple rule (value first) would give",
                _money(float(stats["greedy_objective"])),
            )
        )
    if stats.get("fairness_max_spread") is not None:
        lines.append(("fairness bound", f"{float(stats['fairness_max_spread']):.0%} spread"))
    pools = tuple(
        (
            str(p.get("pool", "")),
            str(p.get("channel", "")),
            int(p.get("collectors", 0)),
            int(p.get("capacity", 0)),
            int(p.get("used", 0)),
            f"{float(p.get('spread', 0.0)):.0%}",
            "yes" if p.get("within_bound", True) else "NO",
        )
        for p in stats.get("pools", [])
    )
    return {"allocation": tuple(lines), "pools": pools}


STAGE_ORDER = ("ingest", "validate", "load", "score", "strategy", "allocate", "review", "publish")


def _timings(manifest: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """Seconds per stage in the night's order (a manifest read back from JSON may be sorted)."""
    stages = [(str(k), float(v)) for k, v in dict(manifest.get("timings_seconds", {})).items()]
    rank = {name: i for i, name in enumerate(STAGE_ORDER)}
    return tuple(sorted(stages, key=lambda kv: rank.get(kv[0], len(rank))))


def _extensions(worklists: pl.DataFrame, held: HoldCounts) -> tuple[tuple[str, int, int], ...]:
    """Per client: cases reaching the R3 extension point, worked tonight and held."""
    due = worklists.filter(pl.col("extension_due").fill_null(False)).group_by("client_id").len()
    worked = {str(c): int(n) for c, n in due.iter_rows()}
    clients = set(worked) | {c for c, n in held.extension_due.items() if n}
    rows = [(c, worked.get(c, 0), held.extension_due.get(c, 0)) for c in clients]
    return tuple(sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0])))


def _cycle_weeks(worklists: pl.DataFrame) -> tuple[tuple[int, int, int], ...]:
    """R1: tonight's worked cases per week of their cycle, and how many have an extension due."""
    if "cycle_week" not in worklists.columns or worklists.is_empty():
        return ()
    weeks = (
        worklists.filter(pl.col("cycle_week").is_not_null())
        .group_by("cycle_week")
        .agg(pl.len(), pl.col("extension_due").fill_null(False).sum())
        .sort("cycle_week")
    )
    return tuple((int(w), int(n), int(e)) for w, n, e in weeks.iter_rows())


def _first_extensions(due: pl.DataFrame) -> pl.DataFrame:
    """The ``MAX_EXTENSION_ROWS`` cases of ``due`` listed first: soonest return first."""
    return due.sort(_EXTENSION_ORDER, nulls_last=True).head(MAX_EXTENSION_ROWS)


def _extension_cases(worklists: pl.DataFrame, figures: ReviewFigures) -> dict[str, Any]:
    """R3: the cases reaching the extension point, soonest return first, by case id only."""
    week = (
        worklists.select("client_id", "case_id", pl.col("cycle_week").cast(pl.Utf8))
        if "cycle_week" in worklists.columns
        else worklists.select("client_id", "case_id", pl.lit(None, pl.Utf8).alias("cycle_week"))
    )
    rows = (
        figures.extensions.join(  # the first MAX_EXTENSION_ROWS already
            week, on=["client_id", "case_id"], how="left"
        )
        .sort(_EXTENSION_ORDER, nulls_last=True)
        .select("client_id", "case_id", "return_date", "cycle_week", "where")
    )
    return {
        "extension_cases": tuple(
            tuple(str(v) if v is not None else "" for v in r) for r in rows.iter_rows()
        ),
        "extension_cases_total": figures.extensions_total,
    }


def decile_counts(p_repay: pl.Series, lowest: Sequence[float]) -> tuple[int, ...]:
    """How many of ``p_repay`` fall in each decile whose lowest score is ``lowest`` (best
    first); a score below the last decile's lowest counts in the last."""
    p = p_repay.cast(pl.Float64).drop_nulls()
    p = p.filter(p.is_finite())
    counts = [0] * len(lowest)
    if p.is_empty() or not lowest:
        return tuple(counts)
    above = sum((p >= threshold).cast(pl.Int64) for threshold in lowest)
    assert isinstance(above, pl.Series)
    index = (len(lowest) - above).clip(0, len(lowest) - 1)
    for i, n in pl.DataFrame({"i": index}).group_by("i").len().iter_rows():
        counts[int(i)] = int(n)
    return tuple(counts)


def population_stability(counts: Sequence[int]) -> float | None:
    """PSI of ``counts`` against equal shares (the held-out deciles hold a tenth each)."""
    total = sum(counts)
    if not total or not counts:
        return None
    expected = 1.0 / len(counts)
    psi = 0.0
    for n in counts:
        actual = max(n / total, 1e-4)
        psi += (actual - expected) * math.log(actual / expected)
    return round(psi, 4)


def _rules(figures: ReviewFigures) -> tuple[tuple[str, str, int], ...]:
    """The rules that shaped the night and how many cases each touched."""
    rows: list[tuple[str, str, int]] = []
    for reason, n in _ranked_counts(figures.held):
        rows.append(("hold", reason, n))
    if figures.unverified:
        rows.append(
            ("R19", "first contact verifies identity before any collection", figures.unverified)
        )
    if figures.phone_invalid:
        rows.append(
            ("R4", "phone no longer reaches the debtor: trace and repair", figures.phone_invalid)
        )
    for channel in ("letter", "visit", "phone"):
        barred = Counter({w: n for (c, w), n in figures.barred.items() if c == channel})
        for text, n in _ranked_counts(barred):
            rows.append((f"no {channel}", text, n))
    return tuple(rows)


def reference_counts(p_repay: pl.Series, edges: Sequence[float]) -> tuple[int, ...]:
    """How many of ``p_repay`` fall in each bin of a training reference (models.drift's bins:
    a bin per edge, one above the last), and last how many have no score."""
    found = drift.counts({"edges": list(edges)}, p_repay.cast(pl.Float64).to_numpy())
    return tuple(int(n) for n in found)


def _against_training(
    review: NightReview, figures: ReviewFigures, lowest: Sequence[float]
) -> tuple[tuple[tuple[str, float, float], ...], float | None, str]:
    """(bins, PSI, what they come from): the champion's training distribution of p_repay when
    its card holds one (models.drift's bins: the same PSI as the night's drift watch), else the
    deciles of the model's held-out night."""
    reference = review.score_reference
    deciles = figures.active_deciles
    if reference:
        edges, shares = list(reference["edges"]), list(reference["shares"])
        counts = list(figures.active_reference)
        total = max(sum(counts), 1)
        labels = [f"p ≤ {edges[0]:.1%}"] if edges else ["all"]
        labels += [f"{lo:.1%} < p ≤ {hi:.1%}" for lo, hi in itertools.pairwise(edges)]
        labels += [f"p > {edges[-1]:.1%}"] if edges else []
        labels += ["no score"]
        rows = [
            (label, share * 100, n / total * 100)
            for label, share, n in zip(labels, shares, counts, strict=True)
            if share or n
        ]
        psi = sum(
            (max(n / total, 1e-4) - max(e, 1e-4)) * math.log(max(n / total, 1e-4) / max(e, 1e-4))
            for e, n in zip(shares, counts, strict=True)
        )
        return tuple(reversed(rows)), round(psi, 4), "the champion's training data"
    if not lowest:
        return (), None, ""
    total = sum(deciles) or 1
    rows = [
        (f"decile {i + 1} (p ≥ {low:.1%})", 10.0, n / total * 100)
        for i, (low, n) in enumerate(zip(lowest, deciles, strict=True))
    ]
    return tuple(rows), population_stability(deciles), "the model's held-out night"


def _caps(collectors: Sequence[CollectorLoad]) -> tuple[str, ...]:
    full = [c for c in collectors if c.capacity and c.cases >= c.capacity]
    with_capacity = [c for c in collectors if c.capacity]
    if not full:
        return ()
    return (
        f"capacity cap reached: {len(full):,} of {len(with_capacity):,} collectors were given a "
        "full day's work",
    )


def _review_fields(
    review: NightReview, figures: ReviewFigures, collectors: Sequence[CollectorLoad]
) -> dict[str, Any]:
    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    change_rows = sorted(
        ((c, n, figures.change_debtors[c]) for c, n in figures.changes.items() if n),
        key=lambda r: order.get(r[0], 99),
    )
    # most first, then by change and reason (a missing reason first, as polars sorts it)
    reasons = sorted(
        ((c, k, n) for (c, k), n in figures.change_reasons.items() if n),
        key=lambda r: (-r[2], r[0], r[1] is not None, r[1] or ""),
    )[:20]
    lowest = review.training_deciles or ()
    # The model was judged on active cases: tonight's active cases are compared with them.
    tonight = figures.active_deciles
    bins, psi, source = _against_training(review, figures, lowest)
    cards = tuple(
        ScorecardRow(
            collector_id=str(r["collector_id"]),
            name=str(r["collector_name"] or ""),
            team=str(r["team"] or ""),
            channel=str(r["channel"] or ""),
            cases_allocated=int(r["cases_allocated"]),
            cases_worked=int(r["cases_worked"]),
            attempts=int(r["attempts"]),
            right_party_contacts=int(r["right_party_contacts"]),
            promises=int(r["promises"]),
            promises_due=int(r["promises_due"]),
            promises_kept=int(r["promises_kept"]),
            amount_recovered=float(r["amount_recovered"]),
            complaints=int(r["complaints"]),
        )
        for r in review.scorecards.iter_rows(named=True)
    )
    end = review.scorecards.get_column("cycle_end").max() if review.scorecards.height else None
    return {
        "training_deciles": tuple(lowest),
        "tonight_deciles": tonight,
        "training_bins": bins,
        "training_source": source,
        "psi": psi,
        "changes_compared_with": review.compared_with,
        "changes": tuple(change_rows),
        "change_reasons": tuple((str(c), str(k), int(n)) for c, k, n in reasons),
        "cycle": (review.cycle_start.isoformat(), "" if end is None else str(end)),
        "scorecards": cards,
        "rules": _rules(figures),
        "caps_hit": _caps(collectors),
    }


# --- SVG charts --------------------------------------------------------------------------------

_WIDTH = 900  # room for a bar of _BAR_W and its label after it
_LABEL_W = 230
_BAR_W = 400
_ROW_H = 22


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _money(value: float) -> str:
    return f"¥{value:,.0f}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _clip(text: str, width: int = 32) -> str:
    """``text`` cut to ``width`` display columns (CJK counts two), with an ellipsis."""
    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width:
            return out + "…"
        out, used = out + ch, used + w
    return out


def _channel_css(channel: str) -> str:
    return f"c-{channel}" if channel in CHANNEL_ORDER else "c-other"


def _svg(height: int, caption: str, body: Iterable[str]) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page then holds no URL at all.
    return (
        f'<svg viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" '
        f'role="img" aria-label="{_e(caption)}"><title>{_e(caption)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _empty(caption: str) -> str:
    return _svg(36, caption, [f'<text x="8" y="22" class="muted">{_e(caption)}: none</text>'])


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    css: str = "c-other"
    tip: str = ""


def bar_chart(bars: Sequence[Bar], caption: str) -> str:
    """Horizontal bars, one per row, scaled to the largest value, labelled both ends."""
    if not bars:
        return _empty(caption)
    top = max((b.value for b in bars), default=0.0) or 1.0
    parts = []
    for i, b in enumerate(bars):
        y = 4 + i * _ROW_H
        w = 0.0 if b.value <= 0 else max(1.0, b.value / top * _BAR_W)
        tip = f"<title>{_e(b.tip or f'{b.label}: {b.text}')}</title>"
        parts.append(
            f"<g>{tip}"
            f'<text x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">{_e(_clip(b.label))}</text>'
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{_ROW_H - 6}" '
            f'class="{_e(b.css)}"/>'
            f'<text x="{_LABEL_W + w + 6:.1f}" y="{y + 15}">{_e(b.text)}</text></g>'
        )
    return _svg(8 + len(bars) * _ROW_H, caption, parts)


def capacity_chart(pools: Sequence[CapacityUse], caption: str) -> str:
    """Per team: capacity as a pale bar, work given tonight drawn over it."""
    if not pools:
        return _empty(caption)
    top = max(max(p.capacity, p.used) for p in pools) or 1
    parts = []
    for i, p in enumerate(pools):
        y = 4 + i * _ROW_H
        cap_w = p.capacity / top * _BAR_W
        used_w = p.used / top * _BAR_W
        share = f"{p.used / p.capacity:.0%}" if p.capacity else "no capacity"
        css = "over" if p.used > p.capacity else _channel_css(p.channel)
        label = f"{p.team} ({p.channel})"
        text = f"{p.used:,} / {p.capacity:,} ({share})"
        tip = f"{label}: {text}; {p.collectors} in, {p.on_leave} on leave"
        parts.append(
            f"<g><title>{_e(tip)}</title>"
            f'<text x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">{_e(_clip(label))}</text>'
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{cap_w:.1f}" height="{_ROW_H - 6}" '
            f'class="cap"/>'
            f'<rect x="{_LABEL_W}" y="{y + 6}" width="{used_w:.1f}" height="{_ROW_H - 12}" '
            f'class="{css}"/>'
            f'<text x="{_LABEL_W + max(cap_w, used_w) + 6:.1f}" y="{y + 15}">{_e(text)}</text>'
            "</g>"
        )
    return _svg(8 + len(pools) * _ROW_H, caption, parts)


def histogram(all_bins: Sequence[int], worked_bins: Sequence[int], caption: str) -> str:
    """p_repay of every scored case (pale) with the worked ones drawn over (dark)."""
    if not any(all_bins) and not any(worked_bins):
        return _empty(caption)
    left, top, plot_w, plot_h = 60, 24, 640, 170
    peak = max(*all_bins, *worked_bins, 1)
    step = plot_w / len(all_bins)
    parts = [
        f'<rect x="{left}" y="6" width="10" height="10" class="hist-all"/>'
        f'<text x="{left + 14}" y="15">the night\'s book</text>'
        f'<rect x="{left + 150}" y="6" width="10" height="10" class="hist-worked"/>'
        f'<text x="{left + 164}" y="15">worked tonight</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'class="axis"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak:,}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, (n_all, n_worked) in enumerate(zip(all_bins, worked_bins, strict=True)):
        x = left + i * step
        lo, hi = i / len(all_bins), (i + 1) / len(all_bins)
        tip = f"p_repay {lo:.0%}–{hi:.0%}: {n_all:,} scored, {n_worked:,} worked"
        parts.append(f"<g><title>{_e(tip)}</title>")
        for n, css in ((n_all, "hist-all"), (n_worked, "hist-worked")):
            h = n / peak * plot_h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{step - 2:.1f}" '
                f'height="{h:.1f}" class="{css}"/>'
            )
        parts.append("</g>")
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<text x="{left + q * plot_w:.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle">{q:.0%}</text>'
        )
    return _svg(top + plot_h + 24, caption, parts)


def _collector_bars(collectors: Sequence[CollectorLoad]) -> list[Bar]:
    def bar(c: CollectorLoad) -> Bar:
        return Bar(
            label=f"{c.collector_id} {c.name}",
            value=c.expected_recovery,
            text=f"{_money(c.expected_recovery)} · {c.cases}/{c.capacity}",
            css=_channel_css(c.channel),
            tip=f"{c.collector_id} {c.name} ({c.team}, {c.channel}): "
            f"{_money(c.expected_recovery)} expected from {c.cases} cases, capacity {c.capacity}",
        )

    if len(collectors) <= MAX_COLLECTOR_BARS:
        return [bar(c) for c in collectors]
    half = MAX_COLLECTOR_BARS // 2
    hidden = len(collectors) - 2 * half
    gap = Bar(label=f"… {hidden:,} more …", value=0.0, text="")
    return [bar(c) for c in collectors[:half]] + [gap] + [bar(c) for c in collectors[-half:]]


def paired_chart(
    labels: Sequence[str],
    first: Sequence[float],
    second: Sequence[float],
    caption: str,
    legend: tuple[str, str],
    css: tuple[str, str],
    texts: Sequence[str],
) -> str:
    """Two bars per row (e.g. training and tonight), scaled to the largest, labelled at the end."""
    if not labels:
        return _empty(caption)
    top = max(*first, *second, 0.0) or 1.0
    parts = [
        f'<rect x="{_LABEL_W}" y="4" width="10" height="10" class="{css[0]}"/>'
        f'<text x="{_LABEL_W + 14}" y="13">{_e(legend[0])}</text>'
        f'<rect x="{_LABEL_W + 200}" y="4" width="10" height="10" class="{css[1]}"/>'
        f'<text x="{_LABEL_W + 214}" y="13">{_e(legend[1])}</text>'
    ]
    row_h = 28
    for i, (label, a, b, text) in enumerate(zip(labels, first, second, texts, strict=True)):
        y = 22 + i * row_h
        wa, wb = a / top * _BAR_W, b / top * _BAR_W
        parts.append(
            f"<g><title>{_e(f'{label}: {text}')}</title>"
            f'<text x="{_LABEL_W - 8}" y="{y + 16}" text-anchor="end">{_e(_clip(label))}</text>'
            f'<rect x="{_LABEL_W}" y="{y + 2}" width="{wa:.1f}" height="11" class="{css[0]}"/>'
            f'<rect x="{_LABEL_W}" y="{y + 13}" width="{wb:.1f}" height="11" class="{css[1]}"/>'
            f'<text x="{_LABEL_W + max(wa, wb) + 6:.1f}" y="{y + 17}">{_e(text)}</text></g>'
        )
    return _svg(26 + len(labels) * row_h, caption, parts)


def stacked_chart(
    labels: Sequence[str],
    parts_of: Sequence[tuple[int, int]],
    caption: str,
    legend: tuple[str, str],
    css: tuple[str, str],
) -> str:
    """One bar per row in two parts (e.g. worked and held), labelled with both counts."""
    if not labels:
        return _empty(caption)
    top = max(a + b for a, b in parts_of) or 1
    parts = [
        f'<rect x="{_LABEL_W}" y="4" width="10" height="10" class="{css[0]}"/>'
        f'<text x="{_LABEL_W + 14}" y="13">{_e(legend[0])}</text>'
        f'<rect x="{_LABEL_W + 200}" y="4" width="10" height="10" class="{css[1]}"/>'
        f'<text x="{_LABEL_W + 214}" y="13">{_e(legend[1])}</text>'
    ]
    for i, (label, (a, b)) in enumerate(zip(labels, parts_of, strict=True)):
        y = 22 + i * _ROW_H
        wa, wb = a / top * _BAR_W, b / top * _BAR_W
        text = f"{a:,} {legend[0]}, {b:,} {legend[1]}"
        parts.append(
            f"<g><title>{_e(f'{label}: {text}')}</title>"
            f'<text x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">{_e(_clip(label))}</text>'
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{wa:.1f}" height="{_ROW_H - 6}" '
            f'class="{css[0]}"/>'
            f'<rect x="{_LABEL_W + wa:.1f}" y="{y + 3}" width="{wb:.1f}" height="{_ROW_H - 6}" '
            f'class="{css[1]}"/>'
            f'<text x="{_LABEL_W + wa + wb + 6:.1f}" y="{y + 15}">{_e(text)}</text></g>'
        )
    return _svg(26 + len(labels) * _ROW_H, caption, parts)


def _extremes(items: Sequence[Any], limit: int = MAX_COLLECTOR_BARS) -> tuple[list[Any], int]:
    """All of ``items`` up to ``limit``, else the first and last ``limit // 2`` and how many
    were left out between them."""
    if len(items) <= limit:
        return list(items), 0
    half = limit // 2
    return [*items[:half], *items[-half:]], len(items) - 2 * half


# --- the page ----------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",sans-serif;
margin:0 auto;max-width:1000px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555;margin:0}code{background:#f3f3f3;padding:0 4px;border-radius:3px}
.banner{border-radius:6px;padding:10px 14px;margin:14px 0;font-weight:600}
.banner.warn{background:#fff4ce;border:1px solid #e0b400}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:130px}
.tile b{display:block;font-size:20px}.tile span{color:#555;font-size:12px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;
text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;max-width:100%;height:auto;font-size:12px}svg text{fill:#333}
.muted{fill:#888;color:#888}.cap{fill:#e6e6e6}.over{fill:#d62728}.axis{stroke:#999}
.c-phone{fill:#4e79a7}.c-visit{fill:#f28e2b}.c-letter{fill:#59a14f}.c-other{fill:#9c9c9c}
.hist-all{fill:#c6d7ea}.hist-worked{fill:#2f5f8f}.bad{fill:#b5543c}
.train{fill:#bab0ac}.tonight{fill:#af7aa1}.ext-worked{fill:#76b7b2}.ext-held{fill:#e15759}
.chg{fill:#edc948}.rec{fill:#8cd17d}.held{fill:#9d7660}
.glance{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
ul.warn{padding-left:20px}ul.warn li{margin:3px 0}
details summary{cursor:pointer;color:#2f5f8f}
"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    def cell(tag: str, i: int, v: object) -> str:
        css = ' class="n"' if i in numeric else ""
        return f"<{tag}{css}>{_e(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tile(value: str, label: str) -> str:
    return f'<div class="tile"><b>{_e(value)}</b><span>{_e(label)}</span></div>'


def _section(anchor: str, title: str, *content: str, chart: bool = False) -> str:
    css = ' class="chart"' if chart else ""
    return f'<section id="{anchor}"{css}><h2>{_e(title)}</h2>{"".join(content)}</section>'


def _model_line(d: ReportData) -> str:
    if d.method == "rule":
        return "scoring: R6 rule (no trained model)"
    sha = f", sha256 {d.model_sha256[:12]}…" if d.model_sha256 else ""
    return f"scoring: model {d.model_version or '(unversioned)'}{sha}"


def _banners(d: ReportData) -> str:
    if d.method != "rule":
        return ""
    return (
        '<div class="banner warn" id="rule-fallback">Tonight\'s ranking is by the R6 rule '
        "(ability to pay, then days overdue), not by a trained model. Run "
        "<code>caseflow train</code> once the warehouse holds history, so the next nights "
        "are ranked by the model.</div>"
    )


def _glance(d: ReportData) -> str:
    tiles = [
        _tile(f"{d.book:,}", "cases in the book"),
        _tile(f"{d.worked:,}", "worked tonight"),
        _tile(f"{d.held:,}", "held"),
        _tile(f"{d.letters:,}", "letters"),
        _tile(f"{d.rows_rejected:,}", "input rows rejected"),
        _tile(_money(d.expected_recovery), "expected recovery"),
        _tile(
            f"{d.extension_due_worked + d.extension_due_held:,}",
            f"extension due, R3 ({d.extension_due_held:,} held)",
        ),
    ]
    held = _table(("held by reason", "cases"), ((r, f"{n:,}") for r, n in d.held_by_reason), {1})
    worked = _table(
        ("worked by channel", "cases", "expected recovery"),
        ((ch, f"{n:,}", _money(v)) for ch, n, v in d.worked_by_channel),
        {1, 2},
    )
    return _section(
        "glance",
        "The night at a glance",
        f'<div class="tiles">{"".join(tiles)}</div>',
        f'<div class="glance">{worked}{held}</div>',
    )


def night_warnings(d: ReportData) -> list[str]:
    """The night's warnings: the run's own, score drift, caps reached."""
    found = list(d.warnings)
    if d.drift:
        pass  # the champion's own drift watch ran: its warning, if any, is the run's own
    elif d.psi is not None and d.psi >= 0.25:
        found.append(
            f"score drift: tonight's scores are distributed unlike the model's held-out night "
            f"(PSI {d.psi:.2f} ≥ 0.25); check the inputs, then retrain (caseflow train)"
        )
    elif d.psi is not None and d.psi >= 0.10:
        found.append(
            f"some score drift: PSI {d.psi:.2f} against the model's held-out night (0.10-0.25)"
        )
    found.extend(d.caps_hit)
    return found


def _warnings_section(d: ReportData) -> str:
    found = night_warnings(d)
    body = (
        '<ul class="warn">' + "".join(f"<li>{_e(w)}</li>" for w in found) + "</ul>"
        if found
        else '<p class="muted">No warnings.</p>'
    )
    return _section("warnings", "Warnings of the night", body)


def _channel_section(d: ReportData) -> str:
    bars = [
        Bar(ch, n, f"{_count(n, 'case')} · {_money(v)}", _channel_css(ch))
        for ch, n, v in d.worked_by_channel
    ]
    return _section(
        "channels", "Worked by channel", bar_chart(bars, "cases by channel"), chart=True
    )


def _capacity_section(d: ReportData) -> str:
    return _section(
        "capacity",
        "Capacity use per team",
        capacity_chart(d.capacity, "cases given against daily capacity, per team"),
        chart=True,
    )


def _collector_section(d: ReportData) -> str:
    note = ""
    if len(d.collectors) > MAX_COLLECTOR_BARS:
        note = (
            f'<p class="muted">The {MAX_COLLECTOR_BARS // 2} highest and lowest of '
            f"{len(d.collectors):,} collectors; all are in the table below.</p>"
        )
    table = _table(
        ("collector", "name", "team", "channel", "cases", "capacity", "expected recovery"),
        (
            (
                c.collector_id,
                c.name,
                c.team,
                c.channel,
                f"{c.cases:,}",
                f"{c.capacity:,}",
                _money(c.expected_recovery),
            )
            for c in d.collectors
        ),
        {4, 5, 6},
    )
    return _section(
        "collectors",
        "Expected recovery per collector",
        bar_chart(_collector_bars(d.collectors), "expected recovery per collector"),
        note,
        f"<details><summary>All {len(d.collectors):,} collectors</summary>{table}</details>",
        chart=True,
    )


def _score_section(d: ReportData) -> str:
    return _section(
        "scores",
        "Score distribution tonight",
        f'<p class="muted">p_repay of the {d.scored:,} scored cases of the night, '
        f"{d.worked:,} worked.</p>",
        histogram(d.score_bins_all, d.score_bins_worked, "distribution of p_repay"),
        chart=True,
    )


def _reject_section(d: ReportData) -> str:
    bars = [Bar(rule, n, _count(n, "row"), "bad") for rule, n in d.rejects_by_rule]
    by_file = _table(("file", "rows rejected"), ((f, f"{n:,}") for f, n in d.rejects_by_file), {1})
    return _section(
        "rejects",
        "Rejected input rows by rule",
        bar_chart(bars, "rejected rows by rule"),
        by_file if d.rejects_by_file else "",
        chart=True,
    )


def _holds_section(d: ReportData) -> str:
    bars = [Bar(reason, n, _count(n, "case"), "held") for reason, n in d.held_by_reason]
    return _section("holds", "Held by reason", bar_chart(bars, "held cases by reason"), chart=True)


def _allocation_section(d: ReportData) -> str:
    """How good tonight's allocation is, proven, and how fairly each pool shares the value."""
    if not d.allocation:
        return ""
    summary = _table(("", ""), d.allocation, set())
    pools = _table(
        ("pool", "channel", "collectors", "capacity", "used", "value spread", "within bound"),
        d.pools,
        {2, 3, 4, 5},
    )
    return _section(
        "allocation",
        "Allocation: optimality and fairness",
        summary,
        '<p class="muted">Value spread: how far expected value per unit of capacity differs '
        "between a pool's collectors, each one's single best debtor set aside (R25).</p>",
        pools,
    )


def _drift_section(d: ReportData) -> str:
    """PSI per watched column against the champion's training data, with the threshold."""
    if not d.drift:
        return ""
    limit = d.drift_warn_above

    def status(v: float) -> str:
        return "stable" if v < 0.1 else "moderate shift" if v <= limit else "DRIFT: check"

    above = [name for name, v in d.drift if v > limit]
    note = (
        f"Above {limit:g} for {', '.join(above)}: the night ran with these scores; check the "
        "night's files and consider retraining on recent history."
        if above
        else f"Nothing above {limit:g}."
    )
    bars = [
        Bar(name, v, f"{v:.3f} ({status(v)})", "bad" if v > limit else "c-phone")
        for name, v in d.drift
    ]
    table = _table(
        ("column", "PSI", "reading"), ((n, f"{v:.3f}", status(v)) for n, v in d.drift), {1}
    )
    return _section(
        "drift",
        "Drift against the champion's training data",
        f'<p class="muted">Population stability index of tonight\'s active cases against the '
        f"training data of the champion, for the score (p_repay) and its main features: below "
        f"0.1 stable, above {limit:g} a shift worth a look. {_e(note)}</p>",
        bar_chart(bars, "population stability index per column"),
        table,
        chart=True,
    )


def _training_section(d: ReportData) -> str:
    if not d.training_bins:
        note = "No training distribution to compare with: " + (
            "tonight is ranked by the R6 rule."
            if d.method == "rule"
            else "the model card holds no deciles."
        )
        return _section(
            "training",
            "Scores tonight against training",
            f'<p class="muted">{_e(note)}</p>',
            _empty("tonight's scores by training decile"),
            chart=True,
        )
    labels = [label for label, _, _ in d.training_bins]
    texts = [f"{a:.1f}% in training, {b:.1f}% tonight" for _, a, b in d.training_bins]
    psi = "" if d.psi is None else f" Population stability index {d.psi:.3f}"
    verdict = (
        ""
        if d.psi is None
        else " (stable)."
        if d.psi < 0.10
        else " (a moderate shift)."
        if d.psi < 0.25
        else " (a shift: see the warnings)."
    )
    return _section(
        "training",
        "Scores tonight against training",
        f'<p class="muted">The share of cases in each score band, in {_e(d.training_source)} '
        f"and among tonight's {sum(d.tonight_deciles) or d.worked:,} active cases: the bars "
        f"should match.{_e(psi)}{_e(verdict)}</p>",
        paired_chart(
            labels,
            [a for _, a, _ in d.training_bins],
            [b for _, _, b in d.training_bins],
            "share of cases per training score band",
            ("training", "tonight"),
            ("train", "tonight"),
            texts,
        ),
        chart=True,
    )


def _extensions_section(d: ReportData) -> str:
    rows = d.extensions_by_client
    return _section(
        "extensions",
        "Extensions due (R3)",
        f'<p class="muted">Cases within the extension notice of their return date: ask the '
        f"client for an extension or prepare the return. {d.extension_due_worked:,} on "
        f"tonight's worklists, {d.extension_due_held:,} held.</p>",
        stacked_chart(
            [c for c, _, _ in rows],
            [(w, h) for _, w, h in rows],
            "extensions due per client",
            ("worked", "held"),
            ("ext-worked", "ext-held"),
        ),
        chart=True,
    )


def _cycle_section(d: ReportData) -> str:
    """R1 weeks of tonight's worked cases and R3's list of cases to extend."""
    if not d.cycle_weeks and not d.extension_cases:
        return ""
    weeks = _table(
        ("week of the cycle", "cases worked", "of them extension due"),
        ((f"week {w}", f"{n:,}", f"{e:,}") for w, n, e in d.cycle_weeks),
        {1, 2},
    )
    listed = _table(
        ("client", "case", "return date", "cycle week", "where tonight"),
        d.extension_cases,
        set(),
    )
    more = d.extension_cases_total - len(d.extension_cases)
    tail = (
        f'<p class="muted">and {more:,} more: see the worklists (extension_due) and holds.csv.</p>'
        if more > 0
        else ""
    )
    return _section(
        "cycle",
        "Cycle weeks (R1) and the cases to extend (R3)",
        '<p class="muted">A case cycle is one month, checked weekly: each worklist row carries '
        "its cycle and week on the work day (columns cycle, cycle_week). The cases below reach "
        "their extension point: ask the client before the return date.</p>",
        weeks,
        f"<details><summary>{d.extension_cases_total:,} cases with an extension due"
        f"</summary>{listed}{tail}</details>",
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _effects_table(effects: Sequence[dict[str, Any]], horizon: Any) -> str:
    rows = (
        (
            e.get("channel", ""),
            f"{int(e.get('contacts', 0)):,}",
            f"{int(e.get('paid', 0)):,}",
            _pct(e["paid"] / e["contacts"] if e.get("contacts") else None),
            _num(e.get("expected"), 1),
            _num(e.get("estimate")),
            _num(e.get("prior")),
            _num(e.get("weight")),
            _num(e.get("shrunk")),
            _num(e.get("used")),
        )
        for e in effects
    )
    return _table(
        (
            "channel",
            "contacts",
            f"paid within {horizon} days",
            "rate",
            "expected at the phone's rate",
            "estimate",
            "policy",
            "weight",
            "shrunk",
            "used tonight",
        ),
        rows,
        set(range(1, 10)),
    )


def _rhythm_table(cells: Sequence[dict[str, Any]], suggested: dict[str, Any]) -> str:
    strata = sorted({str(c.get("stratum", "")) for c in cells})
    gaps = ("1", "2", "3", "4-7", "8+")
    found = {(str(c.get("stratum")), str(c.get("gap"))): c for c in cells}

    def cell(stratum: str, gap: str) -> str:
        c = found.get((stratum, gap))
        if not c or not c.get("contacts"):
            return "–"
        return f"{c['paid'] / c['contacts']:.1%} of {int(c['contacts']):,}"

    rows = (
        (
            s,
            *(cell(s, g) for g in gaps),
            f"{suggested[s]} days" if s in suggested else "not enough evidence",
        )
        for s in strata
    )
    return _table(
        ("stage then", *(f"{g} days since the last contact" for g in gaps), "suggested"),
        rows,
        set(),
    )


def _groups_table(groups: Sequence[dict[str, Any]]) -> str:
    rows = (
        (
            g.get("group", ""),
            f"{int(g.get('debtors', 0)):,}",
            f"{int(g.get('cases', 0)):,}",
            _money(float(g.get("owed", 0.0))),
            _money(float(g.get("recovered", 0.0))),
            _pct(g["recovered"] / g["owed"] if g.get("owed") else None),
        )
        for g in groups
    )
    return _table(
        ("group", "debtors", "cases", "owed at the cycle's start", "recovered since", "rate"),
        rows,
        {1, 2, 3, 4, 5},
    )


def _strategy_section(d: ReportData) -> str:
    """The channel effects, the contact rhythm and champion/challenger, with their evidence."""
    s = d.strategy
    if not s:
        return ""
    since, until = [*list(s.get("window") or []), "", ""][:2]
    horizon = s.get("horizon_days", "")
    share = float(s.get("sample_share", 1.0) or 1.0)
    sampled = (
        f" Read for {share:.0%} of the cases (chosen by a hash of the case, every note of each): "
        "the window holds more notes than the night needs to estimate from."
        if share < 1.0
        else ""
    )
    return _section(
        "strategy",
        "Channel effects, contact rhythm and the challenger: the evidence",
        f'<p class="muted">From the notes of {_e(since)} to {_e(until)}: every day a case was '
        f"called, visited or sent a letter, and whether a payment came in the {_e(horizon)} "
        "days after. Within each overdue stage the visit's and the letter's payment rates are "
        "set against the phone's (the payments expected had the same contacts paid at the "
        "phone's rate): estimate = phone effect × paid / expected, then shrunk towards the "
        "policy's multiplier by weight n / (n + evidence_prior_contacts). Observational, not an "
        "experiment: a visit goes to debtors a call did not move, a letter to larger balances, "
        "so the estimates are confounded; the night uses them only when the policy's "
        f"use_estimated_effects is on.{_e(sampled)}</p>",
        _effects_table(list(s.get("channel_effects") or []), horizon),
        '<p class="muted">Contact rhythm: the payment rate per contact by the days since the '
        "case's previous contact. A contact is a unit of a collector's day, so the best rate "
        "per contact (among gaps with at least evidence_min_contacts contacts) is the suggested "
        "rhythm, slower than daily only when it beats daily work by more than two standard "
        "errors; the policy's rhythm_days per stage is used unless use_estimated_rhythm is on. "
        "Cases worked often are the ones that do not answer, so short gaps look worse than "
        "they are.</p>",
        _rhythm_table(list(s.get("rhythm") or []), dict(s.get("suggested_rhythm") or {})),
        f'<p class="muted">Champion against challenger over the cycle since '
        f"{_e(s.get('cycle_start', ''))}: debtors active at the cycle's first night, each in "
        "the group its seeded hash gives (challenger_share, challenger_seed), and what was paid "
        "on their cases since. Nights before the challenger was in force count as champion "
        "work for both groups.</p>",
        _groups_table(list(s.get("groups") or [])),
    )


def _changes_section(d: ReportData) -> str:
    bars = [
        Bar(change, n, f"{_count(n, 'case')} · {_count(debtors, 'debtor')}", "chg")
        for change, n, debtors in d.changes
    ]
    reasons = _table(
        ("change", "reason", "cases"),
        ((c, r, f"{n:,}") for c, r, n in d.change_reasons),
        {2},
    )
    compared = d.changes_compared_with or "the night before"
    return _section(
        "changes",
        "What changed since the night before",
        f'<p class="muted">Compared with {_e(compared)}. Every case is in changes.csv with '
        "its reason.</p>",
        bar_chart(bars, "changes since the night before"),
        reasons if d.change_reasons else "",
        chart=True,
    )


def _scorecard_section(d: ReportData) -> str:
    ranked = sorted(d.scorecards, key=lambda c: (-c.amount_recovered, c.collector_id))
    shown, hidden = _extremes(ranked, MAX_SCORECARD_BARS)
    bars: list[Bar] = []
    for i, c in enumerate(shown):
        if hidden and i == len(shown) // 2:
            bars.append(Bar(label=f"… {hidden:,} more …", value=0.0, text=""))
        kept = f"kept {c.promises_kept}/{c.promises_due}" if c.promises_due else "no promise due"
        bars.append(
            Bar(
                label=f"{c.collector_id} {c.name}",
                value=c.amount_recovered,
                text=f"{_money(c.amount_recovered)} · {kept} · {_count(c.complaints, 'complaint')}",
                css="rec",
            )
        )
    table = _table(
        (
            "collector",
            "name",
            "team",
            "allocated",
            "worked",
            "attempts",
            "right-party",
            "promises",
            "due",
            "kept",
            "recovered",
            "complaints",
        ),
        (
            (
                c.collector_id,
                c.name,
                c.team,
                f"{c.cases_allocated:,}",
                f"{c.cases_worked:,}",
                f"{c.attempts:,}",
                f"{c.right_party_contacts:,}",
                f"{c.promises:,}",
                f"{c.promises_due:,}",
                f"{c.promises_kept:,}",
                _money(c.amount_recovered),
                f"{c.complaints:,}",
            )
            for c in shown
        ),
        set(range(3, 12)),
    )
    start, end = d.cycle
    more = f", the {MAX_SCORECARD_BARS // 2} best and worst shown" if hidden else ""
    return _section(
        "scorecards",
        "Collector scorecards (R25)",
        f'<p class="muted">The cycle from {_e(start)} to {_e(end)}: judged not by the amount '
        f"recovered alone but by the work, promises kept and complaints; "
        f"{len(d.scorecards):,} collectors{_e(more)}, all in scorecards.csv.</p>",
        bar_chart(bars, "amount recovered per collector in the cycle"),
        f"<details><summary>Scorecards</summary>{table}</details>",
        chart=True,
    )


def _rules_section(d: ReportData) -> str:
    if not d.rules:
        return ""
    table = _table(
        ("rule or cap", "what it did", "cases"),
        ((r, what, f"{n:,}") for r, what, n in d.rules),
        {2},
    )
    return _section("rules", "Rules and caps that shaped the night", table)


def _tables(d: ReportData) -> str:
    actions = _table(("action", "cases"), ((a, f"{n:,}") for a, n in d.actions), {1})
    inputs = _table(
        ("file", "kind", "status", "rows", "message"),
        ((f.file, f.kind, f.status, f"{f.rows:,}", f.message) for f in d.inputs),
        {3},
    )
    total = sum(s for _, s in d.timings)
    timings = _table(
        ("stage", "seconds"),
        [*((k, f"{s:.3f}") for k, s in d.timings), ("total", f"{total:.3f}")],
        {1},
    )
    return "".join(
        (
            _rules_section(d),
            _section("actions", "First action on the worklists", actions),
            _section("inputs", "Files received", inputs),
            _section("timings", "Timings per stage", timings),
        )
    )


def render_report(d: ReportData) -> str:
    """report.html: one self-contained page (inline CSS and SVG, no script, no link)."""
    meta = " · ".join(
        (
            f"run {d.run_id}",
            _model_line(d),
            f"rule pack {d.rule_pack}",
            f"policy {d.policy_sha256[:12]}",
        )
    )
    body = "".join(
        (
            f"<header><h1>caseflow: the night of {_e(d.business_date)}</h1>"
            f'<p class="meta">{_e(meta)}</p></header>',
            _banners(d),
            _glance(d),
            _warnings_section(d),
            _channel_section(d),
            _capacity_section(d),
            _allocation_section(d),
            _collector_section(d),
            _score_section(d),
            _training_section(d),
            _drift_section(d),
            _reject_section(d),
            _holds_section(d),
            _extensions_section(d),
            _cycle_section(d),
            _strategy_section(d),
            _changes_section(d),
            _scorecard_section(d),
            _tables(d),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>caseflow night {_e(d.business_date)}</title><style>{_CSS}</style></head>"
        f'<body>{body}<footer><p class="muted">Written by caseflow publish; self-contained, '
        "opens offline.</p></footer></body></html>\n"
    )
