"""ingest: receive one night's files: archive each unchanged with its SHA-256, then read it.

Every file is copied into ``HOME/archive/<date>/`` before anything else reads it (DOMAIN.md R2);
a file whose SHA-256 was received before is skipped and reported as a duplicate. Reading decodes
CSV strictly as UTF-8 (with or without BOM) or else GB18030, reads XLSX (first sheet, header on
the first row) and Parquet, tells the file's kind by its name or header, and maps English or
Chinese headers to the contract's names. Every value comes out as text, except a Parquet column
already of its contract type (a date, an amount), which is kept typed: parsing belongs to
``validate``, so that a value that cannot be read is a rejected row, never a crashed night.

A file that cannot be read at all (no known encoding, no header, a required column missing, an
unknown kind, a damaged workbook or Parquet file) is refused whole with a message; it is still
archived and reported. Within a readable CSV, a line in no known encoding, or a row cut short or
too long, is flagged on that row (``_shape``) and rejected by ``validate``; the other rows go on.
Whatever the bytes, reading ends in rows or in a refusal, never in another exception.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from pipeline.errors import CaseflowError, InputFileError
from pipeline.headers import (
    COLUMNS,
    FEW_VALUES,
    REQUIRED_COLUMNS,
    VALUE_TYPES,
    header_map,
    kind_of,
)
from pipeline.masking import scrub_text

READABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".parquet")
ROW_COLUMNS = ("_file", "_row")
# Where a raw row is too short or too long for its header (a broken line, a stray delimiter),
# or holds bytes in no known encoding: the row's values cannot be trusted.
SHAPE_COLUMN = "_shape"
# How a ``_shape`` text begins when the row's bytes were in no known encoding (validate's rule
# ``undecodable_text``; any other ``_shape`` is ``wrong_field_count``).
UNDECODABLE = "bytes in no known encoding"
# A workbook is a zip: refuse one that would unpack to more than this, or to more than 64 MiB
# packed so tightly it can only be a zip bomb (real sheets compress 5-50 times).
XLSX_MAX_UNPACKED = 4 * 2**30
XLSX_MAX_RATIO = 500
XLSX_RATIO_FROM = 64 * 2**20
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ReceivedFile:
    """One file of the night's folder and what became of it (the manifest lists these)."""

    name: str
    sha256: str
    kind: str | None
    status: str  # read | duplicate | refused
    rows: int
    archived_path: str
    message: str | None = None
    encoding: str | None = None


class RawTables(dict[str, pl.DataFrame]):
    """kind -> every row of that kind's files, canonical column names, plus _file, _row (the row
    number a person sees: the header is row 1 in CSV and XLSX) and _shape. ``validate`` takes
    them over: it removes each kind as it validates it, so its memory is let go."""


@dataclass(frozen=True)
class IngestResult:
    files: list[ReceivedFile]
    tables: RawTables = field(default_factory=RawTables)
    # with ``stream_parquet``: the Parquet files, opened but not read (in name order)
    sources: list[ParquetSource] = field(default_factory=list)


