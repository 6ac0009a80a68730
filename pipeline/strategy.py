"""strategy: what each case MAY get (the rules) and what it SHOULD get (value).

Rules first (pipeline/rules: the decks' rules, then the pack in force, ``policy.rule_pack``): a
closed, disputed or legal case, a do-not-contact debtor, one with a promise not yet due, one for
legal review (R17-R18) or one a pack's cooling-off bars is held with the rule's name; a pack's
call caps (us-regf) bar the phone alone, and the debtor is held by the cap's name only when no
other channel is open. Then
each channel's eligibility (phone needs a number; a visit needs an active visit collector covering
the city; a letter needs more than the R11 threshold, an address that is the debtor's own (R12)
and a verified debtor (R19)). Value decides among the channels that remain:
p_repay x amount x channel effect - channel cost.

Cases of one debtor (client_id, customer_id) share one decision: one channel, one collector,
one short reference (``debtor_ref``, a hash: no id number in it) and one strategy group (champion
or challenger, a seeded stable share of debtors: ``policy.challenger_share``). A debtor worked
more recently than the contact rhythm of its stage allows is held, unless a promise or an
extension is due. With the night's ``Evidence`` (pipeline/evidence.py), the channel effects and
the rhythm may be the estimated ones (policy switches), and cn-2026's "unreachable" is counted
over the last days of notes.

Every date test is made against the work day (the business date + 1): files arrive at night and
the worklist is worked the next day.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl

from pipeline import warehouse
from pipeline.evidence import Evidence, rhythm_in_force, share_basis_points
from pipeline.policy import CHANNELS, Policy
from pipeline.rules import apply_rules
from pipeline.rules.base import (
    CLOSED_STATUSES,
    DEBTOR,
    debtor_any,
    letter_allowed,
    with_debtor_index,
    with_reasons,
    work_day,
)

RIGHT_PARTY = ("right_party", "promise_to_pay", "refused", "paid_claimed", "visit_met")
__all__ = ["CLOSED_STATUSES", "RIGHT_PARTY", "action_for", "decide", "overdue_stage"]
# what ``_debtor_values`` reads of the cases (the rest is not copied to filter them)
VALUE_INPUTS = (
    DEBTOR,
    "debtor_key",
    "hold_reason",
    "p_repay",
    "balance",
    "strategy_group",
    "can_phone",
    "can_visit",
    "can_letter",
    "promise_due",
    "extension_due",
    "previous_collector_id",
    "city",
    "debtor_ref",
)
RHYTHM = "contact rhythm: worked recently, next contact not yet due"
RECENCY_DEFAULTS = {
    "failed_attempts_recent": pl.Int64,
    "failed_days_recent": pl.Int64,
    "reached_recent": pl.Int64,
    "last_contact_on": pl.Date,
}


def overdue_stage(days: pl.Expr) -> pl.Expr:
    """M0 (current), M1 (1-30 days) ... M6 (151-180), M7+ (over 180)."""
    month = ((days - 1) // 30 + 1).clip(0, 7)
    return (
        pl.when(days <= 0)
        .then(pl.lit("M0"))
        .when(month >= 7)
        .then(pl.lit("M7+"))
        .otherwise(pl.lit("M") + month.cast(pl.Utf8))
    )


def _case_flags(night: pl.DataFrame, business_date: date, policy: Policy) -> pl.DataFrame:
    wd = pl.lit(work_day(business_date))
    notice = timedelta(days=policy.extension_notice_days)
    invalid_number = pl.col("last_phone_outcomes").list.len().fill_null(0).eq(3) & pl.col(
        "last_phone_outcomes"
    ).list.eval(pl.element() == "wrong_number").list.all().fill_null(False)
    days_held = (wd - pl.col("handover_date")).dt.total_days()
    return night.with_columns(
        debtor_key=pl.col("client_id") + pl.lit("/") + pl.col("customer_id"),
        overdue_stage=overdue_stage(pl.col("days_overdue")),
        verified=pl.col("right_party_contacts") > 0,
        phone_invalid=invalid_number,
        # promises against the work day: one due that day is confirmed, one before it not paid
        # in the 7 days to tonight's files is broken, one after it is not chased
        promise_due=pl.col("last_promise_date") == wd,
        promise_pending=pl.col("last_promise_date") > wd,
        promise_broken=(pl.col("last_promise_date") < wd)
        & (pl.col("last_promise_date") >= wd - timedelta(days=7))
        & (pl.col("paid_recently") <= 0),
        # R3: the work day is the last one to ask for an extension of a case returning within
        # the notice (a case whose return date is before the work day is returned: rules.base)
        extension_due=(pl.col("return_date") >= wd) & (pl.col("return_date") <= wd + notice),
        cycle=(days_held // policy.cycle_days).cast(pl.Int32),
        # R1: a cycle is checked weekly; week 1 is the cycle's first seven days
        cycle_week=(days_held % policy.cycle_days // 7 + 1).cast(pl.Int32),
    )


def _with_recency(cases: pl.DataFrame, evidence: Evidence | None) -> pl.DataFrame:
    """The recent history of each case and debtor (pipeline/evidence.py), unless the night
    carries it."""
    missing = [c for c in RECENCY_DEFAULTS if c not in cases.columns]
    keys = ["client_id", "case_id"]
    if missing and evidence is not None:
        recent = _of_cases(evidence.recency.select(*keys, *missing), cases, keys)
        cases = cases.join(recent, on=keys, how="left")
    elif missing:
        cases = cases.with_columns(
            pl.lit(None, dtype=RECENCY_DEFAULTS[c]).alias(c) for c in missing
        )
    if "debtor_complaint_on" not in cases.columns and evidence is not None:
        debtor = ["client_id", "customer_id"]
        cases = cases.join(_of_cases(evidence.debtors, cases, debtor), on=debtor, how="left")
    counts = ("failed_attempts_recent", "failed_days_recent", "reached_recent")
    return cases.with_columns(pl.col(c).fill_null(0) for c in counts)


def _of_cases(evidence: pl.DataFrame, cases: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The rows of ``evidence`` (the night's, of every case or debtor) whose ``keys`` are among
    ``cases``'s, when it has more rows than ``cases``: a part's join then builds its table on
    the part's rows, not on the whole night's again for every part (a semi join and a join cost
    0.8 s where the join alone cost 1.7-2.1 s, 1M cases against 9M, issue 8)."""
    if evidence.height <= cases.height:
        return evidence
    return evidence.join(cases.select(keys), on=keys, how="semi")


