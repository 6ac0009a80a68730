"""Before-run safety: enough free disk, and a last-good copy of the warehouse (rotated).

A night that fails leaves the warehouse as its transactions left it; the last-good copies are
for the ops lead when something outside caseflow (a disk, a person) damaged the file itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.errors import CaseflowError

KEEP_COPIES = 2
MIN_FREE_BYTES = 512 * 1024 * 1024


def check_free_space(*folders: Path, warehouse: Path) -> None:
    """Refuse to start when a folder's disk has less than twice the warehouse (or 512 MiB) free."""
    size = warehouse.stat().st_size if warehouse.exists() else 0
    needed = max(MIN_FREE_BYTES, 2 * size)
    for folder in folders:
        probe = folder
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if free < needed:
            raise CaseflowError(
                f"{folder}: only {free // 2**20} MiB free on its disk, the night needs "
                f"{needed // 2**20} MiB; free some space (nothing was changed)"
            )


def keep_last_good(warehouse: Path, keep: int = KEEP_COPIES) -> Path | None:
    """Copy the warehouse aside as last-good.1 (shifting older copies up) before a night writes."""
    if not warehouse.exists():
        return None
    folder = warehouse.parent / "last-good"
    folder.mkdir(exist_ok=True)
    oldest = folder / f"warehouse.{keep}.duckdb"
    oldest.unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        older = folder / f"warehouse.{n}.duckdb"
        if older.exists():
            older.rename(folder / f"warehouse.{n + 1}.duckdb")
    target = folder / "warehouse.1.duckdb"
    partial = target.with_suffix(".partial")
    shutil.copyfile(warehouse, partial)
    partial.rename(target)
    return target