@dataclass(frozen=True)
class RawTable:
    headers: list[str]
    rows: list[list[str | None]]
    numbers: list[int]  # the row number a person sees for each of rows (header = row 1)
    encoding: str | None
    # CSV only: the file lines each row spans, and a problem found while decoding it
    spans: list[tuple[int, int]] | None = None
    problems: list[str | None] | None = None


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    bad_lines: frozenset[int] = frozenset()  # 1-based lines in no known encoding


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (a 10M-case night's notes are gigabytes)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# A file archived without being read whole is copied this many bytes at a time.
COPY_CHUNK = 8 * 2**20


def archive(data: bytes, name: str, digest: str, home: Path, business_date: date) -> Path:
    """Keep the file unchanged under the home folder; written aside, then renamed into place.

    A file that cannot be archived (a full or read-only disk) fails the night: nothing may be
    read that is not kept first (DOMAIN.md R2).
    """
    return _keep(lambda handle: handle.write(data), name, digest, home, business_date)


def archive_file(path: Path, name: str, digest: str, home: Path, business_date: date) -> Path:
    """``archive`` for a file read in batches: copied in chunks, never held whole, and hashed
    as it is copied, so that what is kept is what ``digest`` names (a file still being written
    when it was hashed is refused, not kept under another file's hash)."""

    def copy(handle: BinaryIO) -> None:
        copied = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(COPY_CHUNK):
                copied.update(chunk)
                handle.write(chunk)
        if copied.hexdigest() != digest:
            raise InputFileError(name, "changed while it was being received: send it again")

    return _keep(copy, name, digest, home, business_date)


def _keep(
    write: Callable[[BinaryIO], object], name: str, digest: str, home: Path, business_date: date
) -> Path:
    folder = home / "archive" / business_date.isoformat()
    target = folder / f"{digest[:16]}-{name}"
    partial = target.with_name(target.name + ".partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            with partial.open("wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CaseflowError(
            f"cannot archive {name} into {folder}: {exc.strerror or type(exc).__name__}; "
            "the night stopped before reading anything (files are kept before they are read)"
        ) from None
    except InputFileError:
        partial.unlink(missing_ok=True)
        raise
    return target


def _utf8_line(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not line.isascii()


def _mixed(data: bytes) -> str | None:
    """A file whose lines were appended by two systems: some UTF-8, some GB18030.

    Chinese text in GB18030 is practically never valid UTF-8 (its lead bytes are UTF-8
    continuation bytes), so each line is read in the one encoding it is valid in.
    """
    lines = data.splitlines(keepends=True)
    if not any(_utf8_line(line) for line in lines):
        return None
    try:
        return "".join(
            line.decode("utf-8") if _utf8_line(line) or line.isascii() else line.decode("gb18030")
            for line in lines
        )
    except UnicodeDecodeError:
        return None


def decode(data: bytes, name: str) -> Decoded:
    """Text and encoding: UTF-8 with BOM, UTF-8, then GB18030, each strictly; else line by line.

    Line by line, each line is read in the encoding it is valid in; a line valid in none is
    kept (with U+FFFD for its bad bytes) and listed in ``bad_lines``, so that its row is
    rejected and the other rows go on. A file whose header, or most of whose lines, are in no
    known encoding is refused whole: it is in another encoding, not damaged here and there.
    """
    if data.startswith(_BOM):
        candidates: Sequence[str] = ("utf-8-sig",)
    else:
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030":
            mixed = _mixed(data)
            if mixed is not None:
                return Decoded(mixed, "mixed utf-8/gb18030")
        return Decoded(text, encoding)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(name, "is UTF-16 text; save it as UTF-8 or GB18030 (CONTRACT.md)")
    return _decode_lines(data, name)


def _decode_lines(data: bytes, name: str) -> Decoded:
    lines = data.removeprefix(_BOM).splitlines(keepends=True)
    texts: list[str] = []
    bad: list[int] = []
    for number, line in enumerate(lines, start=1):
        for encoding in ("utf-8", "gb18030"):
            try:
                texts.append(line.decode(encoding))
                break
            except UnicodeDecodeError:
                continue
        else:
            texts.append(line.decode("utf-8", errors="replace"))
            bad.append(number)
    if not lines or bad[0] == 1 or 2 * len(bad) > len(lines) - 1:
        raise InputFileError(
            name, "cannot be decoded as UTF-8, UTF-8 with BOM or GB18030; save it in one of those"
        )
    return Decoded("".join(texts), "mixed, some lines in no known encoding", frozenset(bad))


def _delimiter(header_line: str) -> str:
    """The delimiter the header uses: a comma unless the header clearly uses ; tab or |."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(data: bytes, name: str) -> RawTable:
    decoded = decode(data, name)
    text = decoded.text
    if "\x00" in text:
        raise InputFileError(name, "holds NUL bytes: not a text CSV file")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputFileError(name, "is empty: no header row")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines[0]))
    records: list[list[str]] = []
    spans: list[tuple[int, int]] = []  # the file lines each record spans
    try:
        for record in reader:
            spans.append((spans[-1][1] + 1 if spans else 1, reader.line_num))
            records.append(record)
    except csv.Error as exc:
        raise InputFileError(name, f"is not readable as CSV: {scrub_text(str(exc))}") from None
    headers = records[0]
    numbered = [
        (n, r, s)
        for n, (r, s) in enumerate(zip(records[1:], spans[1:], strict=True), start=2)
        if any(v.strip() for v in r)
    ]
    return RawTable(
        headers=headers,
        rows=[list(r) for _, r, _ in numbered],
        numbers=[n for n, _, _ in numbered],
        encoding=decoded.encoding,
        spans=[s for _, _, s in numbered],
        problems=[_undecodable(s, decoded.bad_lines) for _, _, s in numbered],
    )


@dataclass(frozen=True)
class PlainCsv:
    """A CSV file of one line per row: its fields split by polars at once."""

    headers: list[str]
    fields: pl.DataFrame  # f0, f1, ...: the first len(headers) fields of each row kept
    numbers: pl.Series  # the line of each row (header = line 1)
    shape: pl.Series  # the row's ``_shape`` problem, or null
    encoding: str


# What Python's str.strip() takes for white space beyond polars' (Unicode White_Space).
_PY_EXTRA_SPACE = "\x1c-\x1f"


def _quoted_field(delimiter: str) -> str:
    """A field csv.reader reads whole from one line: without quotes, or all in quotes (a quote
    within doubled); anything else (a quote left open, text after the closing quote) is not."""
    d = re.escape(delimiter)
    field = rf'(?:[^"{d}]*|"(?:[^"]|"")*")'
    return rf"^{field}(?:{d}{field})*$"


def _read_plain_csv(data: bytes, name: str) -> PlainCsv | None:
    """The common file, read without a Python loop per row: every line in one encoding, lines
    ended by \\n or \\r\\n, each line one row (a quote, if any, closed on its line). Lines without
    a quote are split by polars; the few with one (``"1,234.50"``) by csv.reader. Rows, row
    numbers and ``_shape`` are those ``_read_csv`` gives (tests/test_ingest.py compares them);
    None for any other file, which ``_read_csv`` then reads."""
    decoded = decode(data, name)
    text = decoded.text
    if decoded.bad_lines or "\x00" in text:
        return None
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    first_line = text.split("\n", 1)[0]
    # the header as _read_csv finds it (str.splitlines also ends a line at \x0b, \x1c, ...)
    if '"' in first_line or not first_line.strip() or first_line.splitlines() != [first_line]:
        return None
    delimiter = _delimiter(first_line)
    headers = first_line.split(delimiter)
    width = len(headers)
    lines = pl.Series("line", [text]).str.split("\n").explode().slice(1)
    del text
    has_quote = lines.str.contains('"', literal=True)
    quoted_at = has_quote.arg_true()
    quoted_lines = lines.gather(quoted_at)
    if not quoted_lines.str.contains(_quoted_field(delimiter)).all():
        return None
    blank = rf"^[\s{_PY_EXTRA_SPACE}{re.escape(delimiter)}]*$"
    frame = lines.to_frame().select(
        pl.int_range(2, lines.len() + 2, dtype=pl.Int64).alias("number"),
        (~pl.col("line").str.contains(blank)).alias("_keep"),
        (pl.col("line").str.count_matches(delimiter, literal=True) + 1).alias("_count"),
        pl.col("line")
        .str.split_exact(delimiter, width - 1)
        .struct.rename_fields([f"f{i}" for i in range(width)])
        .struct.unnest(),
    )
    shape = pl.Series(SHAPE_COLUMN, [None] * lines.len(), dtype=pl.Utf8)
    odd = frame.select((pl.col("_count") != width) & ~has_quote).to_series().arg_true()
    if odd.len() > 0:
        found = [_shape_problem(line.split(delimiter), width) for line in lines.gather(odd)]
        shape = shape.scatter(odd, found)
    if quoted_at.len() > 0:
        frame, shape = _quoted_rows(frame, shape, quoted_at, quoted_lines, delimiter, width)
    keep = frame.get_column("_keep")
    frame = frame.filter(keep)
    return PlainCsv(
        headers=headers,
        fields=frame.drop("number", "_keep", "_count"),
        numbers=frame.get_column("number"),
        shape=shape.filter(keep),
        encoding=decoded.encoding,
    )


def _quoted_rows(
    frame: pl.DataFrame,
    shape: pl.Series,
    at: pl.Series,
    lines: pl.Series,
    delimiter: str,
    width: int,
) -> tuple[pl.DataFrame, pl.Series]:
    """The lines with a quote, read by csv.reader and put in place of polars' plain split."""
    records = [next(csv.reader([line], delimiter=delimiter), []) for line in lines]
    columns: list[pl.Series] = [
        frame.get_column(f"f{i}").scatter(at, [r[i] if i < len(r) else None for r in records])
        for i in range(width)
    ]
    keep = frame.get_column("_keep").scatter(at, [any(v.strip() for v in r) for r in records])
    shape = shape.scatter(at, [_shape_problem(list(r), width) for r in records])
    return frame.with_columns(*columns, keep), shape


def _plain_frame(table: PlainCsv, name: str, mapping: dict[str, str], kind: str) -> pl.DataFrame:
    positions = {column: table.headers.index(raw) for raw, column in mapping.items()}
    frame = table.fields.select(
        pl.col(f"f{pos}").alias(column) for column, pos in positions.items()
    )
    return _finish(frame, name, table.numbers, table.shape, kind)


def _undecodable(span: tuple[int, int], bad_lines: frozenset[int]) -> str | None:
    bad = [n for n in range(span[0], span[1] + 1) if n in bad_lines]
    return f"{UNDECODABLE} (neither UTF-8 nor GB18030) on line {bad[0]}" if bad else None


def _cell_text(value: Any) -> str | None:
    """An XLSX cell as the text a bank would have typed (dates ISO, whole numbers without .0)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _check_zip(data: bytes, name: str) -> None:
    """Refuse a workbook that is not a zip, or would unpack to far more than any real sheet."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive_:
            members = archive_.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise InputFileError(
            name, f"is not a readable XLSX workbook ({type(exc).__name__})"
        ) from None
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    bomb = unpacked > XLSX_RATIO_FROM and unpacked > XLSX_MAX_RATIO * packed
    if unpacked > XLSX_MAX_UNPACKED or bomb:
        raise InputFileError(
            name,
            f"would unpack to {unpacked // 2**20} MiB from {len(data) // 2**10} KiB: "
            "not a workbook caseflow reads (a damaged file or a zip bomb)",
        )


def _is_interrupt(exc: BaseException) -> bool:
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


def _read_xlsx(data: bytes, name: str) -> RawTable:
    from openpyxl import load_workbook

    _check_zip(data, name)
    # A damaged workbook fails in many ways (zip, XML, openpyxl's own checks), when opened or
    # only when a row is read: whatever the library raises, the file is refused, never the night.
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            records = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    except BaseException as exc:
        if _is_interrupt(exc):
            raise
        raise InputFileError(
            name, f"is not a readable XLSX workbook ({type(exc).__name__})"
        ) from None
    if not records:
        raise InputFileError(name, "the first sheet is empty: no header row")
    headers = [h or "" for h in records[0]]
    # Trailing empty cells are formatting, not data: a sheet's rows are as wide as its widest.
    width = max((i + 1 for i, h in enumerate(headers) if h), default=0)
    numbered = [
        (n, r[:width] + [None] * (width - len(r)))
        for n, r in enumerate(records[1:], start=2)
        if any(v not in (None, "") for v in r)
    ]
    return RawTable(
        headers=headers[:width],
        rows=[r for _, r in numbered],
        numbers=[n for n, _ in numbered],
        encoding=None,
    )


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "money": pa.float64(),
        "integer": pa.int64(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "boolean": pa.bool_(),
    }


def _keeps_type(arrow_type: Any, value_type: str | None) -> bool:
    """A Parquet column already of its contract type is kept typed: nothing to parse, no text
    copy (the notes of a 10M-case night are 50M rows). Any other type is read as text."""
    import pyarrow as pa

    t = pa.types
    naive_time = t.is_timestamp(arrow_type) and arrow_type.tz is None
    kept: dict[str | None, bool] = {
        "money": t.is_floating(arrow_type) or t.is_integer(arrow_type) or t.is_decimal(arrow_type),
        "integer": t.is_integer(arrow_type),
        "date": t.is_date(arrow_type) or naive_time,
        "timestamp": t.is_date(arrow_type) or naive_time,
        "boolean": t.is_boolean(arrow_type),
        None: t.is_string(arrow_type) or t.is_large_string(arrow_type),
    }
    return kept.get(value_type, False)


def _parquet_column(values: Any, value_type: str | None, name: str, column: str) -> pl.Series:
    """One Parquet column as polars: typed when of its contract type (see ``_keeps_type``),
    else as text; a fresh array, so nothing of the file's own schema reaches polars. Text read
    as a dictionary (a column of few values) becomes a Categorical without a string per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pa.types
    if value_type is None and t.is_dictionary(values.type):
        if t.is_string(values.type.value_type) or t.is_large_string(values.type.value_type):
            index = pc.cast(values, pa.dictionary(pa.int32(), pa.large_string()))
            series = pl.from_arrow(index)
            assert isinstance(series, pl.Series)
            return series.cast(pl.Categorical)
        values = pc.cast(values, values.type.value_type)

    target = _arrow_types()[value_type] if value_type else pa.large_string()
    casts = [target] if _keeps_type(values.type, value_type) else []
    for to in [*casts, pa.large_string()]:
        try:
            # not safe: a timestamp's time of day is dropped for a date, as its text form would be
            array = pc.cast(values, to, safe=to == pa.large_string())
        except BaseException as exc:
            if _is_interrupt(exc):
                raise
            continue
        series = pl.from_arrow(array)
        assert isinstance(series, pl.Series)
        return series
    raise InputFileError(
        name,
        f"column {scrub_text(column)!r} holds {values.type}, which is not a value of the contract",
    )


def _read_parquet(
    data: bytes, name: str, compact: bool, only: Collection[str] | None = None
) -> tuple[str, pl.DataFrame]:
    """The kind and the contract's columns, one at a time (the peak is the frame and one column);
    ``only``: of those, just these.

    Read by pyarrow: on a damaged file it raises where polars' reader can panic (a Rust panic is
    not an ``Exception``, and prints to stderr).
    """
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        names = [str(n) for n in parquet.schema_arrow.names]
    except BaseException as exc:
        if _is_interrupt(exc):
            raise
        raise InputFileError(
            name, f"is not a readable Parquet file ({type(exc).__name__})"
        ) from None
    if len(set(names)) != len(names):
        raise InputFileError(name, "has two columns of the same name")
    kind, mapping = _kind_and_mapping(name, names)
    types = VALUE_TYPES.get(kind, {})
    # a column of few values read as Parquet keeps it: a dictionary, and an index a row
    few = [raw for raw, column in mapping.items() if compact and column in FEW_VALUES]
    columns: list[pl.Series] = []
    for raw, column in mapping.items():
        if only is not None and column not in only:
            continue
        try:
            if raw == next(iter(few), None):
                parquet = pq.ParquetFile(io.BytesIO(data), read_dictionary=few)
            values = parquet.read(columns=[raw], use_threads=True).column(0)
        except BaseException as exc:
            if _is_interrupt(exc):
                raise
            raise InputFileError(
                name, f"is not a readable Parquet file ({type(exc).__name__})"
            ) from None
        columns.append(_parquet_column(values, types.get(column), name, raw).alias(column))
        del values
    height = parquet.metadata.num_rows
    if any(c.len() != height for c in columns):
        raise InputFileError(name, "is not a readable Parquet file (columns of unequal length)")
    return kind, pl.DataFrame(columns, height=height)


@dataclass(frozen=True)
class ParquetSource:
    """A Parquet file of the night read in row batches, never whole (README "Performance": the
    notes of a 10M-case night are 50M rows). Read from its archived copy, so that every pass
    reads the bytes kept (R2). Each batch is the frame ``read_file`` gives for those rows: the
    same columns, types and row numbers (a row's number is its 1-based place in the file)."""

    name: str
    path: Path  # the archived copy
    kind: str
    mapping: dict[str, str]  # the file's column -> the contract's
    few: tuple[str, ...]  # the file's columns read as dictionaries (``FEW_VALUES``)
    rows: int

    def batches(
        self, batch_rows: int, columns: Collection[str] | None = None
    ) -> Iterator[pl.DataFrame]:
        """The file's rows, about ``batch_rows`` at a time; only the contract's ``columns`` if
        given (the others null). InputFileError where the file turns out unreadable."""
        types = VALUE_TYPES.get(self.kind, {})
        wanted = {r: c for r, c in self.mapping.items() if columns is None or c in columns}
        first = 1
        for table in self._tables(batch_rows, list(wanted)):
            frame = pl.DataFrame(
                [
                    _parquet_column(table.column(raw), types.get(c), self.name, raw).alias(c)
                    for raw, c in wanted.items()
                ],
                height=table.num_rows,
            )
            yield _compacted(_finish(frame, self.name, None, None, self.kind, first), True)
            first += table.num_rows

    def _tables(self, batch_rows: int, columns: list[str]) -> Iterator[Any]:
        """pyarrow's record batches, joined up to at least ``batch_rows`` rows: a batch never
        spans two row groups, and a file written in small row groups (100k rows) would
        otherwise be validated and loaded in many small batches, each with its fixed costs."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        with _as_unreadable(self.name):
            parquet = pq.ParquetFile(
                self.path, read_dictionary=[r for r in self.few if r in columns] or None
            )
            reading = parquet.iter_batches(batch_size=batch_rows, columns=columns)
        with contextlib.closing(parquet):
            held: list[Any] = []
            while True:
                with _as_unreadable(self.name):
                    batch = next(reading, None)
                if batch is not None:
                    held.append(batch)
                if held and (batch is None or sum(b.num_rows for b in held) >= batch_rows):
                    yield pa.Table.from_batches(held)
                    held = []
                if batch is None:
                    return


@contextlib.contextmanager
def _as_unreadable(name: str) -> Iterator[None]:
    """pyarrow's error on a damaged file (whatever it raises) as the file's refusal."""
    try:
        yield
    except BaseException as exc:
        if _is_interrupt(exc) or isinstance(exc, InputFileError):
            raise
        raise InputFileError(
            name, f"is not a readable Parquet file ({type(exc).__name__})"
        ) from None


def open_parquet(path: Path, name: str) -> ParquetSource:
    """The kind and columns of a Parquet file (its footer only), as ``_read_parquet`` finds
    them; InputFileError if it cannot be read or is of no known kind."""
    import pyarrow.parquet as pq

    with _as_unreadable(name), pq.ParquetFile(path) as parquet:
        names = [str(n) for n in parquet.schema_arrow.names]
        rows = parquet.metadata.num_rows
    if len(set(names)) != len(names):
        raise InputFileError(name, "has two columns of the same name")
    kind, mapping = _kind_and_mapping(name, names)
    few = tuple(raw for raw, column in mapping.items() if column in FEW_VALUES)
    return ParquetSource(name, path, kind, mapping, few, rows)


def _kind_and_mapping(name: str, headers: list[str]) -> tuple[str, dict[str, str]]:
    kind = kind_of(name, headers)
    if kind is None:
        raise InputFileError(
            name,
            "cannot tell whether it holds cases, payments, contacts or collectors: "
            "name it cases*, payments*, contacts* or collectors*, or use the contract's headers"
            + _delimiter_hint(headers),
        )
    mapping = header_map(kind, headers)
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in mapping.values()]
    if missing:
        raise InputFileError(
            name,
            f"a {kind} file without the required column(s) {', '.join(missing)}; "
            "the whole file was set aside" + _delimiter_hint(headers),
        )
    return kind, mapping


def _delimiter_hint(headers: list[str]) -> str:
    """A header read as one column is most likely split by a delimiter caseflow does not know."""
    if len(headers) == 1 and len(headers[0]) > 20:
        return (
            " (the header reads as one column: separate columns with a comma, semicolon, tab or |)"
        )
    return ""


def _table_frame(table: RawTable, name: str, mapping: dict[str, str], kind: str) -> pl.DataFrame:
    """Canonical columns as text; a row of the wrong length keeps what it has and is flagged."""
    width = len(table.headers)
    positions = {column: table.headers.index(raw) for raw, column in mapping.items()}
    data: dict[str, list[str | None]] = {c: [] for c in positions}
    shape: list[str | None] = []
    for i, row in enumerate(table.rows):
        for column, pos in positions.items():
            data[column].append(row[pos] if pos < len(row) else None)
        problem = table.problems[i] if table.problems else None
        span = table.spans[i] if table.spans else None
        shape.append(problem or _shape_problem(row, width, span))
    frame = pl.DataFrame(data, schema={c: pl.Utf8 for c in data})
    return _finish(frame, name, table.numbers, shape, kind)


def _shape_problem(
    row: list[str | None], width: int, span: tuple[int, int] | None = None
) -> str | None:
    """A row shorter than the header (a cut-off line) cannot be trusted; a longer one can only
    when what it has beyond the header is empty (a trailing delimiter). A broken row over
    several lines is a quote left open: the lines it swallowed are named, so none is lost
    without a trace."""
    if len(row) == width or (len(row) > width and not any((v or "").strip() for v in row[width:])):
        return None
    where = ""
    if span is not None and span[1] > span[0]:
        where = f"; a quote left open runs over file lines {span[0]}-{span[1]}"
    return f"{len(row)} fields, header has {width}{where}"


def _finish(
    frame: pl.DataFrame,
    name: str,
    numbers: list[int] | pl.Series | None,
    shape: list[str | None] | pl.Series | None,
    kind: str,
    first_row: int = 1,
) -> pl.DataFrame:
    """Add the file name, row numbers (1, 2, ... for Parquet; a batch of a Parquet file goes on
    from ``first_row``) and shape; all contract columns."""
    n = frame.height
    extra = [
        pl.lit(name).alias("_file"),
        (
            pl.Series("_row", numbers, dtype=pl.Int64)
            if numbers is not None
            else pl.int_range(first_row, first_row + n, dtype=pl.Int64)
        ).alias("_row"),
        # a Parquet row has no shape to get wrong: a column of nulls that takes no memory
        (
            pl.Series(SHAPE_COLUMN, shape, dtype=pl.Utf8) if shape is not None else pl.lit(None)
        ).alias(SHAPE_COLUMN),
    ]
    missing = [pl.lit(None, dtype=pl.Utf8).alias(c) for c in COLUMNS[kind] if c not in frame]
    return frame.with_columns(*missing, *extra).select(*COLUMNS[kind], *ROW_COLUMNS, SHAPE_COLUMN)


def read_file(
    data: bytes, name: str, *, compact: bool = False, only: Collection[str] | None = None
) -> tuple[str, pl.DataFrame, str | None]:
    """Read one received file into (kind, frame, encoding); InputFileError if it cannot be.

    ``compact`` (the night's ingest): the columns of ``FEW_VALUES`` and ``_file`` as polars
    Categoricals; else all text is text (``caseflow explain`` reads an archived file so).
    ``only``: of the contract's columns, a Parquet file's are read for these alone (the others
    are null; a text or Excel file is parsed whole, as it must be to number its rows).
    """
    suffix = Path(name).suffix.lower()
    if suffix == ".parquet":
        kind, frame = _read_parquet(data, name, compact, only)
        return kind, _compacted(_finish(frame, name, None, None, kind), compact), None
    if suffix == ".xlsx":
        table = _read_xlsx(data, name)
    elif suffix in (".csv", ".txt", ".tsv"):
        plain = _read_plain_csv(data, name)
        if plain is not None:
            kind, mapping = _kind_and_mapping(name, plain.headers)
            frame = _plain_frame(plain, name, mapping, kind)
            return kind, _compacted(frame, compact), plain.encoding
        table = _read_csv(data, name)
    else:
        raise InputFileError(name, "is not a CSV, XLSX or Parquet file (CONTRACT.md)")
    kind, mapping = _kind_and_mapping(name, table.headers)
    return kind, _compacted(_table_frame(table, name, mapping, kind), compact), table.encoding


def _compacted(frame: pl.DataFrame, compact: bool) -> pl.DataFrame:
    if not compact:
        return frame
    few = [c for c in frame.columns if c in FEW_VALUES or c == "_file"]
    return frame.with_columns(pl.col(few).cast(pl.Categorical))


def _night_files(input_dir: Path) -> list[Path]:
    """The night's files, in name order; hidden files and folders are not part of a delivery."""
    return sorted(
        p for p in input_dir.iterdir() if p.is_file() and not p.name.startswith((".", "~$"))
    )


# Files read at once: a file's decoding (pyarrow, polars, zlib) mostly lets go of the GIL, so a
# second file is read on the other core; more would only hold more files in memory.
READERS = 2

Read = tuple[str, pl.DataFrame, str | None]


@dataclass(frozen=True)
class Streamed:
    """A Parquet file received to be read in batches: its record and its source."""

    file: ReceivedFile
    source: ParquetSource


Slot = ReceivedFile | Streamed | tuple[str, str, str, Future[Read]]


def ingest(
    input_dir: Path,
    home: Path,
    business_date: date,
    known: Mapping[str, str] | Iterable[str],
    *,
    stream_parquet: bool = False,
) -> IngestResult:
    """Archive and read every file of ``input_dir``; ``known`` holds SHA-256s received before
    (a mapping says when and as what, for the message: ``"2026-11-16 as cases.csv"``).

    Each file is archived before it is read (on the main thread, in name order); the reading is
    done by ``READERS`` threads, and the results are taken in name order, as one by one. With
    ``stream_parquet`` a Parquet file is hashed and archived in chunks and only opened: it comes
    back in ``sources``, for its rows to be read in batches (``ParquetSource.batches``)."""
    earlier = dict(known) if isinstance(known, Mapping) else {}
    seen = set(known)
    tonight: dict[str, str] = {}
    # per file in name order: what became of it, or its reading under way
    slots: list[Slot] = []
    with ThreadPoolExecutor(READERS, thread_name_prefix="caseflow-ingest") as readers:
        for path in _night_files(input_dir):
            _wait_for_readers(slots, READERS)  # at most READERS files' bytes held at once
            streamed = stream_parquet and path.suffix.lower() == ".parquet"
            try:
                data = b"" if streamed else path.read_bytes()
                digest = sha256_file(path) if streamed else sha256_of(data)
            except OSError as exc:  # unreadable now (permissions, still being written): not kept
                why = f"{path.name}: cannot be read ({exc.strerror or type(exc).__name__})"
                slots.append(ReceivedFile(path.name, "", None, "refused", 0, "", why))
                continue
            if digest in seen:
                if digest in tonight:
                    why = f"the same bytes as {tonight[digest]}, read tonight: skipped"
                else:
                    why = f"received before{f' on {earlier[digest]}' if digest in earlier else ''}"
                    why += ": skipped"
                slots.append(ReceivedFile(path.name, digest, None, "duplicate", 0, "", why))
                continue
            seen.add(digest)
            tonight[digest] = path.name
            if streamed:
                slots.append(_opened(path, digest, home, business_date))
                continue
            stored = str(archive(data, path.name, digest, home, business_date))
            reading = readers.submit(read_file, data, path.name, compact=True)
            del data  # the reader holds it until the file is read
            slots.append((path.name, digest, stored, reading))
        files, parts, sources = _collect(slots)
    tables = RawTables((kind, _concat_files(frames)) for kind, frames in parts.items())
    return IngestResult(files=files, tables=tables, sources=sources)


def _opened(path: Path, digest: str, home: Path, business_date: date) -> ReceivedFile | Streamed:
    """A Parquet file archived in chunks, then opened from its archived copy (its footer)."""
    try:
        stored = archive_file(path, path.name, digest, home, business_date)
    except InputFileError as exc:  # changed while copied: nothing kept
        return ReceivedFile(path.name, digest, None, "refused", 0, "", str(exc))
    try:
        source = open_parquet(stored, path.name)
    except InputFileError as exc:
        return ReceivedFile(path.name, digest, None, "refused", 0, str(stored), str(exc))
    record = ReceivedFile(path.name, digest, source.kind, "read", source.rows, str(stored))
    return Streamed(record, source)


def _wait_for_readers(slots: Sequence[Slot], at_most: int) -> None:
    """Wait until fewer than ``at_most`` files are being read."""
    running = [s[3] for s in slots if isinstance(s, tuple) and not s[3].done()]
    if len(running) >= at_most:
        wait(running, return_when=FIRST_COMPLETED)


def _collect(
    slots: Sequence[Slot],
) -> tuple[list[ReceivedFile], dict[str, list[pl.DataFrame]], list[ParquetSource]]:
    """The files' records, each kind's frames and the sources to stream, in name order; a
    reading's InputFileError makes its file refused, any other error is raised as it would be
    reading one by one."""
    files: list[ReceivedFile] = []
    parts: dict[str, list[pl.DataFrame]] = {}
    sources: list[ParquetSource] = []
    for slot in slots:
        if isinstance(slot, ReceivedFile):
            files.append(slot)
            continue
        if isinstance(slot, Streamed):
            files.append(slot.file)
            sources.append(slot.source)
            continue
        name, digest, stored, reading = slot
        try:
            kind, frame, encoding = reading.result()
        except InputFileError as exc:
            files.append(ReceivedFile(name, digest, None, "refused", 0, stored, str(exc), None))
            continue
        parts.setdefault(kind, []).append(frame)
        files.append(ReceivedFile(name, digest, kind, "read", frame.height, stored, None, encoding))
    return files, parts, sources


# A column's type in one file: its polars type, and whether any row has a value.
ColumnTypes = dict[str, tuple[pl.DataType, bool]]


def column_types(frame: pl.DataFrame) -> ColumnTypes:
    return {
        c: (frame.schema[c], frame.get_column(c).null_count() < frame.height) for c in frame.columns
    }


def unified_types(files: Sequence[ColumnTypes]) -> dict[str, pl.DataType | None]:
    """The type each column takes in every file of a kind: the one type of the files where it
    has a value (a column all null in a file, absent from it, takes any type), or None, text:
    typed in one file (Parquet) and text in another, it is text in all (as Arrow writes the
    typed values), so that validate reads one column."""
    targets: dict[str, pl.DataType | None] = {}
    for column in files[0]:
        dtypes = {f[column][0] for f in files if f[column][1]}
        targets[column] = next(iter(dtypes), pl.Null()) if len(dtypes) <= 1 else None
    return targets


def conform(frame: pl.DataFrame, targets: Mapping[str, pl.DataType | None]) -> pl.DataFrame:
    """``frame`` (a file of a kind, or a batch of one) in its kind's ``unified_types``."""
    return frame.with_columns(
        pl.col(c).cast(t) if t is not None else _as_text(frame.get_column(c))
        for c, t in targets.items()
    )


def _concat_files(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One frame of a kind's files, each in the types of ``unified_types``."""
    if len(frames) == 1:
        return frames[0]
    targets = unified_types([column_types(f) for f in frames])
    return pl.concat([conform(f, targets) for f in frames], how="vertical")


def _as_text(values: pl.Series) -> pl.Series:
    if values.dtype == pl.Utf8:
        return values
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pl.from_arrow(pc.cast(values.to_arrow(), pa.large_string()))
    assert isinstance(text, pl.Series)
    return text.alias(values.name)
