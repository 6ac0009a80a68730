"""Benchmark of the ways to write the night's worklists as XLSX: seconds for a set of worklists.

    .venv/bin/python bench/xlsx_writers.py                     # 2,000 x 30 rows and 200 x 300
    .venv/bin/python bench/xlsx_writers.py --sets 500x30 --only direct-grouped,xlsxwriter-cells

Each writer makes every collector's worklist workbook (one sheet, the formatting the published
worklists carry where the writer can: frozen header, filter, money/%/date formats, emphasised
columns, widths, hidden empty columns) from the same synthetic rows (``prepare_worklists``'s
columns, seeded), into memory. Writers:

- ``xlsxwriter-cells``: xlsxwriter, a ``write_*`` call per cell (publish before pipeline/xlsx.py)
- ``xlsxwriter-constant-memory``: the same, in ``constant_memory`` mode, row by row
- ``polars-write-excel``: ``DataFrame.write_excel`` (xlsxwriter underneath), column formats
- ``openpyxl-write-only``: openpyxl's write-only workbook, a styled cell per value
- ``direct-per-sheet``: pipeline/xlsx.py, one polars query per worklist (``sheet_part``)
- ``direct-grouped``: pipeline/xlsx.py, every worklist's rows in one grouped query
  (``worklist_parts``), as publish does
- ``direct-grouped-2proc``: the same, the collectors split over two processes (spawned:
  their start-up, imports included, is part of the time)

Prints one JSON line per set: seconds per writer, ms per workbook, bytes, the load average.
Figures are wall seconds on a shared machine: read them with the load.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import openpyxl  # noqa: E402
import polars as pl  # noqa: E402
import xlsxwriter  # noqa: E402
from openpyxl.cell import WriteOnlyCell  # noqa: E402
from openpyxl.styles import Font, PatternFill  # noqa: E402

from pipeline import xlsx  # noqa: E402
from pipeline.assemble import WORKLIST_COLUMNS  # noqa: E402
from pipeline.labels import headers  # noqa: E402
from pipeline.publish import (  # noqa: E402
    EMPHASIS,
    WORKLIST_SHEET_COLUMNS,
    _column_widths,
    _format_key,
    _worklist_sheet,
    prepare_worklists,
    sheet_part,
    workbook_bytes,
    worklist_parts,
)

DAY = date(2026, 11, 23)
NUMBER_CODES = {key: code or "" for key, (_, code) in xlsx.NUMBER_FORMATS.items()}
NUMBER_CODES.update({"general": "General", "integer": "0", "float": "0.00", "text": "@"})

Writer = Callable[[dict[str, pl.DataFrame]], int]


def synthetic_worklists(collectors: int, rows: int, seed: int = 7) -> pl.DataFrame:
    """``collectors`` worklists of ``rows`` rows each, with the published worklist's columns."""
    rng = np.random.default_rng(seed)
    n = collectors * rows
    channel = np.where(np.arange(collectors) % 10 < 7, "phone", "visit")
    per_row = np.repeat(channel, rows)
    words = np.array(["days overdue", "ability to pay", "promise kept", "right-party contact"])
    frame = pl.DataFrame(
        {
            "collector_id": np.repeat([f"P{i:05d}" for i in range(collectors)], rows),
            "collector_name": np.repeat([f"收债员{i}" for i in range(collectors)], rows),
            "team": np.repeat([f"电催{i // 25}组" for i in range(collectors)], rows),
            "rank": np.tile(np.arange(1, rows + 1), collectors),
            "case_id": [f"K{i:09d}" for i in range(n)],
            "client_id": rng.choice(["EASTBANK", "WESTBANK", "NORTHBANK"], n),
            "customer_id": [f"C{i:09d}" for i in range(n)],
            "customer_name": rng.choice(["张三", "李四", "王五", "赵六", "=cmd"], n),
            "id_number": "110101********4477",
            "card_number": "****3445",
            "city": rng.choice(["上海", "北京", "广州", "成都"], n),
            "district": rng.choice(["浦东新区", "朝阳区", "天河区"], n),
            "amount_owed": rng.gamma(2.0, 8000.0, n).round(2),
            "debtor_total_owed": rng.gamma(2.0, 9000.0, n).round(2),
            "days_overdue": rng.integers(1, 900, n),
            "overdue_stage": rng.choice(["M1", "M2", "M3", "M4", "M7+"], n),
            "p_repay": rng.random(n).round(4),
            "expected_recovery": rng.gamma(2.0, 2000.0, n).round(2),
            "channel": per_row,
            "action": rng.choice(["call: collect", "first call: verify identity", "visit"], n),
            "reasons": ["; ".join(rng.choice(words, 3)) for _ in range(n)],
            "return_date": [DAY + timedelta(days=int(d)) for d in rng.integers(1, 180, n)],
            "extension_due": rng.random(n) < 0.05,
        }
    )
    phone = pl.col("channel") == "phone"
    frame = frame.with_columns(
        pl.when(phone).then(pl.lit("13912345678")).alias("phone"),
        pl.when(~phone).then(pl.lit("某路 123 号 4 楼")).alias("address"),
        pl.when(phone).then(pl.lit("08:00-22:00")).alias("call_window"),
        pl.when(phone).then(pl.lit(6, dtype=pl.Int32)).alias("attempts_allowed"),
        pl.when(phone).then(pl.lit(3, dtype=pl.Int32)).alias("connected_calls_allowed"),
    )
    extra = [c for c in WORKLIST_COLUMNS if c not in frame.columns]
    frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(c) for c in extra)
    return prepare_worklists(frame.select(WORKLIST_COLUMNS))


