"""A seeded synthetic night in CONTRACT.md's input form, at any size, for the benchmarks.

    .venv/bin/python bench/world_gen.py --cases 1000000 [--seed 7] [--collectors M] [--out DIR]

One night folder (business date 2026-11-23) holds what a large bank sends: each of three clients'
cases as Parquet (``cases_<client>.parquet``), each client's collection notes as Parquet
(``contacts_<client>.parquet``, about 5 notes a case over the last 120 days), the week's payments
as CSV (``payments.csv``, about 0.3 a case, amounts and dates in the several forms banks write
them, so the CSV path is measured too) and the roster as CSV (``collectors.csv``: max(N/5,000, 20)
collectors, about 63% phone, 29% visit across 40 cities of very uneven size, 8% letter, a few on
leave). Values are realistic where the rules look: PRC id numbers with their ISO 7064 MOD 11-2
check character, Luhn-valid card numbers for credit cards, mobile phones ``1[3-9]`` + 9 digits and
some landlines, and a small share of planted bad rows (wrong check characters, bad phones, negative
amounts, unreadable dates, duplicate keys, unknown words, notes after the business date).

Everything is built column-wise with numpy and polars, never a Python loop per case or note, so
10M cases and 50M notes take about a minute; notes are written a slice at a time so memory stays
bounded. The same (N, seed, collectors) gives the same files. ``ensure_world`` caches a world
under ``bench/world/`` (git-ignored) and reuses it when its ``world.json`` (written last) exists.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

BUSINESS_DATE = date(2026, 11, 23)
# The night after (bench/night.py --next-night): the book sent again, a day's notes and payments.
NEXT_DATE = BUSINESS_DATE + timedelta(days=1)
NEXT_WORKED = 0.01  # the share of the book a day's work leaves a note on (about 2 notes each)
NEXT_PAID = 0.01  # the share of the book that pays on a day (0.3 a case over the first 30 days)
FORMAT = 1  # bump when the generator changes: cached worlds of another format are rebuilt
CLIENTS = (("EASTBANK", "EA", 0.4), ("NORTHCF", "NO", 0.3), ("SOUTHLEND", "SO", 0.3))
PRODUCTS = ("credit_card", "consumer_loan", "cash_loan", "auto_loan", "mortgage", "other")
PRODUCT_WEIGHTS = (0.45, 0.2, 0.2, 0.07, 0.03, 0.05)
PRODUCT_SCALE = (1.0, 1.5, 0.6, 3.0, 8.0, 1.0)
STATUSES = ("active", "paid", "settled", "returned", "disputed", "legal")
STATUS_WEIGHTS = (0.93, 0.02, 0.01, 0.015, 0.01, 0.015)
# city, province, id-number area code (a district of the city), landline area code
CITIES = (
    ("北京", "北京", "110105", "010"),
    ("上海", "上海", "310115", "021"),
    ("广州", "广东", "440106", "020"),
    ("深圳", "广东", "440304", "0755"),
    ("重庆", "重庆", "500103", "023"),
    ("成都", "四川", "510107", "028"),
    ("天津", "天津", "120104", "022"),
    ("武汉", "湖北", "420106", "027"),
    ("杭州", "浙江", "330106", "0571"),
    ("南京", "江苏", "320106", "025"),
    ("西安", "陕西", "610113", "029"),
    ("苏州", "江苏", "320508", "0512"),
    ("郑州", "河南", "410105", "0371"),
    ("长沙", "湖南", "430104", "0731"),
    ("东莞", "广东", "441900", "0769"),
    ("沈阳", "辽宁", "210102", "024"),
    ("青岛", "山东", "370202", "0532"),
    ("合肥", "安徽", "340104", "0551"),
    ("佛山", "广东", "440604", "0757"),
    ("济南", "山东", "370102", "0531"),
    ("宁波", "浙江", "330212", "0574"),
    ("昆明", "云南", "530102", "0871"),
    ("福州", "福建", "350102", "0591"),
    ("无锡", "江苏", "320213", "0510"),
    ("厦门", "福建", "350203", "0592"),
    ("哈尔滨", "黑龙江", "230103", "0451"),
    ("长春", "吉林", "220102", "0431"),
    ("南昌", "江西", "360102", "0791"),
    ("石家庄", "河北", "130102", "0311"),
    ("南宁", "广西", "450103", "0771"),
    ("贵阳", "贵州", "520102", "0851"),
    ("太原", "山西", "140105", "0351"),
    ("大连", "辽宁", "210202", "0411"),
    ("温州", "浙江", "330302", "0577"),
    ("泉州", "福建", "350503", "0595"),
    ("常州", "江苏", "320402", "0519"),
    ("南通", "江苏", "320602", "0513"),
    ("徐州", "江苏", "320302", "0516"),
    ("乌鲁木齐", "新疆", "650102", "0991"),
    ("兰州", "甘肃", "620102", "0931"),
)
DISTRICTS = ("城东区", "城西区", "高新区", "经开区", "新城区", "老城区")
STREETS = ("人民路", "中山路", "解放路", "建设路", "和平路", "长江路", "文化路", "新华路")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力斌宇浩凯鹏晨欣怡子涵梓轩"
CARD_BINS = ("622588", "625527", "436742", "622202", "518710", "403391")
# ISO 7064 MOD 11-2 weights of the 17 body digits, and the check character of each remainder
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = "10X98765432"
NOTE_CHANNELS = ("phone", "sms", "visit", "letter")
NOTE_CHANNEL_WEIGHTS = (0.79, 0.07, 0.07, 0.07)
OUTCOMES_BY_CHANNEL: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "phone": (
        (
            "no_answer",
            "wrong_number",
            "third_party",
            "right_party",
            "promise_to_pay",
            "refused",
            "paid_claimed",
        ),
        (0.45, 0.04, 0.1, 0.2, 0.1, 0.08, 0.03),
    ),
    "sms": (("no_answer", "right_party"), (0.92, 0.08)),
    "visit": (("visit_met", "visit_absent", "promise_to_pay"), (0.45, 0.45, 0.1)),
    "letter": (("letter_sent", "mail_returned"), (0.93, 0.07)),
}
NOTES_PER_SLICE = 4_000_000  # notes built and written at a time (bounds the generator's memory)
# Shares of planted bad rows (of cases, notes, payments; a few rules each)
BAD_SHARE = 0.0004


@dataclass(frozen=True)
class World:
    """A night folder on disk and what it holds."""

    root: Path
    incoming: Path
    business_date: date
    facts: dict[str, Any]


def default_collectors(n_cases: int) -> int:
    return max(round(n_cases / 5_000), 20)


def world_key(n_cases: int, seed: int, n_collectors: int) -> str:
    return f"n{n_cases}-s{seed}-c{n_collectors}"


def ensure_world(
    base: Path, n_cases: int, seed: int, n_collectors: int | None = None, say: Any = None
) -> World:
    """The cached world for (n_cases, seed, collectors) under ``base``; made when missing."""
    m = n_collectors if n_collectors is not None else default_collectors(n_cases)
    root = base / world_key(n_cases, seed, m)
    incoming = root / "incoming" / BUSINESS_DATE.isoformat()
    stamp = root / "world.json"
    if stamp.exists():
        facts: dict[str, Any] = json.loads(stamp.read_text(encoding="utf-8"))
        if facts.get("format") == FORMAT:
            return World(root, incoming, BUSINESS_DATE, {**facts, "reused": True})
    if root.exists():
        shutil.rmtree(root)  # a half-made or outdated world
    incoming.mkdir(parents=True)
    started = time.perf_counter()
    facts = make_world(incoming, n_cases, seed, m, say)
    facts["format"] = FORMAT
    facts["make_seconds"] = round(time.perf_counter() - started, 2)
    facts["bytes"] = sum(p.stat().st_size for p in incoming.iterdir())
    stamp.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    return World(root, incoming, BUSINESS_DATE, {**facts, "reused": False})


# ---- helpers -------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> np.ndarray[Any, Any]:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int32)


def _zipf(k: int, power: float = 0.8) -> np.ndarray[Any, Any]:
    w = 1.0 / np.arange(1, k + 1) ** power
    return np.asarray(w / w.sum())


def _text(values: tuple[str, ...] | list[str], index: np.ndarray[Any, Any]) -> pl.Series:
    """values[index] as a polars string column (gather on a small series: no Python loop)."""
    return pl.Series(list(values), dtype=pl.Utf8).gather(pl.Series(index, dtype=pl.UInt32))


def _bad(rng: np.random.Generator, n: int, share: float = BAD_SHARE) -> np.ndarray[Any, Any]:
    return rng.random(n) < share


def _digits(value: np.ndarray[Any, Any], width: int) -> list[np.ndarray[Any, Any]]:
    """The ``width`` decimal digits of each value, most significant first."""
    return [(value // 10 ** (width - 1 - i)) % 10 for i in range(width)]


def _day_numbers(days: date) -> int:
    return (days - date(1970, 1, 1)).days


def names(rng: np.random.Generator, n: int) -> pl.Series:
    surname = _text(list(SURNAMES), rng.integers(0, len(SURNAMES), n))
    first = _text(list(GIVEN), rng.integers(0, len(GIVEN), n))
    second = _text(list(GIVEN), rng.integers(0, len(GIVEN), n))
    two = pl.Series(rng.random(n) < 0.6)
    return pl.select(
        pl.concat_str(
            pl.lit(surname),
            pl.lit(first),
            pl.when(pl.lit(two)).then(pl.lit(second)).otherwise(pl.lit("")),
        )
    ).to_series()


def id_numbers(
    rng: np.random.Generator, city: np.ndarray[Any, Any], bad: np.ndarray[Any, Any]
) -> pl.Series:
    """18-character PRC ids: area, birth date (1960-1999), sequence, MOD 11-2 check character."""
    n = len(city)
    born = np.datetime64("1960-01-01") + rng.integers(0, 40 * 365, n).astype("timedelta64[D]")
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month = born.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (born - born.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = year * 10_000 + month * 100 + day
    seq = rng.integers(0, 1000, n)
    area_sum = np.array(
        [int(np.dot([int(c) for c in code], ID_WEIGHTS[:6])) for _, _, code, _ in CITIES]
    )
    total = area_sum[city] + sum(
        d * w for d, w in zip(_digits(ymd, 8) + _digits(seq, 3), ID_WEIGHTS[6:], strict=True)
    )
    remainder = total % 11
    remainder = np.where(bad, (remainder + 1) % 11, remainder)  # a wrong check character
    area = _text([code for _, _, code, _ in CITIES], city)
    return pl.select(
        pl.concat_str(
            pl.lit(area),
            pl.lit(pl.Series(ymd)).cast(pl.Utf8),
            pl.lit(pl.Series(seq)).cast(pl.Utf8).str.zfill(3),
            pl.lit(_text(list(ID_CHECK), remainder)),
        )
    ).to_series()


def card_numbers(rng: np.random.Generator, n: int, bad: np.ndarray[Any, Any]) -> pl.Series:
    """16-digit card numbers: a bank's BIN, 9 account digits and the Luhn check digit."""
    bins = rng.integers(0, len(CARD_BINS), n)
    body = rng.integers(0, 10**9, n)

    def doubled(d: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.where(d * 2 > 9, d * 2 - 9, d * 2)

    # 16 digits: positions 1, 3, ..., 15 (from the left) are doubled, the 16th is the check
    bin_sum = np.array(
        [
            sum(int(doubled(np.array(int(c)))) if i % 2 == 0 else int(c) for i, c in enumerate(b))
            for b in CARD_BINS
        ]
    )
    digits = _digits(body, 9)  # positions 7..15
    total = bin_sum[bins] + sum(doubled(d) if i % 2 == 0 else d for i, d in enumerate(digits))
    check = (10 - total % 10) % 10
    check = np.where(bad, (check + 1) % 10, check)
    return pl.select(
        pl.concat_str(
            pl.lit(_text(list(CARD_BINS), bins)),
            pl.lit(pl.Series(body)).cast(pl.Utf8).str.zfill(9),
            pl.lit(pl.Series(check)).cast(pl.Utf8),
        )
    ).to_series()


def phones(rng: np.random.Generator, city: np.ndarray[Any, Any]) -> pl.Series:
    """86% mobiles 1[3-9]+9 digits, 4% landlines 0571-7654321, 8% none, a few malformed."""
    n = len(city)
    mobile = 10**10 + rng.integers(3, 10, n) * 10**9 + rng.integers(0, 10**9, n)
    local = rng.integers(2_000_000, 9_000_000, n)
    kind = rng.random(n)
    landline = pl.concat_str(
        pl.lit(_text([c for _, _, _, c in CITIES], city)),
        pl.lit("-"),
        pl.lit(pl.Series(local)).cast(pl.Utf8),
    )
    bad = _bad(rng, n)
    return pl.select(
        pl.when(pl.lit(pl.Series(bad)))
        .then(pl.lit(pl.Series(mobile // 10_000)).cast(pl.Utf8))  # 7 digits: no phone at all
        .when(pl.lit(pl.Series(kind < 0.86)))
        .then(pl.lit(pl.Series(mobile)).cast(pl.Utf8))
        .when(pl.lit(pl.Series(kind < 0.90)))
        .then(landline)
        .otherwise(None)
    ).to_series()


def _thousands(amount: pl.Expr) -> pl.Expr:
    """1234.5 -> "1,234.50" (amounts below a million; larger ones stay plain)."""
    plain = amount.round(2).cast(pl.Utf8)
    whole = amount.floor().cast(pl.Int64).cast(pl.Utf8)
    cents = ((amount * 100).round(0).cast(pl.Int64) % 100).cast(pl.Utf8).str.zfill(2)
    grouped = pl.concat_str(
        whole.str.slice(0, whole.str.len_chars() - 3),
        pl.lit(","),
        whole.str.slice(-3),
        pl.lit("."),
        cents,
    )
    return pl.when((amount >= 1000) & (amount < 1_000_000)).then(grouped).otherwise(plain)


# ---- the world -----------------------------------------------------------------------------


def roster(rng: np.random.Generator, m: int) -> pl.DataFrame:
    """The collectors: 63% phone, 29% visit (one or two cities), 8% letter, ~3% on leave."""
    channel = _pick(rng, m, (0.63, 0.29, 0.08))
    channel[: min(m, 3)] = [0, 1, 2][: min(m, 3)]  # every channel has someone, even at 20
    names_ = ("phone", "visit", "letter")
    chan = _text(list(names_), channel)
    order = pl.DataFrame({"channel": chan}).with_columns(
        n=pl.int_range(1, pl.len() + 1).over("channel")
    )
    prefix = chan.replace_strict({"phone": "P", "visit": "V", "letter": "L"}, return_dtype=pl.Utf8)
    weights = _zipf(len(CITIES))
    first = rng.choice(len(CITIES), size=m, p=weights)
    second = rng.choice(len(CITIES), size=m, p=weights)
    two = (rng.random(m) < 0.2) & (first != second)
    city_names = [c for c, _, _, _ in CITIES]
    cities = pl.concat_str(
        pl.lit(_text(city_names, first)),
        pl.when(pl.lit(pl.Series(two)))
        .then(pl.lit(";") + pl.lit(_text(city_names, second)))
        .otherwise(pl.lit("")),
    )
    low = np.select([channel == 0, channel == 1], [40, 5], 110)
    high = np.select([channel == 0, channel == 1], [80, 8], 200)
    return pl.select(
        collector_id=pl.concat_str(
            pl.lit(prefix), order.get_column("n").cast(pl.Utf8).str.zfill(5)
        ),
        name=pl.lit(names(rng, m)),
        team=pl.when(pl.lit(chan) == "phone")
        .then(
            pl.lit("电催")
            + pl.lit(((order.get_column("n") - 1) // 15 + 1).cast(pl.Utf8))
            + pl.lit("组")
        )
        .when(pl.lit(chan) == "visit")
        .then(pl.lit("外访组"))
        .otherwise(pl.lit("信函组")),
        channel=pl.lit(chan),
        city=pl.when(pl.lit(chan) == "visit").then(cities),
        daily_capacity=pl.lit(pl.Series(rng.integers(low, high + 1))),
        active=pl.lit(pl.Series(rng.random(m) >= 0.03)),
    )


def cases(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Every case of the night, all clients, in client order; PII and figures as banks send them."""
    per_debtor = rng.choice(np.array([1, 2, 3]), size=n // 1 + 3, p=[0.9, 0.08, 0.02])
    ends = np.cumsum(per_debtor)
    k = int(np.searchsorted(ends, n)) + 1  # debtors needed to reach n cases
    per_debtor = per_debtor[:k]
    per_debtor[-1] -= int(ends[k - 1] - n)
    d = k
    client = np.sort(_pick(rng, d, tuple(w for _, _, w in CLIENTS)))
    city = rng.choice(len(CITIES), size=d, p=_zipf(len(CITIES)))
    dnc = rng.random(d) < 0.01
    debtor = pl.DataFrame(
        {
            "client": client,
            "city": city.astype(np.int32),
            "customer_name": names(rng, d),
            "id_number": pl.select(
                pl.when(pl.lit(pl.Series(rng.random(d) < 0.97))).then(
                    pl.lit(id_numbers(rng, city, _bad(rng, d)))
                )
            ).to_series(),
            "phone": phones(rng, city),
            "district": _text(list(DISTRICTS), rng.integers(0, len(DISTRICTS), d)),
            "street": _text(list(STREETS), rng.integers(0, len(STREETS), d)),
            "house": rng.integers(1, 1000, d),
            "has_address": rng.random(d) >= 0.04,
            "do_not_contact": dnc,
        }
    ).with_columns(
        customer_n=pl.int_range(1, pl.len() + 1).over("client"),
    )
    case_debtor = np.repeat(np.arange(d), per_debtor)
    frame = debtor.select(pl.all().gather(pl.Series(case_debtor, dtype=pl.UInt32)))
    product = _pick(rng, n, PRODUCT_WEIGHTS)
    principal = np.round(rng.lognormal(8.6, 0.9, n) * np.asarray(PRODUCT_SCALE)[product], 2)
    owed = np.round(principal * (1 + rng.uniform(0.02, 0.35, n)), 2)
    term = np.where(rng.random(n) < 0.8, 180, 120)
    bd = _day_numbers(BUSINESS_DATE)
    handover = bd - rng.integers(1, term - 1)
    returned = rng.random(n) < 0.01  # past the return date: the night closes them as returned
    ret = np.where(returned, bd - rng.integers(1, 10, n), handover + term)
    has_last = rng.random(n) < 0.25
    last_pay = bd - rng.integers(1, 200, n)
    days_overdue = np.clip(rng.gamma(1.6, 70.0, n).astype(np.int64) + 1, 1, 3000)
    status = _pick(rng, n, STATUS_WEIGHTS)
    credit = product == 0
    # planted bad rows: each rule on its own small share of cases
    negative = _bad(rng, n)
    out_of_range = _bad(rng, n)
    backwards = _bad(rng, n)
    unknown_product = _bad(rng, n)
    prefixes = [p for _, p, _ in CLIENTS]
    frame = frame.with_columns(
        client_id=_text([c for c, _, _ in CLIENTS], frame.get_column("client").to_numpy()),
        prefix=_text(prefixes, frame.get_column("client").to_numpy()),
        product=_text(list(PRODUCTS), product),
        credit=pl.Series(credit),
        principal=pl.Series(np.where(negative, -principal, principal)),
        amount_owed=pl.Series(owed),
        handover=pl.Series(handover.astype(np.int32)).cast(pl.Date),
        ret=pl.Series(np.where(backwards, handover - 1, ret).astype(np.int32)).cast(pl.Date),
        last_pay=pl.Series(np.where(has_last, last_pay, -1).astype(np.int32)),
        days_overdue=pl.Series(np.where(out_of_range, 4000, days_overdue)).cast(pl.Int32),
        status=_text(list(STATUSES), status),
        card=card_numbers(rng, n, _bad(rng, n)),
        last_amount=pl.Series(np.round(rng.lognormal(6.0, 1.0, n), 2)),
        unknown_product=pl.Series(unknown_product),
    )
    frame = frame.with_columns(
        case_n=pl.int_range(1, pl.len() + 1).over("client"),
        last_pay=pl.when(pl.col("last_pay") > 0).then(pl.col("last_pay")).cast(pl.Date),
    )
    city_names = [c for c, _, _, _ in CITIES]
    provinces = [p for _, p, _, _ in CITIES]
    out = frame.select(
        case_id=pl.col("prefix") + pl.col("case_n").cast(pl.Utf8).str.zfill(9),
        client_id="client_id",
        batch_id=pl.col("prefix") + pl.lit("-") + pl.col("handover").dt.strftime("%Y%m"),
        product=pl.when("unknown_product").then(pl.lit("loan")).otherwise("product"),
        customer_id=pl.col("prefix")
        + pl.lit("C")
        + pl.col("customer_n").cast(pl.Utf8).str.zfill(8),
        customer_name="customer_name",
        id_number="id_number",
        card_number=pl.when("credit").then("card"),
        phone="phone",
        address=pl.when("has_address").then(
            pl.concat_str(
                pl.lit(_text(provinces, frame.get_column("city").to_numpy())),
                pl.lit(_text(city_names, frame.get_column("city").to_numpy())),
                pl.lit("市"),
                "district",
                "street",
                pl.col("house").cast(pl.Utf8),
                pl.lit("号"),
            )
        ),
        province=pl.lit(_text(provinces, frame.get_column("city").to_numpy())),
        city=pl.lit(_text(city_names, frame.get_column("city").to_numpy())),
        district="district",
        principal="principal",
        amount_owed="amount_owed",
        days_overdue="days_overdue",
        last_payment_date="last_pay",
        last_payment_amount=pl.when(pl.col("last_pay").is_not_null()).then("last_amount"),
        handover_date="handover",
        return_date="ret",
        status="status",
        do_not_contact="do_not_contact",
    )
    # a few duplicate keys: a row repeating the case_id of the row before (both are set aside)
    dup = np.flatnonzero(_bad(rng, n, BAD_SHARE / 4)[1:]) + 1
    if len(dup):
        ids = out.get_column("case_id").to_numpy().copy()
        same_client = out.get_column("client_id").to_numpy()
        keep = same_client[dup] == same_client[dup - 1]
        ids[dup[keep]] = ids[dup[keep] - 1]
        out = out.with_columns(case_id=pl.Series(ids, dtype=pl.Utf8))
    return out


def _note_slice(
    rng: np.random.Generator,
    book: pl.DataFrame,
    first_note: int,
    phone_ids: np.ndarray[Any, Any],
    visit_ids: pl.Series,
    letter_ids: pl.Series,
    night: date = BUSINESS_DATE,
    per_case: float = 5.0,
    days: int = 120,
) -> pl.DataFrame:
    """Notes of the cases of ``book``: ``per_case`` each on average, within the ``days`` days up
    to ``night`` (the last 120 days, ~5 a case; the next night's: its own day), after
    hand-over."""
    n_cases = book.height
    count = rng.poisson(per_case, n_cases)
    case = np.repeat(np.arange(n_cases), count)
    k = len(case)
    bd = _day_numbers(night)
    age = np.minimum(bd - book.get_column("handover_day").to_numpy(), days)[case]
    back = (rng.random(k) * age).astype(np.int64)
    seconds = (bd - back) * 86_400 + rng.integers(8 * 3600, 22 * 3600, k)
    channel = _pick(rng, k, NOTE_CHANNEL_WEIGHTS)
    outcome = np.zeros(k, dtype=np.int32)
    all_outcomes: list[str] = []
    for c, name in enumerate(NOTE_CHANNELS):
        words, weights = OUTCOMES_BY_CHANNEL[name]
        mask = channel == c
        codes = np.array([len(all_outcomes) + i for i in range(len(words))], dtype=np.int32)
        all_outcomes.extend(words)
        outcome[mask] = codes[_pick(rng, int(mask.sum()), weights)]
    outcome_text = _text(all_outcomes, outcome)
    promise = outcome_text == "promise_to_pay"
    balance = book.get_column("amount_owed").to_numpy()[case]
    # the case's own phone collector most of the time (continuity), else anyone on the phone
    own = book.get_column("phone_collector").to_numpy()[case]
    anyone = rng.integers(0, len(phone_ids), k)
    phone_collector = _text(list(phone_ids), np.where(rng.random(k) < 0.8, own, anyone))
    late = _bad(rng, k, BAD_SHARE / 2)
    unknown = _bad(rng, k, BAD_SHARE / 2)
    cid = pl.Series(channel)
    return pl.DataFrame(
        {
            "note_id": pl.int_range(first_note, first_note + k, eager=True)
            .cast(pl.Utf8)
            .str.zfill(11),
            "case_id": book.get_column("case_id").gather(pl.Series(case, dtype=pl.UInt32)),
            "client_id": book.get_column("client_id").gather(pl.Series(case, dtype=pl.UInt32)),
            "seconds": np.where(late, seconds + 2 * 86_400, seconds),
            "channel": _text(list(NOTE_CHANNELS), channel),
            "outcome": pl.select(
                pl.when(pl.lit(pl.Series(unknown)))
                .then(pl.lit("busy"))
                .otherwise(pl.lit(outcome_text))
            ).to_series(),
            "promise_amount": np.where(
                promise.to_numpy(), np.round(balance * rng.uniform(0.1, 1.0, k), 2), np.nan
            ),
            "promise_day": (bd - back + rng.integers(1, 15, k)).astype(np.int32),
            "complaint": rng.random(k) < 0.003,
            "phone_collector": phone_collector,
            "visit_collector": visit_ids.gather(
                pl.Series(rng.integers(0, len(visit_ids), k), dtype=pl.UInt32)
            ),
            "letter_collector": letter_ids.gather(
                pl.Series(rng.integers(0, len(letter_ids), k), dtype=pl.UInt32)
            ),
            "promise": promise,
            "c": cid,
        }
    ).select(
        note_id=pl.lit("N") + pl.col("note_id"),
        case_id="case_id",
        client_id="client_id",
        collector_id=pl.when(pl.col("c") == 0)
        .then("phone_collector")
        .when(pl.col("c") == 2)
        .then("visit_collector")
        .when(pl.col("c") == 3)
        .then("letter_collector"),
        channel="channel",
        contacted_at=(pl.col("seconds") * 1_000_000).cast(pl.Datetime("us")),
        outcome="outcome",
        promise_amount=pl.col("promise_amount").fill_nan(None),
        promise_date=pl.when("promise").then(pl.col("promise_day").cast(pl.Date)),
        complaint="complaint",
    )


def payments(
    rng: np.random.Generator,
    book: pl.DataFrame,
    count: int,
    night: date = BUSINESS_DATE,
    days: int = 30,
    first: int = 1,
) -> pl.DataFrame:
    """Payments of the ``days`` days up to ``night`` as CSV text, numbered from ``first``:
    dates and amounts in the forms banks write them."""
    case = rng.integers(0, book.height, count)
    bd = _day_numbers(night)
    handover = book.get_column("handover_day").to_numpy()[case]
    paid = np.maximum(bd - rng.integers(0, days, count), handover)
    owed = book.get_column("amount_owed").to_numpy()[case]
    amount = np.round(np.minimum(owed, rng.lognormal(6.5, 1.0, count)), 2)
    unknown_case = _bad(rng, count, 0.001)
    form = rng.random(count)
    money_form = rng.random(count)
    bad_date = _bad(rng, count)
    bad_amount = _bad(rng, count)
    day = pl.Series(paid.astype(np.int32)).cast(pl.Date)
    frame = pl.DataFrame(
        {
            "n": np.arange(first, first + count),
            "case_id": book.get_column("case_id").gather(pl.Series(case, dtype=pl.UInt32)),
            "client_id": book.get_column("client_id").gather(pl.Series(case, dtype=pl.UInt32)),
            "day": day,
            "amount": amount,
            "unknown_case": unknown_case,
            "form": form,
            "money_form": money_form,
            "bad_date": bad_date,
            "bad_amount": bad_amount,
        }
    )
    return frame.select(
        payment_id=pl.lit("PM") + pl.col("n").cast(pl.Utf8).str.zfill(10),
        case_id=pl.when("unknown_case")
        .then(pl.lit("XX") + pl.col("n").cast(pl.Utf8).str.zfill(9))
        .otherwise("case_id"),
        client_id="client_id",
        paid_on=pl.when("bad_date")
        .then(pl.col("day").dt.strftime("%d/%m/%Y"))  # 17/11/2026: not guessed, rejected
        .when(pl.col("form") < 0.6)
        .then(pl.col("day").dt.strftime("%Y-%m-%d"))
        .when(pl.col("form") < 0.85)
        .then(pl.col("day").dt.strftime("%Y/%m/%d"))
        .otherwise(pl.col("day").dt.strftime("%Y%m%d")),
        amount=pl.when("bad_amount")
        .then(pl.lit("-") + pl.col("amount").round(2).cast(pl.Utf8))
        .when(pl.col("money_form") < 0.8)
        .then(pl.col("amount").round(2).cast(pl.Utf8))
        .when(pl.col("money_form") < 0.95)
        .then(_thousands(pl.col("amount")))
        .otherwise(pl.lit("¥") + pl.col("amount").round(2).cast(pl.Utf8)),
    )


def make_world(
    folder: Path, n_cases: int, seed: int, n_collectors: int, say: Any = None
) -> dict[str, Any]:
    """Write the night's files into ``folder``; return its figures."""
    log = say or (lambda text: None)
    rng = np.random.default_rng(seed)
    staff = roster(rng, n_collectors)
    staff.write_csv(folder / "collectors.csv")
    log(f"world: {n_collectors} collectors; making {n_cases} cases")
    book = cases(rng, n_cases)
    phone_ids = staff.filter(pl.col("channel") == "phone").get_column("collector_id").to_numpy()
    visit_ids = staff.filter(pl.col("channel") == "visit").get_column("collector_id")
    letter_ids = staff.filter(pl.col("channel") == "letter").get_column("collector_id")
    work = book.select(
        "case_id",
        "client_id",
        pl.col("amount_owed"),
        handover_day=pl.col("handover_date").cast(pl.Int64),
        phone_collector=pl.lit(pl.Series(rng.integers(0, len(phone_ids), book.height))),
    )
    for client, _, _ in CLIENTS:
        part = book.filter(pl.col("client_id") == client)
        part.write_parquet(folder / f"cases_{client.lower()}.parquet", compression="zstd")
    log("world: cases written; making notes")
    notes = 0
    cases_per_slice = max(1, NOTES_PER_SLICE // 5)
    for client, _, _ in CLIENTS:
        mine = work.filter(pl.col("client_id") == client)
        writer: pq.ParquetWriter | None = None
        try:
            for start in range(0, mine.height, cases_per_slice):
                part = _note_slice(
                    rng,
                    mine.slice(start, cases_per_slice),
                    notes + 1,
                    phone_ids,
                    visit_ids,
                    letter_ids,
                )
                notes += part.height
                table = part.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(
                        folder / f"contacts_{client.lower()}.parquet",
                        table.schema,
                        compression="zstd",
                    )
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
    log(f"world: {notes} notes written; making payments")
    paid = payments(rng, work, round(0.3 * n_cases))
    paid.write_csv(folder / "payments.csv")
    active = staff.filter("active")
    return {
        "business_date": BUSINESS_DATE.isoformat(),
        "cases": book.height,
        "debtors": book.select(pl.struct("client_id", "customer_id").n_unique()).item(),
        "notes": notes,
        "payments": paid.height,
        "collectors": staff.height,
        "collectors_active": active.height,
        "capacity": int(active.get_column("daily_capacity").sum()),
        "seed": seed,
        "made_at": datetime.now().isoformat(timespec="seconds"),
    }


def ensure_next_night(world: World, say: Any = None) -> World:
    """The night after ``world``'s (``NEXT_DATE``), cached beside it (``make_next_night``)."""
    incoming = world.root / "incoming" / NEXT_DATE.isoformat()
    stamp = world.root / "next.json"
    if stamp.exists():
        facts: dict[str, Any] = json.loads(stamp.read_text(encoding="utf-8"))
        if facts.get("format") == FORMAT:
            return World(world.root, incoming, NEXT_DATE, {**facts, "reused": True})
    if incoming.exists():
        shutil.rmtree(incoming)  # half-made or outdated
    incoming.mkdir(parents=True)
    started = time.perf_counter()
    facts = make_next_night(world.incoming, incoming, world.facts, say)
    facts["format"] = FORMAT
    facts["make_seconds"] = round(time.perf_counter() - started, 2)
    facts["bytes"] = sum(p.stat().st_size for p in incoming.iterdir())
    stamp.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    return World(world.root, incoming, NEXT_DATE, {**facts, "reused": False})


def make_next_night(
    first: Path, folder: Path, first_facts: dict[str, Any], say: Any = None
) -> dict[str, Any]:
    """The files of the night after the world's first, as a bank sends a later night: its whole
    book again (each case a day more overdue), the notes of one day's work (``NEXT_WORKED`` of
    the cases, about two notes each) and one day's payments (``NEXT_PAID`` of the cases). No
    roster: the one loaded stays. Numbered after the first night's notes and payments."""
    log = say or (lambda text: None)
    rng = np.random.default_rng(int(first_facts["seed"]) + 1)
    staff = pl.read_csv(first / "collectors.csv", infer_schema=False)
    books = []
    for path in sorted(first.glob("cases_*.parquet")):
        book = pl.read_parquet(path)
        book.with_columns(pl.col("days_overdue") + 1).write_parquet(
            folder / path.name, compression="zstd"
        )
        books.append(
            book.select(
                "case_id",
                "client_id",
                "amount_owed",
                handover_day=pl.col("handover_date").cast(pl.Int64),
            )
        )
    work = pl.concat(books)
    log(f"next night: {work.height} cases sent again; making a day's notes")
    phone_ids = staff.filter(pl.col("channel") == "phone").get_column("collector_id").to_numpy()
    worked = work.filter(pl.Series(rng.random(work.height) < NEXT_WORKED))
    worked = worked.with_columns(
        phone_collector=pl.Series(rng.integers(0, len(phone_ids), worked.height))
    )
    notes = _note_slice(
        rng,
        worked,
        int(first_facts["notes"]) + 1,
        phone_ids,
        staff.filter(pl.col("channel") == "visit").get_column("collector_id"),
        staff.filter(pl.col("channel") == "letter").get_column("collector_id"),
        night=NEXT_DATE,
        per_case=2.0,
        days=1,
    )
    notes.write_parquet(folder / "contacts_day.parquet", compression="zstd")
    paid = payments(
        rng,
        work,
        round(NEXT_PAID * work.height),
        night=NEXT_DATE,
        days=1,
        first=int(first_facts["payments"]) + 1,
    )
    paid.write_csv(folder / "payments.csv")
    return {
        "business_date": NEXT_DATE.isoformat(),
        "cases": work.height,
        "notes": notes.height,
        "payments": paid.height,
        "seed": first_facts["seed"],
        "made_at": datetime.now().isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--collectors", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "world")
    args = parser.parse_args()
    world = ensure_world(
        args.out, args.cases, args.seed, args.collectors, say=lambda t: print(t, file=sys.stderr)
    )
    print(json.dumps({"incoming": str(world.incoming), **world.facts}))


if __name__ == "__main__":
    main()
