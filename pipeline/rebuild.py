"""rebuild: a published night's report.html again, from the warehouse (``caseflow report``).

Everything the page shows was kept when the night was recorded: the run's manifest (``runs``),
the worklists and holds (``allocations``, ``holds``), the rejected rows, the roster as it stood
(``night_rosters``) and the review (decisions, changes, scorecards). The page is drawn by the
same ``pipeline.report`` functions, so it is the night's own report.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from models.score import SCORE_SCHEMA, Scores
from pipeline import warehouse
from pipeline.assemble import NightFrames
from pipeline.errors import CaseflowError
from pipeline.export import night_worklists, reading, require_night
from pipeline.report import build_report_data, render_report
from pipeline.review import ROSTER_COLUMNS, load_review


def night_manifest(con: duckdb.DuckDBPyConnection, business_date: date) -> dict[str, Any]:
    """The manifest of the latest published run of ``business_date``."""
    rows = con.execute(
        "select manifest from runs where business_date = ? and outcome = 'published' "
        "order by finished_at desc nulls last, run_id desc limit 1",
        [business_date],
    ).fetchall()
    if not rows or rows[0][0] is None:
        raise CaseflowError(f"no recorded run for the night of {business_date.isoformat()}")
    manifest: dict[str, Any] = json.loads(rows[0][0])
    return manifest


def _roster(con: duckdb.DuckDBPyConnection, business_date: date) -> pl.DataFrame:
    columns = ", ".join(ROSTER_COLUMNS)
    return warehouse.select(
        con,
        f"select {columns} from night_rosters where business_date = ? order by collector_id",
        [business_date],
    )


def _holds(con: duckdb.DuckDBPyConnection, business_date: date) -> pl.DataFrame:
    return warehouse.select(
        con,
        "select client_id, case_id, customer_id, reason, detail from holds "
        "where business_date = ? order by client_id, case_id",
        [business_date],
    )


def rebuild_report(home: Path, business_date: date) -> str:
    """report.html of the published night ``business_date``, drawn again from the warehouse."""
    with reading(home) as con:
        require_night(con, business_date)
        manifest = night_manifest(con, business_date)
        model = manifest.get("model") or {}
        review = load_review(con, home, business_date, model.get("version"))
        worklists = night_worklists(con, business_date)
        holds = _holds(con, business_date)
        roster = _roster(con, business_date)
        rejects = warehouse.query(con, "night_rejects", {"business_date": business_date})
    letters = worklists.filter(pl.col("channel") == "letter")
    frames = NightFrames(worklists=worklists, holds=holds, letters=letters)
    scores = Scores(
        frame=pl.DataFrame(schema=SCORE_SCHEMA),  # the review's decisions give the scores
        method=str(model.get("method") or "model"),
        model_version=model.get("version"),
        model_sha256=model.get("sha256"),
    )
    data = build_report_data(manifest, frames, roster, scores, rejects, review)
    return render_report(data)
