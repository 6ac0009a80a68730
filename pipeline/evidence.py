"""evidence: what the warehouse history says about channels, contact rhythm and strategies.

Three estimates, each from SQL aggregates over the contact notes and payments (the cost follows
the notes of the window, not the whole history), each shown in the report with its evidence:

- channel effects (issue 4, item 7): for every day a case was contacted by phone, visit or
  letter in the last ``evidence_days`` days (up to ``evidence_horizon_days`` before tonight, so
  every contact has had its full horizon), whether a payment followed within the horizon. Within
  each overdue stratum a visit's (or letter's) payment rate is set against the phone's (indirect
  standardisation: the payments expected had the same contacts paid at the phone's rate of their
  stratum), so ``effect = phone effect x observed / expected``. The estimate is then shrunk
  towards the policy's multiplier: ``w = n / (n + evidence_prior_contacts)``, n the channel's
  contacts. Observational and confounded (a visit goes to the debtors a phone did not move):
  used only when ``use_estimated_effects`` is on, always reported.
- contact rhythm (item 6): the payment rate per contact by the days since the case's previous
  contact, per stratum; the suggested rhythm of a stratum is the gap with the best rate per
  contact among gaps with at least ``evidence_min_contacts`` contacts (a contact is a unit of a
  collector's capacity), and slower than daily only when it beats daily work by more than two
  standard errors. Used only when ``use_estimated_rhythm`` is on.
- champion against challenger (item 8): what was paid over the cycle on each group's debtors.

And per case, the recent history the strategy needs: cn-2026's "unreachable" and the last day
the case was worked (``recency``); per debtor, over all of its cases, even those no longer in
tonight's book, the last complaint and a do-not-contact flag (``debtors``: about the person).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl

from pipeline import warehouse
from pipeline.policy import CHANNELS, STAGES, Policy
from pipeline.rules.cn_2026 import DAYS_UNREACHABLE

STRATA = {
    "M0-M1": ("M0", "M1"),
    "M2-M3": ("M2", "M3"),
    "M4-M6": ("M4", "M5", "M6"),
    "M7+": ("M7+",),
}
GAP_DAYS = {"1": 1, "2": 2, "3": 3, "4-7": 4, "8+": 8}
# Above this many notes in the window, the evidence is read from a hashed share of the cases (all
# notes of each sampled case): the estimates stay unbiased, their n smaller, the night bounded
# (10M notes in the window take ~10 s on a busy 2-core machine; 2M about 2 s).
SAMPLE_NOTES = 2_000_000
# A slower contact rhythm is suggested only when its payment rate per contact beats daily work by
# more than this many standard errors (observational data: noise and confounding both).
RHYTHM_Z = 2.0
RECENCY_SCHEMA: dict[str, Any] = {
    "client_id": pl.Utf8,
    "case_id": pl.Utf8,
    "failed_attempts_recent": pl.Int64,
    "failed_days_recent": pl.Int64,
    "reached_recent": pl.Int64,
    "last_contact_on": pl.Date,
}
DEBTOR_SCHEMA: dict[str, Any] = {
    "client_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "debtor_complaint_on": pl.Date,
    "debtor_do_not_contact": pl.Boolean,
}
SIDES = ("contacts", "paid")
EVIDENCE_SCHEMA: dict[str, Any] = {
    "channel": pl.Utf8,
    "stratum": pl.Utf8,
    "gap": pl.Utf8,
    "contacts": pl.Int64,
    "paid": pl.Int64,
}


@dataclass(frozen=True)
class ChannelEffect:
    channel: str
    contacts: int
    paid: int
    expected: float  # payments expected at the phone's rate, stratum by stratum
    estimate: float | None  # phone effect x paid / expected; None without evidence
    prior: float  # the policy's multiplier
    weight: float  # n / (n + prior contacts)
    shrunk: float  # weight x estimate + (1 - weight) x prior
    used: float  # the multiplier the night uses


@dataclass(frozen=True)
class RhythmCell:
    stratum: str
    gap: str
    contacts: int
    paid: int


@dataclass(frozen=True)
class GroupRecovery:
    group: str
    debtors: int
    cases: int
    owed: float
    recovered: float


@dataclass(frozen=True)
class Evidence:
    since: date
    until: date
    horizon_days: int
    sample_share: float  # the share of cases the window was read for (1.0: all)
    effects: tuple[ChannelEffect, ...]
    rhythm: tuple[RhythmCell, ...]
    suggested_rhythm: dict[str, int]  # per stratum, where the evidence allows
    groups: tuple[GroupRecovery, ...]
    cycle_start: date
    recency: pl.DataFrame  # per case: RECENCY_SCHEMA
    debtors: pl.DataFrame  # per debtor, over all its cases: DEBTOR_SCHEMA

    def effect(self, channel: str) -> float:
        for row in self.effects:
            if row.channel == channel:
                return row.used
        raise KeyError(channel)

    def record(self) -> dict[str, Any]:
        """The estimates for the manifest and the report (aggregates only, no debtor)."""
        return {
            "window": [self.since.isoformat(), self.until.isoformat()],
            "horizon_days": self.horizon_days,
            "sample_share": self.sample_share,
            "channel_effects": [asdict(e) for e in self.effects],
            "rhythm": [asdict(c) for c in self.rhythm],
            "suggested_rhythm": dict(self.suggested_rhythm),
            "groups": [asdict(g) for g in self.groups],
            "cycle_start": self.cycle_start.isoformat(),
        }


def channel_effects(cells: pl.DataFrame, policy: Policy) -> tuple[ChannelEffect, ...]:
    """Each channel's effect against the phone's, standardised by stratum, then shrunk."""
    by = cells.group_by("channel", "stratum").agg(pl.col("contacts").sum(), pl.col("paid").sum())
    phone_rate = by.filter(pl.col("channel") == "phone").select(
        "stratum", (pl.col("paid") / pl.col("contacts")).alias("phone_rate")
    )
    per_channel = (
        by.join(phone_rate, on="stratum", how="left")
        .group_by("channel")
        .agg(
            pl.col("contacts").sum(),
            pl.col("paid").sum(),
            (pl.col("contacts") * pl.col("phone_rate").fill_null(0.0)).sum().alias("expected"),
        )
    )
    found = {str(r["channel"]): r for r in per_channel.iter_rows(named=True)}
    anchor = policy.phone.effect
    effects: list[ChannelEffect] = []
    for channel in CHANNELS:
        prior = policy.channel(channel).effect
        row = found.get(channel, {"contacts": 0, "paid": 0, "expected": 0.0})
        contacts, paid, expected = int(row["contacts"]), int(row["paid"]), float(row["expected"])
        estimate = anchor * paid / expected if expected > 0 else None
        weight = contacts / (contacts + policy.evidence_prior_contacts) if estimate else 0.0
        shrunk = weight * (estimate or 0.0) + (1 - weight) * prior
        used = shrunk if policy.use_estimated_effects else prior
        effects.append(
            ChannelEffect(channel, contacts, paid, expected, estimate, prior, weight, shrunk, used)
        )
    return tuple(effects)


def rhythm_cells(cells: pl.DataFrame) -> tuple[RhythmCell, ...]:
    """Contacts and payments that followed, per stratum and days since the previous contact."""
    table = (
        cells.filter(pl.col("gap") != "first")
        .group_by("stratum", "gap")
        .agg(pl.col("contacts").sum(), pl.col("paid").sum())
        .sort("stratum", "gap")
    )
    return tuple(RhythmCell(**row) for row in table.iter_rows(named=True))


def _beats(best: RhythmCell, daily: RhythmCell) -> bool:
    """``best`` pays more per contact than working the debtor daily by more than noise: the
    difference of the two rates above ``RHYTHM_Z`` standard errors."""
    p1, p2 = best.paid / best.contacts, daily.paid / daily.contacts
    se = math.sqrt(p1 * (1 - p1) / best.contacts + p2 * (1 - p2) / daily.contacts)
    return p1 - p2 > RHYTHM_Z * se


def suggested_rhythm(cells: tuple[RhythmCell, ...], min_contacts: int) -> dict[str, int]:
    """Per stratum, the gap (in days) with the best payment rate per contact, among the gaps
    with enough contacts to say; a stratum with fewer than two such gaps has no suggestion.
    A slower rhythm than daily is suggested only when it beats daily work by more than noise
    (``_beats``); otherwise the suggestion is every day."""
    suggestion: dict[str, int] = {}
    for stratum in STRATA:
        rated = [
            c
            for c in cells
            if c.stratum == stratum and c.contacts >= min_contacts and c.gap in GAP_DAYS
        ]
        if len(rated) < 2:
            continue
        best = max(rated, key=lambda c: (c.paid / c.contacts, -GAP_DAYS[c.gap]))
        daily = next((c for c in rated if c.gap == "1"), None)
        slower = daily is None or best is daily or _beats(best, daily)
        suggestion[stratum] = GAP_DAYS[best.gap] if slower else 1
    return suggestion


def rhythm_in_force(policy: Policy, evidence: Evidence | None) -> dict[str, int]:
    """Days between contacts per overdue stage: the policy's, or the estimate where it exists
    and ``use_estimated_rhythm`` is on."""
    rhythm = dict(policy.rhythm_days)
    if evidence is not None and policy.use_estimated_rhythm:
        for stratum, days in evidence.suggested_rhythm.items():
            for stage in STRATA[stratum]:
                rhythm[stage] = days
    return {stage: rhythm.get(stage, 1) for stage in STAGES}


def _groups(
    con: duckdb.DuckDBPyConnection, business_date: date, start: date, policy: Policy
) -> tuple[GroupRecovery, ...]:
    frame = warehouse.query(
        con,
        "group_recovery",
        {
            "start": start,
            "business_date": business_date,
            "seed": str(policy.challenger_seed),
            "share_bp": share_basis_points(policy),
        },
    )
    return tuple(
        GroupRecovery(
            group=str(r["strategy_group"]),
            debtors=int(r["debtors"]),
            cases=int(r["cases"]),
            owed=float(r["owed"] or 0.0),
            recovered=float(r["recovered"] or 0.0),
        )
        for r in frame.iter_rows(named=True)
    )


def share_basis_points(policy: Policy) -> int:
    """The challenger share in 1/10,000ths: the hash bucket below which a debtor is challenger."""
    return round(policy.challenger_share * 10_000)


def recency_window(policy: Policy) -> int:
    """Days of notes the per-case recency needs: the unreachable test and the slowest rhythm."""
    slowest = max([*policy.rhythm_days.values(), policy.challenger.rhythm_days, 8])
    return max(DAYS_UNREACHABLE, slowest)


def _long(wide: pl.DataFrame) -> pl.DataFrame:
    """One row per channel, stratum and gap (EVIDENCE_SCHEMA) from the query's one row per
    stratum and gap with a pair of counts per channel."""
    parts = [
        wide.select(
            pl.lit(channel).alias("channel"),
            "stratum",
            "gap",
            *(pl.col(f"{channel}_{side}").alias(side) for side in SIDES),
        )
        for channel in CHANNELS
    ]
    cells = pl.concat(parts) if parts else pl.DataFrame()
    return cells.select(pl.col(n).cast(t) for n, t in EVIDENCE_SCHEMA.items()).filter(
        pl.col("contacts") > 0
    )


def gather(con: duckdb.DuckDBPyConnection, business_date: date, policy: Policy) -> Evidence:
    """The night's evidence from the warehouse as of ``business_date`` (see the module doc)."""
    until = business_date - timedelta(days=policy.evidence_horizon_days)
    since = until - timedelta(days=policy.evidence_days - 1)
    window = {"since": since, "until": until}
    notes = int(warehouse.query(con, "evidence_window", window).item(0, "notes") or 0)
    sample_bp = 10_000 if notes <= SAMPLE_NOTES else max(1, 10_000 * SAMPLE_NOTES // notes)
    wide = warehouse.query(
        con,
        "contact_evidence",
        window | {"horizon": policy.evidence_horizon_days, "sample_bp": sample_bp},
    )
    cells = _long(wide)
    recency = warehouse.query(
        con,
        "contact_recency",
        {
            "since": business_date - timedelta(days=recency_window(policy) - 1),
            "unreachable_since": business_date - timedelta(days=DAYS_UNREACHABLE - 1),
            "business_date": business_date,
        },
    )
    recency = recency.select(pl.col(n).cast(t) for n, t in RECENCY_SCHEMA.items())
    debtors = warehouse.query(
        con,
        "debtor_history",
        {
            "since": business_date - timedelta(days=policy.cooling_off_days),
            "business_date": business_date,
        },
    ).select(pl.col(n).cast(t) for n, t in DEBTOR_SCHEMA.items())
    rhythm = rhythm_cells(cells)
    cycle_start = business_date - timedelta(days=policy.cycle_days - 1)
    return Evidence(
        since=since,
        until=until,
        horizon_days=policy.evidence_horizon_days,
        sample_share=sample_bp / 10_000,
        effects=channel_effects(cells, policy),
        rhythm=rhythm,
        suggested_rhythm=suggested_rhythm(rhythm, policy.evidence_min_contacts),
        groups=_groups(con, business_date, cycle_start, policy),
        cycle_start=cycle_start,
        recency=recency,
        debtors=debtors,
    )
