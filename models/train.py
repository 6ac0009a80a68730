"""`caseflow train`: learn the repayment model from the warehouse history and register it.

The nights used: every snapshot night t whose outcome window (t, t + 30 days] is complete by the
last night the warehouse knows (``known_by``: the latest snapshot, or the latest up to --as-of),
with the cases active at t.

How it is judged, out of time: the latest week of those nights is held out for validation; the
same recipe is trained on the nights whose outcome windows close before the validation week
begins (so no payment can be both a training label and a validation label), and scored on the
held-out week, as the logistic baseline is. Then the model that is saved is trained by the same
recipe on all the nights, so tonight's scores use the most recent history; its card reports the
held-out figures as the estimate of how it ranks and how well its probabilities are calibrated.

Everything is deterministic: rows in a fixed order, fixed seeds, folds without shuffling; the
same warehouse gives the same model, the same metrics and the same scores.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import polars as pl
from threadpoolctl import threadpool_limits

from models import card as card_module
from models import drift, reasons
from models.estimator import BOOSTING_PARAMS
from models.features import (
    CATEGORICAL,
    DAYS_CAP,
    FEATURE_NAMES,
    HORIZON_DAYS,
    KEYS,
    MIN_PAYMENT,
    MONOTONIC,
    NUMERIC,
    NUMERIC_FEATURES,
    SEGMENTS,
    feature_frame,
    label_frame,
    prepare,
)
from models.learner import (
    BASELINE_C,
    CALIBRATION_FOLDS,
    SEED,
    Encoder,
    Evaluation,
    fit_and_evaluate,
    fit_calibrated,
)
from models.reasons import Explainer
from models.registry import FORMAT, ModelRecord, Registry
from pipeline import warehouse
from pipeline.errors import ModelError

LOAD_ADVICE = "load more history nights with `caseflow load --date ... --input ...`"


@dataclass(frozen=True)
class TrainConfig:
    """What a training run needs beyond the warehouse; the defaults are the issue's."""

    horizon_days: int = HORIZON_DAYS
    min_payment: float = MIN_PAYMENT
    validation_days: int = 7  # the held-out week
    min_training_rows: int = 1000
    min_training_payers: int = 50
    min_validation_payers: int = 20
    importance_repeats: int = 3


@dataclass(frozen=True)
class Plan:
    """Which nights play which part (see the module docstring)."""

    known_by: date
    nights: list[date]  # every night with a complete outcome window
    backtest: list[date]  # trained on for the held-out figures
    validation: list[date]  # held out


