"""Reason codes: the top factors behind a case's score, in plain words.

A simple, honest approximation, documented as such in the model card: each feature's
contribution for a case is

    direction x weight x (value - training mean) / training standard deviation

where ``direction`` is the business's sign where the model is constrained to it (monotonic
features) and otherwise the sign of the feature's correlation with the model's own scores on the
training rows, and ``weight`` is the feature's permutation importance (loss of validation ROC AUC
when the feature is shuffled). So a factor is named only if the model relies on it and the case
stands out on it; "(+)" marks a factor that raises the score, "(-)" one that lowers it. It is
not an exact decomposition of a tree ensemble's score, and the card says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from models.features import DAYS_CAP, FEATURE_NAMES, FEATURES, PRODUCTS, Matrix

TOP = 3

Phrase = Callable[[pl.Expr], pl.Expr]


@dataclass(frozen=True)
class Explainer:
    """Per feature (in ``FEATURE_NAMES`` order): training mean and scale, direction, weight."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    direction: tuple[int, ...]
    weight: tuple[float, ...]

    @classmethod
    def fit(
        cls, x: Matrix, scores: npt.NDArray[np.float64], importance: npt.NDArray[np.float64]
    ) -> Explainer:
        """From the training matrix, the model's scores on it and permutation importances."""
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # a constant feature never stands out
        direction = []
        for j, feature in enumerate(FEATURES):
            if feature.monotonic:
                direction.append(feature.monotonic)
            elif np.std(x[:, j]) > 0 and np.std(scores) > 0:
                direction.append(int(np.sign(np.corrcoef(x[:, j], scores)[0, 1])))
            else:
                direction.append(0)
        weight = np.clip(importance, 0.0, None)
        return cls(
            mean=tuple(float(v) for v in mean),
            scale=tuple(float(v) for v in scale),
            direction=tuple(direction),
            weight=tuple(float(v) for v in weight),
        )

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {
            "mean": list(self.mean),
            "scale": list(self.scale),
            "direction": list(self.direction),
            "weight": list(self.weight),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explainer:
        return cls(
            mean=tuple(float(v) for v in data["mean"]),
            scale=tuple(float(v) for v in data["scale"]),
            direction=tuple(int(v) for v in data["direction"]),
            weight=tuple(float(v) for v in data["weight"]),
        )

    def contributions(self, x: Matrix) -> Matrix:
        """Signed contribution of each feature (rows of the result) for each case (columns);
        0 where a feature says nothing. Features-major, because the top factors are then
        found one contiguous feature row at a time (``matrix`` gives column-major data, so
        ``x.T`` is contiguous too)."""
        xt = x.T
        signed = np.asarray(self.direction, dtype=np.float64) * np.asarray(self.weight)
        result: Matrix = xt - np.asarray(self.mean)[:, None]
        result *= (signed / np.asarray(self.scale))[:, None]  # in place: 1M cases x 31 is big
        # a product indicator speaks only for the product the case has, never "not a mortgage"
        for j, name in enumerate(FEATURE_NAMES):
            if name.startswith("product_"):
                result[j] *= xt[j] > 0
        return result

    def reasons(self, x: Matrix) -> pl.Series:
        """The top factors of each row as one text, e.g. "3 right-party contacts (+); ..."."""
        return phrase_top(x, self.contributions(x))


def phrase_top(x: Matrix, contributions: Matrix, top: int = TOP) -> pl.Series:
    """Name the ``top`` largest contributions (features x cases) of each case, largest first."""
    n = x.shape[0]
    top = min(top, x.shape[1])
    rows = np.arange(n)
    picked = _largest(np.abs(contributions), top)
    long = pl.DataFrame(
        {
            "pos": np.arange(n * top, dtype=np.int64),
            "feature": picked.reshape(-1),
            "value": x[rows, picked].reshape(-1),
            "contribution": contributions[picked, rows].reshape(-1),
        }
    )
    sign = pl.when(pl.col("contribution") > 0).then(pl.lit(" (+)")).otherwise(pl.lit(" (-)"))
    parts = [
        group.select(
            "pos",
            pl.when(pl.col("contribution") != 0)
            .then(pl.concat_str(_PHRASES[FEATURE_NAMES[int(key[0])]](pl.col("value")), sign))
            .alias("text"),
        )
        for key, group in long.partition_by("feature", as_dict=True).items()
    ]
    if not parts:
        return pl.Series("reasons", [], dtype=pl.Utf8)
    text = pl.concat(parts).sort("pos").get_column("text")
    slots = pl.DataFrame({f"s{k}": text.slice(k * n, n) for k in range(top)})
    joined = slots.select(
        pl.concat_str([f"s{k}" for k in range(top)], separator="; ", ignore_nulls=True)
    )
    return joined.to_series().fill_null("").alias("reasons")


def _largest(magnitude: Matrix, top: int) -> npt.NDArray[np.int32]:
    """For each case (column of ``magnitude``, features x cases) its ``top`` largest features,
    slot-major. Scanning one feature row at a time is vectorised over cases, far faster than
    argsort or argmax over 31 values per case; a tie keeps the first feature (stable).
    ``magnitude`` is used up."""
    picked = np.zeros((top, magnitude.shape[1]), dtype=np.int32)
    columns = np.arange(magnitude.shape[1])
    for slot in range(top):
        best = magnitude[0].copy()
        for j in range(1, magnitude.shape[0]):
            better = magnitude[j] > best
            best = np.where(better, magnitude[j], best)
            picked[slot][better] = j
        magnitude[picked[slot], columns] = -1.0  # taken: the next slot finds the next one
    return picked


# ---- plain words for one feature's value ---------------------------------------------------


def _int(value: pl.Expr) -> pl.Expr:
    return value.round(0).cast(pl.Int64).cast(pl.Utf8)


def _text(*parts: str | pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _days(v: pl.Expr) -> pl.Expr:
    """ "1 day", "12 days"."""
    return pl.when(v.round(0) == 1).then(pl.lit("1 day")).otherwise(_text(_int(v), " days"))


def _count(one: str, many: str, zero: str) -> Phrase:
    """e.g. "no wrong number" / "1 wrong number" / "4 wrong numbers"."""

    def phrase(v: pl.Expr) -> pl.Expr:
        return (
            pl.when(v <= 0)
            .then(pl.lit(zero))
            .when(v == 1)
            .then(pl.lit(one))
            .otherwise(_text(_int(v), " ", many))
        )

    return phrase


def _days_ago(what: str, never: str) -> Phrase:
    """e.g. "last payment 12 days ago", or ``never`` at the cap."""

    def phrase(v: pl.Expr) -> pl.Expr:
        return (
            pl.when(v >= DAYS_CAP)
            .then(pl.lit(never))
            .when(v == 0)
            .then(pl.lit(f"{what} today"))
            .when(v == 1)
            .then(pl.lit(f"{what} yesterday"))
            .otherwise(_text(what, " ", _days(v), " ago"))
        )

    return phrase


def _yuan(before: str, after: str = "", zero: str | None = None) -> Phrase:
    def phrase(v: pl.Expr) -> pl.Expr:
        text = _text(before, _int(v), " yuan", after)
        return text if zero is None else pl.when(v <= 0).then(pl.lit(zero)).otherwise(text)

    return phrase


def _in_days(before: str, after: str = "") -> Phrase:
    return lambda v: _text(before, _days(v), after)


def _percent(before: str, after: str = "") -> Phrase:
    return lambda v: _text(before, _int(v * 100), "%", after)


def _to_return(v: pl.Expr) -> pl.Expr:
    return (
        pl.when(v < 0)
        .then(_text("return date passed ", _days(-v), " ago"))
        .when(v == 0)
        .then(pl.lit("return date today"))
        .otherwise(_text(_days(v), " to the return date"))
    )


def _fixed(text: str) -> Phrase:
    return lambda v: pl.lit(text)


_PHRASES: dict[str, Phrase] = {
    "balance": _yuan("balance "),
    "principal": _yuan("principal "),
    "days_overdue": _in_days("", " overdue"),
    "days_since_handover": _in_days("handed over ", " ago"),
    "days_to_return": _to_return,
    "payments_count": _count("1 payment on record", "payments on record", "no payment on record"),
    "days_since_last_payment": _days_ago("last payment", "no payment in the past year"),
    "paid_30d": _yuan("paid ", " in the last 30 days", "nothing paid in the last 30 days"),
    "paid_90d": _yuan("paid ", " in the last 90 days", "nothing paid in the last 90 days"),
    "share_repaid": _percent("", " of the debt repaid"),
    "attempts": _count("1 contact attempt", "contact attempts", "never contacted"),
    "attempts_30d": _count(
        "1 attempt in the last 30 days",
        "attempts in the last 30 days",
        "no attempt in the last 30 days",
    ),
    "right_party_contacts": _count(
        "reached in person once", "right-party contacts", "never reached in person"
    ),
    "right_party_rate": _percent("reached in person on ", " of attempts"),
    "days_since_right_party": _days_ago(
        "right-party contact", "not reached in person in the past year"
    ),
    "days_since_contact": _days_ago("last contact", "no contact in the past year"),
    "refusals": _count("refused to pay once", "refusals to pay", "never refused"),
    "wrong_numbers": _count("1 wrong number", "wrong numbers", "no wrong number"),
    "complaints": _count("1 complaint", "complaints", "no complaint"),
    "promises_made": _count("1 promise to pay", "promises to pay", "no promise to pay"),
    "promises_kept": _count("promise kept", "promises kept", "no promise kept"),
    "promises_broken": _count("1 broken promise", "broken promises", "no broken promise"),
    "promises_open": _count("promise to pay due", "promises to pay due", "no open promise"),
    "debtor_open_cases": _count(
        "the debtor's only open case", "open cases for this debtor", "no open case"
    ),
    "debtor_total_balance": _yuan("debtor owes ", " in all"),
    **{f"product_{p}": _fixed(p.replace("_", " ")) for p in PRODUCTS if p != "other"},
    "product_other": _fixed("other product"),
}
assert set(_PHRASES) == set(FEATURE_NAMES), "every feature needs its plain words"
