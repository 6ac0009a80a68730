"""assemble: turn the strategy's decisions and the allocation into the night's frames.

Worklists (one row per case, a debtor's cases adjacent, best first), holds (every other case of
tonight's book, with its reason) and the letter batch. Checks that every case of the book ends in
exactly one place, so no case is lost silently.

The book carries no names, numbers or addresses (issue 8: a million rows of text that only the
worked ~1% show): the worked rows' are asked for by key (``CaseDetails``, in a night
``pipeline.load.case_details``), after the allocation, and held cases' are never read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from pipeline.allocate import OVER_CAPACITY, Allocation, eligible_debtors, over_capacity
from pipeline.errors import CaseflowError
from pipeline.masking import mask_card_expr, mask_id_expr
from pipeline.parts import CaseParts, part_rows
from pipeline.policy import Policy
from pipeline.rules import call_window
from pipeline.strategy import action_for

LETTER_NOT_ALLOWED = "letter not allowed for this case (R11-R13, R19)"

# What a worklist shows of a case beyond the book: read for the worked rows only.
DETAIL_COLUMNS = ("customer_name", "id_number", "card_number", "phone", "district", "address")
# Given (client_id, case_id) keys, those cases' DETAIL_COLUMNS (with the keys).
CaseDetails = Callable[[pl.DataFrame], pl.DataFrame]

WORKLIST_COLUMNS = (
    "collector_id",
    "collector_name",
    "team",
    "rank",
    "case_id",
    "client_id",
    "customer_id",
    "customer_name",
    "phone",
    "id_number",
    "card_number",
    "city",
    "district",
    "address",
    "amount_owed",
    "debtor_total_owed",
    "days_overdue",
    "overdue_stage",
    "p_repay",
    "expected_recovery",
    "channel",
    "action",
    "reasons",
    "call_window",
    "return_date",
    "extension_due",
    # the rule pack's limits for the work day on phone rows (pipeline/rules)
    "attempts_allowed",
    "connected_calls_allowed",
    # issue 4: one debtor's rows are adjacent and share a reference (a hash, no id number) and
    # the debtor's total owed; the case's cycle and week of it (R1) on the work day
    "debtor_ref",
    "cycle",
    "cycle_week",
)


# What ``assemble`` (and ``strategy.action_for``) read of the strategy's cases: the keys, the
# worklist's columns that come from the case, the ranking's and the hold's inputs.
ASSEMBLE_INPUTS = (
    *(c for c in WORKLIST_COLUMNS if c not in DETAIL_COLUMNS),
    "debtor_key",
    "balance",
    "promise_due",
    "promise_broken",
    "verified",
    "third_party_allowed",
    "hold_reason",
    "can_letter",
)


# Given a part's index and its worked cases (client_id, case_id), their reasons (client_id,
# case_id, reasons): the night scores its book without them and words them for the worked cases
# only (models.score.NightScorer.reasons; issue 8).
PartReasons = Callable[[int, pl.DataFrame], pl.DataFrame]

# A hold's columns (``place``'s), as holds.csv and the ``holds`` view have them.
HOLD_COLUMNS = ("client_id", "case_id", "customer_id", "reason", "detail")
# The detail of a hold whose case reaches the R3 extension point (``place``).
EXTENSION_DUE = "extension due"


@dataclass(frozen=True)
class NightFrames:
    worklists: pl.DataFrame
    holds: pl.DataFrame
    letters: pl.DataFrame


@dataclass(frozen=True)
class HoldCounts:
    """What the manifest and the report count of the night's holds: cases per reason, and per
    client the held cases with an extension due (R3). Counted a part at a time and added up, so
    a large night's holds (nearly its whole book) are never held at once (issue 8)."""

    by_reason: Counter[str] = field(default_factory=Counter)
    extension_due: Counter[str] = field(default_factory=Counter)  # client_id -> cases

    @classmethod
    def of(cls, holds: pl.DataFrame) -> HoldCounts:
        reasons = holds.group_by("reason").len().iter_rows()
        due = holds.filter(pl.col("detail") == EXTENSION_DUE).group_by("client_id").len()
        return cls(
            Counter({str(r): int(n) for r, n in reasons}),
            Counter({str(c): int(n) for c, n in due.iter_rows()}),
        )

    def __add__(self, other: HoldCounts) -> HoldCounts:
        return HoldCounts(
            self.by_reason + other.by_reason, self.extension_due + other.extension_due
        )

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


