"""Two nights as a bank would run them, then the day after: export, report and explain.

Night one is the samples' night with a formula and a hyperlink planted in every name and address
of one client's file; night two (the next day) brings only a roster where two phone collectors
are on leave, and is published with Chinese headers. Then, as the ops lead would: re-export the
worklists, rebuild the reports, ask why cases moved, were held or were rejected.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import parts
from pipeline.explain import explain_case
from pipeline.export import export_night
from pipeline.rebuild import rebuild_report
from pipeline.run import NightSummary, run_night

ROOT = Path(__file__).resolve().parent.parent
INCOMING = ROOT / "data" / "samples" / "incoming" / "2026-11-23"
NIGHT1, NIGHT2 = date(2026, 11, 23), date(2026, 11, 24)
FORMULA = '=HYPERLINK("http://evil.example","点我")'
AT_FORMULA = "@SUM(1+1)"
ON_LEAVE = ("P001", "P020")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Nights:
    home: Path
    first: NightSummary
    second: NightSummary


def _plant(folder: Path) -> None:
    """A formula in every name and address of EASTBANK's cases file (GB18030, as it came)."""
    path = folder / "cases_eastbank.csv"
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"))))
    header = rows[0]
    name, address = header.index("客户姓名"), header.index("家庭地址")
    for row in rows[1:]:
        if len(row) > address:
            row[name] = FORMULA + row[name]
            row[address] = AT_FORMULA + row[address]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    path.write_bytes(text.getvalue().encode("gb18030"))


def _roster_on_leave(source: Path, target: Path) -> None:
    target.mkdir()
    lines = source.read_text(encoding="utf-8").splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[0] in ON_LEAVE:
            cells[-1] = "false"
        out.append(",".join(cells))
    (target / "collectors.csv").write_text("\n".join(out) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    base = tmp_path_factory.mktemp("dayafter")
    first_in = base / "in" / NIGHT1.isoformat()
    shutil.copytree(INCOMING, first_in)
    _plant(first_in)
    second_in = base / "in" / NIGHT2.isoformat()
    _roster_on_leave(INCOMING / "collectors.csv", second_in)
    home = base / "home"
    first = run_night(NIGHT1, first_in, base / "out" / NIGHT1.isoformat(), home)
    second = run_night(NIGHT2, second_in, base / "out" / NIGHT2.isoformat(), home, lang="zh")
    return Nights(home, first, second)


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, encoding="utf8")


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- the outputs a person opens ----------------------------------------------------------------


def test_every_output_of_the_night_is_there(nights: Nights) -> None:
    out = nights.first.out_dir
    for name in (
        "changes.csv",
        "scorecards.csv",
        "visits.csv",
        "visits.xlsx",
        "letters.csv",
        "letters.xlsx",
        "letters_by_client.csv",
        "report.html",
    ):
        assert (out / name).is_file(), name
    teams = sorted(p.name for p in (out / "teams").glob("*.xlsx"))
    with_work = {_csv(p).get_column("team")[0] for p in (out / "worklists").glob("*.csv")}
    assert teams == sorted(f"{t}.xlsx" for t in with_work)
    assert {"外访组.xlsx", "电催一组.xlsx", "电催二组.xlsx", "电催三组.xlsx"} <= set(teams)


def test_no_planted_formula_can_run_in_any_output(nights: Nights) -> None:
    for summary in (nights.first, nights.second):
        for name, data in _files(summary.out_dir).items():
            if name.endswith(".csv"):
                text = data.decode("utf-8-sig")
                for row in csv.reader(io.StringIO(text)):
                    bad = [c for c in row if c[:1] in ("=", "+", "@", "\t", "\r")]
                    assert not bad, f"{name}: {bad[:2]}"
                    assert not [c for c in row if c[:1] == "-" and not _number(c)], name
            elif name.endswith(".xlsx"):
                with zipfile.ZipFile(io.BytesIO(data)) as book:
                    for member in book.namelist():
                        xml = book.read(member).decode("utf-8")
                        assert "<f>" not in xml and "<f " not in xml, f"{name}:{member}"
    names = _csv(nights.first.out_dir / "visits.csv").get_column("customer_name")
    planted = [n for n in names.to_list() if "HYPERLINK" in n]
    assert planted and all(n.startswith("'=") for n in planted)


