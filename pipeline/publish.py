"""publish: the night's outputs, written aside and moved into ``out/<date>/`` in one step.

Everything is written into a hidden sibling folder (``.<date>.tmp-<run_id>``), each file
fsynced, ``manifest.json`` last with the SHA-256, size and row count of every other file; then
the folder is renamed into place. A reader sees the previous night or the new one, never a
partial one. A night published twice gives byte-identical CSV and XLSX files: rows are sorted
deterministically and nothing in them depends on the clock or the run id.

Every text cell that a spreadsheet could run as a formula (it begins with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is prefixed with ``'`` (CSV injection). Numbers stay numbers.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter

from pipeline.assemble import WORKLIST_COLUMNS
from pipeline.errors import CaseflowError, UsageError
from pipeline.masking import mask_card_expr, mask_id_expr
from pipeline.report import ReportData, render_report

HOLD_COLUMNS = ("client_id", "case_id", "customer_id", "reason", "detail")
LETTER_COLUMNS = (
    "client_id",
    "case_id",
    "customer_name",
    "address",
    "city",
    "amount_owed",
    "reference",
    "collector_id",
)
REJECT_COLUMNS = ("file", "row", "kind", "column", "rule", "value")

# Columns shown with a money format in XLSX and rounded to the fen in both formats.
MONEY_COLUMNS = frozenset({"amount_owed", "debtor_total_owed", "expected_recovery"})
# Probabilities: shown as % in XLSX, four decimals are more than a person can use.
PERCENT_COLUMNS = frozenset({"p_repay"})
# OWASP's list of characters that make Excel, LibreOffice or Sheets read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = r"^[=+\-@\t\r]"

MANIFEST = "manifest.json"
_SAFE_STEM = re.compile(r"[\w\-]+(?:\.[\w\-]+)*")  # \w is Unicode: Chinese ids are fine
_MAX_WIDTH = 60


@dataclass(frozen=True)
class NightOutputs:
    """Everything one night publishes; the frames are those of ``pipeline.assemble``."""

    business_date: date
    run_id: str
    worklists: pl.DataFrame
    holds: pl.DataFrame
    letters: pl.DataFrame
    rejects: pl.DataFrame
    roster: pl.DataFrame
    manifest: dict[str, Any]
    report: ReportData


# --- cell values -------------------------------------------------------------------------------


def escape_formula(value: str) -> str:
    """``value`` made safe to open in a spreadsheet: a formula-looking text gets a leading '."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def escape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column of ``frame`` with formula-looking values escaped; numbers untouched."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.Utf8]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_PATTERN))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def _require(frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CaseflowError(f"internal error: output frame lacks columns {', '.join(missing)}")


