"""ingest: receive one night's files: archive each unchanged with its SHA-256, then read it.

Every file is copied into ``HOME/archive/<date>/`` before anything else reads it (DOMAIN.md R2);
a file whose SHA-256 was received before is skipped and reported as a duplicate. Reading decodes
CSV strictly as UTF-8 (with or without BOM) or else GB18030, reads XLSX (first sheet, header on
the first row) and Parquet, tells the file's kind by its name or header, and maps English or
Chinese headers to the contract's names. Every value comes out as text: parsing belongs to
``validate``, so that a value that cannot be read is a rejected row, never a crashed night.

A file that cannot be read at all (no known encoding, no header, a required column missing, an
unknown kind) is refused whole with a message; it is still archived and reported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import InputFileError
from pipeline.headers import COLUMNS, REQUIRED_COLUMNS, header_map, kind_of
from pipeline.masking import scrub_text

READABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".parquet")
ROW_COLUMNS = ("_file", "_row")
# Where a raw row is too short or too long for its header (a broken line, a stray delimiter).
SHAPE_COLUMN = "_shape"


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


@dataclass(frozen=True)
class IngestResult:
    files: list[ReceivedFile]
    # kind -> every row of that kind's files as text, canonical column names, plus _file, _row
    # (the row number a person sees: the header is row 1 in CSV and XLSX) and _shape.
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class RawTable:
    headers: list[str]
    rows: list[list[str | None]]
    numbers: list[int]  # the row number a person sees for each of rows (header = row 1)
    encoding: str | None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive(data: bytes, name: str, digest: str, home: Path, business_date: date) -> Path:
    """Keep the file unchanged under the home folder; written aside, then renamed into place."""
    folder = home / "archive" / business_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest[:16]}-{name}"
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(target)
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


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Text and encoding: UTF-8 with BOM, UTF-8, then GB18030, each strictly; else refused."""
    if data.startswith(b"\xef\xbb\xbf"):
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
                return mixed, "mixed utf-8/gb18030"
        return text, encoding
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(name, "is UTF-16 text; save it as UTF-8 or GB18030 (CONTRACT.md)")
    raise InputFileError(
        name, "cannot be decoded as UTF-8, UTF-8 with BOM or GB18030; save it in one of those"
    )