# --- the writers --------------------------------------------------------------------------------


def _xlsxwriter_book(frame: pl.DataFrame, constant_memory: bool) -> bytes:
    """The worklist as publish wrote it with xlsxwriter, cell by cell (or row by row)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {"in_memory": True, "constant_memory": constant_memory, "strings_to_numbers": False},
    )
    book.set_properties({"created": datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)})
    sheet = book.add_worksheet("worklist")
    titles = headers(frame.columns, "en")
    widths = _column_widths(frame, titles)
    nulls = frame.null_count().row(0)
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
    formats = []
    for col, (name, dtype) in enumerate(frame.schema.items()):
        spec: dict[str, Any] = {"num_format": NUMBER_CODES[_format_key(name, dtype)]}
        if name in EMPHASIS:
            spec.update({"bold": True, "bg_color": "#FFF2CC"})
        fmt = book.add_format(spec)
        formats.append(fmt)
        hidden = {"hidden": True} if nulls[col] == frame.height else None
        sheet.set_column(col, col, widths[col], fmt, hidden)
        sheet.write_string(0, col, titles[col], head)
    writers = []
    for dtype in frame.schema.values():
        if dtype == pl.Boolean:
            writers.append(sheet.write_boolean)
        elif dtype.is_numeric():
            writers.append(sheet.write_number)
        elif dtype == pl.Date:
            writers.append(sheet.write_datetime)
        else:
            writers.append(sheet.write_string)
    if constant_memory:  # rows in order, as the mode requires
        for r, values in enumerate(frame.iter_rows(), start=1):
            for c, value in enumerate(values):
                if value is not None:
                    writers[c](r, c, value, formats[c])
    else:
        for c, series in enumerate(frame.iter_columns()):
            for r, value in enumerate(series.to_list(), start=1):
                if value is not None:
                    writers[c](r, c, value, formats[c])
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(frame.height, 1), frame.width - 1)
    book.close()
    return buffer.getvalue()


def xlsxwriter_cells(sheets: dict[str, pl.DataFrame]) -> int:
    return sum(len(_xlsxwriter_book(f, False)) for f in sheets.values())


def xlsxwriter_constant_memory(sheets: dict[str, pl.DataFrame]) -> int:
    return sum(len(_xlsxwriter_book(f, True)) for f in sheets.values())


def polars_write_excel(sheets: dict[str, pl.DataFrame]) -> int:
    total = 0
    for frame in sheets.values():
        buffer = io.BytesIO()
        formats = {
            name: NUMBER_CODES[_format_key(name, dtype)] for name, dtype in frame.schema.items()
        }
        frame.write_excel(
            buffer,
            worksheet="worklist",
            column_formats=formats,  # type: ignore[arg-type]
            autofilter=True,
            freeze_panes=(1, 0),
            autofit=False,
            table_style=None,
        )
        total += len(buffer.getvalue())
    return total


def openpyxl_write_only(sheets: dict[str, pl.DataFrame]) -> int:
    total = 0
    bold = Font(bold=True)
    marked = PatternFill("solid", fgColor="FFF2CC")
    for frame in sheets.values():
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("worklist")
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{xlsx.column_letter(frame.width - 1)}{frame.height + 1}"
        titles = headers(frame.columns, "en")
        for i, width in enumerate(_column_widths(frame, titles)):
            sheet.column_dimensions[xlsx.column_letter(i)].width = width
        codes = [NUMBER_CODES[_format_key(n, t)] for n, t in frame.schema.items()]
        emphasis = [n in EMPHASIS for n in frame.columns]
        header = []
        for title in titles:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for values in frame.iter_rows():
            row = []
            for c, value in enumerate(values):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = codes[c]
                if emphasis[c]:
                    cell.font, cell.fill = bold, marked
                row.append(cell)
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        total += len(buffer.getvalue())
    return total


def direct_per_sheet(sheets: dict[str, pl.DataFrame]) -> int:
    total = 0
    for cid, frame in sheets.items():
        sheet = _worklist_sheet(frame, cid)
        total += len(xlsx.workbook([cid], [sheet_part(sheet)], title=cid, created=DAY))
    return total


def _grouped(frames: Sequence[pl.DataFrame]) -> int:
    parts = worklist_parts(pl.concat(list(frames)))
    return sum(
        len(xlsx.workbook([cid], [part], title=cid, created=DAY)) for cid, part in parts.items()
    )


def direct_grouped(sheets: dict[str, pl.DataFrame]) -> int:
    return _grouped(list(sheets.values()))


def direct_grouped_2proc(sheets: dict[str, pl.DataFrame]) -> int:
    frames = list(sheets.values())
    halves = [frames[: len(frames) // 2], frames[len(frames) // 2 :]]
    # spawn, not fork: a forked child of a process that ran polars' threads can deadlock
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        return sum(pool.map(_grouped, halves))


WRITERS: dict[str, Writer] = {
    "xlsxwriter-cells": xlsxwriter_cells,
    "xlsxwriter-constant-memory": xlsxwriter_constant_memory,
    "polars-write-excel": polars_write_excel,
    "openpyxl-write-only": openpyxl_write_only,
    "direct-per-sheet": direct_per_sheet,
    "direct-grouped": direct_grouped,
    "direct-grouped-2proc": direct_grouped_2proc,
}


def check_same_cells(sheets: dict[str, pl.DataFrame]) -> None:
    """The direct writer's first worklist reads back as the frame it was made of."""
    cid, frame = next(iter(sheets.items()))
    data = workbook_bytes([_worklist_sheet(frame, cid)], title=cid, business_date=DAY)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    back = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    for got, want in zip(back, frame.select(WORKLIST_SHEET_COLUMNS).iter_rows(), strict=True):
        for g, w in zip(got, want, strict=True):
            w = datetime(w.year, w.month, w.day) if isinstance(w, date) else w
            assert g == w, (g, w)


def run_set(collectors: int, rows: int, only: Sequence[str]) -> dict[str, Any]:
    frame = synthetic_worklists(collectors, rows)
    sheets = {
        str(k[0]): part.select(WORKLIST_SHEET_COLUMNS)
        for k, part in sorted(frame.partition_by("collector_id", as_dict=True).items())
    }
    check_same_cells(sheets)
    results: dict[str, Any] = {}
    for name in only:
        started = time.perf_counter()
        size = WRITERS[name](sheets)
        seconds = time.perf_counter() - started
        results[name] = {
            "seconds": round(seconds, 3),
            "ms_per_workbook": round(seconds / collectors * 1000, 2),
            "mb": round(size / 1e6, 1),
        }
    return {
        "worklists": collectors,
        "rows_each": rows,
        "writers": results,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="2000x30,200x300", help="COLLECTORSxROWS,...")
    parser.add_argument("--only", default=",".join(WRITERS), help="writers, comma-separated")
    args = parser.parse_args()
    only = [w for w in args.only.split(",") if w]
    for spec in args.sets.split(","):
        collectors, rows = (int(x) for x in spec.split("x"))
        print(json.dumps(run_set(collectors, rows, only)), flush=True)


if __name__ == "__main__":
    main()
