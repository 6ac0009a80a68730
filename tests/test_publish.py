"""publish: the night's files appear whole or not at all, the same each time, safe to open."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

import pipeline.publish as publish_module
from pipeline.assemble import WORKLIST_COLUMNS
from pipeline.errors import CaseflowError
from pipeline.publish import (
    NightOutputs,
    escape_formula,
    publish,
    worklist_stems,
)
from pipeline.report import build_report_data
from tests.factories import TONIGHT
from tests.test_report import sample_night, work, worklists

BOM = b"\xef\xbb\xbf"
CONTRACT_FILES = {
    "letters.csv",
    "letters.xlsx",
    "holds.csv",
    "rejected.csv",
    "report.html",
    "manifest.json",
}
NASTY = {
    '=HYPERLINK("http://evil.example","click")': '\'=HYPERLINK("http://evil.example","click")',
    "+8613800138000": "'+8613800138000",
    "-2+3": "'-2+3",
    "@SUM(A1:A2)": "'@SUM(A1:A2)",
    "\tcmd": "'\tcmd",
    "李四": "李四",
}


def outputs(run_id: str = "20261123-aaaaaaaa", **frames: pl.DataFrame) -> NightOutputs:
    night, people, scores, bad, manifest = sample_night()
    manifest = dict(manifest, run_id=run_id)
    wl = frames.get("worklists", night.worklists)
    night = type(night)(worklists=wl, holds=night.holds, letters=night.letters)
    report = build_report_data(manifest, night, people, scores, bad)  # type: ignore[arg-type]
    return NightOutputs(
        business_date=TONIGHT,
        run_id=run_id,
        worklists=wl,
        holds=night.holds,
        letters=frames.get("letters", night.letters),
        rejects=frames.get("rejects", bad),
        roster=people,
        manifest=manifest,
        report=report,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def read_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, encoding="utf8")


def test_every_file_of_the_contract_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out" / TONIGHT.isoformat()  # the parent does not exist yet
    publish(out, outputs())
    files = set(snapshot(out))
    assert files >= CONTRACT_FILES
    for cid in ("P1", "P2", "V1", "L1"):
        assert {f"worklists/{cid}.csv", f"worklists/{cid}.xlsx"} <= files
    assert len([f for f in files if f.startswith("worklists/")]) == 8
    assert siblings(out) == [], "no staging folder left beside the night"


def test_the_manifest_holds_the_checksum_size_and_rows_of_every_output(tmp_path: Path) -> None:
    out = tmp_path / TONIGHT.isoformat()
    publish(out, outputs())
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = manifest["outputs"]
    assert set(listed) == set(snapshot(out)) - {"manifest.json"}
    for name, entry in listed.items():
        data = (out / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data), name
    assert listed["worklists/P1.csv"]["rows"] == 2
    assert listed["holds.csv"]["rows"] == 3
    assert listed["rejected.csv"]["rows"] == 4
    assert manifest["run_id"] == "20261123-aaaaaaaa" and manifest["counts"]["book"] == 8


def test_the_same_night_published_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "2026-11-23", tmp_path / "b" / "2026-11-23"
    publish(first, outputs(run_id="20261123-11111111"))
    publish(second, outputs(run_id="20261123-22222222"))
    a, b = snapshot(first), snapshot(second)
    tables = [n for n in a if n.endswith((".csv", ".xlsx"))]
    # 4 worklists in 2 formats, 3 team books, visits 2, letters 3, holds, rejected
    assert len(tables) == 18
    for name in tables:
        assert a[name] == b[name], name


def test_rows_are_best_first_whatever_order_they_arrive_in(tmp_path: Path) -> None:
    shuffled = worklists(
        work("P1", 3, "K9"), work("P1", 1, "K1"), work("P2", 1, "K3"), work("P1", 2, "K2")
    )
    publish(tmp_path / "n", outputs(worklists=shuffled))
    p1 = read_csv(tmp_path / "n" / "worklists" / "P1.csv")
    assert p1.get_column("rank").to_list() == ["1", "2", "3"]
    assert p1.get_column("case_id").to_list() == ["K1", "K2", "K9"]


def test_csv_has_a_bom_one_header_and_reads_back(tmp_path: Path) -> None:
    publish(tmp_path / "n", outputs())
    path = tmp_path / "n" / "worklists" / "V1.csv"
    raw = path.read_bytes()
    assert raw.startswith(BOM) and not raw[3:].startswith(BOM)
    back = read_csv(path)
    assert tuple(back.columns) == WORKLIST_COLUMNS
    row = back.row(0, named=True)
    assert (row["collector_id"], row["channel"], row["city"]) == ("V1", "visit", "上海")
    assert row["return_date"] == "2027-02-01" and row["p_repay"] == "0.6"
    # Excel's own CSV reader sees the same header once the BOM is dropped.
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header[:4] == ["collector_id", "collector_name", "team", "rank"]
    holds = read_csv(tmp_path / "n" / "holds.csv")
    assert holds.columns == ["client_id", "case_id", "customer_id", "reason", "detail"]
    rejected = read_csv(tmp_path / "n" / "rejected.csv")
    assert rejected.columns == ["file", "row", "kind", "column", "rule", "value"]


def _nasty_night() -> NightOutputs:
    rows = [
        work("P1", i + 1, f"K{i}", customer_name=name, debtor_total_owed=-12.5)
        for i, name in enumerate(NASTY)
    ]
    return outputs(worklists=worklists(*rows))


def test_formula_looking_text_is_escaped_in_csv(tmp_path: Path) -> None:
    publish(tmp_path / "n", _nasty_night())
    back = read_csv(tmp_path / "n" / "worklists" / "P1.csv")
    assert back.get_column("customer_name").to_list() == list(NASTY.values())
    # A negative number is a number, not a formula: written as is.
    assert set(back.get_column("debtor_total_owed").to_list()) == {"-12.5"}


def test_formula_looking_text_is_escaped_in_xlsx_and_numbers_stay_numbers(
    tmp_path: Path,
) -> None:
    publish(tmp_path / "n", _nasty_night())
    book = openpyxl.load_workbook(tmp_path / "n" / "worklists" / "P1.xlsx")
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    name_col = header.index("customer_name") + 1
    names = [sheet.cell(row=r, column=name_col).value for r in range(2, 2 + len(NASTY))]
    assert names == list(NASTY.values())
    for r in range(2, 2 + len(NASTY)):
        cell = sheet.cell(row=r, column=name_col)
        assert cell.data_type == "s", "text, never a formula"
    owed = sheet.cell(row=2, column=header.index("debtor_total_owed") + 1)
    assert owed.value == -12.5 and owed.data_type == "n"


def test_xlsx_is_formatted_for_people(tmp_path: Path) -> None:
    publish(tmp_path / "n", outputs())
    book = openpyxl.load_workbook(tmp_path / "n" / "worklists" / "P1.xlsx")
    sheet = book.active
    assert sheet is not None
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")
    header = [c.value for c in sheet[1]]

    def cell(column: str) -> Any:
        return sheet.cell(row=2, column=header.index(column) + 1)

    assert cell("amount_owed").value == 5000.0 and "#,##0.00" in cell("amount_owed").number_format
    assert cell("p_repay").value == 0.81 and "%" in cell("p_repay").number_format
    assert cell("return_date").value == datetime(2027, 2, 1)
    assert cell("rank").value == 1 and cell("extension_due").value is False
    assert cell("case_id").value == "K1"
    name_letter = openpyxl.utils.get_column_letter(header.index("customer_name") + 1)
    assert sheet.column_dimensions[name_letter].width >= 8  # wide enough to read
    assert book.properties.created == datetime(2026, 11, 23)
    # What to do and when comes first, marked; the rest of the contract's columns follow.
    assert header[:3] == ["rank", "action", "call_window"]
    assert set(header) == set(WORKLIST_COLUMNS)
    assert cell("action").font.b and cell("call_window").font.b
    assert cell("call_window").value == "08:00-22:00"
    # Phone work has no address: the empty column is hidden, not dropped.
    address = openpyxl.utils.get_column_letter(header.index("address") + 1)
    assert sheet.column_dimensions[address].hidden
    assert sheet.title == "P1 name P1"


def test_letters_are_in_csv_and_xlsx(tmp_path: Path) -> None:
    publish(tmp_path / "n", outputs())
    letters = read_csv(tmp_path / "n" / "letters.csv")
    assert letters.get_column("reference").to_list() == ["EASTBANK-K5"]
    book = openpyxl.load_workbook(tmp_path / "n" / "letters.xlsx")
    assert book.active is not None and book.active.max_row == 2


def test_no_phone_outside_phone_work_and_ids_stay_masked(tmp_path: Path) -> None:
    leaky = worklists(
        work("V1", 1, "K4", channel="visit", phone="13911112222"),
        work("P1", 1, "K1", id_number="110101199003074477", card_number="6222020200112233445"),
    )
    publish(tmp_path / "n", outputs(worklists=leaky))
    text = "".join(
        p.read_text(encoding="utf-8-sig") for p in sorted((tmp_path / "n").glob("**/*.csv"))
    )
    assert "13911112222" not in text
    assert "110101199003074477" not in text and "110101********4477" in text
    assert "6222020200112233445" not in text and "****3445" in text


def test_republishing_replaces_the_night_whole(tmp_path: Path) -> None:
    out = tmp_path / TONIGHT.isoformat()
    publish(out, outputs(run_id="20261123-11111111"))
    (out / "worklists" / "GONE.csv").write_text("stale", encoding="utf-8")
    only_p1 = worklists(work("P1", 1, "K1"))
    publish(out, outputs(run_id="20261123-22222222", worklists=only_p1))
    files = set(snapshot(out))
    assert "worklists/GONE.csv" not in files and "worklists/P2.csv" not in files
    assert "worklists/P1.csv" in files
    assert json.loads((out / "manifest.json").read_text())["run_id"] == "20261123-22222222"
    assert siblings(out) == []


def test_a_failure_mid_publish_leaves_the_previous_night_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / TONIGHT.isoformat()
    publish(out, outputs(run_id="20261123-11111111"))
    before = snapshot(out)
    calls = {"n": 0}
    real = publish_module.workbook_bytes

    def flaky(sheets: Any, **kwargs: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("writer broke")
        return real(sheets, **kwargs)

    monkeypatch.setattr(publish_module, "workbook_bytes", flaky)
    with pytest.raises(RuntimeError, match="writer broke"):
        publish(out, outputs(run_id="20261123-22222222"))
    assert snapshot(out) == before
    assert siblings(out) == []


def test_a_failed_swap_puts_the_previous_night_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / TONIGHT.isoformat()
    publish(out, outputs(run_id="20261123-11111111"))
    before = snapshot(out)
    real_rename = Path.rename

    def rename(self: Path, target: Any) -> Path:
        if ".tmp-" in self.name:
            raise OSError(errno.EIO, "Input/output error")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(CaseflowError, match=str(out)):
        publish(out, outputs(run_id="20261123-22222222"))
    assert snapshot(out) == before
    assert siblings(out) == []


def test_a_full_disk_is_a_clear_error_and_leaves_no_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / TONIGHT.isoformat()
    publish(out, outputs(run_id="20261123-11111111"))
    before = snapshot(out)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CaseflowError, match="full") as failure:
        publish(out, outputs(run_id="20261123-22222222"))
    assert str(out) in str(failure.value)
    monkeypatch.undo()
    assert snapshot(out) == before
    assert siblings(out) == []


def test_permission_denied_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the CLI shows it, whoever runs the tests (root ignores chmod, so it is simulated)."""
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if ".tmp-" in self.name:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(CaseflowError, match="permission denied") as failure:
        publish(tmp_path / "out" / "2026-11-23", outputs())
    assert str(tmp_path / "out") in str(failure.value)


