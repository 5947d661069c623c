"""`chaosrunner report render|index`: rebuild a run's report from run.json, write the index of runs."""
from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Render reports and the index of runs.")


@app.command()
def render(run_dir: Path = typer.Argument(..., help="a run folder holding run.json")) -> None:
    """Rebuild report.html, junit.xml and summary.md from RUN_DIR/run.json."""
    from chaosrunner.report import render_run

    if not (run_dir / "run.json").is_file():
        typer.echo(f"error: {run_dir / 'run.json'} does not exist", err=True)
        raise typer.Exit(2)
    try:
        path = render_run(run_dir)
    except ValueError as exc:  # unreadable JSON
        typer.echo(f"error: cannot read {run_dir / 'run.json'}: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(str(path))


@app.command()
def index(reports_dir: Path = typer.Argument(Path("reports"), help="the folder runs land in"),
          register: Path | None = typer.Option(None, "--register", "-r",
                                               help="the risk register to show (default: risks.yaml found from "
                                                    "REPORTS_DIR up)")) -> None:
    """Write REPORTS_DIR/index.html: the risk register's heat map, every run newest first, per experiment its trends."""
    from chaosrunner.errors import ConfigError
    from chaosrunner.report import render_index

    if not reports_dir.is_dir():
        typer.echo(f"error: {reports_dir} is not a folder", err=True)
        raise typer.Exit(2)
    if register is not None and not register.is_file():
        typer.echo(f"error: {register} is not a file\n  hint: pass a risk register (kind: RiskRegister)", err=True)
        raise typer.Exit(2)
    try:
        path = render_index(reports_dir, register)
    except ConfigError as exc:           # the risk register cannot be read: its file and line
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(path))