@dataclass(frozen=True)
class PlacedNight:
    """The night placed (``assemble_parts``): the worklists and letters of every worked row,
    and the holds counted; each part's holds themselves are kept apart for the review."""

    worklists: pl.DataFrame
    letters: pl.DataFrame
    held: HoldCounts


def _ranked(
    worked: pl.DataFrame, business_date: date | None = None, horizon_days: int = 30
) -> pl.DataFrame:
    """Rank within each collector so that the first rows are the ones to do first.

    A debtor's cases stay together, largest balance first. Debtors go in tiers of urgency: a
    promise due today (confirm it while the debtor expects the call), then an extension due (R3:
    the case goes back within the notice days unless one is asked for), then the rest. Within a
    tier, by expected value made more urgent as the return date nears: value + |value| x
    closeness, closeness = 1 - days to the debtor's nearest return date / ``horizon_days``, in
    [0, 1]: a case going back today counts double, one a cycle or more away at face value (fewer
    days left, fewer chances to collect). Without the business date there is no closeness, and
    the nearer return date only breaks ties. Last ties: debtor_key, so a re-run ranks the same.
    """
    nearest = pl.col("return_date").min()
    if business_date is None:
        closeness = pl.lit(0.0)
    else:
        days = (nearest - pl.lit(business_date)).dt.total_days()
        closeness = (1.0 - days / horizon_days).clip(0.0, 1.0).fill_null(0.0)
    value = pl.col("value").first().fill_null(0.0)
    debtor_order = (
        worked.group_by("collector_id", "debtor_key")
        .agg(
            pl.col("promise_due").fill_null(False).any().alias("_promise"),
            pl.col("extension_due").fill_null(False).any().alias("_extension"),
            (value + value.abs() * closeness).alias("_priority"),
            nearest.alias("_return"),
        )
        .sort(
            ["collector_id", "_promise", "_extension", "_priority", "_return", "debtor_key"],
            descending=[False, True, True, True, False, False],
            nulls_last=True,
        )
        .with_columns(_debtor_rank=pl.int_range(pl.len()).over("collector_id"))
    )
    return (
        worked.join(debtor_order, on=["collector_id", "debtor_key"], how="left")
        .sort(
            ["collector_id", "_debtor_rank", "balance", "case_id"],
            descending=[False, False, True, False],
        )
        .with_columns(rank=(pl.int_range(pl.len()).over("collector_id") + 1).cast(pl.Int32))
        .drop("_promise", "_extension", "_priority", "_return", "_debtor_rank")
    )


def _with_details(worked: pl.DataFrame, details: CaseDetails) -> pl.DataFrame:
    """The worked rows with their names, numbers and addresses (``details`` of their keys)."""
    keys = ["client_id", "case_id"]
    found = details(worked.select(keys)).select(*keys, *DETAIL_COLUMNS)
    return worked.join(found, on=keys, how="left")


def place(
    cases: pl.DataFrame, debtors: pl.DataFrame, allocation: Allocation
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the worked rows, the holds) of ``cases``: each case with its debtor's collector and
    channel, or held with its reason; every case ends in exactly one of the two. ``debtors``
    are the cases' debtors (the night's, or their part's: ``part_rows``). A night in parts
    (pipeline.parts) places each part on its own: the allocation is per debtor, and the part's
    debtors left over capacity are found among its own (``over_capacity``), not joined from the
    millions of the whole night's for every part."""
    over = over_capacity(eligible_debtors(debtors), allocation.assigned)
    over = over.with_columns(_over=pl.lit(True))
    # lazy: the joins and the hold reason make one frame of the part's million cases, not one
    # copy of its every column per step
    placed = (
        cases.lazy()
        .join(allocation.assigned.lazy(), on="debtor_key", how="left")
        .join(over.lazy(), on="debtor_key", how="left")
        .join(debtors.lazy().select("debtor_key", "debtor_total_owed"), on="debtor_key", how="left")
        .with_columns(
            hold_reason=pl.when(pl.col("hold_reason").is_not_null())
            .then(pl.col("hold_reason"))
            .when(pl.col("_over").fill_null(False))
            .then(pl.lit(OVER_CAPACITY))
            .when((pl.col("channel") == "letter") & ~pl.col("can_letter"))
            .then(pl.lit(LETTER_NOT_ALLOWED))
            .otherwise(None)
        )
        .collect()
    )
    held = pl.col("hold_reason").is_not_null()
    if placed.select((~held & pl.col("collector_id").is_null()).any()).item():
        raise CaseflowError("internal error: a case was neither allocated nor held")
    worked = placed.filter(~held)
    holds = (
        placed.lazy()
        .filter(held)
        .select(
            "client_id",
            "case_id",
            "customer_id",
            pl.col("hold_reason").alias("reason"),
            pl.when(pl.col("extension_due"))
            .then(pl.lit(EXTENSION_DUE))
            .otherwise(None)
            .alias("detail"),
        )
        .sort("client_id", "case_id")
        .collect()
    )
    return worked, holds


