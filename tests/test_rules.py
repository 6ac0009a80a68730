"""The rule packs (pipeline/rules), each rule with a case that would break it.

The decks' rules (DOMAIN.md R11-R13, R16, R17-R20, do-not-contact, disputed, legal) hold under
every pack; ``cn-2026`` and ``us-regf`` add their caps, counted from the contact history as of the
business date (the worklist is worked the day after it).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline import warehouse
from pipeline.allocate import allocate
from pipeline.assemble import NightFrames, assemble
from pipeline.parts import WHOLE
from pipeline.policy import Policy
from pipeline.rules import base, cn_2026, us_regf
from pipeline.strategy import INSTALMENT_PLAN, TRACE, decide
from tests.factories import TONIGHT, case, collector, details, night, roster, scores

ROSTER = roster(collector("P1", "phone"), collector("V1", "visit"), collector("L1", "letter"))
PHONES = roster(collector("P1", "phone"))
CN = Policy()
US = replace(Policy(), rule_pack="us-regf")
COLLECTING = ("call: collect", "visit: collect (carry contract, plan form, note form)")


RECENT = {
    "failed_attempts_recent": pl.Int64,
    "failed_days_recent": pl.Int64,
    "reached_recent": pl.Int64,
    "last_contact_on": pl.Date,
    "debtor_complaint_on": pl.Date,
    "debtor_do_not_contact": pl.Boolean,
}


def _frame(*rows: dict[str, Any]) -> pl.DataFrame:
    """The night's frame; the recent history (pipeline/evidence.py) where the rows give it."""
    frame = night(*rows)
    for column, dtype in RECENT.items():
        if any(column in r for r in rows):
            values = [r.get(column) for r in rows]
            frame = frame.with_columns(pl.Series(column, values, dtype=dtype))
    return frame


def _night(
    *rows: dict[str, Any], policy: Policy = CN, team: pl.DataFrame = ROSTER
) -> tuple[pl.DataFrame, NightFrames]:
    frame = _frame(*rows)
    cases, debtors = decide(frame, scores(frame), team, policy, TONIGHT)
    allocation = allocate(debtors, team, policy)
    frames = assemble(cases, debtors, allocation, team, policy, details=details(*rows))
    return cases, frames


def _hold(frames: NightFrames, case_id: str) -> str | None:
    found = frames.holds.filter(pl.col("case_id") == case_id)
    return None if found.is_empty() else str(found.item(0, "reason"))


def _row(frames: NightFrames, case_id: str) -> dict[str, Any]:
    return frames.worklists.filter(pl.col("case_id") == case_id).row(0, named=True)


def _phone_rows(frames: NightFrames) -> list[str]:
    return frames.worklists.filter(pl.col("channel") == "phone").get_column("case_id").to_list()


def _day(days_ago: int) -> Any:
    return TONIGHT - timedelta(days=days_ago)


# --- the decks' rules, under every pack ----------------------------------------------------------


@pytest.mark.parametrize("policy", [CN, US], ids=["cn-2026", "us-regf"])
@pytest.mark.parametrize("status", ["paid", "returned", "disputed", "legal"])
def test_closed_disputed_and_legal_cases_are_held(policy: Policy, status: str) -> None:
    _, frames = _night(case("A", status=status), policy=policy)
    assert frames.worklists.is_empty()
    assert _hold(frames, "A") == status


@pytest.mark.parametrize("policy", [CN, US], ids=["cn-2026", "us-regf"])
def test_do_not_contact_holds_every_case_of_the_debtor(policy: Policy) -> None:
    _, frames = _night(
        case("A", customer_id="D1", do_not_contact=True), case("B", customer_id="D1"), policy=policy
    )
    assert frames.worklists.is_empty()
    assert (_hold(frames, "A"), _hold(frames, "B")) == (base.DO_NOT_CONTACT, base.DO_NOT_CONTACT)


def test_a_case_past_its_return_date_on_the_work_day_is_returned() -> None:
    # the worklist is worked the day after the business date: a case returning tonight is gone
    _, frames = _night(
        case("A", return_date=TONIGHT), case("B", return_date=_day(-1), customer_id="D2")
    )
    assert _hold(frames, "A") == "returned"
    assert frames.worklists.get_column("case_id").to_list() == ["B"]
    assert _row(frames, "B")["extension_due"]


