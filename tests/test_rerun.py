"""Atomic nights and safe re-runs (issue 7, points 1 and 2), in-process on small nights.

A night is one warehouse transaction and a staged publish: whatever fails before the commit, the
warehouse and the nights published before are as they were, and the re-run ends where a clean
run ends. The same inputs publish the same bytes; a file received before is skipped and said
so; new files for a published date replace its allocation, and the manifest says which run.
"""

from __future__ import annotations

import errno
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

import pipeline.run
from pipeline.errors import CaseflowError
from pipeline.run import run_night
from tests.nights import csv_text, night, published, warehouse_state

pytestmark = pytest.mark.slow

NIGHT1 = date(2026, 11, 16)
NIGHT2 = date(2026, 11, 23)


@dataclass(frozen=True)
class Setup:
    inputs: Path  # inputs/<date>/
    after_night1: Path  # a home after night 1, to copy
    clean: Path  # a home after night 1 and night 2, both clean
    clean_out: Path  # night 2 as the clean home published it


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    base = tmp_path_factory.mktemp("rerun")
    inputs = base / "inputs"
    night(NIGHT1, seed=1).write(inputs / NIGHT1.isoformat())
    tonight = night(NIGHT2, seed=2)
    tonight.collectors = []  # the roster of night 1 stays in force
    tonight.write(inputs / NIGHT2.isoformat())
    after1 = base / "after1"
    run_night(NIGHT1, inputs / NIGHT1.isoformat(), base / "out1" / "night1", after1)
    clean = base / "clean"
    shutil.copytree(after1, clean)
    run_night(NIGHT2, inputs / NIGHT2.isoformat(), base / "clean-out" / "night2", clean)
    return Setup(inputs, after1, clean, base / "clean-out" / "night2")


