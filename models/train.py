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
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from models import reasons
from models.estimator import (
    BASELINE_PARAMS,
    BOOSTING_PARAMS,
    CALIBRATION_FOLDS,
    SEED,
    RepaymentModel,
    fit_baseline,
    fit_model,
    predict_baseline,
)
from models.evaluate import Labels, metrics
from models.features import (
    DAYS_CAP,
    FEATURE_NAMES,
    FEATURES,
    HORIZON_DAYS,
    KEYS,
    MIN_PAYMENT,
    Matrix,
    feature_frame,
    label_frame,
    matrix,
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
    x: Matrix
    y: Labels
    nights: npt.NDArray[np.datetime64]
    debtors: npt.NDArray[np.str_]

    def where(self, nights: list[date]) -> Dataset:
        mask = np.isin(self.nights, np.array(nights, dtype="datetime64[D]"))
        return Dataset(self.x[mask], self.y[mask], self.nights[mask], self.debtors[mask])

    @property
    def payers(self) -> int:
        return int(self.y.sum())


@dataclass(frozen=True)
class TrainResult:
    version: str
    champion: bool  # whether this version is now the champion
    model_path: Path
    card_path: Path
    sha256: str
    card: dict[str, Any]

    def summary(self) -> str:
        """A few lines for the terminal."""
        card = self.card
        model, base = card["metrics"]["model"], card["metrics"]["baseline"]
        data, check = card["data"], card["validation"]
        status = (
            "it is now the champion"
            if self.champion
            else "the champion is unchanged (`caseflow models promote "
            f"{self.version}` to use this one)"
        )
        return "\n".join(
            [
                f"model {self.version} trained in {card['training_seconds']:.1f} s "
                f"on {data['rows']} case-nights from {data['first_night']} to "
                f"{data['last_night']} ({data['positive_rate']:.1%} paid within "
                f"{card['label']['horizon_days']} days)",
                f"held out {check['rows']} case-nights of {', '.join(check['nights'])} "
                f"(recipe trained on {check['training_rows']} earlier case-nights):",
                f"  model     ROC AUC {model['roc_auc']:.3f}  PR AUC {model['pr_auc']:.3f}  "
                f"Brier {model['brier']:.4f}  KS {model['ks']:.3f}",
                f"  baseline  ROC AUC {base['roc_auc']:.3f}  PR AUC {base['pr_auc']:.3f}  "
                f"Brier {base['brier']:.4f}  KS {base['ks']:.3f}  (logistic regression)",
                f"saved {self.model_path} (sha256 {self.sha256[:12]}…); {status}",
            ]
        )


# ---- which nights ------------------------------------------------------------------------


def _snapshot_nights(con: duckdb.DuckDBPyConnection, as_of: date | None) -> list[date]:
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
    debtors = rows.select(pl.concat_str("client_id", "customer_id", separator="\x1f"))
    return Dataset(
        x=matrix(rows),
        y=rows.get_column("repaid").to_numpy().astype(np.int64),
        nights=rows.get_column("business_date").to_numpy().astype("datetime64[D]"),
        debtors=debtors.to_series().to_numpy().astype(np.str_),
    )


def _check_enough(train: Dataset, held_out: Dataset, config: TrainConfig) -> None:
    problems = []
    if train.y.size < config.min_training_rows:
        problems.append(
            f"{train.y.size} case-nights to train on (needs {config.min_training_rows})"
        )
    if train.payers < config.min_training_payers:
        problems.append(f"{train.payers} payers among them (needs {config.min_training_payers})")
    held_out_payers = held_out.payers
    if held_out_payers < config.min_validation_payers or held_out_payers == held_out.y.size:
        problems.append(
            f"{held_out_payers} payers among {held_out.y.size} held-out case-nights "
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
    held_out: tuple[Dataset, Dataset],
    figures: dict[str, Any],
    importance: npt.NDArray[np.float64],
) -> dict[str, Any]:
    train, check = held_out
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
            "known_by": p.known_by.isoformat(),
            "first_night": p.nights[0].isoformat(),
            "last_night": p.nights[-1].isoformat(),
            "nights": _iso(p.nights),
            "rows": int(data.y.size),
            "payers": data.payers,
            "positive_rate": round(float(data.y.mean()), 6),
            "debtors": int(np.unique(data.debtors).size),
        },
        "validation": {
            "method": "out of time: the recipe is trained on the nights whose outcome windows "
            "close before the held-out week, and scored on that week",
            "training_nights": _iso(p.backtest),
            "training_rows": int(train.y.size),
            "nights": _iso(p.validation),
            "rows": int(check.y.size),
            "payers": check.payers,
        },
        "features": [
            {
                "name": f.name,
                "monotonic": f.monotonic,
                "days_capped_at": DAYS_CAP if f.days_since else None,
            }
            for f in FEATURES
        ],
        "estimator": {
            "type": "sklearn HistGradientBoostingClassifier",
            "params": BOOSTING_PARAMS,
            "calibration": f"Platt (sigmoid) on out-of-fold raw scores, {CALIBRATION_FOLDS} folds "
            "grouped by debtor (client_id, customer_id)",
        },
        "baseline": {
            "type": "sklearn StandardScaler + LogisticRegression",
            "params": BASELINE_PARAMS,
        },
        "metrics": figures,
        "permutation_importance": {
            "scoring": "loss of held-out ROC AUC when the feature is shuffled",
            "repeats": config.importance_repeats,
            "values": {
                n: round(float(v), 6) for n, v in zip(FEATURE_NAMES, importance, strict=True)
            },
        },
        "reasons": " ".join((reasons.__doc__ or "").split()),
        "seed": SEED,
        "libraries": _libraries(),
    }