def strategy_groups(keys: pl.Series, policy: Policy) -> pl.DataFrame:
    """debtor_key -> debtor_ref and strategy_group (sql/strategy_groups.sql, md5: the same
    debtor gets the same group on every night and machine for a given seed and share)."""
    con = duckdb.connect()
    try:
        con.register("debtor_keys", pl.DataFrame({"debtor_key": keys}).to_arrow())
        params = {"seed": str(policy.challenger_seed), "share_bp": share_basis_points(policy)}
        return warehouse.query(con, "strategy_groups", params)
    finally:
        con.close()


def _rhythm_hold(
    cases: pl.DataFrame, policy: Policy, evidence: Evidence | None, business_date: date
) -> pl.DataFrame:
    """Hold a debtor worked (noted) fewer days before the work day than its rhythm allows.

    The rhythm is the most frequent of its cases' stages (policy ``rhythm_days``, or the
    estimate), and at least ``challenger.rhythm_days`` for a challenger debtor. A promise due,
    a broken promise or an extension due is worked anyway.
    """
    rhythm = rhythm_in_force(policy, evidence)
    stage_days = pl.col("overdue_stage").replace_strict(rhythm, return_dtype=pl.Int32)
    days = (
        pl.when(pl.col("strategy_group") == "challenger")
        .then(pl.max_horizontal(stage_days, pl.lit(policy.challenger.rhythm_days)))
        .otherwise(stage_days)
        .min()
        .over(DEBTOR)
    )
    last = pl.col("last_contact_on").max().over(DEBTOR)
    since = (pl.lit(work_day(business_date)) - last).dt.total_days()
    urgent = debtor_any(pl.col("promise_due") | pl.col("promise_broken") | pl.col("extension_due"))
    return with_reasons(cases, "hold_reason", [((since < days).fill_null(False) & ~urgent, RHYTHM)])


