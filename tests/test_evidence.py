"""The evidence the night draws from the history (pipeline/evidence.py), on crafted histories."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from pipeline import warehouse
from pipeline.evidence import (
    RhythmCell,
    channel_effects,
    gather,
    rhythm_in_force,
    suggested_rhythm,
)
from pipeline.policy import Policy
from pipeline.strategy import strategy_groups
from tests.factories import TONIGHT


def _day(days_ago: int) -> date:
    return TONIGHT - timedelta(days=days_ago)


class History:
    """A warehouse with cases, notes and payments written in a few lines."""

    def __init__(self, home: Path) -> None:
        self.con = warehouse.connect(home)
        self.notes = 0
        self.payments = 0

    def case(self, case_id: str, days_overdue: int = 45, customer_id: str | None = None) -> None:
        self.con.execute(
            "insert into cases (client_id, case_id, product, customer_id, customer_name, city, "
            "principal, amount_owed, days_overdue, handover_date, return_date, status, "
            "do_not_contact, as_of) values ('EASTBANK', ?, 'credit_card', ?, '张三', '上海', "
            "4000, 5000, ?, ?, ?, 'active', false, ?)",
            [case_id, customer_id or f"C-{case_id}", days_overdue, _day(200), _day(-60), TONIGHT],
        )

    def snapshot(self, case_id: str, on: date, balance: float = 5000.0) -> None:
        self.con.execute(
            "insert into case_snapshots (business_date, client_id, case_id, customer_id, "
            "product, city, principal, balance, days_overdue, handover_date, return_date, "
            "status, do_not_contact) values (?, 'EASTBANK', ?, ?, 'credit_card', '上海', 4000, "
            "?, 45, ?, ?, 'active', false)",
            [on, case_id, f"C-{case_id}", balance, _day(200), _day(-60)],
        )

    def note(self, case_id: str, days_ago: int, outcome: str, channel: str = "phone") -> None:
        self.notes += 1
        at = datetime.combine(_day(days_ago), datetime.min.time()) + timedelta(
            hours=9, minutes=self.notes % 600
        )
        self.con.execute(
            "insert into contacts values ('EASTBANK', ?, ?, 'P1', ?, ?, ?, null, null, false, ?)",
            [f"N{self.notes}", case_id, channel, at, outcome, _day(days_ago)],
        )

    def pay(self, case_id: str, days_ago: int, amount: float = 100.0) -> None:
        self.payments += 1
        self.con.execute(
            "insert into payments values ('EASTBANK', ?, ?, ?, ?, ?)",
            [f"P{self.payments}", case_id, _day(days_ago), amount, _day(days_ago)],
        )


@pytest.fixture
def history(tmp_path: Path) -> Any:
    made = History(tmp_path)
    yield made
    made.con.close()


def _recency(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    frame = gather(con, TONIGHT, Policy()).recency
    return {str(r["case_id"]): r for r in frame.iter_rows(named=True)}


def test_the_recent_history_counts_failed_calls_and_reach_in_the_last_three_days(
    history: History,
) -> None:
    for day in (0, 1, 2):
        history.note("A", day, "no_answer")  # failed on each of the last 3 days
    history.note("B", 3, "no_answer")  # 3 days ago is outside the window
    history.note("B", 1, "no_answer")
    history.note("B", 0, "wrong_number")
    for day in (0, 1, 2):
        history.note("C", day, "no_answer")
    history.note("C", 1, "right_party")  # but reached in between
    history.note("D", -1, "no_answer")  # after the business date: not seen
    got = _recency(history.con)
    assert (got["A"]["failed_attempts_recent"], got["A"]["failed_days_recent"]) == (3, 3)
    assert got["A"]["reached_recent"] == 0
    assert (got["B"]["failed_attempts_recent"], got["B"]["failed_days_recent"]) == (2, 2)
    assert got["C"]["reached_recent"] == 1
    assert "D" not in got
    assert got["B"]["last_contact_on"] == TONIGHT


def test_a_debtors_complaint_and_do_not_contact_are_found_on_any_of_its_cases(
    history: History,
) -> None:
    history.case("A", customer_id="D1")
    history.case("B", customer_id="D1")  # paid and gone from tonight's book: still its notes
    history.case("C", customer_id="D2")
    history.note("B", 3, "refused")
    history.con.execute("update contacts set complaint = true where case_id = 'B'")
    history.note("C", 10, "refused")  # before the cooling-off window
    history.con.execute("update contacts set complaint = true where case_id = 'C'")
    history.case("E", customer_id="D3")
    history.con.execute("update cases set do_not_contact = true where case_id = 'E'")
    got = gather(history.con, TONIGHT, Policy()).debtors.sort("customer_id")
    assert got.rows() == [("EASTBANK", "D1", _day(3), False), ("EASTBANK", "D3", None, True)]


def test_channel_evidence_counts_a_payment_within_the_horizon_after_a_contact(
    history: History,
) -> None:
    policy = Policy()
    for n in range(4):
        history.case(f"P{n}")
        history.note(f"P{n}", 30, "no_answer")
    history.pay("P0", 30 - 14)  # day 14 after: within the horizon
    history.pay("P1", 30 - 15)  # day 15: too late
    history.pay("P2", 30)  # the same day: not after the contact
    history.case("V")
    history.note("V", 40, "visit_met", channel="visit")
    history.pay("V", 35)
    history.note("V", 5, "visit_met", channel="visit")  # its horizon is not over: not counted
    evidence = gather(history.con, TONIGHT, policy)
    effects = {e.channel: e for e in evidence.effects}
    assert (effects["phone"].contacts, effects["phone"].paid) == (4, 1)
    assert (effects["visit"].contacts, effects["visit"].paid) == (1, 1)
    # the visit paid 1 against 0.25 expected at the phone's rate: 4 x the phone's effect,
    # shrunk towards the policy's 1.6 with 1 contact against 500
    assert effects["visit"].estimate == pytest.approx(4.0)
    assert effects["visit"].weight == pytest.approx(1 / 501)
    assert effects["visit"].shrunk == pytest.approx((4.0 + 500 * 1.6) / 501)
    assert effects["visit"].used == 1.6  # the switch is off
    on = gather(history.con, TONIGHT, replace(policy, use_estimated_effects=True))
    assert on.effect("visit") == pytest.approx(effects["visit"].shrunk)
    assert on.effect("letter") == policy.letter.effect  # no letters: the policy's


def _cells(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "channel": pl.Utf8,
            "stratum": pl.Utf8,
            "gap": pl.Utf8,
            "contacts": pl.Int64,
            "paid": pl.Int64,
        },
    )


def test_channel_effects_are_standardised_by_stratum() -> None:
    # visits go mostly to late debtors, who pay less whatever the channel: the raw rate would
    # call a visit worse than a call; within each stratum it pays twice as often
    cells = _cells(
        [
            {"channel": "phone", "stratum": "M0-M1", "gap": "1", "contacts": 1000, "paid": 200},
            {"channel": "phone", "stratum": "M7+", "gap": "1", "contacts": 1000, "paid": 20},
            {"channel": "visit", "stratum": "M0-M1", "gap": "1", "contacts": 100, "paid": 40},
            {"channel": "visit", "stratum": "M7+", "gap": "1", "contacts": 900, "paid": 36},
        ]
    )
    policy = replace(Policy(), evidence_prior_contacts=1)
    visit = {e.channel: e for e in channel_effects(cells, policy)}["visit"]
    assert visit.paid / visit.contacts < 220 / 2000  # raw: worse than the phone
    assert visit.estimate == pytest.approx(2.0)


def test_the_suggested_rhythm_is_the_best_rate_per_contact_with_enough_evidence() -> None:
    cells = (
        RhythmCell("M2-M3", "1", 1000, 100),
        RhythmCell("M2-M3", "3", 1000, 150),
        RhythmCell("M2-M3", "8+", 10, 9),  # the best rate, but too few contacts to say
        RhythmCell("M7+", "1", 1000, 10),  # a single gap with evidence: no suggestion
    )
    assert suggested_rhythm(cells, min_contacts=200) == {"M2-M3": 3}


def test_a_slower_rhythm_is_suggested_only_when_it_beats_daily_work_beyond_noise() -> None:
    # the samples' M2-M3: 13.5% daily against 14.0% every third day: within noise
    noisy = (RhythmCell("M2-M3", "1", 8005, 1082), RhythmCell("M2-M3", "3", 3626, 506))
    assert suggested_rhythm(noisy, min_contacts=200) == {"M2-M3": 1}
    clear = (RhythmCell("M2-M3", "1", 8005, 1082), RhythmCell("M2-M3", "3", 3626, 620))
    assert suggested_rhythm(clear, min_contacts=200) == {"M2-M3": 3}


def test_the_estimated_rhythm_is_used_only_when_switched_on(history: History) -> None:
    policy = replace(Policy(), evidence_min_contacts=1)
    for n in range(6):
        history.case(f"R{n}", days_overdue=100)  # 60 days (M2) 40 days ago
        for day in (40, 39, 36) if n < 3 else (40, 38, 36):
            history.note(f"R{n}", day, "no_answer")
    for n in range(3, 6):  # every two days: they pay; every day then three days: not
        history.pay(f"R{n}", 35)
    evidence = gather(history.con, TONIGHT, policy)
    assert evidence.suggested_rhythm == {"M2-M3": 2}
    assert rhythm_in_force(policy, evidence)["M2"] == 1
    used = rhythm_in_force(replace(policy, use_estimated_rhythm=True), evidence)
    assert (used["M1"], used["M2"], used["M3"], used["M4"]) == (1, 2, 2, 1)


def test_recovery_by_group_uses_the_groups_the_night_gives(history: History) -> None:
    policy = replace(Policy(), challenger_share=0.5)
    for n in range(40):
        history.case(f"G{n}")
        history.snapshot(f"G{n}", _day(20))
        history.pay(f"G{n}", 10, amount=float(n + 1))
    groups = strategy_groups(pl.Series([f"EASTBANK/C-G{n}" for n in range(40)]), policy)
    challenger = {
        int(k.split("-G")[1])
        for k in groups.filter(pl.col("strategy_group") == "challenger")["debtor_key"]
    }
    got = {g.group: g for g in gather(history.con, TONIGHT, policy).groups}
    assert got["challenger"].debtors == len(challenger)
    assert got["challenger"].recovered == pytest.approx(sum(n + 1 for n in challenger))
    assert got["champion"].debtors == 40 - len(challenger)
    assert got["champion"].owed == pytest.approx(5000.0 * (40 - len(challenger)))


def test_a_large_window_is_read_for_a_hashed_share_of_the_cases(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.evidence

    for n in range(200):
        history.case(f"S{n}")
        history.note(f"S{n}", 30, "no_answer")
        history.note(f"S{n}", 29, "no_answer")
    everything = gather(history.con, TONIGHT, Policy())
    assert everything.sample_share == 1.0
    monkeypatch.setattr(pipeline.evidence, "SAMPLE_NOTES", 100)  # 400 notes: a quarter
    sampled = gather(history.con, TONIGHT, Policy())
    assert sampled.sample_share == 0.25
    phone = {e.channel: e for e in sampled.effects}["phone"]
    assert 40 < phone.contacts < 160  # about a quarter of the 400 contacts, two per case
    assert phone.contacts % 2 == 0  # every note of a sampled case
    assert gather(history.con, TONIGHT, Policy()).effects == sampled.effects  # the same share
