"""xlsx: Office Open XML workbooks written directly, a sheet's rows built by polars at once.

A night of 10M cases publishes 2,000 worklists, each again as a sheet of its team's workbook.
Written cell by cell through xlsxwriter, each 30-row worklist cost about 20 ms of Python (a
call, a check and an XML escape per cell, and the workbook's fixed parts) and the whole set tens
of seconds (``bench/xlsx_writers.py`` measures it against the alternatives). Here a sheet's XML
is made in one polars query (every cell of a column by one string expression: escaped, typed,
styled), so its cost is a few column operations, not a Python call per cell; the sheet's bytes
are kept (``SheetXml``) and put into the collector's worklist and into the team's workbook
alike. The workbook around the sheets (styles, names, properties) is a handful of fixed parts.

What a sheet shows is what ``pipeline.publish`` asks for (``SheetSpec``): header frozen and
filterable, each column's number format (money, %, dates as dates), emphasised and centred
columns, hidden empty columns, widths, landscape one page wide with the header on every page,
and a line printed at the top. Text is always a string cell (inline, never a formula); numbers
stay numbers, NaN and infinities the error ``#NUM!`` (as xlsxwriter's ``nan_inf_to_errors``).
The same frames give the same bytes: nothing depends on the clock (every zip member is dated
1980-01-01, the created date is the business date).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape, quoteattr

import polars as pl

# Excel's limit on the characters of a cell; a longer text is cut (xlsxwriter refuses it).
MAX_CELL_CHARS = 32767
_EPOCH_SERIAL = 25569  # Excel's serial number of 1970-01-01 (day 0 is 1899-12-30)
_CONTROL = "[\x00-\x08\x0b-\x1f]"

# Number formats: built-in ids where Excel has one, 164 and up for our own.
NUMBER_FORMATS: dict[str, tuple[int, str | None]] = {
    "general": (0, None),
    "integer": (1, None),
    "float": (2, None),
    "text": (49, None),
    "money": (164, '"¥"#,##0.00'),
    "percent": (165, "0.0%"),
    "date": (166, "yyyy-mm-dd"),
    "datetime": (167, "yyyy-mm-dd hh:mm:ss"),
}
_LOOKS = ("plain", "emphasis", "centred")


def style_index(number: str, look: str = "plain") -> int:
    """The cellXfs index of a data cell of number format ``number`` shown as ``look``."""
    return 3 + list(NUMBER_FORMATS).index(number) * len(_LOOKS) + _LOOKS.index(look)


HEADER_STYLE, HEADER_EMPHASIS_STYLE = 1, 2


def _styles_xml() -> bytes:
    custom = [(i, code) for i, code in NUMBER_FORMATS.values() if code is not None]
    num_fmts = "".join(f'<numFmt numFmtId="{i}" formatCode={quoteattr(c)}/>' for i, c in custom)
    fills = "".join(
        f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/>'
        '<bgColor indexed="64"/></patternFill></fill>'
        for rgb in ("DDEBF7", "FFD966", "FFF2CC")
    )
    xfs = [
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>',
        '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" '
        'applyFill="1" applyBorder="1"/>',
        '<xf numFmtId="0" fontId="1" fillId="3" borderId="1" xfId="0" applyFont="1" '
        'applyFill="1" applyBorder="1"/>',
    ]
    for number_id, _ in NUMBER_FORMATS.values():
        fmt = f'numFmtId="{number_id}" xfId="0" applyNumberFormat="1"'
        xfs.append(f'<xf {fmt} fontId="0" fillId="0" borderId="0"/>')
        xfs.append(f'<xf {fmt} fontId="1" fillId="4" borderId="0" applyFont="1" applyFill="1"/>')
        xfs.append(
            f'<xf {fmt} fontId="0" fillId="0" borderId="0" applyAlignment="1">'
            '<alignment horizontal="center"/></xf>'
        )
    text = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<numFmts count="{len(custom)}">{num_fmts}</numFmts>'
        '<fonts count="2"><font><sz val="11"/><color theme="1"/><name val="Calibri"/>'
        '<family val="2"/><scheme val="minor"/></font>'
        '<font><b/><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
        '<scheme val="minor"/></font></fonts>'
        '<fills count="5"><fill><patternFill patternType="none"/></fill>'
        f'<fill><patternFill patternType="gray125"/></fill>{fills}</fills>'
        '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
        '<border><left/><right/><top/><bottom style="thin"><color auto="1"/></bottom>'
        "<diagonal/></border></borders>"
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
        'defaultPivotStyle="PivotStyleLight16"/></styleSheet>'
    )
    return text.encode("utf-8")


_STYLES = _styles_xml()


@dataclass(frozen=True)
class ColumnSpec:
    """How one column is shown: its header, number format, look, width, hidden or not."""

    title: str
    number: str  # a key of NUMBER_FORMATS
    look: str = "plain"  # plain | emphasis | centred
    width: float = 8.43
    hidden: bool = False


@dataclass(frozen=True)
class SheetSpec:
    """A sheet's rows (plain scalar columns, in order) and how to show them."""

    frame: pl.DataFrame
    columns: Sequence[ColumnSpec]
    print_header: str = ""