def test_a_read_only_out_folder_gives_a_clear_error(tmp_path: Path) -> None:
    parent = tmp_path / "out"
    parent.mkdir()
    out = parent / TONIGHT.isoformat()
    publish(out, outputs(run_id="20261123-11111111"))
    before = snapshot(out)
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as a user that chmod cannot stop (root)")
        with pytest.raises(CaseflowError) as failure:
            publish(out, outputs(run_id="20261123-22222222"))
        assert str(parent) in str(failure.value)
        assert "Traceback" not in str(failure.value)
    finally:
        parent.chmod(0o755)
    assert snapshot(out) == before
    assert siblings(out) == []


def test_a_folder_that_is_not_a_night_is_never_replaced(tmp_path: Path) -> None:
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"precious")
    with pytest.raises(CaseflowError, match="not a published caseflow night"):
        publish(out, outputs())
    assert (out / "thesis.docx").read_bytes() == b"precious"
    assert siblings(out) == []


def test_leftovers_of_an_interrupted_publish_are_cleared(tmp_path: Path) -> None:
    out = tmp_path / TONIGHT.isoformat()
    stale = tmp_path / f".{out.name}.tmp-20261123-deadbeef"
    stale.mkdir()
    (stale / "half.csv").write_text("half", encoding="utf-8")
    publish(out, outputs())
    assert siblings(out) == []


