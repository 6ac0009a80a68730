"""The registry of trained versions: which exist, which one is the champion, and their files.

Files live under ``HOME/models/``: one folder per version with ``model.skops`` (the estimators,
saved with skops, never pickle), ``card.json`` (the model card) and ``card.html`` (the card as a
page, with its plots), and ``registry.json`` listing the versions with each file's SHA-256, the
training window and a hash of the training data, and naming the champion. Only
``caseflow models promote`` (or the very first training) changes the champion. registry.json is
rewritten whole through a temporary file and ``os.replace``, so a crash never leaves half of it.

A model is loaded only if its file's SHA-256 is the one recorded at training, and only if every
type in it is one this module expects (skops refuses anything else); a changed file is refused
with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import skops.io as sio

from models.features import FEATURE_NAMES
from models.learner import CalibratedClassifier
from models.reasons import Explainer
from pipeline.errors import ModelError

FORMAT = 2

# The types a caseflow model file may hold beyond those skops trusts by itself (containers,
# numpy arrays, scikit-learn estimators), each reviewed. Anything else (a new internal after a
# library upgrade, or something planted in the file) is refused, never trusted blindly.
TRUSTED_TYPES = frozenset(
    {
        # the fitted trees of HistGradientBoostingClassifier
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # its categorical preprocessing (an OrdinalEncoder beside FunctionTransformer(
        # functools.partial(check_array, dtype=..., ensure_all_finite=False))): a partial only
        # binds arguments to a function that must itself be trusted, and check_array is
        # scikit-learn's input validation
        "functools.partial",
        "sklearn.utils.validation.check_array",
    }
)


@dataclass(frozen=True)
class ModelRecord:
    """One trained version as registry.json lists it (no debtor data: figures only)."""

    version: str
    file: str  # relative to HOME/models
    sha256: str
    card: str  # relative to HOME/models
    created_at: str
    data_to: str  # the last night whose data the model saw
    rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    window: dict[str, str] = field(default_factory=dict)  # first_night, last_night, known_by
    data_sha256: str = ""  # of the training rows (features, labels, nights)
    card_sha256: str = ""


@dataclass(frozen=True)
class LoadedModel:
    """A version's file, checked and unpacked."""

    version: str
    sha256: str
    model: CalibratedClassifier  # trained on every usable night: scores tonight
    holdout_model: CalibratedClassifier  # the same recipe before the held-out nights
    explainer: Explainer
    drift: dict[str, Any]  # the training distribution of each column and of the score
    meta: dict[str, Any]  # label definition and hold-out nights


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target, flush to disk, then swap in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class Registry:
    """The trained versions under ``home/models`` and the champion that ``caseflow run`` uses."""

    def __init__(self, home: Path) -> None:
        self.root = home / "models"
        self.path = self.root / "registry.json"

    # ---- reading -----------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"format": FORMAT, "champion": None, "versions": []}
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{self.path}: the model registry cannot be read ({exc})") from None
        return data

    def versions(self) -> list[ModelRecord]:
        """Every registered version, oldest first."""
        return [ModelRecord(**v) for v in self._read()["versions"]]

    def record(self, version: str) -> ModelRecord:
        """The registry's entry of ``version``, or an error that lists the known ones."""
        records = self.versions()
        found = next((r for r in records if r.version == version), None)
        if found is None:
            known = ", ".join(r.version for r in records) or "none yet (run `caseflow train`)"
            raise ModelError(f"no model version {version!r}; known versions: {known}")
        return found

    def card(self, version: str) -> tuple[dict[str, Any], bool]:
        """The model card of ``version``, and whether it is the one written at training."""
        record = self.record(version)
        path = self.root / record.card
        try:
            data = path.read_bytes()
            card: dict[str, Any] = json.loads(data.decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"model {version}: its card {path} cannot be read ({exc})") from None
        intact = not record.card_sha256 or sha256_of(data) == record.card_sha256
        return card, intact

    def champion(self) -> ModelRecord | None:
        """The version ``caseflow run`` scores with, or None before the first training."""
        data = self._read()
        name = data.get("champion")
        return next((ModelRecord(**v) for v in data["versions"] if v["version"] == name), None)

    def describe_versions(self) -> list[str]:
        """One line per version, oldest first; the champion is marked with ``*``."""
        data = self._read()
        if not data["versions"]:
            return ["no trained model yet: run `caseflow train` once the warehouse holds history"]
        lines = []
        for record in self.versions():
            mark = "*" if record.version == data.get("champion") else " "
            m, b = record.metrics, record.baseline
            window = record.window
            span = (
                f"nights {window['first_night']}..{window['last_night']}"
                if window
                else f"data to {record.data_to}"
            )
            lines.append(
                f"{mark} {record.version}  trained {record.created_at}  {span}"
                f"  rows {record.rows}  ROC AUC {m.get('roc_auc', float('nan')):.3f}"
                f" (baseline {b.get('roc_auc', float('nan')):.3f})"
                f"  PR AUC {m.get('pr_auc', float('nan')):.3f}"
                f"  Brier {m.get('brier', float('nan')):.4f}"
                + ("  champion" if mark == "*" else "")
            )
        return lines

    def show(self, version: str) -> list[str]:
        """What `caseflow models show` prints: status, files and their checks, the card."""
        from models.card import summary_lines  # the card's words; registry stays importable

        record = self.record(version)
        champion = self.champion()
        is_champion = champion is not None and champion.version == version
        try:
            self.load(version)
            check = f"intact (sha256 {record.sha256[:12]}…, types reviewed)"
        except ModelError as exc:
            check = f"REFUSED: {exc}"
        card, intact = self.card(version)
        folder = self.root / version
        return [
            f"{version}{'  (champion)' if is_champion else ''}  trained {record.created_at}",
            f"model file: {self.root / record.file}: {check}",
            f"card: {folder / 'card.html'} (and card.json"
            + ("" if intact else "; WARNING: card.json was changed after training")
            + ")",
            *summary_lines(card),
        ]

    # ---- writing -----------------------------------------------------------------------

    def _write(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        _write_atomically(self.path, text.encode("utf-8"))

    def next_version(self, data_to: str) -> str:
        """``v<sequence>-<last night seen>``, e.g. ``v003-2026-11-16``: unique and sortable.

        The date keeps its dashes: ``003-20261116`` would read as a phone number to the
        masking of error messages (``pipeline.masking.scrub_text``) and be starred out."""
        return f"v{len(self._read()['versions']) + 1:03d}-{data_to}"

    def save_files(
        self,
        version: str,
        payload: dict[str, Any],
        card: dict[str, Any],
        page: Callable[[dict[str, Any]], str],
    ) -> tuple[str, str]:
        """Write the model file, its card and the card's page (``page(card)``) under the
        version's folder; return the SHA-256 of the model file and of the card."""
        folder = self.root / version
        data = sio.dumps(payload)
        _write_atomically(folder / "model.skops", data)
        digest = sha256_of(data)
        card = {**card, "file": "model.skops", "sha256": digest}
        text = (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        _write_atomically(folder / "card.json", text)
        _write_atomically(folder / "card.html", page(card).encode("utf-8"))
        return digest, sha256_of(text)

    def register(self, record: ModelRecord, *, champion_if_none: bool = True) -> bool:
        """Add a version; it becomes champion when there is none. Return whether it did."""
        data = self._read()
        if any(v["version"] == record.version for v in data["versions"]):
            raise ModelError(f"model version {record.version} is already registered")
        data["versions"].append(asdict(record))
        became = champion_if_none and not data.get("champion")
        if became:
            data["champion"] = record.version
        self._write(data)
        return bool(became)

    def promote(self, version: str) -> None:
        """Make ``version`` the champion (after checking that its file is intact)."""
        self.record(version)
        self.load(version)  # never make a damaged or tampered file the champion
        data = self._read()
        data["champion"] = version
        self._write(data)

    # ---- loading -----------------------------------------------------------------------

    def load(self, version: str) -> LoadedModel:
        """The model of ``version``, only if its file is exactly the one trained."""
        record = self.record(version)
        path = self.root / record.file
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(
                f"model {version}: its file {path} cannot be read ({exc.strerror}); "
                "retrain with `caseflow train` or promote another version"
            ) from None
        digest = sha256_of(data)  # hash the very bytes that are loaded next
        if digest != record.sha256:
            raise ModelError(
                # "digest" after "SHA-256": else a hash that starts with digits reads as one
                # phone-like run ("256 123456789…") and the printed message is masked into it
                f"model {version}: {path} has SHA-256 digest {digest[:12]}…, the registry "
                f"recorded {record.sha256[:12]}…: the file was changed after training and is "
                "refused; "
                "retrain with `caseflow train` or promote another version"
            )
        return _unpack(version, digest, data)


def _unpack(version: str, digest: str, data: bytes) -> LoadedModel:
    untrusted = sio.get_untrusted_types(data=data)
    unexpected = sorted(set(untrusted) - TRUSTED_TYPES)
    if unexpected:
        raise ModelError(
            f"model {version}: the file holds types caseflow does not trust "
            f"({', '.join(unexpected)}); retrain with this version of caseflow"
        )
    payload = sio.loads(data, trusted=untrusted)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(
            f"model {version}: not a model file of this caseflow (format {FORMAT}); "
            "retrain with `caseflow train`"
        )
    if tuple(payload["features"]) != FEATURE_NAMES:
        raise ModelError(
            f"model {version} was trained on other features than this caseflow computes; "
            "retrain with `caseflow train`"
        )
    return LoadedModel(
        version=version,
        sha256=digest,
        model=CalibratedClassifier.from_payload(payload["model"]),
        holdout_model=CalibratedClassifier.from_payload(payload["holdout_model"]),
        explainer=Explainer.from_dict(payload["explainer"]),
        drift=dict(payload["drift"]),
        meta=dict(payload["meta"]),
    )
