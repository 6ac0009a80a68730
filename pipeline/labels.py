"""Column headers of the published tables in the languages their readers use (``--lang``).

English headers are the contract's column names (CONTRACT.md "Outputs"), so scripts can rely
on them (only the visit checklist's columns get words saying what to check). ``zh`` gives
every column the words a collection team in China uses (DOMAIN.md's glossary where it has
one). Only headers and sheet names change: values, order and formats do not.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.errors import UsageError

LANGS = ("en", "zh")

HEADERS_ZH: dict[str, str] = {
    # worklists
    "collector_id": "催收员编号",
    "collector_name": "催收员",
    "team": "小组",
    "rank": "顺序",
    "case_id": "案件编号",
    "client_id": "委托方",
    "customer_id": "客户编号",
    "customer_name": "客户姓名",
    "phone": "手机号",
    "id_number": "身份证号(掩码)",
    "card_number": "卡号(后四位)",
    "city": "市",
    "district": "区",
    "address": "地址",
    "amount_owed": "欠款金额",
    "debtor_total_owed": "客户欠款总额",
    "days_overdue": "逾期天数",
    "overdue_stage": "逾期阶段",
    "p_repay": "还款概率",
    "expected_recovery": "预期回收金额",
    "channel": "催收方式",
    "action": "今日行动",
    "reasons": "评分原因",
    "call_window": "可拨打时段",
    "return_date": "退案日期",
    "extension_due": "需申请延期",
    # field visits (R15-R16)
    "check_background": "背景已核实(地址/工作/收入/家庭)",
    "check_credit": "征信记录已查",
    "check_arrears_reason": "欠款原因(暂时困难/恶意拖欠)",
    "check_ability": "还款能力已评估",
    "check_carry": "携带合同/还款计划表/催记表",
    "never_reveal": "不得透露完整卡号或身份证号",
    # letters
    "reference": "函件编号",
    "letter_date": "发函日期",
    "letters": "函件数",
    # holds and rejected rows
    "reason": "原因",
    "detail": "说明",
    "file": "文件",
    "row": "行号",
    "kind": "类型",
    "column": "列",
    "rule": "规则",
    "value": "值",
    # changes since the previous night
    "change": "变动",
    "before": "之前",
    "after": "之后",
    # scorecards (R25)
    "cycle_start": "周期开始",
    "cycle_end": "周期结束",
    "cases_allocated": "分案数",
    "cases_worked": "已催案件数",
    "attempts": "催收次数",
    "right_party_contacts": "本人接通数",
    "promises": "承诺还款数",
    "promises_due": "已到期承诺数",
    "promises_kept": "兑现承诺数",
    "kept_rate": "承诺兑现率",
    "amount_recovered": "回收金额",
    "complaints": "投诉数",
    # team overview
    "cases": "案件数",
    "promise_due_today": "今日到期承诺",
}

# English headers are the column names, except the visit checklist's, which must be readable.
HEADERS_EN: dict[str, str] = {
    "check_background": "R15 background checked (address, job, income, family)",
    "check_credit": "R15 credit record checked",
    "check_arrears_reason": "R15 reason for arrears (cash-flow trouble or refusal)",
    "check_ability": "R15 ability to pay assessed",
    "check_carry": "R16 carry contract, repayment-plan form, note form",
    "never_reveal": "R16 never reveal the full card or ID number",
}

SHEET_NAMES_ZH: dict[str, str] = {
    "worklist": "工作清单",
    "team": "小组概览",
    "letters": "函件",
    "per client": "按委托方",
    "visits": "外访",
}


def check_lang(lang: str) -> str:
    """``lang`` if caseflow writes it, else a usage error naming the choices."""
    if lang not in LANGS:
        raise UsageError(f"--lang {lang!r}: choose one of {', '.join(LANGS)}")
    return lang


def header(name: str, lang: str) -> str:
    """The header of column ``name`` in ``lang`` (English: the contract's name itself)."""
    return (HEADERS_ZH if lang == "zh" else HEADERS_EN).get(name, name)


def headers(names: Sequence[str], lang: str) -> list[str]:
    return [header(n, lang) for n in names]


def sheet_label(name: str, lang: str) -> str:
    return SHEET_NAMES_ZH.get(name, name) if lang == "zh" else name