def _eligibility(night: pl.DataFrame, roster: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    active = roster.filter(pl.col("active"))
    visit_cities = (
        active.filter(pl.col("channel") == "visit").explode("cities").get_column("cities").unique()
    )
    has = {c: active.filter(pl.col("channel") == c).height > 0 for c in CHANNELS}
    return night.with_columns(
        # a pack may bar the phone alone (us-regf's caps are about calls): phone_barred
        can_phone=pl.lit(has["phone"]) & pl.col("has_phone") & pl.col("phone_barred").is_null(),
        # R14/R15: a visit is chosen with care, after background work; a debtor not yet
        # verified gets the covering first call (过案) when a phone can reach them, and a visit
        # only when no phone can.
        can_visit=pl.lit(has["visit"])
        & pl.col("city").is_in(visit_cities.implode())
        & pl.col("has_address")
        & (pl.col("verified") | ~pl.col("has_phone") | pl.col("phone_invalid")),
        # R11 amount threshold, R12 the address is the debtor's own (no returned mail),
        # R13 only open accounts (closed ones are held), R19 only after identity is verified.
        can_letter=pl.lit(has["letter"]) & letter_allowed(policy),
    )


def _effect(channel: str, policy: Policy, evidence: Evidence | None) -> pl.Expr:
    """The channel's effect multiplier for each debtor's group: the champion's (the policy's,
    or the estimate when ``use_estimated_effects`` is on) or the challenger's table."""
    champion = evidence.effect(channel) if evidence is not None else policy.channel(channel).effect
    return (
        pl.when(pl.col("strategy_group") == "challenger")
        .then(pl.lit(policy.challenger.effect(channel)))
        .otherwise(pl.lit(champion))
    )


def _debtor_values(
    workable: pl.DataFrame, policy: Policy, evidence: Evidence | None = None
) -> pl.DataFrame:
    """Expected net value of each channel for each debtor with a case not held (null where it
    may not be used), with its ``DEBTOR`` index, in debtor_key order.

    A call or a visit covers all of a debtor's cases at one cost; a letter is one per case.
    """
    er = pl.col("p_repay") * pl.col("balance")
    phone, visit, letter = policy.phone, policy.visit, policy.letter
    effect = {c: _effect(c, policy, evidence) for c in CHANNELS}
    # eager: the lazy engine sums a multi-case debtor's floats in another order (last bits),
    # and the allocation breaks ties on them
    return (
        workable.filter(pl.col("hold_reason").is_null())
        .group_by(DEBTOR)
        .agg(
            pl.col("debtor_key").first(),
            pl.len().alias("debtor_cases"),
            pl.col("balance").sum().alias("debtor_total_owed"),
            pl.when(pl.col("can_phone").any())
            .then((er * effect["phone"]).sum() - phone.cost)
            .alias("value_phone"),
            pl.when(pl.col("can_visit").any())
            .then((er * effect["visit"]).sum() - visit.cost)
            .alias("value_visit"),
            pl.when(pl.col("can_letter").any())
            .then(((er * effect["letter"]) - letter.cost).filter(pl.col("can_letter")).sum())
            .alias("value_letter"),
            pl.col("can_letter").sum().alias("letter_cases"),
            pl.col("promise_due").fill_null(False).any().alias("debtor_promise_due"),
            pl.col("extension_due").any().alias("debtor_extension_due"),
            pl.col("previous_collector_id").drop_nulls().first().alias("previous_collector_id"),
            pl.col("city").sort_by("balance", descending=True).first().alias("debtor_city"),
            pl.col("debtor_ref").first(),
            pl.col("strategy_group").first(),
        )
        # debtor_key order (the index is its rank): the same frame on every run
        .sort(DEBTOR)
    )


def _reachable(n_debtors: int, debtors: pl.DataFrame) -> pl.Series:
    """Per debtor index (at most ``n_debtors``): whether some channel may reach the debtor
    (a debtor all of whose cases are held has no row in ``debtors``: not reachable)."""
    reachable = np.zeros(n_debtors, dtype=np.bool_)
    some = pl.any_horizontal(pl.col(f"value_{c}").is_not_null() for c in CHANNELS)
    reachable[debtors.get_column(DEBTOR).to_numpy()] = debtors.select(some).to_series().to_numpy()
    return pl.Series(reachable)


def _with_scores(cases: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """The cases with their scores: side by side when the scores are the night's rows in the
    night's order (as the night scores them: no join of 1M string keys), else joined."""
    keys = ["client_id", "case_id"]
    if scores.height == cases.height and scores.select(keys).equals(cases.select(keys)):
        return cases.hstack(scores.drop(keys).get_columns())
    return cases.join(scores, on=keys, how="left")


def _with_groups(cases: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Each case's debtor_ref and strategy_group (``strategy_groups``), put in place by the
    debtor index (the rank of debtor_key) rather than joined on the key string (1M cases)."""
    groups = strategy_groups(cases.get_column("debtor_key").unique(), policy)
    ranked = groups.sort("debtor_key")  # row r: the debtor of index r
    at = cases.get_column(DEBTOR)
    return cases.with_columns(
        ranked.get_column("debtor_ref").gather(at),
        ranked.get_column("strategy_group").gather(at),
    )


def decide(
    night: pl.DataFrame,
    scores: pl.DataFrame,
    roster: pl.DataFrame,
    policy: Policy,
    business_date: date,
    evidence: Evidence | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (cases with their hold reason and flags, debtors with a value per channel).

    ``scores`` has client_id, case_id, p_repay, expected_recovery, reasons. ``evidence`` is the
    night's (pipeline/evidence.py); without it the policy's settings are used and the recent
    history is what ``night`` carries (else none).
    """
    cases = _with_recency(_case_flags(night, business_date, policy), evidence)
    cases = _with_groups(with_debtor_index(_with_scores(cases, scores)), policy)
    cases = apply_rules(cases, policy, business_date)
    cases = _eligibility(_rhythm_hold(cases, policy, evidence, business_date), roster, policy)
    debtors = _debtor_values(cases.select(VALUE_INPUTS), policy, evidence)
    # A debtor no channel may reach: held; unverified ones say so (R19), the rest need tracing.
    # the debtor's phone bar, once (a window inside the chain below would group per use)
    cases = cases.with_columns(
        _unreachable=~pl.lit(_reachable(cases.height, debtors)).gather(pl.col(DEBTOR)),
        _phone_barred=pl.col("phone_barred").drop_nulls().first().over(DEBTOR),
    )
    unreachable, debtor_phone_barred = pl.col("_unreachable"), pl.col("_phone_barred")
    unreached: list[tuple[pl.Expr, str | pl.Expr]] = [
        # a pack barred the phone and no other channel is open: held by that rule's name
        (unreachable & debtor_phone_barred.is_not_null(), debtor_phone_barred),
        (
            unreachable & ~pl.col("verified"),
            "unverified identity: no phone or visit to verify (trace)",
        ),
        (unreachable, "no usable channel (trace)"),
    ]
    cases = with_reasons(cases, "hold_reason", unreached).drop("_unreachable", "_phone_barred")
    return cases.drop(DEBTOR), debtors.drop(DEBTOR)


TRACE = "trace: locate the debtor via relatives, colleagues, carriers (R4; R20: no collection talk)"
INSTALMENT_PLAN = "promise broken: offer an instalment plan (R17)"


def action_for(channel: pl.Expr) -> pl.Expr:
    """The first thing to do with a case on the worklist.

    R19: an unverified debtor is only verified (or, when unreachable, traced), never collected
    from; R4/R20: tracing through third parties only once the debtor cannot be reached; R17: a
    broken promise (willing but unable) gets an instalment-plan offer.
    """
    return (
        pl.when(channel == "letter")
        .then(pl.lit("send demand letter (registered mail)"))
        .when((channel == "phone") & pl.col("third_party_allowed").fill_null(False))
        .then(pl.lit(TRACE))
        .when(~pl.col("verified") & (channel == "phone"))
        .then(pl.lit("first call: verify identity"))
        .when(~pl.col("verified"))
        .then(pl.lit("visit: verify identity first"))
        .when(pl.col("promise_due").fill_null(False))
        .then(pl.lit("promise due today: confirm payment"))
        .when(pl.col("promise_broken").fill_null(False))
        .then(pl.lit(INSTALMENT_PLAN))
        .when(channel == "visit")
        .then(pl.lit("visit: collect (carry contract, plan form, note form)"))
        .otherwise(pl.lit("call: collect"))
    )
