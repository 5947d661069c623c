"""``chaosrunner gameday run | note | validate``: parses, calls ``chaosrunner.gameday``, renders."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, add_completion=False)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _vars(items: list[str] | None) -> dict[str, str]:
    from chaosrunner.cli.main import _parse_vars

    return _parse_vars(items)


@app.command()
def validate(file: Path = typer.Argument(..., help="game-day file (kind: GameDay)"),
             targets: Path | None = typer.Option(None, "--targets", "-t", help="targets inventory"),
             var: list[str] | None = typer.Option(None, "--var"),
             offline: bool = typer.Option(False, "--offline", help="do not reach the targets (as `validate "
                                                                    "--offline`)")) -> None:
    """Check a game-day file, its inventory and its nested experiments; touches nothing."""
    from chaosrunner.cli.main import _guard
    from chaosrunner.gameday.read import read_gameday

    def go() -> int:
        day = read_gameday(file, targets, _vars(var), offline=offline)
        out.print(f"ok: {day.summary()}" + (" (checked offline, targets not reached)" if offline else ""),
                  markup=False)
        return 0
    _guard(go, internal=2)


def schema_document() -> dict[str, Any]:
    """The JSON Schema of game-day files (``chaosrunner schema --gameday``)."""
    from chaosrunner.gameday.model import gameday_schema

    return gameday_schema()


@app.command()
def run(file: Path = typer.Argument(..., help="game-day file (kind: GameDay)"),
        targets: Path | None = typer.Option(None, "--targets", "-t", help="targets inventory"),
        var: list[str] | None = typer.Option(None, "--var"),
        report_dir: Path = typer.Option(Path("reports"), "--report-dir"),
        non_interactive: bool = typer.Option(False, "--non-interactive",
                                             help="nobody at the keyboard: manual steps take their `auto:` answer"),
        time_scale: float = typer.Option(1.0, "--time-scale", min=0.001, max=100.0,
                                         help="multiply every at, within and timeout (0.1: ten times faster)"),
        from_phase: int = typer.Option(1, "--from-phase", min=1, help="start at this phase (1-based)"),
        confirm: str | None = typer.Option(None, help="name of the environment, required for production")) -> None:
    """Run a game day: phases and steps, live view, expected timings, success criteria, review."""
    from chaosrunner.cli.console import print_result
    from chaosrunner.cli.main import _PROCESS_IS_THE_CLI, _guard
    from chaosrunner.errors import ConfigError
    from chaosrunner.execute.signals import SignalGuard
    from chaosrunner.gameday.read import read_gameday
    from chaosrunner.gameday.run import GameDayOptions, run_gameday
    from chaosrunner.gameday.view import GameDayView, KeyOperator

    def go() -> int:
        day = read_gameday(file, targets, _vars(var))
        if from_phase > len(day.model.phases):
            raise ConfigError(f"--from-phase {from_phase}: the game day has {len(day.model.phases)} phases",
                              hint=f"pick 1 to {len(day.model.phases)}")
        view = GameDayView(day, err, time_scale)
        operator = None
        if not non_interactive:
            if not sys.stdin.isatty():
                raise ConfigError("an interactive game day needs a terminal (manual steps wait for a key)",
                                  hint="run it in a terminal, or add --non-interactive")
            operator = KeyOperator(view)
        with SignalGuard(restore=not _PROCESS_IS_THE_CLI) as signals:
            options = GameDayOptions(report_dir=report_dir, time_scale=time_scale, from_phase=from_phase,
                                     operator=operator, confirm=confirm, signals=signals, on_record=view,
                                     on_start=lambda d, tl: view.say(f"game day {day.model.name}: {d}"))
            try:
                with view:
                    result = run_gameday(day, options)
            finally:
                if operator is not None:
                    operator.close()
        print_result(err, result)
        err.print(f"review: {result.run_dir / 'review.md'}", markup=False)
        return result.exit_code
    _guard(go, internal=3)


@app.command()
def note(text: str = typer.Argument(..., help="the observation"),
         author: str | None = typer.Option(None, "--author", help="who (default: $USER)")) -> None:
    """Add a timestamped observation to the running game day (from another terminal)."""
    from chaosrunner.gameday.run import add_note

    try:
        day = add_note(text, author)
    except LookupError:
        err.print("error: no game day is running (nothing to add the note to)", markup=False)
        raise typer.Exit(2) from None
    out.print(f"noted in {day['name']} ({day['run_id']})", markup=False)
