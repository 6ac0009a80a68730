"""Parts of the night's book: a large night is scored and decided a million cases at a time.

The book, its features, their scores and the strategy's per-case frame are the widest frames of
a night; held at once they grow with the book (about 9 GB at 3M cases, past 18 GB at 10M, issue
8). Scoring and the rules are per case or per debtor, so the book is cut into parts by a hash of
the debtor (client_id, customer_id): every case of a debtor is in the same part, and each part
is read, scored and decided on its own. Only the allocation needs every debtor, and its input
(one row per debtor with a value per channel) is small.

The SQL files that read the book (``sql/night_book.sql``, ``night_cases.sql``,
``features_night.sql``, ``features.sql``) take ``$part`` and ``$parts`` and keep the snapshot
rows with ``hash(client_id, customer_id) % $parts = $part``; ``WHOLE`` is the whole book.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

# Cases per part: a book of up to this many is one part (the nights of most banks, and every
# night the tests run unless they ask for smaller parts); 10M cases are 10 parts.
PART_CASES = 1_000_000


@dataclass(frozen=True)
class Part:
    """Part ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    def params(self) -> dict[str, int]:
        """The SQL parameters that select this part's snapshot rows."""
        return {"part": self.index, "parts": self.count}

    def __str__(self) -> str:
        return f"part {self.index + 1} of {self.count}"


WHOLE = Part(0, 1)


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
