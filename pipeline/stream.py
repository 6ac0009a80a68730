"""stream: validate and load a night's files kind by kind, a large Parquet file batch by batch.

A 10M-case night sends 50M notes: read whole, validated whole and loaded whole they pass 18 GB
(issue 8). Here a Parquet file is read ``BATCH_ROWS`` rows at a time, each batch goes through
the same code as a whole file (``ParquetSource.batches`` gives the frame ``read_file`` gives for
those rows, ``validate_kind`` checks it, a ``KindLoader`` appends it), and at most a batch or two
of raw and parsed rows is held at once. CSV and XLSX files are small in practice and are read
whole, as before; a kind's whole files are validated together as one more batch.

The results are those of reading everything at once (README "Validation"), in three steps:

1. ``scan`` (the ingest stage): every Parquet file is read through in batches, keeping of each
   row only the 64-bit hash of its key and, per column, its type and whether any row has a
   value. A file that cannot be read is refused here, before any of its rows is loaded; and a
   kind's files get one type per column as ``ingest._concat_files`` gives them.
2. ``plan`` (the validate stage): the key hashes that repeat point at the few rows to treat
   exactly: a key repeated within a Parquet file is ``duplicate_key`` for every such row, in
   whichever batch it is (compared on the keys themselves, read again for those rows only),
   and a row whose key may be in another file is held back until its kind's last batch, for
   ``superseded`` to keep the later file's row.
3. ``load_kinds`` (the load stage): each batch validated and appended; the held rows resolved
   and appended; every kind's loader finished once (the notes' contact stats folded once).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TypeVar, cast

import duckdb
import numpy as np
import polars as pl

from pipeline.errors import CaseflowError, InputFileError
from pipeline.ingest import (
    READERS,
    ColumnTypes,
    IngestResult,
    ParquetSource,
    ReceivedFile,
    column_types,
    conform,
    unified_types,
)
from pipeline.load import LOAD_ORDER, kind_loader
from pipeline.schemas import repeated
from pipeline.validate import (
    KEYS,
    duplicate_rows,
    key_hashes,
    sorted_rejects,
    superseded,
    typed_keys,
    validate_kind,
)

T = TypeVar("T")

# Rows of a Parquet file read, validated and loaded at once: large enough that the per-batch
# costs (a pandera run, a DuckDB statement) stay small, small enough that a batch of 1M notes
# or cases with their text is a few hundred MB. Tests lower it.
BATCH_ROWS = 1_000_000


@dataclass(frozen=True)
class Scan:
    """What the plan needs of one source of a kind: a Parquet file, or the kind's files read
    whole (CSV, XLSX) as one frame."""

    kind: str
    hashes: pl.Series  # the hash of each row's key, in order
    files: pl.Series | str  # each row's file, or the one file's name
    rows: pl.Series | None  # each row's number; None: 1, 2, ... (a Parquet file)
    types: ColumnTypes
    source: ParquetSource | None = None
    frame: pl.DataFrame | None = None  # the files read whole

    def names(self) -> pl.Series:
        if isinstance(self.files, str):
            return pl.repeat(self.files, self.hashes.len(), dtype=pl.Utf8, eager=True)
        return self.files

    def numbers(self) -> pl.Series:
        if self.rows is None:
            return pl.int_range(1, self.hashes.len() + 1, dtype=pl.Int64, eager=True)
        return self.rows


@dataclass(frozen=True)
class Scanned:
    files: list[ReceivedFile]  # as ingest's, a Parquet file found unreadable now refused
    scans: dict[str, list[Scan]]  # kind -> its sources


def scan(received: IngestResult, batch_rows: int = BATCH_ROWS) -> Scanned:
    """Step 1: read every Parquet file through (``READERS`` at once), and take over the files
    ingest read whole (each kind's frame is handed over, not copied)."""
    scans: dict[str, list[Scan]] = {}
    for kind in sorted(received.tables):
        frame = received.tables.pop(kind)
        scans[kind] = [_whole_scan(kind, frame)]
    refused: dict[str, str] = {}
    with ThreadPoolExecutor(READERS, thread_name_prefix="caseflow-scan") as readers:
        done = [readers.submit(_parquet_scan, s, batch_rows) for s in received.sources]
        for source, reading in zip(received.sources, done, strict=True):
            try:
                scans.setdefault(source.kind, []).append(reading.result())
            except InputFileError as exc:
                refused[source.name] = str(exc)
    files = [
        replace(f, kind=None, status="refused", rows=0, message=refused[f.name])
        if f.name in refused and f.status == "read"
        else f
        for f in received.files
    ]
    return Scanned(files, {k: v for k, v in scans.items() if v})


def _whole_scan(kind: str, frame: pl.DataFrame) -> Scan:
    return Scan(
        kind=kind,
        hashes=key_hashes(kind, frame),
        files=frame.get_column("_file").cast(pl.Utf8),
        rows=frame.get_column("_row"),
        types=column_types(frame),
        frame=frame,
    )


def _parquet_scan(source: ParquetSource, batch_rows: int) -> Scan:
    hashes: list[pl.Series] = []
    types: ColumnTypes = {}
    for batch in source.batches(batch_rows):
        hashes.append(key_hashes(source.kind, batch))
        for column, (dtype, present) in column_types(batch).items():
            seen = types.get(column, (dtype, False))
            types[column] = (seen[0], seen[1] or present)
    return Scan(
        kind=source.kind,
        hashes=pl.concat(hashes) if hashes else pl.Series(dtype=pl.UInt64),
        files=source.name,
        rows=None,
        types=types,
        source=source,
    )


@dataclass(frozen=True)
class KindPlan:
    """How one kind's sources are validated and loaded (step 2). The key hashes are let go
    (400 MB for 50M notes): the load needs only the few rows they pointed at."""

    kind: str
    sources: list[ParquetSource | pl.DataFrame]  # a Parquet file, or the files read whole
    # the kind's one type per column (``unified_types``); empty: one file, read as it is
    targets: dict[str, pl.DataType | None]
    # Parquet file -> the numbers of its rows whose key the file repeats (``duplicate_key``)
    duplicates: dict[str, pl.Series] = field(default_factory=dict)
    # (file, row) of the rows whose key may be in another file too (held for ``superseded``)
    held: pl.DataFrame = field(default_factory=lambda: _places([], []))


def plan(scanned: Scanned, batch_rows: int = BATCH_ROWS) -> list[KindPlan]:
    """Step 2, per kind in ``LOAD_ORDER``: the types, the duplicates and the rows held."""
    plans = []
    for kind in LOAD_ORDER:
        scans = scanned.scans.get(kind, [])
        if not scans:
            continue
        files = sum(1 if isinstance(s.files, str) else s.files.n_unique() for s in scans)
        targets = unified_types([s.types for s in scans]) if files > 1 else {}
        repeats = _repeats(scans)
        plans.append(
            KindPlan(
                kind=kind,
                sources=[s.source if s.source is not None else _frame(s) for s in scans],
                targets=targets,
                duplicates=_duplicates(kind, scans, repeats, batch_rows),
                held=_held(repeats),
            )
        )
    return plans


def _places(files: Sequence[str], rows: Sequence[int]) -> pl.DataFrame:
    return pl.DataFrame({"_file": files, "_row": rows}, schema={"_file": pl.Utf8, "_row": pl.Int64})


def _repeats(scans: list[Scan]) -> pl.DataFrame:
    """The rows of a kind whose key hash is another row's too: hash, source, file and row.
    Few on any night (corrections, duplicates and, rarely, a hash collision)."""
    everything = pl.concat([s.hashes for s in scans], rechunk=False)
    at = repeated(everything).cast(pl.Int64)
    del everything
    starts = np.cumsum([0] + [s.hashes.len() for s in scans])
    source = np.searchsorted(starts, at.to_numpy(), side="right") - 1
    parts = []
    for i, s in enumerate(scans):
        local = (at.filter(pl.Series(source == i)) - int(starts[i])).cast(pl.UInt32)
        if local.len() == 0:
            continue
        parts.append(
            pl.DataFrame(
                {
                    "hash": s.hashes.gather(local),
                    "scan": pl.repeat(i, local.len(), dtype=pl.Int64, eager=True),
                    "_file": s.names().gather(local),
                    "_row": s.numbers().gather(local),
                }
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={"hash": pl.UInt64, "scan": pl.Int64, "_file": pl.Utf8, "_row": pl.Int64}
        )
    return pl.concat(parts)


def _held(repeats: pl.DataFrame) -> pl.DataFrame:
    """The rows whose key hash is in two files or more."""
    files = pl.col("_file").n_unique().over("hash")
    return repeats.filter(files > 1).select("_file", "_row")


def _duplicates(
    kind: str, scans: list[Scan], repeats: pl.DataFrame, batch_rows: int
) -> dict[str, pl.Series]:
    """Per Parquet file, its rows ``duplicate_key`` sets aside: the rows whose key hash the file
    repeats, their keys read again and compared (the files read whole are validated whole,
    their duplicates found as before)."""
    within = repeats.filter(pl.len().over("hash", "_file") > 1)
    found: dict[str, pl.Series] = {}
    for index in within.get_column("scan").unique().sort().to_list():
        source = scans[index].source
        if source is None:
            continue
        rows = within.filter(pl.col("scan") == index).get_column("_row")
        keys, numbers = _keys_of(kind, source, rows, batch_rows)
        found[source.name] = duplicate_rows(kind, keys, numbers)
    return found


def _keys_of(
    kind: str, source: ParquetSource, rows: pl.Series, batch_rows: int
) -> tuple[pl.DataFrame, pl.Series]:
    """The typed keys of a Parquet file's rows numbered ``rows`` (a pass over its key columns)."""
    keys: list[pl.DataFrame] = []
    numbers: list[pl.Series] = []
    wanted = rows.implode()
    for batch in source.batches(batch_rows, columns=KEYS[kind]):
        picked = batch.filter(pl.col("_row").is_in(wanted))
        keys.append(typed_keys(kind, picked))
        numbers.append(picked.get_column("_row"))
    return pl.concat(keys), pl.concat(numbers)


@dataclass(frozen=True)
class Night:
    """What step 3 loaded: per kind the loader's count, per file and per kind the valid rows,
    and the validation's reject lines (sorted, each once)."""

    loaded: dict[str, int | None]
    rows_per_file: dict[str, int]
    rows_valid: dict[str, int]
    rejects: pl.DataFrame


def load_kinds(
    con: duckdb.DuckDBPyConnection,
    plans: list[KindPlan],
    business_date: date,
    batch_rows: int = BATCH_ROWS,
) -> Night:
    """Step 3, inside the caller's transaction: every kind's loader made and finished, in
    ``LOAD_ORDER`` (with or without rows tonight), its batches validated and added."""
    by_kind = {p.kind: p for p in plans}
    loaded: dict[str, int | None] = {}
    per_file: dict[str, int] = {}
    valid: dict[str, int] = {}
    rejects: list[pl.DataFrame] = []
    for kind in LOAD_ORDER:
        loader = kind_loader(con, kind, business_date)
        kind_plan = by_kind.get(kind)
        if kind_plan is not None:
            valid[kind] = 0
            # the next batch read and validated while this one is appended (issue 8)
            for good, bad in read_ahead(_validated(kind_plan, business_date, batch_rows)):
                loader.add(good)
                rejects.append(bad)
                for name, n in good.group_by("_file").len().iter_rows():
                    per_file[str(name)] = per_file.get(str(name), 0) + n
                valid[kind] += good.height
        loaded[kind] = loader.finish()
    return Night(loaded, per_file, dict(sorted(valid.items())), sorted_rejects(rejects))


_END = object()  # read_ahead's mark of the last item


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items`` as they are, each next one made in a thread of its own while the caller works
    on the one before: a kind's next batch is read from its file and validated (pyarrow and
    polars) while DuckDB appends this one, work that mostly leaves the interpreter free. One
    item is made ahead, never more (a batch of a million notes is a few hundred MB); an error
    in making it is raised here, where the item would have been. Closing this iterator (the
    caller's loop ends or raises) waits for the item being made, then lets ``items`` go."""
    with ThreadPoolExecutor(1, thread_name_prefix="caseflow-read-ahead") as worker:
        ahead = worker.submit(next, items, _END)
        while True:
            item = ahead.result()
            if item is _END:
                return
            ahead = worker.submit(next, items, _END)
            yield cast(T, item)


def _validated(
    kind_plan: KindPlan, business_date: date, batch_rows: int
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """The valid rows and the reject lines of each batch of a kind, then of its held rows."""
    kind = kind_plan.kind
    held: list[pl.DataFrame] = []
    for source in kind_plan.sources:
        for raw in _batches(source, batch_rows):
            if kind_plan.targets:
                raw = conform(raw, kind_plan.targets)
            named = source.name if isinstance(source, ParquetSource) else None
            duplicates = kind_plan.duplicates.get(named) if named else None
            good, bad = validate_kind(kind, raw, business_date, duplicates)
            del raw
            good, hold = _hold_back(good, kind_plan.held)
            held.append(hold)
            yield good, bad
    # the held rows, once every file is read: the later file's row goes on (``superseded``)
    if held:
        yield superseded(kind, pl.concat(held, how="vertical"))


def _frame(s: Scan) -> pl.DataFrame:
    assert s.frame is not None  # a scan is of a Parquet file or of the files read whole
    return s.frame


def _batches(source: ParquetSource | pl.DataFrame, batch_rows: int) -> Iterator[pl.DataFrame]:
    if isinstance(source, pl.DataFrame):
        yield source
        return
    try:
        yield from source.batches(batch_rows)
    except InputFileError as exc:  # read through in step 1: its archived copy changed since
        raise CaseflowError(f"{exc}, read again after it was read through") from None


def _hold_back(good: pl.DataFrame, held: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``good`` less its rows in ``held`` (file, row), and those rows."""
    if held.is_empty():
        return good, good.clear()
    place = pl.struct(pl.col("_file").cast(pl.Utf8), "_row")
    mask = good.select(place.is_in(held.select(pl.struct("_file", "_row")).to_series().implode()))
    hold = mask.to_series()
    return good.filter(~hold), good.filter(hold)
