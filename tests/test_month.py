"""The simulated month (bench/month.py): its checker finds each break it counts, and a few
nights of the real night under each pack break no rule."""

from __future__ import annotations

import random
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import month

NIGHT = date(2026, 11, 10)
WORK = NIGHT + timedelta(days=1)


def _world() -> month.World:
    world = month.World(rng=random.Random(1))
    for debtor, cases in (("D1", ["A", "B"]), ("D2", ["C"])):
        world.debtors[debtor] = month.Debtor(reach=0.5, pay=0.1, cases=cases)
        for case_id in cases:
            world.debtor_of[case_id] = debtor
            world.owed[case_id] = 5000.0
            world.returns[case_id] = WORK + timedelta(days=30)
            world.notes.append((case_id, NIGHT - timedelta(days=20), "phone", "right_party", False))
    return world


def _row(case_id: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case_id": case_id,
        "collector_id": "P1",
        "channel": "phone",
        "action": "call: collect",
        "amount_owed": 5000.0,
        "attempts_allowed": 6,
        "call_window": "08:00-22:00",
    }
    return row | overrides


def _check(world: month.World, *rows: dict[str, Any], pack: str = "cn-2026") -> dict[str, int]:
    frame = pl.DataFrame(list(rows), schema_overrides={"attempts_allowed": pl.Int64})
    return dict(month.check(world, frame, NIGHT, pack))


def test_a_clean_night_has_no_break() -> None:
    got = _check(_world(), _row("A"), _row("B"), _row("C", collector_id="P2"))
    assert sum(got.values()) == 0


def test_the_checker_finds_each_break() -> None:
    world = _world()
    got = _check(
        world,
        _row("A"),
        _row("B", collector_id="P2"),  # one debtor, two collectors
        _row(
            "C", channel="letter", amount_owed=900.0, action="send demand letter (registered mail)"
        ),
    )
    assert got["one debtor, two collectors"] == 1
    assert got["R11 letter at or below 1,000 yuan"] == 1
    world.notes.extend(
        # 7 attempts on the 6 days before the work day (two on the night itself)
        ("C", NIGHT - timedelta(days=d), "phone", "no_answer", False)
        for d in (0, 0, 1, 2, 3, 4, 5)
    )
    world.notes.append(("A", NIGHT - timedelta(days=3), "phone", "right_party", False))
    got = _check(world, _row("C", attempts_allowed=1), _row("A"), pack="us-regf")
    assert got["us-regf phone row after 7 attempts in 7 days"] == 1
    assert got["us-regf call within 7 days of a conversation"] == 1
    world.notes.append(("B", NIGHT - timedelta(days=1), "phone", "refused", True))
    world.promises["C"] = WORK + timedelta(days=2)
    got = _check(world, _row("A"), _row("C", action=month.TRACE))
    assert got["cn-2026 contact within the cooling-off"] == 1
    assert got["promise not yet due chased"] == 1
    assert "cn-2026 third-party contact while reachable (R20)" not in got  # 3 failed lately
    got = _check(world, _row("A", action=month.TRACE))  # A was reached 3 days ago, no failure
    assert got["cn-2026 third-party contact while reachable (R20)"] == 1


@pytest.mark.parametrize("pack", ["cn-2026", "us-regf"])
def test_a_few_nights_break_no_rule(pack: str, tmp_path: Path) -> None:
    result = month.simulate(nights=3, cases=120, pack=pack, seed=3, base=tmp_path)
    assert result["worklist_rows"] > 0
    assert result["rule_breaks"] == 0, result["breaks"]
