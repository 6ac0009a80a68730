"""A simulated month: N nights of the real night on generated data, every rule break counted.

    .venv/bin/python bench/month.py --nights 30 --cases 600 --pack us-regf
    .venv/bin/python bench/month.py --nights 30 --pack cn-2026 --keep /tmp/month

Night 1 brings a book (``tests/nights.py``'s generator: valid ids, cards and phones; about one
debtor in four with two or three cases, a few do-not-contact) and a roster. Every work day (the
day after a night) simulated collectors work the worklists as published: a phone row gets up to
its ``attempts_allowed`` calls (one conversation ends the day), a visit meets or misses the
debtor, a letter is sent; each debtor has a hidden chance to be reached and to pay, promises
are made and kept or broken, a complaint now and then. Those notes and payments, and a few new
cases, are the next night's files, run by ``pipeline.run.run_night`` into a fresh home.

Each night's worklists are checked against the history this script keeps itself (never
caseflow's own queries), rule by rule, and one JSON line is printed: nights, worklist rows,
rule breaks per rule (the goal: none), rows per action and holds per reason over the month.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.run import run_night  # noqa: E402
from pipeline.strategy import TRACE  # noqa: E402
from tests.nights import Night, case_row, roster  # noqa: E402

FAILED = ("no_answer", "wrong_number", "third_party")
REACHED = ("right_party", "promise_to_pay", "refused", "paid_claimed", "visit_met")
CONVERSATION = ("right_party", "promise_to_pay", "refused", "paid_claimed")
COLLECTING = (
    "call: collect",
    "visit: collect (carry contract, plan form, note form)",
    "promise due today: confirm payment",
    "promise broken: offer an instalment plan (R17)",
    "send demand letter (registered mail)",
)


@dataclass
class Debtor:
    reach: float  # chance a call or a visit finds the debtor
    pay: float  # chance a reached debtor promises; a promise is kept with this chance x 4
    cases: list[str] = field(default_factory=list)


@dataclass
class World:
    """What the harness knows: the book, the hidden debtors and every note it wrote."""

    rng: random.Random
    owed: dict[str, float] = field(default_factory=dict)
    paid: dict[str, float] = field(default_factory=dict)
    returns: dict[str, date] = field(default_factory=dict)
    debtor_of: dict[str, str] = field(default_factory=dict)
    debtors: dict[str, Debtor] = field(default_factory=dict)
    no_contact: set[str] = field(default_factory=set)
    notes: list[tuple[str, date, str, str, bool]] = field(default_factory=list)  # case, day, ...
    promises: dict[str, date] = field(default_factory=dict)  # case -> latest promise date
    due_payments: dict[date, list[tuple[str, float]]] = field(default_factory=dict)
    serial: int = 0

    def is_open(self, case_id: str, day: date) -> bool:
        """Still with the agency on ``day``: not returned, not paid off."""
        left = self.owed[case_id] - self.paid.get(case_id, 0.0)
        return self.returns[case_id] >= day and left > 0

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:08d}"


def _book(world: World, day: date, first: int, count: int) -> list[dict[str, object]]:
    """``count`` new cases; about one debtor in four gets two or three."""
    rows: list[dict[str, object]] = []
    n = first
    while len(rows) < count:
        rng = world.rng
        size = rng.choice((1, 1, 1, 2, 3))
        customer = f"EAC{n:07d}"
        debtor = Debtor(reach=rng.uniform(0.15, 0.9), pay=rng.uniform(0.05, 0.4))
        for _ in range(size):
            row = case_row(rng, n, day)
            row["customer_id"] = customer
            if rng.random() < 0.03:
                row["do_not_contact"] = "true"
                world.no_contact.add(str(row["case_id"]))
            world.owed[str(row["case_id"])] = float(str(row["amount_owed"]))
            world.returns[str(row["case_id"])] = date.fromisoformat(str(row["return_date"]))
            world.debtor_of[str(row["case_id"])] = customer
            debtor.cases.append(str(row["case_id"]))
            rows.append(row)
            n += 1
        world.debtors[customer] = debtor
    return rows


def _note(
    world: World, case_id: str, day: date, collector: str, channel: str, outcome: str
) -> dict[str, object]:
    complaint = outcome in CONVERSATION and world.rng.random() < 0.02
    promise = None
    if outcome == "promise_to_pay":
        promise = day + timedelta(days=world.rng.randrange(1, 6))
        world.promises[case_id] = promise
        if world.rng.random() < 0.6:
            amount = round(min(world.owed[case_id], world.rng.uniform(200, 3000)), 2)
            world.due_payments.setdefault(promise, []).append((case_id, amount))
    world.notes.append((case_id, day, channel, outcome, complaint))
    at = datetime.combine(day, datetime.min.time()) + timedelta(
        hours=9, minutes=world.rng.randrange(600)
    )
    return {
        "note_id": world.next_id("N"),
        "case_id": case_id,
        "client_id": "EASTBANK",
        "collector_id": collector,
        "channel": channel,
        "contacted_at": at.strftime("%Y-%m-%d %H:%M:%S"),
        "outcome": outcome,
        "promise_amount": None,
        "promise_date": None if promise is None else promise.isoformat(),
        "complaint": "true" if complaint else "false",
    }


def _work(world: World, worklists: pl.DataFrame, day: date) -> list[dict[str, object]]:
    """The work day: each debtor on a worklist is worked as its rows say."""
    notes: list[dict[str, object]] = []
    rng = world.rng
    for rows in worklists.partition_by("debtor_ref", maintain_order=True):
        first = rows.row(0, named=True)
        cases = rows.get_column("case_id").to_list()
        debtor = world.debtors[world.debtor_of[cases[0]]]
        channel, who = str(first["channel"]), str(first["collector_id"])
        if channel == "letter":
            for case_id in cases:
                outcome = "mail_returned" if rng.random() < 0.05 else "letter_sent"
                notes.append(_note(world, case_id, day, who, "letter", outcome))
            continue
        if channel == "visit":
            met = rng.random() < debtor.reach
            for case_id in cases:
                outcome = "visit_met" if met else "visit_absent"
                notes.append(_note(world, case_id, day, who, "visit", outcome))
            continue
        allowed = int(first["attempts_allowed"] or 0)
        for _ in range(min(allowed, rng.randrange(1, 4))):
            if rng.random() < debtor.reach:
                pick = rng.random()
                outcome = (
                    "promise_to_pay"
                    if pick < debtor.pay
                    else "refused"
                    if pick > 0.93
                    else "right_party"
                )
                for case_id in cases:
                    notes.append(_note(world, case_id, day, who, "phone", outcome))
                break  # one conversation ends the day's calls
            outcome = rng.choice(("no_answer", "no_answer", "no_answer", "third_party"))
            for case_id in cases:
                notes.append(_note(world, case_id, day, who, "phone", outcome))
    return notes


def _payments(world: World, day: date) -> list[dict[str, object]]:
    rows = []
    for case_id, amount in world.due_payments.pop(day, []):
        world.paid[case_id] = world.paid.get(case_id, 0.0) + amount
        rows.append(
            {
                "payment_id": world.next_id("PM"),
                "case_id": case_id,
                "client_id": "EASTBANK",
                "paid_on": day.isoformat(),
                "amount": amount,
            }
        )
    return rows


# --- the checks: the history as the harness wrote it, never caseflow's queries ---------------


def _history(world: World, until: date) -> dict[str, list[tuple[date, str, str, bool]]]:
    by_case: dict[str, list[tuple[date, str, str, bool]]] = defaultdict(list)
    for case_id, day, channel, outcome, complaint in world.notes:
        if day <= until:
            by_case[case_id].append((day, channel, outcome, complaint))
    return by_case


def check(world: World, worklists: pl.DataFrame, night: date, pack: str) -> Counter[str]:
    """Every rule break in one night's worklists (the work day is ``night`` + 1)."""
    breaks: Counter[str] = Counter()
    work = night + timedelta(days=1)
    history = _history(world, night)
    collectors: dict[str, set[str]] = defaultdict(set)
    for row in worklists.iter_rows(named=True):
        case_id, debtor = str(row["case_id"]), world.debtor_of[str(row["case_id"])]
        collectors[debtor].add(str(row["collector_id"]))
        mates = world.debtors[debtor].cases
        notes = [n for c in mates for n in history.get(c, [])]
        own = history.get(case_id, [])
        action, channel = str(row["action"]), str(row["channel"])
        if channel == "letter" and float(row["amount_owed"]) <= 1000:
            breaks["R11 letter at or below 1,000 yuan"] += 1
        if action in COLLECTING and not any(o in REACHED for _, _, o, _ in own):
            breaks["R19 collection action on an unverified case"] += 1
        if any(c in world.no_contact for c in mates):
            breaks["do-not-contact debtor worked"] += 1
        # a promise on a case still with the agency (not paid off, not returned) that is not due
        if any(world.promises.get(c, date.min) > work for c in mates if world.is_open(c, work)):
            breaks["promise not yet due chased"] += 1
        if channel == "phone" and (row["attempts_allowed"] is None or not row["call_window"]):
            breaks["phone row without its limits"] += 1
        if pack == "cn-2026":
            if any(x and d >= work - timedelta(days=7) for d, _, _, x in notes):
                breaks["cn-2026 contact within the cooling-off"] += 1
            if action == TRACE:
                recent = [(d, ch, o) for d, ch, o, _ in notes if d >= night - timedelta(days=2)]
                failed = [1 for _, ch, o in recent if ch == "phone" and o in FAILED]
                reached = [1 for _, _, o in recent if o in REACHED]
                per_case = Counter(
                    c
                    for c in mates
                    for d, ch, o, _ in history.get(c, [])
                    if d >= night - timedelta(days=2) and ch == "phone" and o in FAILED
                )
                if reached or not failed or max(per_case.values(), default=0) < 3:
                    breaks["cn-2026 third-party contact while reachable (R20)"] += 1
        if pack == "us-regf" and channel == "phone":
            week = [(d, o) for d, ch, o, _ in notes if ch == "phone" and d >= work - timedelta(6)]
            attempts = Counter(
                c
                for c in mates
                for d, ch, _, _ in history.get(c, [])
                if ch == "phone" and d >= work - timedelta(days=6)
            )
            if max(attempts.values(), default=0) >= 7:
                breaks["us-regf phone row after 7 attempts in 7 days"] += 1
            if int(row["attempts_allowed"]) > 7 - max(attempts.values(), default=0):
                breaks["us-regf attempts_allowed above what is left"] += 1
            if any(o in CONVERSATION and d >= work - timedelta(days=7) for d, o in week) or any(
                ch == "phone" and o in CONVERSATION and d >= work - timedelta(days=7)
                for d, ch, o, _ in notes
            ):
                breaks["us-regf call within 7 days of a conversation"] += 1
    breaks["one debtor, two collectors"] += sum(1 for s in collectors.values() if len(s) > 1)
    return breaks