def test_a_night_moved_aside_by_a_crash_is_restored_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / TONIGHT.isoformat()
    publish(out, outputs(run_id="20261123-11111111"))
    before = snapshot(out)
    out.rename(tmp_path / f".{out.name}.old-20261123-11111111")  # as a kill -9 would leave it
    monkeypatch.setattr(publish_module, "render_report", _boom)
    with pytest.raises(RuntimeError):
        publish(out, outputs(run_id="20261123-22222222"))
    assert snapshot(out) == before
    assert siblings(out) == []


def _boom(*_: Any) -> str:
    raise RuntimeError("report broke")


def test_collector_ids_cannot_escape_the_worklists_folder() -> None:
    stems = worklist_stems(["P1", "../../etc/passwd", "a/b", "张伟01", "X1", "x1", ".hidden"])
    assert stems["P1"] == "P1" and stems["张伟01"] == "张伟01"
    for cid, stem in stems.items():
        assert "/" not in stem and "\\" not in stem and not stem.startswith("."), cid
    assert stems["X1"].casefold() != stems["x1"].casefold()
    assert len(set(stems.values())) == len(stems)


def test_escape_formula_leaves_ordinary_text_alone() -> None:
    for raw, escaped in NASTY.items():
        assert escape_formula(raw) == escaped
    assert escape_formula("") == ""
    assert escape_formula("a=b") == "a=b"


