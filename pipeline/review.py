"""review: the night looked back on: decisions kept, changes since the night before, scorecards.

``review_night`` runs after the allocation, a part of the book at a time (pipeline.parts): it
stores every case's decision (``pipeline.changes.decisions_frame``) as it is made, compares it
with the previous published night (``night_changes``), computes the collectors' scorecards over
the cycle (R25) and reads the champion model's score distribution on its held-out night (for the
report's drift chart).
``record_review`` stores all of it, with what each worklist row showed and the night's roster,
in the warehouse (``sql/schema.sql``), so that ``caseflow export``, ``report`` and ``explain``
can answer the day after from the warehouse alone. ``load_review`` reads a night back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipeline import warehouse
from pipeline.assemble import (
    ASSEMBLE_INPUTS,
    WORKLIST_COLUMNS,
    NightFrames,
    PlacedNight,
)
from pipeline.changes import (
    CHANGE_SCHEMA,
    DECISION_INPUTS,
    DECISION_SCHEMA,
    PREVIOUS_COLUMNS,
    collector_load,
    decisions_frame,
    night_changes,
    sort_changes,
)
from pipeline.errors import CaseflowError
from pipeline.policy import Policy
from pipeline.report import ReviewFigures
from pipeline.scorecards import SCORECARD_SCHEMA, cycle_start, scorecards

# What a worklist row showed, kept in ``allocations`` so an export is the night as published.
_KEYS = ("client_id", "case_id", "customer_id")
# The worklist's own columns, keys first: one list, so a new worklist column is stored too.
STORED_WORKLIST_COLUMNS = (*_KEYS, *(c for c in WORKLIST_COLUMNS if c not in _KEYS))
ROSTER_COLUMNS = ("collector_id", "name", "team", "channel", "cities", "daily_capacity", "active")
NOTES_ONLY = "the last collection notes (no earlier night was published)"


@dataclass(frozen=True)
class NightReview:
    """The night looked back on; see the module docstring.

    A night reviewed by ``review_night`` stores its decisions and changes a part at a time and
    keeps only their ``figures``; a review read back (``load_review``) or made whole (tests)
    has the frames, and its figures are counted from them (``counted``)."""

    decisions: pl.DataFrame | None  # pipeline.changes.DECISION_SCHEMA, a row per case of the book
    changes: pl.DataFrame | None  # pipeline.changes.CHANGE_SCHEMA
    scorecards: pl.DataFrame  # pipeline.scorecards.SCORECARD_SCHEMA
    compared_with: str  # "the night of 2026-11-22", or NOTES_ONLY
    cycle_start: date
    training_deciles: tuple[float, ...] | None  # lowest p_repay of each held-out decile
    # The champion's training distribution of p_repay (card.json drift_reference): bin edges
    # and shares, the last share for missing values; preferred to the deciles when present.
    score_reference: dict[str, Any] | None = None
    # what the report shows of the decisions and changes, when they are not kept (review_night)
    figures: ReviewFigures | None = None

    def counted(self) -> ReviewFigures:
        """The report's figures of the night's decisions and changes."""
        if self.figures is not None:
            return self.figures
        if self.decisions is None or self.changes is None:
            raise CaseflowError("internal error: a review without its decisions or figures")
        return ReviewFigures.of(
            self.decisions,
            self.changes,
            self.training_deciles or (),
            self.score_reference,
        )


# The strategy's per-case columns that the night reads after the allocation (``assemble`` and
# ``review_night``): a part's cases keep these only (pipeline.run), the other third of the
# columns (note counts and dates the rules have used) is let go before the next part is read.
REVIEW_INPUTS = frozenset({*ASSEMBLE_INPUTS, *DECISION_SCHEMA, *DECISION_INPUTS})


def review_inputs(cases: pl.DataFrame) -> pl.DataFrame:
    """``cases`` (``strategy.decide``'s) with only the columns of ``REVIEW_INPUTS``."""
    return cases.select(c for c in cases.columns if c in REVIEW_INPUTS)


def previous_night(con: duckdb.DuckDBPyConnection, business_date: date) -> date | None:
    """The latest night before ``business_date`` whose decisions the warehouse keeps.

    Asked of ``night_reviews`` (a row a night, written with the decisions by ``record_review``)
    rather than of ``decisions`` (a row a case a night: 30M rows after a month of 1M cases).
    """
    rows = con.execute(
        "select max(business_date) from night_reviews where business_date < ?", [business_date]
    ).fetchall()
    found = rows[0][0] if rows else None
    return found if isinstance(found, date) else None


def _decisions_of(
    con: duckdb.DuckDBPyConnection,
    day: date,
    columns: Sequence[str] = tuple(DECISION_SCHEMA),
    cases: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The decisions of the night ``day``: ``columns`` of them (all by default), of every case
    or of the ``cases`` (client_id, case_id) only (a part of tonight's book)."""
    names = ", ".join(f'd."{c}"' for c in columns)
    where = f"where d.business_date = date '{day.isoformat()}' order by d.client_id, d.case_id"
    if cases is None:
        frame = warehouse.select(con, f"select {names} from decisions as d {where}")
    else:
        frame = warehouse.select_over(
            con,
            cases.select("client_id", "case_id"),
            "part_keys",
            f"select {names} from decisions as d semi join part_keys as k "
            f"on d.client_id = k.client_id and d.case_id = k.case_id {where}",
        )
    return frame.select(pl.col(n).cast(DECISION_SCHEMA[n]) for n in columns)


def training_deciles(home: Path, version: str | None) -> tuple[float, ...] | None:
    """The lowest p_repay of each decile of the model's held-out night (card.json), best first.

    None without a model or when its card does not say (the report then shows tonight alone).
    """
    if version is None:
        return None
    card = home / "models" / version / "card.json"
    try:
        deciles = json.loads(card.read_text(encoding="utf-8"))["metrics"]["model"]["deciles"]
        return tuple(float(d["min_p"]) for d in sorted(deciles, key=lambda d: int(d["decile"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def score_reference(home: Path, version: str | None) -> dict[str, Any] | None:
    """The champion's training distribution of p_repay (its card's drift reference), or None."""
    if version is None:
        return None
    card = home / "models" / version / "card.json"
    try:
        found = json.loads(card.read_text(encoding="utf-8"))["drift_reference"]["columns"]
        ref = found["p_repay"]
        edges = [float(e) for e in ref["edges"]]
        shares = [float(x) for x in ref["shares"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(shares) != len(edges) + 2:  # a bin per edge, one above the last, one for missing
        return None
    return {"edges": edges, "shares": shares}


def review_night(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    parts: Iterable[pl.DataFrame],
    holds: Iterable[pl.DataFrame],
    debtors: Iterable[pl.DataFrame],
    placed: PlacedNight,
    roster: pl.DataFrame,
    policy: Policy,
    business_date: date,
    model_version: str | None,
    run_id: str,
) -> NightReview:
    """Decisions, changes since the previous published night, scorecards, training deciles,
    over the parts of a night's cases (pipeline.parts; one part: ``[cases]``) and their
    ``holds`` (``assemble_parts``'s), and the channel values of each part's debtors
    (``debtors``, read a part at a time as the cases are). Each part's decisions are made and
    compared with the night before, and its decisions (the holds among them: ``holds`` is a
    view of them) and changes are stored (inside the caller's transaction) before the next part:
    the book's are never held whole. The review keeps their figures (``ReviewFigures``),
    counted part by part."""
    before = previous_night(con, business_date)
    load = collector_load(placed.worklists)
    stamp = {"business_date": business_date, "run_id": run_id}
    deciles = training_deciles(home, model_version)
    reference = score_reference(home, model_version)
    # a re-run of the date replaces them (holds: a view of the decisions, sql/schema.sql; the
    # holds a warehouse recorded before it are replaced too)
    for table in ("decisions", "holds_recorded", "changes"):
        con.execute(f"delete from {table} where business_date = ?", [business_date])
    figures = ReviewFigures()
    for cases, part_holds, part_debtors in zip(parts, holds, debtors, strict=True):
        part = NightFrames(placed.worklists, part_holds, placed.letters)
        decisions = decisions_frame(cases, part_debtors, part, policy)
        previous = None if before is None else _decisions_of(con, before, PREVIOUS_COLUMNS, cases)
        changes = night_changes(decisions, previous, roster, load)
        _insert(con, "decisions", decisions, stamp)
        _insert(con, "changes", changes, stamp)
        figures += ReviewFigures.of(decisions, changes, deciles or (), reference)
        del decisions, previous, changes, part_holds, part_debtors
    return NightReview(
        decisions=None,
        changes=None,
        scorecards=scorecards(con, placed.worklists, roster, business_date, policy.cycle_days),
        compared_with=NOTES_ONLY if before is None else f"the night of {before.isoformat()}",
        cycle_start=cycle_start(business_date, policy.cycle_days),
        training_deciles=deciles,
        score_reference=reference,
        figures=figures,
    )


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, stamp: dict[str, Any]
) -> None:
    stamped = frame.with_columns(pl.lit(v).alias(k) for k, v in stamp.items())
    rows = warehouse.frame_relation(con, stamped)  # not a view: held to the night's commit
    rows.query("review_rows", f"insert into {table} by name select * from review_rows")


def record_review(
    con: duckdb.DuckDBPyConnection,
    business_date: date,
    run_id: str,
    review: NightReview,
    roster: pl.DataFrame,
) -> None:
    """Store the night's review, scorecards and roster, and its decisions and changes unless
    ``review_night`` stored them already, part by part (inside the caller's transaction); a
    re-run of the date replaces them."""
    params = {"business_date": business_date}
    stamp = {"business_date": business_date, "run_id": run_id}
    # the frames a review made whole has (else stored part by part: ``review_night``)
    frames = {"decisions": review.decisions, "changes": review.changes}
    whole = {table: frame for table, frame in frames.items() if frame is not None}
    for table in ["night_reviews", "scorecards", "night_rosters", *whole]:
        con.execute(f"delete from {table} where business_date = $business_date", params)
    con.execute(
        "insert into night_reviews values (?, ?, ?, ?)",
        [business_date, run_id, review.compared_with, review.cycle_start],
    )
    for table, frame in whole.items():
        _insert(con, table, frame, stamp)
    _insert(con, "scorecards", review.scorecards, stamp)
    _insert(con, "night_rosters", roster.select(ROSTER_COLUMNS), {"business_date": business_date})


def stored_worklists(worklists: pl.DataFrame) -> list[str]:
    """The worklist columns ``allocations`` keeps (run.py's ``_record`` selects these)."""
    return [c for c in STORED_WORKLIST_COLUMNS if c in worklists.columns]


# --- reading a night back ---------------------------------------------------------------------


def _table(
    con: duckdb.DuckDBPyConnection, table: str, schema: dict[str, Any], day: date, order: str
) -> pl.DataFrame:
    columns = ", ".join(f'"{c}"' for c in schema)
    frame = warehouse.select(
        con, f"select {columns} from {table} where business_date = ? order by {order}", [day]
    )
    return frame.select(pl.col(n).cast(t) for n, t in schema.items())


def load_review(
    con: duckdb.DuckDBPyConnection, home: Path, business_date: date, model_version: str | None
) -> NightReview:
    """The review of a published night, as ``record_review`` stored it."""
    rows = con.execute(
        "select compared_with, cycle_start from night_reviews where business_date = ?",
        [business_date],
    ).fetchall()
    row = rows[0] if rows else None
    if row is None:
        raise CaseflowError(
            f"the night of {business_date.isoformat()} was published before the warehouse kept "
            "its review; run the night again to rebuild it"
        )
    compared_with, start = str(row[0]), row[1]
    cards = _table(con, "scorecards", SCORECARD_SCHEMA, business_date, "collector_id")
    return NightReview(
        decisions=_decisions_of(con, business_date),
        changes=sort_changes(
            _table(con, "changes", CHANGE_SCHEMA, business_date, "client_id, customer_id, case_id")
        ),
        scorecards=cards.sort(["amount_recovered", "collector_id"], descending=[True, False]),
        compared_with=compared_with,
        cycle_start=start,
        training_deciles=training_deciles(home, model_version),
        score_reference=score_reference(home, model_version),
    )
