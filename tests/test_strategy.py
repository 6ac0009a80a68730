"""The rules of the strategy step, each with a case that would break it."""

from datetime import timedelta

import polars as pl
import pytest

from pipeline.policy import Policy
from pipeline.strategy import decide, overdue_stage
from tests.factories import TONIGHT, case, collector, night, roster, scores

WORK_DAY = TONIGHT + timedelta(days=1)  # the worklist is worked the day after the files arrive

ROSTER = roster(collector("P1", "phone"), collector("V1", "visit"), collector("L1", "letter"))


def _decide(
    *rows: dict[str, object], team: pl.DataFrame = ROSTER
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = night(*rows)
    return decide(frame, scores(frame), team, Policy(), TONIGHT)


def _case(cases: pl.DataFrame, case_id: str) -> dict[str, object]:
    return cases.filter(pl.col("case_id") == case_id).row(0, named=True)


@pytest.mark.parametrize("status", ["paid", "settled", "returned", "disputed", "legal"])
def test_closed_disputed_and_legal_cases_are_held_with_their_status(status: str) -> None:
    cases, _ = _decide(case("A", status=status))
    assert _case(cases, "A")["hold_reason"] == status


def test_do_not_contact_holds_every_case_of_the_debtor() -> None:
    cases, _ = _decide(
        case("A", customer_id="D1", do_not_contact=True), case("B", customer_id="D1")
    )
    assert cases.get_column("hold_reason").to_list() == ["do-not-contact", "do-not-contact"]


def test_a_promise_not_yet_due_is_not_chased() -> None:
    cases, _ = _decide(case("A", last_promise_date=TONIGHT + timedelta(days=2)))
    assert _case(cases, "A")["hold_reason"] == "promise to pay not yet due"


def test_r11_no_letter_at_or_below_1000_yuan() -> None:
    cases, _ = _decide(case("A", balance=1000.0), case("B", balance=1000.01))
    assert not _case(cases, "A")["can_letter"]
    assert _case(cases, "B")["can_letter"]


def test_r12_no_letter_when_mail_came_back() -> None:
    cases, _ = _decide(case("A", last_letter_outcome="mail_returned"))
    assert not _case(cases, "A")["can_letter"]


def test_r19_an_unverified_debtor_gets_no_letter_and_is_held_without_phone_or_visit() -> None:
    cases, _ = _decide(
        case("A", right_party_contacts=0, phone=None, city="北京"),
        case("B", right_party_contacts=0),
    )
    assert not _case(cases, "A")["can_letter"]
    assert str(_case(cases, "A")["hold_reason"]).startswith("unverified identity")
    assert _case(cases, "B")["hold_reason"] is None


def test_visit_only_where_an_active_visit_collector_covers_the_city() -> None:
    team = roster(collector("V1", "visit", cities=["杭州"]), collector("V2", "visit", active=False))
    cases, _ = _decide(case("A", city="上海"), case("B", city="杭州"), team=team)
    assert not _case(cases, "A")["can_visit"]
    assert _case(cases, "B")["can_visit"]


def test_phone_needs_a_number() -> None:
    cases, _ = _decide(case("A", phone=None))
    assert not _case(cases, "A")["can_phone"]


def test_a_debtors_cases_share_one_value_per_channel() -> None:
    _, debtors = _decide(case("A", customer_id="D1"), case("B", customer_id="D1"))
    assert debtors.height == 1
    row = debtors.row(0, named=True)
    assert row["debtor_cases"] == 2
    assert row["debtor_total_owed"] == 10000.0
    # p 0.3 x 10,000 x effect 1.0 - one call at 3 yuan
    assert row["value_phone"] == pytest.approx(2997.0)


def test_r3_extension_due_within_the_notice_of_the_work_day() -> None:
    cases, _ = _decide(
        case("A", return_date=WORK_DAY + timedelta(days=3)),
        case("B", return_date=WORK_DAY + timedelta(days=4)),
        case("C", return_date=WORK_DAY),
    )
    assert _case(cases, "A")["extension_due"]
    assert not _case(cases, "B")["extension_due"]
    assert _case(cases, "C")["extension_due"]


def test_overdue_stages() -> None:
    days = pl.DataFrame({"d": [0, 1, 30, 31, 180, 181, 999]})
    stages = days.select(overdue_stage(pl.col("d"))).to_series().to_list()
    assert stages == ["M0", "M1", "M1", "M2", "M6", "M7+", "M7+"]


def test_r19_the_first_action_on_an_unverified_debtor_is_verification() -> None:
    from pipeline.allocate import allocate
    from pipeline.assemble import assemble

    cases, debtors = _decide(case("A", right_party_contacts=0), case("B", customer_id="D2"))
    frames = assemble(cases, debtors, allocate(debtors, ROSTER, Policy()), ROSTER, Policy())
    actions = dict(frames.worklists.select("case_id", "action").iter_rows())
    assert actions["A"] == "first call: verify identity"
    assert actions["B"] != "first call: verify identity"


def test_an_unverified_debtor_is_visited_only_when_no_phone_can_reach_them() -> None:
    cases, _ = _decide(
        case("A", right_party_contacts=0),
        case("B", right_party_contacts=0, phone=None),
        case("C"),
    )
    assert not _case(cases, "A")["can_visit"]
    assert _case(cases, "B")["can_visit"]
    assert _case(cases, "C")["can_visit"]


def test_r1_each_case_has_its_cycle_and_week_on_the_work_day() -> None:
    cases, _ = _decide(
        case("A", handover_date=TONIGHT),
        case("B", handover_date=WORK_DAY - timedelta(days=13)),
        case("C", handover_date=WORK_DAY - timedelta(days=14)),
        case("D", handover_date=WORK_DAY - timedelta(days=29)),
        case("E", handover_date=WORK_DAY - timedelta(days=30)),
    )
    got = cases.sort("case_id").select("cycle", "cycle_week").rows()
    assert got == [(0, 1), (0, 2), (0, 3), (0, 5), (1, 1)]