def test_promises_against_the_work_day_pending_then_due_then_broken() -> None:
    _, frames = _night(
        case("A", customer_id="D1", last_promise_date=_day(-2)),
        case("B", customer_id="D2", last_promise_date=_day(-1)),  # the work day
        case("C", customer_id="D3", last_promise_date=TONIGHT),  # no payment in tonight's files
        case("D", customer_id="D4", last_promise_date=TONIGHT, paid_recently=500.0),
        case("E", customer_id="D5", last_promise_date=_day(7)),  # broken 8 days ago: too old
        team=PHONES,
    )
    assert _hold(frames, "A") == base.PROMISE_PENDING
    assert _row(frames, "B")["action"] == "promise due today: confirm payment"
    assert _row(frames, "C")["action"].startswith("promise broken")
    assert _row(frames, "D")["action"] == "call: collect"
    assert _row(frames, "E")["action"] == "call: collect"


def test_r11_a_900_yuan_case_never_gets_a_letter() -> None:
    letters_only = roster(collector("L1", "letter"))
    _, frames = _night(case("A", balance=900.0), case("B", balance=1500.0), team=letters_only)
    assert frames.letters.get_column("case_id").to_list() == ["B"]
    assert _hold(frames, "A") is not None


def test_r12_no_letter_when_the_address_is_not_the_debtors_own() -> None:
    letters_only = roster(collector("L1", "letter"))
    _, frames = _night(case("A", last_letter_outcome="mail_returned"), team=letters_only)
    assert frames.letters.is_empty()


def test_r13_no_letter_to_a_paid_or_returned_account() -> None:
    frame = night(case("A", status="paid"), case("B", status="returned"), case("C"))
    assert frame.with_columns(verified=pl.lit(True)).select(
        base.letter_allowed(CN)
    ).to_series().to_list() == [False, False, True]


def test_r16_field_material_shows_id_and_card_only_masked() -> None:
    visits_only = roster(collector("V1", "visit"))
    _, frames = _night(case("A"), team=visits_only)
    row = _row(frames, "A")
    assert row["channel"] == "visit"
    assert row["id_number"] == "110101********4477"
    assert "".join(c for c in row["card_number"] if c.isdigit()) == "3445"


@pytest.mark.parametrize("policy", [CN, US], ids=["cn-2026", "us-regf"])
def test_r19_an_unverified_debtor_never_gets_a_collection_action(policy: Policy) -> None:
    _, frames = _night(
        case("A", right_party_contacts=0),
        case("B", right_party_contacts=0, phone=None),
        case("C", right_party_contacts=0, customer_id="D3", balance=9000.0),
        case("D", right_party_contacts=0, customer_id="D3", balance=9000.0),
        policy=policy,
    )
    actions = dict(frames.worklists.select("case_id", "action").iter_rows())
    assert actions["A"] == "first call: verify identity"
    assert actions["B"] == "visit: verify identity first"
    assert not set(actions.values()) & set(COLLECTING)
    assert frames.letters.is_empty()


def test_r20_third_parties_only_to_trace_a_debtor_who_cannot_be_reached() -> None:
    _, frames = _night(
        case("A", customer_id="D1"),
        case("B", customer_id="D2", last_phone_outcomes=["wrong_number"] * 3),
        team=PHONES,
    )
    assert _row(frames, "A")["action"] == "call: collect"
    assert _row(frames, "B")["action"] == TRACE


def test_r17_r18_wilful_refusal_above_the_threshold_goes_to_legal_review() -> None:
    _, frames = _night(
        case("A", refusals=2, balance=60000.0),
        case("B", refusals=2, balance=40000.0),
        case("C", refusals=1, balance=60000.0),
    )
    assert _hold(frames, "A") == base.LEGAL_REVIEW
    assert _hold(frames, "B") is None
    assert _hold(frames, "C") is None


def test_r17_a_broken_promise_gets_an_instalment_plan_offer() -> None:
    _, frames = _night(case("A", last_promise_date=_day(1)))
    assert _row(frames, "A")["action"] == INSTALMENT_PLAN


