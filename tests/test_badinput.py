"""Bad input, every kind (issue 7, point 6): a message naming the file, row and column (or the
setting), never a traceback, and nothing good lost.

One night is delivered with a good cases file beside every kind of damaged one; the command
runs it, and the test reads what the ops lead would: the terminal, rejected.csv and the
warehouse. Then property tests feed ingest, validate and load arbitrary bytes and values.
"""

from __future__ import annotations

import csv
import io
import json
import random
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from pipeline import warehouse
from pipeline.headers import COLUMNS
from pipeline.ingest import ingest
from pipeline.load import load
from pipeline.validate import validate
from tests.nights import csv_text, night

TONIGHT = date(2026, 11, 23)
CASE_COLUMNS = list(COLUMNS["cases"])
PAYMENT_COLUMNS = list(COLUMNS["payments"])


def _cases(n: int, seed: int, client: str) -> list[dict[str, object]]:
    return night(TONIGHT, n, seed=seed, client=client).cases


def _xlsx(rows: list[dict[str, object]], columns: list[str]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, columns)
    for r, row in enumerate(rows, start=1):
        sheet.write_row(r, 0, ["" if row.get(c) is None else str(row[c]) for c in columns])
    book.close()
    return buffer.getvalue()


def _parquet(rows: list[dict[str, object]], columns: list[str]) -> bytes:
    buffer = io.BytesIO()
    frame = pl.DataFrame(
        [{c: None if r.get(c) is None else str(r[c]) for c in columns} for r in rows],
        schema={c: pl.Utf8 for c in columns},
    )
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _bad_night(folder: Path) -> dict[str, list[str]]:
    """Write the night; return the case ids of every good row, by the file that carries it."""
    folder.mkdir(parents=True)
    good = night(TONIGHT, 40, seed=3)
    good.write(folder)
    expected = {"cases.csv": [str(r["case_id"]) for r in good.cases]}

    # truncated: the transfer stopped mid-line
    cut = _cases(6, seed=4, client="CUTBANK")
    text = csv_text(CASE_COLUMNS, cut)
    (folder / "cases_cut.csv").write_text(text[: text.rindex(",2026-")], encoding="utf-8")
    expected["cases_cut.csv"] = [str(r["case_id"]) for r in cut[:-1]]
    # empty, and header only
    (folder / "payments_empty.csv").write_bytes(b"")
    (folder / "contacts_none.csv").write_text(",".join(COLUMNS["contacts"]) + "\n")
    # a header split by commas over rows split by semicolons; a file split by colons
    rows = csv_text(PAYMENT_COLUMNS, night(TONIGHT, 20, seed=5).payments).splitlines()
    semi = [rows[0]] + [line.replace(",", ";") for line in rows[1:]]
    (folder / "payments_semi.csv").write_text("\n".join(semi) + "\n", encoding="utf-8")
    colon = csv_text(CASE_COLUMNS, _cases(3, seed=6, client="COLONBANK")).replace(",", ":")
    (folder / "cases_colon.csv").write_text(colon, encoding="utf-8")
    # mixed encodings: UTF-8 and GB18030 lines, and one line in neither
    mixed = _cases(5, seed=7, client="MIXBANK")
    lines = csv_text(CASE_COLUMNS, mixed).splitlines(keepends=True)
    data = lines[0].encode() + lines[1].encode("gb18030") + lines[2].encode()
    data += lines[3].encode().replace("某区".encode(), b"\xff\xfe\xfd")  # row 4: broken bytes
    data += lines[4].encode("gb18030") + lines[5].encode()
    (folder / "cases_mixed.csv").write_bytes(data)
    expected["cases_mixed.csv"] = [str(r["case_id"]) for i, r in enumerate(mixed) if i != 2]
    # the same case ids in two files of the night: the later file (by name) wins
    again = [{**row, "amount_owed": 999.0} for row in good.cases[:3]]
    (folder / "cases_update.csv").write_text(csv_text(CASE_COLUMNS, again), encoding="utf-8")
    # a workbook and a Parquet file cut in half
    book = _xlsx(_cases(4, seed=8, client="BOOKBANK"), CASE_COLUMNS)
    (folder / "cases_book.xlsx").write_bytes(book[:900])
    payments = night(TONIGHT, 30, seed=9).payments
    (folder / "payments.parquet").write_bytes(_parquet(payments, PAYMENT_COLUMNS)[:-40])
    return expected


