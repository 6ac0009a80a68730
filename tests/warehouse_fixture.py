"""A warehouse built from the samples' history, for tests that need realistic data.

The history folders are clean Parquet (plus one roster CSV), so this reads them with polars and
hands them to ``pipeline.load.load`` night by night, as ingest + validate would. The integrator
may replace it with the real ``pipeline.run.load_night`` once ingest and validate exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipeline import warehouse
from pipeline.load import load

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "data" / "samples" / "history"

NO_REJECTS = pl.DataFrame(
    schema={
        "file": pl.Utf8,
        "row": pl.Int64,
        "kind": pl.Utf8,
        "column": pl.Utf8,
        "rule": pl.Utf8,
        "value": pl.Utf8,
    }
)


@dataclass
class File:
    """What ``load`` needs to know of a received file."""

    name: str
    sha256: str
    kind: str | None
    status: str = "read"
    rows: int = 0
    archived_path: str = "archive/x"


def _with_row_numbers(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    # row 1 is the header in the client's file, so data rows start at 2
    return frame.with_columns(
        pl.lit(name).alias("_file"),
        pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias("_row"),
    )


def _cases(frame: pl.DataFrame) -> pl.DataFrame:
    optional = {
        "last_payment_date": pl.Date,
        "last_payment_amount": pl.Float64,
        "district": pl.Utf8,
        "batch_id": pl.Utf8,
    }
    for column, dtype in optional.items():
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(column))
    if "status" not in frame.columns:
        frame = frame.with_columns(pl.lit("active").alias("status"))
    return frame.with_columns(
        pl.col("principal", "amount_owed").cast(pl.Float64),
        pl.col("days_overdue").cast(pl.Int32),
        pl.col("handover_date", "return_date").cast(pl.Date),
        pl.col("do_not_contact").cast(pl.Boolean).fill_null(False),
        pl.col("status").fill_null("active"),
    )


def _collectors(frame: pl.DataFrame) -> pl.DataFrame:
    cities = (
        pl.when(pl.col("city").fill_null("") == "")
        .then(pl.lit([], dtype=pl.List(pl.Utf8)))
        .otherwise(pl.col("city").str.split(";"))
    )
    return frame.with_columns(
        cities.alias("cities"),
        pl.col("daily_capacity").cast(pl.Int32),
        pl.col("active").cast(pl.Boolean),
    )


def read_night(folder: Path) -> tuple[dict[str, pl.DataFrame], list[File]]:
    """One history folder as the frames ``load`` takes, and the files they came from."""
    parts: dict[str, list[pl.DataFrame]] = {}
    files: list[File] = []
    for path in sorted(folder.iterdir()):
        kind = path.name.split("_")[0].split(".")[0]
        raw = pl.read_csv(path) if path.suffix == ".csv" else pl.read_parquet(path)
        frame = _with_row_numbers(raw, path.name)
        if kind == "cases":
            frame = _cases(frame)
        elif kind == "collectors":
            frame = _collectors(frame)
        parts.setdefault(kind, []).append(frame)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.append(File(path.name, digest, kind, rows=raw.height))
    frames = {kind: pl.concat(group, how="diagonal") for kind, group in parts.items()}
    return frames, files


def history_dates(history: Path = HISTORY) -> list[date]:
    return sorted(date.fromisoformat(p.name) for p in history.iterdir() if p.is_dir())


def load_history(
    con: duckdb.DuckDBPyConnection, history: Path = HISTORY, until: date | None = None
) -> list[date]:
    """Load every history night (up to ``until``) in date order; return the dates loaded."""
    loaded = []
    for day in history_dates(history):
        if until is not None and day > until:
            break
        frames, files = read_night(history / day.isoformat())
        load(con, frames, NO_REJECTS, files, day)
        loaded.append(day)
    return loaded


def history_warehouse(folder: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A warehouse in ``folder`` with the samples' 13 history nights loaded night by night (the
    contact stats folded 13 times), open until the caller's fixture ends."""
    connection = warehouse.connect(folder)
    load_history(connection)
    yield connection
    connection.close()
