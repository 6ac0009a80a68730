"""caseflow's command line: each command parses options, makes one call into the library and turns
the package's own errors into a clear message and an exit code (CONTRACT.md: 0 done, 1 the night
failed and nothing was published, 2 bad usage). No business logic lives here.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from pipeline.errors import CaseflowError, UsageError
from pipeline.masking import scrub_error, scrub_text
from pipeline.warehouse import resolve_home

app = typer.Typer(
    help="caseflow: the nightly allocation of bank debt-collection cases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The model registry: list, show, compare and promote versions.")
app.add_typer(models_app, name="models")
policy_app = typer.Typer(help="The policy in force: show the effective settings, check a file.")
app.add_typer(policy_app, name="policy")

# soft_wrap: a message is one line however narrow the terminal, so scripts can grep it.
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

T = TypeVar("T")

LangOption = Annotated[
    str,
    typer.Option(
        "--lang", help="Headers of the tables people open: en (the contract's names) or zh."
    ),
]

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Home folder: warehouse, archive, models (default ./var or $CASEFLOW_HOME)."
    ),
]


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A library's warning as one scrubbed line: like its errors, it may quote debtor data."""
    err.print(f"[yellow]library warning:[/] {category.__name__}: {scrub_error(str(message))}")


def _guard(action: Callable[[], T]) -> T:
    """Run ``action``; a caseflow error becomes its message and exit code, never a traceback."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return action()
    except CaseflowError as exc:
        err.print(f"[bold red]error:[/] {scrub_text(str(exc))}")
        raise typer.Exit(code=exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted: nothing was published")
        raise typer.Exit(code=1) from None
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a bug, or a library's panic (a BaseException in pyo3)
        # Library errors quote the values they failed on: the message is printed scrubbed of
        # debtor data, and the traceback not at all (it would quote them again).
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {scrub_error(str(exc))}")
        raise typer.Exit(code=1) from None


def _parse_date(value: str, option: str = "--date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date like 2026-11-23") from None


NIGHT_STAGES = ("ingest", "validate", "load", "score", "strategy", "allocate", "review", "publish")


def _stage_printer(
    quiet: bool, run_id: str | None = None, status: Any = None
) -> Callable[[str, float], None]:
    """Each stage as it ends: a JSON line with the run id for a scheduler (``--quiet``), else a
    tick on the terminal and, when it is one, the spinner moved on to the next stage."""

    def show(stage: str, seconds: float) -> None:
        if quiet:
            line = {"run_id": run_id, "stage": stage, "seconds": round(seconds, 3)}
            print(json.dumps(line), file=sys.stderr)
            return
        err.print(f"  [green]✓[/] {stage:<10} {seconds:6.2f} s")
        if status is not None and stage in NIGHT_STAGES[:-1]:
            status.update(f"{NIGHT_STAGES[NIGHT_STAGES.index(stage) + 1]}…")

    return show


@contextmanager
def _progress(quiet: bool, first: str) -> Iterator[Any]:
    """A spinner naming the stage at work, only for a person at a terminal (never in logs)."""
    if quiet or not err.is_terminal:
        yield None
        return
    with err.status(f"{first}…") as status:
        yield status


@app.command()
def run(
    business_date: Annotated[
        str, typer.Option("--date", help="Business date of the night, YYYY-MM-DD.")
    ],
    input_dir: Annotated[
        Path, typer.Option("--input", help="Folder of the night's incoming files.")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to publish the night's outputs into.")
    ],
    home: HomeOption = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Policy TOML (default: HOME/policy.toml if present)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="Structured log lines only (for schedulers).")
    ] = False,
    lang: LangOption = "en",
) -> None:
    """Run one night: ingest, validate, load, score, decide, allocate and publish."""
    from pipeline.labels import check_lang
    from pipeline.run import new_run_id, run_night

    def night() -> None:
        day = _parse_date(business_date)
        if policy is not None and not policy.exists():
            raise UsageError(f"--policy {policy}: no such file")
        run_id = new_run_id(day)
        if quiet:
            start = {"run_id": run_id, "business_date": day.isoformat(), "event": "start"}
            print(json.dumps(start), file=sys.stderr)
        with _progress(quiet, NIGHT_STAGES[0]) as status:
            summary = run_night(
                day,
                input_dir,
                out_dir,
                resolve_home(home),
                policy_path=policy,
                on_stage=_stage_printer(quiet, run_id, status),
                lang=check_lang(lang),
                run_id=run_id,
            )
        _print_summary(summary.manifest, summary.out_dir, summary.warnings, quiet)

    _guard(night)


def _print_summary(
    manifest: dict[str, Any], out_dir: Path, warnings: list[str], quiet: bool
) -> None:
    counts = manifest["counts"]
    if quiet:
        print(json.dumps({"run_id": manifest["run_id"], "outcome": "published", "counts": counts}))
        return
    for warning in warnings:
        err.print(f"[bold yellow]warning:[/] {warning}")
    out.print(
        f"night {manifest['business_date']} published to {out_dir}: "
        f"{counts['worked']} cases on {counts['collectors_with_work']} worklists "
        f"({', '.join(f'{k} {v}' for k, v in counts['worked_by_channel'].items())}), "
        f"{counts['held']} held, {counts['rows_rejected']} rows rejected"
    )


@app.command("load")
def load_cmd(
    business_date: Annotated[
        str, typer.Option("--date", help="Business date of the files, YYYY-MM-DD.")
    ],
    input_dir: Annotated[Path, typer.Option("--input", help="Folder of the night's files.")],
    home: HomeOption = None,
) -> None:
    """Load one night's files into the warehouse without allocating (history backfill)."""
    from pipeline.run import load_night

    def do() -> None:
        received, checked, stats = load_night(
            input_dir, resolve_home(home), _parse_date(business_date)
        )
        out.print(
            f"{business_date}: {sum(f.status == 'read' for f in received.files)} files read, "
            f"{stats.cases_upserted} cases, {stats.payments_added} payments, "
            f"{stats.contacts_added} notes loaded; {checked.rejects.height} rejects"
        )

    _guard(do)


