"""How much of the samples' repayment is learnable: the generator's own willingness against the
model's ROC AUC on the same held-out night.

    .venv/bin/python bench/learnable.py

``scripts/make_samples.py`` gives each case a latent willingness to pay (days overdue at
hand-over, balance, product and a debtor effect no file shows) and lifts the daily chance of a
payment after a recent right-party contact, lowers it after broken promises. Rebuilding the same
world from its seed, this prints the ROC AUC on the held-out night of `caseflow train` (the
latest night whose 30-day outcome the samples know) of:

- ``ceiling``: the generator's true daily log-odds of paying at t (willingness with the hidden
  debtor effect, recent contact, broken promises): about the best any ranking made at t can do;
- ``without_debtor_effect``: the same without the hidden effect: what the generator's formula
  gives from facts the files show;
- ``model`` and ``baseline``: caseflow's, from the same warehouse.

A model between the two lines learns the visible facts and recovers part of the hidden effect
from behaviour (promises, contacts, payments), as it should; one near 0.5 or near 1.0 would be a
bug (no signal learned, or the future leaking in). Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import make_samples  # noqa: E402

from models.features import feature_frame, label_frame, prepare  # noqa: E402
from models.train import TrainConfig, plan, snapshot_nights, train  # noqa: E402
from pipeline import warehouse  # noqa: E402
from tests.warehouse_fixture import load_history  # noqa: E402


def willingness() -> pl.DataFrame:
    """Each case's latent willingness, as make_samples.simulate computes it."""
    rng = np.random.default_rng(make_samples.SEED)
    make_samples.make_collectors(rng)  # the same draws in the same order as the generator
    cases = make_samples.make_cases(rng)
    effect = cases.get_column("debtor_effect").to_numpy()
    will = (
        -2.2
        + effect
        - 0.006 * cases.get_column("dpd_at_handover").to_numpy()
        - 0.45 * np.log(cases.get_column("amount_owed").to_numpy() / 5000.0)
        + np.array([make_samples.PRODUCT_EFFECT[p] for p in cases.get_column("product")])
    )
    found: pl.DataFrame = cases.select("client_id", "case_id", "debtor_effect")
    return found.with_columns(pl.Series("will", will))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="caseflow-learnable-") as folder, threadpool_limits(1):
        home = Path(folder)
        con = warehouse.connect(home)
        load_history(con)
        p = plan(snapshot_nights(con, None), TrainConfig())
        night = p.validation[-1]
        rows = (
            label_frame(con, night, night, p.known_by)
            .join(
                prepare(feature_frame(con, night, night)),
                on=["business_date", "client_id", "case_id"],
            )
            .join(willingness(), on=["client_id", "case_id"])
        )
        y = rows.get_column("repaid").to_numpy()
        recent = (rows.get_column("days_since_right_party").to_numpy() <= 14).astype(float)
        broken = rows.get_column("promises_broken").to_numpy()
        ceiling = rows.get_column("will").to_numpy() + 1.1 * recent - 0.35 * broken
        visible = ceiling - rows.get_column("debtor_effect").to_numpy()
        card = train(con, home).card
        con.close()
    print(
        json.dumps(
            {
                "holdout_night": night.isoformat(),
                "rows": int(y.size),
                "payers": int(y.sum()),
                "roc_auc": {
                    "ceiling": round(float(roc_auc_score(y, ceiling)), 3),
                    "without_debtor_effect": round(float(roc_auc_score(y, visible)), 3),
                    "model": card["metrics"]["model"]["roc_auc"],
                    "baseline": card["metrics"]["baseline"]["roc_auc"],
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