@dataclass(frozen=True)
class SheetXml:
    """A sheet made once (``sheet_xml``), to put into as many workbooks as show it."""

    body: bytes  # xl/worksheets/sheetN.xml
    last_cell: str  # the bottom-right cell of the autofilter range, e.g. "AE31"


def column_letter(index: int) -> str:
    """Excel's letters of the 0-based column ``index`` (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text_cell(value: pl.Expr) -> pl.Expr:
    """The XML of a text: escaped for XML, control characters as Excel writes them (_xHHHH_)."""
    text = value.str.slice(0, MAX_CELL_CHARS)
    text = text.str.replace_all("&", "&amp;", literal=True)
    text = text.str.replace_all("<", "&lt;", literal=True)
    return text.str.replace_all(">", "&gt;", literal=True)


def _control_escaped(value: pl.Expr) -> pl.Expr:
    """Excel's escape of control characters; an existing ``_xHHHH_`` has its ``_`` escaped."""
    text = value.str.replace_all(r"(_x[0-9a-fA-F]{4}_)", "_x005F$1")
    for code in [*range(0x00, 0x09), *range(0x0B, 0x20)]:
        text = text.str.replace_all(chr(code), f"_x{code:04X}_", literal=True)
    return text


def _cell_expr(
    name: str, dtype: pl.DataType, letter: str, style: int, has_control: bool
) -> pl.Expr:
    """One column's cells as XML strings (empty where the value is null)."""
    col = pl.col(name)
    ref = pl.lit(f'<c r="{letter}') + pl.col("_row") + pl.lit(f'" s="{style}"')
    if dtype == pl.Boolean:
        body = pl.lit(' t="b"><v>') + col.cast(pl.UInt8).cast(pl.Utf8) + pl.lit("</v></c>")
    elif dtype == pl.Date:
        serial = (col.cast(pl.Int32) + _EPOCH_SERIAL).cast(pl.Utf8)
        body = pl.lit("><v>") + serial + pl.lit("</v></c>")
    elif isinstance(dtype, pl.Datetime):
        days = col.dt.epoch("us").cast(pl.Float64) / 86_400_000_000 + _EPOCH_SERIAL
        body = pl.lit("><v>") + days.cast(pl.Utf8) + pl.lit("</v></c>")
    elif dtype.is_float():
        body = (
            pl.when(col.is_nan() | col.is_infinite())
            .then(pl.lit(' t="e"><v>#NUM!</v></c>'))
            .otherwise(pl.lit("><v>") + col.cast(pl.Utf8) + pl.lit("</v></c>"))
        )
    elif dtype.is_numeric():
        body = pl.lit("><v>") + col.cast(pl.Utf8) + pl.lit("</v></c>")
    else:
        text = col.cast(pl.Utf8)
        if has_control:
            text = _control_escaped(text)
        body = (
            pl.lit(' t="inlineStr"><is><t xml:space="preserve">')
            + _text_cell(text)
            + pl.lit("</t></is></c>")
        )
    return pl.when(col.is_not_null()).then(ref + body).otherwise(pl.lit("")).alias(name)


