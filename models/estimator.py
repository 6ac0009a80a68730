"""The repayment model's settings for ``models.learner``: small trees, calibrated, seeded.

The learner is generic (``models.learner.fit_and_evaluate``); these are the choices made for
debt collection, and why.

Why the calibration folds are by debtor: a case appears on many weekly nights whose 30-day
outcome windows overlap, so a fold that holds one night of a debtor while training on the next
night would see the very payment it is asked to predict. Folds that keep each debtor whole make
the out-of-fold scores honest, so the calibration learned on them is honest too (the samples
show the effect: scored on the same debtors, overlapping windows inflate ROC AUC from about
0.77 to 0.84).

Why the trees are small: scoring is batch and must stay fast on a large book, and the history
is modest (the held-out judgement trains on a few thousand case-nights). Measured on the
samples' out-of-time split by ``bench/score.py`` (hold-out night 2026-10-12):
     60 trees x  7 leaves, rate 0.1  (chosen): ROC AUC 0.787, PR AUC 0.360, Brier 0.0917
    300 trees x 31 leaves, rate 0.05 (larger): ROC AUC 0.750, PR AUC 0.308, Brier 0.0968,
                                               and about six times slower to score
so the small model costs nothing in ranking here: it gains 0.037 of ROC AUC, because the larger
one learns the training debtors rather than patterns. Large leaves (at least 100 rows) do the
same. No early stopping: it would hold out a random slice of rows (leaking across nights) and
depend on that draw.
"""

from __future__ import annotations

from typing import Any

from models.learner import SEED

BOOSTING_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 60,
    "max_leaf_nodes": 7,
    "min_samples_leaf": 100,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": SEED,
}

# A larger model, for the record of what the small one costs (``bench/score.py``).
LARGER_PARAMS: dict[str, Any] = {
    **BOOSTING_PARAMS,
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 50,
}