def worklists_and_letters(
    worked: pl.DataFrame,
    roster: pl.DataFrame,
    policy: Policy,
    business_date: date | None,
    details: CaseDetails,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The night's worklists and letter batch from every worked row (``place``'s)."""
    worked = _ranked(worked, business_date, policy.cycle_days)
    worked = _with_details(worked, details)
    people = roster.select("collector_id", pl.col("name").alias("collector_name"), "team")
    channel = pl.col("channel")
    worklists = (
        worked.join(people, on="collector_id", how="left")
        .with_columns(
            action=action_for(channel),
            phone=pl.when(channel == "phone").then(pl.col("phone")).otherwise(None),
            address=pl.when(channel != "phone").then(pl.col("address")).otherwise(None),
            amount_owed=pl.col("balance").cast(pl.Float64),
            debtor_total_owed=pl.col("debtor_total_owed").cast(pl.Float64),
            call_window=pl.when(channel == "phone")
            .then(pl.lit(call_window(policy)))
            .otherwise(None),
            attempts_allowed=pl.when(channel == "phone")
            .then(pl.col("attempts_allowed"))
            .otherwise(None),
            connected_calls_allowed=pl.when(channel == "phone")
            .then(pl.col("connected_calls_allowed"))
            .otherwise(None),
        )
        .with_columns(mask_id_expr("id_number"), mask_card_expr("card_number"))
        .select(WORKLIST_COLUMNS)
        .sort("collector_id", "rank")
    )
    letters = (
        worklists.filter(channel == "letter")
        .select(
            "client_id",
            "case_id",
            "customer_name",
            "address",
            "city",
            "amount_owed",
            (pl.col("client_id") + pl.lit("-") + pl.col("case_id")).alias("reference"),
            "collector_id",
        )
        .sort("client_id", "case_id")
    )
    return worklists, letters


def assemble(
    cases: pl.DataFrame,
    debtors: pl.DataFrame,
    allocation: Allocation,
    roster: pl.DataFrame,
    policy: Policy,
    business_date: date | None = None,
    *,
    details: CaseDetails,
) -> NightFrames:
    """Build worklists, holds and letters from the decisions; see the module docstring.

    With ``business_date``, a worklist's ranking also weighs how near each return date is.
    ``details`` is asked once, for the worked rows' keys.
    """
    kept = CaseParts(None)  # in memory
    placed = assemble_parts(
        [cases], debtors, allocation, roster, policy, business_date, details, kept
    )
    (holds,) = kept
    return NightFrames(worklists=placed.worklists, holds=holds, letters=placed.letters)


def assemble_parts(
    parts: Iterable[pl.DataFrame],
    debtors: pl.DataFrame,
    allocation: Allocation,
    roster: pl.DataFrame,
    policy: Policy,
    business_date: date | None,
    details: CaseDetails,
    holds: CaseParts,
    reasons: PartReasons | None = None,
) -> PlacedNight:
    """``assemble`` over the parts of a night's cases (pipeline.parts), each placed on its own.
    Each part's holds (sorted by client_id, case_id) go to ``holds``, in the parts' order (the
    review pairs them with the parts and stores them): only their counts are kept here.
    ``reasons``, when given, words the worked cases' reasons (the cases' own are left out)."""
    worked: list[pl.DataFrame] = []
    held = HoldCounts()
    for index, part in enumerate(parts):
        part_worked, part_holds = place(part, part_rows(debtors, index), allocation)
        if reasons is not None:
            found = reasons(index, part_worked.select("client_id", "case_id"))
            part_worked = part_worked.drop("reasons", strict=False).join(
                found, on=["client_id", "case_id"], how="left"
            )
        worked.append(part_worked)
        held += HoldCounts.of(part_holds)
        holds.add(part_holds)
        del part_holds
    worklists, letters = worklists_and_letters(
        pl.concat(worked, how="vertical_relaxed"), roster, policy, business_date, details
    )
    return PlacedNight(worklists=worklists, letters=letters, held=held)
