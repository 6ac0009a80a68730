"""The compiled trees (models/trees.py) give scikit-learn's raw score to the bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from models.learner import Encoder, fit_calibrated
from models.trees import compile_trees, probability_function

ROWS = 6_000


def _data(seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Numeric columns with missing values, and a category code column (last)."""
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 10.0, size=(ROWS, 5))
    x[rng.random(x.shape) < 0.08] = np.nan
    codes = rng.integers(0, 5, ROWS).astype(np.float64)
    codes[rng.random(ROWS) < 0.05] = np.nan
    logit = 0.05 * np.nan_to_num(x[:, 0]) - 0.03 * np.nan_to_num(x[:, 1]) + (codes == 2) - 1
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return np.asfortranarray(np.column_stack([x, codes])), y


def _unseen(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The same rows with category codes never seen in training (7, -1) and more NaNs."""
    other = x.copy(order="F")
    other[::7, -1] = 7.0
    other[3::11, -1] = -1.0
    other[::5, 2] = np.nan
    return other


@pytest.mark.parametrize(
    ("leaves", "categorical"),
    [(7, True), (7, False), (31, True), (3, True)],
    ids=["7 leaves", "no category", "31 leaves", "3 leaves"],
)
def test_compiled_trees_equal_scikit_learn_to_the_bit(leaves: int, categorical: bool) -> None:
    x, y = _data(seed=leaves)
    model = HistGradientBoostingClassifier(
        max_iter=25,
        max_leaf_nodes=leaves,
        min_samples_leaf=20,
        categorical_features=[False] * 5 + [True] if categorical else None,
        monotonic_cst=[1, -1, 0, 0, 0, 0],
        random_state=1,
    ).fit(x, y)
    compiled = compile_trees(model)
    assert compiled is not None
    for rows in (x, _unseen(x), x[:1], x[:0]):
        with threadpool_limits(limits=1):
            expected = model.decision_function(rows) if rows.shape[0] else np.empty(0)
        assert np.array_equal(compiled.decision(rows), expected)


def test_the_calibrated_model_scores_the_same_through_its_compiled_trees() -> None:
    x, y = _data(seed=3)
    names = [f"f{j}" for j in range(5)]
    frame = pl.DataFrame(x[:, :5], schema=names).with_columns(
        pl.Series("product", [None if np.isnan(v) else str(v) for v in x[:, 5]], dtype=pl.Utf8)
    )
    encoder = Encoder.fit(frame, names, ["product"])
    matrix = encoder.matrix(frame)
    with threadpool_limits(limits=1):
        model = fit_calibrated(
            matrix, y, encoder, params={"max_iter": 20, "max_leaf_nodes": 7}, seed=3
        )
        expected = model.probability_of(matrix)
    assert np.array_equal(probability_function(model)(matrix), expected)


def test_a_multiclass_model_is_left_to_scikit_learn() -> None:
    x, y = _data(seed=5)
    three = np.where(np.nan_to_num(x[:, 0]) > 30, 2, y)
    model = HistGradientBoostingClassifier(max_iter=3, random_state=1).fit(x[:, :5], three)
    assert compile_trees(model) is None
