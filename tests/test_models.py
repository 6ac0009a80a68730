"""The repayment model: point-in-time features, labels, training, the card, the registry
(show, compare, promote, tampering), scoring with faithful reasons and drift, the R6 rule.

Most tests use one warehouse built from the samples' 13 history nights (once per module) and
one model trained on it; the label and rule tests build tiny warehouses or frames of their own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from threadpoolctl import threadpool_limits

from models import reasons as reasons_module
from models import registry as registry_module
from models.features import (
    CATEGORICAL,
    FEATURE_NAMES,
    NUMERIC,
    feature_frame,
    label_frame,
    prepare,
)
from models.learner import Encoder
from models.registry import Registry
from models.score import model_scores, rule_scores, score_night
from models.train import TrainConfig, TrainResult, plan, train
from pipeline import warehouse
from pipeline.errors import ModelError
from pipeline.load import load
from tests.warehouse_fixture import NO_REJECTS, File, load_history

LAST_NIGHT = date(2026, 11, 16)  # the last history night of the samples
PAST_NIGHT = date(2026, 10, 12)  # a night with later history loaded after it


@dataclass(frozen=True)
class Trained:
    home: Path
    result: TrainResult


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """As training and scoring run: the trees on one OpenMP thread (see models.score)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def warehouse_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="module")
def con(warehouse_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse after all 13 history nights of the samples."""
    connection = warehouse.connect(warehouse_dir)
    load_history(connection)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def trained(con: duckdb.DuckDBPyConnection, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    home = tmp_path_factory.mktemp("trained")
    return Trained(home, train(con, home))


def _copy_home(trained: Trained, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(trained.home, home)
    return home


# ---- features never look past the night --------------------------------------------------


def test_features_ignore_everything_after_the_night(con: duckdb.DuckDBPyConnection) -> None:
    """Payments and notes dated after t (received later, as they would be) change nothing."""
    before = feature_frame(con, PAST_NIGHT, PAST_NIGHT)
    after_night = PAST_NIGHT + timedelta(days=1)
    con.execute("begin transaction")
    try:
        con.execute(
            "insert into payments select client_id, 'late-' || case_id, case_id, $day, 5000, $day "
            "from case_snapshots where business_date = $night",
            {"day": after_night, "night": PAST_NIGHT},
        )
        con.execute(
            "insert into contacts select client_id, 'late-' || case_id, case_id, 'P001', 'phone', "
            "$at, 'promise_to_pay', 900, $day, true, $day "
            "from case_snapshots where business_date = $night",
            {
                "at": datetime.combine(after_night, datetime.min.time()),
                "day": after_night,
                "night": PAST_NIGHT,
            },
        )
        later = feature_frame(con, PAST_NIGHT, PAST_NIGHT)
        # the same notes dated late on the night itself do count: the window ends at midnight
        con.execute(
            "update contacts set contacted_at = contacted_at - interval 1 minute, "
            "business_date = $night where note_id like 'late-%'",
            {"night": PAST_NIGHT},
        )
        same_night = feature_frame(con, PAST_NIGHT, PAST_NIGHT)
    finally:
        con.execute("rollback")
    assert later.equals(before)
    assert (
        same_night.get_column("promises_made").sum()
        == before.get_column("promises_made").sum() + before.height
    )


def test_features_of_a_past_night_equal_those_computed_that_night(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """A warehouse that stopped at t and the full one give the same features for night t."""
    then = warehouse.connect(tmp_path)
    load_history(then, until=PAST_NIGHT)
    try:
        assert feature_frame(then, PAST_NIGHT, PAST_NIGHT).equals(
            feature_frame(con, PAST_NIGHT, PAST_NIGHT)
        )
    finally:
        then.close()


# ---- the label ---------------------------------------------------------------------------

T = date(2026, 1, 5)  # a crafted night


def _cases(*rows: tuple[str, float, str]) -> pl.DataFrame:
    """(case_id, amount_owed, status) rows of one client's cases file."""
    n = len(rows)
    return pl.DataFrame(
        {
            "client_id": ["EASTBANK"] * n,
            "case_id": [r[0] for r in rows],
            "batch_id": ["B1"] * n,
            "product": ["credit_card"] * n,
            "customer_id": [f"D-{r[0]}" for r in rows],
            "customer_name": ["name"] * n,
            "id_number": [None] * n,
            "card_number": [None] * n,
            "phone": [None] * n,
            "address": [None] * n,
            "province": ["浙江"] * n,
            "city": ["杭州"] * n,
            "district": [None] * n,
            "principal": [r[1] for r in rows],
            "amount_owed": [r[1] for r in rows],
            "days_overdue": pl.Series([40] * n, dtype=pl.Int32),
            "last_payment_date": pl.Series([None] * n, dtype=pl.Date),
            "last_payment_amount": pl.Series([None] * n, dtype=pl.Float64),
            "handover_date": [T - timedelta(days=10)] * n,
            "return_date": [T + timedelta(days=90)] * n,
            "status": [r[2] for r in rows],
            "do_not_contact": [False] * n,
            "_file": ["cases.csv"] * n,
            "_row": list(range(2, n + 2)),
        }
    )


def _payments(*rows: tuple[str, int, float]) -> pl.DataFrame:
    """(case_id, days after T, amount) rows of a payments file."""
    return pl.DataFrame(
        {
            "client_id": ["EASTBANK"] * len(rows),
            "payment_id": [f"p{i}" for i in range(len(rows))],
            "case_id": [r[0] for r in rows],
            "paid_on": [T + timedelta(days=r[1]) for r in rows],
            "amount": [r[2] for r in rows],
            "_file": ["payments.csv"] * len(rows),
            "_row": list(range(2, len(rows) + 2)),
        }
    )


def test_label_is_one_payment_of_at_least_min_100_or_balance_within_30_days(
    tmp_path: Path,
) -> None:
    con = warehouse.connect(tmp_path)
    cases = _cases(
        ("paid_day_30", 5000.0, "active"),  # 100 yuan on t+30: in the window
        ("paid_day_31", 5000.0, "active"),  # on t+31: too late
        ("paid_on_t", 5000.0, "active"),  # on t itself: before the window
        ("small_balance", 60.0, "active"),  # pays off 60 < 100: counts (min(100, balance))
        ("too_little", 5000.0, "active"),  # 99 yuan: not enough
        ("two_halves", 5000.0, "active"),  # 60 + 60: no single payment of 100
        ("never", 5000.0, "active"),
        ("disputed", 5000.0, "disputed"),  # not active at t: no label row
    )
    load(con, {"cases": cases}, NO_REJECTS, [File("cases.csv", "s1", "cases")], T)
    payments = _payments(
        ("paid_day_30", 30, 100.0),
        ("paid_day_31", 31, 5000.0),
        ("paid_on_t", 0, 5000.0),
        ("small_balance", 3, 60.0),
        ("too_little", 5, 99.0),
        ("two_halves", 2, 60.0),
        ("two_halves", 9, 60.0),
        ("disputed", 4, 5000.0),
    )
    later = T + timedelta(days=35)
    load(con, {"payments": payments}, NO_REJECTS, [File("p.csv", "s2", "payments")], later)

    labels = label_frame(con, T, T, known_by=later)
    got = dict(labels.select("case_id", "repaid").iter_rows())
    assert got == {
        "paid_day_30": 1,
        "paid_day_31": 0,
        "paid_on_t": 0,
        "small_balance": 1,
        "too_little": 0,
        "two_halves": 0,
        "never": 0,
    }
    # the horizon and the amount are parameters
    wider = label_frame(con, T, T, known_by=later, horizon_days=31, min_payment=50.0)
    got = dict(wider.select("case_id", "repaid").iter_rows())
    assert got["paid_day_31"] == got["too_little"] == got["two_halves"] == 1
    # a payment the warehouse had not received by known_by does not count
    early = label_frame(con, T, T, known_by=T + timedelta(days=34))
    assert early.get_column("repaid").sum() == 0
    con.close()


# ---- training ----------------------------------------------------------------------------


def test_the_model_ranks_payers_well_on_held_out_nights(trained: Trained) -> None:
    card = trained.result.card
    model, baseline = card["metrics"]["model"], card["metrics"]["baseline"]
    # the samples' generator leaves a debtor effect no model can see: ~0.75-0.8 is good
    assert model["roc_auc"] > 0.75
    assert model["roc_auc"] >= baseline["roc_auc"] - 0.01
    # calibrated: the mean probability is near the observed rate, and beats guessing the rate
    rate = model["positive_rate"]
    assert abs(model["mean_p"] - rate) < 0.03
    assert model["brier"] < rate * (1 - rate)
    # held out means later, and no outcome window of the training nights reaches into it
    check = card["validation"]
    assert max(check["training_nights"]) < min(check["nights"])
    last_trained = date.fromisoformat(max(check["training_nights"]))
    assert last_trained + timedelta(days=30) <= date.fromisoformat(min(check["nights"]))
    deciles = model["deciles"]
    assert deciles[0]["observed_rate"] > 3 * deciles[-1]["observed_rate"]


def test_training_saves_a_card_and_a_champion(trained: Trained) -> None:
    result = trained.result
    assert result.champion
    assert Registry(trained.home).champion() is not None
    card = json.loads(result.card_path.read_text(encoding="utf-8"))
    assert card["sha256"] == result.sha256
    assert [f["name"] for f in card["features"]] == list(FEATURE_NAMES)
    assert card["data"]["last_night"] == "2026-10-12"  # 2026-10-12 + 30 days <= 2026-11-16
    assert set(card["libraries"]) >= {"scikit-learn", "skops", "numpy", "polars", "duckdb"}
    # no debtor data in the card: no case, customer or client ids, no names
    text = result.card_path.read_text(encoding="utf-8")
    for marker in ("EA000", "NO000", "SO000", "EASTBANK", "customer_name"):
        assert marker not in text
    summary = result.summary()
    assert "ROC AUC" in summary and "baseline" in summary and "champion" in summary


@pytest.mark.slow
def test_training_twice_gives_the_same_model(
    con: duckdb.DuckDBPyConnection, trained: Trained, tmp_path: Path
) -> None:
    again = train(con, tmp_path)
    assert again.card["metrics"] == trained.result.card["metrics"]
    assert again.card["data"]["sha256"] == trained.result.card["data"]["sha256"]
    for part in ("calibration", "segments", "comparison", "drift_reference"):
        assert again.card[part] == trained.result.card[part]
    assert again.card["permutation_importance"] == trained.result.card["permutation_importance"]
    first = score_night(con, trained.home, LAST_NIGHT).frame
    second = score_night(con, tmp_path, LAST_NIGHT).frame
    assert first.equals(second)


def test_too_little_history_is_refused_with_advice(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path)
    with pytest.raises(ModelError, match="no case history"):
        train(con, tmp_path)
    load_history(con, until=date(2026, 9, 28))  # 6 weekly nights: no complete window to judge
    with pytest.raises(ModelError, match="caseflow load"):
        train(con, tmp_path)
    assert Registry(tmp_path).champion() is None
    con.close()


def test_too_few_payers_is_refused(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="payers"):
        train(con, tmp_path, config=TrainConfig(min_training_payers=100_000))


# ---- the registry ------------------------------------------------------------------------


def test_a_tampered_model_file_is_refused(
    con: duckdb.DuckDBPyConnection, trained: Trained, tmp_path: Path
) -> None:
    home = _copy_home(trained, tmp_path)
    path = home / "models" / trained.result.version / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        score_night(con, home, LAST_NIGHT)
    with pytest.raises(ModelError, match="SHA-256"):
        Registry(home).promote(trained.result.version)


def test_a_model_file_with_unexpected_types_is_refused(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "TRUSTED_TYPES", frozenset())
    with pytest.raises(ModelError, match="does not trust"):
        Registry(trained.home).load(trained.result.version)


@pytest.mark.slow
def test_versions_are_listed_and_promoted(
    con: duckdb.DuckDBPyConnection, trained: Trained, tmp_path: Path
) -> None:
    home = _copy_home(trained, tmp_path)
    first = trained.result.version
    second = train(con, home)
    assert not second.champion  # a new version never replaces the champion by itself
    registry = Registry(home)
    lines = registry.describe_versions()
    assert len(lines) == 2
    assert lines[0].startswith(f"* {first}") and lines[1].startswith(f"  {second.version}")
    registry.promote(second.version)
    champion = registry.champion()
    assert champion is not None and champion.version == second.version
    assert Registry(home).describe_versions()[1].startswith(f"* {second.version}")
    with pytest.raises(ModelError, match=rf"v999.*known versions: {first}, {second.version}"):
        registry.promote("v999")
    assert json.loads((home / "models" / "registry.json").read_text())["champion"] == second.version


def test_an_empty_registry_says_so(tmp_path: Path) -> None:
    assert "caseflow train" in Registry(tmp_path).describe_versions()[0]
    with pytest.raises(ModelError, match="none yet"):
        Registry(tmp_path).promote("v001-20261116")


# ---- scoring -----------------------------------------------------------------------------


def test_the_champion_scores_every_case_of_the_night(
    con: duckdb.DuckDBPyConnection, trained: Trained
) -> None:
    scores = score_night(con, trained.home, LAST_NIGHT)
    assert scores.method == "model"
    assert scores.model_version == trained.result.version
    assert scores.model_sha256 == trained.result.sha256
    frame = scores.frame
    snapshot = con.execute(
        "select count(*) from case_snapshots where business_date = ?", [LAST_NIGHT]
    ).fetchall()
    assert frame.height == snapshot[0][0]
    assert frame.schema == pl.Schema(
        {
            "client_id": pl.Utf8,
            "case_id": pl.Utf8,
            "p_repay": pl.Float64,
            "expected_recovery": pl.Float64,
            "reasons": pl.Utf8,
        }
    )
    assert frame.get_column("p_repay").is_between(0, 1).all()
    balances = feature_frame(con, LAST_NIGHT, LAST_NIGHT).select("client_id", "case_id", "balance")
    joined = frame.join(balances, on=["client_id", "case_id"])
    assert np.allclose(joined["expected_recovery"], joined["p_repay"] * joined["balance"])
    factors = frame.get_column("reasons").str.count_matches("; ") + 1
    assert factors.max() == 3 and (factors >= 1).all()  # up to three, at least one
    assert (factors == 3).sum() > 0.9 * factors.len()


def test_reasons_name_the_factors_that_move_the_score(
    con: duckdb.DuckDBPyConnection, trained: Trained
) -> None:
    frame = score_night(con, trained.home, LAST_NIGHT).frame.sort("p_repay")
    top = frame.tail(50).get_column("reasons")
    bottom = frame.head(50).get_column("reasons")
    # the best cases are mostly explained by what raises the score, the worst by what lowers it
    assert top.str.count_matches(r"\(\+\)").sum() > 2 * top.str.count_matches(r"\(-\)").sum()
    assert bottom.str.count_matches(r"\(-\)").sum() > 2 * bottom.str.count_matches(r"\(\+\)").sum()
    assert not frame.get_column("reasons").str.contains("EA000|NO000|SO000").any()


def test_without_a_champion_the_night_is_scored_by_the_rule(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    scores = score_night(con, tmp_path, LAST_NIGHT)
    assert scores.method == "rule"
    assert scores.model_version is None and scores.model_sha256 is None
    assert scores.frame.get_column("p_repay").is_between(0, 1).all()
    assert scores.frame.get_column("reasons").str.starts_with("R6 rule").all()


def _rule_case(case_id: str, **values: float) -> dict[str, object]:
    row: dict[str, object] = {name: 0.0 for name in FEATURE_NAMES if not name.startswith("prod")}
    row.update(
        client_id="EASTBANK",
        case_id=case_id,
        product="credit_card",
        balance=5000.0,
        days_overdue=60,
        days_since_right_party=None,
    )
    row.update(values)
    return row


def test_the_rule_ranks_by_ability_to_pay_then_days_overdue() -> None:
    frame = pl.DataFrame(
        [
            _rule_case("nothing_fresh", days_overdue=30),
            _rule_case("nothing_old", days_overdue=400),
            _rule_case("reached", days_since_right_party=3, days_overdue=500),
            _rule_case("paid_90d", paid_90d=300.0, days_overdue=400),
            _rule_case("paid_30d", paid_30d=300.0, paid_90d=300.0, days_overdue=400),
            _rule_case(
                "everything",
                paid_30d=300.0,
                paid_90d=300.0,
                days_since_right_party=2,
                promises_kept=1,
                promises_open=1,
                days_overdue=900,
            ),
        ]
    )
    scores = rule_scores(frame)
    order = scores.sort("p_repay", descending=True).get_column("case_id").to_list()
    assert order == [
        "everything",
        "paid_30d",
        "paid_90d",  # a payment within 90 days and a recent right-party contact weigh the
        "reached",  # same: then fewer days overdue first
        "nothing_fresh",  # no ability shown: fewer days overdue first
        "nothing_old",
    ]
    assert scores.get_column("p_repay").is_between(0, 1).all()
    reasons = dict(scores.select("case_id", "reasons").iter_rows())
    assert (
        reasons["paid_30d"]
        == "R6 rule (no trained model): paid in the last 30 days; 400 days overdue"
    )
    p = dict(scores.select("case_id", "p_repay").iter_rows())
    assert np.isclose(
        scores.filter(pl.col("case_id") == "paid_30d")["expected_recovery"][0],
        p["paid_30d"] * 5000.0,
    )


def test_feature_matrix_is_complete_and_ordered(con: duckdb.DuckDBPyConnection) -> None:
    frame = prepare(feature_frame(con, LAST_NIGHT, LAST_NIGHT))
    encoder = Encoder.fit(frame, NUMERIC, CATEGORICAL)
    x = encoder.matrix(frame)
    assert x.shape == (frame.height, len(FEATURE_NAMES))
    assert encoder.columns == FEATURE_NAMES
    assert np.isfinite(x).all()  # "never" reads as a year, counts as 0: nothing missing
    # the product is one column of codes, one per product seen
    products = x[:, FEATURE_NAMES.index("product")]
    assert set(products) == set(range(len(encoder.category_names("product"))))
    # the overdue stage is days overdue in months, as banks group them (M0 ... M7+)
    days = frame.get_column("days_overdue").to_numpy()
    stage = frame.get_column("overdue_stage").to_numpy()
    expected = np.where(days <= 0, 0, np.minimum((days - 1) // 30 + 1, 7))
    assert (stage == expected).all()


def test_a_night_without_cases_scores_nothing(
    con: duckdb.DuckDBPyConnection, trained: Trained, tmp_path: Path
) -> None:
    for home in (trained.home, tmp_path):
        scores = score_night(con, home, date(2030, 1, 1))
        assert scores.frame.is_empty()
        assert list(scores.frame.columns) == [
            "client_id",
            "case_id",
            "p_repay",
            "expected_recovery",
            "reasons",
        ]


def test_the_nights_are_split_out_of_time() -> None:
    weekly = [date(2026, 8, 24) + timedelta(days=7 * k) for k in range(13)]
    p = plan(weekly, TrainConfig())
    assert p.known_by == date(2026, 11, 16)
    assert p.nights[-1] == date(2026, 10, 12)  # the last night whose 30 days are known
    assert p.validation == [date(2026, 10, 12)]
    assert p.backtest == weekly[:3]  # windows closed by the held-out night: up to 2026-09-07
    with pytest.raises(ModelError, match="at least 67 days"):
        plan(weekly[:9], TrainConfig())


def test_training_as_of_a_past_night_sees_only_the_history_until_then(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="2026-08-24 to 2026-10-12"):
        train(con, tmp_path, as_of=date(2026, 10, 15))


def test_top_factors_are_the_largest_contributions_in_a_stable_order() -> None:
    rng = np.random.default_rng(7)
    magnitude = rng.integers(0, 5, size=(31, 2000)).astype(np.float64)  # many ties
    expected = np.argsort(-magnitude.T, axis=1, kind="stable")[:, :3].T
    assert (reasons_module._largest(magnitude.copy(), 3) == expected).all()


def test_phrases_worded_once_per_distinct_value_are_those_worded_row_by_row() -> None:
    """The reasons word each distinct value once and join the words back: the same text for
    every row as wording each row, with 0.0 and -0.0 and the sign of the effect kept apart."""
    rng = np.random.default_rng(5)
    made = rng.integers(0, 4, 3000).astype(np.float64)
    kept = np.minimum(made, rng.integers(0, 3, 3000)).astype(np.float64)
    due = np.where(rng.random(3000) < 0.5, -0.0, 0.0)
    group = pl.DataFrame(
        {
            reasons_module.RAISES: rng.random(3000) < 0.5,
            "promises_made": made,
            "promises_kept": kept,
            "promises_broken": made - kept,
            "promises_open": due,
        }
    )
    words = reasons_module.PHRASES["promises"]
    sign = pl.when(pl.col(reasons_module.RAISES)).then(pl.lit(" (+)")).otherwise(pl.lit(" (-)"))
    expected = group.select(pl.concat_str(words, sign)).to_series()
    found = reasons_module._worded(group, words)
    assert found.to_list() == expected.to_list()


def test_the_screen_is_the_weighted_distance_summed_per_factor() -> None:
    """``standing_out`` column by column gives the whole-matrix formula, to the bit: a missing
    value against a known reference counts 1, missing against a missing reference 0."""
    rng = np.random.default_rng(3)
    x = np.asfortranarray(rng.gamma(2.0, 20.0, size=(500, 4)))
    x[rng.random(x.shape) < 0.2] = np.nan
    explainer = reasons_module.Explainer(
        columns=("a", "b", "c", "d"),
        reference=(10.0, float("nan"), 3.0, 0.5),
        scale=(2.0, 1.0, 4.0, 1.0),
        weight=(0.3, 0.1, 0.2, 0.05),
        factors=(("ab", (0, 1)), ("c", (2,)), ("dc", (3, 2))),
    )
    reference = np.asarray(explainer.reference)
    distance = np.abs(x.T - reference[:, None])
    distance = np.where(np.isnan(x.T) != np.isnan(reference)[:, None], 1.0, distance)
    distance = np.nan_to_num(distance, nan=0.0)
    distance *= (np.asarray(explainer.weight) / np.asarray(explainer.scale))[:, None]
    expected = np.stack([distance[list(cols)].sum(axis=0) for _, cols in explainer.factors])
    assert np.array_equal(explainer.standing_out(x), expected)


# ---- the card: what an analyst reads ----------------------------------------------------


def test_the_card_holds_the_evaluation_for_model_and_baseline(trained: Trained) -> None:
    card = json.loads(trained.result.card_path.read_text(encoding="utf-8"))
    for score in ("model", "baseline"):
        m = card["metrics"][score]
        assert {"roc_auc", "pr_auc", "brier", "ks"} <= set(m)
        deciles = m["deciles"]
        assert [d["decile"] for d in deciles] == list(range(1, 11))
        assert deciles[-1]["capture"] == 1.0 and deciles[0]["lift"] > 2
        bins = card["calibration"][score]["bins"]
        assert len(bins) == 10 and sum(b["rows"] for b in bins) == m["rows"]
        # calibrated: each tenth's observed pay rate is near its mean probability
        assert card["calibration"][score]["ece"] < 0.03
        assert set(card["permutation_importance"][score]) == set(FEATURE_NAMES)
    products = {s["value"]: s for s in card["segments"]["product"]}
    assert {"credit_card", "cash_loan"} <= set(products)
    assert sum(s["rows"] for s in products.values()) == card["validation"]["rows"]
    stages = {s["value"] for s in card["segments"]["stage"]}
    assert stages <= {"M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"} and len(stages) > 3
    for segment in products.values():
        assert 0.5 < segment["model_roc_auc"] <= 1 and 0.5 < segment["baseline_roc_auc"] <= 1
    # the verdict says whether the model beats the baseline, with DeLong's interval
    low, high = card["comparison"]["interval_95"]
    assert low <= card["comparison"]["difference"] <= high
    assert "baseline" in card["verdict"] and "95% interval" in card["verdict"]
    # the training window and a hash of exactly what was learned
    assert card["data"]["window"] == {
        "first_night": "2026-08-24",
        "last_night": "2026-10-12",
        "known_by": "2026-11-16",
    }
    assert len(card["data"]["sha256"]) == 64
    record = Registry(trained.home).record(trained.result.version)
    assert record.window == card["data"]["window"]
    assert record.data_sha256 == card["data"]["sha256"]
    # the drift reference: the score and the main features, bins and shares
    reference = card["drift_reference"]["columns"]
    assert "p_repay" in reference and len(reference) == 9
    assert all(abs(sum(r["shares"]) - 1) < 1e-3 for r in reference.values())


def test_the_card_page_is_self_contained_and_holds_no_debtor_data(trained: Trained) -> None:
    page = trained.result.html_path.read_text(encoding="utf-8")
    card = trained.result.card
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") >= 5  # ROC, PR, calibration, segments, importance
    for section in ("verdict", "figures", "curves", "deciles", "segments", "importance"):
        assert f"id={section}" in page or f'id="{section}"' in page
    assert f"{card['metrics']['model']['roc_auc']:.3f}" in page
    assert card["data"]["sha256"] in page
    lowered = page.lower()
    for outside in ("http:", "https:", "<script", "src=", "<link", "@import", "url("):
        assert outside not in lowered
    for marker in ("EA000", "NO000", "SO000", "EASTBANK", "customer_name", "id_number"):
        assert marker not in page


# ---- the registry on the command line ----------------------------------------------------


def _second_version(home: Path, first: str) -> str:
    """Register a copy of ``first`` as a second version (the same recipe, the same data)."""
    registry = Registry(home)
    second = first.replace("v001", "v002")
    shutil.copytree(home / "models" / first, home / "models" / second)
    record = registry.record(first)
    changed = {"version": second, "file": f"{second}/model.skops", "card": f"{second}/card.json"}
    registry.register(registry_module.ModelRecord(**{**record.__dict__, **changed}))
    return second


@pytest.fixture()
def cli_home(
    trained: Trained, con: duckdb.DuckDBPyConnection, warehouse_dir: Path, tmp_path: Path
) -> Path:
    """The trained home with a copy of the samples' warehouse, for the command line."""
    home = _copy_home(trained, tmp_path)
    con.execute("checkpoint")
    shutil.copy(warehouse_dir / "warehouse.duckdb", home / "warehouse.duckdb")
    return home


def test_models_show_and_compare_side_by_side(trained: Trained, cli_home: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    first = trained.result.version
    second = _second_version(cli_home, first)
    runner = CliRunner()
    home = ["--home", str(cli_home)]
    shown = runner.invoke(app, ["models", "show", first, *home])
    assert shown.exit_code == 0, shown.output
    assert "(champion)" in shown.output and "intact" in shown.output
    assert "nights 2026-08-24..2026-10-12" in shown.output
    assert "ROC AUC by product" in shown.output and "card.html" in shown.output

    compared = runner.invoke(app, ["models", "compare", first, second, *home])
    assert compared.exit_code == 0, compared.output
    assert "same hold-out: 2,898 case-nights of 2026-10-12" in compared.output
    assert "ROC AUC product credit_card" in compared.output
    # scored on the same rows, each version's figures are its card's hold-out figures
    as_json = runner.invoke(app, ["models", "compare", first, second, *home, "--json"])
    figures = json.loads(as_json.output)
    card = trained.result.card["metrics"]["model"]
    for version in (first, second):
        for key in ("roc_auc", "pr_auc", "brier", "ks", "rows"):
            assert figures["metrics"][version][key] == card[key]
    assert figures["roc_auc_difference_b_minus_a"]["difference"] == 0.0

    promoted = runner.invoke(app, ["models", "promote", second, *home])
    assert promoted.exit_code == 0, promoted.output
    champion = Registry(cli_home).champion()
    assert champion is not None and champion.version == second
    unknown = runner.invoke(app, ["models", "show", "v999", *home])
    assert unknown.exit_code == 1 and "known versions" in unknown.output


def test_a_tampered_model_file_is_refused_with_a_clear_message(
    trained: Trained, cli_home: Path
) -> None:
    from typer.testing import CliRunner

    from cli import app

    first = trained.result.version
    second = _second_version(cli_home, first)
    path = cli_home / "models" / second / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    runner = CliRunner()
    home = ["--home", str(cli_home)]
    for args in (["promote", second], ["compare", first, second]):
        result = runner.invoke(app, ["models", *args, *home])
        assert result.exit_code == 1, result.output
        assert "SHA-256" in result.output and "changed after training" in result.output
        assert f"model {second}:" in result.output  # named in full, not masked as a number
        assert "Traceback" not in result.output
    shown = runner.invoke(app, ["models", "show", second, *home])
    assert shown.exit_code == 0 and "REFUSED" in shown.output
    champion = Registry(cli_home).champion()
    assert champion is not None and champion.version == first  # unchanged


def test_a_tampered_model_whose_hash_starts_with_digits_still_says_sha_256(
    trained: Trained, cli_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digest such as 123456789abc… once read as one phone-like run with "SHA-256" before it,
    and the masking of the printed message swallowed the words (a flaky test found it)."""
    from typer.testing import CliRunner

    from cli import app

    second = _second_version(cli_home, trained.result.version)
    monkeypatch.setattr(registry_module, "sha256_of", lambda data: "1234567890ab" + "0" * 52)
    result = CliRunner().invoke(app, ["models", "promote", second, "--home", str(cli_home)])
    assert result.exit_code == 1, result.output
    assert "SHA-256 digest" in result.output and "changed after training" in result.output


def test_comparing_versions_that_predict_different_things_is_refused(
    trained: Trained, cli_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import compare as compare_module

    first = trained.result.version
    second = _second_version(cli_home, first)
    real = compare_module._label

    def label(loaded: registry_module.LoadedModel) -> dict[str, object]:
        found = real(loaded)
        return {**found, "horizon_days": 45} if loaded.version == second else found

    monkeypatch.setattr(compare_module, "_label", label)
    connection = warehouse.connect(cli_home, read_only=True)
    try:
        with pytest.raises(ModelError, match="predict different things"):
            compare_module.compare(connection, cli_home, first, second)
        with pytest.raises(ModelError, match="two different versions"):
            compare_module.compare(connection, cli_home, first, first)
    finally:
        connection.close()


# ---- reasons are faithful ---------------------------------------------------------------


def _night(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return prepare(feature_frame(con, LAST_NIGHT, LAST_NIGHT))


def test_resetting_a_cases_top_factor_moves_its_score_as_stated(
    con: duckdb.DuckDBPyConnection, trained: Trained
) -> None:
    """For every case: set the top factor to its typical value, score again; a "(+)" factor's
    removal lowers the score, a "(-)" factor's raises it, by the stated effect."""
    loaded = Registry(trained.home).load(trained.result.version)
    model, explainer = loaded.model, loaded.explainer
    x = model.encoder.matrix(_night(con))
    explanation = explainer.explain(model, x)
    top, effect = explanation.factors[0], explanation.effects[0]
    assert (top >= 0).all()  # every case has a top factor
    reset = x.copy()
    for f, (_, columns) in enumerate(explainer.factors):
        rows = top == f
        for j in columns:
            reset[rows, j] = explainer.reference[j]
    moved = model.probability_of(x) - model.probability_of(reset)
    assert (np.sign(moved) == np.sign(effect)).all()
    assert np.allclose(moved, effect)
    # and the words say the same: the first reason's mark is the effect's sign
    words = explainer.reasons(model, x).str.split("; ").list.first()
    assert (words.str.ends_with("(+)").to_numpy() == (effect > 0)).all()
    # the top factor is the largest of the named ones
    assert (np.abs(explanation.effects[0]) >= np.abs(explanation.effects[1])).all()


def test_a_case_explained_alone_gets_the_reasons_it_gets_among_the_others(
    con: duckdb.DuckDBPyConnection, trained: Trained
) -> None:
    """Each case's reasons depend on that case alone: the night words them for its worked
    cases only, and ``caseflow explain`` for one held case. One case alone once got none."""
    loaded = Registry(trained.home).load(trained.result.version)
    model, explainer = loaded.model, loaded.explainer
    x = model.encoder.matrix(_night(con))
    together = explainer.reasons(model, x)
    picked = [0, 1, 7, x.shape[0] - 1]
    alone = [explainer.reasons(model, x[i : i + 1])[0] for i in picked]
    assert all(alone) and alone == [together[i] for i in picked]
    assert explainer.reasons(model, x[picked]).to_list() == alone
    screen = np.ones((len(explainer.factors), 1))
    reasons_module._largest(screen, 3)
    assert (screen == 1).all()  # the caller's screen is left as it was


def test_a_collectors_reason_holds_when_the_fact_changes(
    con: duckdb.DuckDBPyConnection, trained: Trained
) -> None:
    """A case explained by broken promises: without them (as most cases are), the score rises;
    a case explained by a recent payment: without it, the score falls."""
    loaded = Registry(trained.home).load(trained.result.version)
    night = feature_frame(con, LAST_NIGHT, LAST_NIGHT)
    scored = model_scores(night, loaded)[0].with_row_index("row")
    first = scored.get_column("reasons").str.split("; ").list.first()
    checked = 0
    changes: dict[str, dict[str, float | None]] = {
        "broken promise": {
            "promises_made": 0,
            "promises_kept": 0,
            "promises_broken": 0,
            "promises_open": 0,
        },
        "paid ": {
            "payments_count": 0,
            "days_since_last_payment": None,
            "paid_30d": 0.0,
            "paid_90d": 0.0,
            "share_repaid": 0.0,
        },
    }
    for marker, values in changes.items():
        hits = scored.filter(first.str.contains(marker, literal=True))
        assert hits.height > 0, f"no case explained first by {marker!r}"
        row = int(hits.get_column("row")[0])
        reason = str(first[row])
        case = night.slice(row, 1)
        changed = case.with_columns(
            pl.lit(v).cast(case.schema[k]).alias(k) for k, v in values.items()
        )
        before = model_scores(case, loaded)[0].get_column("p_repay")[0]
        after = model_scores(changed, loaded)[0].get_column("p_repay")[0]
        assert (after < before) if reason.endswith("(+)") else (after > before), reason
        checked += 1
    assert checked == 2


# ---- drift --------------------------------------------------------------------------------


def test_the_night_carries_its_drift_against_the_training_data(
    con: duckdb.DuckDBPyConnection, trained: Trained
) -> None:
    from models.drift import PSI_WARN
    from models.score import Scores

    scores = score_night(con, trained.home, PAST_NIGHT)  # a night the model was trained on
    drift = scores.drift
    assert next(iter(drift)) == "p_repay" and len(drift) == 9
    assert all(0 <= v < PSI_WARN for v in drift.values()) and scores.drift_warning is None
    assert scores.drift_record()["shifted"] == []

    # the same night with its balances and days overdue shifted far past anything learned
    loaded = Registry(trained.home).load(trained.result.version)
    watched = [c for c in drift if c != "p_repay"]
    night = feature_frame(con, PAST_NIGHT, PAST_NIGHT)
    shifted = night.with_columns(
        (pl.col(c).cast(pl.Float64) * 5 + 400).cast(night.schema[c])
        for c in watched
        if c not in ("product",) and night.schema[c].is_numeric()
    )
    frame, moved = model_scores(shifted, loaded)
    warned = Scores(frame, "model", "v", "s", moved)
    assert max(moved.values()) > PSI_WARN
    assert warned.drift_warning is not None and "0.25" in warned.drift_warning
    assert set(warned.drift_record()["shifted"]) == {k for k, v in moved.items() if v > PSI_WARN}
