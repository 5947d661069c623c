"""``chaosrunner gate FILE``: run an experiment, fail when it regressed against its baseline (``chaosrunner.gate``)."""
from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chaosrunner.errors import ConfigError

if TYPE_CHECKING:
    from chaosrunner.gate import GateResult


def gate(file: Path | None = typer.Argument(None, help="experiment file (optional with --run-dir)"),
         baseline: str | None = typer.Option(
             None, "--baseline", help="last-pass, a RUN_ID from the history, or a run folder / run.json "
                                      "(default: the pinned baseline, else last-pass)"),
         tolerance: str | None = typer.Option(
             None, "--tolerance", help="how much worse each figure may get, over the defaults "
                                       "rto=+20%,failover=+20%,rpo=+20%,p99=+30%,error_rate=+1pt,lost=0 "
                                       "(also score=5, FIGURE=off)"),
         run_dir: Path | None = typer.Option(None, "--run-dir", help="gate this finished run instead of running"),
         update_baseline: bool = typer.Option(False, "--update-baseline",
                                              help="pin this run (when it held) as the experiment's baseline"),
         repeat: int = typer.Option(1, "--repeat", help="run N times and compare the medians (noise guard)"),
         min_score: float | None = typer.Option(None, "--min-score", help="fail when the resilience score is "
                                                                          "under this (0-100)"),
         targets: Path | None = typer.Option(None, "--targets", "-t", help="targets inventory"),
         var: list[str] | None = typer.Option(None, "--var", help="value for ${var:NAME}, as NAME=VALUE"),
         only: str | None = typer.Option(None, help="only the experiment with this name"),
         report_dir: Path = typer.Option(Path("reports"), "--report-dir",
                                         help="runs land in <dir>/<run-id>/; the history is <dir>/history.sqlite"),
         confirm: str | None = typer.Option(None, help="name of the environment, required for production"),
         junit: Path | None = typer.Option(None, "--junit", help="also copy the junit.xml (with the gate) here"),
         summary: Path | None = typer.Option(None, "--summary", help="also append the summary.md (with the gate) "
                                                                    "to this file, e.g. \"$GITHUB_STEP_SUMMARY\""),
         as_json: bool = typer.Option(False, "--json", help="print the gate's results as JSON")) -> None:
    """Run an experiment (or take --run-dir) and compare it with its baseline: exit 1 on a regression."""
    main = importlib.import_module("chaosrunner.cli.main")  # the module (the package exports its main())

    def go() -> int:
        from chaosrunner import api, gate as g
        from chaosrunner.execute.signals import SignalGuard
        from chaosrunner.results.history import History

        tolerances = g.read_tolerances(tolerance)            # bad input: exit 2 before anything runs
        if not 1 <= repeat <= 20:
            raise ConfigError(f"--repeat {repeat}: give a number of runs from 1 to 20", hint="e.g. --repeat 3")
        if min_score is not None and not (math.isfinite(min_score) and 0 <= min_score <= 100):
            raise ConfigError(f"--min-score {min_score:g}: a score is between 0 and 100", hint="e.g. --min-score 80")
        if run_dir is None and file is None:
            raise ConfigError("gate needs an experiment FILE, or --run-dir with a finished run",
                              hint="e.g. chaosrunner gate experiments/database-failure.yaml")
        variables = main._parse_vars(var)
        if run_dir is not None:
            if repeat != 1:
                raise ConfigError("--repeat runs the experiment; --run-dir takes one finished run",
                                  hint="leave out one of them")
            one = g.read_run(run_dir)
            groups = {one.record.experiment.name: [one]}
            reports = one.run_dir.parent
            g.check_baseline(reports, baseline, [one.record.experiment.name])
        else:
            assert file is not None
            reports = report_dir
            with SignalGuard(restore=not main._PROCESS_IS_THE_CLI) as signals:
                def options() -> api.RunOptions:
                    return api.RunOptions(report_dir=report_dir, confirm=confirm, ask=None, signals=signals)
                groups = g.run_experiments(file, targets=targets, variables=variables, only=only, repeat=repeat,
                                           make_options=options, stopped=lambda: bool(signals.count),
                                           check=lambda names: g.check_baseline(report_dir, baseline, names))
            if not groups:
                return 3                  # stopped by a signal before any run
        code = 0
        results = []
        with History.open(reports, sync=run_dir is not None) as history:
            for runs in groups.values():
                result = g.gate_runs(runs, history, baseline=baseline, tolerances=tolerances, min_score=min_score,
                                     update_baseline=update_baseline)
                g.write_gate_outputs(result, junit, summary)
                results.append(result)
                code = max(code, result.exit_code)
        if as_json:
            print(json.dumps([r.summary() for r in results], indent=1))
        else:
            for r in results:
                _print(r)
        return code

    main._guard(go, internal=2 if run_dir is not None else 3)


def _print(result: GateResult) -> None:
    write = sys.stderr.write
    mark = "✗" if result.exit_code else "✓"
    write(f"{mark} gate {result.experiment}: " + (f"baseline {result.baseline_how}" if result.baseline
                                                   else "no baseline") + "\n")
    for n in result.notices:
        write(f"  notice: {n}\n")
    for m in result.failure_messages():
        write(f"  regression: {m}\n")
    if result.run_exit_code:
        write(f"  the run itself exited {result.run_exit_code} (see its report)\n")
    if result.score is not None:
        write(f"  resilience score {result.score:.1f} / 100\n")
    write(f"  summary: {result.runs[-1].run_dir / 'summary.md'}\n")
