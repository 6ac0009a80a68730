"""Benchmark of the scoring: cases per second at a million cases, and what the small model costs.

    .venv/bin/python bench/score.py                    # 1M cases
    .venv/bin/python bench/score.py --cases 200000     # quicker

Prints one JSON object:
- ``train_seconds``: `caseflow train` on the samples' 13 history nights (warehouse to registry).
- ``scoring``: the champion on ``cases`` synthetic cases, batch and vectorised, on one thread
  (as `caseflow run` scores): p_repay alone (features to probabilities), the whole scoring
  step (p_repay, expected recovery, three measured reasons per case and the drift figures), and
  the night's scoring step (``night_step``): p_repay, expected recovery and the drift of every
  case, and the reasons of the worked ones only (``WORKED_SHARE`` of the cases: the 1M night of
  ``bench/night.py`` works 10,297 of 996,836 cases).
- ``model_size``: the chosen small model (models.estimator.BOOSTING_PARAMS) against a larger one
  (LARGER_PARAMS), both through the same out-of-time split of the samples: hold-out ROC AUC and
  scoring rate of each, and the ROC AUC the small one gives up (negative: it gives up nothing).

The synthetic cases are the samples' real case-nights (features as of each history night)
drawn again with replacement to the size asked, with new case ids: realistic joint
distributions, nothing invented. The same seed gives the same cases.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.estimator import BOOSTING_PARAMS, LARGER_PARAMS
from models.features import (
    CATEGORICAL,
    MONOTONIC,
    NUMERIC,
    SEGMENTS,
    feature_frame,
)
from models.learner import CalibratedClassifier, fit_and_evaluate
from models.registry import Registry
from models.score import NightScorer, model_scores
from models.train import TrainConfig, dataset, plan, snapshot_nights, train
from pipeline import warehouse
from tests.warehouse_fixture import load_history

SEED = 20261123
# The share of a night's cases that are worked, whose reasons the night words (bench/night.py
# at 1M cases: 10,297 worked of 996,836, about 1%).
WORKED_SHARE = 0.01


def synthetic_cases(con: Any, n: int, seed: int) -> pl.DataFrame:
    """``n`` case-nights drawn with replacement from the samples' history, renamed."""
    nights = snapshot_nights(con, None)
    pool = feature_frame(con, nights[0], nights[-1]).filter(pl.col("status") == "active")
    rng = np.random.default_rng(seed)
    rows = pool[rng.integers(0, pool.height, n)]
    return rows.with_columns(
        pl.format("S{}", pl.int_range(0, n, dtype=pl.Int64)).alias("case_id"),
        pl.lit(date(2026, 11, 23)).alias("business_date"),
    )


Timing = tuple[float, float]  # wall seconds, CPU seconds of this process


def _clock() -> Timing:
    return time.perf_counter(), time.process_time()


def _since(start: Timing) -> Timing:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _rate(spent: Timing, n: int) -> dict[str, float]:
    """Wall time and rate, and the same per CPU second: on a shared machine the wall clock
    counts other people's work too, the CPU clock only this process's."""
    wall, cpu = spent
    return {
        "seconds": round(wall, 3),
        "cases_per_second": round(n / wall),
        "cpu_seconds": round(cpu, 3),
        "cases_per_cpu_second": round(n / cpu) if cpu > 0 else 0,
    }


def _p_only(model: CalibratedClassifier, cases: pl.DataFrame) -> Timing:
    from models.features import prepare

    started = _clock()
    model.probability_of(model.encoder.matrix(prepare(cases)))
    return _since(started)


def _reasons_per_case(scored: pl.DataFrame) -> float:
    text = scored.get_column("reasons")
    named = np.where(text.to_numpy() == "", 0, text.str.count_matches("; ").to_numpy() + 1)
    return float(named.mean())


def model_size(con: Any, cases: pl.DataFrame) -> dict[str, Any]:
    """The chosen and the larger recipe on the same out-of-time split of the samples."""
    config = TrainConfig()
    p = plan(snapshot_nights(con, None), config)
    data = dataset(con, p, config)
    found: dict[str, Any] = {}
    for name, params in (("chosen", BOOSTING_PARAMS), ("larger", LARGER_PARAMS)):
        started = time.perf_counter()
        model, evaluation = fit_and_evaluate(
            data.rows,
            "repaid",
            NUMERIC,
            CATEGORICAL,
            monotonic=MONOTONIC,
            holdout=data.on(p.validation),
            train=data.on(p.backtest),
            groups="debtor",
            segments=SEGMENTS,
            positive=1,
            params=params,
            importance_repeats=1,
            threads=None,
        )
        fit_seconds = time.perf_counter() - started
        found[name] = {
            "trees": int(params["max_iter"]),
            "leaves_per_tree": int(params["max_leaf_nodes"]),
            "learning_rate": params["learning_rate"],
            "holdout_roc_auc": evaluation.model["roc_auc"],
            "holdout_pr_auc": evaluation.model["pr_auc"],
            "holdout_brier": evaluation.model["brier"],
            "fit_and_evaluate_seconds": round(fit_seconds, 3),
            "p_repay_only": _rate(_p_only(model, cases), cases.height),
        }
    found["roc_auc_cost_of_chosen"] = round(
        found["larger"]["holdout_roc_auc"] - found["chosen"]["holdout_roc_auc"], 6
    )
    found["holdout_nights"] = [t.isoformat() for t in p.validation]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="caseflow-bench-") as folder, threadpool_limits(1):
        home = Path(folder)
        con = warehouse.connect(home)
        load_history(con)
        started = time.perf_counter()
        result = train(con, home)
        train_seconds = time.perf_counter() - started
        cases = synthetic_cases(con, args.cases, args.seed)
        loaded = Registry(home).load(result.version)
        p_only = _p_only(loaded.model, cases)
        started_at = _clock()
        scored, drift = model_scores(cases, loaded)
        whole = _since(started_at)
        assert scored.height == args.cases and scored.get_column("p_repay").is_finite().all()
        worked = cases.sample(fraction=WORKED_SHARE, seed=args.seed)
        started_at = _clock()
        scorer = NightScorer(loaded)
        tonight, counts = scorer.score(cases, explain=False)
        scorer.scores(tonight, counts)  # the drift figures
        worded = scorer.reasons(worked)
        night_step = _since(started_at)
        assert worded.get_column("reasons").null_count() == 0
        report = {
            "cases": args.cases,
            "train_seconds": round(train_seconds, 3),
            "train_rows": result.card["data"]["rows"],
            "scoring": {
                "threads": 1,
                "p_repay_only": _rate(p_only, args.cases),
                "p_repay_reasons_and_drift": _rate(whole, args.cases),
                "reasons_per_case": round(float(_reasons_per_case(scored)), 3),
                "night_step": {**_rate(night_step, args.cases), "reasons_worded": worked.height},
                "psi_p_repay": drift.get("p_repay"),
            },
            "model_size": model_size(con, cases),
            "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)},
        }
        con.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
