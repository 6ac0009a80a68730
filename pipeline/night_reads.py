"""The night's book and features a part at a time (``pipeline.parts``), each part reading only
its own rows (issue 8: a night's cost grows no worse than linearly with its cases).

Run for one part, ``sql/night_book.sql`` and ``sql/features_night.sql`` read the whole night's
inputs to keep the part's rows: the notes of the last 30 days, grouped by case; the contact stats
of every case (the promises unnested); the cases; the payments. Measured at 3M cases in 10 parts,
each part's two queries took about 5 and 6 s, nearly all of it that work on the other nine
parts' cases: a night's score stage grew with parts x cases (10M cases, 10 parts: 293 s, 7 times
the 3M night's for 3.3 times the cases).

So a night of several parts runs each query once, for the whole book, and writes its rows with
their part, in part order, to a Parquet file; a part's read then reads only the row groups of its
part (Parquet keeps each row group's least and greatest ``part``). The same queries give the same
rows, a part's being those whose debtor hashes to it (tests/test_contact_stats.py). The files are
the night's scratch, in a folder beside the warehouse removed when the parts are read (or by the
next night, if this one was killed): not temporary tables, whose memory a night keeps until it
commits (a table dropped inside a transaction is only dropped at its end: 1.6 GB more at the 3M
night's review), and not the warehouse, which gains nothing. Not a file per part either (DuckDB's
partitioned COPY): it ran out of a 1GB memory limit at 3M cases in 10 parts, where the sort
spills and gets through. A night of one part reads its book as before (writing it out
would only copy it). A past night run again after later ones reads the whole history a part at a
time, as before (``night_book``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from models.features import night_features, sort_features
from pipeline.load import contact_stats_current, night_book, sort_book
from pipeline.parts import PARTS_PREFIX, WHOLE, Part
from pipeline.warehouse import select, sql_text

# the staged queries (sql/), each written to a file of that name
BOOK = "night_book"
FEATURES = "features_night"


@dataclass(frozen=True)
class NightReads:
    """Reads a part's book and features: from the files staged in ``folder`` for ``staged``
    parts, else (``staged`` 0) by running the night's queries for that part."""

    con: duckdb.DuckDBPyConnection
    business_date: date
    staged: int  # the parts the files were written for; 0 when not staged
    folder: Path | None = None

    def book(self, part: Part) -> pl.DataFrame:
        staged = self._file(BOOK, part)
        if staged is None:
            return night_book(self.con, self.business_date, part)
        return sort_book(_read(self.con, staged, part))

    def features(self, part: Part) -> pl.DataFrame:
        staged = self._file(FEATURES, part)
        if staged is None:
            return night_features(self.con, self.business_date, part)
        return sort_features(_read(self.con, staged, part))

    def _file(self, query: str, part: Part) -> Path | None:
        """The file of ``query``'s staged rows; None when they were not staged."""
        if not self.staged or self.folder is None:
            return None
        if part.count != self.staged:
            raise ValueError(f"part {part} of a night staged in {self.staged} parts")
        return self.folder / f"{query}.parquet"


@contextmanager
def night_reads(
    con: duckdb.DuckDBPyConnection, home: Path, business_date: date, parts: list[Part]
) -> Iterator[NightReads]:
    """``NightReads`` for the night's ``parts``: with more than one part (and the contact stats
    current for the night), the book and features are written out first, in a folder beside
    the warehouse in ``home`` that is removed at the end, whether the night goes on or fails."""
    if len(parts) <= 1 or not contact_stats_current(con, business_date):
        yield NightReads(con, business_date, 0)
        return
    folder = Path(tempfile.mkdtemp(prefix=PARTS_PREFIX, dir=home))
    try:
        for query in (BOOK, FEATURES):
            _stage(con, query, folder / f"{query}.parquet", business_date, len(parts))
        yield NightReads(con, business_date, len(parts), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stage(
    con: duckdb.DuckDBPyConnection, query: str, file: Path, business_date: date, count: int
) -> None:
    """``sql/<query>.sql`` for the whole book (``WHOLE``), its rows written to ``file`` with
    their part of ``count`` (the hash of the queries' part filter, on the rows' own client_id
    and customer_id, which are the snapshot's), in part order."""
    params = {"business_date": business_date, **WHOLE.params(), "count": count}
    con.execute(
        "copy (select hash(client_id, customer_id) % cast($count as ubigint) as part, * "
        f"from ({sql_text(query)}\n) "  # the newline ends the query's last line's comment
        # in part order: a part's read skips the row groups of the others
        f"order by part) to {_quoted(file)} (format parquet)",
        params,
    )


def _read(con: duckdb.DuckDBPyConnection, file: Path, part: Part) -> pl.DataFrame:
    """The rows of ``part`` in a staged ``file``, without their part."""
    return select(
        con,
        f"select * exclude (part) from read_parquet({_quoted(file)}) "
        # $part as the column's UBIGINT: a cast of the column would hide its statistics
        "where part = cast($part as ubigint)",
        {"part": part.index},
    )


def _quoted(path: Path) -> str:
    """``path`` as an SQL string literal (COPY and read_parquet take no parameter for it)."""
    text = str(path).replace("'", "''")
    return f"'{text}'"
