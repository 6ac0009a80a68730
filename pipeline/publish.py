"""publish: the night's outputs, written aside and moved into ``out/<date>/`` in one step.

Everything is written into a hidden sibling folder (``.<date>.tmp-<run_id>``), each file
fsynced, ``manifest.json`` last with the SHA-256, size and row count of every other file; then
the folder is renamed into place. A reader sees the previous night or the new one, never a
partial one. A night published twice gives byte-identical CSV and XLSX files: rows are sorted
deterministically and nothing in them depends on the clock or the run id.

What each reader gets (CONTRACT.md "Outputs", and README "Outputs" for the additions):
collectors a worklist each (``worklists/<id>.csv`` and ``.xlsx``), team leads a workbook per
team with a sheet per collector (``teams/<team>.xlsx``), field collectors the visit sheets by
city and district with the R15-R16 checklist (``visits.csv``/``.xlsx``), the mail room the
letter batch with a count per client, the ops lead holds, rejected rows, what changed since the
previous night (``changes.csv``), the collectors' scorecards (``scorecards.csv``) and the report.

Spreadsheets are made for people: the header frozen and filterable, the action and the call
window first and marked, money as money, dates as dates, empty columns hidden, Chinese headers
with ``lang="zh"``. CSV is UTF-8 with a BOM, so Excel in a Chinese locale reads it right.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import polars as pl

from pipeline import xlsx
from pipeline.assemble import HOLD_COLUMNS, WORKLIST_COLUMNS
from pipeline.changes import sort_changes
from pipeline.errors import CaseflowError, UsageError
from pipeline.labels import headers, sheet_label
from pipeline.masking import mask_card_expr, mask_id_expr
from pipeline.report import ReportData, render_report

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
# Added after the contract's columns: the date the mail room puts on the letter.
LETTER_EXTRA_COLUMNS = ("letter_date",)
LETTER_COUNT_COLUMNS = ("client_id", "letters", "amount_owed")
REJECT_COLUMNS = ("file", "row", "kind", "column", "rule", "value")
CHANGE_COLUMNS = ("client_id", "customer_id", "case_id", "change", "before", "after", "reason")
SCORECARD_COLUMNS = (
    "collector_id",
    "collector_name",
    "team",
    "channel",
    "cycle_start",
    "cycle_end",
    "cases_allocated",
    "cases_worked",
    "attempts",
    "right_party_contacts",
    "promises",
    "promises_due",
    "promises_kept",
    "kept_rate",
    "amount_recovered",
    "complaints",
)

# The worklist as a person reads it: what to do and when first, then who and how much; the
# columns a script needs (ids, channel, collector) follow. The CSV keeps the contract's order.
WORKLIST_SHEET_FRONT = (
    "rank",
    "action",
    "call_window",
    "case_id",
    "client_id",
    "customer_name",
    "phone",
    "city",
    "district",
    "address",
    "amount_owed",
    "debtor_total_owed",
    "days_overdue",
    "overdue_stage",
    "p_repay",
    "expected_recovery",
    "reasons",
    "return_date",
    "extension_due",
)
WORKLIST_SHEET_COLUMNS = WORKLIST_SHEET_FRONT + tuple(
    c for c in WORKLIST_COLUMNS if c not in WORKLIST_SHEET_FRONT
)
# Marked on every worklist sheet (bold on a pale yellow) so nobody misses them.
EMPHASIS = frozenset({"action", "call_window"})

# The visit checklist (DOMAIN.md R15: prepare; R16: carry, and never reveal a full number).
CHECKLIST = (
    "check_background",
    "check_credit",
    "check_arrears_reason",
    "check_ability",
    "check_carry",
    "never_reveal",
)
BOX = "☐"
VISIT_COLUMNS = (
    "city",
    "district",
    "address",
    "collector_id",
    "collector_name",
    "rank",
    "case_id",
    "client_id",
    "customer_name",
    "id_number",
    "card_number",
    "amount_owed",
    "debtor_total_owed",
    "days_overdue",
    "overdue_stage",
    "p_repay",
    "reasons",
    "action",
    "return_date",
    "extension_due",
    *CHECKLIST,
)
VISIT_PRINT_HEADER = (
    "R15 before the visit: background, credit record, reason for arrears, ability to pay. "
    "R16 carry the contract, the repayment-plan form and the note form; "
    "never reveal the full card or ID number."
)
TEAM_OVERVIEW_COLUMNS = (
    "collector_id",
    "collector_name",
    "channel",
    "cases",
    "extension_due",
    "promise_due_today",
    "amount_owed",
    "expected_recovery",
)

# Columns shown with a money format in XLSX and rounded to the fen in both formats.
MONEY_COLUMNS = frozenset(
    {"amount_owed", "debtor_total_owed", "expected_recovery", "amount_recovered"}
)
# Probabilities and rates: shown as % in XLSX, four decimals are more than a person can use.
PERCENT_COLUMNS = frozenset({"p_repay", "kept_rate"})
# OWASP's list of characters that make Excel, LibreOffice or Sheets read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = r"^[=+\-@\t\r]"

MANIFEST = "manifest.json"
_SAFE_STEM = re.compile(r"[\w\-]+(?:\.[\w\-]+)*")  # \w is Unicode: Chinese ids are fine
_MAX_WIDTH = 60
_SHEET_NAME_MAX = 31  # Excel's limit
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")


# A table too large to hold (a large night's holds and changes: nearly a row per case), read
# from the warehouse in batches already in the file's order when called (``warehouse.
# query_batches`` of ``sql/holds_csv.sql``, ``sql/changes_csv.sql``).
Batches = Callable[[], Iterator[pl.DataFrame]]


@dataclass(frozen=True)
class NightOutputs:
    """Everything one night publishes; the frames are those of ``pipeline.assemble``.

    ``changes`` and ``scorecards`` (``pipeline.review``) are written when given; ``lang``
    chooses the headers of every table (``pipeline.labels``). ``holds`` and ``changes`` are a
    frame, or their ``Batches`` in the warehouse (a night reviewed part by part).
    """

    business_date: date
    run_id: str
    worklists: pl.DataFrame
    holds: pl.DataFrame | Batches
    letters: pl.DataFrame
    rejects: pl.DataFrame
    roster: pl.DataFrame
    manifest: dict[str, Any]
    report: ReportData
    changes: pl.DataFrame | Batches | None = None
    scorecards: pl.DataFrame | None = None
    lang: str = "en"


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


def prepare_worklists(worklists: pl.DataFrame) -> pl.DataFrame:
    """The worklist rows as every output shows them: masked, plain, escaped, contract order."""
    _require(worklists, WORKLIST_COLUMNS)
    frame = _protect_pii(worklists)
    if frame.get_column("collector_id").null_count():
        raise CaseflowError("internal error: a worklist row has no collector_id")
    return _exportable(frame, WORKLIST_COLUMNS)


# --- CSV and XLSX ------------------------------------------------------------------------------


def csv_bytes(frame: pl.DataFrame, lang: str = "en") -> bytes:
    """UTF-8 with BOM (Excel in a Chinese locale then opens it right), one header row."""
    buffer = io.BytesIO()
    write_csv(frame, buffer, lang)
    return buffer.getvalue()


CSV_DATE_FORMAT = "%Y-%m-%d"


def write_csv(frame: pl.DataFrame, target: Path | IO[bytes], lang: str = "en") -> None:
    """``frame`` as ``csv_bytes`` has it, into a file (written by polars itself) or a buffer."""
    named = frame.rename(dict(zip(frame.columns, headers(frame.columns, lang), strict=True)))
    named.write_csv(target, include_bom=True, date_format=CSV_DATE_FORMAT)


def _display_width(text: str) -> int:
    """Columns ``text`` takes on screen: a CJK character (3 bytes of UTF-8) counts two."""
    return len(text) + (len(text.encode("utf-8")) - len(text)) // 2


def _width_exprs(schema: pl.Schema) -> list[pl.Expr]:
    """Per column, the figure its width follows: floats their largest magnitude (shown with
    thousands separators), anything else its widest text, where a CJK character (3 bytes of
    UTF-8) is two units wide: chars + (bytes - chars) / 2 counts it as two and ASCII as one."""
    exprs: list[pl.Expr] = []
    for name, dtype in schema.items():
        col = pl.col(name)
        if dtype.is_float():
            exprs.append(col.abs().max().alias(name))
        else:
            text = col.cast(pl.Utf8)
            chars = text.str.len_chars()
            exprs.append((chars + (text.str.len_bytes() - chars) // 2).max().alias(name))
    return exprs


def _widths(schema: pl.Schema, tops: Sequence[Any], titles: Sequence[str]) -> list[float]:
    widths = []
    for (name, dtype), top, title in zip(schema.items(), tops, titles, strict=True):
        if top is None:
            widest = 0
        elif name in PERCENT_COLUMNS:
            widest = len("100.0%")
        elif dtype == pl.Date:
            widest = len("2026-01-01")
        elif dtype.is_float():
            widest = len(f"-¥{top:,.2f}") if name in MONEY_COLUMNS else len(f"-{top:,.2f}")
        else:
            widest = int(top)
        # +2 leaves room for the autofilter's drop-down arrow over the header.
        head = _display_width(title) + 2
        widths.append(float(min(_MAX_WIDTH, max(head, widest + 1, 6))))
    return widths


def _column_widths(frame: pl.DataFrame, titles: Sequence[str] | None = None) -> list[float]:
    """Column widths in Excel's character units that fit header and values (capped)."""
    titles = list(titles) if titles is not None else list(frame.columns)
    tops = frame.select(_width_exprs(frame.schema)).row(0) if frame.width else ()
    return _widths(frame.schema, tops, titles)


