"""pipeline.parts: the decided cases of a night's parts, kept and read back in order."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.parts import PARTS_PREFIX, CaseParts


def _part(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"case_id": [f"C{n}-{i}" for i in range(3)], "balance": [1.5 * n, 2.0, None]}
    )


@pytest.mark.parametrize("count", [1, 3])
def test_parts_come_back_in_order_and_their_folder_goes(tmp_path: Path, count: int) -> None:
    stale = tmp_path / f"{PARTS_PREFIX}killed"  # left by a night that was killed
    stale.mkdir()
    (stale / "part-0.arrow").write_bytes(b"old")
    with CaseParts.cleared(tmp_path, count) as parts:
        assert not stale.exists()
        for n in range(count):
            parts.add(_part(n))
        assert len(parts) == count
        got = list(parts)
        assert len(got) == count
        for n, frame in enumerate(got):
            assert_frame_equal(frame, _part(n))
        # one part stays in memory; more are written beside the warehouse
        assert len(list(tmp_path.glob(f"{PARTS_PREFIX}*"))) == (1 if count > 1 else 0)
    assert not list(tmp_path.glob(f"{PARTS_PREFIX}*"))


def test_the_folder_goes_when_the_night_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), CaseParts.cleared(tmp_path, 2) as parts:
        parts.add(_part(0))
        raise RuntimeError("the night failed")
    assert not list(tmp_path.glob(f"{PARTS_PREFIX}*"))


@pytest.mark.parametrize("count", [1, 3])
def test_narrowed_parts_give_only_their_columns_and_stand_alone(tmp_path: Path, count: int) -> None:
    """The review reads each part's debtors' values only (run.py): the narrowed parts give
    those columns, from memory or the files, once the wide parts are let go."""
    with CaseParts.cleared(tmp_path, count) as parts:
        for n in range(count):
            parts.add(_part(n))
        narrowed = parts.select(["case_id"])
        del parts  # the wide parts let go: the narrowed ones stand alone
        assert len(narrowed) == count
        for n, frame in enumerate(narrowed):
            assert_frame_equal(frame, _part(n).select("case_id"))
