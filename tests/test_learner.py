"""models.learner on tables that have nothing to do with debt collection.

The learner must work on any table with a binary target: a public data set that ships with
scikit-learn (no download), held against the figures published for it, and a simulated table
whose true probabilities are known, so the best achievable ROC AUC is known too.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from models.evaluate import delong
from models.learner import LearnerError, fit_and_evaluate, platt


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


def _breast_cancer() -> tuple[pl.DataFrame, list[str]]:
    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    frame = pl.DataFrame(data.data, schema=names).with_columns(pl.Series("benign", data.target))
    return frame, names


def test_breast_cancer_is_ranked_as_published() -> None:
    """Wisconsin diagnostic breast cancer (569 tumours, 30 measurements): boosted trees and
    logistic regression are both published near ROC AUC 0.99 on held-out tumours."""
    frame, names = _breast_cancer()
    model, evaluation = fit_and_evaluate(frame, "benign", numeric=names)
    assert evaluation.rows == {"training": 426, "holdout": 143}  # a stratified quarter
    assert evaluation.positive == "1"
    assert evaluation.model["roc_auc"] > 0.97
    assert evaluation.baseline["roc_auc"] > 0.97
    assert evaluation.model["brier"] < 0.06
    assert set(evaluation.importance["model"]) == set(names)
    assert len(evaluation.calibration["model"]["bins"]) == 10
    p = model.predict_proba(frame)
    assert p.shape == (569, 2) and np.allclose(p.sum(axis=1), 1.0)
    # ranks the whole data set (mostly seen in training) at least as well as the hold-out
    assert roc_auc_score(frame.get_column("benign"), p[:, 1]) >= evaluation.model["roc_auc"]
    assert evaluation.to_dict()["verdict"] == evaluation.verdict


def _simulated(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    """Income-like table: a numeric column with missing values, a monotone effect, a
    categorical effect with an interaction, and a string target; returns the true P(yes)."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 70, n)
    hours = rng.normal(40, 10, n)
    hours[rng.random(n) < 0.15] = np.nan  # missing, and the trees must cope
    sector = rng.choice(["public", "private", "self", "none"], n, p=[0.2, 0.5, 0.2, 0.1])
    logit = (
        -3.0
        + 0.05 * (age - 18)
        + 0.04 * np.nan_to_num(hours - 40)
        + np.select([sector == "public", sector == "self"], [0.8, 1.2], 0.0)
        + np.where((sector == "self") & (age > 50), 1.0, 0.0)  # what a linear model misses
    )
    truth = 1.0 / (1.0 + np.exp(-logit))
    label = np.where(rng.random(n) < truth, "yes", "no")
    frame = pl.DataFrame({"age": age, "hours": hours, "sector": sector, "earns": label})
    return frame.with_columns(pl.col("hours").fill_nan(None)), truth


def test_a_known_signal_is_learned_as_well_as_it_can_be() -> None:
    frame, truth = _simulated(8000, seed=3)
    model, evaluation = fit_and_evaluate(
        frame,
        "earns",
        numeric=["age", "hours"],
        categorical=["sector"],
        monotonic={"age": 1},
        positive="yes",
    )
    # the best any model can do: rank by the true probability (over all rows; the hold-out
    # quarter's own figure differs from it by about 0.01 by chance)
    y = (frame.get_column("earns") == "yes").to_numpy()
    best = roc_auc_score(y, truth)
    assert abs(evaluation.model["roc_auc"] - best) < 0.03
    assert evaluation.model["roc_auc"] >= evaluation.baseline["roc_auc"] - 0.015
    assert evaluation.calibration["model"]["ece"] < 0.03
    segments = {s["value"] for s in evaluation.segments["sector"]}
    assert segments == {"public", "private", "self", "none"}
    # the monotonic constraint holds: older never lowers the chance, other things equal
    grid = pl.DataFrame(
        {"age": np.linspace(18, 70, 60), "hours": [40.0] * 60, "sector": ["self"] * 60}
    )
    assert (np.diff(model.probability(grid)) >= -1e-12).all()
    # a category never seen in training, and a missing one, still get a probability
    odd = pl.DataFrame({"age": [30.0, 30.0], "hours": [None, 40.0], "sector": ["army", None]})
    assert np.isfinite(model.probability(odd)).all()
    assert list(model.predict(odd)) == ["no", "no"]


def test_the_same_table_gives_the_same_model_and_evaluation() -> None:
    frame, _ = _simulated(1000, seed=5)
    runs = [
        fit_and_evaluate(frame, "earns", ["age", "hours"], ["sector"], positive="yes")
        for _ in range(2)
    ]
    (m1, e1), (m2, e2) = runs
    assert e1.to_dict() == e2.to_dict()
    assert np.array_equal(m1.probability(frame), m2.probability(frame))


def test_a_given_split_and_groups_are_respected() -> None:
    """A time-ordered split (the caller's), rows in neither part left out of the judged fit,
    and a refit on every row for deployment."""
    frame, _ = _simulated(2000, seed=7)
    frame = frame.with_row_index("t").with_columns((pl.col("t") // 4).cast(pl.Utf8).alias("person"))
    train = (frame.get_column("t") < 1400).to_numpy()
    holdout = (frame.get_column("t") >= 1500).to_numpy()
    model, evaluation = fit_and_evaluate(
        frame,
        "earns",
        ["age", "hours"],
        ["sector"],
        train=train,
        holdout=holdout,
        groups="person",
        positive="yes",
        refit=True,
    )
    assert evaluation.rows == {"training": 1400, "holdout": 500}
    assert evaluation.model["rows"] == 500
    assert model.encoder.categories[0] == ("none", "private", "public", "self")


def test_a_table_that_cannot_make_a_model_is_refused_with_a_reason() -> None:
    frame, _ = _simulated(400, seed=1)
    with pytest.raises(LearnerError, match="two values"):
        fit_and_evaluate(frame, "sector", ["age"])
    with pytest.raises(LearnerError, match="no column 'wages'"):
        fit_and_evaluate(frame, "earns", ["wages"])
    with pytest.raises(LearnerError, match="numeric columns only"):
        fit_and_evaluate(frame, "earns", ["age"], ["sector"], monotonic={"sector": 1})
    no = (frame.get_column("earns") == "no").to_numpy()
    held = no & (np.arange(frame.height) < 100)  # a hold-out of non-earners only
    with pytest.raises(LearnerError, match="hold-out rows must hold both classes"):
        fit_and_evaluate(frame, "earns", ["age"], holdout=held)
    with pytest.raises(LearnerError, match="never takes the value"):
        fit_and_evaluate(frame, "earns", ["age"], positive="maybe")


def test_delong_matches_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    y = (rng.random(n) < 0.2).astype(np.int64)
    a = y * 1.0 + rng.normal(0, 1.0, n)
    b = y * 0.8 + rng.normal(0, 1.0, n) + 0.3 * a
    test = delong(y, a, b)
    assert test["difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-6)
    draws = []
    for _ in range(150):
        i = rng.integers(0, n, n)
        draws.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    assert test["standard_error"] == pytest.approx(float(np.std(draws)), rel=0.2)


def test_platt_scaling_stays_finite_on_scores_that_separate_the_classes() -> None:
    slope, intercept = platt(
        np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]), np.array([0, 0, 0, 1, 1, 1])
    )
    assert np.isfinite(slope) and slope > 0 and np.isfinite(intercept)
