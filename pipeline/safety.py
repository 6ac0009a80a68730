"""Before-run safety: enough free disk, and a last-good copy of the warehouse (rotated).

A night that fails leaves the warehouse as its transactions left it; the last-good copies are
for the ops lead when something outside caseflow (a disk, a person) damaged the file itself.
A copy is the warehouse file and its write-ahead log (``.wal``: transactions committed since the
last checkpoint), so it opens as the warehouse stood before the night, whatever ended the night
before. To go back: stop the scheduler, then copy ``last-good/warehouse.1.duckdb`` (and its
``.wal``, if there is one) over ``warehouse.duckdb`` (and its ``.wal``, deleting one that has no
counterpart).
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from pipeline.errors import CaseflowError

KEEP_COPIES = 2
MIN_FREE_BYTES = 512 * 1024 * 1024
WAL_SUFFIX = ".wal"


def _wal(database: Path) -> Path:
    return database.with_name(database.name + WAL_SUFFIX)


def warehouse_bytes(warehouse: Path) -> int:
    """The warehouse's size on disk: the database file and its write-ahead log."""
    return sum(p.stat().st_size for p in (warehouse, _wal(warehouse)) if p.exists())


def check_free_space(*folders: Path, warehouse: Path) -> None:
    """Refuse to start when a folder's disk has less than twice the warehouse (or 512 MiB) free.

    Twice: once for tonight's last-good copy, once for the night's own growth and outputs.
    """
    needed = max(MIN_FREE_BYTES, 2 * warehouse_bytes(warehouse))
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


def describe_os_error(exc: OSError) -> str:
    """What an OS error means for the ops lead, in words."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def keep_last_good(warehouse: Path, keep: int = KEEP_COPIES) -> Path | None:
    """Copy the warehouse aside as last-good.1 (shifting older copies up) before a night writes.

    The copy is made first, under a temporary name, and the older copies are shifted only once
    it is complete: a copy that fails (a full disk) leaves every earlier copy as it was.
    """
    if not warehouse.exists():
        return None
    folder = warehouse.parent / "last-good"
    partial = folder / "warehouse.partial"
    partial_wal = _wal(partial)
    try:
        folder.mkdir(exist_ok=True)
        shutil.copyfile(warehouse, partial)
        has_wal = _wal(warehouse).exists()
        if has_wal:
            shutil.copyfile(_wal(warehouse), partial_wal)
        _rotate(folder, keep)
        target = folder / "warehouse.1.duckdb"
        if has_wal:
            partial_wal.rename(_wal(target))
        partial.rename(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        partial_wal.unlink(missing_ok=True)
        raise CaseflowError(
            f"cannot keep a last-good copy of the warehouse in {folder}: "
            f"{describe_os_error(exc)}; the night did not start (nothing was changed)"
        ) from None
    return target


def _rotate(folder: Path, keep: int) -> None:
    """warehouse.1 -> .2 -> ... up to ``keep``; the oldest goes, and so does any stale log."""
    for suffix in ("", WAL_SUFFIX):
        (folder / f"warehouse.{keep}.duckdb{suffix}").unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        older = folder / f"warehouse.{n}.duckdb"
        for suffix in ("", WAL_SUFFIX):
            source = older.with_name(older.name + suffix)
            if source.exists():
                source.rename(folder / f"warehouse.{n + 1}.duckdb{suffix}")
