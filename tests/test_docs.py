"""The repository stays honest: every command has help and is documented in the README."""

from pathlib import Path

import typer
from typer.main import get_command
from typer.testing import CliRunner

from cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: typer.Typer, prefix: str = "caseflow") -> list[tuple[str, str | None]]:
    click_group = get_command(group)
    found: list[tuple[str, str | None]] = []
    for name, command in click_group.commands.items():  # type: ignore[attr-defined]
        full = f"{prefix} {name}"
        sub = getattr(command, "commands", None)
        if sub:
            found += [(f"{full} {n}", c.help) for n, c in sub.items()]
        else:
            found.append((full, command.help))
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    for name, help_text in _commands(app):
        assert help_text, f"{name} has no help"
        words = name.split()
        documented = name in README or (
            f"{' '.join(words[:-1])} list" in README and words[-1] in README
        )
        assert documented, f"{name} is not in README.md"


def test_help_runs() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "run" in result.output


def test_a_bad_date_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--date",
            "2026-13-45",
            "--input",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--home",
            str(tmp_path / "h"),
        ],
    )
    assert result.exit_code == 2
    assert "--date" in result.output
    assert "Traceback" not in result.output


def test_a_missing_input_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--date",
            "2026-11-23",
            "--input",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "o"),
            "--home",
            str(tmp_path / "h"),
        ],
    )
    assert result.exit_code == 2
    assert "no such folder" in result.output