def sheet_names(labels: Sequence[str]) -> list[str]:
    """Excel-safe, unique sheet names for ``labels``, in order.

    Excel refuses ``[]:*?/\\``, a leading or trailing apostrophe, more than 31 characters and
    two names that differ only in case; such labels are cleaned, cut and numbered.
    """
    names: list[str] = []
    seen: set[str] = set()
    for label in labels:
        base = _SHEET_NAME_BAD.sub("_", label).strip().strip("'") or "sheet"
        base = base[:_SHEET_NAME_MAX]
        name, n = base, 1
        while name.casefold() in seen:
            n += 1
            suffix = f"~{n}"
            name = base[: _SHEET_NAME_MAX - len(suffix)] + suffix
        seen.add(name.casefold())
        names.append(name)
    return names


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: its name, its rows, and how to show them.

    ``emphasis``: columns marked bold on a pale yellow; ``hide_empty``: columns with no value
    at all are hidden (they stay, a filter or an unhide shows them); ``print_header``: the line
    printed at the top of every page; ``centred``: columns of check boxes.
    """

    name: str
    frame: pl.DataFrame
    emphasis: frozenset[str] = frozenset()
    hide_empty: bool = False
    print_header: str = ""
    centred: frozenset[str] = frozenset()
    part: xlsx.SheetXml | None = None  # the sheet made already (``sheet_part``)


def workbook_bytes(
    sheets: Sequence[Sheet], *, title: str, business_date: date, lang: str = "en"
) -> bytes:
    """A workbook of ``sheets``: header frozen and filterable, real numbers, dates, percentages.

    Written by ``pipeline.xlsx`` (a sheet's XML in one polars query; see there why not cell by
    cell). Every zip member is dated 1980-01-01 and the created date is the business date, so
    the same frames give the same bytes on every run.
    """
    names = sheet_names([s.name for s in sheets])
    parts = [s.part if s.part is not None else sheet_part(s, lang) for s in sheets]
    return xlsx.workbook(names, parts, title=title, created=business_date)


def sheet_part(sheet: Sheet, lang: str = "en") -> xlsx.SheetXml:
    """The worksheet of ``sheet``: its rows, widths that fit them, empty columns hidden."""
    frame = sheet.frame
    titles = headers(frame.columns, lang)
    empty = (
        {
            n
            for n, v in zip(frame.columns, frame.null_count().row(0), strict=True)
            if v == frame.height
        }
        if sheet.hide_empty and frame.height and frame.width
        else set()
    )
    columns = _sheet_columns(sheet, titles, _column_widths(frame, titles), empty)
    return xlsx.sheet_xml(xlsx.SheetSpec(frame, columns, sheet.print_header))


def _sheet_columns(
    sheet: Sheet, titles: Sequence[str], widths: Sequence[float], empty: set[str]
) -> list[xlsx.ColumnSpec]:
    """How each column of ``sheet`` is shown: title, number format, look, width, hidden."""
    looks = [
        "emphasis" if name in sheet.emphasis else "centred" if name in sheet.centred else "plain"
        for name in sheet.frame.columns
    ]
    return [
        xlsx.ColumnSpec(
            title=titles[i],
            number=_format_key(name, dtype),
            look=looks[i],
            width=widths[i],
            hidden=name in empty,
        )
        for i, (name, dtype) in enumerate(sheet.frame.schema.items())
    ]


def worklist_parts(worklists: pl.DataFrame, lang: str = "en") -> dict[str, xlsx.SheetXml]:
    """Every collector's worklist sheet, made together, by collector id.

    ``worklists``: ``prepare_worklists``'s rows, each collector's in the order the sheet shows
    them. Widths, hidden empty columns and
    the rows' XML come from one grouped query each, not one per collector: at 2,000
    collectors polars' cost per query would otherwise be most of the time. The sheets are
    those ``sheet_part`` makes of each collector's ``_worklist_sheet``.
    """
    frame = worklists.select(WORKLIST_SHEET_COLUMNS)
    keys = worklists.get_column("collector_id")
    titles = headers(frame.columns, lang)
    template = Sheet("", frame.clear(), emphasis=EMPHASIS, hide_empty=True)
    names = frame.columns
    grouped = (
        frame.with_columns(keys.alias("_key"))
        .group_by("_key")
        .agg(
            *(e.alias(f"_top_{n}") for e, n in zip(_width_exprs(frame.schema), names, strict=True)),
            *(pl.col(n).is_not_null().any().alias(f"_any_{n}") for n in names),
        )
    )
    shown = _sheet_columns(template, titles, [0.0] * frame.width, set())
    rows = xlsx.rows_by(frame, [xlsx.style_index(c.number, c.look) for c in shown], keys)
    parts: dict[str, xlsx.SheetXml] = {}
    for found in grouped.iter_rows(named=True):
        cid = str(found["_key"])
        tops = [found[f"_top_{n}"] for n in names]
        widths = _widths(frame.schema, tops, titles)
        columns = [
            xlsx.ColumnSpec(c.title, c.number, c.look, w, not found[f"_any_{n}"])
            for c, w, n in zip(shown, widths, names, strict=True)
        ]
        parts[cid] = xlsx.sheet_xml(xlsx.SheetSpec(template.frame, columns), rows=rows[cid])
    return parts


def xlsx_bytes(
    frame: pl.DataFrame, *, sheet: str, title: str, business_date: date, lang: str = "en"
) -> bytes:
    """One sheet, header frozen and filterable, real numbers, dates and percentages."""
    return workbook_bytes(
        [Sheet(sheet_label(sheet, lang), frame)],
        title=title,
        business_date=business_date,
        lang=lang,
    )


def _format_key(name: str, dtype: pl.DataType) -> str:
    """The number format (``pipeline.xlsx.NUMBER_FORMATS``) column ``name`` is shown with."""
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


# --- the night's tables, as (file, bytes, rows) ------------------------------------------------

TableFile = tuple[str, bytes, int]


def _collector_label(cid: str, name: str | None) -> str:
    return f"{cid} {name}" if name else cid


def _label_of(cid: str, rows: pl.DataFrame) -> str:
    name = rows.get_column("collector_name").first()
    return _collector_label(cid, None if name is None else str(name))


def _worklist_sheet(rows: pl.DataFrame, label: str) -> Sheet:
    return Sheet(
        label,
        rows.select(WORKLIST_SHEET_COLUMNS),
        emphasis=EMPHASIS,
        hide_empty=True,
    )


def _team_overview(team_rows: pl.DataFrame) -> pl.DataFrame:
    return (
        team_rows.group_by("collector_id")
        .agg(
            pl.col("collector_name").first(),
            pl.col("channel").first(),
            pl.len().cast(pl.Int64).alias("cases"),
            pl.col("extension_due").fill_null(False).sum().cast(pl.Int64),
            pl.col("action")
            .str.starts_with("promise due")
            .fill_null(False)
            .sum()
            .cast(pl.Int64)
            .alias("promise_due_today"),
            pl.col("amount_owed").sum().round(2),
            pl.col("expected_recovery").sum().round(2),
        )
        .sort("collector_id")
        .select(TEAM_OVERVIEW_COLUMNS)
    )


def worklist_files(
    worklists: pl.DataFrame,
    business_date: date,
    *,
    lang: str = "en",
    formats: Sequence[str] = ("csv", "xlsx"),
    teams: bool = True,
) -> Iterator[TableFile]:
    """Every collector's worklist (CSV and/or XLSX) and, with XLSX, a workbook per team.

    ``worklists`` is ``prepare_worklists``'s frame (one row per case worked); ``publish`` and
    ``caseflow export`` both write through here, so an export is the night as published.
    Files are yielded one by one, so a night of a million cases is never all in memory twice.
    """
    day = business_date.isoformat()
    # one sort, then the collectors' rows cut out of it (a case is worked once: (client_id,
    # case_id) is unique, so each collector's rows are in the order a sort of them alone gives)
    ordered = worklists.sort("collector_id", "rank", "client_id", "case_id", nulls_last=True)
    parts = ordered.partition_by("collector_id", as_dict=True, maintain_order=True)
    by_collector = {str(key[0]): part for key, part in parts.items()}
    stems = worklist_stems(by_collector)
    sorted_rows = {cid: by_collector[cid] for cid in sorted(stems)}
    labels = {cid: _label_of(cid, rows) for cid, rows in sorted_rows.items()}
    csvs = _csv_pieces(sorted_rows, lang) if "csv" in formats else {}
    # Each worklist's sheet is made once, with the others, and goes into its team's workbook
    # as it is.
    made_parts = (
        worklist_parts(pl.concat(list(sorted_rows.values())), lang)
        if "xlsx" in formats and sorted_rows
        else {}
    )
    made: dict[str, Sheet] = {}
    for cid, rows in sorted_rows.items():
        if "csv" in formats:
            yield f"worklists/{stems[cid]}.csv", csvs.pop(cid), rows.height
        if "xlsx" in formats:
            made[cid] = replace(_worklist_sheet(rows, labels[cid]), part=made_parts[cid])
            data = workbook_bytes(
                [made[cid]],
                title=f"caseflow worklist {cid} for {day}",
                business_date=business_date,
                lang=lang,
            )
            yield f"worklists/{stems[cid]}.xlsx", data, rows.height
    if not teams or "xlsx" not in formats or worklists.is_empty():
        return
    team_of = {
        cid: str(rows.get_column("team").first() or "(no team)")
        for cid, rows in sorted_rows.items()
    }
    team_stems = worklist_stems(set(team_of.values()))
    for team in sorted(team_stems):
        members = [cid for cid in sorted(sorted_rows) if team_of[cid] == team]
        team_rows = pl.concat([sorted_rows[cid] for cid in members])
        sheets = [Sheet(sheet_label("team", lang), _team_overview(team_rows))]
        sheets += [made[cid] for cid in members]
        data = workbook_bytes(
            sheets,
            title=f"caseflow team {team} for {day}",
            business_date=business_date,
            lang=lang,
        )
        yield f"teams/{team_stems[team]}.xlsx", data, team_rows.height


def _csv_pieces(frames: Mapping[str, pl.DataFrame], lang: str) -> dict[str, bytes]:
    """``csv_bytes`` of each frame (all of one schema), from one CSV of them all cut at its
    lines: polars' cost per call, not the rows, is most of a worklist's CSV, and a night has
    thousands. A row is one line unless a text holds a line break (it is then quoted over
    several), so then each frame is written alone."""
    if not frames:
        return {}
    every = pl.concat(list(frames.values()))
    text = [name for name, dtype in every.schema.items() if dtype == pl.Utf8]
    if text and every.select(pl.any_horizontal(pl.col(text).str.contains(r"[\r\n]").any())).item():
        return {key: csv_bytes(frame, lang) for key, frame in frames.items()}
    header = csv_bytes(every.clear(), lang)
    body = every.write_csv(include_header=False, date_format="%Y-%m-%d").encode("utf-8")
    lines = body.split(b"\n")
    pieces: dict[str, bytes] = {}
    start = 0
    for key, frame in frames.items():
        end = start + frame.height
        pieces[key] = header + b"".join(line + b"\n" for line in lines[start:end])
        start = end
    return pieces


def visit_frame(worklists: pl.DataFrame) -> pl.DataFrame:
    """The field visits of the night by city, district, collector and rank, with the checklist.

    From ``prepare_worklists``'s frame: ids and cards are already masked (R16), and visit rows
    carry no phone number.
    """
    visits = worklists.filter(pl.col("channel") == "visit").with_columns(
        pl.lit(BOX).alias(c) for c in CHECKLIST
    )
    return visits.select(VISIT_COLUMNS).sort(
        "city", "district", "collector_id", "rank", "case_id", nulls_last=True
    )


def visit_files(
    worklists: pl.DataFrame, business_date: date, *, lang: str = "en"
) -> Iterator[TableFile]:
    """``visits.csv`` and ``visits.xlsx`` (a sheet per city, rows grouped by district)."""
    visits = visit_frame(worklists)
    yield "visits.csv", csv_bytes(visits, lang), visits.height
    cities = visits.get_column("city").fill_null("(no city)").unique().sort().to_list()
    sheets = [
        Sheet(
            str(city),
            visits.filter(pl.col("city").fill_null("(no city)") == city),
            centred=frozenset(CHECKLIST),
            print_header=VISIT_PRINT_HEADER,
        )
        for city in cities
    ] or [Sheet(sheet_label("visits", lang), visits, print_header=VISIT_PRINT_HEADER)]
    data = workbook_bytes(
        sheets,
        title=f"caseflow field visits for {business_date.isoformat()}",
        business_date=business_date,
        lang=lang,
    )
    yield "visits.xlsx", data, visits.height


def letter_frames(letters: pl.DataFrame, business_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the batch, one row per letter with its template fields; the count per client)."""
    batch = (
        _exportable(letters, LETTER_COLUMNS)
        .with_columns(pl.lit(business_date).alias("letter_date"))
        .sort("client_id", "case_id", nulls_last=True)
    )
    counts = (
        batch.group_by("client_id")
        .agg(pl.len().cast(pl.Int64).alias("letters"), pl.col("amount_owed").sum().round(2))
        .sort("client_id")
        .select(LETTER_COUNT_COLUMNS)
    )
    return batch, counts