def _home(setup: Setup, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(setup.after_night1, home)
    return home


def _runs(home: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("select run_id, outcome from runs order by started_at").fetchall()
    finally:
        con.close()
    return [(str(a), str(b)) for a, b in rows]


def test_the_same_inputs_again_publish_the_same_bytes_and_report_every_skip(
    setup: Setup, tmp_path: Path
) -> None:
    home = _home(setup, tmp_path)
    folder = setup.inputs / NIGHT2.isoformat()
    first = run_night(NIGHT2, folder, tmp_path / "out", home)
    before = published(tmp_path / "out")
    again = run_night(NIGHT2, folder, tmp_path / "out", home)
    assert published(tmp_path / "out") == before == published(setup.clean_out)
    inputs = again.manifest["inputs"]
    assert {f["status"] for f in inputs} == {"duplicate"}
    assert all("received before on 2026-11-23 as " in f["message"] for f in inputs)
    assert again.manifest["replaces"] == first.run_id
    assert first.manifest["replaces"] is None
    assert any("received before, not read again" in w for w in again.warnings)
    assert any(f"replaces run {first.run_id}" in w for w in again.warnings)
    # one allocation per case and date, the latest run's: a retry never double-allocates
    assert warehouse_state(home) == warehouse_state(setup.clean)


def test_new_files_for_a_published_date_replace_its_allocation_and_say_so(
    setup: Setup, tmp_path: Path
) -> None:
    home = _home(setup, tmp_path)
    folder = tmp_path / "in"
    shutil.copytree(setup.inputs / NIGHT2.isoformat(), folder)
    first = run_night(NIGHT2, folder, tmp_path / "out", home)
    worked = pl.concat(
        [pl.read_csv(p, infer_schema=False) for p in (tmp_path / "out" / "worklists").glob("*.csv")]
    )
    paid = worked.get_column("case_id").head(5).to_list()
    tonight = night(NIGHT2, seed=2)
    update = [{**row, "status": "paid"} for row in tonight.cases if row["case_id"] in paid]
    (folder / "cases_update.csv").write_text(csv_text(list(update[0]), update), encoding="utf-8")
    second = run_night(NIGHT2, folder, tmp_path / "out", home)
    assert second.manifest["replaces"] == first.run_id
    statuses = {f["file"]: f["status"] for f in second.manifest["inputs"]}
    assert statuses.pop("cases_update.csv") == "read"
    assert set(statuses.values()) == {"duplicate"}
    assert any("1 new file read, so worklists may have changed" in w for w in second.warnings)
    manifest_text = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert f'"replaces": "{first.run_id}"' in manifest_text
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        allocated = con.execute(
            "select run_id, count(*) from allocations where business_date = ? group by run_id",
            [NIGHT2],
        ).fetchall()
        still_worked = con.execute(
            "select count(*) from allocations "
            "where business_date = ? and list_contains(?, case_id)",
            [NIGHT2, paid],
        ).fetchall()
    finally:
        con.close()
    assert allocated == [(second.run_id, second.manifest["counts"]["worked"])]
    assert still_worked == [(0,)]  # paid, says the new file: no longer worked
    assert [outcome for _, outcome in _runs(home)].count("published") == 3


def _fingerprint(home: Path) -> tuple[dict[str, list[tuple[object, ...]]], list[str]]:
    return warehouse_state(home), sorted(p.name for p in (home / "archive").rglob("*"))


def _assert_recovers(setup: Setup, home: Path, tmp_path: Path) -> None:
    """After the failure is gone, the re-run ends where a clean run of the night ends."""
    run_night(NIGHT2, setup.inputs / NIGHT2.isoformat(), tmp_path / "out" / "night2", home)
    assert published(tmp_path / "out" / "night2") == published(setup.clean_out)
    assert warehouse_state(home) == warehouse_state(setup.clean)


def test_a_full_disk_while_publishing_leaves_warehouse_and_last_night_as_they_were(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(setup, tmp_path)
    out = tmp_path / "out" / "night2"
    run_night(NIGHT2, setup.inputs / NIGHT2.isoformat(), out, home)
    last_good = published(out)
    extra = tmp_path / "in"
    shutil.copytree(setup.inputs / NIGHT2.isoformat(), extra)
    (extra / "cases_more.csv").write_text(
        csv_text(list(night(NIGHT2, 3, seed=9).cases[0]), night(NIGHT2, 3, seed=9).cases),
        encoding="utf-8",
    )
    before = warehouse_state(home)
    written: list[str] = []
    real_put = pipeline.publish._Staging.put

    def put(self: pipeline.publish._Staging, relative: str, *args: object, **kw: object) -> None:
        if len(written) == 3:  # the disk fills up after three files
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(relative)
        real_put(self, relative, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline.publish._Staging, "put", put)
    with pytest.raises(CaseflowError, match=r"is full.*untouched"):
        run_night(NIGHT2, extra, out, home)
    assert warehouse_state(home) == before  # the new file's cases were rolled back
    assert published(out) == last_good
    assert sorted(p.name for p in out.parent.iterdir()) == ["night2"]  # nothing staged is left
    monkeypatch.undo()
    again = run_night(NIGHT2, extra, out, home)
    assert {f["file"]: f["status"] for f in again.manifest["inputs"]}["cases_more.csv"] == "read"


@pytest.mark.parametrize("stage", ["allocate", "_record"])
def test_a_failure_after_the_load_rolls_the_whole_night_back(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """The load happened inside the night's transaction: a failure after it (allocating, or
    recording the run, after the outputs were staged) undoes it, and nothing is published."""
    home = _home(setup, tmp_path)
    before = _fingerprint(home)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"{stage} broke")

    monkeypatch.setattr(pipeline.run, stage, broken)
    with pytest.raises(RuntimeError, match="broke"):
        run_night(NIGHT2, setup.inputs / NIGHT2.isoformat(), tmp_path / "out" / "night2", home)
    assert warehouse_state(home) == before[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    monkeypatch.undo()
    _assert_recovers(setup, home, tmp_path)


def test_a_warehouse_that_cannot_be_written_fails_the_night_with_a_message(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(setup, tmp_path)
    before = warehouse_state(home)

    def full(*args: object, **kwargs: object) -> None:
        raise duckdb.IOException('IO Error: Could not write file "x": No space left on device')

    # after every batch is appended: the rollback must take them back
    monkeypatch.setattr(pipeline.run, "finish_load", full)
    with pytest.raises(CaseflowError, match=r"could not be written.*rolled back"):
        run_night(NIGHT2, setup.inputs / NIGHT2.isoformat(), tmp_path / "out" / "n2", home)
    assert warehouse_state(home) == before
    assert not (tmp_path / "out" / "n2").exists()


def test_a_warehouse_out_of_memory_fails_the_night_naming_the_limit_to_raise(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 10M-case night with CASEFLOW_DUCKDB_MEMORY=3GB ran out in DuckDB after the load: the
    ops lead is told which limit it was and how to raise it, and nothing is changed."""
    home = _home(setup, tmp_path)
    before = warehouse_state(home)
    monkeypatch.setenv("CASEFLOW_DUCKDB_MEMORY", "3GB")

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: failed to pin block of size 256.0 KiB (2.7 GiB/2.7 GiB used)"
        )

    monkeypatch.setattr(pipeline.run, "finish_load", out_of_memory)
    with pytest.raises(
        CaseflowError, match=r"out of memory.*limit of 3GB.*CASEFLOW_DUCKDB_MEMORY.*rolled back"
    ):
        run_night(NIGHT2, setup.inputs / NIGHT2.isoformat(), tmp_path / "out" / "n2", home)
    assert warehouse_state(home) == before
    assert not (tmp_path / "out" / "n2").exists()


def test_a_crash_between_the_commit_and_the_move_is_healed_by_the_rerun(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrowest window: the warehouse has committed the night, its outputs are staged but
    not yet moved into place when the process dies (here: stops before the move)."""
    home = _home(setup, tmp_path)

    def dies(out_dir: Path, run_id: str) -> None:
        raise SystemExit(f"killed before moving {run_id} into place")

    monkeypatch.setattr(pipeline.run, "publish_staged", dies)
    with pytest.raises(SystemExit):
        run_night(NIGHT2, setup.inputs / NIGHT2.isoformat(), tmp_path / "out" / "night2", home)
    out = tmp_path / "out"
    assert not (out / "night2").exists()
    (left,) = (p.name for p in out.iterdir())
    assert left.startswith(".night2.tmp-")  # staged, and left behind
    assert _runs(home)[-1][1] == "published"  # committed: the warehouse has the night
    monkeypatch.undo()
    again = run_night(NIGHT2, setup.inputs / NIGHT2.isoformat(), out / "night2", home)
    assert {f["status"] for f in again.manifest["inputs"]} == {"duplicate"}
    assert published(out / "night2") == published(setup.clean_out)
    assert warehouse_state(home) == warehouse_state(setup.clean)
    assert sorted(p.name for p in out.iterdir()) == ["night2"]  # the leftover was cleared