@app.command()
def train(
    home: HomeOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Train on history up to this date (default: all).")
    ] = None,
    horizon_days: Annotated[
        int, typer.Option("--horizon-days", min=1, help="Label: a payment within this many days.")
    ] = 30,
    min_payment: Annotated[
        float,
        typer.Option(
            "--min-payment", min=0.01, help="Label: a payment of at least this (or the balance)."
        ),
    ] = 100.0,
) -> None:
    """Train a repayment model on the warehouse history and register it."""
    from models.train import TrainConfig
    from models.train import train as train_model
    from pipeline import warehouse
    from pipeline.locking import home_lock

    def do() -> None:
        where = resolve_home(home)
        day = _parse_date(as_of, "--as-of") if as_of else None
        config = TrainConfig(horizon_days=horizon_days, min_payment=min_payment)
        with home_lock(where):
            con = warehouse.connect(where)
            try:
                with _progress(False, "training the model on the warehouse history"):
                    result = train_model(con, where, as_of=day, config=config)
            finally:
                con.close()
        out.print(result.summary())

    _guard(do)


@app.command()
def demo(
    home: Annotated[Path, typer.Option("--home", help="Demo home folder (recreated).")] = Path(
        "var/demo"
    ),
    out_dir: Annotated[Path, typer.Option("--out", help="Demo output folder.")] = Path("out/demo"),
    samples: Annotated[Path, typer.Option("--samples", help="The samples folder.")] = Path(
        "data/samples"
    ),
) -> None:
    """Load the samples history, train, run tonight into a fresh home; say where things are."""
    from pipeline.demo import run_demo

    def do() -> None:
        summary = run_demo(samples, home, out_dir, say=lambda text: err.print(text))
        _print_summary(summary.manifest, summary.out_dir, summary.warnings, quiet=False)
        out.print(f"worklists: {summary.out_dir / 'worklists'}")
        out.print(f"report:    {summary.out_dir / 'report.html'}")

    _guard(do)


