"""The policy: channel costs, thresholds and rules in force, as a TOML file with defaults.

Every setting has a default (the numbers of DOMAIN.md); a file only overrides what it names.
Loading checks every key and value and names the offending key, so a typo never passes silently.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import PolicyError

CHANNELS = ("phone", "visit", "letter")
STAGES = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+")  # strategy.overdue_stage
GROUPS = ("champion", "challenger")


@dataclass(frozen=True)
class ChannelSettings:
    """Cost of one unit of work, and the share of a debtor's expected payment it brings in."""

    cost: float
    effect: float


def _every_day() -> dict[str, int]:
    return dict.fromkeys(STAGES, 1)


@dataclass(frozen=True)
class ChallengerSettings:
    """The challenger strategy (issue 4, item 8): a lighter touch than the champion.

    Its own channel effect multipliers (visits valued less, letters more, so fewer visits and
    more letters where R11-R13 allow) and a slower contact rhythm: a debtor is worked at most
    every ``rhythm_days`` days (or the stage's rhythm, if slower).
    """

    phone: float = 1.0
    visit: float = 1.2
    letter: float = 0.6
    rhythm_days: int = 2

    def effect(self, channel: str) -> float:
        value: float = getattr(self, channel)
        return value


@dataclass(frozen=True)
class Policy:
    # Channel costs in yuan (phone an attempt, letter registered, visit) and effect multipliers.
    phone: ChannelSettings = field(default_factory=lambda: ChannelSettings(cost=3.0, effect=1.0))
    visit: ChannelSettings = field(default_factory=lambda: ChannelSettings(cost=200.0, effect=1.6))
    letter: ChannelSettings = field(default_factory=lambda: ChannelSettings(cost=15.0, effect=0.4))
    letter_min_amount: float = 1000.0  # R11: no letter at or below this amount owed
    extension_notice_days: int = 3  # R3: request an extension this many days before expiry
    cycle_days: int = 30  # R1: a case cycle is one month
    call_window: str = "08:00-22:00"  # cn-2026: no contact 22:00-08:00
    continuity_bonus: float = 0.10  # share of value added when a debtor stays with its collector
    # Share of a collector's daily capacity that debtors carried over from earlier in the cycle
    # may fill (1.0: continuity whenever there is room; lower keeps room for new cases' first call).
    continuity_limit: float = 1.0
    # Fairness (R25): within a pool, the spread of expected value per unit of capacity between
    # its collectors, fair up to one debtor: (highest, each leaving out its single best debtor,
    # minus lowest) / the pool's mean. Pools above it are rebalanced by trading debtors.
    fairness_max_spread: float = 0.25
    # Nights up to this many cases are solved exactly (the LP, rounded); larger ones by the fast
    # path (greedy at sampled LP prices), whose gap the LP dual bounds and the stats report.
    exact_max_cases: int = 100_000
    rule_pack: str = "cn-2026"
    # cn-2026: no contact with a debtor for this many days after a complaint (cooling-off).
    cooling_off_days: int = 7
    # R17-R18: wilful refusal (this many refusals noted) with a balance above this goes to legal
    # review instead of another call.
    legal_review_min_balance: float = 50000.0
    legal_review_refusals: int = 2
    # Contact rhythm (issue 4, item 6): a debtor is worked at most every N days, per overdue
    # stage (1: every night). A promise due, a broken promise or an extension due is worked anyway.
    rhythm_days: dict[str, int] = field(default_factory=_every_day)
    # Evidence from the warehouse history (pipeline/evidence.py): contacts of the last
    # ``evidence_days`` days, "paid" = a payment within ``evidence_horizon_days`` after one.
    evidence_days: int = 90
    evidence_horizon_days: int = 14
    # Shrinkage: an estimated channel effect weighs n / (n + evidence_prior_contacts) against the
    # policy's multiplier (n: the channel's contacts); a rhythm bucket needs this many contacts.
    evidence_prior_contacts: int = 500
    evidence_min_contacts: int = 200
    # Switches: use the estimates instead of the settings above (off: they are only reported).
    use_estimated_effects: bool = False
    use_estimated_rhythm: bool = False
    # Champion/challenger (issue 4, item 8): a seeded, stable share of debtors gets the challenger.
    challenger_share: float = 0.1
    challenger_seed: int = 2026
    challenger: ChallengerSettings = field(default_factory=ChallengerSettings)

    def channel(self, name: str) -> ChannelSettings:
        value: ChannelSettings = getattr(self, name)
        return value

    def digest(self) -> str:
        """SHA-256 of the effective policy: recorded in the manifest of every night."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


RULE_PACKS = ("cn-2026", "us-regf")


def _check_number(
    key: str,
    value: Any,
    *,
    minimum: float,
    integer: bool = False,
    maximum: float | None = None,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"policy key '{key}': expected a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise PolicyError(f"policy key '{key}': expected a whole number, got {value!r}")
    if value != value:  # NaN passes every comparison below
        raise PolicyError(f"policy key '{key}': expected a number, got {value!r}")
    if value < minimum:
        raise PolicyError(f"policy key '{key}': must be at least {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise PolicyError(f"policy key '{key}': must be at most {maximum}, got {value!r}")
    return value


def _channel(key: str, raw: Any, default: ChannelSettings) -> ChannelSettings:
    if not isinstance(raw, dict):
        raise PolicyError(
            f"policy key '{key}': expected a table like [{key}] cost = ..., effect = ..."
        )
    unknown = set(raw) - {"cost", "effect"}
    if unknown:
        raise PolicyError(f"policy key '{key}.{sorted(unknown)[0]}': unknown setting")
    cost = _check_number(f"{key}.cost", raw.get("cost", default.cost), minimum=0)
    effect = _check_number(f"{key}.effect", raw.get("effect", default.effect), minimum=0)
    return ChannelSettings(cost=float(cost), effect=float(effect))


def _challenger(raw: Any) -> ChallengerSettings:
    if not isinstance(raw, dict):
        raise PolicyError(
            "policy key 'challenger': expected a table like [challenger] visit = 1.2, ..."
        )
    default = ChallengerSettings()
    known = {f.name for f in fields(ChallengerSettings)}
    unknown = set(raw) - known
    if unknown:
        raise PolicyError(f"policy key 'challenger.{sorted(unknown)[0]}': unknown setting")
    changes: dict[str, Any] = {}
    for name in CHANNELS:
        if name in raw:
            changes[name] = float(_check_number(f"challenger.{name}", raw[name], minimum=0))
    if "rhythm_days" in raw:
        changes["rhythm_days"] = int(
            _check_number("challenger.rhythm_days", raw["rhythm_days"], minimum=1, integer=True)
        )
    return replace(default, **changes)


def _rhythm(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise PolicyError("policy key 'rhythm_days': expected a table like [rhythm_days] M1 = 1")
    rhythm = _every_day()
    for stage, days in raw.items():
        if stage not in rhythm:
            raise PolicyError(
                f"policy key 'rhythm_days.{stage}': unknown stage (known: {', '.join(STAGES)})"
            )
        rhythm[stage] = int(
            _check_number(f"rhythm_days.{stage}", days, minimum=1, maximum=90, integer=True)
        )
    return rhythm


def _check_switch(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"policy key '{key}': expected true or false, got {value!r}")
    return value


def _check_window(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(
        r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d", value
    ):
        raise PolicyError(f"policy key 'call_window': expected 'HH:MM-HH:MM', got {value!r}")
    return value


def policy_from_mapping(raw: dict[str, Any]) -> Policy:
    """Build a Policy from parsed TOML, checking every key and value."""
    default = Policy()
    known = {f.name for f in fields(Policy)}
    for key in raw:
        if key not in known:
            raise PolicyError(
                f"policy key '{key}': unknown setting (known: {', '.join(sorted(known))})"
            )
    changes: dict[str, Any] = {}
    for name in CHANNELS:
        if name in raw:
            changes[name] = _channel(name, raw[name], default.channel(name))
    if "letter_min_amount" in raw:
        changes["letter_min_amount"] = float(
            _check_number("letter_min_amount", raw["letter_min_amount"], minimum=0)
        )
    for key in ("extension_notice_days", "cycle_days"):
        if key in raw:
            changes[key] = int(_check_number(key, raw[key], minimum=1, integer=True))
    if "continuity_bonus" in raw:
        changes["continuity_bonus"] = float(
            _check_number("continuity_bonus", raw["continuity_bonus"], minimum=0)
        )
    if "continuity_limit" in raw:
        changes["continuity_limit"] = float(
            _check_number("continuity_limit", raw["continuity_limit"], minimum=0, maximum=1)
        )
    if "fairness_max_spread" in raw:
        changes["fairness_max_spread"] = float(
            _check_number("fairness_max_spread", raw["fairness_max_spread"], minimum=0)
        )
    if "exact_max_cases" in raw:
        changes["exact_max_cases"] = int(
            _check_number("exact_max_cases", raw["exact_max_cases"], minimum=0, integer=True)
        )
    for key in ("cooling_off_days", "legal_review_refusals"):
        if key in raw:
            changes[key] = int(_check_number(key, raw[key], minimum=1, integer=True))
    if "legal_review_min_balance" in raw:
        changes["legal_review_min_balance"] = float(
            _check_number("legal_review_min_balance", raw["legal_review_min_balance"], minimum=0)
        )
    if "call_window" in raw:
        changes["call_window"] = _check_window(raw["call_window"])
    for key in (
        "evidence_days",
        "evidence_horizon_days",
        "evidence_prior_contacts",
        "evidence_min_contacts",
        "challenger_seed",
    ):
        if key in raw:
            changes[key] = int(_check_number(key, raw[key], minimum=1, integer=True))
    for key in ("use_estimated_effects", "use_estimated_rhythm"):
        if key in raw:
            changes[key] = _check_switch(key, raw[key])
    if "challenger_share" in raw:
        changes["challenger_share"] = float(
            _check_number("challenger_share", raw["challenger_share"], minimum=0, maximum=1)
        )
    if "challenger" in raw:
        changes["challenger"] = _challenger(raw["challenger"])
    if "rhythm_days" in raw:
        changes["rhythm_days"] = _rhythm(raw["rhythm_days"])
    if "rule_pack" in raw:
        if raw["rule_pack"] not in RULE_PACKS:
            raise PolicyError(
                f"policy key 'rule_pack': unknown pack {raw['rule_pack']!r} "
                f"(known: {', '.join(RULE_PACKS)})"
            )
        changes["rule_pack"] = raw["rule_pack"]
    return replace(default, **changes)


def policy_toml(policy: Policy) -> str:
    """The policy as a TOML file that loads back to the same policy (`caseflow policy show`)."""
    lines: list[str] = []
    tables: list[str] = []
    for name, value in asdict(policy).items():
        if isinstance(value, dict):
            tables += ["", f"[{name}]"] + [
                f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
            ]
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines + tables) + "\n"


def _toml_key(key: str) -> str:
    # a bare key is letters, digits, _ and -; "M7+" must be quoted
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def check_policy_file(path: Path) -> Policy:
    """The policy in ``path``, which must exist (`caseflow policy check`)."""
    if not path.is_file():
        raise PolicyError(f"{path}: no such policy file")
    return load_policy(path)


def load_policy(path: Path | None) -> Policy:
    """The policy in ``path``, or the defaults when ``path`` is None or does not exist."""
    if path is None or not path.exists():
        return Policy()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: not UTF-8 text") from None
    try:
        return policy_from_mapping(raw)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None
