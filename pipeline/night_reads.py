"""The night's book and features a part at a time (``pipeline.parts``), each part reading only
its own rows (issue 8: a night's cost grows no worse than linearly with its cases).

Run for one part, ``sql/night_book.sql`` and ``sql/features_night.sql`` read the whole night's
inputs to keep the part's rows: the notes of the last 30 days, grouped by case; the contact stats
of every case (the promises unnested); the cases; the payments. Measured at 3M cases in 10 parts,
each part's two queries took about 5 and 6 s, nearly all of it that work on the other nine
parts' cases: a night's score stage grew with parts x cases (10M cases, 10 parts: 293 s, 7 times
the 3M night's for 3.3 times the cases).

So a night of several parts runs each query once, for the whole book, into a temporary table
with each row's part, written in part order; a part's read then takes its rows only (DuckDB
keeps each row group's least and greatest ``part`` and skips the others' row groups). The same
queries give the same rows, a part's being those whose debtor hashes to it. The tables are
temporary, so the warehouse gains nothing; they spill to disk beyond DuckDB's memory limit.
A night of one part reads its book as before (staging it would only copy it). A past night run
again after later ones reads the whole history a part at a time, as before (``night_book``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from models.features import night_features, sort_features
from pipeline.load import contact_stats_current, night_book, sort_book
from pipeline.parts import WHOLE, Part
from pipeline.warehouse import select, sql_text

# the staged queries (sql/) and their temporary tables
BOOK = ("night_book", "night_book_parts")
FEATURES = ("features_night", "night_features_parts")


@dataclass(frozen=True)
class NightReads:
    """Reads a part's book and features: from the staged tables when ``staged``, else by
    running the night's queries for that part (``night_book``, ``night_features``)."""

    con: duckdb.DuckDBPyConnection
    business_date: date
    staged: int  # the parts the tables were staged for; 0 when not staged

    def book(self, part: Part) -> pl.DataFrame:
        if not self.staged:
            return night_book(self.con, self.business_date, part)
        return sort_book(self._part(BOOK[1], part))

    def features(self, part: Part) -> pl.DataFrame:
        if not self.staged:
            return night_features(self.con, self.business_date, part)
        return sort_features(self._part(FEATURES[1], part))

    def _part(self, table: str, part: Part) -> pl.DataFrame:
        """The rows of ``part`` in the staged ``table``, without their part."""
        if part.count != self.staged:
            raise ValueError(f"part {part} of a night staged in {self.staged} parts")
        return select(
            self.con,
            # $part as the column's UBIGINT: a cast of the column would hide its zone maps
            f"select * exclude (part) from {table} where part = cast($part as ubigint)",
            {"part": part.index},
        )


@contextmanager
def night_reads(
    con: duckdb.DuckDBPyConnection, business_date: date, parts: list[Part]
) -> Iterator[NightReads]:
    """``NightReads`` for the night's ``parts``: with more than one part (and the contact stats
    current for the night), the book and features are staged first and dropped at the end."""
    staged = len(parts) if len(parts) > 1 and contact_stats_current(con, business_date) else 0
    if staged:
        for query, table in (BOOK, FEATURES):
            _stage(con, query, table, business_date, staged)
    yield NightReads(con, business_date, staged)
    # Not in a ``finally``: a night that fails is rolled back, and the tables with it (they
    # were made inside its transaction); a statement on its aborted transaction would fail.
    if staged:
        for _, table in (BOOK, FEATURES):
            con.execute(f"drop table if exists {table}")


def _stage(
    con: duckdb.DuckDBPyConnection, query: str, table: str, business_date: date, count: int
) -> None:
    """``sql/<query>.sql`` for the whole book (``WHOLE``) into the temporary ``table``, each
    row with its part of ``count`` (the hash of the part filter, on the rows' own client_id and
    customer_id, which are the snapshot's), in part order so that a part's read skips the
    others' row groups."""
    params = {"business_date": business_date, **WHOLE.params(), "count": count}
    con.execute(
        f"create or replace temp table {table} as "
        "select hash(client_id, customer_id) % cast($count as ubigint) as part, * "
        f"from ({sql_text(query)}\n) order by part",  # the newline ends a last line's comment
        params,
    )
