"""`caseflow` as a scheduler and a person call it: exit codes, messages, the no-model night."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.locking import home_lock
from tests.nights import night

ROOT = Path(__file__).resolve().parent.parent
INCOMING = ROOT / "data" / "samples" / "incoming" / "2026-11-23"
TONIGHT = date(2026, 11, 23)


def _run(tmp_path: Path, *extra: str, home: Path | None = None) -> tuple[int, str]:
    args = [
        "run",
        "--date",
        "2026-11-23",
        "--input",
        str(INCOMING),
        "--out",
        str(tmp_path / "out"),
        "--home",
        str(home or tmp_path / "home"),
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


@pytest.mark.slow
def test_a_new_installation_publishes_a_night_ranked_by_the_r6_rule(tmp_path: Path) -> None:
    code, output = _run(tmp_path)
    assert code == 0, output
    assert "R6" in output and "caseflow train" in output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["method"] == "rule"
    assert any("R6" in w for w in manifest["warnings"])
    assert manifest["counts"]["worked"] > 1000
    assert "R6" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_a_second_run_on_a_held_home_exits_1_naming_the_lock(tmp_path: Path) -> None:
    with home_lock(tmp_path / "home"):
        code, output = _run(tmp_path)
    assert code == 1
    assert "caseflow.lock" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_a_policy_with_a_typo_is_bad_usage_naming_the_key(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("leter_min_amount = 1000\n", encoding="utf-8")
    code, output = _run(tmp_path, "--policy", str(policy))
    assert code == 2
    assert "leter_min_amount" in output
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_an_out_folder_that_is_not_a_night_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.docx").write_text("precious", encoding="utf-8")
    code, output = _run(tmp_path)
    assert code == 2
    assert "--out" in output
    assert (tmp_path / "out" / "thesis.docx").read_text(encoding="utf-8") == "precious"
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_train_without_history_says_so_plainly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "caseflow load" in result.output and "Traceback" not in result.output


def test_models_list_and_promote_of_an_unknown_version(tmp_path: Path) -> None:
    listed = CliRunner().invoke(app, ["models", "list", "--home", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    promoted = CliRunner().invoke(app, ["models", "promote", "v999", "--home", str(tmp_path)])
    assert promoted.exit_code == 1
    assert "v999" in promoted.output


def test_load_backfills_a_night_and_reports_its_rejects(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(INCOMING, folder)
    result = CliRunner().invoke(
        app, ["load", "--date", "2026-11-23", "--input", str(folder), "--home", str(tmp_path / "h")]
    )
    assert result.exit_code == 0, result.output
    assert "6 files read" in result.output and "15 rejects" in result.output


CASEFLOW = Path(sys.executable).parent / "caseflow"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_second_run_beside_a_running_one_exits_at_once_naming_it_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """Two real processes: the first is stopped (SIGSTOP) while it holds the home, mid-night."""
    home, folder = tmp_path / "home", tmp_path / "in"
    night(TONIGHT, 60).write(folder)
    command = [str(CASEFLOW), "run", "--date", TONIGHT.isoformat(), "--input", str(folder)]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    first = subprocess.Popen(
        [*command, "--out", str(tmp_path / "out1"), "--home", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=env,
    )
    try:
        assert first.stderr is not None
        for line in first.stderr:
            if "✓" in line and "ingest" in line:
                first.send_signal(signal.SIGSTOP)  # holds the lock, the night half done
                break
        before = _files(home)
        started = time.perf_counter()
        second = subprocess.run(
            [*command, "--out", str(tmp_path / "out2"), "--home", str(home)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            timeout=120,
            check=False,
        )
        waited = time.perf_counter() - started
        assert _files(home) == before  # it changed nothing: no copy, no archive, no warehouse
        assert not (tmp_path / "out2").exists()
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=120) == 0  # and the first night goes on to the end
    assert second.returncode == 1, second.stderr
    message = second.stderr
    assert str(home / "caseflow.lock") in message
    assert f"pid {first.pid} (caseflow run --date {TONIGHT.isoformat()}" in message
    assert "Traceback" not in message + second.stdout
    assert waited < 60  # it did not wait for the lock (the holder was stopped)
    assert (tmp_path / "out1" / "manifest.json").is_file()


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "23/11/2026", "tonight", ""])
def test_an_unknown_date_is_bad_usage_naming_the_value(tmp_path: Path, value: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--date",
            value,
            "--input",
            str(INCOMING),
            "--out",
            str(tmp_path / "out"),
            "--home",
            str(tmp_path / "home"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert f"--date {value!r}: expected a date like 2026-11-23" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "home").exists() and not (tmp_path / "out").exists()


def test_a_missing_input_folder_is_bad_usage(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--date",
            "2026-11-23",
            "--input",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "out"),
            "--home",
            str(tmp_path / "home"),
        ],
    )
    assert result.exit_code == 2
    assert "nowhere: no such folder" in result.output
    assert not (tmp_path / "home").exists()


def test_a_library_warning_quoting_debtor_data_is_shown_scrubbed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import warnings

    from cli import _guard

    def night() -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # as outside the tests, where warnings are shown
            _guard(lambda: warnings.warn("no match for '张三 110105194912310021'", stacklevel=1))
        return 1

    assert night() == 1
    shown = capsys.readouterr().err
    assert "library warning: UserWarning: no match for '…'" in shown
    assert "110105194912310021" not in shown and "张三" not in shown


def test_a_night_folder_named_for_another_date_is_bad_usage(tmp_path: Path) -> None:
    folder = tmp_path / "2026-11-22"
    shutil.copytree(INCOMING, folder)
    options = ["--date", "2026-11-23", "--input", str(folder), "--home", str(tmp_path / "h")]
    for command in (["run", "--out", str(tmp_path / "out")], ["load"]):
        result = CliRunner().invoke(app, [*command, *options])
        assert result.exit_code == 2, result.output
        assert "is the folder of 2026-11-22, not of --date 2026-11-23" in result.output
    assert not (tmp_path / "h").exists() and not (tmp_path / "out").exists()


def test_the_audit_trail_keeps_published_and_failed_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.run

    code, output = _run(tmp_path)
    assert code == 0, output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["software"]["caseflow"] and manifest["software"]["duckdb"]
    rejected = {i["file"]: i["rows_rejected"] for i in manifest["inputs"]}
    assert rejected["cases_southlend.csv"] == 9 and rejected["collectors.csv"] == 0

    def broken(*_: object) -> None:
        raise RuntimeError("allocation exploded on 110105194912310021")

    monkeypatch.setattr(pipeline.run, "allocate", broken)
    code, output = _run(tmp_path)
    assert code == 1
    listed = CliRunner().invoke(app, ["runs", "--home", str(tmp_path / "home")])
    assert listed.exit_code == 0, listed.output
    outcomes = [line.split()[5] for line in listed.output.strip().splitlines()]
    assert outcomes == ["failed", "published"]  # newest first
    stored = pipeline.run.list_runs(tmp_path / "home")
    assert "110105194912310021" not in repr(stored)
