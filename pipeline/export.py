"""export: a published night's worklists again, from the warehouse (``caseflow export``).

The warehouse keeps what every worklist row showed (``allocations``, see ``pipeline.review``),
so a lost or overwritten worklist, one collector's file or a team lead's workbook can be made
again the day after, in CSV or XLSX, in English or Chinese headers, without re-running the
night. The files are written by ``pipeline.publish.worklist_files``, the writer of the night
itself: exported in the night's language, a worklist is byte for byte the one published.

The warehouse is opened read-only; a night running at the same time holds it, and the export
says so rather than wait.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipeline import warehouse
from pipeline.errors import CaseflowError, UsageError
from pipeline.labels import check_lang
from pipeline.publish import MANIFEST, prepare_worklists, worklist_files
from pipeline.review import STORED_WORKLIST_COLUMNS

FORMATS = ("xlsx", "csv")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    files: list[str]  # relative to out_dir
    rows: int
    collectors: int


@contextmanager
def reading(home: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse of ``home``, read-only; a clear error when there is none or it is busy."""
    if not (home / "warehouse.duckdb").is_file():
        raise UsageError(f"--home {home}: no caseflow warehouse there (warehouse.duckdb)")
    try:
        con = warehouse.connect(home, read_only=True)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise CaseflowError(f"the warehouse in {home} cannot be opened: {exc}") from None
        raise CaseflowError(
            f"the warehouse in {home} is in use by another caseflow process (a night running?); "
            "try again when it has finished"
        ) from None
    try:
        yield con
    finally:
        con.close()


def published_nights(con: duckdb.DuckDBPyConnection) -> list[date]:
    """The business dates with a published night, latest first."""
    rows = con.execute(
        "select distinct business_date from runs where outcome = 'published' "
        "order by business_date desc"
    ).fetchall()
    return [r[0] for r in rows]


def require_night(con: duckdb.DuckDBPyConnection, business_date: date) -> None:
    """A usage error naming the published nights when ``business_date`` is not one."""
    nights = published_nights(con)
    if business_date in nights:
        return
    known = ", ".join(d.isoformat() for d in nights[:5]) or "none yet"
    raise UsageError(
        f"--date {business_date.isoformat()}: no night published for that date "
        f"(latest published: {known})"
    )


def night_worklists(con: duckdb.DuckDBPyConnection, business_date: date) -> pl.DataFrame:
    """Every worklist row of the night, as published (before masking again and escaping)."""
    columns = ", ".join(f'"{c}"' for c in STORED_WORKLIST_COLUMNS)
    frame = warehouse.select(
        con,
        f"select {columns} from allocations where business_date = ? "
        "order by collector_id, rank, client_id, case_id",
        [business_date],
    )
    if frame.height and frame.get_column("amount_owed").null_count() == frame.height:
        raise CaseflowError(
            f"the night of {business_date.isoformat()} was published before the warehouse kept "
            "what the worklists showed; run that night again to export it"
        )
    return frame.with_columns(pl.col("rank").cast(pl.Int32))


def _choose(
    frame: pl.DataFrame, collector: str | None, team: str | None, business_date: date
) -> pl.DataFrame:
    if collector is not None and team is not None:
        raise UsageError("--collector and --team: choose one (or neither, for every worklist)")
    day = business_date.isoformat()
    if collector is not None:
        chosen = frame.filter(pl.col("collector_id") == collector)
        if chosen.is_empty():
            raise UsageError(f"--collector {collector}: no worklist on the night of {day}")
        return chosen
    if team is not None:
        chosen = frame.filter(pl.col("team").fill_null("(no team)") == team)
        if chosen.is_empty():
            teams = sorted({str(t) for t in frame.get_column("team").drop_nulls().to_list()})
            raise UsageError(
                f"--team {team}: no team of that name had work on the night of {day} "
                f"(teams: {', '.join(teams) or 'none'})"
            )
        return chosen
    return frame


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` whole: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


def export_night(
    home: Path,
    business_date: date,
    out_dir: Path,
    fmt: str,
    *,
    collector: str | None = None,
    team: str | None = None,
    lang: str = "en",
) -> ExportResult:
    """Write the night's worklists (one collector's, one team's, or all) into ``out_dir``.

    ``worklists/<collector>.<fmt>`` for each collector chosen and, in XLSX without
    ``collector``, ``teams/<team>.xlsx`` (a sheet per collector) for each team chosen.
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    check_lang(lang)
    if (out_dir / MANIFEST).exists():
        raise UsageError(
            f"--out {out_dir} is a published night (it has {MANIFEST}): export elsewhere, a "
            "published night is only ever replaced whole by `caseflow run`"
        )
    with reading(home) as con:
        require_night(con, business_date)
        frame = _choose(night_worklists(con, business_date), collector, team, business_date)
    rows = prepare_worklists(frame)
    written: list[str] = []
    try:
        for relative, data, _ in worklist_files(
            rows, business_date, lang=lang, formats=(fmt,), teams=collector is None
        ):
            _write(out_dir / relative, data)
            written.append(relative)
    except OSError as exc:
        raise CaseflowError(
            f"cannot write the export into {out_dir}: {exc.strerror or exc}"
        ) from None
    return ExportResult(
        out_dir=out_dir,
        files=written,
        rows=rows.height,
        collectors=rows.get_column("collector_id").n_unique(),
    )