def _number(text: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", text) is not None


def test_no_full_id_or_card_number_and_no_phone_off_phone_work(nights: Nights) -> None:
    con = duckdb.connect(str(nights.home / "warehouse.duckdb"), read_only=True)
    secrets = {
        v
        for r in con.execute("select id_number, card_number from cases").fetchall()
        for v in r
        if v
    }
    phones = {
        r[0] for r in con.execute("select phone from cases where phone is not null").fetchall()
    }
    con.close()
    for summary in (nights.first, nights.second):
        for name, data in _files(summary.out_dir).items():
            if name.endswith(".xlsx"):
                with zipfile.ZipFile(io.BytesIO(data)) as book:
                    text = "".join(book.read(m).decode("utf-8") for m in book.namelist())
            else:
                text = data.decode("utf-8-sig")
            # Every run of digits long enough to be an id, a card or a phone number.
            numbers = set(re.findall(r"(?<![\dXx])\d[\dXx]{10,18}(?![\dXx])", text))
            assert not numbers & secrets, name
            if not name.startswith(("worklists/P", "teams/电催")):
                assert not numbers & phones, f"{name} holds a phone number"


def test_chinese_headers_with_lang_zh(nights: Nights) -> None:
    out = nights.second.out_dir
    worklist = next((out / "worklists").glob("P*.csv"))
    header = worklist.read_bytes().decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:4] == ["催收员编号", "催收员", "小组", "顺序"]
    assert "今日行动" in header and "可拨打时段" in header
    assert _csv(out / "changes.csv").columns[3] == "变动"


# --- what moved, and why ---------------------------------------------------------------------


def test_changes_say_which_debtors_moved_because_their_collector_is_on_leave(
    nights: Nights,
) -> None:
    changes = _csv(nights.second.out_dir / "changes.csv")
    change, reason = changes.columns[3], changes.columns[6]  # 变动, 原因
    moved = changes.filter(pl.col(reason).str.contains("is on leave tonight"))
    assert moved.height > 0
    assert set(moved.get_column(change)) <= {"collector changed", "channel changed"}
    assert {r.split()[0] for r in moved.get_column(reason)} <= set(ON_LEAVE)
    report = (nights.second.out_dir / "report.html").read_text(encoding="utf-8")
    assert "the night of 2026-11-23" in report and "previous collector on leave" in report


def test_explain_a_moved_a_held_and_a_rejected_case(nights: Nights) -> None:
    changes = _csv(nights.second.out_dir / "changes.csv")
    reason = changes.columns[6]
    moved = changes.filter(pl.col(reason).str.contains("is on leave")).row(0)
    text = explain_case(nights.home, moved[2], NIGHT2, moved[0]).text()
    assert "is on leave tonight" in text and "decision: worked by" in text
    assert "p_repay" in text and "rules that applied" in text and "since the night of" in text

    holds = _csv(nights.first.out_dir / "holds.csv")
    held = holds.filter(pl.col("reason") == "over capacity").row(0, named=True)
    text = explain_case(nights.home, held["case_id"], NIGHT1, held["client_id"]).text()
    assert "decision: held: over capacity" in text
    # the night stored no reasons for a held case: they are worded now, as the night would have
    # (by the R6 rule here: no model was trained), from the first night's features although
    # the second has been loaded since
    assert "reasons: R6 rule (no trained model): " in text and " days overdue" in text

    text = explain_case(nights.home, "SO0000011", NIGHT1).text()  # amount_owed -350
    assert "cases_southlend.csv row 7: column amount_owed broke not_positive" in text
    assert "no valid row of this case" in text
    text = explain_case(nights.home, "EA0000022", NIGHT1).text()  # a bad id number
    assert "id_number broke id_number_invalid" in text
    assert not re.search(r"\d{15,}", text), "no full id or card number in an answer"


