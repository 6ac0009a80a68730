"""changes: what the night decided for every case, and what moved since the night before.

``decisions_frame`` keeps, for every case of the night's book, what the rules and the values
said (the score, and its reasons for a worked case, identity verified, each channel allowed or
the rule that barred it, each channel's value for the debtor) and where the case went (a
collector and channel, or a hold and its reason). The warehouse keeps it (``decisions``) for
``caseflow explain`` and for tomorrow's diff.

``night_changes`` compares tonight with the previous published night: new cases, closed cases,
cases now held or back to work, and debtors that changed collector or channel, each with the
reason in words (the previous collector left or is on leave or full, the channel is no longer
allowed or another is now worth more, ...). Before the first published night it compares
collectors with the last collection note instead, and says so.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.assemble import NightFrames
from pipeline.policy import Policy

CLOSED = ("paid", "settled", "returned")
CLOSED_REASON = {
    "paid": "paid in full",
    "settled": "settled with the client",
    "returned": "returned to the client (return date reached)",
}
# The order in which changes are listed (changes.csv and the report).
CHANGE_KINDS = (
    "new case",
    "closed",
    "now held",
    "back to work",
    "channel changed",
    "collector changed",
)

DECISION_SCHEMA: dict[str, Any] = {
    "client_id": pl.Utf8,
    "case_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "city": pl.Utf8,
    "status": pl.Utf8,
    "previous_status": pl.Utf8,
    "balance": pl.Float64,
    "days_overdue": pl.Int32,
    "overdue_stage": pl.Utf8,
    "handover_date": pl.Date,
    "return_date": pl.Date,
    "p_repay": pl.Float64,
    "expected_recovery": pl.Float64,
    "reasons": pl.Utf8,
    "verified": pl.Boolean,
    "do_not_contact": pl.Boolean,
    "promise_due": pl.Boolean,
    "promise_pending": pl.Boolean,
    "promise_broken": pl.Boolean,
    "extension_due": pl.Boolean,
    "phone_invalid": pl.Boolean,
    "attempts": pl.Int64,
    "right_party_contacts": pl.Int64,
    "recent_complaints": pl.Int64,
    "last_outcome": pl.Utf8,
    "can_phone": pl.Boolean,
    "can_visit": pl.Boolean,
    "can_letter": pl.Boolean,
    "phone_rule": pl.Utf8,
    "visit_rule": pl.Utf8,
    "letter_rule": pl.Utf8,
    "value_phone": pl.Float64,
    "value_visit": pl.Float64,
    "value_letter": pl.Float64,
    "previous_collector_id": pl.Utf8,
    "previous_worked_on": pl.Date,
    "placement": pl.Utf8,  # worked | held
    "collector_id": pl.Utf8,
    "channel": pl.Utf8,
    "rank": pl.Int32,
    "action": pl.Utf8,
    "hold_reason": pl.Utf8,
    "hold_detail": pl.Utf8,
    # champion or challenger (pipeline.strategy), null before the strategy drew groups: the
    # report compares recovery by group over the cycle
    "strategy_group": pl.Utf8,
}
# Where a case went tonight: from the worklists and holds, never from the strategy's frame. The
# reasons too: the night words them for the worked cases only (models.score; issue 8), and
# ``caseflow explain`` words a held case's on demand (pipeline/explain.py).
_PLACED = frozenset(
    {
        "placement",
        "collector_id",
        "channel",
        "rank",
        "action",
        "hold_reason",
        "hold_detail",
        "reasons",
    }
)
# What ``decisions_frame`` reads of the strategy's debtors.
DEBTOR_VALUES = ("debtor_key", "value_phone", "value_visit", "value_letter")
# What ``decisions_frame`` reads of the strategy's cases besides DECISION_SCHEMA's columns.
DECISION_INPUTS = ("debtor_key", "has_address", "has_phone", "last_letter_outcome")
# What tomorrow's diff reads of tonight's decisions (``night_changes``'s ``previous``).
PREVIOUS_COLUMNS = ("client_id", "case_id", "placement", "collector_id", "channel", "hold_reason")

CHANGE_SCHEMA: dict[str, Any] = {
    "client_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "case_id": pl.Utf8,
    "change": pl.Utf8,
    "before": pl.Utf8,
    "after": pl.Utf8,
    "reason": pl.Utf8,
    "reason_kind": pl.Utf8,  # the reason without names or amounts, for counting
}


def _get(frame: pl.DataFrame, name: str, dtype: Any) -> pl.Expr:
    """Column ``name`` as ``dtype``, or a typed null when the stage did not produce it."""
    if name in frame.columns:
        return pl.col(name).cast(dtype)
    return pl.lit(None, dtype=dtype).alias(name)


def _rules(policy: Policy) -> list[pl.Expr]:
    """Why each channel is barred for a case (null where it is allowed), in the rules' words."""
    no_address = ~pl.col("has_address")
    phone_rule = (
        pl.when(pl.col("can_phone"))
        .then(None)
        .when(~pl.col("has_phone"))
        .then(pl.lit("no phone number"))
        .otherwise(pl.lit("no phone collector in tonight"))
    )
    visit_rule = (
        pl.when(pl.col("can_visit"))
        .then(None)
        .when(no_address)
        .then(pl.lit("no address to visit"))
        .otherwise(pl.lit("no visit collector in tonight covers ") + pl.col("city"))
    )
    letter_rule = (
        pl.when(pl.col("can_letter"))
        .then(None)
        .when(pl.col("balance") <= policy.letter_min_amount)
        .then(pl.lit(f"R11: owed at or below {policy.letter_min_amount:,.0f} yuan"))
        .when(no_address)
        .then(pl.lit("no address for a letter"))
        .when(pl.col("last_letter_outcome").fill_null("") == "mail_returned")
        .then(pl.lit("R12: mail returned, the address may not be the debtor's own"))
        .when(~pl.col("verified").fill_null(False))
        .then(pl.lit("R19: identity not verified yet"))
        .otherwise(pl.lit("no letter collector in tonight"))
    )
    return [
        phone_rule.alias("phone_rule"),
        visit_rule.alias("visit_rule"),
        letter_rule.alias("letter_rule"),
    ]


