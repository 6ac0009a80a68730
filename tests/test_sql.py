"""The SQL stays portable (DESIGN.md: the same files must run on Spark) and every file is used."""

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

ROOT = Path(__file__).resolve().parent.parent
SQL_FILES = sorted((ROOT / "sql").glob("*.sql"))
CODE = "\n".join(
    p.read_text(encoding="utf-8")
    for folder in ("pipeline", "models")
    for p in (ROOT / folder).rglob("*.py")
)


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_every_sql_file_transpiles_to_spark(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    statements = sqlglot.transpile(
        text,
        read="duckdb",
        write="spark",
        error_level=ErrorLevel.RAISE,
        unsupported_level=ErrorLevel.RAISE,
    )
    assert statements and all(s.strip() for s in statements)


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_every_sql_file_is_used(path: Path) -> None:
    assert re.search(rf"[\"']{re.escape(path.stem)}[\"']", CODE), f"{path.name} is not used"