def _rows_frame(frame: pl.DataFrame, styles: Sequence[int], keys: pl.Series) -> pl.DataFrame:
    """Each data row of ``frame`` as a <row> element (``xml``), numbered from 2 within its key
    (the header is row 1), beside its key (``_key``)."""
    text = [n for n, t in frame.schema.items() if t in (pl.Utf8, pl.Categorical)]
    control = set()
    if text and frame.height:
        found = frame.select(pl.col(n).cast(pl.Utf8).str.contains(_CONTROL).any() for n in text)
        control = {n for n, hit in zip(text, found.row(0), strict=True) if hit}
    cells = [
        _cell_expr(name, dtype, column_letter(i), styles[i], name in control)
        for i, (name, dtype) in enumerate(frame.schema.items())
    ]
    return (
        frame.with_columns(keys.alias("_key"))
        .with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int64).over("_key") + 2).cast(pl.Utf8).alias("_row")
        )
        .select(
            "_key",
            (
                pl.lit('<row r="')
                + pl.col("_row")
                + pl.lit('">')
                + pl.concat_str(cells)
                + pl.lit("</row>")
            ).alias("xml"),
        )
    )


def rows_by(
    frame: pl.DataFrame, styles: Sequence[int], keys: pl.Series
) -> dict[str, tuple[str, int]]:
    """The data rows of several sheets made in one query: per key, (rows' XML, row count).

    ``keys`` says which sheet each row of ``frame`` belongs to (rows keep their order within a
    key); ``styles`` is each column's cell style (``style_index``).
    """
    if frame.width == 0:
        return {}
    joined = (
        _rows_frame(frame, styles, keys)
        .group_by("_key", maintain_order=True)
        .agg(pl.col("xml").str.join(""), pl.len().alias("n"))
    )
    return {
        str(key): (str(xml), int(n))
        for key, xml, n in joined.select("_key", "xml", "n").iter_rows()
    }


def _width(chars: float) -> str:
    """A column width as Excel stores it, from a width in characters (as xlsxwriter does)."""
    pixels = int(chars * 7 + 0.5) + 5 if chars >= 1 else int(chars * 12 + 0.5)
    return f"{(pixels * 256 // 7) / 256.0:.16g}"


def sheet_xml(spec: SheetSpec, rows: tuple[str, int] | None = None) -> SheetXml:
    """The worksheet part of ``spec``: header row, data rows, columns, filter and print setup.

    ``rows``: the data rows made already (``rows_by``) and their count, instead of the frame's.
    """
    frame, columns = spec.frame, list(spec.columns)
    styles = [style_index(c.number, c.look) for c in columns]
    if rows is None:
        keys = pl.Series("_key", [""] * frame.height, dtype=pl.Utf8)
        rows = rows_by(frame, styles, keys).get("", ("", 0))
    data, height = rows
    last = f"{column_letter(max(len(columns) - 1, 0))}{max(height, 1) + 1}"
    cols = "".join(
        f'<col min="{i + 1}" max="{i + 1}" width="{_width(c.width)}" style="{styles[i]}"'
        + (' hidden="1"' if c.hidden else "")
        + ' customWidth="1"/>'
        for i, c in enumerate(columns)
    )
    header = "".join(
        f'<c r="{column_letter(i)}1" s="'
        f'{HEADER_EMPHASIS_STYLE if c.look == "emphasis" else HEADER_STYLE}" t="inlineStr">'
        f'<is><t xml:space="preserve">{escape(c.title)}</t></is></c>'
        for i, c in enumerate(columns)
    )
    print_header = (
        f"<headerFooter><oddHeader>{escape('&L' + spec.print_header.replace('&', '&&'))}"
        "</oddHeader></headerFooter>"
        if spec.print_header
        else ""
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
        f'<dimension ref="A1:{last}"/>'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "")
        + f'<sheetData><row r="1">{header}</row>{data}</sheetData>'
        f'<autoFilter ref="A1:{last}"/>'
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
        'footer="0.3"/><pageSetup orientation="landscape" fitToHeight="0"/>'
        f"{print_header}</worksheet>"
    )
    return SheetXml(body.encode("utf-8"), last)


