from pathlib import Path

import pytest

from pipeline.errors import CaseflowError, LockedError
from pipeline.locking import home_lock
from pipeline.safety import check_free_space, keep_last_good


def test_last_good_copies_rotate(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    for version in ("one", "two", "three"):
        db.write_text(version)
        keep_last_good(db)
    folder = tmp_path / "last-good"
    assert (folder / "warehouse.1.duckdb").read_text() == "three"
    assert (folder / "warehouse.2.duckdb").read_text() == "two"
    assert not (folder / "warehouse.3.duckdb").exists()


def test_too_little_disk_is_refused_with_the_folder_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

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
        pytest.raises(LockedError, match=r"caseflow\.lock"),
        home_lock(tmp_path),
    ):
        pass
    with home_lock(tmp_path):  # released after the first holder ends
        pass