def decisions_frame(
    cases: pl.DataFrame, debtors: pl.DataFrame, frames: NightFrames, policy: Policy
) -> pl.DataFrame:
    """One row per case of the night's book: the rules, the values and where the case went.

    ``cases`` and ``debtors`` are ``pipeline.strategy.decide``'s frames; ``frames`` the night's
    worklists and holds. Nothing here is published: it is kept in the warehouse.
    """
    # Only the columns kept or needed for the rules: a join gathers every column of its left
    # frame, and the book's frame has some 60 (note counts, dates, flags) of a million rows.
    narrow = cases.select(
        c
        for c in cases.columns
        if (c in DECISION_SCHEMA and c not in _PLACED and not c.startswith("value_"))
        or c in DECISION_INPUTS
    )
    base = narrow.with_columns(
        # a book without the flag is one without the text: nothing to phone, visit or write to
        *(_get(cases, f"has_{c}", pl.Boolean).fill_null(False) for c in ("address", "phone")),
        _get(cases, "last_letter_outcome", pl.Utf8),
        *(_get(cases, f"can_{c}", pl.Boolean).fill_null(False) for c in ("phone", "visit")),
        _get(cases, "can_letter", pl.Boolean).fill_null(False),
        _get(cases, "verified", pl.Boolean),
        _get(cases, "balance", pl.Float64),
        _get(cases, "city", pl.Utf8),
    ).with_columns(_rules(policy))
    values = debtors.select(
        "debtor_key",
        *(_get(debtors, f"value_{c}", pl.Float64) for c in ("phone", "visit", "letter")),
    )
    if "debtor_key" in base.columns:
        base = base.join(values, on="debtor_key", how="left")
    worked = frames.worklists.select(
        "client_id", "case_id", "collector_id", "channel", "rank", "action", "reasons"
    )
    held = frames.holds.select(
        "client_id",
        "case_id",
        pl.col("reason").alias("hold_reason"),
        pl.col("detail").alias("hold_detail"),
    )
    keys = ["client_id", "case_id"]
    placed = (
        base.join(worked, on=keys, how="left")
        .join(held, on=keys, how="left")
        .with_columns(
            placement=pl.when(pl.col("collector_id").is_not_null())
            .then(pl.lit("worked"))
            .when(pl.col("hold_reason").is_not_null())
            .then(pl.lit("held"))
            .otherwise(None)
        )
    )
    return (
        placed.select(_get(placed, name, dtype) for name, dtype in DECISION_SCHEMA.items())
        .filter(pl.col("placement").is_not_null())
        .sort(keys)
    )


def _where(channel: pl.Expr, template: str) -> pl.Expr:
    """The value of column ``template`` (with ``{c}``) for the channel named in ``channel``."""
    expr: pl.Expr = pl.lit(None)
    for c in ("letter", "visit", "phone"):
        expr = pl.when(channel == c).then(pl.col(template.format(c=c))).otherwise(expr)
    return expr


def _yuan(column: str) -> pl.Expr:
    return pl.lit("¥") + pl.col(column).round(0).cast(pl.Int64).cast(pl.Utf8)


