"""The direct XLSX writer (pipeline/xlsx.py): what a spreadsheet reads back is what was written."""

from __future__ import annotations

import io
import math
import zipfile
from datetime import date, datetime
from xml.etree import ElementTree

import openpyxl
import polars as pl

from pipeline import xlsx
from pipeline.publish import (
    WORKLIST_SHEET_COLUMNS,
    Sheet,
    _worklist_sheet,
    prepare_worklists,
    sheet_part,
    workbook_bytes,
    worklist_parts,
)
from tests.test_report import work, worklists

DAY = date(2026, 11, 23)

TEXTS = [
    "plain",
    "a & b < c > d \"q\" 's'",
    "  padded  ",
    "张伟 北京市朝阳区",
    "bell\x07 and nul\x00 and cr\r",
    "_x0041_ literal",
    "'=1+2",
    "",
    None,
]


def _frame() -> pl.DataFrame:
    n = len(TEXTS)
    return pl.DataFrame(
        {
            "text": TEXTS,
            "count": [1, -2, 3, None, 5, 6, 7, 8, 9],
            "amount_owed": [1234.5, -0.01, float("nan"), float("inf"), 1e-7, 3.0, None, 0.0, 2.5],
            "flag": [True, False, None, True, False, True, False, True, False],
            "day": [date(2026, 11, 23), date(1970, 1, 1), None, *[date(2027, 2, 1)] * (n - 3)],
            "at": [datetime(2026, 11, 23, 8, 15, 30), None, *[datetime(2000, 1, 1)] * (n - 2)],
        },
        schema={
            "text": pl.Utf8,
            "count": pl.Int64,
            "amount_owed": pl.Float64,
            "flag": pl.Boolean,
            "day": pl.Date,
            "at": pl.Datetime("us"),
        },
    )


def _book(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def test_values_and_types_read_back_as_written() -> None:
    frame = _frame()
    data = workbook_bytes([Sheet("sheet", frame)], title="t", business_date=DAY)
    sheet = _book(data).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == frame.columns
    got = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert len(got) == frame.height
    # Stored as Excel stores them (openpyxl does not undo the escapes; Excel shows the text):
    # control characters as _xHHHH_, and a literal _xHHHH_ with its underscore escaped.
    assert [r[0] for r in got] == [
        "plain",
        "a & b < c > d \"q\" 's'",
        "  padded  ",
        "张伟 北京市朝阳区",
        "bell_x0007_ and nul_x0000_ and cr_x000D_",
        "_x005F_x0041_ literal",
        "'=1+2",
        "",
        None,
    ]
    assert [r[1] for r in got] == frame.get_column("count").to_list()
    owed = [r[2] for r in got]
    assert owed[0] == 1234.5 and owed[1] == -0.01 and math.isclose(owed[4], 1e-7)
    assert owed[2] == "#NUM!" and owed[3] == "#NUM!" and owed[6] is None
    assert [r[3] for r in got] == frame.get_column("flag").to_list()
    assert got[0][4] == datetime(2026, 11, 23) and got[1][4] == datetime(1970, 1, 1)
    assert got[0][5] == datetime(2026, 11, 23, 8, 15, 30) and got[1][5] is None
    cell = sheet.cell(row=2, column=1)
    assert cell.data_type == "s"
    assert "¥" in sheet.cell(row=2, column=3).number_format
    assert sheet.cell(row=2, column=5).number_format == "yyyy-mm-dd"


def test_every_part_is_well_formed_xml_and_the_bytes_repeat() -> None:
    sheets = [Sheet("a'b & c", _frame(), print_header="R16 & more"), Sheet("two", _frame())]
    first = workbook_bytes(sheets, title="t & <u>", business_date=DAY)
    assert first == workbook_bytes(sheets, title="t & <u>", business_date=DAY)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        for name in archive.namelist():
            ElementTree.fromstring(archive.read(name))  # raises on malformed XML
            assert archive.getinfo(name).date_time == (1980, 1, 1, 0, 0, 0)
    book = _book(first)
    assert book.sheetnames == ["a'b & c", "two"]
    sheet = book["a'b & c"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:F{_frame().height + 1}"
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.oddHeader.left.text == "R16 && more"  # && is a literal & in a header
    assert book.properties.title == "t & <u>"
    assert book.properties.created == datetime(2026, 11, 23)


def test_an_empty_sheet_keeps_its_header() -> None:
    data = workbook_bytes([Sheet("empty", _frame().clear())], title="t", business_date=DAY)
    sheet = _book(data).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == _frame().columns and sheet.max_row == 1


def test_worklist_sheets_made_together_equal_each_made_alone() -> None:
    rows = prepare_worklists(
        worklists(
            work("P1", 1, "K1"),
            work("P1", 2, "K2", phone=None),
            work("V1", 1, "K3", channel="visit", address="北京市 & 1号"),
            work("P2", 1, "K4", customer_name="=cmd"),
        )
    )
    ordered = rows.sort("collector_id", "rank")
    together = worklist_parts(ordered)
    assert sorted(together) == ["P1", "P2", "V1"]
    for cid, part in together.items():
        mine = ordered.filter(pl.col("collector_id") == cid)
        alone = sheet_part(_worklist_sheet(mine, cid))
        assert part == alone, cid
    # The visit collector's sheet hides the empty phone column, the phone collector's does not.
    visit = _book(xlsx.workbook(["V1"], [together["V1"]], title="t", created=DAY)).active
    assert visit is not None
    header = [c.value for c in visit[1]]
    assert header == list(WORKLIST_SHEET_COLUMNS)
    phone = openpyxl.utils.get_column_letter(header.index("phone") + 1)
    assert visit.column_dimensions[phone].hidden


def test_column_letters() -> None:
    assert [xlsx.column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]
