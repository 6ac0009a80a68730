"""Parts of the night's book: a large night is scored, decided, placed and reviewed a million
cases at a time (pipeline/run.py; README "A large book in parts").

The book, its features, their scores and the strategy's per-case frame are the widest frames of
a night; held at once they grow with the book (about 9 GB at 3M cases, past 18 GB at 10M, issue
8). Scoring and the rules are per case or per debtor, so the book is cut into parts by a hash of
the debtor (client_id, customer_id): every case of a debtor is in the same part, and each part
is read, scored, decided, placed and reviewed on its own. Only the allocation needs every debtor,
and its input (one row per debtor with a value per channel) is small.

The SQL files that read the book (``sql/night_part.sql``, ``night_cases.sql``,
``features.sql``) take ``$part`` and ``$parts`` and keep the snapshot
rows with ``hash(client_id, customer_id) % $parts = $part`` (the two cast to ``UBIGINT``,
the hash's type: as integers they made DuckDB widen every hash to ``HUGEINT``, ten times slower);
``WHOLE`` is the whole book. Each part's queries still scan the night's notes, stats and
payments, but keep the part's rows (a semi join on the part's snapshot) before grouping or
joining them; the two queries of before, run once for the whole book, ran out of a 3GB DuckDB
at 10M cases, and the one query run whole and cut by part as it streams took longer than the
parts' queries and held 6.9 GB (README "A large book in parts"). The night's debtors, put
together for the allocation, carry their part's index
(``PART_COLUMN``), so the allocation and the review take a part's debtors without a join.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

# Cases per part: a book of up to this many is one part (the nights of most banks, and every
# night the tests run unless they ask for smaller parts); 10M cases are 10 parts.
PART_CASES = 1_000_000
# The folder beside the warehouse where a night's decided cases wait between stages; a killed
# night's is removed by the next (``CaseParts.cleared``).
PARTS_PREFIX = ".night-parts-"


@dataclass(frozen=True)
class Part:
    """Part ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    def params(self) -> dict[str, int]:
        """The SQL parameters that select this part's snapshot rows."""
        return {"part": self.index, "parts": self.count}


WHOLE = Part(0, 1)

# The column that tells, in a night's frame of debtors (``strategy.decide``'s, put together from
# every part's), the part each debtor's cases are in: the allocation and the review then take a
# part's debtors by this index, not by joining a part's million cases with the night's nine
# million debtors again for every part (10M cases, issue 8).
PART_COLUMN = "_part"


def tag_part(debtors: pl.DataFrame, part: Part) -> pl.DataFrame:
    """``debtors`` (a part's) with its part's index in ``PART_COLUMN``."""
    return debtors.with_columns(pl.lit(part.index, dtype=pl.UInt32).alias(PART_COLUMN))


def part_rows(debtors: pl.DataFrame, index: int) -> pl.DataFrame:
    """The rows of ``debtors`` in part ``index`` (``tag_part``), without the index; all of them
    when the frame has no index (a night of one part, or a frame made whole)."""
    if PART_COLUMN not in debtors.columns:
        return debtors
    return debtors.filter(pl.col(PART_COLUMN) == index).drop(PART_COLUMN)


def night_parts(
    con: duckdb.DuckDBPyConnection, business_date: date, part_cases: int | None = None
) -> list[Part]:
    """The parts of the night's book: as many as its snapshot has ``part_cases`` cases (at
    least one). ``part_cases`` defaults to ``PART_CASES``, read when called (tests lower it)."""
    size = PART_CASES if part_cases is None else part_cases
    rows = con.execute(
        "select count(*) from case_snapshots where business_date = ?", [business_date]
    ).fetchall()
    cases = int(rows[0][0]) if rows else 0
    count = max(1, -(-cases // max(size, 1)))
    return [Part(i, count) for i in range(count)]


# Parts as many as this make a part of one debtor (``debtor_part``): the hash modulo it is the
# debtor's own (a collision adds another debtor's cases, which its caller leaves out by key).
DEBTOR_PARTS = 2**62


def debtor_part(
    con: duckdb.DuckDBPyConnection, business_date: date, client_id: str, case_id: str
) -> Part | None:
    """The part of night ``business_date``'s book that holds the debtor of this case and little
    else (the queries' own hash split, ``DEBTOR_PARTS`` parts), or None if the night's snapshot
    has no such case."""
    found = con.execute(
        "select hash(client_id, customer_id) % cast(? as ubigint) from case_snapshots "
        "where business_date = ? and client_id = ? and case_id = ?",
        [DEBTOR_PARTS, business_date, client_id, case_id],
    ).fetchall()
    return Part(int(found[0][0]), DEBTOR_PARTS) if found else None


class CaseParts:
    """The decided cases of a night's parts, in order, read back one part at a time.

    One part stays in memory. More are written to Arrow IPC files (LZ4) in a folder of their
    own beside the warehouse, removed when the night is done (``cleared``): holding every
    part's cases at once is what a large book cannot afford (issue 8)."""

    def __init__(self, folder: Path | None, stem: str = "part") -> None:
        self._folder = folder
        self._stem = stem
        self._frames: list[pl.DataFrame] = []
        self._count = 0
        self._columns: list[str] | None = None  # all of them

    def beside(self, stem: str) -> CaseParts:
        """Another frame of each part of the night (e.g. its holds, made by the allocation and
        read by the review), kept the same way, in the same folder."""
        return CaseParts(self._folder, stem)

    def select(self, columns: Sequence[str]) -> CaseParts:
        """The same parts with only ``columns``, to read: the frames in memory narrowed, the
        files read so. Once the wider parts are let go, only those columns stay held. Nothing
        is added to it (it names the same files as the parts it narrows)."""
        narrowed = CaseParts(self._folder, self._stem)
        narrowed._frames = [frame.select(columns) for frame in self._frames]
        narrowed._count = self._count
        narrowed._columns = list(columns)
        return narrowed

    def _path(self, index: int) -> Path:
        assert self._folder is not None
        return self._folder / f"{self._stem}-{index}.arrow"

    def add(self, cases: pl.DataFrame) -> None:
        assert self._columns is None, "narrowed parts are read, never added to (``select``)"
        if self._folder is None:
            self._frames.append(cases)
        else:
            cases.write_ipc(self._path(self._count), compression="lz4")
        self._count += 1

    def get(self, index: int) -> pl.DataFrame:
        """Part ``index``'s frame (as ``add`` was given it)."""
        if self._folder is None:
            return self._frames[index]
        return pl.read_ipc(self._path(index), columns=self._columns)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[pl.DataFrame]:
        for index in range(self._count):
            yield self.get(index)

    @classmethod
    @contextmanager
    def cleared(cls, home: Path, parts: int) -> Iterator[CaseParts]:
        """A ``CaseParts`` for a night of ``parts`` parts, its folder removed at the end
        (whether the night succeeds or not). Folders left by a night that was killed are
        removed first: the caller holds the home's lock, so no other night is using them."""
        for stale in home.glob(f"{PARTS_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        if parts <= 1:
            yield cls(None)
            return
        folder = Path(tempfile.mkdtemp(prefix=PARTS_PREFIX, dir=home))
        try:
            yield cls(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
