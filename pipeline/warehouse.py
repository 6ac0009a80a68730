"""The DuckDB warehouse under the home folder, and the loader of the queries in ``sql/``.

One query per file in ``sql/``, parameters as ``$name``; ``query()`` returns a polars frame.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
DEFAULT_HOME = Path("var")


def resolve_home(home: Path | None) -> Path:
    """``--home``, else ``CASEFLOW_HOME``, else ``./var`` (CONTRACT.md)."""
    if home is not None:
        return home
    env = os.environ.get("CASEFLOW_HOME")
    return Path(env) if env else DEFAULT_HOME


@cache
def sql_text(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


# DuckDB's limit when CASEFLOW_DUCKDB_MEMORY is not set (or half the machine, if less). More
# bought little and cost its size in the night's peak (issue 8, README "Performance"): at 1M and
# 3M cases the nights took as long at 2GB as at half of a 24 GiB machine, within 0.1 GB of the
# same peak; at 10M, half the machine made the night 2% faster (364.3 s against 372.5 s, its
# load spilling less) and its peak 1.6 GB higher (7,273 MiB against 5,642 MiB).
DEFAULT_MEMORY_MB = 2000


def memory_limit() -> str:
    """DuckDB's memory limit: ``CASEFLOW_DUCKDB_MEMORY`` (e.g. ``4GB``), else 2GB, or half the
    machine if that is less.

    DuckDB's own default (80% of the memory) assumes it has the process to itself; the night
    also holds polars frames and the model's arrays beside it, so DuckDB gets what its queries
    use well and spills its larger joins and sorts to ``warehouse.duckdb.tmp`` beyond that,
    rather than the night growing into the OOM killer or crowding the machine's other work."""
    configured = os.environ.get("CASEFLOW_DUCKDB_MEMORY", "").strip()
    if re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", configured, flags=re.IGNORECASE):
        return configured
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return f"{DEFAULT_MEMORY_MB}MB"
    return f"{max(min(total // 2 // 10**6, DEFAULT_MEMORY_MB), 256)}MB"


def connect(home: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and if needed create) the warehouse in ``home``; the schema is applied on write."""
    home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=read_only)
    con.execute(f"SET memory_limit = '{memory_limit()}'")
    # DuckDB's allocator keeps what a query freed until 128MB are outstanding per thread, and
    # flushes a bulk free only above 512MB: the night's large joins left about a gigabyte held
    # between queries, beside the frames of the next stage (README, Performance).
    con.execute("SET allocator_flush_threshold = '8MB'")
    con.execute("SET allocator_bulk_deallocation_flush_threshold = '64MB'")
    con.execute("SET allocator_background_threads = true")
    # No extension downloads at run time: everything caseflow needs is built in.
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if not read_only:
        _keep_recorded_holds(con)
        con.execute(sql_text("schema"))
    return con


def _keep_recorded_holds(con: duckdb.DuckDBPyConnection) -> None:
    """An older warehouse's ``holds`` table becomes ``holds_recorded``, so that ``holds`` can be
    the view of the decisions that ``sql/schema.sql`` makes it (issue 8), its nights' rows kept."""
    found = con.execute(
        "select 1 from duckdb_tables() where schema_name = 'main' and table_name = 'holds'"
    ).fetchall()
    if found:
        con.execute("ALTER TABLE holds RENAME TO holds_recorded")


def query(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run ``sql/<name>.sql`` with named parameters and return the result as a polars frame."""
    return select(con, sql_text(name), params)


def query_batches(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any], rows: int
) -> Iterator[pl.DataFrame]:
    """``query``'s rows as frames of at most ``rows`` rows, in the query's order, read as they
    are consumed (a result of millions of rows is never held whole outside DuckDB). At least
    one frame: without rows, an empty one with the query's columns."""
    reader = con.sql(sql_text(name), params=dict(params)).to_arrow_reader(rows)
    some = False
    for batch in reader:
        some = True
        yield _frame(pl.from_arrow(batch))
    if not some:
        yield _frame(pl.from_arrow(reader.schema.empty_table()))


def _frame(found: pl.DataFrame | pl.Series) -> pl.DataFrame:
    assert isinstance(found, pl.DataFrame)
    return found


def select(
    con: duckdb.DuckDBPyConnection,
    text: str,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
) -> pl.DataFrame:
    """A query's rows as a polars frame, through Arrow."""
    return _rows(con.sql(text, params=params if params is not None else None))


@contextmanager
def joins_as_written(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Within the block, DuckDB builds each hash join's table on the side the SQL puts on the
    right (for a LEFT JOIN, the table joined), not on the side it estimates the smaller.

    For a query whose estimates are far off and whose joined tables are each smaller than the
    rows they join: sql/night_part.sql's part of the snapshot (a hash filter on one night of
    many) is estimated at a fortieth of its rows on a second night, so DuckDB built three of its
    hash tables on the part's wide joined rows, not on the aggregates joined to them (issue 8:
    a 1M-case part of a second night, 4.0 s and 7.3 CPU s against 3.4 s and 6.4 CPU s)."""
    before = str(con.execute("select current_setting('disabled_optimizers')").fetchall()[0][0])
    disabled = ",".join(filter(None, [before, "build_side_probe_side"]))
    con.execute(f"SET disabled_optimizers = '{disabled}'")
    try:
        yield
    finally:
        # In a transaction the block's error aborted, DuckDB refuses every statement until the
        # rollback: the error is the one to report, and the night's connection is closed.
        with suppress(duckdb.Error):
            con.execute(f"SET disabled_optimizers = '{before}'")


def _rows(relation: duckdb.DuckDBPyRelation | None) -> pl.DataFrame:
    """A relation's rows as a polars frame, through Arrow (none when it was not a query)."""
    if relation is None:  # not a query: nothing to return
        return pl.DataFrame()
    return _frame(pl.from_arrow(relation.to_arrow_table()))


def frame_relation(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> duckdb.DuckDBPyRelation:
    """``frame`` as a relation (the Arrow table ``register`` would make of it), to read with
    ``relation.query(name, sql)``.

    Not ``register``/``unregister``: the view ``register`` makes holds the frame, and a view
    dropped inside a transaction stays in the catalog, frame and all, until the transaction
    ends. A night is one transaction, so every frame it wrote that way was held to the end (6 GB
    of the 10M night's cases and notes, outside DuckDB's memory limit). A relation's name lives
    only for the length of one ``query`` call, and its frame goes with the relation."""
    return con.from_arrow(frame)


def select_over(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, name: str, text: str
) -> pl.DataFrame:
    """``select`` of ``text`` reading ``frame`` as the table ``name`` (``frame_relation``: not
    held to the night's commit). ``text`` takes no parameters."""
    return _rows(frame_relation(con, frame).query(name, text))