def letter_files(
    letters: pl.DataFrame, business_date: date, *, lang: str = "en"
) -> Iterator[TableFile]:
    batch, counts = letter_frames(letters, business_date)
    yield "letters.csv", csv_bytes(batch, lang), batch.height
    yield "letters_by_client.csv", csv_bytes(counts, lang), counts.height
    data = workbook_bytes(
        [
            Sheet(sheet_label("letters", lang), batch),
            Sheet(sheet_label("per client", lang), counts),
        ],
        title=f"caseflow letters for {business_date.isoformat()}",
        business_date=business_date,
        lang=lang,
    )
    yield "letters.xlsx", data, batch.height


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


# Files waiting for the writer thread may hold this much before ``put`` waits for it (a
# 10M-case night's holds and changes are gigabytes of CSV: never all queued at once).
_PENDING_BYTES = 256 * 2**20


def _sync_file(path: Path) -> dict[str, Any]:
    """fsync a file already written (by polars) and hash it as it is on disk; its entry."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        return {"sha256": digest, "bytes": handle.tell()}


def _write_file(path: Path, data: bytes) -> dict[str, Any]:
    """Create ``path`` (never over an existing file), write and fsync it; its manifest entry.

    Run on the staging's writer thread: write, fsync and SHA-256 release the GIL, so the disk
    and the hash work while the main thread builds the next file.
    """
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@dataclass
class _Staging:
    """The hidden folder being filled, and what has been written into it so far.

    Files are written, fsynced and hashed on one writer thread, in the order given, while the
    next ones are built; ``sync`` waits for all of them (and raises the first error) before
    the folders are synced, and the manifest is written only after it returns. ``close``
    (always called) waits for the thread, so nothing writes into a folder being removed.
    """

    root: Path
    written: dict[str, dict[str, Any]]
    _writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="caseflow-publish")
    )
    _pending: list[tuple[str, int | None, int, Future[dict[str, Any]]]] = field(
        default_factory=list
    )

    def put(self, relative: str, data: bytes, rows: int | None, *, sync: bool = False) -> None:
        """Queue ``data`` for ``relative``; with ``sync``, write it now, after every file queued
        before it (the manifest)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self._pending.append(
            (relative, rows, len(data), self._writer.submit(_write_file, path, data))
        )
        if sync:
            self._settle(0)
        else:
            self._settle(_PENDING_BYTES)

    def _settle(self, allowed: int) -> None:
        """Wait for the oldest queued files until at most ``allowed`` bytes are waiting; each
        finished file's entry recorded in order (an error of the writer raised here)."""
        waiting = sum(size for _, _, size, _ in self._pending)
        while self._pending and (waiting > allowed or self._pending[0][3].done()):
            relative, rows, size, future = self._pending.pop(0)
            entry = future.result()
            if rows is not None:
                entry["rows"] = rows
            self.written[relative] = entry
            waiting -= size

    def sync(self) -> None:
        """Every file written so far on disk (each fsynced by the writer), then their folders."""
        self._settle(0)
        for folder in sorted({(self.root / r).parent for r in self.written}, reverse=True):
            _fsync_dir(folder)

    def close(self) -> None:
        """Wait for the writer thread and stop it (after an error too: files not yet started
        are dropped, the one being written is finished)."""
        self._writer.shutdown(wait=True, cancel_futures=True)

    def put_files(self, files: Iterable[TableFile]) -> None:
        for relative, data, rows in files:
            self.put(relative, data, rows)

    def put_csv(self, stem: str, frame: pl.DataFrame, lang: str) -> None:
        """A table written into its file by polars (no copy of its text in Python: the holds
        and changes of a 10M-case night are gigabytes), then synced and hashed by the writer."""
        relative = f"{stem}.csv"
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.open("xb").close()  # as ``put``: never over a file already there
        write_csv(frame, path, lang)
        self._pending.append((relative, frame.height, 0, self._writer.submit(_sync_file, path)))
        self._settle(_PENDING_BYTES)

    def put_csv_batches(self, stem: str, frames: Iterable[pl.DataFrame], lang: str) -> None:
        """``put_csv`` of the rows of ``frames`` one after the other (at least one frame): the
        same bytes as the whole table's, header once, never the whole table in memory."""
        relative = f"{stem}.csv"
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        rows, first = 0, True
        with path.open("xb") as handle:  # as ``put``: never over a file already there
            for frame in frames:
                if first:
                    write_csv(frame, handle, lang)  # the BOM and the header, once
                else:
                    frame.write_csv(handle, include_header=False, date_format=CSV_DATE_FORMAT)
                rows, first = rows + frame.height, False
        self._pending.append((relative, rows, 0, self._writer.submit(_sync_file, path)))
        self._settle(_PENDING_BYTES)