def _placement_text(collector: str, channel: str, reason: str) -> pl.Expr:
    return (
        pl.when(pl.col(collector).is_not_null())
        .then(pl.col(collector) + pl.lit(" (") + pl.col(channel).fill_null("?") + pl.lit(")"))
        .when(pl.col(reason).is_not_null())
        .then(pl.lit("held: ") + pl.col(reason))
        .otherwise(None)
    )


def _previous(
    tonight: pl.DataFrame, previous: pl.DataFrame | None, roster: pl.DataFrame
) -> pl.DataFrame:
    """Tonight's decisions with the previous placement: prev_collector, prev_channel, ..."""
    keys = ["client_id", "case_id"]
    if previous is not None:
        before = previous.select(
            *keys,
            pl.col("placement").alias("prev_placement"),
            pl.col("collector_id").alias("prev_collector"),
            pl.col("channel").alias("prev_channel"),
            pl.col("hold_reason").alias("prev_hold_reason"),
        )
        return tonight.join(before, on=keys, how="left")
    # No earlier published night: the collector of the last note is the one before.
    channel_of = roster.select(
        pl.col("collector_id").alias("previous_collector_id"), pl.col("channel").alias("_ch")
    )
    return tonight.join(channel_of, on="previous_collector_id", how="left").with_columns(
        prev_placement=pl.when(pl.col("previous_collector_id").is_not_null())
        .then(pl.lit("worked"))
        .otherwise(None),
        prev_collector=pl.col("previous_collector_id"),
        prev_channel=pl.col("_ch"),
        prev_hold_reason=pl.lit(None, dtype=pl.Utf8),
    )


