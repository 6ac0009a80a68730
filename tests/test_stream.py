"""stream: a Parquet file read, validated and loaded in batches gives what reading it whole gave.

The batch size is lowered to a few rows, so that the cases of interest (a duplicate key split
across batches, a row replaced by a later file, a reject in a later batch, a file damaged past
its first batch) fall across batches; each night is also loaded the whole-file way (ingest,
validate, load, as before issue 8) into a second warehouse, and every table must be the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import stream, warehouse
from pipeline.errors import CaseflowError
from pipeline.headers import COLUMNS
from pipeline.ingest import ParquetSource, ingest, open_parquet
from pipeline.load import load
from pipeline.run import _refused_files, load_night
from pipeline.validate import validate
from tests.nights import Night, csv_text, night, warehouse_state

TONIGHT = date(2026, 11, 23)
BATCH = 2  # rows a batch: rows 1-2, 3-4, 5-6, ...


def note(n: int, **changes: Any) -> dict[str, Any]:
    """A good note on case n of the night's cases (tests.nights.night)."""
    return {
        "note_id": f"N{n:04d}",
        "case_id": f"EA{n:07d}",
        "client_id": "EASTBANK",
        "collector_id": "P001",
        "channel": "phone",
        "contacted_at": "2026-11-21 10:00:00",
        "outcome": "no_answer",
        "promise_amount": None,
        "promise_date": None,
        "complaint": "false",
        **changes,
    }


def write_parquet(path: Path, rows: list[dict[str, Any]], **options: Any) -> Path:
    columns = {c: [r.get(c) for r in rows] for c in COLUMNS["contacts"]}
    schema = pa.schema([(c, pa.string()) for c in columns])
    pq.write_table(pa.table(columns, schema=schema), path, **options)
    return path


def folder_with(tmp_path: Path, **parquets: list[dict[str, Any]]) -> Path:
    """Tonight's folder: 20 cases and the roster as CSV, and the given contacts files."""
    folder = tmp_path / "in" / TONIGHT.isoformat()
    rows = night(TONIGHT, n_cases=20)
    rows.contacts = []
    rows.write(folder)
    for name, notes in parquets.items():
        write_parquet(folder / f"{name}.parquet", notes)
    return folder


