"""DuckDB's memory limit: 2GB by default (half the machine if less), CASEFLOW_DUCKDB_MEMORY when
well formed; joins planned as written for a block, and the planner as it was after it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
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


def test_a_malformed_limit_falls_back_to_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEFLOW_DUCKDB_MEMORY", "3GB'; select 1; --")
    default = warehouse.memory_limit()
    assert default.endswith("MB") and 256 <= int(default[:-2]) <= warehouse.DEFAULT_MEMORY_MB
    monkeypatch.delenv("CASEFLOW_DUCKDB_MEMORY")
    assert warehouse.memory_limit() == default
    assert _limit(tmp_path).endswith("iB")


def test_the_default_limit_is_2gb_or_half_a_small_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """More than 2GB bought little and cost its size in a large night's peak (README,
    Performance); a machine of less than 4GB gives DuckDB half of it."""
    monkeypatch.delenv("CASEFLOW_DUCKDB_MEMORY", raising=False)
    pages = {"SC_PAGE_SIZE": 4096}
    for machine_bytes, expected in ((24 * 2**30, "2000MB"), (2_048_000_000, "1024MB")):
        pages["SC_PHYS_PAGES"] = machine_bytes // 4096
        monkeypatch.setattr(os, "sysconf", pages.__getitem__)
        assert warehouse.memory_limit() == expected


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


def _join_types(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The join types DuckDB plans for a LEFT JOIN of filtered rows to a smaller table (whose
    sizes it estimates at a row each)."""
    plan = con.execute(
        "explain analyze select * from many left join few using (k) where many.k % 7 = 0"
    ).fetchall()[0][1]
    return set(re.findall(r"Join Type: (\w+)", plan))


def test_joins_are_planned_as_written_within_the_block_only(tmp_path: Path) -> None:
    """DuckDB flips this LEFT JOIN into a RIGHT one, its table built on the filtered rows
    instead of the smaller table joined, as it flipped three of sql/night_part.sql's on a
    second night; within ``joins_as_written`` it stays as written. The planner is as it was
    after the block, a setting of the user's own kept, even when the block fails."""
    con = warehouse.connect(tmp_path)
    con.execute("create table many as select range as k, range as v from range(200000)")
    con.execute("create table few as select range * 7 as k, 'x' as w from range(20000)")
    con.execute("SET disabled_optimizers = 'join_filter_pushdown'")
    assert _join_types(con) == {"RIGHT"}
    with warehouse.joins_as_written(con):
        assert _join_types(con) == {"LEFT"}
    assert _join_types(con) == {"RIGHT"}
    with pytest.raises(ZeroDivisionError), warehouse.joins_as_written(con):
        raise ZeroDivisionError
    setting = con.execute("select current_setting('disabled_optimizers')").fetchall()[0][0]
    assert setting == "join_filter_pushdown"