def test_dates_in_the_manifest_are_written_as_text(tmp_path: Path) -> None:
    night = outputs()
    night.manifest["extra"] = {"as_of": date(2026, 11, 23)}
    publish(tmp_path / "n", night)
    manifest = json.loads((tmp_path / "n" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["extra"] == {"as_of": "2026-11-23"}


@pytest.mark.parametrize("address", ["1 Main St", 'a "quoted", odd one', "two\nlines", "cr\ronly"])
def test_worklist_csvs_cut_from_one_csv_are_each_frames_own_csv(address: str) -> None:
    """The collectors' CSVs are cut out of one CSV of all of them (polars' cost is per call):
    each must be the bytes ``csv_bytes`` gives for that collector alone, line breaks or not."""
    frames = {
        "A": pl.DataFrame(
            {"id": ["1", "2"], "address": [address, None], "owed": [1.5, 1e20]},
            schema={"id": pl.Utf8, "address": pl.Utf8, "owed": pl.Float64},
        ),
        "B": pl.DataFrame(
            {"id": ["3"], "address": ["=cmd"], "owed": [0.1]},
            schema={"id": pl.Utf8, "address": pl.Utf8, "owed": pl.Float64},
        ),
    }
    for lang in ("en", "zh"):
        pieces = publish_module._csv_pieces(frames, lang)
        assert pieces == {k: publish_module.csv_bytes(f, lang) for k, f in frames.items()}


def test_holds_and_changes_written_from_the_warehouse_in_batches_are_the_frames_files(
    tmp_path: Path,
) -> None:
    """A night reviewed in parts writes holds.csv and changes.csv from the rows it stored, a
    batch at a time (sql/holds_csv.sql, changes_csv.sql): the same bytes, in the same order,
    as the whole frames give, formula-looking ids (escaped, so they sort as published),
    Chinese text, missing values and kinds of change included."""
    from functools import partial

    from pipeline import warehouse
    from pipeline.changes import CHANGE_KINDS, CHANGE_SCHEMA

    # "=K4" published as "'=K4" goes before "5x"; "=Z" as "'=Z" before "1BANK"
    ids = ["K2", "=K1", "-K3", "'K0", "李四", "@K5", "5x", "=K4"]
    reasons = ["paid", "disputed", "=paid", "over capacity", "legal", "paid", "over capacity", "x"]
    holds = pl.DataFrame(
        {
            "client_id": ["EASTBANK", "-WEST", "EASTBANK", "1BANK", "中信", "=Z", "A", "A"],
            "case_id": ids,
            "customer_id": [f"C{i}" for i in ids[:-1]] + [None],
            "reason": reasons,
            "detail": ["extension due", None, None, 'a,b "q"', None, None, None, "\tx"],
        }
    )
    # 1BANK's and =Z's of the same kind: their order is their client ids'
    moved = ("collector changed", "channel changed", "collector changed")
    kinds = ["new case", "closed", "now held", *moved, "something else", "new case"]
    changes = pl.DataFrame(
        {
            "client_id": holds.get_column("client_id"),
            "customer_id": holds.get_column("customer_id"),
            "case_id": ids,
            "change": kinds,
            "before": [None, "P1 (phone)", "=1", "held: paid", None, "x", "y", None],
            "after": ["P2 (visit)", None, "paid", "P1 (phone)", "held: legal", "x", "z", "q"],
            "reason": ["new from EASTBANK, handed over 2026-11-01", *("r" * 7)],
            "reason_kind": ["new from the client", *("k" * 7)],
        },
        schema=CHANGE_SCHEMA,
    )
    con = warehouse.connect(tmp_path / "home")
    stamp = [pl.lit(TONIGHT).alias("business_date"), pl.lit("r").alias("run_id")]
    # the holds are the held decisions (the ``holds`` view, sql/schema.sql)
    held = holds.rename({"reason": "hold_reason", "detail": "hold_detail"}).with_columns(
        placement=pl.lit("held")
    )
    for table, frame in (("decisions", held), ("changes", changes)):
        warehouse.frame_relation(con, frame.with_columns(stamp)).query(
            "rows", f"insert into {table} by name select * from rows"
        )
    params: dict[str, Any] = {"business_date": TONIGHT}
    whole = outputs()
    stored = NightOutputs(
        **{
            **whole.__dict__,
            "holds": partial(warehouse.query_batches, con, "holds_csv", params, 3),
            "changes": partial(
                warehouse.query_batches,
                con,
                "changes_csv",
                {**params, "kinds": list(CHANGE_KINDS)},
                3,
            ),
        }
    )
    framed = NightOutputs(**{**whole.__dict__, "holds": holds, "changes": changes})
    publish(tmp_path / "framed", framed)
    publish(tmp_path / "stored", stored)
    for name in ("holds.csv", "changes.csv"):
        data = (tmp_path / "stored" / name).read_bytes()
        assert data == (tmp_path / "framed" / name).read_bytes(), name
        assert data.count(BOM) == 1 and data.count(b"client_id") == 1, name
    manifest = json.loads((tmp_path / "stored" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["outputs"]["holds.csv"]["rows"] == holds.height
    con.execute("delete from decisions")  # a night without holds: the header alone
    publish(tmp_path / "empty", stored)
    publish(tmp_path / "empty-framed", NightOutputs(**{**framed.__dict__, "holds": holds.clear()}))
    empty = (tmp_path / "empty" / "holds.csv").read_bytes()
    assert empty == (tmp_path / "empty-framed" / "holds.csv").read_bytes()
    con.close()
