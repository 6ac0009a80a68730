"""A night scored by the R6 rule imports neither scikit-learn nor skops (seconds of start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_nightly_command_does_not_import_the_model_libraries() -> None:
    code = (
        "import sys, cli, pipeline.run\n"
        "print(sorted(m for m in ('sklearn', 'skops') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_a_rule_night_scores_without_the_model_libraries(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from datetime import date\n"
        "from pathlib import Path\n"
        "from pipeline import warehouse\n"
        "from models.score import score_night\n"
        f"home = Path({str(tmp_path)!r})\n"
        "con = warehouse.connect(home)\n"
        "scores = score_night(con, home, date(2026, 11, 23))\n"
        "print(scores.method, sorted(m for m in ('sklearn', 'skops') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "rule []", done.stdout