@app.command()
def export(
    business_date: Annotated[
        str, typer.Option("--date", help="Business date of a published night, YYYY-MM-DD.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="xlsx or csv.")] = "xlsx",
    collector: Annotated[
        str | None, typer.Option("--collector", help="Only this collector's worklist.")
    ] = None,
    team: Annotated[
        str | None,
        typer.Option("--team", help="Only this team: its collectors' worklists and workbook."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write into (default export/DATE).")
    ] = None,
    lang: LangOption = "en",
    home: HomeOption = None,
) -> None:
    """Export a published night's worklists again from the warehouse (xlsx or csv)."""
    from pipeline.export import export_night

    def do() -> None:
        day = _parse_date(business_date)
        target = out_dir if out_dir is not None else Path("export") / day.isoformat()
        result = export_night(
            resolve_home(home), day, target, fmt, collector=collector, team=team, lang=lang
        )
        out.print(
            f"exported {result.rows} cases of {result.collectors} "
            f"collector{'' if result.collectors == 1 else 's'} "
            f"({len(result.files)} files) into {result.out_dir}"
        )

    _guard(do)


@app.command()
def report(
    business_date: Annotated[
        str, typer.Option("--date", help="Business date of a published night, YYYY-MM-DD.")
    ],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default report-DATE.html)."),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Rebuild a published night's report.html from the warehouse."""
    from pipeline.rebuild import rebuild_report

    def do() -> None:
        day = _parse_date(business_date)
        target = out_file if out_file is not None else Path(f"report-{day.isoformat()}.html")
        page = rebuild_report(resolve_home(home), day)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise CaseflowError(f"cannot write {target}: {exc.strerror or exc}") from None
        out.print(f"report of the night of {day.isoformat()} written to {target}")

    _guard(do)


@app.command()
def explain(
    case_id: Annotated[str, typer.Argument(help="The case id, as the client's file has it.")],
    business_date: Annotated[
        str | None,
        typer.Option("--date", help="The night to explain (default: the case's latest)."),
    ] = None,
    client: Annotated[
        str | None, typer.Option("--client", help="The client, when several have this case id.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Say where a case went on a night and why: score, rules, channel, collector, changes."""
    from pipeline.explain import explain_case

    def do() -> None:
        day = _parse_date(business_date) if business_date else None
        out.print(explain_case(resolve_home(home), case_id, day, client).text(), markup=False)

    _guard(do)


@app.command("runs")
def runs_cmd(
    home: HomeOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first.")] = 30,
) -> None:
    """List the audit trail of runs: id, date, start, end, outcome, model version."""
    from pipeline.run import list_runs

    def do() -> None:
        rows = list_runs(resolve_home(home), limit)
        if not rows:
            out.print("no runs recorded in this home yet")
        for run_id, day, started, finished, outcome, model in rows:
            out.print(
                f"{run_id}  {day}  {started:%Y-%m-%d %H:%M:%S}  "
                f"{finished:%H:%M:%S}  {outcome:<9}  {model or 'R6 rule'}"
            )

    _guard(do)


@models_app.command("list")
def models_list(home: HomeOption = None) -> None:
    """List trained versions; the champion is marked."""
    from models.registry import Registry

    def do() -> None:
        for line in Registry(resolve_home(home)).describe_versions():
            out.print(line)

    _guard(do)


@models_app.command("promote")
def models_promote(version: str, home: HomeOption = None) -> None:
    """Make VERSION the champion used by `caseflow run`."""
    from models.registry import Registry

    def do() -> None:
        Registry(resolve_home(home)).promote(version)
        out.print(f"{version} is now the champion")

    _guard(do)


@models_app.command("show")
def models_show(
    version: Annotated[str, typer.Argument(help="The version, as `caseflow models list` shows.")],
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole card as JSON.")] = False,
) -> None:
    """Show VERSION: its file check, training window and data hash, and its model card."""
    from models.registry import Registry

    def do() -> None:
        registry = Registry(resolve_home(home))
        if as_json:
            print(json.dumps(registry.card(version)[0], indent=2, ensure_ascii=False))
            return
        for line in registry.show(version):
            out.print(line, markup=False)

    _guard(do)


@models_app.command("compare")
def models_compare(
    a: Annotated[str, typer.Argument(help="A version (e.g. the champion).")],
    b: Annotated[str, typer.Argument(help="Another version (e.g. a challenger).")],
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Compare versions A and B side by side, scored on the same held-out rows."""
    from models.compare import compare
    from pipeline import warehouse

    def do() -> None:
        where = resolve_home(home)
        if not (where / "warehouse.duckdb").exists():
            raise UsageError(f"--home {where}: no warehouse here")
        con = warehouse.connect(where, read_only=True)
        try:
            result = compare(con, where, a, b)
        finally:
            con.close()
        if as_json:
            print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
            return
        for line in result.lines():
            out.print(line, markup=False)

    _guard(do)


@policy_app.command("show")
def policy_show(
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="A policy file (default HOME/policy.toml when present)."),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Print the effective policy as TOML: the defaults with what the policy file overrides."""
    from pipeline.policy import load_policy, policy_toml

    def do() -> None:
        path = policy if policy is not None else resolve_home(home) / "policy.toml"
        if policy is not None and not policy.is_file():
            raise UsageError(f"--policy {policy}: no such file")
        print(policy_toml(load_policy(path)), end="")

    _guard(do)


@policy_app.command("check")
def policy_check(
    file: Annotated[Path, typer.Argument(help="The policy file (TOML) to check.")],
) -> None:
    """Check a policy FILE: exit 0 when valid, 2 naming the key and what is wrong."""
    from pipeline.policy import check_policy_file

    def do() -> None:
        found = check_policy_file(file)
        out.print(f"{file}: valid (rule pack {found.rule_pack})", markup=False)

    _guard(do)


if __name__ == "__main__":  # pragma: no cover
    app()
