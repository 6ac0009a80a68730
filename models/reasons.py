"""Reason codes: the top factors behind a case's score, in plain words, and faithful.

A factor is one feature, or a few that describe one fact together (days overdue and the overdue
stage; the payment history; the promises made, kept, broken and due). Its effect on a case is
measured, not guessed: the case is scored again with that factor set to
the typical value of the training rows (the median; the most common product), and

    effect = p_repay(case) - p_repay(case with the factor at its typical value).

"(+)" marks a factor that raises this case's score above what it would be with a typical value,
"(-)" one that lowers it; the three largest effects are named, largest first. So every reason
is true by construction: set a named factor to its typical value and the score moves against
its sign, by the effect. (Where the business is sure of a direction the model is constrained
to it, so moving such a factor further past the typical value moves the score the same way.)

To stay fast on a large book, only the five factors on which the case stands out most (distance
from the typical value in training standard deviations, weighted by the factor's permutation
importance) are scored again; the reasons are the largest measured effects among those five.
A factor with no effect (the model does not use it there) is never named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from models.features import DAYS_CAP, FEATURE_NAMES
from models.trees import TreeProbability

if TYPE_CHECKING:  # scikit-learn: imported by whoever loaded the model, not by this module
    from models.learner import CalibratedClassifier

Matrix = npt.NDArray[np.float64]  # encoded rows, as models.learner.Matrix
Probabilities = npt.NDArray[np.float64]  # as models.evaluate.Probabilities

TOP = 3
CANDIDATES = 5  # factors scored again per case
CHUNK = 65_536  # cases scored again at a time (memory: CANDIDATES x CHUNK x columns floats)
MIN_EFFECT = 1e-6  # a smaller change of p_repay is no reason

Phrase = Callable[[pl.Expr], pl.Expr]
Scorer = Callable[[Matrix], Probabilities]  # encoded rows -> P(repaid)

# The repayment model's factors. Features that describe one fact together move together (a
# payment 10 days ago is also a payment within 30 and 90 days; every promise is kept, broken or
# still due; the balance is mostly principal), so a factor is reset whole and told in one
# phrase: "no payment for 120 days", "2 promises to pay: 2 broken". The others stand alone.
_GROUPS: dict[str, tuple[str, ...]] = {
    "amount": ("balance", "principal"),
    "days_overdue": ("days_overdue", "overdue_stage"),
    "payments": (
        "days_since_last_payment",
        "payments_count",
        "paid_30d",
        "paid_90d",
        "share_repaid",
    ),
    "attempts": ("attempts", "attempts_30d", "days_since_contact"),
    "reached": ("right_party_contacts", "right_party_rate", "days_since_right_party"),
    "promises": ("promises_made", "promises_kept", "promises_broken", "promises_open"),
}
_GROUPED = {c for cols in _GROUPS.values() for c in cols}
FACTORS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    [(name, cols) for name, cols in _GROUPS.items()]
    + [(name, (name,)) for name in FEATURE_NAMES if name not in _GROUPED]
)


@dataclass(frozen=True)
class Explanation:
    """Per case (columns) and slot (rows, largest first): the factor (index into the
    explainer's factors, -1 for none) and its effect on p_repay."""

    factors: npt.NDArray[np.int32]
    effects: Matrix


@dataclass(frozen=True)
class Explainer:
    """Per model column: the typical value, the spread and the permutation importance; and
    the factors (names and the columns each one sets)."""

    columns: tuple[str, ...]
    reference: tuple[float, ...]
    scale: tuple[float, ...]
    weight: tuple[float, ...]
    factors: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def fit(
        cls,
        x: Matrix,
        columns: Sequence[str],
        categorical: Sequence[str],
        importance: Mapping[str, float],
        factors: Sequence[tuple[str, Sequence[str]]] = FACTORS,
    ) -> Explainer:
        """From the training matrix (columns as ``models.learner.Encoder`` orders them)."""
        reference, scale = [], []
        for j, name in enumerate(columns):
            values = x[:, j][~np.isnan(x[:, j])]
            if values.size == 0:
                reference.append(float("nan"))
                scale.append(1.0)
            elif name in categorical:
                codes, counts = np.unique(values, return_counts=True)
                reference.append(float(codes[np.argmax(counts)]))  # the most common
                scale.append(1.0)
            else:
                reference.append(float(np.median(values)))
                spread = float(np.std(values))
                scale.append(spread if spread > 0 else 1.0)
        weights = np.clip([float(importance.get(c, 0.0)) for c in columns], 0.0, None)
        # a feature the hold-out found useless may still matter for some cases: never weigh 0
        floor = max(float(weights.max()) * 0.01, 1e-6)
        index = {name: j for j, name in enumerate(columns)}
        return cls(
            columns=tuple(columns),
            reference=tuple(reference),
            scale=tuple(scale),
            weight=tuple(float(w) for w in np.maximum(weights, floor)),
            factors=tuple((name, tuple(index[c] for c in cols)) for name, cols in factors),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "reference": list(self.reference),
            "scale": list(self.scale),
            "weight": list(self.weight),
            "factors": [[name, list(cols)] for name, cols in self.factors],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explainer:
        return cls(
            columns=tuple(data["columns"]),
            reference=tuple(float(v) for v in data["reference"]),
            scale=tuple(float(v) for v in data["scale"]),
            weight=tuple(float(v) for v in data["weight"]),
            factors=tuple((str(n), tuple(int(c) for c in cols)) for n, cols in data["factors"]),
        )

    def standing_out(self, x: Matrix) -> Matrix:
        """How far each case (columns) stands out on each factor (rows), importance-weighted:
        the cheap screen that picks the factors worth scoring again."""
        reference = np.asarray(self.reference)
        weight = np.asarray(self.weight) / np.asarray(self.scale)
        result: Matrix = np.zeros((len(self.factors), x.shape[0]))
        # column by column (``x`` is column-major) and added onto its factor in column order:
        # the sums of the whole-matrix version, to the bit, without its matrix temporaries
        for f, (_, cols) in enumerate(self.factors):
            for i, j in enumerate(cols):
                distance = self._distance(x[:, j], reference[j]) * weight[j]
                if i == 0:
                    result[f] = distance
                else:
                    result[f] += distance
        return result

    @staticmethod
    def _distance(values: Matrix, reference: float) -> Matrix:
        """|value - reference|; 1 where one of them is missing and the other is not; else 0."""
        distance = np.abs(values - reference)
        if np.isnan(reference):
            distance = np.where(np.isnan(values), 0.0, 1.0)
        else:
            distance[np.isnan(values)] = 1.0
        return distance

    def explain(
        self,
        model: CalibratedClassifier,
        x: Matrix,
        top: int = TOP,
        p: Probabilities | None = None,
        probability: Scorer | None = None,
    ) -> Explanation:
        """The ``top`` largest measured effects of each case (see the module docstring);
        ``p``: the model's probabilities of ``x`` when the caller has them already;
        ``probability``: the model's probability function to score with (default
        ``model.probability_of``; ``models.trees.probability_function`` gives the same
        numbers faster)."""
        n = x.shape[0]
        probability = model.probability_of if probability is None else probability
        p = probability(x) if p is None else p
        factors = np.full((top, n), -1, dtype=np.int32)
        effects = np.zeros((top, n))
        for start in range(0, n, CHUNK):
            part = slice(start, min(start + CHUNK, n))
            f, e = self._explain_chunk(probability, x[part], p[part], top)
            factors[:, part], effects[:, part] = f, e
        return Explanation(factors, effects)

    def _explain_chunk(
        self, probability: Scorer, x: Matrix, p: Probabilities, top: int
    ) -> tuple[npt.NDArray[np.int32], Matrix]:
        m = x.shape[0]
        screen = self.standing_out(x)
        k = min(CANDIDATES, len(self.factors))
        candidates = _largest(screen, k)  # k x m
        ranked = np.take_along_axis(screen, candidates.astype(np.intp), axis=0)
        candidates = np.where(ranked > 0, candidates, -1)
        p_reset = self._reset_scores(probability, x, candidates)
        effect = np.where(candidates >= 0, p[None, :] - p_reset, 0.0)
        effect = np.where(np.abs(effect) > MIN_EFFECT, effect, 0.0)
        order = np.argsort(-np.abs(effect), axis=0, kind="stable")[:top]
        picked = np.take_along_axis(candidates, order, axis=0)
        picked_effect = np.take_along_axis(effect, order, axis=0)
        picked = np.where(picked_effect != 0, picked, -1).astype(np.int32)
        if top > k:  # fewer candidates than slots: the extra slots stay empty
            picked = np.vstack([picked, np.full((top - k, m), -1, dtype=np.int32)])
            picked_effect = np.vstack([picked_effect, np.zeros((top - k, m))])
        return picked, picked_effect

    def _reset_scores(
        self, probability: Scorer, x: Matrix, candidates: npt.NDArray[np.int32]
    ) -> Probabilities:
        """P(repaid) of each case (columns) with its slot's candidate factor (rows) reset."""
        reference = np.asarray(self.reference)
        if isinstance(probability, TreeProbability):  # the trees walked once for every slot
            factors = tuple(cols for _, cols in self.factors)
            return probability.with_resets(x, candidates, factors, reference)
        m, width = x.shape
        k = candidates.shape[0]
        # columns-major (width x slots x cases), so the stacked matrix below is column-major
        # like ``x``: each column is one contiguous run for the estimator's preprocessing
        reset = np.empty((width, k, m))
        reset[:] = x.T[:, None, :]
        for slot in range(k):
            for f in np.unique(candidates[slot]):
                if f < 0:
                    continue
                rows = candidates[slot] == f
                for j in self.factors[int(f)][1]:
                    reset[j, slot, rows] = reference[j]
        result: Probabilities = probability(reset.reshape(width, k * m).T).reshape(k, m)
        return result

    def reasons(
        self,
        model: CalibratedClassifier,
        x: Matrix,
        p: Probabilities | None = None,
        probability: Scorer | None = None,
    ) -> pl.Series:
        """The top factors of each case as one text, e.g. "2 broken promises (-); ..."."""
        explanation = self.explain(model, x, p=p, probability=probability)
        phrases = dict(PHRASES)
        if "product" in model.encoder.categorical:
            words = _category(model.encoder.category_names("product"))
            phrases["product"] = words(pl.col("product"))
        return phrase(x, explanation, self, phrases)


def phrase(
    x: Matrix, explanation: Explanation, explainer: Explainer, phrases: Mapping[str, pl.Expr]
) -> pl.Series:
    """Each case's named factors in plain words, largest effect first, joined by "; ".

    ``phrases`` holds one expression per factor over the factor's columns (by name)."""
    top, n = explanation.factors.shape
    picked = explanation.factors.reshape(-1)  # position slot * n + case
    effects = explanation.effects.reshape(-1)
    texts, positions = [], []
    for f in np.unique(picked[picked >= 0]):  # one frame per factor, all slots together
        at = np.flatnonzero(picked == f)
        rows = at % n
        name, cols = explainer.factors[int(f)]
        values = {explainer.columns[j]: x[rows, j] for j in cols}
        group = pl.DataFrame({RAISES: effects[at] > 0, **values})
        texts.append(_worded(group, phrases[name]))
        positions.append(at)
    # each position's text put in place with one gather (a position without a factor: null),
    # rather than sorting every text by position
    empty = pl.Series("text", [None], dtype=pl.Utf8)
    found = pl.concat([*texts, empty])
    where = np.full(top * n, found.len() - 1, dtype=np.int64)
    if positions:
        where[np.concatenate(positions)] = np.arange(found.len() - 1)
    placed = found.gather(where)
    slots = pl.DataFrame({f"s{k}": placed.slice(k * n, n) for k in range(top)})
    joined = slots.select(
        pl.concat_str([f"s{k}" for k in range(top)], separator="; ", ignore_nulls=True)
    )
    return joined.to_series().fill_null("").alias("reasons")


RAISES = "_raises"  # the phrase's sign: the factor raises this case's score


def _worded(group: pl.DataFrame, words: pl.Expr) -> pl.Series:
    """``words`` and the sign for each row of ``group`` (the factor's columns and RAISES).

    A phrase is a function of these values alone, and the same few values recur (a handful
    of promise counts, a few hundred days overdue): each distinct row is worded once and the
    words joined back, unless most rows are distinct (amounts), where wording all is cheaper.
    ``unique`` and the join treat 0.0 and -0.0 (and every NaN) alike; so do the phrases."""
    sign = pl.when(pl.col(RAISES)).then(pl.lit(" (+)")).otherwise(pl.lit(" (-)"))
    text = pl.concat_str(words, sign).alias("text")
    distinct = group.unique()
    if 2 * distinct.height > group.height:
        return group.select(text).to_series()
    worded = distinct.with_columns(text)
    joined = group.join(
        worded, on=group.columns, how="left", nulls_equal=True, maintain_order="left"
    )
    return joined.get_column("text")


def _largest(magnitude: Matrix, top: int) -> npt.NDArray[np.int32]:
    """For each case (column of ``magnitude``, factors x cases) its ``top`` largest factors,
    slot-major; a tie keeps the first factor (``np.argmax`` gives the first largest). Over the
    factors of each case as one contiguous row: about fifteen times faster than along the
    factor axis of ``magnitude``. ``magnitude`` itself is left as it is."""
    # cases x factors, always a copy: for a single case ``magnitude.T`` is contiguous already,
    # and np.ascontiguousarray gave it back uncopied, so the -1s below marked the caller's screen
    # and the case lost every reason (one case explained alone, or a chunk of one row)
    rows = np.array(magnitude.T, order="C")
    picked = np.empty((top, rows.shape[0]), dtype=np.int32)
    cases = np.arange(rows.shape[0])
    for slot in range(top):
        picked[slot] = np.argmax(rows, axis=1)
        rows[cases, picked[slot]] = -1.0  # taken: the next slot finds the next one
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


def _overdue(v: pl.Expr) -> pl.Expr:
    """e.g. "45 days overdue (M2)"."""
    stage = ((v.round(0) - 1) // 30 + 1).clip(0, 7)
    name = (
        pl.when(v <= 0)
        .then(pl.lit("M0"))
        .when(stage >= 7)
        .then(pl.lit("M7+"))
        .otherwise(_text("M", _int(stage)))
    )
    return _text(_days(v), " overdue (", name, ")")


def _category(names: Sequence[str]) -> Phrase:
    """A product code as words: "cash loan", "mortgage"; an unknown one as "unknown product"."""
    words = pl.Series([n.replace("_", " ") if n != "other" else "other product" for n in names])

    def phrase(v: pl.Expr) -> pl.Expr:
        return (
            v.fill_nan(None)
            .cast(pl.Int64)
            .replace_strict(
                pl.Series(range(len(names)), dtype=pl.Int64), words, default="unknown product"
            )
        )

    return phrase


def _plural(v: pl.Expr, one: str, many: str) -> pl.Expr:
    """ "1 kept", "2 broken": ``one``/``many`` after the number."""
    return pl.when(v == 1).then(_text("1 ", one)).otherwise(_text(_int(v), " ", many))


def _payments() -> pl.Expr:
    """e.g. "no payment for 120 days", "paid 500 yuan in the last 30 days"."""
    days = pl.col("days_since_last_payment")
    return (
        pl.when(pl.col("payments_count") <= 0)
        .then(pl.lit("no payment on record"))
        .when(days >= DAYS_CAP)
        .then(pl.lit("no payment in the past year"))
        .when(pl.col("paid_30d") > 0)
        .then(_text("paid ", _int(pl.col("paid_30d")), " yuan in the last 30 days"))
        .when(days <= 90)
        .then(_days_ago("last payment", "")(days))
        .otherwise(_text("no payment for ", _days(days)))
    )


def _attempts() -> pl.Expr:
    """e.g. "12 contact attempts, 4 in the last 30 days"."""
    total, recent = pl.col("attempts"), pl.col("attempts_30d")
    return (
        pl.when(total <= 0)
        .then(pl.lit("never contacted"))
        .otherwise(
            _text(
                _plural(total, "contact attempt", "contact attempts"),
                ", ",
                pl.when(recent <= 0).then(pl.lit("none")).otherwise(_int(recent)),
                " in the last 30 days",
            )
        )
    )


def _reached() -> pl.Expr:
    """e.g. "reached in person 3 times, last 5 days ago", "never reached in person"."""
    times, days = pl.col("right_party_contacts"), pl.col("days_since_right_party")
    when = (
        pl.when(days == 0)
        .then(pl.lit("today"))
        .when(days == 1)
        .then(pl.lit("yesterday"))
        .otherwise(_text(_days(days), " ago"))
    )
    return (
        pl.when(times <= 0)
        .then(pl.lit("never reached in person"))
        .when(days >= DAYS_CAP)
        .then(pl.lit("not reached in person in the past year"))
        .when(times == 1)
        .then(_text("reached in person once, ", when))
        .otherwise(_text("reached in person ", _int(times), " times, last ", when))
    )


def _promises() -> pl.Expr:
    """e.g. "2 broken promises", "3 promises to pay: 1 kept, 2 broken", "promise to pay due"."""
    made, kept = pl.col("promises_made"), pl.col("promises_kept")
    broken, due = pl.col("promises_broken"), pl.col("promises_open")
    detail = pl.concat_str(
        [
            pl.when(kept > 0).then(_text(_int(kept), " kept")),
            pl.when(broken > 0).then(_text(_int(broken), " broken")),
            pl.when(due > 0).then(_text(_int(due), " due")),
        ],
        separator=", ",
        ignore_nulls=True,
    )
    return (
        pl.when(made <= 0)
        .then(pl.lit("no promise to pay"))
        .when(broken == made)
        .then(_plural(broken, "broken promise", "broken promises"))
        .when(kept == made)
        .then(_plural(kept, "promise kept", "promises kept"))
        .when(due == made)
        .then(
            pl.when(due == 1)
            .then(pl.lit("promise to pay due"))
            .otherwise(_text(_int(due), " promises to pay due"))
        )
        .otherwise(_text(_plural(made, "promise to pay", "promises to pay"), ": ", detail))
    )


def _single(name: str, words: Phrase) -> pl.Expr:
    return words(pl.col(name))


PHRASES: dict[str, pl.Expr] = {
    "amount": _single("balance", _yuan("owes ")),
    "days_overdue": _single("days_overdue", _overdue),
    "days_since_handover": _single("days_since_handover", _in_days("handed over ", " ago")),
    "days_to_return": _single("days_to_return", _to_return),
    "payments": _payments(),
    "attempts": _attempts(),
    "reached": _reached(),
    "refusals": _single(
        "refusals", _count("refused to pay once", "refusals to pay", "never refused")
    ),
    "wrong_numbers": _single(
        "wrong_numbers", _count("1 wrong number", "wrong numbers", "no wrong number")
    ),
    "complaints": _single("complaints", _count("1 complaint", "complaints", "no complaint")),
    "promises": _promises(),
    "debtor_open_cases": _single(
        "debtor_open_cases",
        _count("the debtor's only open case", "open cases for this debtor", "no open case"),
    ),
    "debtor_total_balance": _single("debtor_total_balance", _yuan("debtor owes ", " in all")),
    "product": pl.lit("product"),  # replaced by the model's own list of products
}
assert set(PHRASES) == {name for name, _ in FACTORS}, "every factor needs its plain words"
