"""A whole night on the samples, as `make demo` runs it, checked against CONTRACT.md's promises."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import parts
from pipeline.demo import run_demo
from pipeline.run import NightSummary, run_night
from pipeline.warehouse import select

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
TONIGHT = date(2026, 11, 23)
INCOMING = SAMPLES / "incoming" / TONIGHT.isoformat()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> NightSummary:
    base = tmp_path_factory.mktemp("night")
    return run_demo(SAMPLES, base / "home", base / "out", say=lambda _: None)


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, encoding="utf8")


def _worklists(out: Path) -> pl.DataFrame:
    frames = [_csv(p) for p in sorted((out / "worklists").glob("*.csv"))]
    return pl.concat(frames, how="diagonal")


def _warehouse(night: NightSummary) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        str(night.out_dir.parent.parent / "home" / "warehouse.duckdb"), read_only=True
    )


def test_every_active_case_ends_in_exactly_one_place(night: NightSummary) -> None:
    worked = _worklists(night.out_dir).select("client_id", "case_id")
    held = _csv(night.out_dir / "holds.csv").select("client_id", "case_id")
    placed = pl.concat([worked, held])
    assert placed.is_duplicated().sum() == 0, "a case is in two places"
    con = _warehouse(night)
    active = select(
        con,
        "select client_id, case_id from case_snapshots "
        "where business_date = ? and status = 'active'",
        [TONIGHT],
    )
    con.close()
    missing = active.join(placed, on=["client_id", "case_id"], how="anti")
    assert missing.height == 0, f"{missing.height} active cases are neither worked nor held"
    counts = night.manifest["counts"]
    assert counts["worked"] + counts["held"] == placed.height == counts["book"]


def test_no_collector_above_capacity_and_visits_within_cities(night: NightSummary) -> None:
    roster = _csv(INCOMING / "collectors.csv")
    capacity = {r["collector_id"]: int(r["daily_capacity"]) for r in roster.iter_rows(named=True)}
    cities = {
        r["collector_id"]: set(r["city"].split(";"))
        for r in roster.iter_rows(named=True)
        if r["city"]
    }
    worked = _worklists(night.out_dir)
    for collector_id, n in worked.group_by("collector_id").len().iter_rows():
        assert n <= capacity[collector_id], collector_id
    visits = worked.filter(pl.col("channel") == "visit")
    assert visits.height > 0
    for collector_id, city in visits.select("collector_id", "city").iter_rows():
        assert city in {c.strip() for c in cities[collector_id]}


def test_letters_only_where_r11_to_r13_allow(night: NightSummary) -> None:
    letters = _csv(night.out_dir / "letters.csv")
    assert letters.height > 0
    assert (letters.get_column("amount_owed").cast(pl.Float64) > 1000).all()
    con = _warehouse(night)
    status = select(
        con,
        "select client_id, case_id, status from case_snapshots where business_date = ?",
        [TONIGHT],
    )
    con.close()
    joined = letters.join(status, on=["client_id", "case_id"], how="left")
    assert (joined.get_column("status") == "active").all()


def test_rejected_lists_exactly_the_known_bad_rows(night: NightSummary) -> None:
    got = _csv(night.out_dir / "rejected.csv").select("file", "row", "column", "rule").unique()
    expected = (
        _csv(SAMPLES / "expected_rejects.csv").select("file", "row", "column", "rule").unique()
    )
    key = ["file", "row", "column", "rule"]
    assert got.sort(key).to_dicts() == expected.sort(key).to_dicts()


def _texts(out: Path) -> list[tuple[str, str]]:
    texts = []
    for path in sorted(out.rglob("*")):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                texts += [(f"{path}:{n}", book.read(n).decode("utf-8")) for n in book.namelist()]
        elif path.is_file():
            texts.append((str(path), path.read_text(encoding="utf-8-sig")))
    return texts


def test_no_full_id_or_card_number_in_any_output(night: NightSummary) -> None:
    con = _warehouse(night)
    secrets = {
        v
        for row in con.execute("select id_number, card_number from cases").fetchall()
        for v in row
        if v
    }
    con.close()
    assert len(secrets) > 1000
    for name, text in _texts(night.out_dir):
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{name} holds {len(leaked)} full id or card numbers"


def test_rerunning_the_night_publishes_the_same_allocation(
    night: NightSummary, tmp_path: Path
) -> None:
    home = night.out_dir.parent.parent / "home"
    again = run_night(TONIGHT, INCOMING, tmp_path / "again", home)
    skipped = {f["status"] for f in again.manifest["inputs"]}
    assert skipped == {"duplicate"}
    for path in sorted(night.out_dir.rglob("*.csv")):
        twin = tmp_path / "again" / path.relative_to(night.out_dir)
        assert twin.read_bytes() == path.read_bytes(), path.name


def _decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return select(
        con,
        "select * exclude (run_id) from decisions where business_date = ? "
        "order by client_id, case_id",
        [TONIGHT],
    )


def test_a_night_decided_in_parts_publishes_what_one_part_does(
    night: NightSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large book is scored and decided a part at a time (pipeline.parts); the samples' book,
    cut into several parts, gives the same files, counts, drift and allocation as one part."""
    home = night.out_dir.parent.parent / "home"
    monkeypatch.setattr(parts, "PART_CASES", 700)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert len(parts.night_parts(con, TONIGHT)) >= 4
        decided = _decisions(con)
    finally:
        con.close()
    cut = run_night(TONIGHT, INCOMING, tmp_path / "parts", home)
    # each part's decisions were stored as they were made: the same rows as the whole book's
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert decided.height > 3000
        assert_frame_equal(_decisions(con), decided)
        assert not list(home.glob(".night-parts-*"))  # the parts' files are removed
    finally:
        con.close()
    published = sorted(night.out_dir.rglob("*.csv"))
    assert len(published) > 50  # every worklist, the holds, letters, changes, rejects
    for path in published:
        twin = tmp_path / "parts" / path.relative_to(night.out_dir)
        assert twin.read_bytes() == path.read_bytes(), path.name
    for key in ("drift", "allocation"):
        assert cut.manifest[key] == night.manifest[key], key
    decided = ("book", "worked", "worked_by_channel", "held", "held_by_reason", "letters")
    for key in (*decided, "expected_recovery"):
        assert cut.manifest["counts"][key] == night.manifest["counts"][key], key
    assert night.manifest["drift"]["psi"]  # a model scored the night: the drift was counted