def test_two_cases_of_one_debtor_never_go_to_two_collectors() -> None:
    team = roster(collector("P1", "phone", capacity=2), collector("P2", "phone", capacity=2))
    _, frames = _night(
        case("A", customer_id="D1"), case("B", customer_id="D1", balance=9000.0), team=team
    )
    assert frames.worklists.get_column("collector_id").n_unique() == 1
    assert frames.worklists.get_column("debtor_total_owed").to_list() == [14000.0, 14000.0]


# --- cn-2026 -------------------------------------------------------------------------------------


def test_cn_2026_phone_rows_carry_the_window_and_the_days_attempts() -> None:
    _, frames = _night(case("A"), team=PHONES)
    row = _row(frames, "A")
    assert (row["channel"], row["call_window"]) == ("phone", "08:00-22:00")
    assert row["attempts_allowed"] == cn_2026.DAILY_DIAL_ATTEMPTS == 6
    assert row["connected_calls_allowed"] == cn_2026.DAILY_CONNECTED_CALLS == 3


def test_cn_2026_visit_rows_carry_no_phone_limits() -> None:
    _, frames = _night(case("A"), team=roster(collector("V1", "visit")))
    assert _row(frames, "A")["attempts_allowed"] is None


@pytest.mark.parametrize(
    ("history", "traced"),
    [
        # 3 failed attempts in the last 3 days, no right-party contact in them
        ({"failed_attempts_recent": 3, "failed_days_recent": 1}, True),
        ({"failed_attempts_recent": 2, "failed_days_recent": 2}, False),
        ({"failed_attempts_recent": 3, "failed_days_recent": 3}, True),
        # reached in the window: not unreachable, however many calls failed
        ({"failed_attempts_recent": 5, "failed_days_recent": 3, "reached_recent": 1}, False),
        # 3 failures in a row, or failed-call days since the debtor was last reached, weeks ago:
        # not unreachable now (counted over the whole history, half the samples' rows were trace)
        ({"last_phone_outcomes": ["no_answer", "no_answer", "third_party"]}, False),
        ({"last_phone_outcomes": ["no_answer"], "failed_call_days": 12}, False),
        # no number that reaches the debtor (R20, any pack)
        ({"last_phone_outcomes": ["wrong_number"] * 3}, True),
    ],
)
def test_cn_2026_third_party_contact_only_once_the_debtor_is_unreachable(
    history: dict[str, Any], traced: bool
) -> None:
    _, frames = _night(case("A", **history), team=PHONES)
    assert (_row(frames, "A")["action"] == TRACE) is traced


def test_cn_2026_no_third_party_contact_under_us_regf_for_unanswered_calls() -> None:
    _, frames = _night(
        case("A", failed_attempts_recent=3, failed_days_recent=3), policy=US, team=PHONES
    )
    assert _row(frames, "A")["action"] == "call: collect"


@pytest.mark.parametrize(("days_ago", "held"), [(0, True), (6, True), (7, False)])
def test_cn_2026_cooling_off_after_a_complaint_holds_the_debtor(days_ago: int, held: bool) -> None:
    _, frames = _night(
        case("A", customer_id="D1", last_complaint_on=_day(days_ago)),
        case("B", customer_id="D1"),
    )
    expected = cn_2026.COOLING_OFF if held else None
    assert (_hold(frames, "A"), _hold(frames, "B")) == (expected, expected)


def test_cn_2026_cooling_off_is_a_policy_setting() -> None:
    policy = replace(CN, cooling_off_days=2)
    _, frames = _night(case("A", last_complaint_on=_day(2)), policy=policy)
    assert _hold(frames, "A") is None


# --- us-regf -------------------------------------------------------------------------------------


def test_us_regf_seven_attempts_in_the_last_six_days_mean_no_phone_row() -> None:
    _, frames = _night(
        case("A", customer_id="D1", phone_attempts_6d=7),
        case("B", customer_id="D2", phone_attempts_6d=6),
        policy=US,
        team=PHONES,
    )
    assert _phone_rows(frames) == ["B"]
    assert _hold(frames, "A") == us_regf.ATTEMPT_CAP
    assert _row(frames, "B")["attempts_allowed"] == 1


def test_us_regf_the_cap_is_not_a_cn_2026_rule() -> None:
    _, frames = _night(case("A", phone_attempts_6d=7), team=PHONES)
    assert _phone_rows(frames) == ["A"]


