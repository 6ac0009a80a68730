"""Tonight's scores: p_repay, expected recovery and the reasons, for every case of the night.

With a champion model in the registry, its calibrated probability of a payment within 30 days
(``method == "model"``), with each case's reasons and the night's drift against the champion's
training data (``Scores.drift``: population stability index of the score and of every model
column; see ``models.drift``); the model file is loaded only if its SHA-256 is the registry's.
Without one, the transparent R6 rule of DOMAIN.md (``method == "rule"``), so the first nights
of a new client still get a sensible order.

Scoring is batch and vectorised: one matrix, one pass of the trees, a multiply-add and a
sigmoid; the reasons score each case again with a few factors reset (``models.reasons``). That
re-scoring is most of the cost (2.1 of 2.5 s at a million cases), so the night scores its whole
book without reasons (``NightScorer.score(..., explain=False)``) and words them afterwards for
the cases a person is shown, the worked ones (``NightScorer.reasons``); ``caseflow explain``
words a held case's on demand (issue 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from models import drift as drift_module
from models.features import FEATURE_NAMES, night_features, prepare
from models.trees import Matrix, probability_function
from pipeline.errors import ModelError
from pipeline.parts import WHOLE, Part

if TYPE_CHECKING:  # the registry brings scikit-learn and skops: imported when a model is used
    from models.registry import LoadedModel

SCORE_SCHEMA = {
    "client_id": pl.Utf8,
    "case_id": pl.Utf8,
    "p_repay": pl.Float64,
    "expected_recovery": pl.Float64,
    "reasons": pl.Utf8,
}
# What ``NightScorer.reasons`` gives.
REASON_COLUMNS = ("client_id", "case_id", "reasons")
# What ``NightScorer.reasons`` reads of a features frame (``features.feature_frame``'s): what
# a night keeps of its book's features until it knows which cases are worked.
REASON_INPUTS = ("client_id", "case_id", *FEATURE_NAMES)

# The R6 rule's scale: its numbers are a rank, not a probability; they are spread over a range
# like the observed 30-day payment rates so that expected recovery keeps a sensible size.
RULE_FLOOR, RULE_SPAN = 0.02, 0.5
RULE_MAX_POINTS = 5


@dataclass(frozen=True)
class Scores:
    frame: pl.DataFrame  # client_id, case_id, p_repay, expected_recovery, reasons
    method: str  # "model" or "rule"
    model_version: str | None
    model_sha256: str | None
    # PSI of p_repay and of the main model columns against the champion's training data, for
    # the night's active cases: the score first, then the largest; empty without a model
    drift: dict[str, float] = field(default_factory=dict)

    @property
    def drift_warning(self) -> str | None:
        """The night's drift warning (PSI above models.drift.PSI_WARN), or None."""
        return drift_module.drift_warning(self.drift)

    def drift_record(self) -> dict[str, Any]:
        """The manifest's ``drift``: PSI per column, the threshold and what is above it."""
        return {
            "against": None
            if self.model_version is None
            else f"the training data of model {self.model_version}",
            "warn_above": drift_module.PSI_WARN,
            "psi": dict(self.drift),
            "shifted": [k for k, v in self.drift.items() if v > drift_module.PSI_WARN],
        }