def test_the_report_and_manifest_are_there(night: NightSummary) -> None:
    assert (night.out_dir / "report.html").stat().st_size > 1000
    assert night.manifest["model"]["method"] == "model"
    for section in ("inputs", "counts", "timings_seconds", "policy_sha256"):
        assert section in night.manifest
    rows = list(
        csv.reader(io.StringIO((night.out_dir / "holds.csv").read_text(encoding="utf-8-sig")))
    )
    assert rows[0][:4] == ["client_id", "case_id", "customer_id", "reason"]


def test_the_allocation_is_proven_close_to_the_optimum_and_fair(night: NightSummary) -> None:
    allocation = night.manifest["allocation"]
    assert 0 <= allocation["gap_bound"] < 0.01
    assert allocation["objective"] <= allocation["upper_bound"] + 1e-6
    assert allocation["objective"] >= allocation["greedy_objective"] - 1e-6
    assert allocation["pools"] and all(p["within_bound"] for p in allocation["pools"])
    report = (night.out_dir / "report.html").read_text(encoding="utf-8")
    assert "Allocation: optimality and fairness" in report


def test_the_outputs_of_issue_6_are_there_and_add_up(night: NightSummary) -> None:
    out = night.out_dir
    for name in ("changes.csv", "scorecards.csv", "visits.csv", "visits.xlsx"):
        assert (out / name).is_file(), name
    assert sorted((out / "teams").glob("*.xlsx")), "a workbook per team"
    visits = _csv(out / "visits.csv")
    worked_visits = _worklists(out).filter(pl.col("channel") == "visit")
    assert visits.height == worked_visits.height > 0
    per_client = _csv(out / "letters_by_client.csv")
    letters = _csv(out / "letters.csv")
    assert per_client.get_column("letters").cast(pl.Int64).sum() == letters.height
    cards = _csv(out / "scorecards.csv")
    assert (
        cards.get_column("cases_allocated").cast(pl.Int64).sum()
        >= night.manifest["counts"]["worked"]
    )
    changes = _csv(out / "changes.csv")
    assert {"new case", "closed"} <= set(changes.get_column("change"))
    assert changes.get_column("reason").null_count() == 0