def _move_reason(moved_channel: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(reason in words, reason kind) for a debtor that changed collector or channel."""
    prev, ch, prev_ch = pl.col("prev_collector"), pl.col("channel"), pl.col("prev_channel")
    old_value = _where(prev_ch, "value_{c}")
    new_value = _where(ch, "value_{c}")
    barred = _where(prev_ch, "{c}_rule")
    full = pl.col("prev_load") >= pl.col("prev_capacity")
    cases = [
        (
            ~pl.col("prev_in_roster"),
            prev + pl.lit(" is no longer in the roster"),
            "previous collector left the roster",
        ),
        (
            ~pl.col("prev_active").fill_null(False),
            prev + pl.lit(" is on leave tonight"),
            "previous collector on leave",
        ),
        (
            moved_channel & barred.is_not_null(),
            prev_ch + pl.lit(" not possible tonight: ") + barred,
            pl.lit("previous channel not allowed: ") + prev_ch,
        ),
        (
            moved_channel & (new_value.fill_null(0.0) > old_value.fill_null(0.0)),
            ch
            + pl.lit(" now worth more: ")
            + _yuan("_new_value")
            + pl.lit(" against ")
            + _yuan("_old_value")
            + pl.lit(" by ")
            + prev_ch,
            pl.lit("worth more by ") + ch,
        ),
        (
            moved_channel,
            prev_ch + pl.lit(" work was full tonight; ") + ch + pl.lit(" was the best left"),
            pl.lit("previous channel full: ") + prev_ch,
        ),
        (
            (ch == "visit") & ~pl.col("prev_cities").list.contains(pl.col("city")).fill_null(False),
            prev + pl.lit(" does not cover ") + pl.col("city"),
            "previous collector does not cover the city",
        ),
        (
            full,
            prev
            + pl.lit(" was full tonight (")
            + pl.col("prev_load").cast(pl.Utf8)
            + pl.lit("/")
            + pl.col("prev_capacity").cast(pl.Utf8)
            + pl.lit(" cases)"),
            "previous collector full",
        ),
    ]
    text: Any = pl.when(cases[0][0]).then(cases[0][1])
    kind: Any = pl.when(cases[0][0]).then(pl.lit(cases[0][2]))
    for cond, words, why in cases[1:]:
        text = text.when(cond).then(words)
        kind = kind.when(cond).then(why if isinstance(why, pl.Expr) else pl.lit(why))
    text = text.otherwise(
        pl.lit("more value with ")
        + pl.col("collector_id")
        + pl.lit(" tonight; the continuity bonus with ")
        + prev
        + pl.lit(" did not outweigh it")
    )
    kind = kind.otherwise(pl.lit("more value with another collector"))
    return text, kind


def collector_load(worked: pl.DataFrame) -> pl.DataFrame:
    """Tonight's cases per collector (``prev_collector``, ``prev_load``) of the worked rows
    (the worklists, or the decisions placed ``worked``)."""
    return (
        worked.group_by("collector_id")
        .len()
        .rename({"collector_id": "prev_collector", "len": "prev_load"})
    )


def night_changes(
    tonight: pl.DataFrame,
    previous: pl.DataFrame | None,
    roster: pl.DataFrame,
    load: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """What moved since the previous night, one row per case (``CHANGE_SCHEMA``).

    ``previous`` is the previous published night's ``decisions_frame`` (None before the first
    one: collectors are then compared with the last collection note). ``roster`` is tonight's.
    ``load``: tonight's ``collector_load``, given when ``tonight`` is one part of the book
    (pipeline.parts); else counted from ``tonight``.
    """
    if tonight.is_empty():
        return pl.DataFrame(schema=CHANGE_SCHEMA)
    if load is None:
        load = collector_load(tonight.filter(pl.col("placement") == "worked"))
    people = roster.select(
        pl.col("collector_id").alias("prev_collector"),
        pl.lit(True).alias("prev_in_roster"),
        pl.col("active").alias("prev_active"),
        pl.col("cities").alias("prev_cities"),
        pl.col("daily_capacity").cast(pl.Int64).alias("prev_capacity"),
    )
    frame = (
        _previous(tonight, previous, roster)
        .join(people, on="prev_collector", how="left")
        .join(load, on="prev_collector", how="left")
        .with_columns(
            pl.col("prev_in_roster").fill_null(False),
            pl.col("prev_load").fill_null(0),
            _where(pl.col("prev_channel"), "value_{c}").alias("_old_value"),
            _where(pl.col("channel"), "value_{c}").alias("_new_value"),
        )
    )
    notes_only = previous is None
    worked, held = pl.col("placement") == "worked", pl.col("placement") == "held"
    was_worked = pl.col("prev_placement") == "worked"
    was_held = pl.col("prev_placement") == "held"
    moved_channel = pl.col("prev_channel") != pl.col("channel")
    moved = (
        was_worked & worked & (moved_channel | (pl.col("prev_collector") != pl.col("collector_id")))
    )
    change = (
        pl.when(pl.col("previous_status").is_null())
        .then(pl.lit("new case"))
        .when(
            pl.col("status").is_in(CLOSED)
            & ~pl.col("previous_status").is_in(CLOSED).fill_null(False)
        )
        .then(pl.lit("closed"))
        .when(pl.lit(not notes_only) & was_worked & held)
        .then(pl.lit("now held"))
        .when(pl.lit(not notes_only) & was_held & worked)
        .then(pl.lit("back to work"))
        .when(moved & moved_channel)
        .then(pl.lit("channel changed"))
        .when(moved)
        .then(pl.lit("collector changed"))
        .otherwise(None)
    )
    move_text, move_kind = _move_reason(moved_channel.fill_null(False))
    status_reason = pl.col("status").replace_strict(CLOSED_REASON, default=pl.col("status"))
    hold_text = pl.col("hold_reason") + pl.when(pl.col("hold_detail").is_not_null()).then(
        pl.lit("; ") + pl.col("hold_detail")
    ).otherwise(pl.lit(""))
    c = pl.col("change")
    return (
        frame.with_columns(change.alias("change"))
        .filter(pl.col("change").is_not_null())
        .with_columns(
            before=pl.when(c == "new case")
            .then(None)
            .otherwise(
                pl.coalesce(
                    _placement_text("prev_collector", "prev_channel", "prev_hold_reason"),
                    pl.col("previous_status"),
                )
            ),
            after=pl.when(c == "closed")
            .then(pl.col("status"))
            .otherwise(_placement_text("collector_id", "channel", "hold_reason")),
            reason=pl.when(c == "new case")
            .then(
                pl.lit("new from ")
                + pl.col("client_id")
                + pl.lit(", handed over ")
                + pl.col("handover_date").cast(pl.Utf8)
            )
            .when(c == "closed")
            .then(status_reason)
            .when(c == "now held")
            .then(hold_text)
            .when(c == "back to work")
            .then(pl.lit("held the night before (") + pl.col("prev_hold_reason") + pl.lit(")"))
            .otherwise(move_text),
            reason_kind=pl.when(c == "new case")
            .then(pl.lit("new from the client"))
            .when(c == "closed")
            .then(pl.col("status"))
            .when(c == "now held")
            .then(pl.col("hold_reason"))
            .when(c == "back to work")
            .then(pl.lit("hold lifted: ") + pl.col("prev_hold_reason"))
            .otherwise(move_kind),
        )
        .pipe(sort_changes)
        .select(pl.col(n).cast(t) for n, t in CHANGE_SCHEMA.items())
    )


def sort_changes(changes: pl.DataFrame) -> pl.DataFrame:
    """Changes in the order they are listed: by kind (``CHANGE_KINDS``), then by debtor."""
    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    return (
        changes.with_columns(
            pl.col("change")
            .replace_strict(order, default=len(order), return_dtype=pl.Int32)
            .alias("_order")
        )
        .sort("_order", "client_id", "customer_id", "case_id", nulls_last=True)
        .drop("_order")
    )