def _write_tables(staging: _Staging, outputs: NightOutputs) -> None:
    day, lang = outputs.business_date, outputs.lang
    worklists = prepare_worklists(outputs.worklists)
    staging.put_files(worklist_files(worklists, day, lang=lang))
    staging.put_files(visit_files(worklists, day, lang=lang))
    staging.put_files(letter_files(outputs.letters, day, lang=lang))
    if isinstance(outputs.holds, pl.DataFrame):
        holds = _exportable(outputs.holds, HOLD_COLUMNS).sort(
            "client_id", "case_id", "reason", nulls_last=True
        )
        staging.put_csv("holds", holds, lang)
    else:  # sorted so already (sql/holds_csv.sql)
        batches = (_exportable(b, HOLD_COLUMNS) for b in outputs.holds())
        staging.put_csv_batches("holds", batches, lang)
    rejects = _exportable(outputs.rejects, REJECT_COLUMNS).sort(
        list(REJECT_COLUMNS), nulls_last=True
    )
    staging.put_csv("rejected", rejects, lang)
    if isinstance(outputs.changes, pl.DataFrame):
        changes = sort_changes(_exportable(outputs.changes, CHANGE_COLUMNS))
        staging.put_csv("changes", changes, lang)
    elif outputs.changes is not None:  # sorted so already (sql/changes_csv.sql)
        batches = (_exportable(b, CHANGE_COLUMNS) for b in outputs.changes())
        staging.put_csv_batches("changes", batches, lang)
    if outputs.scorecards is not None:
        cards = _exportable(outputs.scorecards, SCORECARD_COLUMNS).sort(
            "collector_id", nulls_last=True
        )
        staging.put_csv("scorecards", cards, lang)


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
    (staging.root / "worklists").mkdir()
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
        filling = _Staging(staging, {})
        try:
            _fill(filling, outputs)
        finally:
            filling.close()
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