def _worklists(out: Path) -> pl.DataFrame:
    frames = [
        pl.read_csv(p, infer_schema_length=0, encoding="utf8")
        for p in sorted((out / "worklists").glob("*.csv"))
    ]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal").with_columns(
        pl.col("attempts_allowed").cast(pl.Int64, strict=False)
    )


def simulate(nights: int, cases: int, pack: str, seed: int, base: Path) -> dict[str, object]:
    world = World(rng=random.Random(seed))
    policy = base / "policy.toml"
    policy.write_text(f'rule_pack = "{pack}"\n', encoding="utf-8")
    start = date(2026, 11, 2)
    breaks: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    holds: Counter[str] = Counter()
    rows = 0
    files = Night(start, collectors=roster(), cases=_book(world, start, 1, cases))
    began = time.perf_counter()
    for n in range(nights):
        day = start + timedelta(days=n)
        files.day = day
        folder = files.write(base / "incoming" / day.isoformat())
        out = base / "out" / day.isoformat()
        run_night(day, folder, out, base / "home", policy_path=policy)
        worklists = _worklists(out)
        breaks.update(check(world, worklists, day, pack))
        rows += worklists.height
        actions.update(worklists.get_column("action").to_list() if worklists.height else [])
        held = pl.read_csv(out / "holds.csv", infer_schema_length=0, encoding="utf8")
        holds.update(held.get_column("reason").to_list())
        work = day + timedelta(days=1)
        new = _book(world, work, len(world.owed) + 1, max(1, cases // 50))
        files = Night(
            work, cases=new, contacts=_work(world, worklists, work), payments=_payments(world, work)
        )
    return {
        "pack": pack,
        "nights": nights,
        "cases": len(world.owed),
        "worklist_rows": rows,
        "rule_breaks": sum(breaks.values()),
        "breaks": {k: v for k, v in sorted(breaks.items()) if v},
        "actions": dict(actions.most_common()),
        "holds": dict(holds.most_common()),
        "seconds": round(time.perf_counter() - began, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--cases", type=int, default=600)
    parser.add_argument("--pack", choices=("cn-2026", "us-regf"), default="cn-2026")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, help="keep the home, files and outputs here")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="caseflow-month-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        result = simulate(args.nights, args.cases, args.pack, args.seed, base)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
