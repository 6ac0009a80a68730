"""How good a score is on held-out rows: the figures the model card and `caseflow train` show.

ROC AUC (ranking), PR AUC (ranking where payers are few), Brier (calibration and sharpness),
KS (the largest gap between payers' and non-payers' score distributions) and a decile table:
rows sorted by score, best first, cut into ten equal groups, with the observed payment rate
beside the mean predicted one, so a reader sees both ranking and calibration at a glance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

Labels = npt.NDArray[np.int64]
Probabilities = npt.NDArray[np.float64]


def metrics(y: Labels, p: Probabilities) -> dict[str, Any]:
    """The card's figures for one score on one set of labelled rows."""
    fpr, tpr, _ = roc_curve(y, p)
    return {
        "rows": int(y.size),
        "positive_rate": round(float(y.mean()), 6),
        "mean_p": round(float(p.mean()), 6),
        "roc_auc": round(float(roc_auc_score(y, p)), 6),
        "pr_auc": round(float(average_precision_score(y, p)), 6),
        "brier": round(float(brier_score_loss(y, p)), 6),
        "ks": round(float(np.max(tpr - fpr)), 6),
        "deciles": deciles(y, p),
    }


def deciles(y: Labels, p: Probabilities, groups: int = 10) -> list[dict[str, Any]]:
    """Ten equal groups by score, best first: size, payers, observed and predicted rate, and
    the share of all payers found by working the groups down to this one (capture)."""
    order = np.argsort(-p, kind="stable")  # ties keep row order: the table is reproducible
    total = max(int(y.sum()), 1)
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
                "observed_rate": round(payers / part.size, 6),
                "mean_p": round(float(p[part].mean()), 6),
                "min_p": round(float(p[part].min()), 6),
                "capture": round(captured / total, 6),
            }
        )
    return table