def streamed(folder: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> pl.DataFrame:
    """The night loaded as caseflow loads it (in batches of BATCH rows); its reject lines."""
    monkeypatch.setattr(stream, "BATCH_ROWS", BATCH)
    _, checked, _ = load_night(folder, home, TONIGHT)
    return checked.rejects


def whole(folder: Path, home: Path) -> pl.DataFrame:
    """The night loaded the whole-file way (every file read, validated and loaded whole)."""
    con = warehouse.connect(home)
    try:
        received = ingest(folder, home, TONIGHT, {})
        checked = validate(received.tables, TONIGHT)
        refused = _refused_files(received.files)
        rejects = pl.concat([checked.rejects, refused], how="vertical_relaxed")
        load(con, checked.frames, rejects, received.files, TONIGHT)
    finally:
        con.close()
    return checked.rejects


def same_as_whole(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pl.DataFrame:
    """Load the night both ways; the warehouses and reject lines must be the same."""
    in_batches = streamed(folder, tmp_path / "streamed", monkeypatch)
    at_once = whole(folder, tmp_path / "whole")
    assert in_batches.to_dicts() == at_once.to_dicts()
    assert warehouse_state(tmp_path / "streamed") == warehouse_state(tmp_path / "whole")
    return in_batches


def lines(rejects: pl.DataFrame, rule: str) -> list[tuple[str, int, str, str | None]]:
    found = rejects.filter(pl.col("rule") == rule)
    return [(r["file"], r["row"], r["column"], r["value"]) for r in found.iter_rows(named=True)]


def _rows(home: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    """The rows of ``sql`` in the warehouse of ``home``, read-only."""
    con = warehouse.connect(home, read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def notes_loaded(home: Path) -> dict[str, str]:
    return {str(k): str(v) for k, v in _rows(home, "select note_id, outcome from contacts")}


def test_a_duplicate_note_split_across_batches_is_rejected_as_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rows 1 and 4 share a note id: batches 1-2 and 3-4 each hold one of them
    notes = [note(1), note(2), note(3), note(1, outcome="refused"), note(5)]
    folder = folder_with(tmp_path, contacts=notes)
    rejects = same_as_whole(folder, tmp_path, monkeypatch)
    assert lines(rejects, "duplicate_key") == [
        ("contacts.parquet", 1, "note_id", "N0001"),
        ("contacts.parquet", 4, "note_id", "N0001"),
    ]
    assert sorted(notes_loaded(tmp_path / "streamed")) == ["N0002", "N0003", "N0005"]


def test_a_duplicate_in_one_batch_and_a_blank_key_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a pair within one batch, a key with white space around it, blank keys (required, not
    # duplicate_key), and a note id used by two clients (not a duplicate)
    notes = [
        note(1),
        note(1),
        note(3, note_id=" N0003 "),
        note(4, note_id=""),
        note(5, note_id="N0003"),
        note(6, note_id=""),
        note(7, note_id="N0007", client_id="WESTBANK"),
        note(8, note_id="N0007"),
    ]
    folder = folder_with(tmp_path, contacts=notes)
    rejects = same_as_whole(folder, tmp_path, monkeypatch)
    assert [row for _, row, _, _ in lines(rejects, "duplicate_key")] == [1, 2, 3, 5]
    assert [row for _, row, _, _ in lines(rejects, "required")] == [4, 6]


def test_a_later_file_supersedes_a_row_in_any_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = [note(1), note(2), note(3), note(4), note(5)]
    # the correction of note 4 stands in the second batch of the later file; its correction
    # of note 5 is itself invalid, so the earlier note 5 stays (superseded reads valid rows)
    later = [note(6), note(7), note(4, outcome="refused"), note(5, outcome="flying")]
    folder = folder_with(tmp_path, contacts_a=first, contacts_b=later)
    rejects = same_as_whole(folder, tmp_path, monkeypatch)
    assert lines(rejects, "superseded") == [
        ("contacts_a.parquet", 4, "note_id", "by contacts_b.parquet row 3")
    ]
    loaded = notes_loaded(tmp_path / "streamed")
    assert loaded["N0004"] == "refused"
    assert loaded["N0005"] == "no_answer"


def test_rows_of_a_later_batch_keep_their_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = [note(n) for n in range(1, 8)]
    notes[4] = note(5, outcome="flying")  # row 5: the third batch's first row
    notes[6] = note(7, contacted_at="23/11/2026")  # row 7: the fourth batch
    folder = folder_with(tmp_path, contacts=notes)
    rejects = same_as_whole(folder, tmp_path, monkeypatch)
    assert [(r["row"], r["rule"]) for r in rejects.iter_rows(named=True)] == [
        (5, "unknown_value"),
        (7, "unreadable_timestamp"),
    ]


def test_a_typed_parquet_beside_a_text_file_reads_as_text_in_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_with(tmp_path)
    typed = pl.DataFrame([note(n) for n in range(1, 6)]).with_columns(
        pl.Series("promise_amount", [100.5, None, 1e13, -3.0, 20.0], dtype=pl.Float64),
        pl.col("contacted_at").str.to_datetime(),
    )
    typed.write_parquet(folder / "contacts_a.parquet")
    text = [note(n, promise_amount="1,200.00元") for n in range(6, 9)]
    (folder / "contacts_b.csv").write_text(csv_text(COLUMNS["contacts"], text), encoding="utf-8")
    rejects = same_as_whole(folder, tmp_path, monkeypatch)
    assert {(r["file"], r["row"]) for r in rejects.iter_rows(named=True)} == {
        ("contacts_a.parquet", 3),
        ("contacts_a.parquet", 4),
    }


def damaged_after_first_batch(path: Path) -> None:
    """Overwrite the page header of the outcome column (not a key) in the file's last row
    group: its footer (and so its first batches) still read, the last batch does not."""
    metadata = pq.read_metadata(path)
    column = COLUMNS["contacts"].index("outcome")
    offset = metadata.row_group(metadata.num_row_groups - 1).column(column).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 24] = b"\xff" * 24
    path.write_bytes(bytes(data))


def test_a_parquet_file_damaged_past_its_first_batch_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_with(tmp_path, contacts_a=[note(1), note(2)])
    bad = write_parquet(
        folder / "contacts_b.parquet",
        [note(n) for n in range(3, 9)],
        row_group_size=BATCH,
        use_dictionary=False,
        compression="none",
    )
    damaged_after_first_batch(bad)
    source: ParquetSource = open_parquet(bad, bad.name)  # its footer reads
    assert next(source.batches(BATCH)).height == BATCH  # and so does its first batch

    rejects = same_as_whole(folder, tmp_path, monkeypatch)
    home = tmp_path / "streamed"
    assert sorted(notes_loaded(home)) == ["N0001", "N0002"]  # nothing of the damaged file
    con = warehouse.connect(home, read_only=True)
    try:
        refused = con.execute(
            "select file, row, rule, value from rejects where rule = 'file_refused'"
        ).fetchall()
        cases = con.execute("select count(*) from cases").fetchall()
    finally:
        con.close()
    assert [r[:3] for r in refused] == [("contacts_b.parquet", 0, "file_refused")]
    assert "not a readable Parquet file" in refused[0][3]
    assert cases == [(20,)]
    assert rejects.is_empty()


def test_the_archived_copy_is_the_file_and_read_from(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, contacts=[note(1)])
    received = ingest(folder, tmp_path / "home", TONIGHT, {}, stream_parquet=True)
    (source,) = received.sources
    (record,) = [f for f in received.files if f.name == "contacts.parquet"]
    assert source.path == Path(record.archived_path)
    assert source.path.read_bytes() == (folder / "contacts.parquet").read_bytes()
    assert record.sha256 in source.path.name or source.path.name.startswith(record.sha256[:16])


def _case_sent_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """Tonight loaded in batches: 6 cases, the fifth sent again in a later file (owing 1,234);
    the home and that case's id."""
    monkeypatch.setattr(stream, "BATCH_ROWS", BATCH)
    home = tmp_path / "home"
    first = night(TONIGHT, n_cases=6)
    folder = first.write(tmp_path / "in" / TONIGHT.isoformat())
    Night(TONIGHT, cases=[{**first.cases[4], "amount_owed": 1234}]).write(folder, suffix="_b")
    load_night(folder, home, TONIGHT)
    return home, str(first.cases[4]["case_id"])


def test_a_case_sent_twice_in_a_night_and_again_the_next_stays_one_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cases have no PRIMARY KEY (issue 8): the load alone keeps one row per case, across files,
    # batches and nights
    home, _ = _case_sent_twice(tmp_path, monkeypatch)
    tomorrow = TONIGHT + timedelta(days=1)
    load_night(
        night(tomorrow, n_cases=8).write(tmp_path / "in" / tomorrow.isoformat()), home, tomorrow
    )
    repeated = "select client_id, case_id from cases group by all having count(*) > 1"
    assert _rows(home, repeated) == []
    assert _rows(home, "select count(*) from cases") == [(8,)]


def test_the_later_file_of_a_night_sets_a_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, case_id = _case_sent_twice(tmp_path, monkeypatch)
    found = "select amount_owed, source_file from cases where case_id = ?"
    assert _rows(home, found, [case_id]) == [(1234, "cases_b.csv")]


def test_read_ahead_keeps_the_order_makes_one_ahead_and_raises_where_the_error_was() -> None:
    """stream.read_ahead: the next batch is read and validated while this one is appended, but
    never more than one ahead (each is a few hundred MB), and a file that fails in its third
    batch fails the load there, after the two before it, with its own error."""
    made: list[int] = []

    def batches() -> Iterator[int]:
        for n in range(3):
            made.append(n)
            yield n
        raise CaseflowError("contacts.parquet, read again after it was read through")

    got = []
    with pytest.raises(CaseflowError, match="read again after it was read through"):
        for n in stream.read_ahead(batches()):
            assert len(made) <= n + 2  # this one and at most the next
            got.append(n)
    assert got == [0, 1, 2]


def test_explain_finds_a_rejected_row_of_a_parquet_file_by_its_keys_alone(tmp_path: Path) -> None:
    """``caseflow explain`` reads only the keys of an archived Parquet file to find the rejected
    rows of a case (a large night's notes are tens of millions of rows): the same rows and
    numbers as reading it whole."""
    from pipeline.explain import explain_case
    from pipeline.ingest import read_file
    from pipeline.run import run_night

    notes = [note(n) for n in range(1, 7)]
    notes[2] = note(3, outcome="bogus")  # row 3 of the file: an outcome not in the contract
    folder = folder_with(tmp_path, contacts_a=notes)
    home = tmp_path / "home"
    run_night(TONIGHT, folder, tmp_path / "out" / TONIGHT.isoformat(), home)
    text = explain_case(home, "EA0000003", TONIGHT, "EASTBANK").text()
    assert "contacts_a.parquet row 3: column outcome broke unknown_value" in text, text
    assert "rejected that night" not in explain_case(home, "EA0000004", TONIGHT).text()
    data = (folder / "contacts_a.parquet").read_bytes()
    _, keys, _ = read_file(data, "contacts_a.parquet", only=("client_id", "case_id"))
    _, every, _ = read_file(data, "contacts_a.parquet")
    assert keys.get_column("outcome").null_count() == keys.height  # not read
    assert keys.select("client_id", "case_id", "_row").equals(
        every.select("client_id", "case_id", "_row")
    )
