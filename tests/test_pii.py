"""No debtor data where it does not belong (issue 7, point 7).

A night's files carry recognisable id numbers (real birth dates and check characters), card
numbers (Luhn-valid) and mobile numbers: in good rows, in rows that are rejected, in files that
are refused whole. The real command runs the night twice (a night that fails after loading them,
then the night); a re-run for a scheduler (--quiet) runs in-process, and library errors that
quote such values are raised inside the command. Then everything a person or a script can read
is searched: the terminal, the manifest, the report, rejected.csv, holds, letters, every
worklist and workbook (unzipped, every part), the files in the home folder beside the warehouse,
and the warehouse's copies of published text (rejects, runs). Only masked forms may appear; a
phone number only in the phone column of a phone worklist, where the collector must dial it
(CONTRACT.md).
"""

from __future__ import annotations

import csv
import io
import os
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandera.errors
import polars as pl
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import pipeline.run
import pipeline.stream
from cli import app
from pipeline.headers import COLUMNS
from pipeline.masking import mask_card_number, mask_id_number
from tests.nights import card_number, csv_text, id_number, night, phone

pytestmark = pytest.mark.slow

CASEFLOW = Path(sys.executable).parent / "caseflow"
TONIGHT = date(2026, 11, 23)
CASE_COLUMNS = list(COLUMNS["cases"])
# Where the warehouse keeps raw data by design (the system of record, R2), not searched.
RAW_BY_DESIGN = ("warehouse.duckdb", "warehouse.duckdb.wal", "archive", "last-good", "models")


@dataclass
class Planted:
    ids: set[str] = field(default_factory=set)
    cards: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    def secrets(self) -> set[str]:
        return self.ids | self.cards

    def all(self) -> set[str]:
        return self.ids | self.cards | self.phones


def _plant(folder: Path) -> Planted:
    rng = random.Random(77)
    tonight = night(TONIGHT, 40, seed=77)
    planted = Planted()
    for row in tonight.cases:  # good rows: every id, card and phone is valid and published
        planted.ids.add(str(row["id_number"]))
        planted.phones.add(str(row["phone"]))
        if row["card_number"]:
            planted.cards.add(str(row["card_number"]))
    # rejected rows: each breaks one rule with a debtor's number in the value
    bad = night(TONIGHT, 8, seed=78, client="BADBANK").cases
    valid_id, card, mobile = id_number(rng), card_number(rng), phone(rng)
    broken_id = valid_id[:-1] + ("0" if valid_id[-1] != "0" else "1")
    broken_card = card[:-1] + str((int(card[-1]) + 1) % 10)
    bad[0]["id_number"] = broken_id  # id_number_invalid
    bad[1]["card_number"], bad[1]["product"] = broken_card, "credit_card"  # card_number_invalid
    bad[2]["phone"] = valid_id  # phone_invalid, with an id number in it
    bad[3]["amount_owed"] = card  # out_of_range, a card number as an amount
    bad[4]["handover_date"] = mobile  # unreadable_date, a phone number as a date
    bad[5]["days_overdue"] = card  # unreadable_number
    planted.ids |= {broken_id, valid_id}
    planted.cards |= {broken_card, card}
    planted.phones |= {mobile}
    for row in bad[:6]:
        for column in ("id_number", "card_number", "phone"):
            value = str(row.get(column) or "")
            if value:
                {"id_number": planted.ids, "card_number": planted.cards, "phone": planted.phones}[
                    column
                ].add(value)
    tonight.cases += bad
    tonight.write(folder)
    # a row cut short, and a line in no known encoding, each full of numbers
    lines = csv_text(CASE_COLUMNS, night(TONIGHT, 3, seed=79, client="CUTBANK").cases)
    rows = lines.splitlines(keepends=True)
    for row in night(TONIGHT, 3, seed=79, client="CUTBANK").cases:
        planted.ids.add(str(row["id_number"]))
        planted.phones.add(str(row["phone"]))
        if row["card_number"]:
            planted.cards.add(str(row["card_number"]))
    cut = rows[0] + rows[1] + rows[2].encode().replace(b",", b"\xff,", 1).decode("latin-1")
    cut += rows[3][: rows[3].index(",2026-")]
    (folder / "cases_cut.csv").write_bytes(cut.encode("latin-1", errors="replace"))
    # refused whole: a cases file without a required column, and a damaged workbook
    refused = night(TONIGHT, 5, seed=80, client="REFBANK").cases
    for row in refused:
        planted.ids.add(str(row["id_number"]))
        planted.phones.add(str(row["phone"]))
    (folder / "cases_refused.csv").write_text(
        csv_text([c for c in CASE_COLUMNS if c != "return_date"], refused), encoding="utf-8"
    )
    (folder / "cases_damaged.xlsx").write_bytes(b"PK\x03\x04" + "".join(planted.ids).encode())
    return planted


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "300"}


