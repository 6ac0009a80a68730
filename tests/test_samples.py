"""The samples are made by a seeded script: running it again writes the same bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.slow
def test_the_generator_reproduces_the_committed_samples_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    made, committed = _files(tmp_path), _files(SAMPLES)
    assert made.keys() == committed.keys()
    changed = [name for name in made if made[name] != committed[name]]
    assert not changed, f"regenerate the samples (make samples) and commit them: {changed[:5]}"


def test_the_samples_are_small_enough_to_commit() -> None:
    assert sum(len(b) for b in _files(SAMPLES).values()) < 10 * 2**20
