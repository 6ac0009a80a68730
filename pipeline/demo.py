"""demo: a whole night on the samples, from an empty home folder.

Loads every history night of ``data/samples/history`` (as a bank's backfill would arrive), trains
the first model on it, then runs tonight's ``incoming`` folder and publishes it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pipeline import warehouse
from pipeline.errors import ModelError, UsageError
from pipeline.locking import home_lock
from pipeline.run import NightSummary, load_night, run_night


def _dated_folders(parent: Path) -> list[tuple[date, Path]]:
    folders = []
    for child in sorted(parent.iterdir()) if parent.is_dir() else []:
        try:
            folders.append((date.fromisoformat(child.name), child))
        except ValueError:
            continue  # not a night's folder
    return folders


def _fresh_home(home: Path) -> None:
    """Start from nothing, but never delete a folder that is not a caseflow home."""
    if home.exists():
        if any(home.iterdir()) and not (home / "warehouse.duckdb").exists():
            raise UsageError(f"--home {home}: exists and is not a caseflow home; choose another")
        shutil.rmtree(home)


def run_demo(samples: Path, home: Path, out_root: Path, say: Callable[[str], None]) -> NightSummary:
    """Backfill the history, train, run tonight; return tonight's summary."""
    history = _dated_folders(samples / "history")
    tonight = _dated_folders(samples / "incoming")
    if not tonight:
        raise UsageError(f"{samples / 'incoming'}: no night folder (YYYY-MM-DD) to run")
    _fresh_home(home)
    for day, folder in history:
        say(f"loading history {day} from {folder}")
        load_night(folder, home, day)
    say("training the first model on the history")
    from models.train import train

    try:
        with home_lock(home):
            con = warehouse.connect(home)
            try:
                say(train(con, home).summary())
            finally:
                con.close()
    except ModelError as exc:
        say(f"no model: {exc}")
    day, folder = tonight[-1]
    say(f"running the night of {day}")
    return run_night(day, folder, out_root / day.isoformat(), home)
