"""The columns of each input kind (CONTRACT.md) and the header aliases clients use.

Matching is case-, space- and BOM-insensitive: headers are compared after ``normalise``.
Chinese aliases come from DOMAIN.md's glossary; a few more were added where a contract column had
none (customer_id, do_not_contact, and the columns of payments, notes and the roster).
"""

from __future__ import annotations

import re

KINDS = ("cases", "payments", "contacts", "collectors")

COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": (
        "case_id",
        "client_id",
        "batch_id",
        "product",
        "customer_id",
        "customer_name",
        "id_number",
        "card_number",
        "phone",
        "address",
        "province",
        "city",
        "district",
        "principal",
        "amount_owed",
        "days_overdue",
        "last_payment_date",
        "last_payment_amount",
        "handover_date",
        "return_date",
        "status",
        "do_not_contact",
    ),
    "payments": ("payment_id", "case_id", "client_id", "paid_on", "amount"),
    "contacts": (
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
    ),
    "collectors": ("collector_id", "name", "team", "channel", "city", "daily_capacity", "active"),
}

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": (
        "case_id",
        "client_id",
        "product",
        "customer_id",
        "customer_name",
        "city",
        "principal",
        "amount_owed",
        "days_overdue",
        "handover_date",
        "return_date",
    ),
    "payments": ("payment_id", "case_id", "client_id", "paid_on", "amount"),
    "contacts": ("note_id", "case_id", "client_id", "channel", "contacted_at", "outcome"),
    "collectors": ("collector_id", "channel", "daily_capacity"),
}

ALIASES: dict[str, tuple[str, ...]] = {
    "case_id": ("案件编号", "案件号", "案件ID", "案件id"),
    "client_id": ("委托方", "委托方编号", "委托机构"),
    "batch_id": ("委案批次", "批次"),
    "customer_id": ("客户编号", "客户号", "客户ID", "债务人编号"),
    "customer_name": ("客户姓名", "姓名", "客户名称", "债务人姓名"),
    "id_number": ("身份证号", "身份证号码", "证件号码", "证件号", "身份证"),
    "card_number": ("卡号",),
    "phone": ("手机号", "联系电话", "手机号码", "手机", "电话"),
    "address": ("地址", "家庭地址", "单位地址"),
    "province": ("省",),
    "city": ("市", "城市", "所在城市"),
    "district": ("区",),
    "product": ("产品类型", "产品"),
    "principal": ("本金",),
    "amount_owed": ("欠款金额", "委案金额", "欠款总额"),
    "days_overdue": ("逾期天数",),
    "last_payment_date": ("最后还款日期",),
    "last_payment_amount": ("最后还款金额",),
    "handover_date": ("委案日期", "委托日期"),
    "return_date": ("退案日期",),
    "status": ("案件状态", "状态"),
    "do_not_contact": ("勿扰", "禁止联系", "免打扰"),
    "payment_id": ("还款编号",),
    "paid_on": ("还款日期",),
    "amount": ("还款金额",),
    "note_id": ("催记编号",),
    "collector_id": ("催收员编号",),
    "channel": ("渠道",),
    "contacted_at": ("催收时间",),
    "outcome": ("结果",),
    "promise_amount": ("承诺金额",),
    "promise_date": ("承诺日期",),
    "complaint": ("投诉",),
    "name": ("姓名",),
    "team": ("组别",),
    "daily_capacity": ("日产能",),
    "active": ("在岗",),
}

_IGNORED = re.compile(r"[\s_\-\ufeff]+")


def normalise(header: str) -> str:
    """Lower case, without BOM, spaces, underscores or hyphens: ' Case_ID' and 'case id' match."""
    return _IGNORED.sub("", header).lower()


def header_map(kind: str, headers: list[str]) -> dict[str, str]:
    """Map each raw header that names a column of ``kind`` to its canonical name.

    Where several headers name the same column (地址 and 家庭地址), the first one wins.
    """
    lookup: dict[str, str] = {}
    for column in COLUMNS[kind]:
        for name in (column, *ALIASES.get(column, ())):
            lookup.setdefault(normalise(name), column)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for raw in headers:
        found = lookup.get(normalise(raw))
        if found is not None and found not in taken:
            mapping[raw] = found
            taken.add(found)
    return mapping


def kind_of(file_name: str, headers: list[str]) -> str | None:
    """The file's kind: by its name (cases*, payments*, ...) or else by its header."""
    lower = file_name.lower()
    for kind in KINDS:
        if lower.startswith(kind) or lower.startswith(kind.rstrip("s")):
            return kind
    best: tuple[int, str] | None = None
    for kind in KINDS:
        mapped = set(header_map(kind, headers).values())
        if set(REQUIRED_COLUMNS[kind]) <= mapped:
            score = len(mapped)
            if best is None or score > best[0]:
                best = (score, kind)
    return best[1] if best else None


# The contract's typed columns (every other column is text): what ``validate`` parses each to,
# and what a Parquet file may carry already typed (``ingest`` keeps such a column as it is).
VALUE_TYPES: dict[str, dict[str, str]] = {
    "cases": {
        "principal": "money",
        "amount_owed": "money",
        "last_payment_amount": "money",
        "days_overdue": "integer",
        "last_payment_date": "date",
        "handover_date": "date",
        "return_date": "date",
        "do_not_contact": "boolean",
    },
    "payments": {"paid_on": "date", "amount": "money"},
    "contacts": {
        "contacted_at": "timestamp",
        "promise_amount": "money",
        "promise_date": "date",
        "complaint": "boolean",
    },
    "collectors": {"daily_capacity": "integer", "active": "boolean"},
}

# Text columns of few distinct values (clients, batches, places, teams, collectors, the
# contract's words): kept as polars Categoricals from ingest on (4 bytes a row instead of a
# 16-byte string view: on a 10M-case night, 50M notes, gigabytes), and cleaned once per value.
FEW_VALUES = frozenset(
    {
        "client_id",
        "batch_id",
        "product",
        "province",
        "city",
        "district",
        "status",
        "collector_id",
        "channel",
        "outcome",
        "team",
    }
)