def test_the_day_after_answers_from_the_warehouse(night: NightSummary, tmp_path: Path) -> None:
    from pipeline.explain import explain_case
    from pipeline.export import export_night
    from pipeline.rebuild import rebuild_report

    home = night.out_dir.parent.parent / "home"
    con = _warehouse(night)
    latest = con.execute(
        "select run_id from runs where business_date = ? order by finished_at desc limit 1",
        [TONIGHT],
    ).fetchall()[0][0]
    con.close()
    page = rebuild_report(home, TONIGHT)  # of the latest run of the date (a re-run may follow)
    assert f"run {latest}" in page
    published = (night.out_dir / "report.html").read_text(encoding="utf-8")
    if latest == night.run_id:  # no re-run of the date came after: the very same page
        assert page == published
    for section in ("glance", "warnings", "training", "changes", "scorecards", "extensions"):
        assert f'<section id="{section}"' in page, section
    exported = export_night(home, TONIGHT, tmp_path, "csv")
    for name in exported.files:
        assert (tmp_path / name).read_bytes() == (night.out_dir / name).read_bytes(), name
    # A rejected row of a case the warehouse knew from an earlier night: both are told.
    text = explain_case(home, "EA0000022", TONIGHT).text()
    assert "id_number broke id_number_invalid" in text
    assert "the night used the case as an earlier file gave it" in text and "score:" in text


def test_reasons_are_worded_for_the_worked_cases_and_on_demand_for_a_held_one(
    night: NightSummary,
) -> None:
    """The night words the reasons of its worked cases only (issue 8: re-scoring every case
    for its reasons was most of the scoring), the very words scoring the whole book gives;
    `caseflow explain` words a held case's from the night's features and model."""
    from models.score import score_night
    from pipeline.explain import explain_case

    home = night.out_dir.parent.parent / "home"
    con = _warehouse(night)
    try:
        stored = select(
            con,
            "select client_id, case_id, placement, reasons from decisions where business_date = ?",
            [TONIGHT],
        )
        whole = score_night(con, home, TONIGHT).frame.select("client_id", "case_id", "reasons")
    finally:
        con.close()
    keys = ["client_id", "case_id"]
    worked = stored.filter(pl.col("placement") == "worked").join(whole, on=keys, suffix="_whole")
    assert worked.height > 500 and worked.get_column("reasons").null_count() == 0
    assert (worked.get_column("reasons") == worked.get_column("reasons_whole")).all()
    published = _worklists(night.out_dir).select(*keys, "reasons")
    assert published.height == worked.height
    assert_frame_equal(
        published.sort(keys), worked.select(*keys, "reasons").sort(keys), check_dtypes=False
    )
    held = stored.filter(pl.col("placement") == "held")
    assert held.get_column("reasons").null_count() == held.height  # none stored
    case = held.join(whole, on=keys).filter(pl.col("reasons_right").is_not_null()).row(0)
    text = explain_case(home, case[1], TONIGHT, case[0]).text()
    assert f"reasons: {case[4]}" in text, text


def test_issue_4_one_debtor_one_decision_on_the_worklists(night: NightSummary) -> None:
    frames = [_csv(p) for p in sorted((night.out_dir / "worklists").glob("*.csv"))]
    every = pl.concat(frames, how="diagonal")
    # no debtor is worked by two collectors, and every row of a debtor shows its total owed
    per_debtor = every.group_by("debtor_ref").agg(
        pl.col("collector_id").n_unique().alias("collectors"),
        pl.col("debtor_total_owed").n_unique().alias("totals"),
        pl.struct("client_id", "customer_id").n_unique().alias("keys"),
    )
    assert per_debtor.filter(pl.col("collectors") > 1).is_empty()
    assert per_debtor.filter(pl.col("totals") > 1).is_empty()
    assert per_debtor.select(pl.col("keys").max()).item() == 1  # one reference, one debtor
    for frame in frames:  # a debtor's rows are adjacent on its worklist
        refs = frame.sort(pl.col("rank").cast(pl.Int64)).get_column("debtor_ref").to_list()
        runs = [r for i, r in enumerate(refs) if i == 0 or refs[i - 1] != r]
        assert len(runs) == len(set(runs))
    assert every.get_column("cycle_week").cast(pl.Int32).is_between(1, 5).all()
    phone = every.filter(pl.col("channel") == "phone")
    assert phone.get_column("attempts_allowed").null_count() == 0
    assert phone.get_column("connected_calls_allowed").null_count() == 0
    # trace (third-party contact) only for debtors unreachable lately: not half the book
    assert every.filter(pl.col("action").str.starts_with("trace")).height < every.height / 10


def test_issue_4_the_night_reports_its_evidence(night: NightSummary) -> None:
    strategy = night.manifest["strategy"]
    assert {e["channel"] for e in strategy["channel_effects"]} == {"phone", "visit", "letter"}
    assert all(e["contacts"] > 0 for e in strategy["channel_effects"])
    assert {g["group"] for g in strategy["groups"]} == {"champion", "challenger"}
    report = (night.out_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="strategy"' in report and 'id="cycle"' in report
