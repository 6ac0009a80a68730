"""`caseflow models compare A B`: two versions side by side, scored on the same held-out rows.

Each version's file keeps, beside the model that scores the nights, the same recipe as it was
fitted for its own hold-out (trained only on nights whose outcomes were known before its
held-out week). Both of those are scored on the rows held out from both: every case active on a
night from the later of the two held-out weeks onwards whose outcome the warehouse knows now.
Neither has seen those rows, nor any payment in their outcome windows, so the comparison is
fair; with two versions trained on the same warehouse it is exactly their common hold-out, and
the figures are the cards' own.

ROC AUC difference with DeLong's 95% interval; PR AUC, Brier, KS, top-decile lift, calibration
error; ROC AUC per product and per overdue stage. Figures only, never a debtor's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from models import evaluate
from models.features import SEGMENTS
from models.registry import LoadedModel, Registry
from models.train import Plan, TrainConfig, dataset, snapshot_nights
from pipeline.errors import ModelError


@dataclass(frozen=True)
class Comparison:
    """Versions ``a`` and ``b`` on the same rows (figures keyed by version)."""

    a: str
    b: str
    champion: str | None
    nights: list[str]
    rows: int
    payers: int
    metrics: dict[str, dict[str, Any]]
    calibration: dict[str, float]  # version: expected calibration error
    segments: dict[str, list[dict[str, Any]]]  # column: value, rows, payers, a, b (ROC AUC)
    difference: dict[str, Any]  # evaluate.delong of b minus a

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "champion": self.champion,
            "nights": self.nights,
            "rows": self.rows,
            "payers": self.payers,
            "metrics": self.metrics,
            "calibration_error": self.calibration,
            "segments": self.segments,
            "roc_auc_difference_b_minus_a": self.difference,
        }

    def verdict(self) -> str:
        low, high = self.difference["interval_95"]
        diff = self.difference["difference"]
        span = f"ROC AUC {diff:+.3f}, 95% interval {low:+.3f} to {high:+.3f}"
        if low > 0:
            return f"{self.b} ranks better than {self.a} on these rows ({span})."
        if high < 0:
            return f"{self.b} ranks worse than {self.a} on these rows ({span})."
        return f"no clear difference in ranking between {self.a} and {self.b} ({span})."

    def lines(self) -> list[str]:
        """The side-by-side table for the terminal."""
        a, b = self.a, self.b
        width = max(len(a), len(b), 9) + 2
        ma, mb = self.metrics[a], self.metrics[b]
        segment_rows = [
            (f"ROC AUC {column} {s['value']} ({s['rows']:,})", s["a"], s["b"])
            for column, rows in self.segments.items()
            for s in rows
        ]
        first = max([28, *(len(label) + 2 for label, _, _ in segment_rows)])

        def row(label: str, va: float | None, vb: float | None, digits: int = 3) -> str:
            def cell(v: float | None) -> str:
                return ("n/a" if v is None else f"{v:.{digits}f}").ljust(width)

            diff = "" if va is None or vb is None else f"{vb - va:+.{digits}f}"
            return f"  {label.ljust(first)}{cell(va)}{cell(vb)}{diff}"

        mark = {v: " (champion)" if v == self.champion else "" for v in (a, b)}
        rate = self.payers / max(self.rows, 1)
        lines = [
            f"A = {a}{mark[a]}, B = {b}{mark[b]}",
            f"same hold-out: {self.rows:,} case-nights of {', '.join(self.nights)} "
            f"({self.payers:,} payers, {rate:.1%}), held out from both versions' recipes",
            f"  {''.ljust(first)}{'A'.ljust(width)}{'B'.ljust(width)}B - A",
            row("ROC AUC", ma["roc_auc"], mb["roc_auc"]),
            row("PR AUC", ma["pr_auc"], mb["pr_auc"]),
            row("Brier", ma["brier"], mb["brier"], 4),
            row("KS", ma["ks"], mb["ks"]),
            row("top-decile lift", ma["deciles"][0]["lift"], mb["deciles"][0]["lift"], 2),
            row("calibration error", self.calibration[a], self.calibration[b]),
            row("mean p (observed " + f"{rate:.3f})", ma["mean_p"], mb["mean_p"]),
        ]
        lines += [row(label, va, vb) for label, va, vb in segment_rows]
        lines.append(self.verdict())
        return lines


def _label(loaded: LoadedModel) -> dict[str, Any]:
    return dict(loaded.meta["label"])


def compare(con: duckdb.DuckDBPyConnection, home: Path, a: str, b: str) -> Comparison:
    """Score versions ``a`` and ``b`` on the rows held out from both (see module docstring)."""
    registry = Registry(home)
    if a == b:
        raise ModelError(f"compare two different versions (both are {a})")
    first, second = registry.load(a), registry.load(b)  # both refused if tampered
    if _label(first) != _label(second):
        raise ModelError(
            f"{a} and {b} predict different things ({_label(first)} against "
            f"{_label(second)}): their scores cannot be judged on the same labels"
        )
    label = _label(first)
    horizon = int(label["horizon_days"])
    start = max(
        date.fromisoformat(first.meta["holdout_nights"][0]),
        date.fromisoformat(second.meta["holdout_nights"][0]),
    )
    known = snapshot_nights(con, None)
    nights = [t for t in known if t >= start and t + timedelta(days=horizon) <= known[-1]]
    if not nights:
        raise ModelError(
            f"the warehouse holds no night from {start} on whose {horizon}-day outcome is known: "
            f"nothing is held out from both {a} and {b} (load more history, or compare "
            "versions trained on this warehouse)"
        )
    config = TrainConfig(horizon_days=horizon, min_payment=float(label["min_payment"]))
    data = dataset(con, Plan(known[-1], nights, [], nights), config)
    y = data.y
    if y.size == 0 or y.min() == y.max():
        raise ModelError(f"the rows of {', '.join(map(str, nights))} hold one outcome only")
    scores = {
        v.version: v.holdout_model.probability_of(v.holdout_model.encoder.matrix(data.rows))
        for v in (first, second)
    }
    segments = {}
    for column in SEGMENTS:
        values = data.rows.get_column(column).cast(pl.Utf8).fill_null("(missing)").to_numpy()
        table = evaluate.segments(y, scores, values)
        if column == "stage":  # M0 ... M7+ in their own order
            table.sort(key=lambda s: str(s["value"]))
        segments[column] = [
            {
                "value": s["value"],
                "rows": s["rows"],
                "payers": s["payers"],
                "a": s[f"{a}_roc_auc"],
                "b": s[f"{b}_roc_auc"],
            }
            for s in table
        ]
    champion = registry.champion()
    return Comparison(
        a=a,
        b=b,
        champion=None if champion is None else champion.version,
        nights=[t.isoformat() for t in nights],
        rows=int(y.size),
        payers=int(y.sum()),
        metrics={v: evaluate.metrics(y, p) for v, p in scores.items()},
        calibration={v: evaluate.calibration(y, p)["ece"] for v, p in scores.items()},
        segments=segments,
        difference=evaluate.delong(y, scores[b], scores[a]),
    )