def _caseflow(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        [str(CASEFLOW), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _leaks(text: str, secrets: set[str]) -> set[str]:
    lowered = text.lower()
    return {s for s in secrets if s.lower() in lowered}


def _check_table(name: str, rows: list[list[str]], planted: Planted) -> list[str]:
    """Rows of a CSV or a sheet: ids and cards nowhere, phones only in a phone row's phone."""
    found = []
    header = rows[0] if rows else []
    phone_at = header.index("phone") if "phone" in header else None
    channel_at = header.index("channel") if "channel" in header else None
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if _leaks(cell, planted.secrets()):
                found.append(f"{name} row {r + 1} column {c + 1}: an id or card number")
            if _leaks(cell, planted.phones):
                allowed = (
                    r > 0
                    and c == phone_at
                    and channel_at is not None
                    and row[channel_at] == "phone"
                )
                if not allowed:
                    found.append(f"{name} row {r + 1} column {c + 1}: a phone number")
    return found


def _check_out(out: Path, planted: Planted) -> tuple[list[str], str]:
    """Every published file; the text of all of them, for the positive checks."""
    found: list[str] = []
    texts = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = str(path.relative_to(out))
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                for part in book.namelist():
                    text = book.read(part).decode("utf-8", errors="replace")
                    texts.append(text)
                    if _leaks(text, planted.secrets()):
                        found.append(f"{name}:{part}: an id or card number")
            workbook = load_workbook(path, read_only=True)
            for sheet in workbook.worksheets:
                rows = [
                    ["" if v is None else str(v) for v in row]
                    for row in sheet.iter_rows(values_only=True)
                ]
                found += _check_table(f"{name}[{sheet.title}]", rows, planted)
            workbook.close()
        elif path.suffix == ".csv":
            text = path.read_text(encoding="utf-8-sig")
            texts.append(text)
            found += _check_table(name, list(csv.reader(io.StringIO(text))), planted)
        else:  # manifest.json, report.html
            text = path.read_text(encoding="utf-8")
            texts.append(text)
            found += [f"{name}: {s}" for s in _leaks(text, planted.all())]
    return found, "\n".join(texts)


def _check_home(home: Path, planted: Planted) -> list[str]:
    found = []
    for path in home.rglob("*"):
        relative = path.relative_to(home)
        if path.is_file() and relative.parts[0] not in RAW_BY_DESIGN:
            text = path.read_bytes().decode("utf-8", errors="replace")
            found += [f"home/{relative}: {s}" for s in _leaks(text, planted.all())]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        published_copies = {
            "rejects": "select value from rejects",
            "runs": "select cast(manifest as varchar) from runs",
        }
        for table, sql in published_copies.items():
            text = "\n".join(str(v) for (v,) in con.execute(sql).fetchall())
            found += [f"warehouse {table}: {s}" for s in _leaks(text, planted.all())]
    finally:
        con.close()
    return found


def test_debtor_numbers_appear_only_masked_wherever_caseflow_writes_or_speaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, home = tmp_path / "in", tmp_path / "home"
    planted = _plant(folder)
    run = ["run", "--date", TONIGHT.isoformat(), "--input", str(folder), "--home", str(home)]
    (tmp_path / "not-a-folder").write_text("x")
    said = []
    # a night that fails after reading, checking, loading and allocating every planted number
    code, text = _caseflow(*run, "--out", str(tmp_path / "not-a-folder" / "night"))
    assert code == 1 and "cannot publish the night" in text, text
    said.append(text)
    code, text = _caseflow(*run, "--out", str(tmp_path / "out"))
    assert code == 0, text
    said.append(text)
    again = CliRunner().invoke(app, [*run, "--out", str(tmp_path / "out"), "--quiet"])
    assert again.exit_code == 0, again.output
    said.append(again.output)
    said += _library_errors_quoting(planted, tmp_path, run, monkeypatch)

    terminal = "\n".join(said)
    assert not _leaks(terminal, planted.all()), _leaks(terminal, planted.all())
    found, published = _check_out(tmp_path / "out", planted)
    found += _check_home(home, planted)
    assert not found, "\n".join(found[:20])

    # the numbers did flow: masked in worklists and rejects, dialable on phone worklists
    assert sum(mask_id_number(i) in published for i in planted.ids) >= 30  # type: ignore[operator]
    assert sum(mask_card_number(c) in published for c in planted.cards) >= 10  # type: ignore[operator]
    assert any(p in published for p in planted.phones)
    rejected = pl.read_csv(tmp_path / "out" / "rejected.csv", infer_schema=False, encoding="utf8")
    rules = set(rejected.get_column("rule"))
    assert {"id_number_invalid", "card_number_invalid", "phone_invalid", "out_of_range"} <= rules
    assert {"unreadable_date", "wrong_field_count", "undecodable_text", "file_refused"} <= rules


def _library_errors_quoting(
    planted: Planted, tmp_path: Path, run: list[str], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Errors as DuckDB, pandera and polars word them, raised inside `caseflow run`."""
    an_id, a_card, a_phone = (
        sorted(planted.ids)[0],
        sorted(planted.cards)[0],
        sorted(planted.phones)[0],
    )
    quoted = f"'张三 {an_id}' and \"{a_card}\" for {a_phone}"
    errors: list[Callable[[], BaseException]] = [
        lambda: duckdb.ConversionException(f"Conversion Error: Could not convert string {quoted}"),
        lambda: pandera.errors.SchemaError(None, None, f"failure cases: [{quoted}]"),
        lambda: pl.exceptions.ComputeError(f"conversion failed for values: [{quoted}]"),
        lambda: pl.exceptions.PanicException(f"called unwrap on {quoted}"),
        lambda: OSError(f"cannot open {an_id}.csv"),
    ]
    said = []
    for make in errors:

        def broken(*args: object, error: Callable[[], BaseException] = make, **kw: object) -> None:
            raise error()

        # raised in the validate stage (pipeline.stream.plan: the night's repeated keys)
        monkeypatch.setattr(pipeline.stream, "plan", broken)
        result = CliRunner().invoke(app, [*run, "--out", str(tmp_path / "out")])
        assert result.exit_code == 1, result.output
        assert "internal error" in result.output and "Traceback" not in result.output
        said.append(result.output)
    monkeypatch.undo()
    return said