@pytest.mark.parametrize(("days_ago", "held"), [(3, True), (6, True), (7, False)])
def test_us_regf_no_call_within_seven_days_after_a_conversation(days_ago: int, held: bool) -> None:
    _, frames = _night(
        case("A", customer_id="D1", last_conversation_on=_day(days_ago)),
        case("B", customer_id="D1"),
        policy=US,
        team=PHONES,
    )
    if held:
        assert frames.worklists.is_empty()
        assert _hold(frames, "B") == us_regf.AFTER_CONVERSATION
    else:
        assert sorted(_phone_rows(frames)) == ["A", "B"]


def test_us_regf_phone_rows_carry_its_window_and_attempts() -> None:
    _, frames = _night(case("A", phone_attempts_6d=2), policy=US, team=PHONES)
    row = _row(frames, "A")
    assert (row["call_window"], row["attempts_allowed"]) == ("08:00-21:00", 5)
    assert row["connected_calls_allowed"] == 1


def test_a_narrower_policy_window_is_kept_within_the_pack() -> None:
    _, frames = _night(case("A"), policy=replace(US, call_window="09:00-22:00"), team=PHONES)
    assert _row(frames, "A")["call_window"] == "09:00-21:00"


def test_a_cooling_off_is_not_a_us_regf_rule() -> None:
    _, frames = _night(case("A", last_complaint_on=_day(1)), policy=US)
    assert _hold(frames, "A") is None


# --- the history the rules count (sql/night_cases.sql) --------------------------------------------


def _note(n: int, days_ago: int, outcome: str, **extra: Any) -> dict[str, Any]:
    at = datetime.combine(_day(days_ago), datetime.min.time()) + timedelta(hours=10, minutes=n)
    return {
        "client_id": "EASTBANK",
        "note_id": f"N{n}",
        "case_id": "A",
        "collector_id": "P1",
        "channel": extra.pop("channel", "phone"),
        "contacted_at": at,
        "outcome": outcome,
        "promise_amount": None,
        "promise_date": None,
        "complaint": extra.pop("complaint", False),
        "business_date": _day(days_ago),
    }


def test_the_night_counts_what_the_rules_need(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path)
    row = case("A")
    con.execute(
        "insert into cases (client_id, case_id, product, customer_id, customer_name, city, "
        "principal, amount_owed, days_overdue, handover_date, return_date, status, "
        "do_not_contact, as_of) values ('EASTBANK', 'A', 'credit_card', 'C-A', '张三', '上海', "
        "4000, 5000, 45, ?, ?, 'active', false, ?)",
        [row["handover_date"], row["return_date"], TONIGHT],
    )
    con.execute(
        "insert into case_snapshots (business_date, client_id, case_id, customer_id, product, "
        "city, principal, balance, days_overdue, handover_date, return_date, status, "
        "do_not_contact) values (?, 'EASTBANK', 'A', 'C-A', 'credit_card', '上海', 4000, 5000, "
        "45, ?, ?, 'active', false)",
        [TONIGHT, row["handover_date"], row["return_date"]],
    )
    notes = [
        _note(1, 9, "right_party"),  # a conversation 9 days ago, then failures
        _note(2, 8, "no_answer"),
        _note(3, 6, "no_answer"),  # outside the 6 days before the work day
        _note(4, 5, "no_answer"),
        _note(5, 4, "refused", complaint=True),  # a conversation 4 days ago, and a complaint
        _note(6, 2, "no_answer"),
        _note(7, 1, "wrong_number"),
        _note(8, 0, "third_party"),
        _note(9, 0, "letter_sent", channel="letter"),
        _note(10, -1, "no_answer"),  # after the business date: not counted
    ]
    con.register("new_notes", pl.DataFrame(notes).to_arrow())
    con.execute("insert into contacts by name select * from new_notes")
    got = warehouse.query(con, "night_cases", {"business_date": TONIGHT, **WHOLE.params()}).row(
        0, named=True
    )
    con.close()
    assert got["phone_attempts_6d"] == 5  # notes 4, 5, 6, 7, 8
    assert got["last_conversation_on"] == _day(4)
    assert got["last_complaint_on"] == _day(4)
    assert got["failed_call_days"] == 3  # days 2, 1 and 0 since the refusal
    assert got["refusals"] == 1