def _delimiter(header_line: str) -> str:
    """The delimiter the header uses: a comma unless the header clearly uses ; tab or |."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(data: bytes, name: str) -> RawTable:
    text, encoding = decode(data, name)
    if "\x00" in text:
        raise InputFileError(name, "holds NUL bytes: not a text CSV file")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputFileError(name, "is empty: no header row")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines[0]))
    try:
        records = [row for row in reader]
    except csv.Error as exc:
        raise InputFileError(name, f"is not readable as CSV: {scrub_text(str(exc))}") from None
    headers = records[0]
    numbered = [(n, r) for n, r in enumerate(records[1:], start=2) if any(v.strip() for v in r)]
    return RawTable(
        headers=headers,
        rows=[list(r) for _, r in numbered],
        numbers=[n for n, _ in numbered],
        encoding=encoding,
    )


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


def _read_xlsx(data: bytes, name: str) -> RawTable:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputFileError(
            name, f"is not a readable XLSX workbook ({type(exc).__name__})"
        ) from None
    try:
        sheet = book.worksheets[0]
        records = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
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


def _read_parquet(data: bytes, name: str) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise InputFileError(
            name, f"is not a readable Parquet file ({type(exc).__name__})"
        ) from None
    texts = []
    for column, dtype in frame.schema.items():
        try:
            texts.append(frame.get_column(column).cast(pl.Utf8))
        except (pl.exceptions.PolarsError, pl.exceptions.InvalidOperationError):
            raise InputFileError(
                name, f"column {column!r} holds {dtype}, which is not a value of the contract"
            ) from None
    return pl.DataFrame(texts)


def _kind_and_mapping(name: str, headers: list[str]) -> tuple[str, dict[str, str]]:
    kind = kind_of(name, headers)
    if kind is None:
        raise InputFileError(
            name,
            "cannot tell whether it holds cases, payments, contacts or collectors: "
            "name it cases*, payments*, contacts* or collectors*, or use the contract's headers",
        )
    mapping = header_map(kind, headers)
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in mapping.values()]
    if missing:
        raise InputFileError(
            name,
            f"a {kind} file without the required column(s) {', '.join(missing)}; "
            "the whole file was set aside",
        )
    return kind, mapping


def _table_frame(table: RawTable, name: str, mapping: dict[str, str], kind: str) -> pl.DataFrame:
    """Canonical columns as text; a row of the wrong length keeps what it has and is flagged."""
    width = len(table.headers)
    positions = {column: table.headers.index(raw) for raw, column in mapping.items()}
    data: dict[str, list[str | None]] = {c: [] for c in positions}
    shape: list[str | None] = []
    for row in table.rows:
        for column, pos in positions.items():
            data[column].append(row[pos] if pos < len(row) else None)
        shape.append(_shape_problem(row, width))
    frame = pl.DataFrame(data, schema={c: pl.Utf8 for c in data})
    return _finish(frame, name, table.numbers, shape, kind)


def _shape_problem(row: list[str | None], width: int) -> str | None:
    """A row shorter than the header (a cut-off line) cannot be trusted; a longer one can only
    when what it has beyond the header is empty (a trailing delimiter)."""
    if len(row) == width or (len(row) > width and not any((v or "").strip() for v in row[width:])):
        return None
    return f"{len(row)} fields, header has {width}"


def _finish(
    frame: pl.DataFrame,
    name: str,
    numbers: list[int] | None,
    shape: list[str | None] | None,
    kind: str,
) -> pl.DataFrame:
    """Add the file name, row numbers (1, 2, ... for Parquet) and shape; all contract columns."""
    n = frame.height
    extra = [
        pl.lit(name).alias("_file"),
        (
            pl.Series("_row", numbers, dtype=pl.Int64)
            if numbers is not None
            else pl.int_range(1, n + 1, dtype=pl.Int64)
        ).alias("_row"),
        (pl.Series(SHAPE_COLUMN, shape, dtype=pl.Utf8) if shape is not None else pl.lit(None))
        .cast(pl.Utf8)
        .alias(SHAPE_COLUMN),
    ]
    missing = [pl.lit(None, dtype=pl.Utf8).alias(c) for c in COLUMNS[kind] if c not in frame]
    return frame.with_columns(*missing, *extra).select(*COLUMNS[kind], *ROW_COLUMNS, SHAPE_COLUMN)


def read_file(data: bytes, name: str) -> tuple[str, pl.DataFrame, str | None]:
    """Read one received file into (kind, text frame, encoding); InputFileError if it cannot be."""
    suffix = Path(name).suffix.lower()
    if suffix == ".parquet":
        raw = _read_parquet(data, name)
        kind, mapping = _kind_and_mapping(name, raw.columns)
        frame = raw.select([pl.col(r).alias(c) for r, c in mapping.items()])
        return kind, _finish(frame, name, None, None, kind), None
    if suffix == ".xlsx":
        table = _read_xlsx(data, name)
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _read_csv(data, name)
    else:
        raise InputFileError(name, "is not a CSV, XLSX or Parquet file (CONTRACT.md)")
    kind, mapping = _kind_and_mapping(name, table.headers)
    return kind, _table_frame(table, name, mapping, kind), table.encoding


def _night_files(input_dir: Path) -> list[Path]:
    """The night's files, in name order; hidden files and folders are not part of a delivery."""
    return sorted(
        p for p in input_dir.iterdir() if p.is_file() and not p.name.startswith((".", "~$"))
    )


def ingest(input_dir: Path, home: Path, business_date: date, known: Iterable[str]) -> IngestResult:
    """Archive and read every file of ``input_dir``; ``known`` holds SHA-256s received before."""
    seen = set(known)
    files: list[ReceivedFile] = []
    parts: dict[str, list[pl.DataFrame]] = {}
    for path in _night_files(input_dir):
        data = path.read_bytes()
        digest = sha256_of(data)
        if digest in seen:
            files.append(
                ReceivedFile(
                    path.name, digest, None, "duplicate", 0, "", "received before: skipped"
                )
            )
            continue
        seen.add(digest)
        stored = str(archive(data, path.name, digest, home, business_date))
        try:
            kind, frame, encoding = read_file(data, path.name)
        except InputFileError as exc:
            files.append(
                ReceivedFile(path.name, digest, None, "refused", 0, stored, str(exc), None)
            )
            continue
        parts.setdefault(kind, []).append(frame)
        files.append(
            ReceivedFile(path.name, digest, kind, "read", frame.height, stored, None, encoding)
        )
    tables = {kind: pl.concat(frames, how="vertical") for kind, frames in parts.items()}
    return IngestResult(files=files, tables=tables)