def test_a_night_of_every_kind_of_bad_file_names_each_problem_and_loses_nothing_good(
    tmp_path: Path,
) -> None:
    expected = _bad_night(tmp_path / "in")
    home, out = tmp_path / "home", tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--date",
            TONIGHT.isoformat(),
            "--input",
            str(tmp_path / "in"),
            "--out",
            str(out),
            "--home",
            str(home),
        ],
    )
    said = result.output
    assert result.exit_code == 0, said
    assert "Traceback" not in said and result.exception is None
    rejected = pl.read_csv(out / "rejected.csv", infer_schema=False, encoding="utf8")
    lines = {(r["file"], r["row"], r["column"], r["rule"]) for r in rejected.iter_rows(named=True)}
    # each refused file: one line, row 0, and a warning naming it and why
    for name, why in [
        ("payments_empty.csv", "is empty"),
        ("cases_colon.csv", "header reads as one column"),
        ("cases_book.xlsx", "not a readable XLSX workbook"),
        ("payments.parquet", "not a readable Parquet file"),
    ]:
        assert (name, "0", "(file)", "file_refused") in lines, name
        assert f"file refused whole: {name}: " in said and why in said, name
    # row by row: the cut-off line, the undecodable line, the semicolon rows, the superseded
    assert ("cases_cut.csv", "7", "(row)", "wrong_field_count") in lines
    assert ("cases_mixed.csv", "4", "(row)", "undecodable_text") in lines
    semi = {r for r in lines if r[0] == "payments_semi.csv"}
    assert semi == {
        ("payments_semi.csv", str(n), "(row)", "wrong_field_count") for n in range(2, 5)
    }
    superseded = rejected.filter(pl.col("rule") == "superseded")
    assert superseded.select("file", "row", "value").rows() == [
        ("cases.csv", str(n), f"by cases_update.csv row {n}") for n in (2, 3, 4)
    ]
    assert "contacts_none.csv: a header and no rows" in said
    assert "3 rows were replaced by a row of the same key in a later file" in said
    # nothing good is lost: every good row is in the warehouse, the later file's values won
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        loaded = dict(con.execute("select case_id, source_file from cases").fetchall())
        owed = con.execute(
            "select amount_owed from cases where source_file = 'cases_update.csv'"
        ).fetchall()
    finally:
        con.close()
    for name, case_ids in expected.items():
        for case_id in case_ids:
            assert case_id in loaded, (name, case_id)
    assert {float(v) for (v,) in owed} == {999.0}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    statuses = {f["file"]: f["status"] for f in manifest["inputs"]}
    assert statuses["cases_mixed.csv"] == "read" and statuses["cases_book.xlsx"] == "refused"


def test_a_roster_with_no_active_collector_holds_every_case_and_names_the_file(
    tmp_path: Path,
) -> None:
    tonight = night(TONIGHT, 30, seed=11)
    tonight.collectors = [{**c, "active": "false"} for c in tonight.collectors]
    tonight.write(tmp_path / "in")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--date",
            TONIGHT.isoformat(),
            "--input",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--home",
            str(tmp_path / "home"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no active collector in collectors.csv (7 collectors, none active)" in result.output
    holds = pl.read_csv(tmp_path / "out" / "holds.csv", infer_schema=False, encoding="utf8")
    assert holds.height == 30  # every case has a place: held, with a reason
    assert not list((tmp_path / "out" / "worklists").glob("*.csv"))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("leter_min_amount = 1000\n", "leter_min_amount"),
        ("[visit]\ncots = 200\n", "visit.cots"),
        ("letter_min_amount = 'a thousand'\n", "letter_min_amount"),
        ("letter_min_amount = \n", "not valid TOML"),
    ],
)
def test_a_policy_with_a_typo_is_bad_usage_naming_the_setting(
    tmp_path: Path, text: str, named: str
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--date",
            TONIGHT.isoformat(),
            "--input",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--home",
            str(tmp_path / "home"),
            "--policy",
            str(policy),
        ],
    )
    assert result.exit_code == 2, result.output
    assert named in result.output and str(policy) in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


# --- property tests: arbitrary bytes and values ----------------------------------------------


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Fail an example that takes longer than ``seconds`` (a hang), instead of waiting forever."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _night_of(files: dict[str, bytes]) -> tuple[Path, tempfile.TemporaryDirectory[str]]:
    holder = tempfile.TemporaryDirectory()
    folder = Path(holder.name) / "in"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder, holder