# --- us-regf: the caps are about calls (the phone alone is barred) ---------------------------


@pytest.mark.parametrize(
    ("history", "rule"),
    [
        ({"phone_attempts_6d": 7}, us_regf.ATTEMPT_CAP),
        ({"last_conversation_on": _day(3)}, us_regf.AFTER_CONVERSATION),
    ],
)
def test_us_regf_a_capped_debtor_loses_the_phone_only(history: dict[str, Any], rule: str) -> None:
    visits = roster(collector("P1", "phone"), collector("V1", "visit"))
    _, frames = _night(case("A", **history), policy=US, team=visits)
    assert _phone_rows(frames) == []
    assert _row(frames, "A")["channel"] == "visit"
    # and with no other channel open, held by the rule's name
    _, frames = _night(case("A", **history), policy=US, team=PHONES)
    assert frames.worklists.is_empty()
    assert _hold(frames, "A") == rule


def test_us_regf_a_capped_debtor_may_still_get_a_letter() -> None:
    letters = roster(collector("P1", "phone"), collector("L1", "letter"))
    _, frames = _night(case("A", phone_attempts_6d=7, balance=8000.0), policy=US, team=letters)
    assert frames.letters.get_column("case_id").to_list() == ["A"]


def test_us_regf_a_call_counts_against_each_debt_of_the_debtor() -> None:
    # a call covers all of a debtor's cases: the attempts left are the fewest of any of them
    _, frames = _night(
        case("A", customer_id="D1", phone_attempts_6d=2),
        case("B", customer_id="D1", phone_attempts_6d=5),
        policy=US,
        team=PHONES,
    )
    assert frames.worklists.get_column("attempts_allowed").to_list() == [2, 2]
    _, frames = _night(
        case("A", customer_id="D1", phone_attempts_6d=2),
        case("B", customer_id="D1", phone_attempts_6d=7),
        policy=US,
        team=PHONES,
    )
    assert frames.worklists.is_empty()
    assert (_hold(frames, "A"), _hold(frames, "B")) == (us_regf.ATTEMPT_CAP, us_regf.ATTEMPT_CAP)


@pytest.mark.parametrize("policy", [CN, US], ids=["cn-2026", "us-regf"])
def test_every_phone_row_carries_the_attempts_still_allowed(policy: Policy) -> None:
    _, frames = _night(
        *(case(str(n), customer_id=f"D{n}", phone_attempts_6d=n) for n in range(7)),
        policy=policy,
        team=PHONES,
    )
    phone = frames.worklists.filter(pl.col("channel") == "phone")
    assert phone.height == 7
    assert phone.get_column("attempts_allowed").null_count() == 0
    assert phone.get_column("connected_calls_allowed").null_count() == 0
    if policy.rule_pack == "us-regf":
        got = dict(phone.select("case_id", "attempts_allowed").iter_rows())
        assert got == {str(n): 7 - n for n in range(7)}


# --- found by the simulated month (bench/month.py) --------------------------------------------


def test_cn_2026_a_debtor_reached_on_another_case_is_not_traced() -> None:
    _, frames = _night(
        case("A", customer_id="D1", failed_attempts_recent=3, failed_days_recent=1),
        case("B", customer_id="D1", failed_attempts_recent=3, reached_recent=1),
        team=PHONES,
    )
    assert set(frames.worklists.get_column("action")) == {"call: collect"}


def test_cn_2026_a_complaint_on_a_case_no_longer_in_the_book_still_cools_off() -> None:
    # the complaint was noted on the debtor's other case, since paid and gone from the book
    _, frames = _night(case("A", customer_id="D1", debtor_complaint_on=_day(2)), team=PHONES)
    assert _hold(frames, "A") == cn_2026.COOLING_OFF
    _, frames = _night(case("A", customer_id="D1", debtor_complaint_on=_day(7)), team=PHONES)
    assert _hold(frames, "A") is None


@pytest.mark.parametrize("policy", [CN, US], ids=["cn-2026", "us-regf"])
def test_do_not_contact_on_a_case_no_longer_in_the_book_holds_the_debtor(policy: Policy) -> None:
    _, frames = _night(case("A", debtor_do_not_contact=True), policy=policy)
    assert frames.worklists.is_empty()
    assert _hold(frames, "A") == base.DO_NOT_CONTACT
