"""How good a score is on held-out rows: the figures of the model card and of `caseflow train`.

ROC AUC (ranking), PR AUC (ranking where payers are few), Brier (calibration and sharpness),
KS (the largest gap between payers' and non-payers' score distributions), a decile table (rows
sorted by score, best first, cut into ten equal groups: size, payers, pay rate, lift and the
cumulative share of payers captured), a calibration curve (predicted against observed rate in
ten equal groups, lowest first), ROC and precision-recall curves for the plots, AUC per segment
(e.g. per product), and DeLong's test of the difference between two AUCs on the same rows.

Every function here takes plain arrays and returns JSON-ready values rounded to six places, so
the same rows always give the same card.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

Labels = npt.NDArray[np.int64]
Probabilities = npt.NDArray[np.float64]

CURVE_POINTS = 51  # points of the ROC and PR curves kept for the plots


def _r(value: float) -> float:
    return round(float(value), 6)


def metrics(y: Labels, p: Probabilities) -> dict[str, Any]:
    """The card's headline figures and decile table for one score on labelled rows."""
    fpr, tpr, _ = roc_curve(y, p)
    return {
        "rows": int(y.size),
        "positive_rate": _r(y.mean()),
        "mean_p": _r(p.mean()),
        "roc_auc": _r(roc_auc_score(y, p)),
        "pr_auc": _r(average_precision_score(y, p)),
        "brier": _r(brier_score_loss(y, p)),
        "ks": _r(np.max(tpr - fpr)),
        "deciles": deciles(y, p),
    }


def deciles(y: Labels, p: Probabilities, groups: int = 10) -> list[dict[str, Any]]:
    """Ten equal groups by score, best first: size, payers, observed and predicted rate, lift
    (the group's pay rate over the overall rate) and the share of all payers found by working
    the groups down to this one (capture)."""
    order = np.argsort(-p, kind="stable")  # ties keep row order: the table is reproducible
    total = max(int(y.sum()), 1)
    overall = max(float(y.mean()), 1e-12)
    table, captured = [], 0
    for k, part in enumerate(np.array_split(order, groups), start=1):
        if part.size == 0:
            continue
        payers = int(y[part].sum())
        captured += payers
        table.append(
            {
                "decile": k,
                "rows": int(part.size),
                "payers": payers,
                "observed_rate": _r(payers / part.size),
                "mean_p": _r(p[part].mean()),
                "min_p": _r(p[part].min()),
                "lift": _r(payers / part.size / overall),
                "capture": _r(captured / total),
            }
        )
    return table


def calibration(y: Labels, p: Probabilities, groups: int = 10) -> dict[str, Any]:
    """Predicted against observed rate in ``groups`` equal groups by score, lowest first, and
    the expected calibration error (the row-weighted mean gap between the two)."""
    order = np.argsort(p, kind="stable")
    bins, gap = [], 0.0
    for part in np.array_split(order, groups):
        if part.size == 0:
            continue
        predicted, observed = float(p[part].mean()), float(y[part].mean())
        gap += part.size * abs(predicted - observed)
        bins.append(
            {"rows": int(part.size), "mean_p": _r(predicted), "observed_rate": _r(observed)}
        )
    return {"bins": bins, "ece": _r(gap / max(y.size, 1))}


def curves(y: Labels, p: Probabilities, points: int = CURVE_POINTS) -> dict[str, list[list[float]]]:
    """ROC (false positive rate, true positive rate) and precision-recall (recall, precision)
    curves, resampled onto ``points`` evenly spaced x values so the card stays small."""
    grid = np.linspace(0.0, 1.0, points)
    fpr, tpr, _ = roc_curve(y, p)
    roc = np.interp(grid, fpr, tpr)
    precision, recall, _ = precision_recall_curve(y, p)
    # recall decreases along the arrays; the precision reachable at recall r is the best one at
    # recall >= r (the usual interpolated PR curve)
    best = np.maximum.accumulate(precision)
    pr = np.interp(grid, recall[::-1], best[::-1])
    return {
        "roc": [[_r(x), _r(v)] for x, v in zip(grid, roc, strict=True)],
        "pr": [[_r(x), _r(v)] for x, v in zip(grid, pr, strict=True)],
    }


def auc_or_none(y: Labels, p: Probabilities) -> float | None:
    """ROC AUC, or None where the rows hold only one class (no ranking to judge)."""
    if y.size == 0 or y.min() == y.max():
        return None
    return _r(roc_auc_score(y, p))


def segments(
    y: Labels,
    scores: dict[str, Probabilities],
    values: npt.NDArray[np.str_],
    max_levels: int = 30,
) -> list[dict[str, Any]]:
    """Per value of a segment column (most rows first, at most ``max_levels``): rows, payers,
    pay rate and each score's ROC AUC within the segment (None with one class only)."""
    levels, counts = np.unique(values, return_counts=True)
    order = sorted(range(levels.size), key=lambda i: (-counts[i], str(levels[i])))[:max_levels]
    table = []
    for i in order:
        mask = values == levels[i]
        row: dict[str, Any] = {
            "value": str(levels[i]),
            "rows": int(mask.sum()),
            "payers": int(y[mask].sum()),
            "positive_rate": _r(y[mask].mean()),
        }
        for name, p in scores.items():
            row[f"{name}_roc_auc"] = auc_or_none(y[mask], p[mask])
        table.append(row)
    return table


def delong(y: Labels, p1: Probabilities, p2: Probabilities) -> dict[str, Any]:
    """DeLong's test of ROC AUC(p1) - ROC AUC(p2) on the same rows (paired): the difference,
    its standard error and 95% interval. Fast DeLong (Sun and Xu, 2014): O(n log n)."""
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    aucs, v01, v10 = [], [], []
    for p in (p1, p2):
        x, z = p[pos], p[neg]
        tx, tz = rankdata(x), rankdata(z)
        ta = rankdata(np.concatenate([x, z]))
        aucs.append((ta[:m].sum() - m * (m + 1) / 2) / (m * n))
        v01.append((ta[:m] - tx) / n)  # per payer: share of non-payers scored below
        v10.append(1.0 - (ta[m:] - tz) / m)  # per non-payer: share of payers scored above
    s01, s10 = np.cov(np.vstack(v01)), np.cov(np.vstack(v10))
    s = s01 / m + s10 / n
    variance = max(float(s[0, 0] + s[1, 1] - 2 * s[0, 1]), 0.0)
    diff, se = float(aucs[0] - aucs[1]), math.sqrt(variance)
    z_score = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    p_value = math.erfc(abs(z_score) / math.sqrt(2.0))
    return {
        "difference": _r(diff),
        "standard_error": _r(se),
        "interval_95": [_r(diff - 1.96 * se), _r(diff + 1.96 * se)],
        "p_value": _r(p_value),
    }
