"""Before-run safety (issue 7, point 5): last-good copies, free disk, the checkpoint, and nights
that meet a full disk or a read-only folder: each fails with a clear message and leaves the
warehouse and the nights published before as they were.

The disk tests mount small tmpfs file systems (root only, skipped elsewhere); the small disk is
met by the real command, and a disk that fills while the night runs is filled by the night's own
stage callback once its first stage ends (after the free-space check let it start).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import CaseflowError, LockedError
from pipeline.locking import home_lock
from pipeline.run import run_night
from pipeline.safety import check_free_space, keep_last_good
from tests.nights import night, published, warehouse_state

CASEFLOW = Path(sys.executable).parent / "caseflow"
NIGHT1 = date(2026, 11, 16)
NIGHT2 = date(2026, 11, 23)


def test_last_good_copies_rotate(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    for version in ("one", "two", "three"):
        db.write_text(version)
        keep_last_good(db)
    folder = tmp_path / "last-good"
    assert (folder / "warehouse.1.duckdb").read_text() == "three"
    assert (folder / "warehouse.2.duckdb").read_text() == "two"
    assert not (folder / "warehouse.3.duckdb").exists()


def test_a_copy_keeps_the_write_ahead_log_so_a_crash_before_the_checkpoint_loses_nothing(
    tmp_path: Path,
) -> None:
    """A night killed after its commit leaves committed rows only in warehouse.duckdb.wal."""
    db = tmp_path / "warehouse.duckdb"
    script = (
        "import duckdb, os, signal, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('create table t (n integer)')\n"
        "con.execute('checkpoint')\n"
        "con.execute('insert into t values (1), (2), (3)')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(db)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert (tmp_path / "warehouse.duckdb.wal").exists()
    copy = keep_last_good(db)
    assert copy is not None
    con = duckdb.connect(str(copy), read_only=True)
    try:
        assert con.execute("select count(*) from t").fetchall() == [(3,)]
    finally:
        con.close()
    # the next copy, made after a clean checkpoint, has no log: the stale one is not kept with it
    con = duckdb.connect(str(db))
    con.execute("checkpoint")
    con.close()
    assert not (tmp_path / "warehouse.duckdb.wal").exists()
    keep_last_good(db)
    folder = tmp_path / "last-good"
    assert not (folder / "warehouse.1.duckdb.wal").exists()
    assert (folder / "warehouse.2.duckdb.wal").exists()


def test_a_copy_that_fails_keeps_the_earlier_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "warehouse.duckdb"
    for version in ("one", "two"):
        db.write_text(version)
        keep_last_good(db)

    def full(source: object, target: Path) -> None:
        Path(target).write_text("half a cop")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    db.write_text("three")
    with pytest.raises(CaseflowError, match=r"last-good.*disk is full.*nothing was changed"):
        keep_last_good(db)
    folder = tmp_path / "last-good"
    assert (folder / "warehouse.1.duckdb").read_text() == "two"
    assert (folder / "warehouse.2.duckdb").read_text() == "one"
    assert sorted(p.name for p in folder.iterdir()) == ["warehouse.1.duckdb", "warehouse.2.duckdb"]


def test_too_little_disk_is_refused_with_the_folder_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage

    def tiny(path: object) -> object:
        usage = real(str(path))
        return type(usage)(usage.total, usage.used, 10 * 2**20)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    with pytest.raises(CaseflowError, match="MiB free"):
        check_free_space(tmp_path / "out", warehouse=tmp_path / "warehouse.duckdb")


def test_a_second_writer_is_refused_at_once(tmp_path: Path) -> None:
    with (
        home_lock(tmp_path),
        pytest.raises(LockedError, match=r"caseflow\.lock is held by pid \d+ \("),
        home_lock(tmp_path),
    ):
        pass
    with home_lock(tmp_path):  # released after the first holder ends
        pass


@pytest.fixture(scope="module")
def after_night1(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Inputs of two nights, and a home with night 1 run (its last-good copy made)."""
    base = tmp_path_factory.mktemp("safety")
    night(NIGHT1, 60, seed=1).write(base / "in1")
    tonight = night(NIGHT2, 60, seed=2)
    tonight.collectors = []
    tonight.write(base / "in2")
    run_night(NIGHT1, base / "in1", base / "out" / "night1", base / "home")
    return base, base / "home"


@pytest.mark.slow
def test_a_night_checkpoints_at_the_end_and_keeps_the_last_good_copy(
    after_night1: tuple[Path, Path], tmp_path: Path
) -> None:
    base, prepared = after_night1
    home = tmp_path / "home"
    shutil.copytree(prepared, home)
    before = (home / "warehouse.duckdb").read_bytes()
    run_night(NIGHT2, base / "in2", tmp_path / "out", home)
    assert (home / "last-good" / "warehouse.1.duckdb").read_bytes() == before
    assert not (home / "warehouse.duckdb.wal").exists()  # checkpointed: one file to back up


