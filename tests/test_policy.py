from pathlib import Path

import pytest

from pipeline.errors import PolicyError
from pipeline.policy import Policy, load_policy


def test_defaults_are_the_domain_numbers() -> None:
    policy = load_policy(None)
    assert policy.phone.cost == 3.0
    assert policy.letter.cost == 15.0
    assert policy.visit.cost == 200.0
    assert policy.letter_min_amount == 1000.0
    assert policy.extension_notice_days == 3
    assert policy.rule_pack == "cn-2026"


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("letter_min_amount = 2000\n[visit]\ncost = 150\n", encoding="utf-8")
    policy = load_policy(path)
    assert policy.letter_min_amount == 2000.0
    assert policy.visit.cost == 150.0
    assert policy.visit.effect == Policy().visit.effect
    assert policy.digest() != Policy().digest()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("leter_min_amount = 2000\n", "leter_min_amount"),
        ("letter_min_amount = 'lots'\n", "letter_min_amount"),
        ("cycle_days = 0\n", "cycle_days"),
        ("[phone]\ncots = 3\n", "phone.cots"),
        ("rule_pack = 'eu'\n", "rule_pack"),
        ("call_window = '8-22'\n", "call_window"),
        ("letter_min_amount = \n", "not valid TOML"),
        ("cooling_off_days = 0\n", "cooling_off_days"),
        ("cooling_off_days = 1.5\n", "cooling_off_days"),
        ("legal_review_min_balance = -1\n", "legal_review_min_balance"),
        ("legal_review_refusals = 'two'\n", "legal_review_refusals"),
    ],
)
def test_a_bad_setting_is_named(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=named) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


def test_strategy_settings_have_defaults_and_can_be_set(tmp_path: Path) -> None:
    assert Policy().cooling_off_days == 7
    assert Policy().legal_review_min_balance == 50000.0
    assert Policy().legal_review_refusals == 2
    path = tmp_path / "policy.toml"
    path.write_text(
        "rule_pack = 'us-regf'\ncooling_off_days = 3\nlegal_review_min_balance = 20000\n",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert (policy.rule_pack, policy.cooling_off_days) == ("us-regf", 3)
    assert policy.legal_review_min_balance == 20000.0


def test_allocation_settings_have_defaults_and_can_be_set(tmp_path: Path) -> None:
    default = Policy()
    assert (default.continuity_limit, default.fairness_max_spread) == (1.0, 0.25)
    assert default.exact_max_cases == 100_000
    path = tmp_path / "policy.toml"
    path.write_text(
        "continuity_limit = 0.5\nfairness_max_spread = 0.4\nexact_max_cases = 5000\n",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert (policy.continuity_limit, policy.fairness_max_spread) == (0.5, 0.4)
    assert policy.exact_max_cases == 5000
    assert policy.digest() != default.digest()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("continuity_limit = 1.5\n", "at most 1"),
        ("continuity_limit = -0.1\n", "at least 0"),
        ("fairness_max_spread = nan\n", "expected a number"),
        ("exact_max_cases = 1.5\n", "whole number"),
        ("exact_max_cases = -1\n", "at least 0"),
    ],
)
def test_a_bad_allocation_setting_is_named(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=named) as caught:
        load_policy(path)
    assert text.split(" ")[0] in str(caught.value)


def test_policy_show_prints_a_file_that_loads_back_to_the_effective_policy(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    path = tmp_path / "policy.toml"
    path.write_text("rule_pack = 'us-regf'\n[visit]\ncost = 150\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["policy", "show", "--policy", str(path)])
    assert result.exit_code == 0, result.output
    shown = tmp_path / "shown.toml"
    shown.write_text(result.output, encoding="utf-8")
    assert load_policy(shown) == load_policy(path)
    assert 'rule_pack = "us-regf"' in result.output


def test_policy_check_exits_0_when_valid_and_2_naming_the_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("cooling_off_days = 5\n", encoding="utf-8")
    bad.write_text("legal_review_min_balance = 'high'\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["policy", "check", str(good)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 2
    assert "legal_review_min_balance" in result.output
    result = CliRunner().invoke(app, ["policy", "check", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2


# --- issue 4: rhythm, evidence, champion/challenger ------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_strategy_experiment_settings_have_defaults() -> None:
    policy = Policy()
    assert set(policy.rhythm_days.values()) == {1}  # every night, as before
    assert (policy.challenger_share, policy.challenger_seed) == (0.1, 2026)
    assert (policy.use_estimated_effects, policy.use_estimated_rhythm) == (False, False)
    assert policy.challenger.visit < policy.visit.effect
    assert policy.challenger.letter > policy.letter.effect


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_the_example_policies_load_and_show_back(path: Path, tmp_path: Path) -> None:
    from pipeline.policy import policy_toml

    policy = load_policy(path)
    assert policy != Policy()
    shown = tmp_path / "shown.toml"
    shown.write_text(policy_toml(policy), encoding="utf-8")
    assert load_policy(shown) == policy


def test_rhythm_and_challenger_tables_override_what_they_name(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[rhythm_days]\nM3 = 2\n"M7+" = 4\n[challenger]\nletter = 0.9\n', encoding="utf-8"
    )
    policy = load_policy(path)
    assert (policy.rhythm_days["M3"], policy.rhythm_days["M7+"], policy.rhythm_days["M1"]) == (
        2,
        4,
        1,
    )
    assert (policy.challenger.letter, policy.challenger.visit) == (0.9, Policy().challenger.visit)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("challenger_share = 1.5\n", "challenger_share"),
        ("challenger_seed = 'abc'\n", "challenger_seed"),
        ("challenger = 3\n", "challenger"),
        ("[challenger]\nvisit = 'x'\n", "challenger.visit"),
        ("[challenger]\nvist = 1\n", "challenger.vist"),
        ("[challenger]\nrhythm_days = 0\n", "challenger.rhythm_days"),
        ("[rhythm_days]\nM9 = 2\n", "rhythm_days.M9"),
        ("[rhythm_days]\nM2 = 0\n", "rhythm_days.M2"),
        ("rhythm_days = 3\n", "rhythm_days"),
        ("use_estimated_effects = 'yes'\n", "use_estimated_effects"),
        ("use_estimated_rhythm = 1\n", "use_estimated_rhythm"),
        ("evidence_days = 0\n", "evidence_days"),
        ("evidence_horizon_days = 2.5\n", "evidence_horizon_days"),
    ],
)
def test_a_bad_strategy_setting_is_named(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=named) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)
