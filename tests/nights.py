"""Small, valid nights in the contract's file form, for tests that run whole nights quickly.

Every id number has a real birth date and its ISO 7064 MOD 11-2 check character, every card
number passes Luhn and every phone is a mainland mobile, so that they pass validation and reach
the warehouse and the outputs: the tests of ``test_pii`` look for them there.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from stdnum import luhn
from stdnum.iso7064 import mod_11_2

from pipeline.headers import COLUMNS

CITIES = ("上海", "杭州")
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def id_number(rng: random.Random) -> str:
    """A PRC resident id with a real birth date and a valid check character."""
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
    body = f"310115{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + mod_11_2.calc_check_digit(body)


def card_number(rng: random.Random) -> str:
    """A 16-digit card number that passes Luhn."""
    body = "62" + "".join(str(rng.randrange(10)) for _ in range(13))
    return body + luhn.calc_check_digit(body)


def phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"


def csv_text(columns: tuple[str, ...] | list[str], rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return buffer.getvalue()


@dataclass
class Night:
    """The rows of one night's files; ``write`` puts them into a folder as CSV."""

    day: date
    cases: list[dict[str, object]] = field(default_factory=list)
    payments: list[dict[str, object]] = field(default_factory=list)
    contacts: list[dict[str, object]] = field(default_factory=list)
    collectors: list[dict[str, object]] = field(default_factory=list)

    def write(self, folder: Path, *, suffix: str = "") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for kind in ("cases", "payments", "contacts", "collectors"):
            rows = getattr(self, kind)
            if rows:
                text = csv_text(COLUMNS[kind], rows)
                (folder / f"{kind}{suffix}.csv").write_text(text, encoding="utf-8")
        return folder


def case_row(rng: random.Random, n: int, day: date, client: str = "EASTBANK") -> dict[str, object]:
    city = CITIES[n % len(CITIES)]
    product = "credit_card" if n % 3 else "cash_loan"
    owed = round(rng.uniform(800, 30000), 2)
    return {
        "case_id": f"{client[:2]}{n:07d}",
        "client_id": client,
        "batch_id": f"{client[:2]}-202611",
        "product": product,
        "customer_id": f"{client[:2]}C{n:06d}",
        "customer_name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
        "id_number": id_number(rng),
        "card_number": card_number(rng) if product == "credit_card" else None,
        "phone": phone(rng),
        "address": f"{city}市某区某路{rng.randrange(1, 999)}号",
        "province": city,
        "city": city,
        "district": "某区",
        "principal": round(owed * 0.8, 2),
        "amount_owed": owed,
        "days_overdue": rng.randrange(1, 400),
        "last_payment_date": None,
        "last_payment_amount": None,
        "handover_date": (day - timedelta(days=rng.randrange(1, 60))).isoformat(),
        "return_date": (day + timedelta(days=rng.randrange(10, 90))).isoformat(),
        "status": "active",
        "do_not_contact": "false",
    }


def roster(active: bool = True) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(1, 5):
        rows.append(_collector(f"P{i:03d}", "phone", "", 25, active))
    for i, city in enumerate(CITIES, start=1):
        rows.append(_collector(f"V{i:03d}", "visit", city, 4, active))
    rows.append(_collector("L001", "letter", "", 20, active))
    return rows


def _collector(cid: str, channel: str, city: str, capacity: int, active: bool) -> dict[str, object]:
    return {
        "collector_id": cid,
        "name": f"催收员{cid}",
        "team": f"{channel}-1",
        "channel": channel,
        "city": city,
        "daily_capacity": capacity,
        "active": "true" if active else "false",
    }


def night(day: date, n_cases: int = 120, seed: int = 7, client: str = "EASTBANK") -> Night:
    """A night of ``n_cases`` cases, a few payments and notes, and a roster of 7 collectors."""
    rng = random.Random(seed)
    result = Night(day, collectors=roster())
    for n in range(1, n_cases + 1):
        result.cases.append(case_row(rng, n, day, client))
    for n in range(1, n_cases + 1, 9):
        result.payments.append(
            {
                "payment_id": f"PM{seed:02d}{n:06d}",
                "case_id": f"{client[:2]}{n:07d}",
                "client_id": client,
                "paid_on": (day - timedelta(days=1)).isoformat(),
                "amount": 100,
            }
        )
    for n in range(1, n_cases + 1, 4):
        result.contacts.append(
            {
                "note_id": f"N{seed:02d}{n:06d}",
                "case_id": f"{client[:2]}{n:07d}",
                "client_id": client,
                "collector_id": "P001",
                "channel": "phone",
                "contacted_at": f"{day - timedelta(days=2)} 10:00:00",
                "outcome": "right_party" if n % 8 == 1 else "no_answer",
                "promise_amount": None,
                "promise_date": None,
                "complaint": "false",
            }
        )
    return result


# Columns that name a run or the clock, not the night's data: they differ between two runs of
# the same night by design.
VOLATILE_COLUMNS = frozenset(
    {"run_id", "received_at", "archived_path", "started_at", "finished_at", "manifest"}
)
# The audit trail: one row per run, so a re-run adds one by design.
AUDIT_TABLES = frozenset({"runs"})


def warehouse_state(home: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows (sorted, volatile columns left out), to compare two warehouses."""
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        state: dict[str, list[tuple[object, ...]]] = {}
        for table in sorted(set(tables) - AUDIT_TABLES):
            columns = [
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() where table_name = ? "
                    "order by column_index",
                    [table],
                ).fetchall()
                if r[0] not in VOLATILE_COLUMNS
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'select {listed} from "{table}"').fetchall()
            state[table] = sorted(rows, key=repr)
        return state
    finally:
        con.close()


def published(out: Path) -> dict[str, bytes]:
    """The bytes of every CSV and XLSX a night published (manifest and report name the run)."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.suffix in (".csv", ".xlsx")
    }