@dataclass(frozen=True)
class NightScorer:
    """The night's way of scoring, loaded once and used on each part of the book
    (``pipeline.parts``): the champion model when there is one, else the R6 rule."""

    loaded: LoadedModel | None

    @property
    def method(self) -> str:
        return "rule" if self.loaded is None else "model"

    def score(
        self, features: pl.DataFrame, *, explain: bool = True
    ) -> tuple[pl.DataFrame, drift_module.Counts]:
        """The scores of ``features``' rows, and the drift counts of the active ones (empty
        without a model). Without ``explain``, their ``reasons`` are null (``reasons`` words
        them for the rows that need them: the same words)."""
        if self.loaded is None:
            return rule_scores(features, explain=explain), {}
        with threadpool_limits(limits=1):  # see ``model_scores``
            return _model_scores(features, self.loaded, explain=explain)

    def reasons(self, features: pl.DataFrame) -> pl.DataFrame:
        """client_id, case_id and the reasons of ``features``' rows: what ``score`` gives
        them (each row's reasons depend on that row alone)."""
        if self.loaded is None:
            return rule_scores(features).select(REASON_COLUMNS)
        with threadpool_limits(limits=1):
            return _model_reasons(features, self.loaded)

    def scores(self, frame: pl.DataFrame, counts: drift_module.Counts) -> Scores:
        """``Scores`` of the night: ``frame`` and the drift of the night's summed ``counts``."""
        if self.loaded is None:
            return Scores(frame, method="rule", model_version=None, model_sha256=None)
        drift = drift_module.night_drift(self.loaded.drift, counts)
        return Scores(frame, "model", self.loaded.version, self.loaded.sha256, drift)


def night_scorer(home: Path) -> NightScorer:
    """The champion of ``home``'s registry, loaded (its file checked against the registry's
    SHA-256), or the R6 rule when no model was ever trained or none is champion."""
    if not (home / "models").is_dir():  # no model was ever trained: skip importing the registry
        return NightScorer(None)
    from models.registry import Registry

    registry = Registry(home)
    champion = registry.champion()
    if champion is None:
        return NightScorer(None)
    return NightScorer(registry.load(champion.version))  # refuses a file not the one trained


def night_model(home: Path, version: str | None) -> LoadedModel:
    """Model ``version`` of ``home``'s registry, the one a past night scored with (its file
    checked against the registry's SHA-256)."""
    if version is None:
        raise ModelError("the night did not record its model's version")
    from models.registry import Registry

    return Registry(home).load(version)


def score_night(
    con: duckdb.DuckDBPyConnection, home: Path, business_date: date, part: Part = WHOLE
) -> Scores:
    """Score every case in the night's snapshot (all statuses; the strategy picks the active),
    or one ``part`` of it."""
    scorer = night_scorer(home)
    features = night_features(con, business_date, part)  # from the contact stats when current
    return scorer.scores(*scorer.score(features))


def model_scores(
    features: pl.DataFrame, loaded: LoadedModel, threads: int | None = 1
) -> tuple[pl.DataFrame, dict[str, float]]:
    """The model's probability, expected recovery and reasons for each row of ``features``
    (as ``feature_frame`` gives them), and the drift of these rows (see ``Scores.drift``).

    ``threads``: OpenMP threads for the trees (None: all). One by default: the trees are
    small, and on a busy machine spinning OpenMP threads made the samples' night seven times
    slower with two threads than with one (0.27 s against 1.9 s)."""
    with threadpool_limits(limits=threads):
        frame, counts = _model_scores(features, loaded)
    return frame, drift_module.night_drift(loaded.drift, counts)


def _matrix(features: pl.DataFrame, loaded: LoadedModel) -> tuple[pl.DataFrame, Matrix]:
    """The prepared rows of ``features`` and their model matrix, refused if not finite."""
    rows = prepare(features)
    x = loaded.model.encoder.matrix(rows)
    numeric = x[:, : len(loaded.model.encoder.numeric)]
    if not np.isfinite(numeric).all():
        raise ModelError("the night's features hold non-finite values; the night is not scored")
    return rows, x


def _model_reasons(features: pl.DataFrame, loaded: LoadedModel) -> pl.DataFrame:
    if features.is_empty():
        return pl.DataFrame(schema={c: SCORE_SCHEMA[c] for c in REASON_COLUMNS})
    rows, x = _matrix(features, loaded)
    scorer = probability_function(loaded.model)
    return rows.select(
        pl.col("client_id").cast(pl.Utf8),
        pl.col("case_id").cast(pl.Utf8),
        loaded.explainer.reasons(loaded.model, x, scorer(x), scorer),
    )


