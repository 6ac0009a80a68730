"""load: put one night's valid rows into the warehouse, in one transaction.

Cases are upserted by (client_id, case_id); payments and notes are appended without
duplicates; a roster file replaces the roster; then the night's case state is snapshot by
business date (what the model learns from) and payments that close a case mark it paid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import duckdb
import polars as pl

from pipeline.headers import COLUMNS
from pipeline.parts import WHOLE, Part
from pipeline.schemas import OUTCOMES
from pipeline.warehouse import frame_relation, joins_as_written, query, select_over, sql_text

# Connections inside a transaction begun here (by id: a DuckDB connection cannot say whether it
# is in one, and a second BEGIN would abort the first).
_OPEN: set[int] = set()


def begin(con: duckdb.DuckDBPyConnection) -> None:
    """Begin a transaction that ``transaction`` blocks on ``con`` join until ``commit``."""
    con.execute("begin transaction")
    _OPEN.add(id(con))


def commit(con: duckdb.DuckDBPyConnection) -> None:
    _OPEN.discard(id(con))
    con.execute("commit")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed if the block ends, rolled back if it raises.

    Inside a transaction begun by ``begin`` (or an outer ``transaction``) on the same
    connection, the block joins it: ``pipeline.run`` begins the night, and the night's load and
    the record of its allocation then commit, or not, together.
    """
    if id(con) in _OPEN:
        yield
        return
    begin(con)
    try:
        yield
    except BaseException:
        rollback(con)
        raise
    commit(con)


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back, quietly when there is nothing to roll back or the connection is broken: the
    error that caused the rollback is the one to report, and DuckDB discards an unfinished
    transaction anyway when the process ends."""
    _OPEN.discard(id(con))
    with suppress(duckdb.Error):
        con.execute("rollback")


class FileRecord(Protocol):
    """What load needs to know of a received file (ingest's ReceivedFile has these)."""

    @property
    def name(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def rows(self) -> int: ...
    @property
    def archived_path(self) -> str: ...


@dataclass(frozen=True)
class LoadStats:
    cases_upserted: int
    payments_added: int
    payments_unknown_case: int
    contacts_added: int
    collectors: int | None  # None: no roster tonight, the previous one stays
    cases_closed_paid: int
    snapshot_rows: int


CASE_COLUMNS = COLUMNS["cases"]
CASE_KEYS = ("client_id", "case_id")
# What a client's file changes from one night to the next for nearly every case it sends again:
# the amount, the days overdue, the status, the file itself. A known case's other columns (the
# debtor's name, numbers and address, the case's terms) are rewritten only where one of them
# differs (``_upsert_cases``).
CASE_DAILY_COLUMNS = (
    "batch_id",
    "amount_owed",
    "days_overdue",
    "last_payment_date",
    "last_payment_amount",
    "status",
    "do_not_contact",
    "as_of",
    "source_file",
)
PAYMENT_COLUMNS = COLUMNS["payments"]
CONTACT_COLUMNS = COLUMNS["contacts"]
COLLECTOR_COLUMNS = (
    "collector_id",
    "name",
    "team",
    "channel",
    "cities",
    "daily_capacity",
    "active",
)


def _last_per_key(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Two files of one night may carry the same key: the later file (by name, then row) wins.

    ``validate`` has already set the earlier rows aside as ``superseded`` (with a reject line);
    this keeps ``load`` right when called on frames that did not go through it."""
    if _keys_distinct(frame, keys):  # validate's frames are: an order-keeping unique saved
        return frame
    if not _in_file_order(frame):  # validate's frames are: a sort of millions of rows saved
        frame = frame.sort(["_file", "_row"])
    return frame.unique(subset=keys, keep="last", maintain_order=True)


def _keys_distinct(frame: pl.DataFrame, keys: list[str]) -> bool:
    """Whether no key repeats, told from the keys' 64-bit hashes: distinct hashes prove
    distinct keys, and a collision only sends the frame through ``unique`` (a fifth of its
    cost on 5M notes)."""
    distinct = frame.select(pl.struct(keys).hash().n_unique()).item()
    return bool(distinct == frame.height)


def _in_file_order(frame: pl.DataFrame) -> bool:
    """Whether the rows already stand by file name, then row number (one linear pass)."""
    name, row = pl.col("_file"), pl.col("_row")
    after = (name > name.shift()) | ((name == name.shift()) & (row > row.shift()))
    return bool(frame.select(after.fill_null(True).all()).item())


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object]) -> int:
    # fetchall, not fetchone: DuckDB 2 refuses new work while a result is left unfinished
    rows = con.execute(sql, dict(params)).fetchall()
    return int(rows[0][0]) if rows else 0


def _insert(con: duckdb.DuckDBPyConnection, statement: str, name: str, frame: pl.DataFrame) -> int:
    """Run one INSERT reading ``frame`` as ``name``; return the rows it inserted (DuckDB's own
    count)."""
    return _run_over(frame_relation(con, frame), name, statement)


def _run_over(relation: duckdb.DuckDBPyRelation, name: str, statement: str) -> int:
    """Run ``statement`` reading ``relation`` as ``name``; the count it returns."""
    result = relation.query(name, statement)
    rows = result.fetchall() if result is not None else []
    return int(rows[0][0]) if rows else 0


def _upsert_cases(
    con: duckdb.DuckDBPyConnection, cases: pl.DataFrame, business_date: date, *, new: bool = False
) -> int:
    """Update the known cases, insert the others; ``new``: none of them is known (the first
    night), so they are inserted as they are, without the update's and insert's joins."""
    if cases.is_empty():
        return 0
    if "district" not in cases.columns:  # an optional column the contract added later
        cases = cases.with_columns(pl.lit(None, dtype=pl.Utf8).alias("district"))
    incoming = _last_per_key(cases, list(CASE_KEYS)).select(
        *CASE_COLUMNS,
        pl.lit(business_date).alias("as_of"),
        pl.col("_file").alias("source_file"),
    )
    if new:
        statement = "insert into cases by name select * from incoming_cases"
        return _insert(con, statement, "incoming_cases", incoming)
    # An update of the known cases and an insert of the new ones, not INSERT OR REPLACE: that
    # deletes and re-inserts every known case through the key's index (8 CPU seconds for a
    # book of 1M sent again, against 3 for the update; the same rows either way).
    on = "c.client_id = i.client_id and c.case_id = i.case_id"
    relation = frame_relation(con, incoming)
    # Two updates, the same rows as one of every column: DuckDB keeps a new version of each
    # column an UPDATE sets, for every row it touches, and a book sent again changes little but
    # its daily columns (a 1M book: 2.9-3.0 s for every column, 0.5-0.6 s for the daily ones
    # and 0.7-0.8 s to find that no other one changed).
    daily = [c for c in incoming.columns if c in CASE_DAILY_COLUMNS]
    rest = [c for c in incoming.columns if c not in CASE_KEYS and c not in CASE_DAILY_COLUMNS]
    changed = " or ".join(f"c.{c} is distinct from i.{c}" for c in rest)
    updated = _run_over(
        relation,
        "incoming_cases",
        f"update cases as c set {_sets(daily)} from incoming_cases as i where {on}",
    )
    if rest:
        _run_over(
            relation,
            "incoming_cases",
            f"update cases as c set {_sets(rest)} from incoming_cases as i "
            f"where {on} and ({changed})",
        )
    added = _run_over(
        relation,
        "incoming_cases",
        "insert into cases by name select i.* from incoming_cases as i "
        f"where not exists (select 1 from cases as c where {on})",
    )
    return updated + added


def _sets(columns: Sequence[str]) -> str:
    """The SET list of an UPDATE of ``columns`` from ``i``."""
    return ", ".join(f"{c} = i.{c}" for c in columns)


def _append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    columns: Sequence[str],
    keys: list[str],
    business_date: date,
) -> int:
    """Append rows whose key the warehouse does not have yet; return how many were new.

    One statement: the night's rows anti-joined on the key (far cheaper than INSERT OR IGNORE,
    which probes the primary-key index row by row and raises a conflict for each known one), and
    DuckDB's count of the rows it inserted (no count of the table before and after)."""
    if frame.is_empty():
        return 0
    incoming = _last_per_key(frame, keys).select(
        *columns, pl.lit(business_date).alias("business_date")
    )
    on = " and ".join(f"t.{k} = i.{k}" for k in keys)
    statement = (
        f"insert into {table} by name select i.* from incoming_rows as i "
        f"where not exists (select 1 from {table} as t where {on})"
    )
    return _insert(con, statement, "incoming_rows", incoming)


class _Contacts:
    """The night's new notes, appended batch by batch, folded into the per-case contact stats
    (``sql/contact_stats.sql``) once, after the last batch: only tonight's new notes are read,
    never the history, and never folded per batch (one fold of 5M notes is far cheaper than
    many small ones)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, business_date: date) -> None:
        self.con = con
        self.business_date = business_date
        if _stats_missing(con):  # a warehouse from before the stats existed
            build_contact_stats(con)
        # The first night: every note is new, so each batch goes straight into contacts, with
        # no anti-join.
        self.first = _empty(con, "contacts")
        # No note loaded on this night or after it (every night run in date order): each batch
        # goes straight into contacts too, less the notes already known, and tonight's new notes
        # are then those of tonight's business_date. Else (a night run again, or a past night)
        # the notes loaded before with this date are not tonight's: the new ones are put aside
        # in night_new_contacts first, and copied in at the end (the 3M night's 15M notes: 32.9 s
        # to put aside, copy and fold, against 25.1 s straight in; issue 8).
        self.direct = not _loaded_since(con, "contacts", business_date)
        self.staged = False  # tonight's new notes are in night_new_contacts
        self.added = 0

    def add(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        incoming = _last_per_key(frame, ["client_id", "note_id"]).select(
            *CONTACT_COLUMNS, pl.lit(self.business_date).alias("business_date")
        )
        known = "t.client_id = i.client_id and t.note_id = i.note_id"
        if self.direct:
            statement = "insert into contacts by name select i.* from incoming_rows as i"
            if not self.first:
                # only the notes of nights before tonight: tonight's batches carry distinct keys
                before = f"t.business_date < date '{self.business_date.isoformat()}'"
                statement += (
                    f" where not exists (select 1 from contacts as t where {before} and {known})"
                )
            self.added += _insert(self.con, statement, "incoming_rows", incoming)
            return
        new = (
            "select i.* from incoming_rows as i "
            f"where not exists (select 1 from contacts as t where {known})"
        )
        into = (
            "insert into night_new_contacts by name"
            if self.staged
            else "create or replace temp table night_new_contacts as"
        )
        _insert(self.con, f"{into} {new}", "incoming_rows", incoming)
        self.staged = True

    def finish(self) -> int:
        if self.direct and self.added:
            # tonight's new notes: on the first night all of contacts, else those of its date
            day = f"date '{self.business_date.isoformat()}'"
            _fold_contact_stats(
                self.con, "contacts" if self.first else f"contacts where business_date = {day}"
            )
        elif self.staged:
            self.added = _count(
                self.con, "insert into contacts by name select * from night_new_contacts", {}
            )
            _fold_contact_stats(self.con, "night_new_contacts")
            self.con.execute("drop table night_new_contacts")
        return self.added


def _empty(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(_count(con, f"select not exists (select 1 from {table})", {}))


def _loaded_since(con: duckdb.DuckDBPyConnection, table: str, business_date: date) -> bool:
    """Whether ``table`` has rows loaded on ``business_date`` or a later night."""
    sql = f"select exists (select 1 from {table} where business_date >= $business_date)"
    return bool(_count(con, sql, {"business_date": business_date}))


def _fold_contact_stats(con: duckdb.DuckDBPyConnection, notes: str) -> None:
    """Fold the notes of the table or view ``notes`` into ``case_contact_stats``, all at once
    (``sql/contact_stats.sql`` reads them as ``night_contacts``).

    Not in parts by a hash of the case, as up to c147220: each part scanned every note again,
    and joined the stats the parts before had written, so the fold grew with the square of the
    night (the 10M night's 50M notes in 11 parts: 364 s, against 121 s at once, both on a busy
    machine). DuckDB spills the one aggregate's groups, their lists included, to its temp
    directory beyond its memory limit: the 10M night's load fits a 3GB limit (the 1M night's
    fold alone a 600MB one)."""
    straight_in = _empty(con, "case_contact_stats")
    con.execute(f"create or replace temp view night_contacts as select * from {notes}")
    _fold_night(con, straight_in=straight_in)
    con.execute("drop view night_contacts")


# The outcomes in the order of their text: sql/contact_stats.sql sorts the phone calls by time,
# then outcome, with each outcome as its place in this list.
FOLD_OUTCOMES = sorted(OUTCOMES)


def _fold_night(con: duckdb.DuckDBPyConnection, *, straight_in: bool) -> None:
    """Fold the notes of the view ``night_contacts``; ``straight_in``: no stats were kept before
    tonight's, so none of these cases has a row to replace."""
    fold, params = sql_text("contact_stats"), {"outcomes": FOLD_OUTCOMES}
    if straight_in:
        # nothing kept to replace: the folded rows go straight in (no temp copy of 1M cases)
        con.execute(f"insert into case_contact_stats by name {fold}", params)
        return
    con.execute(f"create or replace temp table folded_stats as {fold}", params)
    con.execute(
        "delete from case_contact_stats as s where exists (select 1 from folded_stats as f "
        "where f.client_id = s.client_id and f.case_id = s.case_id)"
    )
    con.execute("insert into case_contact_stats by name select * from folded_stats")
    con.execute("drop table folded_stats")


def _stats_missing(con: duckdb.DuckDBPyConnection) -> bool:
    """Notes loaded but no contact stats: a warehouse from before the stats existed."""
    return bool(
        _count(
            con,
            "select (select count(*) from case_contact_stats) = 0 "
            "and exists (select 1 from contacts)",
            {},
        )
    )


def build_contact_stats(con: duckdb.DuckDBPyConnection) -> None:
    """The contact stats of every note loaded so far, once, for a warehouse without them."""
    _fold_contact_stats(con, "contacts")


def contact_stats_current(con: duckdb.DuckDBPyConnection, business_date: date) -> bool:
    """Whether the contact stats describe the notes exactly as night ``business_date`` knew
    them: built, and no note in them written after that night or loaded on a later one. True
    on every night run in date order; False for a past night run again after later ones."""
    if _stats_missing(con):
        return False
    later = _count(
        con,
        "select count(*) from case_contact_stats "
        "where last_contact_at >= cast($business_date as date) + interval 1 day "
        "or known_through > $business_date",
        {"business_date": business_date},
    )
    return later == 0


def night_part(
    con: duckdb.DuckDBPyConnection, business_date: date, part: Part = WHOLE
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The book and the features of one ``part`` of the night (``sql/night_part.sql``), from
    the contact stats and the last 30 days of notes, in one query: valid only when the stats
    are current for the night (``contact_stats_current``). Both by client and case: sorted
    here, not by DuckDB, whose sort of the wide rows needed more than a 1GB memory limit."""
    params = {"business_date": business_date, **part.params()}
    with joins_as_written(con):  # DuckDB's estimates of a part are far off (the function)
        frame = query(con, "night_part", params)
    # each struct taken in sorted order, and the unsorted features let go before the book is
    # taken: sorting the whole frame held it twice (a 1M part alone: 2.1 GB over the process's
    # start this way, 2.6 GB sorting the whole frame, 2.3 GB with the two queries before; the
    # 1M night's peak is still 0.25 GB above theirs: README, Performance)
    order = frame.select(pl.arg_sort_by("client_id", "case_id")).to_series()
    features = frame.get_column("features").gather(order)
    frame = frame.drop("features")
    in_book = order.filter(frame.get_column("in_book").gather(order))
    book = frame.get_column("book").gather(in_book)
    del frame
    return book.struct.unnest(), features.struct.unnest()


def night_book(
    con: duckdb.DuckDBPyConnection, business_date: date, part: Part = WHOLE
) -> pl.DataFrame:
    """The night's book (``sql/night_cases.sql``'s rows), or one ``part`` of it (its debtors'
    cases, ``pipeline.parts``): from the contact stats and the last 30 days of notes
    (``night_part``) when they are current for the night, else (a past night run again after
    later ones) from the whole history. By client and case."""
    if contact_stats_current(con, business_date):
        return night_part(con, business_date, part)[0]
    params = {"business_date": business_date, **part.params()}
    return query(con, "night_cases", params).sort("client_id", "case_id")


def case_details(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame) -> pl.DataFrame:
    """The name, id and card numbers, phone, district and address of the cases ``keys`` names
    (client_id, case_id), from the current cases (``sql/case_details.sql``): the night's book
    carries none of it, so only the rows a person is shown (a worklist's) are read."""
    worked = keys.select("client_id", "case_id")
    return select_over(con, worked, "worked_keys", sql_text("case_details"))


def _replace_roster(
    con: duckdb.DuckDBPyConnection, roster: pl.DataFrame, business_date: date
) -> int:
    incoming = _last_per_key(roster, ["collector_id"]).select(
        *COLLECTOR_COLUMNS, pl.lit(business_date).alias("business_date")
    )
    con.execute("delete from collectors")
    _insert(
        con,
        "insert into collectors by name select * from incoming_roster",
        "incoming_roster",
        incoming,
    )
    return incoming.height


def _record_files(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[FileRecord],
    business_date: date,
    loaded: Mapping[str, int],
    rejected: Mapping[str, int],
) -> None:
    now = datetime.now()
    for f in files:
        if f.status != "read":
            continue  # a duplicate is already recorded; a refused file is received again next time
        con.execute(
            "insert or replace into received_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                f.sha256,
                f.name,
                f.kind,
                business_date,
                now,
                f.archived_path,
                f.rows,
                loaded.get(f.name, 0),
                rejected.get(f.name, 0),
                "loaded",
            ],
        )


def _rows_per_file(frames: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for frame in frames.values():
        if frame.is_empty():
            continue
        for name, n in frame.group_by("_file").len().iter_rows():
            counts[name] = counts.get(name, 0) + n
    return counts


def _store_rejects(
    con: duckdb.DuckDBPyConnection, rejects: pl.DataFrame, business_date: date
) -> None:
    if rejects.is_empty():
        return
    frame = rejects.select("file", "row", "kind", "column", "rule", "value").with_columns(
        pl.lit(business_date).alias("business_date")
    )
    _insert(
        con, "insert into rejects by name select * from incoming_rejects", "incoming_rejects", frame
    )


class KindLoader(Protocol):
    """One kind's valid rows put into the warehouse: ``add`` each batch (a whole file's rows,
    or a batch of a file read in batches), then ``finish`` once; the count of rows loaded
    (None: no roster tonight). Tonight's batches of a kind carry distinct keys (``validate``'s
    ``duplicate_key`` and ``superseded``), so loading them one by one gives what loading them
    at once gives."""

    def add(self, frame: pl.DataFrame) -> None: ...
    def finish(self) -> int | None: ...


class _Cases:
    def __init__(self, con: duckdb.DuckDBPyConnection, business_date: date) -> None:
        self.con, self.business_date, self.upserted = con, business_date, 0
        # The first night: no case is known, and tonight's batches carry distinct keys, so
        # every batch is new (no batch is joined against the cases the ones before added).
        self.first = _empty(con, "cases")

    def add(self, frame: pl.DataFrame) -> None:
        self.upserted += _upsert_cases(self.con, frame, self.business_date, new=self.first)

    def finish(self) -> int:
        return self.upserted


class _Payments:
    def __init__(self, con: duckdb.DuckDBPyConnection, business_date: date) -> None:
        self.con, self.business_date, self.added = con, business_date, 0

    def add(self, frame: pl.DataFrame) -> None:
        keys = ["client_id", "payment_id"]
        self.added += _append(
            self.con, "payments", frame, PAYMENT_COLUMNS, keys, self.business_date
        )

    def finish(self) -> int:
        return self.added


class _Roster:
    """The roster is replaced whole, once: its files are small and read whole."""

    def __init__(self, con: duckdb.DuckDBPyConnection, business_date: date) -> None:
        self.con, self.business_date = con, business_date
        self.frames: list[pl.DataFrame] = []

    def add(self, frame: pl.DataFrame) -> None:
        if not frame.is_empty():
            self.frames.append(frame)

    def finish(self) -> int | None:
        if not self.frames:
            return None
        roster = pl.concat(self.frames, how="vertical")
        return _replace_roster(self.con, roster, self.business_date)


# The order the kinds are loaded in: the cases before the payments and notes that name them.
LOAD_ORDER = ("cases", "payments", "contacts", "collectors")
_LOADERS: dict[str, Callable[[duckdb.DuckDBPyConnection, date], KindLoader]] = {
    "cases": _Cases,
    "payments": _Payments,
    "contacts": _Contacts,
    "collectors": _Roster,
}


def kind_loader(con: duckdb.DuckDBPyConnection, kind: str, business_date: date) -> KindLoader:
    """The loader of ``kind``; made for every kind, in ``LOAD_ORDER``, even without rows (the
    notes' loader first builds contact stats a warehouse lacks)."""
    return _LOADERS[kind](con, business_date)


def load(
    con: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pl.DataFrame],
    rejects: pl.DataFrame,
    files: Sequence[FileRecord],
    business_date: date,
) -> LoadStats:
    """Load one night into the warehouse in one transaction: all of it, or none of it."""
    with transaction(con):
        loaded: dict[str, int | None] = {}
        for kind in LOAD_ORDER:
            loader = kind_loader(con, kind, business_date)
            if kind in frames:
                loader.add(frames[kind])
            loaded[kind] = loader.finish()
        return finish_load(con, loaded, rejects, files, business_date, _rows_per_file(frames))


def finish_load(
    con: duckdb.DuckDBPyConnection,
    loaded: Mapping[str, int | None],
    rejects: pl.DataFrame,
    files: Sequence[FileRecord],
    business_date: date,
    rows_per_file: Mapping[str, int],
) -> LoadStats:
    """After every kind is loaded (``loaded``: kind -> ``KindLoader.finish``): the night's case
    snapshot, the cases paid off, the rejects and the files received. Joins the transaction of
    the caller."""
    params = {"business_date": business_date}
    with transaction(con):
        con.execute("delete from case_snapshots where business_date = $business_date", params)
        con.execute(f"insert into case_snapshots by name {sql_text('snapshot_cases')}", params)
        closed = _count(
            con,
            "select count(*) from cases c join case_snapshots s using (client_id, case_id) "
            "where s.business_date = $business_date and s.status = 'paid' and c.status = 'active'",
            params,
        )
        con.execute(sql_text("close_paid_cases"), params)
        unknown = _count(
            con,
            "select count(*) from payments p where p.business_date = $business_date and not exists "
            "(select 1 from cases c where c.client_id = p.client_id and c.case_id = p.case_id)",
            params,
        )
        snapshot_rows = _count(
            con, "select count(*) from case_snapshots where business_date = $business_date", params
        )
        rejected_per_file = (
            dict(rejects.group_by("file").agg(pl.col("row").n_unique()).iter_rows())
            if not rejects.is_empty()
            else {}
        )
        # Tonight's reading of a file replaces an earlier reading of the same name that night
        # (a re-run, a file sent again): its rejects, and a refusal (row 0), are not doubled.
        read_again = [f.name for f in files if f.status != "duplicate"]
        con.execute(
            "delete from rejects "
            "where business_date = $business_date and list_contains($files, file)",
            {**params, "files": read_again},
        )
        _store_rejects(con, rejects, business_date)
        _record_files(con, files, business_date, rows_per_file, rejected_per_file)
    return LoadStats(
        cases_upserted=loaded.get("cases") or 0,
        payments_added=loaded.get("payments") or 0,
        payments_unknown_case=unknown,
        contacts_added=loaded.get("contacts") or 0,
        collectors=loaded.get("collectors"),
        cases_closed_paid=closed,
        snapshot_rows=snapshot_rows,
    )