def _every_row_kept_or_rejected(files: dict[str, bytes], *, load_too: bool) -> None:
    folder, holder = _night_of(files)
    try:
        with _time_limit(30):
            received = ingest(folder, Path(holder.name) / "home", TONIGHT, {})
            read = {k: t.select("_file", "_row") for k, t in received.tables.items()}
            checked = validate(received.tables, TONIGHT)
            if load_too:
                con = warehouse.connect(Path(holder.name) / "home")
                try:
                    load(con, checked.frames, checked.rejects, received.files, TONIGHT)
                finally:
                    con.close()
    finally:
        holder.cleanup()
    for f in received.files:
        assert f.status in ("read", "refused", "duplicate"), f
        if f.status == "refused":
            assert f.message and f.message.startswith(f"{f.name}: "), f
        if f.status == "duplicate":
            assert f.message and f.message.endswith("read tonight: skipped"), f
    for kind, table in read.items():
        kept = checked.frames[kind].select("_file", "_row")
        rejected = checked.rejects.filter(pl.col("kind") == kind).select(
            pl.col("file").alias("_file"), pl.col("row").alias("_row")
        )
        every = set(table.select("_file", "_row").iter_rows())
        assert set(kept.iter_rows()) | set(rejected.iter_rows()) == every, kind
        assert not set(kept.iter_rows()) & set(rejected.iter_rows()), kind
        assert rejected.height == 0 or checked.rejects.get_column("rule").null_count() == 0


NAMES = st.sampled_from(
    ["cases.csv", "payments.csv", "contacts.txt", "collectors.tsv", "cases.xlsx", "p.parquet"]
)
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(st.dictionaries(NAMES, st.binary(max_size=600), min_size=1, max_size=3))
def test_arbitrary_bytes_as_any_kind_of_file_never_crash(files: dict[str, bytes]) -> None:
    _every_row_kept_or_rejected(files, load_too=False)


def _valid_files() -> dict[str, bytes]:
    rows = night(TONIGHT, 4, seed=21)
    return {
        "cases.xlsx": _xlsx(rows.cases, CASE_COLUMNS),
        "payments.parquet": _parquet(rows.payments, PAYMENT_COLUMNS),
        "cases.csv": csv_text(CASE_COLUMNS, rows.cases).encode("gb18030"),
    }


VALID = _valid_files()


@PROPERTY
@given(
    st.sampled_from(sorted(VALID)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_damaged_workbooks_parquet_and_csv_never_crash(
    name: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(VALID[name])
    for at, value in flips:
        data[at % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    _every_row_kept_or_rejected({name: bytes(data)}, load_too=False)


CELL = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.sampled_from(
        [
            "",
            '"',
            ",",
            ";",
            "\n",
            "\r\n",
            "1e20",
            "99999999999999999999",
            "-0",
            "2026-02-30",
            "2026年11月23日",
            "1,234.50",
            "¥88",
            "是",
            "\u3000",
            "=1+1",
            "110105194912310021",
            "4111111111111111",
        ]
    ),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["cases", "payments", "contacts", "collectors"]),
    st.lists(st.lists(CELL, min_size=1, max_size=25), max_size=5),
    st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    st.randoms(use_true_random=False),
)
def test_arbitrary_cells_in_a_csv_are_loaded_or_rejected_never_crash_the_load(
    kind: str, rows: list[list[str | None]], encoding: str, rng: random.Random
) -> None:
    """Random cells in a file with the contract's header, through ingest, validate and load."""
    header = list(COLUMNS[kind])
    base = night(TONIGHT, 2, seed=1)
    template = {"cases": base.cases, "payments": base.payments, "contacts": base.contacts}
    good = template.get(kind, base.collectors)[0]
    records = []
    for cells in rows:  # a good row with some of its cells replaced (or cut short)
        record = [str(good.get(c) or "") for c in header]
        for i, cell in enumerate(cells[: len(header)]):
            if rng.random() < 0.5:
                record[i] = cell or ""
        records.append(record[: rng.randrange(len(header) - 2, len(header) + 1)])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *records])
    data = buffer.getvalue().encode(encoding, errors="replace")
    _every_row_kept_or_rejected({f"{kind}.csv": data}, load_too=True)