# ---- training ----------------------------------------------------------------------------


def _importance(
    model: RepaymentModel, check: Dataset, config: TrainConfig
) -> npt.NDArray[np.float64]:
    # the calibration is monotone, so the estimator's own ranking is what ROC AUC sees
    result = permutation_importance(
        model.estimator,
        check.x,
        check.y,
        scoring="roc_auc",
        n_repeats=config.importance_repeats,
        random_state=SEED,
    )
    return np.asarray(result.importances_mean, dtype=np.float64)


def train(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    as_of: date | None = None,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train, judge, save (skops, with SHA-256 and card), register; champion if there is none."""
    # One thread (OpenMP and BLAS): the trees are small and the data modest, and spinning
    # OpenMP barriers make two threads on a busy machine up to ten times slower than one
    # (measured on the samples while other work ran: 3 s against 28 s).
    with threadpool_limits(limits=1):
        return _train(con, home, as_of, config or TrainConfig())


def _train(
    con: duckdb.DuckDBPyConnection, home: Path, as_of: date | None, config: TrainConfig
) -> TrainResult:
    started = time.perf_counter()
    p = plan(_snapshot_nights(con, as_of), config)
    data = dataset(con, p, config)
    train_rows, check = data.where(p.backtest), data.where(p.validation)
    _check_enough(train_rows, check, config)

    # the held-out judgement of the recipe, and of the baseline on the same split
    judged = fit_model(train_rows.x, train_rows.y, train_rows.debtors)
    base = fit_baseline(train_rows.x, train_rows.y)
    figures = {
        "model": metrics(check.y, judged.predict(check.x)),
        "baseline": metrics(check.y, predict_baseline(base, check.x)),
    }
    importance = _importance(judged, check, config)

    # the model that is saved: the same recipe on every usable night
    model = fit_model(data.x, data.y, data.debtors)
    explainer = Explainer.fit(data.x, model.predict(data.x), importance)

    registry = Registry(home)
    version = registry.next_version(p.known_by.isoformat())
    card = _card(version, p, config, data, (train_rows, check), figures, importance)
    card["training_seconds"] = round(time.perf_counter() - started, 3)
    payload = {
        "format": FORMAT,
        "features": list(FEATURE_NAMES),
        "estimator": model.estimator,
        "calibrator": model.calibrator,
        "explainer": explainer.to_dict(),
    }
    digest = registry.save_files(version, payload, card)
    headline = ("roc_auc", "pr_auc", "brier")
    record = ModelRecord(
        version=version,
        file=f"{version}/model.skops",
        sha256=digest,
        card=f"{version}/card.json",
        created_at=card["created_at"],
        data_to=p.known_by.isoformat(),
        rows=int(data.y.size),
        metrics={k: figures["model"][k] for k in headline},
        baseline={k: figures["baseline"][k] for k in headline},
    )
    champion = registry.register(record)
    return TrainResult(
        version=version,
        champion=champion,
        model_path=registry.root / record.file,
        card_path=registry.root / record.card,
        sha256=digest,
        card={**card, "sha256": digest},
    )
