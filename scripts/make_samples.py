"""Generate data/samples: a small, realistic collection book in CONTRACT.md's input form.

Seeded and byte-reproducible: running it again writes the same bytes.

The world: three clients hand over about 5,800 cases of about 4,900 debtors between June and
November 2026. A day-by-day simulation works them: phone collectors call, visit collectors call
on debtors with large balances, letter collectors send registered mail; debtors answer, promise,
pay, break promises, complain, dispute. Each debtor has a latent willingness to pay made of
days overdue at hand-over (older debt pays less), balance (larger pays less often), product
(mortgages and auto loans pay more than cash loans), a debtor effect and noise. Being reached in
person raises the chance of paying in the following weeks; a promise is kept with a probability
that follows the same willingness. So a model that sees days overdue, balance, product, contact
history and promises as of a date can learn who pays in the next 30 days; it cannot see the
debtor effect, which keeps the problem honest (a good model lands near ROC AUC 0.75-0.8).

History: 13 weekly nights 2026-08-24 ... 2026-11-16 as clean Parquet (the first night carries
the whole book and all events since the first hand-over, as a backfill would). Tonight,
2026-11-23: each client's full active book in its own messy form, the week's payments and notes,
the roster, and a known list of bad rows (expected_rejects.csv).
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter
from stdnum import luhn

SEED = 20261123
TONIGHT = date(2026, 11, 23)
FIRST_NIGHT = date(2026, 8, 24)
START = date(2026, 6, 20)
NIGHTS = [FIRST_NIGHT + timedelta(days=7 * k) for k in range(13)]
CLIENTS = ("EASTBANK", "NORTHCF", "SOUTHLEND")
PRODUCTS = ("credit_card", "consumer_loan", "cash_loan", "auto_loan", "mortgage", "other")
PRODUCT_WEIGHTS = (0.45, 0.2, 0.2, 0.07, 0.03, 0.05)
PRODUCT_EFFECT = {
    "credit_card": 0.0,
    "consumer_loan": 0.1,
    "cash_loan": -0.5,
    "auto_loan": 0.5,
    "mortgage": 0.8,
    "other": -0.2,
}
PRODUCT_ZH = {
    "credit_card": "信用卡",
    "consumer_loan": "消费贷",
    "cash_loan": "现金贷",
    "auto_loan": "车贷",
    "mortgage": "房贷",
    "other": "其他",
}
STATUS_ZH = {
    "active": "正常",
    "paid": "已还清",
    "settled": "结清",
    "returned": "退案",
    "disputed": "争议",
    "legal": "诉讼",
}
# city -> (province, id-number area code, landline area code, districts, streets)
CITIES = {
    "上海": (
        "上海",
        "310115",
        "021",
        ("浦东新区", "闵行区", "徐汇区"),
        ("张杨路", "莘庄路", "漕溪路"),
    ),
    "杭州": ("浙江", "330106", "0571", ("西湖区", "余杭区"), ("文三路", "文一西路")),
    "南京": ("江苏", "320106", "025", ("鼓楼区", "江宁区"), ("中山路", "双龙大道")),
    "苏州": ("江苏", "320508", "0512", ("姑苏区", "吴中区"), ("人民路", "东吴北路")),
    "合肥": ("安徽", "340104", "0551", ("蜀山区", "包河区"), ("长江西路", "马鞍山路")),
    "宁波": ("浙江", "330212", "0574", ("鄞州区", "海曙区"), ("天童路", "中山西路")),
}
CITY_WEIGHTS = (0.3, 0.2, 0.15, 0.15, 0.1, 0.1)
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许"
    "韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力斌宇浩凯鹏晨欣怡子涵梓轩"
RIGHT_PARTY = ("right_party", "promise_to_pay", "refused", "paid_claimed")


def stable(*parts: object) -> int:
    """A hash that is the same in every process (Python's hash() of str is salted)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def id_check_digit(body: str) -> str:
    """ISO 7064 MOD 11-2 check character of a PRC resident id."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body))
    return "10X98765432"[total % 11]


@dataclass
class Book:
    """One row per case, as numpy/python columns, mutated by the simulation."""

    cases: pl.DataFrame
    collectors: pl.DataFrame


def make_collectors(rng: np.random.Generator) -> pl.DataFrame:
    rows = []
    for i in range(39):
        team = f"电催{'一二三'[i // 13]}组"
        rows.append(
            (f"P{i + 1:03d}", name(rng), team, "phone", "", int(rng.integers(40, 81)), True)
        )
    visit_cities = [
        ["上海"],
        ["上海"],
        ["上海", "苏州"],
        ["上海"],
        ["杭州"],
        ["杭州", "宁波"],
        ["杭州"],
        ["南京"],
        ["南京"],
        ["苏州"],
        ["苏州"],
        ["合肥"],
        ["合肥"],
        ["宁波"],
        ["宁波"],
        ["南京", "合肥"],
        ["上海"],
        ["杭州"],
    ]
    for i, cities in enumerate(visit_cities):
        rows.append(
            (
                f"V{i + 1:03d}",
                name(rng),
                "外访组",
                "visit",
                ";".join(cities),
                int(rng.integers(5, 9)),
                True,
            )
        )
    for i in range(5):
        rows.append(
            (f"L{i + 1:03d}", name(rng), "信函组", "letter", "", int(rng.integers(100, 201)), True)
        )
    frame = pl.DataFrame(
        rows,
        schema=["collector_id", "name", "team", "channel", "city", "daily_capacity", "active"],
        orient="row",
    )
    # a few on leave: they get no new work tonight
    away = ["P007", "P019", "P030", "V006", "L004"]
    return frame.with_columns(active=~pl.col("collector_id").is_in(away))


def name(rng: np.random.Generator) -> str:
    given = "".join(rng.choice(list(GIVEN), size=int(rng.integers(1, 3))))
    return str(rng.choice(list(SURNAMES))) + given


def make_cases(rng: np.random.Generator) -> pl.DataFrame:
    n_debtors = 4900
    cities = list(CITIES)
    rows = []
    serial = {c: 0 for c in CLIENTS}
    for d in range(n_debtors):
        client = CLIENTS[int(rng.choice(3, p=[0.4, 0.3, 0.3]))]
        city = cities[int(rng.choice(len(cities), p=CITY_WEIGHTS))]
        province, area, landline, districts, streets = CITIES[city]
        birth = date(1965, 1, 1) + timedelta(days=int(rng.integers(0, 35 * 365)))
        body = f"{area}{birth:%Y%m%d}{int(rng.integers(0, 1000)):03d}"
        id_number = body + id_check_digit(body)
        roll = rng.random()
        if roll < 0.08:
            phone = None
        elif roll < 0.12:
            phone = f"{landline}-{int(rng.integers(5_000_000, 9_000_000))}"
        else:
            phone = f"1{int(rng.choice([3, 5, 7, 8, 9]))}{int(rng.integers(0, 10**9)):09d}"
        district = districts[int(rng.integers(len(districts)))]
        street = streets[int(rng.integers(len(streets)))]
        address = (
            None
            if rng.random() < 0.04
            else f"{province}{city}市{district}{street}{int(rng.integers(1, 999))}号"
        )
        if province == city:
            address = address.replace(f"{province}{city}市", f"{city}市") if address else None
        debtor_effect = float(rng.normal(0, 0.9))
        contactability = float(rng.beta(2.2, 3.0))
        bad_number = bool(rng.random() < 0.1)
        person = name(rng)
        n_cases = int(rng.choice([1, 2, 3], p=[0.85, 0.12, 0.03]))
        customer_id = f"{client[:2]}C{d + 1:06d}"
        for _ in range(n_cases):
            serial[client] += 1
            product = PRODUCTS[int(rng.choice(len(PRODUCTS), p=PRODUCT_WEIGHTS))]
            scale = {"mortgage": 9.5, "auto_loan": 9.0, "cash_loan": 8.0}.get(product, 8.6)
            principal = round(float(np.exp(rng.normal(scale, 0.8))), 2)
            owed = round(principal * float(rng.uniform(1.0, 1.35)), 2)
            handover = START + timedelta(days=int(rng.integers(0, (TONIGHT - START).days)))
            dpd = int(
                rng.choice(
                    [rng.integers(1, 31), rng.integers(31, 91), rng.integers(91, 400)],
                    p=[0.35, 0.35, 0.3],
                )
            )
            card = None
            if product == "credit_card":
                stem = f"62{int(rng.integers(10**12, 10**13)):013d}"
                card = stem + luhn.calc_check_digit(stem)
            rows.append(
                {
                    "client_id": client,
                    "case_id": f"{client[:2]}{serial[client]:07d}",
                    "batch_id": f"{client[:2]}-{handover:%Y%m}",
                    "product": product,
                    "customer_id": customer_id,
                    "customer_name": person,
                    "id_number": id_number,
                    "card_number": card,
                    "phone": phone,
                    "address": address,
                    "province": province,
                    "city": city,
                    "district": district,
                    "principal": principal,
                    "amount_owed": owed,
                    "dpd_at_handover": dpd,
                    "handover_date": handover,
                    "return_date": handover + timedelta(days=90 if rng.random() < 0.8 else 60),
                    "debtor_effect": debtor_effect,
                    "contactability": contactability,
                    "bad_number": bad_number,
                }
            )
    return pl.DataFrame(rows)


@dataclass
class Events:
    payments: list[dict[str, object]]
    contacts: list[dict[str, object]]
    status_changes: list[tuple[int, date, str]]


def simulate(
    rng: np.random.Generator, cases: pl.DataFrame, roster: pl.DataFrame
) -> tuple[Events, np.ndarray]:
    """Work the book day by day; return the events and each case's balance history by day."""
    n = cases.height
    days = (TONIGHT - START).days + 1
    balance = cases.get_column("amount_owed").to_numpy().copy()
    history = np.zeros((days, n))
    handover = np.array([(d - START).days for d in cases.get_column("handover_date")])
    ret = np.array([(d - START).days for d in cases.get_column("return_date")])
    dpd0 = cases.get_column("dpd_at_handover").to_numpy()
    product = cases.get_column("product").to_list()
    will = (
        -2.2
        + cases.get_column("debtor_effect").to_numpy()
        - 0.006 * dpd0
        - 0.45 * np.log(cases.get_column("amount_owed").to_numpy() / 5000.0)
        + np.array([PRODUCT_EFFECT[p] for p in product])
    )
    contactable = cases.get_column("contactability").to_numpy()
    bad = cases.get_column("bad_number").to_numpy()
    has_phone = cases.get_column("phone").is_not_null().to_numpy()
    has_address = cases.get_column("address").is_not_null().to_numpy()
    city = cases.get_column("city").to_list()
    status = np.array(["active"] * n, dtype=object)
    last_reached = np.full(n, -999)
    promise_day = np.full(n, -1)
    promise_amt = np.zeros(n)
    broken = np.zeros(n)
    phones = roster.filter(pl.col("channel") == "phone").get_column("collector_id").to_list()
    visits = roster.filter(pl.col("channel") == "visit").select("collector_id", "city").rows()
    letters = roster.filter(pl.col("channel") == "letter").get_column("collector_id").to_list()
    visitor_of = {c: [v for v, cs in visits if c in cs.split(";")] for c in CITIES}
    events = Events([], [], [])
    note_seq = 0
    pay_seq = 0
    client = cases.get_column("client_id").to_list()
    case_id = cases.get_column("case_id").to_list()

    def note(
        i: int, day: date, channel: str, collector: str, outcome: str, **extra: object
    ) -> None:
        nonlocal note_seq
        note_seq += 1
        at = datetime.combine(day, datetime.min.time()) + timedelta(
            minutes=int(rng.integers(8 * 60 + 30, 20 * 60))
        )
        events.contacts.append(
            {
                "note_id": f"N{note_seq:08d}",
                "case_id": case_id[i],
                "client_id": client[i],
                "collector_id": collector,
                "channel": channel,
                "contacted_at": at,
                "outcome": outcome,
                "promise_amount": extra.get("promise_amount"),
                "promise_date": extra.get("promise_date"),
                "complaint": bool(extra.get("complaint", False)),
            }
        )

    def pay(i: int, day: date, amount: float) -> None:
        nonlocal pay_seq
        pay_seq += 1
        amount = round(min(amount, balance[i]), 2)
        if amount <= 0:
            return
        balance[i] = round(balance[i] - amount, 2)
        events.payments.append(
            {
                "payment_id": f"PM{pay_seq:08d}",
                "case_id": case_id[i],
                "client_id": client[i],
                "paid_on": day,
                "amount": amount,
            }
        )

    for t in range(days):
        day = START + timedelta(days=t)
        open_ = (handover <= t) & (status == "active")
        expired = open_ & (t > ret)
        for i in np.flatnonzero(expired):
            status[i] = "returned"
            events.status_changes.append((int(i), day, "returned"))
        open_ &= ~expired
        idx = np.flatnonzero(open_)
        if idx.size == 0:
            history[t] = balance
            continue
        recent = (t - last_reached[idx]) <= 14
        # payments: a background hazard lifted by a recent right-party contact
        hazard = sigmoid(will[idx] - 2.3 + 1.1 * recent - 0.35 * broken[idx]) * 0.09
        for i in idx[rng.random(idx.size) < hazard]:
            full = rng.random() < 0.35
            pay(int(i), day, balance[i] if full else balance[i] * float(rng.uniform(0.05, 0.4)))
        # promises falling due today
        for i in idx[promise_day[idx] == t]:
            if rng.random() < sigmoid(will[i] + 2.0):
                pay(int(i), day, promise_amt[i])
            else:
                broken[i] += 1
            promise_day[i] = -1
        # phone work: most open cases get a call every few days
        callers = idx[has_phone[idx] & (rng.random(idx.size) < 0.3)]
        for i in callers:
            collector = phones[stable(client[i], case_id[i], (t - handover[i]) // 30) % len(phones)]
            r = rng.random()
            if bad[i]:
                outcome = "wrong_number" if r < 0.6 else "no_answer"
            elif r < contactable[i] * 0.6:
                wants = rng.random() < sigmoid(will[i] + 1.5)
                outcome = (
                    "promise_to_pay"
                    if wants and promise_day[i] < 0
                    else ("right_party" if rng.random() < 0.6 else "refused")
                )
                last_reached[i] = t
            elif r < contactable[i] * 0.6 + 0.08:
                outcome = "third_party"
            else:
                outcome = "no_answer"
            extra: dict[str, object] = {}
            if outcome == "promise_to_pay":
                promise_day[i] = t + int(rng.integers(1, 10))
                promise_amt[i] = round(balance[i] * float(rng.choice([0.1, 0.3, 0.5, 1.0])), 2)
                extra = {
                    "promise_amount": promise_amt[i],
                    "promise_date": START + timedelta(days=int(promise_day[i])),
                }
            if outcome in RIGHT_PARTY and rng.random() < 0.01:
                extra["complaint"] = True
            note(int(i), day, "phone", collector, outcome, **extra)
        # field visits on large balances, letters on the rest now and then
        for i in idx[(balance[idx] > 20000) & has_address[idx] & (rng.random(idx.size) < 0.02)]:
            team = visitor_of[city[i]]
            if not team:
                continue
            met = rng.random() < contactable[i]
            if met:
                last_reached[i] = t
            note(
                int(i),
                day,
                "visit",
                team[stable(case_id[i]) % len(team)],
                "visit_met" if met else "visit_absent",
            )
        for i in idx[(balance[idx] > 1000) & has_address[idx] & (rng.random(idx.size) < 0.01)]:
            outcome = "mail_returned" if rng.random() < 0.06 else "letter_sent"
            note(int(i), day, "letter", letters[stable(case_id[i]) % len(letters)], outcome)
        # disputes, legal referrals and settlements are rare
        for i in idx[rng.random(idx.size) < 0.0004]:
            new = str(rng.choice(["disputed", "legal", "settled"], p=[0.5, 0.3, 0.2]))
            status[i] = new
            events.status_changes.append((int(i), day, new))
        for i in idx[balance[idx] <= 0]:
            status[i] = "paid"
        history[t] = balance
    return events, history


def case_rows(
    cases: pl.DataFrame, history: np.ndarray, states: dict[int, str], night: date, which: list[int]
) -> pl.DataFrame:
    """The client's rows for cases ``which`` as of ``night``: balance, days overdue, status."""
    t = (night - START).days
    rows = cases[which]
    handover = rows.get_column("handover_date")
    owed = history[t, which]
    dpd = (
        rows.get_column("dpd_at_handover")
        + (pl.Series([night] * len(which)) - handover).dt.total_days()
    )
    status = [states.get(i, "active") for i in which]
    # a closed case is reported with the amount handed over (the contract wants amount_owed > 0)
    owed = np.where(owed <= 0, rows.get_column("amount_owed").to_numpy(), owed)
    return rows.with_columns(
        amount_owed=pl.Series(np.round(owed, 2)),
        days_overdue=dpd.cast(pl.Int32),
        status=pl.Series(status),
        do_not_contact=pl.Series([False] * len(which)),
    ).drop("dpd_at_handover", "debtor_effect", "contactability", "bad_number")


def state_as_of(events: Events, history: np.ndarray, night: date, n: int) -> dict[int, str]:
    t = (night - START).days
    states: dict[int, str] = {}
    for i, day, new in events.status_changes:
        if day <= night:
            states[i] = new
    for i in np.flatnonzero(history[t] <= 0):
        states.setdefault(int(i), "paid")
    return states


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=False)


def history_nights(
    out: Path, cases: pl.DataFrame, events: Events, history: np.ndarray, roster: pl.DataFrame
) -> None:
    payments = pl.DataFrame(events.payments)
    contacts = pl.DataFrame(events.contacts)
    previous = START - timedelta(days=1)
    prev_states: dict[int, str] = {}
    for night in NIGHTS:
        folder = out / "history" / night.isoformat()
        folder.mkdir(parents=True)
        states = state_as_of(events, history, night, cases.height)
        handed = (
            cases.with_row_index("_i")
            .filter((pl.col("handover_date") > previous) & (pl.col("handover_date") <= night))
            .get_column("_i")
            .to_list()
        )
        changed = [i for i, s in states.items() if prev_states.get(i) != s and i not in handed]
        which = sorted(set(handed) | set(changed))
        rows = case_rows(cases, history, states, night, which)
        for client in CLIENTS:
            write_parquet(
                rows.filter(pl.col("client_id") == client),
                folder / f"cases_{client.lower()}.parquet",
            )
            write_parquet(
                payments.filter(
                    (pl.col("client_id") == client)
                    & pl.col("paid_on").is_between(previous, night, closed="right")
                ),
                folder / f"payments_{client.lower()}.parquet",
            )
            write_parquet(
                contacts.filter(
                    (pl.col("client_id") == client)
                    & (pl.col("contacted_at").dt.date() > previous)
                    & (pl.col("contacted_at").dt.date() <= night)
                ),
                folder / f"contacts_{client.lower()}.parquet",
            )
        if night == FIRST_NIGHT:
            roster.filter(pl.col("collector_id") != "P036").with_columns(
                active=pl.lit(True)
            ).write_csv(folder / "collectors.csv")
        previous, prev_states = night, states


# ---- tonight: messy files -------------------------------------------------------------


def fmt_money(value: float, rng: np.random.Generator) -> str:
    style = int(rng.integers(0, 5))
    return [f"{value:,.2f}", f"¥{value:g}", f"{value:.2f}元", f"{value:.2f}", f" {value:.1f} "][
        style
    ]


def fmt_date(value: date | None, rng: np.random.Generator) -> str:
    if value is None:
        return ""
    style = int(rng.integers(0, 4))
    return [
        value.isoformat(),
        f"{value:%Y/%m/%d}",
        f"{value:%Y%m%d}",
        f"{value.isoformat()} 00:00:00",
    ][style]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


ZH_HEADERS = {
    "case_id": "案件编号",
    "client_id": "委托方",
    "batch_id": "委案批次",
    "customer_id": "客户编号",
    "customer_name": "客户姓名",
    "id_number": "身份证号",
    "card_number": "卡号",
    "phone": "手机号",
    "address": "家庭地址",
    "province": "省",
    "city": "市",
    "district": "区",
    "product": "产品类型",
    "principal": "本金",
    "amount_owed": "欠款金额",
    "days_overdue": "逾期天数",
    "last_payment_date": "最后还款日期",
    "last_payment_amount": "最后还款金额",
    "handover_date": "委案日期",
    "return_date": "退案日期",
    "status": "案件状态",
    "do_not_contact": "勿扰",
}
CASE_FIELDS = list(ZH_HEADERS)


@dataclass
class Bad:
    file: str
    row: int
    column: str
    rule: str


def tonight_book(
    cases: pl.DataFrame, events: Events, history: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """Each client's full book tonight: every case still open, plus those closed this week."""
    states = state_as_of(events, history, TONIGHT, cases.height)
    week = state_as_of(events, history, TONIGHT - timedelta(days=7), cases.height)
    which = [
        i
        for i in range(cases.height)
        if cases["handover_date"][i] <= TONIGHT
        and (
            states.get(i, "active") in ("active", "disputed", "legal")
            or states.get(i) != week.get(i)
        )
    ]
    rows = case_rows(cases, history, states, TONIGHT, which)
    payments = pl.DataFrame(events.payments)
    last = (
        payments.filter(pl.col("paid_on") <= TONIGHT)
        .group_by("client_id", "case_id")
        .agg(
            pl.col("paid_on").max().alias("last_payment_date"),
            pl.col("amount").sort_by("paid_on").last().alias("last_payment_amount"),
        )
    )
    rows = rows.join(last, on=["client_id", "case_id"], how="left")
    dnc = rng.random(rows.height) < 0.01
    return rows.with_columns(do_not_contact=pl.Series(dnc))


def render_value(column: str, value: object, rng: np.random.Generator, style: str) -> str:
    if value is None:
        return ""
    if column in ("principal", "amount_owed", "last_payment_amount"):
        return fmt_money(float(value), rng) if style == "messy" else f"{float(value):.2f}"  # type: ignore[arg-type]
    if isinstance(value, date):
        if style == "zh":
            return value.strftime("%Y/%m/%d") if rng.random() < 0.6 else value.strftime("%Y%m%d")
        return fmt_date(value, rng) if style == "messy" else value.isoformat()
    if isinstance(value, bool):
        if style == "zh":
            return "是" if value else "否"
        return str(rng.choice(["true/false", "1/0", "Y/N"])).split("/")[0 if value else 1]
    if column == "product" and style == "zh" and rng.random() < 0.5:
        return PRODUCT_ZH[str(value)]
    if column == "status" and style == "zh" and rng.random() < 0.5:
        return STATUS_ZH[str(value)]
    return str(value)


def write_tonight(
    out: Path,
    cases: pl.DataFrame,
    events: Events,
    history: np.ndarray,
    roster: pl.DataFrame,
    rng: np.random.Generator,
) -> list[Bad]:
    folder = out / "incoming" / TONIGHT.isoformat()
    folder.mkdir(parents=True)
    book = tonight_book(cases, events, history, rng)
    bad: list[Bad] = []

    def table(client: str, style: str) -> list[list[str]]:
        part = book.filter(pl.col("client_id") == client).sort("case_id")
        return [
            [render_value(c, r[c], rng, style) for c in CASE_FIELDS]
            for r in part.iter_rows(named=True)
        ]

    # EASTBANK: GB18030, Chinese headers, an extra column, Chinese values
    east = table("EASTBANK", "zh")
    col = CASE_FIELDS.index
    east[10][col("id_number")] = east[10][col("id_number")][:-1] + (
        "0" if east[10][col("id_number")][-1] != "0" else "1"
    )
    bad.append(Bad("cases_eastbank.csv", 12, "id_number", "id_number_invalid"))
    east[40][col("return_date")] = "2026/05/01"
    bad.append(Bad("cases_eastbank.csv", 42, "return_date", "return_before_handover"))
    east[77][col("handover_date")] = "2026年13月5日"
    bad.append(Bad("cases_eastbank.csv", 79, "handover_date", "unreadable_date"))
    cc = next(i for i in range(120, len(east)) if east[i][col("card_number")])
    digits = east[cc][col("card_number")]
    east[cc][col("card_number")] = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    bad.append(Bad("cases_eastbank.csv", cc + 2, "card_number", "card_number_invalid"))
    header = [ZH_HEADERS[c] for c in CASE_FIELDS] + ["备注"]
    text = csv_text(
        header, [[*r, "客户称下月还款" if i % 97 == 0 else ""] for i, r in enumerate(east)]
    )
    (folder / "cases_eastbank.csv").write_bytes(text.encode("gb18030"))

    # NORTHCF: XLSX with date cells, a few Excel serial dates, numeric amounts
    north = book.filter(pl.col("client_id") == "NORTHCF").sort("case_id")
    write_xlsx(folder / "cases_northcf.xlsx", north, bad, rng)

    # SOUTHLEND: UTF-8 with BOM, headers in odd case and spacing, amounts and dates as typed by hand
    south = table("SOUTHLEND", "messy")
    south[5][col("amount_owed")] = "-350.00"
    bad.append(Bad("cases_southlend.csv", 7, "amount_owed", "not_positive"))
    south[15][col("principal")] = "-1,000.00"
    bad.append(Bad("cases_southlend.csv", 17, "principal", "negative"))
    south[25][col("case_id")] = ""
    bad.append(Bad("cases_southlend.csv", 27, "case_id", "required"))
    south[35][col("product")] = "payday_loan"
    bad.append(Bad("cases_southlend.csv", 37, "product", "unknown_value"))
    phone_row = next(i for i in range(45, len(south)) if south[i][col("phone")].startswith("1"))
    south[phone_row][col("phone")] = south[phone_row][col("phone")][:7]
    bad.append(Bad("cases_southlend.csv", phone_row + 2, "phone", "phone_invalid"))
    south[65][col("days_overdue")] = "5000"
    bad.append(Bad("cases_southlend.csv", 67, "days_overdue", "out_of_range"))
    south[75][col("last_payment_date")] = "2026-12-01"
    bad.append(Bad("cases_southlend.csv", 77, "last_payment_date", "after_business_date"))
    twin = list(south[85])
    twin[col("amount_owed")] = "9,999.00"
    south.insert(86, twin)
    bad.append(Bad("cases_southlend.csv", 87, "case_id", "duplicate_key"))
    bad.append(Bad("cases_southlend.csv", 88, "case_id", "duplicate_key"))
    header = [
        f" {c.upper()}" if i % 3 == 0 else c.replace("_", "_") for i, c in enumerate(CASE_FIELDS)
    ]
    (folder / "cases_southlend.csv").write_bytes(
        b"\xef\xbb\xbf" + csv_text(header, south).encode("utf-8")
    )

    # the week's payments and notes, the roster
    week_start = TONIGHT - timedelta(days=7)
    pays = pl.DataFrame(events.payments).filter(pl.col("paid_on") > week_start).sort("payment_id")
    pay_rows = [
        [
            r["payment_id"],
            r["case_id"],
            r["client_id"],
            r["paid_on"].isoformat(),
            f"{r['amount']:.2f}",
        ]
        for r in pays.iter_rows(named=True)
    ]
    pay_rows += [
        [f"PMX{k:05d}", f"EA99999{k:02d}", "EASTBANK", TONIGHT.isoformat(), "500.00"]
        for k in range(3)
    ]
    pay_rows[20][4] = "0"
    bad.append(Bad("payments.csv", 22, "amount", "not_positive"))
    (folder / "payments.csv").write_text(
        csv_text(["payment_id", "case_id", "client_id", "paid_on", "amount"], pay_rows),
        encoding="utf-8",
    )
    notes = (
        pl.DataFrame(events.contacts)
        .filter(pl.col("contacted_at").dt.date() > week_start)
        .sort("note_id")
    )
    note_cols = [
        "note_id",
        "case_id",
        "client_id",
        "collector_id",
        "channel",
        "contacted_at",
        "outcome",
        "promise_amount",
        "promise_date",
        "complaint",
    ]
    note_rows = [
        [
            ""
            if r[c] is None
            else (
                r[c].strftime("%Y-%m-%d %H:%M:%S")
                if c == "contacted_at"
                else (
                    f"{r[c]:.2f}"
                    if c == "promise_amount"
                    else (str(r[c]).lower() if c == "complaint" else str(r[c]))
                )
            )
            for c in note_cols
        ]
        for r in notes.iter_rows(named=True)
    ]
    (folder / "contacts.csv").write_text(csv_text(note_cols, note_rows), encoding="utf-8")
    roster_rows = [
        [str(v).lower() if isinstance(v, bool) else str(v) for v in r] for r in roster.rows()
    ]
    (folder / "collectors.csv").write_text(csv_text(roster.columns, roster_rows), encoding="utf-8")
    return bad


def write_xlsx(path: Path, frame: pl.DataFrame, bad: list[Bad], rng: np.random.Generator) -> None:
    book = xlsxwriter.Workbook(str(path), {"in_memory": True})
    book.set_properties({"created": datetime(2026, 11, 23, 20, 0, 0)})
    sheet = book.add_worksheet("cases")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for c, name_ in enumerate(CASE_FIELDS):
        sheet.write_string(0, c, name_)
    epoch = date(1899, 12, 30)
    for r, row in enumerate(frame.iter_rows(named=True), start=1):
        for c, column in enumerate(CASE_FIELDS):
            value = row[column]
            if value is None:
                continue
            if isinstance(value, date):
                if r % 50 == 0:
                    sheet.write_number(
                        r, c, (value - epoch).days
                    )  # an Excel serial, no date format
                else:
                    sheet.write_datetime(
                        r, c, datetime.combine(value, datetime.min.time()), date_format
                    )
            elif isinstance(value, bool):
                sheet.write_boolean(r, c, value)
            elif isinstance(value, float | int) and column not in ("case_id",):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    # one known bad row: a hand-typed date that is no date
    sheet.write_string(31, CASE_FIELDS.index("return_date"), "next month")
    bad.append(Bad(path.name, 32, "return_date", "unreadable_date"))
    book.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/samples"))
    out: Path = parser.parse_args().out
    rng = np.random.default_rng(SEED)
    roster = make_collectors(rng)
    cases = make_cases(rng)
    events, history = simulate(rng, cases, roster)
    for sub in ("history", "incoming"):
        shutil.rmtree(out / sub, ignore_errors=True)
    history_nights(out, cases, events, history, roster)
    bad = write_tonight(out, cases, events, history, roster, rng)
    rows = [
        [b.file, str(b.row), b.column, b.rule] for b in sorted(bad, key=lambda b: (b.file, b.row))
    ]
    (out / "expected_rejects.csv").write_text(
        csv_text(["file", "row", "column", "rule"], rows), encoding="utf-8"
    )
    print(
        f"{cases.height} cases, {len(events.payments)} payments, "
        f"{len(events.contacts)} notes -> {out}"
    )


if __name__ == "__main__":
    main()