def _absolute(cell: str) -> str:
    letters = cell.rstrip("0123456789")
    return f"${letters}${cell[len(letters) :]}"


def _workbook_xml(names: Sequence[str], sheets: Sequence[SheetXml]) -> str:
    defined = []
    for i, (name, sheet) in enumerate(zip(names, sheets, strict=True)):
        quoted = "'" + name.replace("'", "''") + "'"
        area = f"{quoted}!$A$1:{_absolute(sheet.last_cell)}"
        defined.append(("_xlnm._FilterDatabase", i, area, ' hidden="1"'))
        defined.append(("_xlnm.Print_Titles", i, f"{quoted}!$1:$1", ""))
    defined.sort(key=lambda d: (d[0], d[1]))
    names_xml = "".join(
        f'<definedName name="{n}" localSheetId="{i}"{extra}>{escape(ref)}</definedName>'
        for n, i, ref, extra in defined
    )
    sheet_xml_list = "".join(
        f'<sheet name={quoteattr(name)} sheetId="{i + 1}" r:id="rId{i + 1}"/>'
        for i, name in enumerate(names)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<workbookPr/><bookViews><workbookView activeTab="0"/></bookViews>'
        f"<sheets>{sheet_xml_list}</sheets>"
        + (f"<definedNames>{names_xml}</definedNames>" if names_xml else "")
        + '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
    )


def _parts(
    names: Sequence[str], sheets: Sequence[SheetXml], title: str, created: date
) -> list[tuple[str, bytes]]:
    n = len(sheets)
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="{main}.worksheet+xml"/>'
        for i in range(n)
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main}.sheet.main+xml"/>'
        f"{overrides}"
        f'<Override PartName="/xl/styles.xml" ContentType="{main}.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    root_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{rel}/extended-properties" Target="docProps/app.xml"/>'
        "</Relationships>"
    )
    book_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i + 1}" Type="{rel}/worksheet" '
            f'Target="worksheets/sheet{i + 1}.xml"/>'
            for i in range(n)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{rel}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    stamp = f"{created.isoformat()}T00:00:00Z"
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>caseflow</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    app = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties"><Application>caseflow</Application></Properties>'
    )
    parts = [
        ("[Content_Types].xml", content_types.encode("utf-8")),
        ("_rels/.rels", root_rels.encode("utf-8")),
        ("docProps/app.xml", app.encode("utf-8")),
        ("docProps/core.xml", core.encode("utf-8")),
        ("xl/workbook.xml", _workbook_xml(names, sheets).encode("utf-8")),
        ("xl/_rels/workbook.xml.rels", book_rels.encode("utf-8")),
        ("xl/styles.xml", _STYLES),
    ]
    parts += [(f"xl/worksheets/sheet{i + 1}.xml", s.body) for i, s in enumerate(sheets)]
    return parts


def workbook(
    names: Sequence[str], sheets: Sequence[SheetXml], *, title: str, created: date
) -> bytes:
    """A workbook of ``sheets`` named ``names`` (Excel-safe already), as the bytes of a file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in _parts(names, sheets, title, created):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16
            # The sheets are deflated, at the fastest level (the rows' XML repeats itself, so
            # it still shrinks some 8 times); the few small fixed parts are stored as they are:
            # at 2,000 worklists, compressing them was a third of the writing.
            if name.startswith("xl/worksheets/"):
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data, compresslevel=1)
            else:
                info.compress_type = zipfile.ZIP_STORED
                archive.writestr(info, data)
    return buffer.getvalue()