@dataclass(frozen=True)
class Dataset:
    """The training rows: one per (case, night), keys, model columns, ``repaid``, ``debtor``."""

    rows: pl.DataFrame

    @property
    def y(self) -> npt.NDArray[np.int64]:
        return self.rows.get_column("repaid").to_numpy().astype(np.int64)

    def on(self, nights: list[date]) -> npt.NDArray[np.bool_]:
        """Which rows belong to ``nights``."""
        return self.rows.get_column("business_date").is_in(nights).to_numpy()

    def sha256(self) -> str:
        """A hash of exactly what the model learns from: the rows' keys, nights, model columns
        and labels, in their fixed order (the same warehouse gives the same hash)."""
        digest = hashlib.sha256()
        columns = [*KEYS, *FEATURE_NAMES, "repaid"]
        digest.update("\x1f".join(columns).encode("utf-8"))
        for name in columns:
            column = self.rows.get_column(name)
            if column.dtype == pl.Float64:
                digest.update(column.to_numpy().astype("<f8").tobytes())
            else:
                digest.update("\x1f".join(column.cast(pl.Utf8).fill_null("").to_list()).encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class TrainResult:
    version: str
    champion: bool  # whether this version is now the champion
    model_path: Path
    card_path: Path
    html_path: Path
    sha256: str
    card: dict[str, Any]

    def summary(self) -> str:
        """A few lines for the terminal."""
        status = (
            "it is now the champion (there was none)"
            if self.champion
            else "the champion is unchanged (`caseflow models compare` it with this one, then "
            f"`caseflow models promote {self.version}` to use this one)"
        )
        return "\n".join(
            [
                f"trained in {self.card['training_seconds']:.1f} s",
                *card_module.summary_lines(self.card),
                f"saved {self.model_path} (sha256 {self.sha256[:12]}…); {status}",
                f"card: {self.html_path}",
            ]
        )


# ---- which nights ------------------------------------------------------------------------


def snapshot_nights(con: duckdb.DuckDBPyConnection, as_of: date | None) -> list[date]:
    frame = warehouse.select(
        con,
        "select distinct business_date from case_snapshots "
        "where $as_of is null or business_date <= $as_of order by business_date",
        {"as_of": as_of},
    )
    return [] if frame.is_empty() else list(frame.get_column("business_date"))


def plan(nights_known: list[date], config: TrainConfig) -> Plan:
    """Split the snapshot nights, or say plainly why the history is not enough."""
    if not nights_known:
        raise ModelError(f"the warehouse holds no case history yet: {LOAD_ADVICE}")
    known_by = nights_known[-1]
    horizon = timedelta(days=config.horizon_days)
    nights = [t for t in nights_known if t + horizon <= known_by]
    need = 2 * config.horizon_days + config.validation_days
    why = (
        f"the warehouse holds {len(nights_known)} nights, {nights_known[0]} to {known_by}; "
        f"training needs nights spanning at least {need} days (each night's "
        f"{config.horizon_days}-day outcome must be known, and the held-out week must come "
        f"{config.horizon_days} days after the nights trained on): {LOAD_ADVICE}"
    )
    if len(nights) < 2:
        raise ModelError(f"not enough history to train: {why}")
    first_held_out = nights[-1] - timedelta(days=config.validation_days - 1)
    validation = [t for t in nights if t >= first_held_out]
    backtest = [t for t in nights if t + horizon <= validation[0]]
    if not backtest:
        raise ModelError(f"not enough history to train and validate: {why}")
    return Plan(known_by=known_by, nights=nights, backtest=backtest, validation=validation)


# ---- the rows ----------------------------------------------------------------------------


def dataset(con: duckdb.DuckDBPyConnection, p: Plan, config: TrainConfig) -> Dataset:
    """Features and labels of every case active on a usable night, in a fixed order."""
    first, last = p.nights[0], p.nights[-1]
    labels = label_frame(
        con,
        first,
        last,
        p.known_by,
        horizon_days=config.horizon_days,
        min_payment=config.min_payment,
    )
    rows = (
        labels.join(feature_frame(con, first, last), on=list(KEYS), how="inner")
        .filter(pl.col("business_date").is_in(p.nights))
        .sort(list(KEYS))  # a join does not promise an order; the folds and trees need one
    )
    rows = prepare(rows).with_columns(
        pl.concat_str("client_id", "customer_id", separator="\x1f").alias("debtor")
    )
    return Dataset(rows)


def _check_enough(
    y: npt.NDArray[np.int64],
    learn: npt.NDArray[np.bool_],
    held: npt.NDArray[np.bool_],
    config: TrainConfig,
) -> None:
    problems = []
    rows, payers = int(learn.sum()), int(y[learn].sum())
    if rows < config.min_training_rows:
        problems.append(f"{rows} case-nights to train on (needs {config.min_training_rows})")
    if payers < config.min_training_payers:
        problems.append(f"{payers} payers among them (needs {config.min_training_payers})")
    held_rows, held_payers = int(held.sum()), int(y[held].sum())
    if held_payers < config.min_validation_payers or held_payers == held_rows:
        problems.append(
            f"{held_payers} payers among {held_rows} held-out case-nights "
            f"(needs {config.min_validation_payers} payers and some non-payers)"
        )
    if problems:
        raise ModelError(f"not enough history to train: {'; '.join(problems)}; {LOAD_ADVICE}")


# ---- the card ----------------------------------------------------------------------------


def _libraries() -> dict[str, str]:
    names = ("scikit-learn", "skops", "numpy", "scipy", "polars", "duckdb")
    return {"python": platform.python_version(), **{n: package_version(n) for n in names}}


def _iso(nights: list[date]) -> list[str]:
    return [t.isoformat() for t in nights]


def _card(
    version: str,
    p: Plan,
    config: TrainConfig,
    data: Dataset,
    evaluation: Evaluation,
    drift_reference: dict[str, Any],
) -> dict[str, Any]:
    y = data.y
    held = data.on(p.validation)
    window = {
        "first_night": p.nights[0].isoformat(),
        "last_night": p.nights[-1].isoformat(),
        "known_by": p.known_by.isoformat(),
    }
    return {
        "version": version,
        "created_at": datetime.now().isoformat(timespec="seconds"),
        "task": "rank active cases by the chance that the debtor pays soon",
        "label": {
            "definition": "one payment of at least min(min_payment, balance at t) with paid_on in "
            "(t, t + horizon_days], counted only if the warehouse had it by known_by",
            "horizon_days": config.horizon_days,
            "min_payment": config.min_payment,
        },
        "data": {
            "window": window,
            "sha256": data.sha256(),
            "known_by": window["known_by"],
            "first_night": window["first_night"],
            "last_night": window["last_night"],
            "nights": _iso(p.nights),
            "rows": int(y.size),
            "payers": int(y.sum()),
            "positive_rate": round(float(y.mean()), 6),
            "debtors": int(data.rows.get_column("debtor").n_unique()),
        },
        "validation": {
            "method": "out of time: the recipe is trained on the nights whose outcome windows "
            "close before the held-out week, and scored on that week",
            "training_nights": _iso(p.backtest),
            "training_rows": evaluation.rows["training"],
            "nights": _iso(p.validation),
            "rows": int(held.sum()),
            "payers": int(y[held].sum()),
        },
        "features": [
            *(
                {
                    "name": f.name,
                    "kind": "numeric",
                    "monotonic": f.monotonic,
                    "days_capped_at": DAYS_CAP if f.days_since else None,
                }
                for f in NUMERIC_FEATURES
            ),
            *({"name": c, "kind": "categorical", "monotonic": 0} for c in CATEGORICAL),
        ],
        "estimator": {
            "type": "sklearn HistGradientBoostingClassifier (native categorical splits)",
            "params": BOOSTING_PARAMS,
            "calibration": f"Platt (sigmoid) on out-of-fold raw scores, {CALIBRATION_FOLDS} folds "
            "grouped by debtor (client_id, customer_id)",
            "learner": "models.learner.fit_and_evaluate",
        },
        "baseline": {
            "type": "sklearn LogisticRegression on standardised numeric features and one-hot "
            "categories",
            "params": {"C": BASELINE_C},
        },
        **{k: v for k, v in evaluation.to_dict().items() if k not in ("target", "positive")},
        # stages read best in their own order, M0 ... M7+ (products: most cases first)
        "segments": {
            column: sorted(rows, key=lambda s: s["value"]) if column == "stage" else rows
            for column, rows in evaluation.segments.items()
        },
        "reasons": " ".join((reasons.__doc__ or "").split()),
        "drift_reference": {"psi_warn": drift.PSI_WARN, "columns": drift_reference},
        "seed": SEED,
        "libraries": _libraries(),
    }


# ---- training ----------------------------------------------------------------------------


def train(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    as_of: date | None = None,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train, judge, save (skops, with SHA-256 and card), register; champion if there is none.

    Never replaces an existing champion: `caseflow models promote` does, on purpose."""
    # One thread (OpenMP and BLAS): the trees are small and the data modest, and spinning
    # OpenMP barriers make two threads on a busy machine up to ten times slower than one
    # (measured on the samples while other work ran: 3 s against 28 s).
    with threadpool_limits(limits=1):
        return _train(con, home, as_of, config or TrainConfig())


def _train(
    con: duckdb.DuckDBPyConnection, home: Path, as_of: date | None, config: TrainConfig
) -> TrainResult:
    started = time.perf_counter()
    p = plan(snapshot_nights(con, as_of), config)
    data = dataset(con, p, config)
    y = data.y
    learn, held = data.on(p.backtest), data.on(p.validation)
    _check_enough(y, learn, held, config)

    # the held-out judgement of the recipe, and of the baseline on the same split
    judged, evaluation = fit_and_evaluate(
        data.rows,
        "repaid",
        NUMERIC,
        CATEGORICAL,
        monotonic=MONOTONIC,
        holdout=held,
        train=learn,
        groups="debtor",
        segments=SEGMENTS,
        positive=1,
        params=BOOSTING_PARAMS,
        importance_repeats=config.importance_repeats,
        threads=None,  # already limited by train()
    )

    # the model that is saved: the same recipe on every usable night
    encoder = Encoder.fit(data.rows, NUMERIC, CATEGORICAL)
    x = encoder.matrix(data.rows)
    model = fit_calibrated(
        x,
        y,
        encoder,
        monotonic=MONOTONIC,
        groups=data.rows.get_column("debtor").to_numpy(),
        params=BOOSTING_PARAMS,
        classes=judged.classes,
    )
    explainer = Explainer.fit(x, encoder.columns, CATEGORICAL, evaluation.importance["model"])
    categories = {c: len(encoder.category_names(c)) for c in CATEGORICAL}
    drift_reference = drift.references(
        x,
        encoder.columns,
        categories,
        model.probability_of(x),
        drift.main_features(evaluation.importance["model"]),
    )

    registry = Registry(home)
    version = registry.next_version(p.known_by.isoformat())
    card = _card(version, p, config, data, evaluation, drift_reference)
    card["training_seconds"] = round(time.perf_counter() - started, 3)
    payload = {
        "format": FORMAT,
        "features": list(FEATURE_NAMES),
        "model": model.to_payload(),
        "holdout_model": judged.to_payload(),
        "explainer": explainer.to_dict(),
        "drift": drift_reference,
        "meta": {
            "label": {"horizon_days": config.horizon_days, "min_payment": config.min_payment},
            "training_nights": _iso(p.nights),
            "holdout_training_nights": _iso(p.backtest),
            "holdout_nights": _iso(p.validation),
        },
    }
    digest, card_digest = registry.save_files(version, payload, card, card_module.render_html)
    headline = ("roc_auc", "pr_auc", "brier")
    record = ModelRecord(
        version=version,
        file=f"{version}/model.skops",
        sha256=digest,
        card=f"{version}/card.json",
        created_at=card["created_at"],
        data_to=p.known_by.isoformat(),
        rows=int(y.size),
        metrics={k: evaluation.model[k] for k in headline},
        baseline={k: evaluation.baseline[k] for k in headline},
        window=card["data"]["window"],
        data_sha256=card["data"]["sha256"],
        card_sha256=card_digest,
    )
    champion = registry.register(record)
    folder = registry.root / version
    return TrainResult(
        version=version,
        champion=champion,
        model_path=registry.root / record.file,
        card_path=registry.root / record.card,
        html_path=folder / "card.html",
        sha256=digest,
        card={**card, "sha256": digest},
    )
