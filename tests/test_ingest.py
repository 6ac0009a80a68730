"""ingest: every encoding, format and header form of CONTRACT.md; archive first; refusals named."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline import ingest as ingest_module
from pipeline.ingest import ingest

TONIGHT = date(2026, 11, 23)
HEADER_EN = "payment_id,case_id,client_id,paid_on,amount"


def _ingest(folder: Path, home: Path, known: set[str] | None = None):  # type: ignore[no-untyped-def]
    return ingest(folder, home, TONIGHT, known or set())


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def test_gb18030_with_chinese_headers_is_read_and_mapped(tmp_path: Path) -> None:
    text = (
        "还款编号,案件编号,委托方,还款日期,还款金额,备注\r\n"
        "P1,C1,EASTBANK,2026/11/20,¥88,客户已还\r\n"
    )
    _write(tmp_path / "in", "还款明细.csv", text.encode("gb18030"))
    result = _ingest(tmp_path / "in", tmp_path / "home")
    (received,) = result.files
    assert (received.status, received.kind, received.encoding) == ("read", "payments", "gb18030")
    row = result.tables["payments"].row(0, named=True)
    assert (row["payment_id"], row["amount"], row["paid_on"]) == ("P1", "¥88", "2026/11/20")
    assert (row["_file"], row["_row"]) == ("还款明细.csv", 2)


@pytest.mark.parametrize(
    ("prefix", "encoding"), [(b"\xef\xbb\xbf", "utf-8-sig"), (b"", "utf-8")], ids=["bom", "plain"]
)
def test_utf8_with_and_without_bom(tmp_path: Path, prefix: bytes, encoding: str) -> None:
    data = prefix + f"{HEADER_EN}\nP1,C1,EASTBANK,2026-11-20,10\n".encode()
    _write(tmp_path / "in", "payments.csv", data)
    result = _ingest(tmp_path / "in", tmp_path / "home")
    assert result.files[0].encoding == encoding
    assert result.tables["payments"].get_column("payment_id").to_list() == ["P1"]


def test_a_file_in_no_known_encoding_is_refused_whole_with_a_message(tmp_path: Path) -> None:
    _write(tmp_path / "in", "payments.csv", f"{HEADER_EN}\n".encode() + b"P1,\xff\xfe\x80,X\n")
    (received,) = _ingest(tmp_path / "in", tmp_path / "home").files
    assert received.status == "refused"
    assert "payments.csv" in (received.message or "")
    assert "GB18030" in (received.message or "")


def test_a_missing_required_column_refuses_the_file_naming_the_column(tmp_path: Path) -> None:
    _write(tmp_path / "in", "payments.csv", b"payment_id,case_id,client_id,amount\nP1,C1,E,10\n")
    result = _ingest(tmp_path / "in", tmp_path / "home")
    assert result.files[0].status == "refused"
    assert "paid_on" in (result.files[0].message or "")
    assert "payments" not in result.tables


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    _write(tmp_path / "in", "payments_a.csv", b"")
    _write(tmp_path / "in", "payments_b.csv", f"{HEADER_EN}\r\n".encode())
    result = _ingest(tmp_path / "in", tmp_path / "home")
    empty, header_only = result.files
    assert empty.status == "refused" and "empty" in (empty.message or "")
    assert header_only.status == "read" and header_only.rows == 0


def test_every_file_is_archived_unchanged_before_reading_and_a_repeat_is_skipped(
    tmp_path: Path,
) -> None:
    data = f"{HEADER_EN}\nP1,C1,EASTBANK,2026-11-20,10\n".encode()
    _write(tmp_path / "in", "payments.csv", data)
    _write(tmp_path / "in", "broken.csv", b"\xff\xfe\x00garbage")
    first = _ingest(tmp_path / "in", tmp_path / "home")
    for received in first.files:
        archived = Path(received.archived_path)
        assert archived.is_relative_to(tmp_path / "home" / "archive")
        assert hashlib.sha256(archived.read_bytes()).hexdigest() == received.sha256
    again = _ingest(tmp_path / "in", tmp_path / "home", known={first.files[1].sha256})
    statuses = {f.name: f.status for f in again.files}
    assert statuses == {"broken.csv": "refused", "payments.csv": "duplicate"}
    assert "payments" not in again.tables


def test_semicolon_and_tab_delimiters_are_recognised(tmp_path: Path) -> None:
    _write(tmp_path / "in", "payments_1.csv", b"payment_id;case_id;client_id;paid_on;amount\n")
    _write(tmp_path / "in", "payments_2.txt", b"payment_id\tcase_id\tclient_id\tpaid_on\tamount\n")
    result = _ingest(tmp_path / "in", tmp_path / "home")
    assert [f.status for f in result.files] == ["read", "read"]


def test_a_row_of_the_wrong_length_is_flagged_not_shifted(tmp_path: Path) -> None:
    data = f"{HEADER_EN}\nP1,C1,EASTBANK,2026-11-20,10\nP2,C2,EASTBANK\n".encode()
    _write(tmp_path / "in", "payments.csv", data)
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    assert table.get_column("_shape").to_list() == [None, "3 fields, header has 5"]


def test_kind_is_told_by_the_header_when_the_name_does_not_say(tmp_path: Path) -> None:
    _write(tmp_path / "in", "export_0423.csv", f"{HEADER_EN}\nP1,C1,E,2026-11-20,10\n".encode())
    result = _ingest(tmp_path / "in", tmp_path / "home")
    assert result.files[0].kind == "payments"


def test_odd_header_case_spacing_and_bom_inside_are_matched(tmp_path: Path) -> None:
    header = " PAYMENT_ID,Case Id,client-id, Paid_On ,AMOUNT"
    _write(tmp_path / "in", "payments.csv", f"{header}\nP1,C1,E,2026-11-20,10\n".encode())
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    assert table.row(0, named=True)["case_id"] == "C1"


def test_xlsx_first_sheet_with_date_cells_and_serial_numbers(tmp_path: Path) -> None:
    path = tmp_path / "in" / "payments.xlsx"
    path.parent.mkdir()
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADER_EN.split(","))
    sheet.write_row(1, 0, ["P1", "C1", "EASTBANK"])
    sheet.write_datetime(
        1, 3, datetime(2026, 11, 20), book.add_format({"num_format": "yyyy-mm-dd"})
    )
    sheet.write_number(1, 4, 1234.5)
    sheet.write_row(2, 0, ["P2", "C2", "EASTBANK"])
    sheet.write_number(2, 3, 46346)  # an Excel serial day, 2026-11-20
    sheet.write_number(2, 4, 88)
    book.close()
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    assert table.select("paid_on", "amount", "_row").rows() == [
        ("2026-11-20", "1234.5", 2),
        ("46346", "88", 3),
    ]


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    pl.DataFrame(
        {
            "payment_id": ["P1"],
            "case_id": ["C1"],
            "client_id": ["E"],
            "paid_on": [date(2026, 11, 20)],
            "amount": [12.5],
        }
    ).write_parquet(tmp_path / "in" / "payments.parquet")
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    # kept typed: nothing to parse again in validate
    assert table.select("paid_on", "amount", "_row").rows() == [(date(2026, 11, 20), 12.5, 1)]


def test_parquet_of_other_types_is_text_and_a_csv_beside_it_makes_the_column_text(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    pq.write_table(
        pa.table(
            {
                "payment_id": pa.array([1, 2], pa.int64()),  # a text column written as numbers
                "case_id": ["C1", "C2"],
                "client_id": pa.array(["E", "E"]).dictionary_encode(),
                "paid_on": pa.array([datetime(2026, 11, 20, 8, 15), None], pa.timestamp("ns")),
                "amount": pa.array(["12.50", "¥88"]),  # amounts as text: read as text
            }
        ),
        tmp_path / "in" / "payments_a.parquet",
    )
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    assert table.schema["payment_id"] == pl.Utf8 and table.schema["amount"] == pl.Utf8
    assert table.select("payment_id", "client_id", "paid_on", "amount").rows() == [
        ("1", "E", date(2026, 11, 20), "12.50"),
        ("2", "E", None, "¥88"),
    ]
    _write(tmp_path / "in", "payments_b.csv", f"{HEADER_EN}\nP9,C9,E,2026/11/21,5\n".encode())
    both = _ingest(tmp_path / "in", tmp_path / "home3").tables["payments"]
    assert both.get_column("paid_on").to_list() == ["2026-11-20", None, "2026/11/21"]
    assert both.get_column("_row").to_list() == [1, 2, 2]


def test_a_file_that_is_not_a_data_file_is_refused_and_hidden_files_ignored(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "in", "cases.xls", b"\xd0\xcf\x11\xe0old excel")
    _write(tmp_path / "in", ".DS_Store", b"\x00\x01")
    _write(tmp_path / "in", "cases_x.xlsx", b"PK\x03\x04 truncated zip")
    files = _ingest(tmp_path / "in", tmp_path / "home").files
    assert [(f.name, f.status) for f in files] == [
        ("cases.xls", "refused"),
        ("cases_x.xlsx", "refused"),
    ]
    assert all(f.message for f in files)


def test_blank_lines_trailing_delimiters_and_a_cut_off_last_line(tmp_path: Path) -> None:
    data = (
        f"{HEADER_EN}\r\n"
        "P1,C1,EASTBANK,2026-11-20,10,\r\n"  # a trailing delimiter: nothing beyond the header
        "\r\n"  # a blank line is no row
        "P2,C2,EASTBANK,2026-11-20,20\r\n"
        "P3,C3,EASTB"  # the file was cut off mid-line
    ).encode()
    _write(tmp_path / "in", "payments.csv", data)
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    assert table.select("payment_id", "_row", "_shape").rows() == [
        ("P1", 2, None),
        ("P2", 4, None),
        ("P3", 5, "3 fields, header has 5"),
    ]


def test_a_file_with_utf8_and_gb18030_lines_is_read_line_by_line(tmp_path: Path) -> None:
    data = (
        "payment_id,case_id,client_id,paid_on,amount,备注\n".encode()
        + "P1,C1,EASTBANK,2026-11-20,10,已还\n".encode("gb18030")
        + "P2,C2,EASTBANK,2026-11-20,10,已还\n".encode()
    )
    _write(tmp_path / "in", "payments.csv", data)
    result = _ingest(tmp_path / "in", tmp_path / "home")
    assert result.files[0].encoding == "mixed utf-8/gb18030"
    assert result.tables["payments"].get_column("payment_id").to_list() == ["P1", "P2"]


def test_xlsx_row_numbers_are_the_sheets_own_after_an_empty_row(tmp_path: Path) -> None:
    path = tmp_path / "in" / "payments.xlsx"
    path.parent.mkdir()
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADER_EN.split(","))
    sheet.write_row(1, 0, ["P1", "C1", "E", "2026-11-20", "1"])
    sheet.write_row(3, 0, ["P2", "C2", "E", "2026-11-20", "2"])
    book.close()
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    assert table.select("payment_id", "_row").rows() == [("P1", 2), ("P2", 4)]


def test_utf16_is_refused_with_advice(tmp_path: Path) -> None:
    _write(tmp_path / "in", "payments.csv", f"{HEADER_EN}\n".encode("utf-16"))
    (received,) = _ingest(tmp_path / "in", tmp_path / "home").files
    assert received.status == "refused" and "UTF-16" in (received.message or "")


def test_a_line_in_no_known_encoding_is_flagged_on_its_row_and_the_others_are_read(
    tmp_path: Path,
) -> None:
    data = (
        f"{HEADER_EN}\n".encode()
        + b"P1,C1,EASTBANK,2026-11-20,10\n"
        + b"P2,C2,EAST\xff\xfe\xfd,2026-11-20,10\n"
        + "P3,C3,东方银行,2026-11-20,10\n".encode("gb18030")
    )
    _write(tmp_path / "in", "payments.csv", data)
    result = _ingest(tmp_path / "in", tmp_path / "home")
    assert result.files[0].status == "read"
    table = result.tables["payments"]
    assert table.select("payment_id", "_row").rows() == [("P1", 2), ("P2", 3), ("P3", 4)]
    shapes = table.get_column("_shape").to_list()
    assert shapes[0] is None and shapes[2] is None
    assert shapes[1] == "bytes in no known encoding (neither UTF-8 nor GB18030) on line 3"


def test_a_file_mostly_in_another_encoding_is_refused_whole(tmp_path: Path) -> None:
    good = "".join(f"P{i},C{i},E,2026-11-20,10\n" for i in range(2)).encode()
    data = f"{HEADER_EN}\n".encode() + good + b"P9,C9,\xff\x80,2026-11-20,10\n" * 3
    _write(tmp_path / "in", "payments.csv", data)
    (received,) = _ingest(tmp_path / "in", tmp_path / "home").files
    assert received.status == "refused" and "GB18030" in (received.message or "")


def test_a_quote_left_open_names_the_lines_it_swallowed(tmp_path: Path) -> None:
    data = f'{HEADER_EN}\nP1,"C1,EASTBANK,2026-11-20,10\nP2,C2,EASTBANK,2026-11-20,10\n'.encode()
    _write(tmp_path / "in", "payments.csv", data)
    table = _ingest(tmp_path / "in", tmp_path / "home").tables["payments"]
    assert table.get_column("_shape").to_list() == [
        "2 fields, header has 5; a quote left open runs over file lines 2-3"
    ]


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/worksheets/sheet1.xml", b"\0" * (80 * 2**20))
    _write(tmp_path / "in", "cases.xlsx", buffer.getvalue())
    (received,) = _ingest(tmp_path / "in", tmp_path / "home").files
    assert received.status == "refused" and "zip bomb" in (received.message or "")


def test_a_file_that_cannot_be_read_is_refused_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "in", "payments_a.csv", f"{HEADER_EN}\nP1,C1,E,2026-11-20,10\n".encode())
    _write(tmp_path / "in", "payments_b.csv", f"{HEADER_EN}\nP2,C2,E,2026-11-20,10\n".encode())
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "payments_a.csv":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = _ingest(tmp_path / "in", tmp_path / "home")
    assert [(f.name, f.status) for f in result.files] == [
        ("payments_a.csv", "refused"),
        ("payments_b.csv", "read"),
    ]
    assert result.files[0].message == "payments_a.csv: cannot be read (Permission denied)"


def test_the_same_bytes_twice_in_one_night_are_read_once(tmp_path: Path) -> None:
    data = f"{HEADER_EN}\nP1,C1,E,2026-11-20,10\n".encode()
    _write(tmp_path / "in", "payments.csv", data)
    _write(tmp_path / "in", "payments_copy.csv", data)
    files = _ingest(tmp_path / "in", tmp_path / "home").files
    assert [f.status for f in files] == ["read", "duplicate"]
    assert files[1].message == "the same bytes as payments.csv, read tonight: skipped"


PLAIN_CELL = st.text(alphabet=st.sampled_from(list('aZ9 ,;\t|"\x1c\u3000张-.')), max_size=5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(PLAIN_CELL, min_size=0, max_size=7), max_size=8),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
)
def test_a_plain_csv_is_read_as_the_row_by_row_reader_reads_it(
    rows: list[list[str]], delimiter: str, newline: str, final_newline: bool, quoting: bool
) -> None:
    """The fast reader gives the rows, row numbers and shapes of csv.reader, or leaves the file
    to it; values with a delimiter or a quote, written as csv.writer writes them, stay fast."""
    header = delimiter.join(HEADER_EN.split(","))
    if quoting:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
        body = buffer.getvalue().removesuffix(newline)
        assume("\n" not in body.replace(newline, "") and "\r" not in body.replace(newline, ""))
    else:
        body = newline.join(delimiter.join(r) for r in rows)
    text = newline.join([header, body]) if rows else header
    data = (text + (newline if final_newline else "")).encode()
    table = ingest_module._read_csv(data, "payments.csv")
    kind, mapping = ingest_module._kind_and_mapping("payments.csv", table.headers)
    slow = ingest_module._table_frame(table, "payments.csv", mapping, kind)
    plain = ingest_module._read_plain_csv(data, "payments.csv")
    if quoting:
        assert plain is not None
    if plain is not None:
        fast = ingest_module._plain_frame(plain, "payments.csv", mapping, kind)
        assert fast.rows() == slow.rows()
        assert fast.schema == slow.schema


def test_a_file_with_quotes_or_a_lone_carriage_return_takes_the_row_by_row_reader() -> None:
    assert (
        ingest_module._read_plain_csv(f'{HEADER_EN}\nP1,"C\n1",E,1,2\n'.encode(), "p.csv") is None
    )
    assert ingest_module._read_plain_csv(f'{HEADER_EN}\nP1,C"1,E,1,2\n'.encode(), "p.csv") is None
    assert ingest_module._read_plain_csv(f"{HEADER_EN}\rP1,C1,E,1,2\r".encode(), "p.csv") is None
    assert (
        ingest_module._read_plain_csv(f"{HEADER_EN}\nP1,C1,E,1,2\n".encode(), "p.csv") is not None
    )
