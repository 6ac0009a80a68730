"""DuckDB's memory limit: half the machine by default, CASEFLOW_DUCKDB_MEMORY when well formed."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_duckdb_hands_freed_memory_back_between_queries(tmp_path: Path) -> None:
    """The allocator settings that keep a large night's peak down (README, Performance)."""
    con = warehouse.connect(tmp_path)
    try:
        settings = dict(
            con.execute(
                "select name, value from duckdb_settings() where name in "
                "('allocator_flush_threshold', 'allocator_bulk_deallocation_flush_threshold', "
                "'allocator_background_threads')"
            ).fetchall()
        )
    finally:
        con.close()
    assert settings["allocator_background_threads"] == "true"
    assert settings["allocator_flush_threshold"] == "8MB"  # DuckDB's default: 128MB
    assert settings["allocator_bulk_deallocation_flush_threshold"] == "61.0 MiB"  # was 512


def _allocator_setting(env: dict[str, str]) -> str:
    code = "import os, pipeline; print(os.environ['_RJEM_MALLOC_CONF'])"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_polars_returns_freed_pages_within_a_second_unless_the_user_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    assert "dirty_decay_ms:1000" in _allocator_setting(env)
    assert _allocator_setting({**env, "_RJEM_MALLOC_CONF": "narenas:2"}) == "narenas:2"
