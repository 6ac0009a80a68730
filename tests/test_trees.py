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


@pytest.mark.parametrize("leaves", [7, 31], ids=["8-bit masks", "wider masks"])
def test_scores_with_a_factor_reset_equal_the_reset_rows_scores_to_the_bit(leaves: int) -> None:
    """``decision_with_resets`` (the reasons' re-scoring) gives what ``decision`` gives for the
    rows with each slot's factor set to its reference value: NaN and category references too."""
    x, y = _data(seed=11)
    model = HistGradientBoostingClassifier(
        max_iter=20,
        max_leaf_nodes=leaves,
        min_samples_leaf=20,
        categorical_features=[False] * 5 + [True],
        random_state=1,
    ).fit(x, y)
    compiled = compile_trees(model)
    assert compiled is not None
    factors = ((0, 1), (2,), (3,), (5,))  # column 4 is in no factor
    reference = np.array([12.0, np.nan, 30.0, 1.0, 5.0, 2.0])
    rng = np.random.default_rng(2)
    rows = _unseen(x)
    resets = rng.integers(-1, len(factors), size=(3, rows.shape[0])).astype(np.int32)
    found = compiled.decision_with_resets(rows, resets, factors, reference)
    for slot in range(resets.shape[0]):
        reset = rows.copy(order="F")
        for f, columns in enumerate(factors):
            for j in columns:
                reset[resets[slot] == f, j] = reference[j]
        assert np.array_equal(found[slot], compiled.decision(reset))
