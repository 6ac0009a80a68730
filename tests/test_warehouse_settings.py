"""DuckDB's memory limit: half the machine by default, CASEFLOW_DUCKDB_MEMORY when well formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import warehouse


def _limit(home: Path) -> str:
    con = warehouse.connect(home)
    try:
        return str(con.execute("select current_setting('memory_limit')").fetchall()[0][0])
    finally:
        con.close()


def test_the_warehouse_takes_the_configured_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEFLOW_DUCKDB_MEMORY", "3GB")
    assert _limit(tmp_path) == "2.7 GiB"  # DuckDB prints 3 GB (10^9 bytes) in GiB


def test_a_malformed_limit_falls_back_to_half_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEFLOW_DUCKDB_MEMORY", "3GB'; select 1; --")
    half = warehouse.memory_limit()
    assert half.endswith("MB") and int(half[:-2]) >= 256
    monkeypatch.delenv("CASEFLOW_DUCKDB_MEMORY")
    assert warehouse.memory_limit() == half
    assert _limit(tmp_path).endswith("GiB")