def _model_scores(
    features: pl.DataFrame, loaded: LoadedModel, *, explain: bool = True
) -> tuple[pl.DataFrame, drift_module.Counts]:
    if features.is_empty():
        return pl.DataFrame(schema=SCORE_SCHEMA), {}
    rows, x = _matrix(features, loaded)
    model = loaded.model
    scorer = probability_function(model)  # the trees as numpy: the same numbers, faster
    probability = scorer(x)
    p = pl.Series("p_repay", probability, dtype=pl.Float64)
    frame = rows.select(
        pl.col("client_id").cast(pl.Utf8),
        pl.col("case_id").cast(pl.Utf8),
        p,
        (p * pl.col("balance").cast(pl.Float64)).alias("expected_recovery"),
        loaded.explainer.reasons(model, x, probability, scorer)
        if explain
        else pl.lit(None, dtype=pl.Utf8).alias("reasons"),
    )
    # like with like: the training rows are cases active on their night
    active = np.flatnonzero(rows.get_column("status").eq("active").fill_null(False).to_numpy())
    # only the watched columns of the active rows are copied (not the whole matrix)
    watched = np.asarray(
        [j for j, name in enumerate(model.encoder.columns) if name in loaded.drift], dtype=np.intp
    )
    counts = drift_module.night_counts(
        loaded.drift,
        x[np.ix_(active, watched)],
        [model.encoder.columns[j] for j in watched],
        probability[active],
    )
    return frame, counts


def rule_scores(features: pl.DataFrame, *, explain: bool = True) -> pl.DataFrame:
    """DOMAIN.md's R6 without a model: ability to pay first, then fewer days overdue.

    Ability to pay is counted in points from what the notes and payments show, as of the night:
      2 points  a payment in the last 30 days (1 point if only in the last 90),
      1 point   the debtor reached in person (right-party contact) in the last 30 days,
      1 point   a promise to pay kept,
      1 point   a promise to pay still open (not yet due).
    Within the same points, fewer days overdue ranks higher (the fraction below 1). The number
    (points + fraction) / (max points + 1) is spread onto RULE_FLOOR..RULE_FLOOR + RULE_SPAN: it
    orders cases as R6 says but is not a probability.
    """
    if features.is_empty():
        return pl.DataFrame(schema=SCORE_SCHEMA)
    paid = pl.when(pl.col("paid_30d") > 0).then(2).when(pl.col("paid_90d") > 0).then(1).otherwise(0)
    reached = (pl.col("days_since_right_party").fill_null(9999) < 30).cast(pl.Int32)
    kept = (pl.col("promises_kept") > 0).cast(pl.Int32)
    open_promise = (pl.col("promises_open") > 0).cast(pl.Int32)
    points = paid + reached + kept + open_promise
    # fewer days overdue first: 0 days -> just under 1, 3650 days (the contract's cap) -> 0
    fresher = 1.0 - pl.col("days_overdue").clip(0, 3650).cast(pl.Float64) / 3651.0
    rank = (points.cast(pl.Float64) + fresher) / (RULE_MAX_POINTS + 1)
    p = (RULE_FLOOR + RULE_SPAN * rank).alias("p_repay")
    facts = pl.concat_str(
        [
            pl.when(pl.col("paid_30d") > 0)
            .then(pl.lit("paid in the last 30 days"))
            .when(pl.col("paid_90d") > 0)
            .then(pl.lit("paid in the last 90 days")),
            pl.when(reached == 1).then(pl.lit("reached in person in the last 30 days")),
            pl.when(kept == 1).then(pl.lit("promise kept")),
            pl.when(open_promise == 1).then(pl.lit("promise to pay due")),
            pl.concat_str(pl.col("days_overdue").cast(pl.Utf8), pl.lit(" days overdue")),
        ],
        separator="; ",
        ignore_nulls=True,
    )
    return features.select(
        pl.col("client_id").cast(pl.Utf8),
        pl.col("case_id").cast(pl.Utf8),
        p.cast(pl.Float64),
        (p * pl.col("balance").cast(pl.Float64)).alias("expected_recovery"),
        pl.concat_str(pl.lit("R6 rule (no trained model): "), facts).alias("reasons")
        if explain
        else pl.lit(None, dtype=pl.Utf8).alias("reasons"),
    )
