"""Drift watch: is tonight's book like the one the champion learned from?

At training, the score and the main features (``MAIN_FEATURES`` of them, by permutation
importance on the hold-out: drift in a feature the model barely uses is noise) get a reference
distribution from the training rows (cases active on a training night): for a numeric column,
ten bins cut at its deciles (fewer where values repeat), plus one for missing values; for a
categorical one, one bin per category code plus one for missing. At scoring, tonight's active
cases are counted in the same bins and compared by the population stability index

    PSI = sum over bins of (tonight's share - training share) x ln(tonight's share / training share)

(shares floored at 0.0001 so an empty bin does not make it infinite). The usual reading: below
0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 (``PSI_WARN``) a shift worth a look: the
night runs, warns, and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

PSI_WARN = 0.25
MAIN_FEATURES = 8
BINS = 10
FLOOR = 1e-4
SCORE = "p_repay"  # the name the score's reference goes by

Values = npt.NDArray[np.float64]


def _shares(counts: npt.NDArray[np.int64]) -> list[float]:
    total = max(int(counts.sum()), 1)
    return [round(float(c) / total, 6) for c in counts]


def _numeric_counts(values: Values, edges: Sequence[float]) -> npt.NDArray[np.int64]:
    missing = np.isnan(values)
    # bin i holds edges[i-1] < v <= edges[i]; the last bin everything above the last edge
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(np.int64)
    return np.append(counts, int(missing.sum()))


def _category_counts(values: Values, categories: int) -> npt.NDArray[np.int64]:
    known = ~np.isnan(values) & (values >= 0) & (values < categories)
    counts = np.bincount(values[known].astype(np.int64), minlength=categories).astype(np.int64)
    return np.append(counts, int((~known).sum()))


def reference(values: Values, categories: int | None = None) -> dict[str, Any]:
    """The training distribution of one column: bin edges (numeric) or the number of category
    codes (categorical), and the share of rows in each bin, the last bin being missing."""
    if categories is not None:
        return {
            "categories": categories,
            "shares": _shares(_category_counts(values, categories)),
        }
    present = values[~np.isnan(values)]
    if present.size:
        quantiles = np.quantile(present, np.linspace(0.0, 1.0, BINS + 1)[1:-1])
        edges = sorted({round(float(q), 6) for q in quantiles})
    else:
        edges = []
    return {"edges": edges, "shares": _shares(_numeric_counts(values, edges))}


def counts(ref: Mapping[str, Any], values: Values) -> npt.NDArray[np.int64]:
    """``values`` counted in the bins of a ``reference`` (the last bin: missing)."""
    if "categories" in ref:
        return _category_counts(values, int(ref["categories"]))
    return _numeric_counts(values, ref["edges"])


def psi_of_counts(ref: Mapping[str, Any], found: npt.NDArray[np.int64]) -> float:
    """Population stability index of bin counts (``counts``) against a ``reference``."""
    expected = np.maximum(np.asarray(ref["shares"], dtype=np.float64), FLOOR)
    actual = np.maximum(found / max(int(found.sum()), 1), FLOOR)
    return round(float(np.sum((actual - expected) * np.log(actual / expected))), 6)


def psi(ref: Mapping[str, Any], values: Values) -> float:
    """Population stability index of ``values`` against a ``reference``."""
    return psi_of_counts(ref, counts(ref, values))


def main_features(importance: Mapping[str, float], top: int = MAIN_FEATURES) -> list[str]:
    """The ``top`` columns the model relies on most (ties by name)."""
    return [n for n, _ in sorted(importance.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def references(
    x: npt.NDArray[np.float64],
    columns: Sequence[str],
    categories: Mapping[str, int],
    scores: Values,
    watched: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """The reference of the score and of the ``watched`` columns of a training matrix."""
    found = {SCORE: reference(scores)}
    for j, name in enumerate(columns):
        if name in watched:
            found[name] = reference(x[:, j], categories.get(name))
    return found


# Bin counts of the score and of each watched column: a night scored in parts (pipeline.parts)
# adds its parts' counts (``add_counts``) and takes the PSI of the sum (``night_drift``).
Counts = dict[str, npt.NDArray[np.int64]]


def night_counts(
    refs: Mapping[str, Mapping[str, Any]],
    x: npt.NDArray[np.float64],
    columns: Sequence[str],
    scores: Values,
) -> Counts:
    """The bin counts of the score and of each watched column of ``x`` (rows: active cases)."""
    found = {name: counts(refs[name], x[:, j]) for j, name in enumerate(columns) if name in refs}
    return {SCORE: counts(refs[SCORE], scores), **found}


def add_counts(a: Counts, b: Counts) -> Counts:
    """Two parts' counts together (either may be empty: a part without a model's rows)."""
    both = {name: a[name] + b[name] for name in a.keys() & b.keys()}
    return {**a, **b, **both}


def night_drift(refs: Mapping[str, Mapping[str, Any]], found: Counts) -> dict[str, float]:
    """PSI of the score and of each watched column from the night's counts, the score first,
    then the largest; empty when no active case was scored."""
    if SCORE not in found or int(found[SCORE].sum()) == 0:
        return {}
    psis = {n: psi_of_counts(refs[n], c) for n, c in found.items() if n != SCORE and n in refs}
    ordered = sorted(psis.items(), key=lambda kv: (-kv[1], kv[0]))
    return {SCORE: psi_of_counts(refs[SCORE], found[SCORE]), **dict(ordered)}


def night_psi(
    refs: Mapping[str, Mapping[str, Any]],
    x: npt.NDArray[np.float64],
    columns: Sequence[str],
    scores: Values,
) -> dict[str, float]:
    """PSI of the score and of each watched column tonight, the score first, then the
    largest."""
    return night_drift(refs, night_counts(refs, x, columns, scores))


def drift_warning(drift: Mapping[str, float], threshold: float = PSI_WARN) -> str | None:
    """One warning naming what shifted past ``threshold``, or None."""
    shifted = [(name, value) for name, value in drift.items() if value > threshold]
    if not shifted:
        return None
    listed = ", ".join(f"{name} {value:.2f}" for name, value in shifted)
    return (
        f"drift: the population stability index is above {threshold} for {listed} (tonight "
        "against the champion's training data); the scores are still used, but check the "
        "night's files and consider `caseflow train` on recent history"
    )