# --- the day after: export and report from the warehouse -------------------------------------


def test_export_gives_back_the_worklists_as_published(nights: Nights, tmp_path: Path) -> None:
    published = _files(nights.first.out_dir)
    for fmt in ("csv", "xlsx"):
        result = export_night(nights.home, NIGHT1, tmp_path / fmt, fmt)
        exported = _files(tmp_path / fmt)
        assert set(exported) == {n for n in published if n.endswith(fmt) and "/" in n}
        assert result.files and all(exported[n] == published[n] for n in exported)
    zh = export_night(nights.home, NIGHT2, tmp_path / "zh", "csv", lang="zh")
    for name in zh.files:
        assert (tmp_path / "zh" / name).read_bytes() == (nights.second.out_dir / name).read_bytes()
    one = export_night(nights.home, NIGHT1, tmp_path / "one", "xlsx", collector="P002")
    assert one.files == ["worklists/P002.xlsx"]
    team = export_night(nights.home, NIGHT1, tmp_path / "team", "xlsx", team="外访组")
    assert "teams/外访组.xlsx" in team.files
    assert all(f.startswith(("worklists/V", "teams/")) for f in team.files)


def test_the_report_is_rebuilt_as_published(nights: Nights) -> None:
    for summary in (nights.first, nights.second):
        page = rebuild_report(nights.home, summary.business_date)
        assert page == (summary.out_dir / "report.html").read_text(encoding="utf-8")


def test_the_commands_of_the_day_after(nights: Nights, tmp_path: Path) -> None:
    home = str(nights.home)
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["export", "--date", "2026-11-23", "--team", "电催一组", "--format", "csv",
         "--out", str(tmp_path / "e"), "--home", home],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "exported" in result.output and (tmp_path / "e" / "worklists" / "P002.csv").exists()
    result = runner.invoke(
        app, ["report", "--date", "2026-11-24", "--out", str(tmp_path / "r.html"), "--home", home]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").read_bytes() == (
        nights.second.out_dir / "report.html"
    ).read_bytes()
    result = runner.invoke(app, ["explain", "SO0000011", "--date", "2026-11-23", "--home", home])
    assert result.exit_code == 0, result.output
    assert "not_positive" in result.output
    for bad in (
        ["export", "--date", "2026-11-30", "--home", home],
        ["export", "--date", "2026-11-23", "--format", "pdf", "--home", home],
        ["export", "--date", "2026-11-23", "--collector", "NOBODY", "--home", home],
        ["export", "--date", "2026-11-23", "--lang", "fr", "--home", home],
        ["report", "--date", "2026-13-01", "--home", home],
        ["explain", "EA0000022", "--date", "2026-11-30", "--home", home],
        ["export", "--date", "2026-11-23", "--out", str(nights.first.out_dir), "--home", home],
    ):
        result = runner.invoke(app, bad)
        assert result.exit_code == 2, (bad, result.output)
        assert "Traceback" not in result.output
    result = runner.invoke(app, ["explain", "NO-SUCH-CASE", "--home", home])
    assert result.exit_code == 1 and "not in the warehouse" in result.output
    result = runner.invoke(app, ["export", "--date", "2026-11-23", "--home", str(tmp_path / "x")])
    assert result.exit_code == 2 and "no caseflow warehouse" in result.output


# Last in this module: it publishes the second night again (the tests above read the first run).
def test_the_day_after_in_parts_compares_with_the_night_before_as_one_part_does(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each part of the book reads the night before's decisions of its own cases only
    (pipeline.review._decisions_of): the changes, and every other file, are those of one part."""
    monkeypatch.setattr(parts, "PART_CASES", 700)
    second_in = nights.home.parent / "in" / NIGHT2.isoformat()
    again = run_night(NIGHT2, second_in, tmp_path / "parts", nights.home, lang="zh")
    published = {k: v for k, v in _files(nights.second.out_dir).items() if k.endswith(".csv")}
    assert "changes.csv" in published and published["changes.csv"].count(b"\n") > 100
    assert {k: v for k, v in _files(again.out_dir).items() if k.endswith(".csv")} == published