@pytest.mark.slow
def test_too_little_free_disk_fails_the_night_before_it_starts(
    after_night1: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, prepared = after_night1
    home = tmp_path / "home"
    shutil.copytree(prepared, home)
    before = sorted((p.name, p.read_bytes()) for p in home.rglob("*") if p.is_file())
    real = shutil.disk_usage

    def tiny(path: object) -> object:
        usage = real(str(path))
        return type(usage)(usage.total, usage.used, 3 * 2**20)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    with pytest.raises(CaseflowError, match=r"only 3 MiB free.*nothing was changed"):
        run_night(NIGHT2, base / "in2", tmp_path / "out", home)
    after = sorted((p.name, p.read_bytes()) for p in home.rglob("*") if p.is_file())
    assert [(n, b) for n, b in after if n != "caseflow.lock"] == [
        (n, b) for n, b in before if n != "caseflow.lock"
    ]
    assert not (tmp_path / "out").exists()


# --- real small and read-only file systems -------------------------------------------------------


@contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace')}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _caseflow(inputs: Path, out: Path, home: Path) -> tuple[int, str]:
    command = [str(CASEFLOW), "run", "--date", NIGHT2.isoformat(), "--input", str(inputs)]
    done = subprocess.run(
        [*command, "--out", str(out), "--home", str(home)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "300"},
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _filler(disk: Path) -> Callable[[str, float], None]:
    """A stage callback that fills ``disk`` to the last byte once the night's first stage ends:
    the disk fills while the night runs, after the free-space check let it start."""

    def fill(stage: str, seconds: float) -> None:
        if not (disk / "filler").exists():
            with (disk / "filler").open("wb") as handle:
                os.posix_fallocate(handle.fileno(), 0, shutil.disk_usage(disk).free)

    return fill


@pytest.mark.slow
def test_an_out_disk_too_small_or_filling_up_or_read_only_fails_the_night_cleanly(
    after_night1: tuple[Path, Path], tmp_path: Path
) -> None:
    base, prepared = after_night1
    home = tmp_path / "home"
    shutil.copytree(prepared, home)
    before = warehouse_state(home)

    # a small disk, as the command meets it: refused before the night starts
    with _tmpfs(tmp_path / "small", "64k") as small:
        code, said = _caseflow(base / "in2", small / "night2", home)
        assert code == 1, said
        assert f"{small}: only 0 MiB free on its disk" in said and "Traceback" not in said
    assert warehouse_state(home) == before

    # a disk that fills while the night runs, and then a read-only one: the night published
    # there before stays whole, nothing is staged beside it, the warehouse is rolled back
    with _tmpfs(tmp_path / "disk", "514m") as disk:
        run_night(NIGHT1, base / "in1", disk / "night1", tmp_path / "other-home")
        night1 = published(disk / "night1")
        with pytest.raises(CaseflowError, match=r"cannot publish the night into .* is full"):
            run_night(NIGHT2, base / "in2", disk / "night2", home, on_stage=_filler(disk))
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "night1"]
        assert published(disk / "night1") == night1
        assert warehouse_state(home) == before
        (disk / "filler").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(CaseflowError, match="read-only file system"):
            run_night(NIGHT2, base / "in2", disk / "night1", home)  # a re-run into night1
        assert published(disk / "night1") == night1
        assert warehouse_state(home) == before


@pytest.mark.slow
def test_a_home_disk_filling_up_fails_the_night_and_keeps_the_warehouse(
    after_night1: tuple[Path, Path], tmp_path: Path
) -> None:
    base, prepared = after_night1
    with _tmpfs(tmp_path / "home", "540m") as home:
        for item in prepared.iterdir():
            if item.is_dir():
                shutil.copytree(item, home / item.name)
            else:
                shutil.copy2(item, home / item.name)
        before = warehouse_state(home)
        with pytest.raises(CaseflowError, match=r"could not be written: the disk is full.*rolled"):
            run_night(NIGHT2, base / "in2", tmp_path / "out", home, on_stage=_filler(home))
        assert not (tmp_path / "out").exists()
        (home / "filler").unlink()
        assert warehouse_state(home) == before
        last_good = home / "last-good" / "warehouse.1.duckdb"
        assert last_good.read_bytes() == (prepared / "warehouse.duckdb").read_bytes()
        run_night(NIGHT2, base / "in2", tmp_path / "out", home)  # space again: the night runs
