"""report.html: the ops lead's page is self-contained, escaped, charted and tells the truth."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from pipeline.assemble import WORKLIST_COLUMNS, NightFrames
from pipeline.report import (
    SCORE_BINS,
    ReportData,
    build_report_data,
    render_report,
    score_bins,
)
from tests.factories import TONIGHT, collector, roster

# The charts issue 6 asks for: channel mix, capacity per pool, value per collector, scores
# against training, rejected rows by rule, extensions due; and holds, changes, scorecards.
CHART_SECTIONS = {
    "channels",
    "capacity",
    "collectors",
    "scores",
    "training",
    "rejects",
    "holds",
    "extensions",
    "changes",
    "scorecards",
}

WORKLIST_SCHEMA: dict[str, Any] = {
    "collector_id": pl.Utf8,
    "collector_name": pl.Utf8,
    "team": pl.Utf8,
    "rank": pl.Int32,
    "case_id": pl.Utf8,
    "client_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "customer_name": pl.Utf8,
    "phone": pl.Utf8,
    "id_number": pl.Utf8,
    "card_number": pl.Utf8,
    "city": pl.Utf8,
    "district": pl.Utf8,
    "address": pl.Utf8,
    "amount_owed": pl.Float64,
    "debtor_total_owed": pl.Float64,
    "days_overdue": pl.Int32,
    "overdue_stage": pl.Utf8,
    "p_repay": pl.Float64,
    "expected_recovery": pl.Float64,
    "channel": pl.Utf8,
    "action": pl.Utf8,
    "reasons": pl.Utf8,
    "call_window": pl.Utf8,
    "return_date": pl.Date,
    "extension_due": pl.Boolean,
    "attempts_allowed": pl.Int32,
    "connected_calls_allowed": pl.Int32,
    "debtor_ref": pl.Utf8,
    "cycle": pl.Int32,
    "cycle_week": pl.Int32,
}
HOLD_SCHEMA: dict[str, Any] = {
    "client_id": pl.Utf8,
    "case_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "reason": pl.Utf8,
    "detail": pl.Utf8,
}
LETTER_SCHEMA: dict[str, Any] = {
    "client_id": pl.Utf8,
    "case_id": pl.Utf8,
    "customer_name": pl.Utf8,
    "address": pl.Utf8,
    "city": pl.Utf8,
    "amount_owed": pl.Float64,
    "reference": pl.Utf8,
    "collector_id": pl.Utf8,
}
REJECT_SCHEMA: dict[str, Any] = {
    "file": pl.Utf8,
    "row": pl.Int64,
    "kind": pl.Utf8,
    "column": pl.Utf8,
    "rule": pl.Utf8,
    "value": pl.Utf8,
}
SECRET_PHONE = "13912345678"


@dataclass(frozen=True)
class FakeScores:
    """The attributes of models.score.Scores that report.py may use."""

    frame: pl.DataFrame
    method: str = "model"
    model_version: str | None = "2026-11-20-a1"
    model_sha256: str | None = "ab" * 32


def work(collector_id: str, rank: int, case_id: str, **overrides: Any) -> dict[str, Any]:
    """One worklist row as assemble builds it: phone work, id and card already masked."""
    row: dict[str, Any] = {
        "collector_id": collector_id,
        "collector_name": f"name {collector_id}",
        "team": "phone-1",
        "rank": rank,
        "case_id": case_id,
        "client_id": "EASTBANK",
        "customer_id": f"C-{case_id}",
        "customer_name": "张三",
        "phone": SECRET_PHONE,
        "id_number": "110101********4477",
        "card_number": "****3445",
        "city": "上海",
        "district": "浦东新区",
        "address": None,
        "amount_owed": 5000.0,
        "debtor_total_owed": 5000.0,
        "days_overdue": 45,
        "overdue_stage": "M2",
        "p_repay": 0.3,
        "expected_recovery": 1500.0,
        "channel": "phone",
        "action": "call: collect",
        "reasons": "right-party contact; 45 days overdue",
        "call_window": "08:00-22:00",
        "return_date": TONIGHT + timedelta(days=70),
        "extension_due": False,
        "attempts_allowed": 6,
        "connected_calls_allowed": 3,
        "debtor_ref": f"D{case_id:0>10}",
        "cycle": 0,
        "cycle_week": 3,
    }
    row.update(overrides)
    return row


def worklists(*rows: dict[str, Any]) -> pl.DataFrame:
    frame = pl.DataFrame(list(rows), schema=WORKLIST_SCHEMA)
    assert tuple(frame.columns) == WORKLIST_COLUMNS
    return frame


def holds(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"client_id": "EASTBANK", "case_id": c, "customer_id": f"C-{c}", "reason": r}
            | {"detail": d}
            for c, r, d in rows
        ],
        schema=HOLD_SCHEMA,
    )


def letters(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=LETTER_SCHEMA)


def rejects(*rows: tuple[str, int, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"file": f, "row": r, "kind": "cases", "column": c, "rule": rule, "value": v}
            for f, r, c, rule, v in rows
        ],
        schema=REJECT_SCHEMA,
    )


def sample_night() -> tuple[NightFrames, pl.DataFrame, FakeScores, pl.DataFrame, dict[str, Any]]:
    """A small night: two phone collectors, a visit and a letter collector, holds, rejects."""
    wl = worklists(
        work("P1", 1, "K1", p_repay=0.81, expected_recovery=4050.0),
        work("P1", 2, "K2", p_repay=0.42, expected_recovery=2100.0, extension_due=True),
        work("P2", 1, "K3", p_repay=0.10, expected_recovery=500.0),
        work(
            "V1",
            1,
            "K4",
            team="visit-1",
            channel="visit",
            phone=None,
            address="上海市浦东新区某路1号",
            action="visit: collect (carry contract, plan form, note form)",
            expected_recovery=9000.0,
            p_repay=0.6,
        ),
        work(
            "L1",
            1,
            "K5",
            team="letter-1",
            channel="letter",
            phone=None,
            address="上海市黄浦区某路2号",
            action="send demand letter (registered mail)",
            expected_recovery=300.0,
            p_repay=0.05,
        ),
    )
    night = NightFrames(
        worklists=wl,
        holds=holds(
            ("K6", "paid", None), ("K7", "over capacity", "extension due"), ("K8", "paid", None)
        ),
        letters=letters(
            {
                "client_id": "EASTBANK",
                "case_id": "K5",
                "customer_name": "张三",
                "address": "上海市黄浦区某路2号",
                "city": "上海",
                "amount_owed": 5000.0,
                "reference": "EASTBANK-K5",
                "collector_id": "L1",
            }
        ),
    )
    people = roster(
        collector("P1", "phone", 10),
        collector("P2", "phone", 5),
        collector("P3", "phone", 8, active=False),
        collector("V1", "visit", 4),
        collector("L1", "letter", 50),
    )
    scored = pl.DataFrame(
        {
            "client_id": ["EASTBANK"] * 8,
            "case_id": [f"K{i}" for i in range(1, 9)],
            "p_repay": [0.81, 0.42, 0.10, 0.6, 0.05, 0.99, 1.0, 0.0],
            "expected_recovery": [4050.0, 2100.0, 500.0, 9000.0, 300.0, 0.0, 10.0, 0.0],
            "reasons": ["r"] * 8,
        }
    )
    bad = rejects(
        ("cases.csv", 7, "id_number", "id_checksum", "110101********4470"),
        ("cases.csv", 7, "phone", "phone_format", "139*****78"),
        ("cases.csv", 9, "amount_owed", "not_a_number", "abc"),
        ("payments.csv", 3, "amount", "not_a_number", "x"),
    )
    manifest: dict[str, Any] = {
        "run_id": "20261123-0a1b2c3d",
        "business_date": TONIGHT.isoformat(),
        "inputs": [
            {
                "file": "cases.csv",
                "sha256": "cd" * 32,
                "kind": "cases",
                "status": "read",
                "rows": 12,
                "message": None,
            }
        ],
        "model": {"method": "model", "version": "2026-11-20-a1", "sha256": "ab" * 32},
        "policy_sha256": "ef" * 32,
        "rule_pack": "cn-2026",
        "counts": {"book": 8, "rows_rejected": 3, "worked": 5, "held": 3, "letters": 1},
        "warnings": [],
        "timings_seconds": {"ingest": 0.5, "validate": 0.25, "score": 1.0},
    }
    return night, people, FakeScores(scored), bad, manifest


def sample_report(**overrides: Any) -> ReportData:
    night, people, scores, bad, manifest = sample_night()
    data = build_report_data(manifest, night, people, scores, bad)  # type: ignore[arg-type]
    return replace(data, **overrides)


def _sections(page: str) -> dict[str, str]:
    found = re.findall(r'<section id="([\w-]+)" class="chart">(.*?)</section>', page, re.S)
    return dict(found)


def test_the_page_loads_nothing_from_the_network() -> None:
    page = render_report(sample_report())
    assert "http://" not in page and "https://" not in page
    for tag in ("<script", "<link", "<iframe", "<img", "@import", "url("):
        assert tag not in page.lower(), tag
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page


def test_every_chart_section_holds_an_svg_chart() -> None:
    sections = _sections(render_report(sample_report()))
    assert set(sections) == CHART_SECTIONS
    for name, content in sections.items():
        assert "<svg" in content and "</svg>" in content, name


def test_an_empty_night_still_renders_every_chart() -> None:
    night, people, scores, _, manifest = sample_night()
    empty = NightFrames(
        worklists=night.worklists.clear(), holds=night.holds.clear(), letters=night.letters.clear()
    )
    data = build_report_data(
        manifest,
        empty,
        people,
        FakeScores(scores.frame.clear()),  # type: ignore[arg-type]
        rejects(),
    )
    sections = _sections(render_report(data))
    assert set(sections) == CHART_SECTIONS
    assert all("<svg" in s for s in sections.values())


def test_rule_fallback_shows_a_banner_telling_to_train() -> None:
    page = render_report(sample_report(method="rule", model_version=None, model_sha256=None))
    banner = re.search(r'<div class="banner warn" id="rule-fallback">(.*?)</div>', page, re.S)
    assert banner is not None
    assert "R6 rule" in banner.group(1) and "caseflow train" in banner.group(1)
    assert "rule-fallback" not in render_report(sample_report())


def test_the_glance_counts_follow_the_night() -> None:
    data = sample_report()
    assert (data.book, data.worked, data.held, data.letters) == (8, 5, 3, 1)
    assert data.rows_rejected == 3
    assert data.expected_recovery == 4050.0 + 2100.0 + 500.0 + 9000.0 + 300.0
    assert (data.extension_due_worked, data.extension_due_held) == (1, 1)
    assert data.held_by_reason == (("paid", 2), ("over capacity", 1))
    assert [c for c, _, _ in data.worked_by_channel] == ["phone", "visit", "letter"]
    assert data.worked_by_channel[0][1:] == (3, 6650.0)


def test_rejects_count_input_rows_per_rule_and_file() -> None:
    data = sample_report()
    assert dict(data.rejects_by_rule) == {
        "not_a_number": 2,
        "id_checksum": 1,
        "phone_format": 1,
    }
    # cases.csv row 7 failed two rules but is one row.
    assert dict(data.rejects_by_file) == {"cases.csv": 2, "payments.csv": 1}


def test_capacity_use_is_per_team_and_ignores_collectors_on_leave() -> None:
    capacity = {c.team: c for c in sample_report().capacity}
    phone = capacity["phone-1"]
    assert (phone.used, phone.capacity, phone.collectors, phone.on_leave) == (3, 15, 2, 1)
    assert (capacity["visit-1"].used, capacity["visit-1"].capacity) == (1, 4)
    # The collector on leave is not listed with work; the others are, best first.
    ids = [c.collector_id for c in sample_report().collectors]
    assert ids == ["V1", "P1", "P2", "L1"]


def test_score_bins_cover_zero_to_one_inclusive() -> None:
    bins = score_bins(pl.Series([0.0, 0.049, 0.05, 0.5, 0.999, 1.0, None, float("nan")]))
    assert len(bins) == SCORE_BINS
    assert sum(bins) == 6
    assert bins[0] == 2 and bins[1] == 1 and bins[10] == 1 and bins[-1] == 2
    data = sample_report()
    assert sum(data.score_bins_all) == data.scored == 8
    assert sum(data.score_bins_worked) == data.worked


def test_every_text_is_escaped_and_no_debtor_detail_reaches_the_page() -> None:
    night, people, scores, bad, manifest = sample_night()
    people = people.with_columns(
        pl.when(pl.col("collector_id") == "P1")
        .then(pl.lit("<script>alert(1)</script>"))
        .otherwise(pl.col("name"))
        .alias("name")
    )
    manifest["warnings"] = ["<b>bold</b> warning about 6222020200112233445"]
    page = render_report(
        build_report_data(manifest, night, people, scores, bad)  # type: ignore[arg-type]
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "6222020200112233445" not in page
    for secret in (SECRET_PHONE, "110101********4470", "上海市浦东新区某路1号", "张三"):
        assert secret not in page


def test_the_page_shows_warnings_timings_and_the_model() -> None:
    page = render_report(sample_report(warnings=("two files came late",)))
    assert "two files came late" in page
    assert "2026-11-20-a1" in page and "ingest" in page and "1.750" in page  # total seconds


def test_thousands_of_collectors_keep_the_page_small() -> None:
    n = 1500
    wl = worklists(*(work(f"P{i:04d}", 1, f"K{i}", expected_recovery=float(i)) for i in range(n)))
    people = roster(*(collector(f"P{i:04d}", "phone", 20) for i in range(n)))
    night = NightFrames(worklists=wl, holds=holds(), letters=letters())
    scored = wl.select("client_id", "case_id", "p_repay", "expected_recovery", "reasons")
    _, _, _, bad, manifest = sample_night()
    data = build_report_data(manifest, night, people, FakeScores(scored), bad)  # type: ignore[arg-type]
    page = render_report(data)
    assert len(page.encode()) < 1_000_000
    chart = _sections(page)["collectors"].split("<details>")[0]
    assert chart.count("<rect") <= 61  # the best and worst 30, and a gap
    assert "P1499" in chart and "P0000" in chart and "1,440 more" in chart


# --- the review: drift, changes, scorecards, rules, extensions ---------------------------------


def sample_review(**overrides: Any) -> Any:
    """A NightReview of sample_night: deciles, two changes, two scorecards."""
    from pipeline.changes import CHANGE_SCHEMA, DECISION_SCHEMA
    from pipeline.review import NightReview
    from pipeline.scorecards import SCORECARD_SCHEMA

    night, *_ = sample_night()
    rows = []
    for r in night.worklists.iter_rows(named=True):
        rows.append(
            {name: None for name in DECISION_SCHEMA}
            | {
                "client_id": r["client_id"],
                "case_id": r["case_id"],
                "status": "active",
                "p_repay": r["p_repay"],
                "placement": "worked",
                "collector_id": r["collector_id"],
                "channel": r["channel"],
                "verified": r["case_id"] != "K3",
                "letter_rule": "R11: owed at or below 1,000 yuan" if r["case_id"] == "K1" else None,
            }
        )
    for case_id, reason in (("K6", "paid"), ("K7", "over capacity"), ("K8", "paid")):
        rows.append(
            {name: None for name in DECISION_SCHEMA}
            | {
                "client_id": "EASTBANK",
                "case_id": case_id,
                "status": "paid" if reason == "paid" else "active",
                "p_repay": 0.5,
                "placement": "held",
                "hold_reason": reason,
            }
        )
    changes = pl.DataFrame(
        [
            {
                "client_id": "EASTBANK",
                "customer_id": "C-K1",
                "case_id": "K1",
                "change": "collector changed",
                "before": "P3 (phone)",
                "after": "P1 (phone)",
                "reason": "P3 is on leave tonight",
                "reason_kind": "previous collector on leave",
            },
            {
                "client_id": "EASTBANK",
                "customer_id": "C-K6",
                "case_id": "K6",
                "change": "closed",
                "before": "active",
                "after": "paid",
                "reason": "paid in full",
                "reason_kind": "paid",
            },
        ],
        schema=CHANGE_SCHEMA,
    )
    card = {
        "collector_name": "name P1",
        "team": "phone-1",
        "channel": "phone",
        "cycle_start": TONIGHT - timedelta(days=29),
        "cycle_end": TONIGHT,
        "cases_allocated": 40,
        "cases_worked": 35,
        "attempts": 120,
        "right_party_contacts": 30,
        "promises": 9,
        "promises_due": 8,
        "promises_kept": 5,
        "kept_rate": 0.625,
        "amount_recovered": 23456.78,
        "complaints": 2,
    }
    cards = pl.DataFrame(
        [{"collector_id": "P1"} | card, {"collector_id": "P2"} | card | {"complaints": 0}],
        schema=SCORECARD_SCHEMA,
    )
    fields: dict[str, Any] = {
        "decisions": pl.DataFrame(rows, schema=DECISION_SCHEMA),
        "changes": changes,
        "scorecards": cards,
        "compared_with": "the night of 2026-11-22",
        "cycle_start": TONIGHT - timedelta(days=29),
        "training_deciles": (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0),
    }
    fields.update(overrides)
    return NightReview(**fields)


def reviewed_report(**overrides: Any) -> ReportData:
    night, people, scores, bad, manifest = sample_night()
    return build_report_data(
        manifest,
        night,
        people,
        scores,  # type: ignore[arg-type]
        bad,
        sample_review(**overrides),
    )


def test_the_glance_holds_cases_in_rejected_held_by_reason_channels_and_recovery() -> None:
    page = render_report(reviewed_report())
    glance = re.search(r'<section id="glance">(.*?)</section>', page, re.S)
    assert glance is not None
    text = glance.group(1)
    for label in ("cases in the book", "input rows rejected", "expected recovery"):
        assert label in text
    assert "held by reason" in text and "over capacity" in text
    assert "worked by channel" in text and "phone" in text and "¥15,950" in text


def test_tonight_is_compared_with_the_models_held_out_deciles() -> None:
    data = reviewed_report()
    # Active cases only (K6, K8 are paid): p 0.81, 0.42, 0.10, 0.6, 0.05, 0.5.
    assert data.tonight_deciles == (0, 1, 0, 1, 1, 1, 0, 0, 1, 1)
    assert data.psi is not None and data.psi > 0.25
    page = render_report(data)
    assert "score drift" in page and "PSI" in page
    assert "decile 1 (p ≥ 90.0%)" in page


def test_a_night_like_training_raises_no_drift_warning() -> None:
    from pipeline.report import decile_counts, population_stability

    lowest = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)
    even = pl.Series([i / 100 + 0.005 for i in range(100)])
    counts = decile_counts(even, lowest)
    assert counts == (10,) * 10 and population_stability(counts) == 0.0
    stable = reviewed_report(training_deciles=None)
    assert stable.psi is None and "score drift" not in render_report(stable)
    assert "No training distribution" in render_report(stable)


def test_changes_since_the_night_before_are_counted_with_their_reasons() -> None:
    data = reviewed_report()
    assert data.changes == (("closed", 1, 1), ("collector changed", 1, 1))
    assert ("collector changed", "previous collector on leave", 1) in data.change_reasons
    section = _sections(render_report(data))["changes"]
    assert "the night of 2026-11-22" in section and "previous collector on leave" in section


def test_scorecards_show_recovery_promises_kept_and_complaints() -> None:
    data = reviewed_report()
    assert [c.collector_id for c in data.scorecards] == ["P1", "P2"]
    section = _sections(render_report(data))["scorecards"]
    assert "¥23,457 · kept 5/8 · 2 complaints" in section
    assert "R25" in render_report(data) and "2026-10-25" in section


def test_extensions_due_are_charted_per_client_worked_and_held() -> None:
    data = reviewed_report()
    assert data.extensions_by_client == (("EASTBANK", 1, 1),)
    assert "1 worked, 1 held" in _sections(render_report(data))["extensions"]


def test_rules_and_caps_that_shaped_the_night_are_listed() -> None:
    data = reviewed_report()
    rules = {(r, what): n for r, what, n in data.rules}
    assert rules[("hold", "paid")] == 2
    assert rules[("R19", "first contact verifies identity before any collection")] == 1
    assert rules[("no letter", "R11: owed at or below 1,000 yuan")] == 1
    # P1 has 2 of 10 cases, nobody is full: no cap warning.
    assert data.caps_hit == ()
    full = replace(data, caps_hit=("capacity cap reached: 4 of 4 collectors were full",))
    assert "capacity cap reached" in render_report(full)


def test_warnings_come_first_after_the_glance() -> None:
    page = render_report(
        reviewed_report(),
    )
    assert page.index('id="warnings"') < page.index('id="channels"')


def test_the_models_drift_watch_replaces_the_decile_warning() -> None:
    night, people, scores, bad, manifest = sample_night()
    manifest["drift"] = {"against": "x", "warn_above": 0.25, "psi": {"p_repay": 0.31}}
    manifest["warnings"] = ["drift: the population stability index is above 0.25 for p_repay"]
    data = build_report_data(
        manifest,
        night,
        people,
        scores,  # type: ignore[arg-type]
        bad,
        sample_review(),
    )
    page = render_report(data)
    assert data.psi is not None and data.psi > 0.25  # the deciles differ too...
    assert "score drift" not in page  # ...but the night warns once, with the model's words
    assert page.count("population stability index is above 0.25") == 1


def test_tonight_is_compared_with_the_champions_training_distribution_when_known() -> None:
    import numpy as np

    from models.drift import psi

    reference = {"edges": [0.1, 0.3, 0.5], "shares": [0.25, 0.25, 0.25, 0.25, 0.0]}
    data = reviewed_report(score_reference=reference)
    assert data.training_source == "the champion's training data"
    # Active cases: p 0.81, 0.42, 0.10, 0.6, 0.05 and K7's 0.5; the highest band first.
    assert [(label, round(b, 1)) for label, _, b in data.training_bins] == [
        ("p > 50.0%", 33.3),
        ("30.0% < p ≤ 50.0%", 33.3),
        ("10.0% < p ≤ 30.0%", 0.0),
        ("p ≤ 10.0%", 33.3),
    ]
    active = np.array([0.81, 0.42, 0.10, 0.6, 0.05, 0.5])
    assert data.psi == pytest.approx(psi(reference, active), abs=1e-3)
    assert "the champion&#x27;s training data" in render_report(data)


# --- issue 4: cycle weeks, the cases to extend, the strategy's evidence ----------------------


def test_the_cycle_weeks_and_the_cases_to_extend_are_listed() -> None:
    night, people, scores, bad, manifest = sample_night()
    wl = night.worklists.with_columns(
        cycle_week=pl.when(pl.col("case_id") == "K2").then(4).otherwise(pl.col("cycle_week"))
    )
    data = build_report_data(
        manifest,
        replace(night, worklists=wl),
        people,
        scores,  # type: ignore[arg-type]
        bad,
    )
    assert data.cycle_weeks == ((3, 4, 0), (4, 1, 1))
    assert data.extension_cases_total == 2
    worked, held = data.extension_cases
    assert worked[:2] == ("EASTBANK", "K2") and worked[3:] == ("4", "P1")
    assert held[1] == "K7" and held[4] == "held: over capacity"
    page = render_report(data)
    section = page[page.index('<section id="cycle"') :]
    assert "K2" in section and "week 4" in section and "2 cases with an extension due" in section


def test_the_extensions_listed_from_the_review_say_where_each_case_went() -> None:
    from pipeline.changes import DECISION_SCHEMA

    decisions = sample_review().decisions.with_columns(
        extension_due=pl.col("case_id").is_in(["K2", "K7"]),
        return_date=pl.lit(TONIGHT + timedelta(days=3)),
    )
    data = reviewed_report(decisions=decisions.select(list(DECISION_SCHEMA)))
    assert [(r[1], r[4]) for r in data.extension_cases] == [
        ("K2", "P1"),
        ("K7", "held: over capacity"),
    ]


STRATEGY = {
    "window": ["2026-08-12", "2026-11-09"],
    "horizon_days": 14,
    "channel_effects": [
        {
            "channel": "visit",
            "contacts": 435,
            "paid": 13,
            "expected": 39.3,
            "estimate": 0.33,
            "prior": 1.6,
            "weight": 0.465,
            "shrunk": 1.009,
            "used": 1.6,
        }
    ],
    "rhythm": [
        {"stratum": "M2-M3", "gap": "1", "contacts": 8005, "paid": 1082},
        {"stratum": "M2-M3", "gap": "3", "contacts": 3626, "paid": 506},
    ],
    "suggested_rhythm": {"M2-M3": 3},
    "groups": [
        {"group": "challenger", "debtors": 260, "cases": 282, "owed": 2464345.56, "recovered": 1e5},
        {"group": "champion", "debtors": 2378, "cases": 2604, "owed": 2.1e7, "recovered": 1.2e6},
    ],
    "cycle_start": "2026-10-25",
}


def test_the_strategy_evidence_is_shown_with_how_it_was_estimated() -> None:
    night, people, scores, bad, manifest = sample_night()
    data = build_report_data(
        manifest | {"strategy": STRATEGY},
        night,
        people,
        scores,  # type: ignore[arg-type]
        bad,
    )
    page = render_report(data)
    section = page[page.index('<section id="strategy"') :]
    section = section[: section.index("</section>")]
    for text in (
        "paid within 14 days",
        "0.33",  # the estimate
        "1.60",  # the policy's and tonight's multiplier
        "Observational",
        "14.0% of 3,626",  # the rhythm evidence: 506 / 3,626
        "3 days",  # the suggested rhythm
        "challenger",
        "4.1%",  # 100,000 / 2,464,345.56 recovered
    ):
        assert text in section, text
    assert "Read for" not in section
    sampled = replace(data, strategy=STRATEGY | {"sample_share": 0.25})
    assert "Read for 25% of the cases" in render_report(sampled)
    assert 'id="strategy"' not in render_report(sample_report())  # an older manifest


def test_a_review_counted_part_by_part_reports_what_the_whole_review_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large night keeps only the figures of its decisions and changes, counted a part of the
    book at a time (pipeline.review.review_night): added up, they give the report the whole
    review gives, the drift against training and the first cases to extend included."""
    import pipeline.report as report_module
    from pipeline.report import ReviewFigures

    monkeypatch.setattr(report_module, "MAX_EXTENSION_ROWS", 2)  # parts' lists cut, then merged
    reference = {"edges": [0.1, 0.3, 0.5], "shares": [0.25, 0.25, 0.25, 0.25, 0.0]}
    whole = sample_review(score_reference=reference)
    decisions = whole.decisions.with_columns(
        extension_due=pl.col("case_id").is_in(["K1", "K2", "K7", "K8"]),
        return_date=pl.lit(TONIGHT + timedelta(days=3)),
        visit_rule=pl.when(pl.col("case_id") == "K2").then(
            pl.lit("no visit collector in tonight covers 上海")
        ),
    )
    whole = replace(whole, decisions=decisions)
    first = pl.col("case_id").is_in(["K1", "K6", "K7"])  # a debtor's cases are in one part
    figures = [
        ReviewFigures.of(
            decisions.filter(part),
            whole.changes.filter(part),
            whole.training_deciles,
            reference,
        )
        for part in (first, ~first)
    ]
    counted = replace(whole, decisions=None, changes=None, figures=figures[0] + figures[1])
    night, people, scores, bad, manifest = sample_night()
    expected = build_report_data(manifest, night, people, scores, bad, whole)  # type: ignore[arg-type]
    got = build_report_data(manifest, night, people, scores, bad, counted)  # type: ignore[arg-type]
    assert got == expected
    assert expected.extension_cases_total == 4 and len(expected.extension_cases) == 2
    assert expected.changes and expected.rules and expected.training_bins
