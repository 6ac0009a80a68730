"""Rule packs as code: what the rules allow each case tonight, before value decides.

Each pack is a function from the night's case frame to the same frame with its rules applied
(a hold reason named after the rule where a case may not be worked, and the limits a phone row
carries). ``apply_rules`` runs the decks' rules (``base``) and then the pack ``policy.rule_pack``
names. A hold reason already set is never overwritten: the first rule that holds a case names it.

The worklist is worked the day after the business date (the "work day"); windows over the
contact history (sql/night_cases.sql) are counted back from that day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from pipeline.policy import Policy
from pipeline.rules import base, cn_2026, us_regf

RulePack = Callable[[pl.DataFrame, Policy, date], pl.DataFrame]

PACKS: dict[str, RulePack] = {"cn-2026": cn_2026.apply, "us-regf": us_regf.apply}
WINDOWS: dict[str, str] = {"cn-2026": cn_2026.CALL_WINDOW, "us-regf": us_regf.CALL_WINDOW}


def apply_rules(cases: pl.DataFrame, policy: Policy, business_date: date) -> pl.DataFrame:
    """The decks' rules, then the pack in force; see the module docstring."""
    return PACKS[policy.rule_pack](base.apply(cases, policy, business_date), policy, business_date)


def call_window(policy: Policy) -> str:
    """The hours a phone row may be called: the policy's window within the pack's."""
    return base.narrower_window(policy.call_window, WINDOWS[policy.rule_pack])