def _plain(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """The expression that makes column ``name`` a plain scalar, or None if it is one."""
    col = pl.col(name)
    if isinstance(dtype, pl.List):
        return col.cast(pl.List(pl.Utf8)).list.join("; ")
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return col.cast(pl.Utf8)
    decimal = isinstance(dtype, pl.Decimal)  # DuckDB's money type, if it ever reaches here
    if decimal:
        col = col.cast(pl.Float64)
    if name in MONEY_COLUMNS and (decimal or dtype.is_float()):
        return col.round(2)
    if name in PERCENT_COLUMNS and (decimal or dtype.is_float()):
        return col.round(4)
    if decimal:
        return col
    if dtype.is_numeric() or dtype in (pl.Utf8, pl.Boolean, pl.Date):
        return None
    if isinstance(dtype, pl.Datetime):
        return None
    return col.cast(pl.Utf8)  # anything exotic is shown as its text


def _exportable(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """The columns of ``frame`` in contract order, as plain scalars, rounded and escaped.

    Lists (reasons may come as a list of factors) become ``; ``-joined text, categoricals
    become text and decimals floats, so that CSV and XLSX show the same values.
    """
    _require(frame, columns)
    out = frame.select(columns)
    casts = [
        expr.alias(name)
        for name, dtype in out.schema.items()
        if (expr := _plain(name, dtype)) is not None
    ]
    return escape_formulas(out.with_columns(casts) if casts else out)


def _protect_pii(worklists: pl.DataFrame) -> pl.DataFrame:
    """Mask again (both maskers are idempotent) and keep phones only on phone work.

    The frames arrive masked; this is the last line before debtors' data leaves the process,
    so a bug upstream must not be enough to publish a full id, card or phone number.
    """
    return worklists.with_columns(
        mask_id_expr("id_number"),
        mask_card_expr("card_number"),
        pl.when(pl.col("channel") == "phone").then(pl.col("phone")).otherwise(None).alias("phone"),
    )


# --- CSV and XLSX ------------------------------------------------------------------------------


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """UTF-8 with BOM (Excel in a Chinese locale then opens it right), one header row."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_bom=True, date_format="%Y-%m-%d")
    return buffer.getvalue()


def _column_widths(frame: pl.DataFrame) -> list[float]:
    """Column widths in Excel's character units that fit header and values (capped).

    One query for the whole sheet: floats by their largest magnitude (shown with thousands
    separators), text by its widest value, where a CJK character (3 bytes of UTF-8) is two
    units wide: chars + (bytes - chars) / 2 counts it as two and ASCII as one.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype.is_float():
            exprs.append(col.abs().max().alias(name))
        else:
            text = col.cast(pl.Utf8)
            chars = text.str.len_chars()
            exprs.append((chars + (text.str.len_bytes() - chars) // 2).max().alias(name))
    tops = frame.select(exprs).row(0) if frame.width else ()
    widths = []
    for (name, dtype), top in zip(frame.schema.items(), tops, strict=True):
        if top is None:
            widest = 0
        elif name in PERCENT_COLUMNS:
            widest = len("100.0%")
        elif dtype == pl.Date:
            widest = len("2026-01-01")
        elif dtype.is_float():
            widest = len(f"-{top:,.2f}")
        else:
            widest = int(top)
        # +2 leaves room for the autofilter's drop-down arrow over the header.
        widths.append(float(min(_MAX_WIDTH, max(len(name) + 2, widest + 1, 6))))
    return widths


def xlsx_bytes(frame: pl.DataFrame, *, sheet: str, title: str, business_date: date) -> bytes:
    """One sheet, header frozen and filterable, real numbers, dates and percentages.

    ``in_memory`` makes xlsxwriter stamp every zip member with 1980-01-01 and the created
    date is the business date, so the same frame gives the same bytes on every run.
    """
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "nan_inf_to_errors": True,
            "remove_timezone": True,
        },
    )
    created = datetime(business_date.year, business_date.month, business_date.day, tzinfo=UTC)
    book.set_properties({"title": title, "created": created})
    formats = {
        "header": book.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1}),
        "text": book.add_format({"num_format": "@"}),
        "general": book.add_format(),
        "money": book.add_format({"num_format": "#,##0.00"}),
        "percent": book.add_format({"num_format": "0.0%"}),
        "integer": book.add_format({"num_format": "0"}),
        "float": book.add_format({"num_format": "0.00"}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
    }
    sheet_ = book.add_worksheet(sheet)
    widths = _column_widths(frame)
    for col, name in enumerate(frame.columns):
        series = frame.get_column(name)
        fmt = formats[_format_key(name, series.dtype)]
        sheet_.set_column(col, col, widths[col], fmt)
        sheet_.write_string(0, col, name, formats["header"])
        _write_column(sheet_, col, series, fmt)
    sheet_.freeze_panes(1, 0)
    sheet_.autofilter(0, 0, max(frame.height, 1), max(frame.width - 1, 0))
    # Worklists get printed: landscape, one page wide, the header on every page.
    sheet_.set_landscape()
    sheet_.fit_to_pages(1, 0)
    sheet_.repeat_rows(0)
    book.close()
    return buffer.getvalue()


def _format_key(name: str, dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "general"
    if name in MONEY_COLUMNS and dtype.is_numeric():
        return "money"
    if name in PERCENT_COLUMNS and dtype.is_numeric():
        return "percent"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    return "text"


def _write_column(sheet: Any, col: int, series: pl.Series, fmt: Any) -> None:
    """Write one column with the writer of its type: text is never parsed as a formula.

    ``Any``: xlsxwriter ships no type information.
    """
    dtype = series.dtype
    if dtype == pl.Boolean:
        write = sheet.write_boolean
    elif dtype.is_numeric():
        write = sheet.write_number
    elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
        write = sheet.write_datetime
    else:
        write = sheet.write_string
    for row, value in enumerate(series.to_list(), start=1):
        if value is not None:
            write(row, col, value, fmt)


# --- file names --------------------------------------------------------------------------------


def worklist_stems(collector_ids: Iterable[str]) -> dict[str, str]:
    """A safe, unique file name stem per collector id.

    The id comes from the client's roster file, so it must not be able to name a path
    (``../x``, ``a/b``) or collide with another id on a case-insensitive disk; such ids get a
    cleaned stem plus a short hash of the id.
    """
    stems: dict[str, str] = {}
    for cid in sorted(set(collector_ids)):
        if _SAFE_STEM.fullmatch(cid) and len(cid) <= 100:
            stems[cid] = cid
        else:
            stems[cid] = _hashed_stem(cid)
    folded: dict[str, list[str]] = {}
    for cid, stem in stems.items():
        folded.setdefault(stem.casefold(), []).append(cid)
    for ids in folded.values():
        if len(ids) > 1:
            for cid in ids:
                stems[cid] = _hashed_stem(cid)
    return stems


def _hashed_stem(cid: str) -> str:
    cleaned = re.sub(r"[^\w\-]+", "_", cid).strip("_.")[:60] or "collector"
    return f"{cleaned}-{hashlib.sha256(cid.encode()).hexdigest()[:8]}"


# --- writing into the staging folder -----------------------------------------------------------


@dataclass
class _Staging:
    """The hidden folder being filled, and what has been written into it so far."""

    root: Path
    written: dict[str, dict[str, Any]]

    def put(self, relative: str, data: bytes, rows: int | None, *, sync: bool = False) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        if rows is not None:
            entry["rows"] = rows
        self.written[relative] = entry

    def sync(self) -> None:
        """fsync every file written so far, then their folders.

        One pass at the end rather than one per write lets the kernel write files back while
        the next ones are built; the manifest is written only after this returns.
        """
        for relative in self.written:
            fd = os.open(self.root / relative, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in sorted({(self.root / r).parent for r in self.written}, reverse=True):
            _fsync_dir(folder)

    def put_table(
        self, stem: str, frame: pl.DataFrame, *, xlsx: tuple[str, str, date] | None = None
    ) -> None:
        """``stem``.csv, and ``stem``.xlsx when ``xlsx`` = (sheet, title, business date)."""
        self.put(f"{stem}.csv", csv_bytes(frame), frame.height)
        if xlsx is not None:
            sheet, title, day = xlsx
            data = xlsx_bytes(frame, sheet=sheet, title=title, business_date=day)
            self.put(f"{stem}.xlsx", data, frame.height)


def _write_worklists(staging: _Staging, outputs: NightOutputs) -> None:
    _require(outputs.worklists, WORKLIST_COLUMNS)
    frame = _protect_pii(outputs.worklists)
    if frame.get_column("collector_id").null_count():
        raise CaseflowError("internal error: a worklist row has no collector_id")
    frame = _exportable(frame, WORKLIST_COLUMNS)
    (staging.root / "worklists").mkdir()
    parts = frame.partition_by("collector_id", as_dict=True, maintain_order=False)
    by_collector = {str(key[0]): part for key, part in parts.items()}
    stems = worklist_stems(by_collector)
    for cid in sorted(stems):
        rows = by_collector[cid].sort("rank", "client_id", "case_id", nulls_last=True)
        title = f"caseflow worklist {cid} for {outputs.business_date.isoformat()}"
        staging.put_table(
            f"worklists/{stems[cid]}", rows, xlsx=("worklist", title, outputs.business_date)
        )


def _write_tables(staging: _Staging, outputs: NightOutputs) -> None:
    day = outputs.business_date
    letters = _exportable(outputs.letters, LETTER_COLUMNS).sort(
        "client_id", "case_id", nulls_last=True
    )
    staging.put_table(
        "letters", letters, xlsx=("letters", f"caseflow letters for {day.isoformat()}", day)
    )
    holds = _exportable(outputs.holds, HOLD_COLUMNS).sort(
        "client_id", "case_id", "reason", nulls_last=True
    )
    staging.put_table("holds", holds)
    rejects = _exportable(outputs.rejects, REJECT_COLUMNS).sort(
        list(REJECT_COLUMNS), nulls_last=True
    )
    staging.put_table("rejected", rejects)


def _json_default(value: object) -> str:
    if isinstance(value, date | datetime | Path):
        return str(value)
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON")


def manifest_bytes(manifest: Mapping[str, Any], written: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The caller's manifest plus ``outputs``: checksum, size and rows of every other file."""
    full = dict(manifest)
    full["outputs"] = {name: dict(written[name]) for name in sorted(written)}
    text = json.dumps(full, indent=2, ensure_ascii=False, default=_json_default)
    return (text + "\n").encode("utf-8")


def _fill(staging: _Staging, outputs: NightOutputs) -> None:
    _write_worklists(staging, outputs)
    _write_tables(staging, outputs)
    staging.put("report.html", render_report(outputs.report).encode("utf-8"), None)
    staging.sync()
    # Last, and once the others are on disk: a manifest present means every file it lists is.
    staging.put(MANIFEST, manifest_bytes(outputs.manifest, staging.written), None, sync=True)
    _fsync_dir(staging.root)


# --- the folder swap ---------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry durable; Windows cannot open a folder, and needs not."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _token(run_id: str) -> str:
    return re.sub(r"[^\w\-]", "_", run_id) or "run"


def check_replaceable(out_dir: Path) -> None:
    """Refuse to replace a folder that is not a published night (a mistyped --out).

    The night checks this before it starts, so a mistyped --out costs nothing.
    """
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    is_folder = out_dir.is_dir() and not out_dir.is_symlink()
    if is_folder and ((out_dir / MANIFEST).is_file() or not any(out_dir.iterdir())):
        return
    raise UsageError(
        f"--out {out_dir} exists and is not a published caseflow night (no {MANIFEST}); "
        "refusing to replace it: choose another --out or move it away"
    )


def _tidy_leftovers(out_dir: Path) -> None:
    """Clear what an interrupted earlier publish of this night left beside ``out_dir``.

    A staging folder is never a published night, so it goes. A night moved aside whose
    replacement never arrived is the last good one: it is put back.
    """
    parent, name = out_dir.parent, out_dir.name
    for stale in sorted(parent.glob(f".{name}.tmp-*")):
        shutil.rmtree(stale, ignore_errors=True)
    aside = sorted(parent.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
    if aside and not out_dir.exists():
        aside.pop().rename(out_dir)
    for old in aside:
        shutil.rmtree(old, ignore_errors=True)


def _swap_in(staging: Path, out_dir: Path, token: str) -> None:
    """Rename the staged night into place; an earlier night of the date is moved aside first.

    POSIX cannot rename a folder onto a non-empty one, hence two renames; if the second
    fails, the previous night is put back.
    """
    if not out_dir.exists():
        staging.rename(out_dir)
        _fsync_dir(out_dir.parent)
        return
    aside = out_dir.parent / f".{out_dir.name}.old-{token}"
    out_dir.rename(aside)
    try:
        staging.rename(out_dir)
    except BaseException:
        aside.rename(out_dir)
        raise
    _fsync_dir(out_dir.parent)
    shutil.rmtree(aside, ignore_errors=True)


def _os_error_code(exc: OSError) -> int | None:
    """errno, also for polars' IO errors, which carry it only in the text ("os error 28")."""
    if exc.errno is not None:
        return exc.errno
    found = re.search(r"os error (\d+)", str(exc))
    return int(found.group(1)) if found else None


def _explain(exc: OSError, out_dir: Path) -> str:
    code = _os_error_code(exc)
    if code in (errno.EACCES, errno.EPERM):
        why = f"permission denied: this user cannot write into {out_dir.parent}"
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        why = f"the disk holding {out_dir.parent} is full"
    elif code == errno.EROFS:
        why = f"{out_dir.parent} is on a read-only file system"
    else:
        why = exc.strerror or str(exc) or type(exc).__name__
    return (
        f"cannot publish the night into {out_dir}: {why}; "
        "any night published there before is untouched"
    )


def publish(out_dir: Path, outputs: NightOutputs) -> None:
    """Write the night's outputs (CONTRACT.md "Outputs") and move them into ``out_dir`` whole.

    Raises ``CaseflowError`` naming the folder when it cannot be written (permissions, full or
    read-only disk); whatever happens, the staging folder is removed and a night published
    there before stays as it was.
    """
    stage(out_dir, outputs)
    publish_staged(out_dir, outputs.run_id)


def _staging_folder(out_dir: Path, run_id: str) -> Path:
    return out_dir.parent / f".{out_dir.name}.tmp-{_token(run_id)}"


def stage(out_dir: Path, outputs: NightOutputs) -> None:
    """``publish``'s first half: every output written and synced beside ``out_dir``, manifest
    last, nothing moved into place yet.

    ``pipeline.run`` stages the night inside its warehouse transaction, commits, then calls
    ``publish_staged``; a failure before the commit calls ``discard_staged``, so a failed night
    publishes nothing and records nothing. Errors as for ``publish``.
    """
    staging = _staging_folder(out_dir, outputs.run_id)
    try:
        check_replaceable(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        _tidy_leftovers(out_dir)
        staging.mkdir()
        _fill(_Staging(staging, {}), outputs)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise CaseflowError(_explain(exc, out_dir)) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish_staged(out_dir: Path, run_id: str) -> None:
    """``publish``'s second half: the night staged by ``stage`` renamed into ``out_dir``."""
    staging = _staging_folder(out_dir, run_id)
    try:
        _swap_in(staging, out_dir, _token(run_id))
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise CaseflowError(_explain(exc, out_dir)) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def discard_staged(out_dir: Path, run_id: str) -> None:
    """Remove what ``stage`` wrote for ``run_id``, if anything (a night that failed after it)."""
    shutil.rmtree(_staging_folder(out_dir, run_id), ignore_errors=True)
