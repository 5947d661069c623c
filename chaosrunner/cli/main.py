"""The command line: parses arguments, calls ``chaosrunner.api``, renders. Nothing else lives here.

Exit codes: 0 every hypothesis held · 1 a hypothesis failed · 2 invalid input or configuration ·
3 aborted (stop condition, signal) · 4 a fault could not be reverted (needs a human).
An internal error (a bug) never exits 1, which a CI gate would read as a failed hypothesis: it
exits 2 where nothing ran (validate, plan, schema), 3 from ``run`` (aborted: no verdict) and 4
from ``recover`` (faults may be left: a human must look).
"""
from __future__ import annotations

import json
import sys
import time
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from chaosrunner import api
from chaosrunner.errors import ChaosRunnerError
from chaosrunner.units import format_duration

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Chaos experiments and game days: faults, load, probes, RTO/RPO, one HTML report.")
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

TargetsOpt = typer.Option(None, "--targets", "-t", help="targets inventory (overrides the file's `targets:`)")
VarOpt = typer.Option(None, "--var", help="value for ${var:NAME}, as NAME=VALUE (repeatable)")
TimeScaleOpt = typer.Option(1.0, "--time-scale", min=0.001, max=100.0,
                            help="multiply fault durations, pauses and load by this (0.01: a 5m fault lasts 3s); "
                                 "objectives, probe timeouts and sampling stay as written")


def _guard(fn: Callable[[], int], internal: int) -> None:
    """Run a command: known errors print one readable message (never a traceback) and set the exit code.

    ``internal`` is the exit code of a bug (an unexpected exception): never 1, "a hypothesis failed".
    """
    try:
        code = fn()
    except ChaosRunnerError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        code = getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        code = 3
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly; details on request
        detail = " ".join(str(exc).split())
        if len(detail) > 300:
            detail = detail[:297] + "..."
        err.print(f"internal error: {type(exc).__name__}" + (f": {detail}" if detail else ""),
                  markup=False, soft_wrap=True)
        if os.environ.get("CHAOSRUNNER_DEBUG"):
            traceback.print_exc()
        else:
            err.print("  hint: a bug in chaosrunner; please report it (CHAOSRUNNER_DEBUG=1 shows the traceback)",
                      markup=False, soft_wrap=True)
        code = internal
    raise typer.Exit(code)


def _parse_vars(items: list[str] | None) -> dict[str, str]:
    from chaosrunner.errors import ConfigError

    result = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--var {item!r} is not NAME=VALUE", hint="write e.g. --var region=us-west-2")
        k, v = item.split("=", 1)
        result[k.strip()] = v
    return result


@app.command()
def validate(file: Path = typer.Argument(..., help="experiment or game-day file"),
             targets: Path | None = TargetsOpt, var: list[str] | None = VarOpt,
             offline: bool = typer.Option(False, "--offline",
                                          help="do not reach the targets (a cluster, an account, a proxy): check "
                                               "each fault's target and driver, not what the driver finds there")
             ) -> None:
    """Check an experiment file (or a game day, kind: GameDay) and its inventory; touches nothing."""
    if api.file_kind(file) == "GameDay":                    # exactly as `chaosrunner gameday validate`
        _gameday_cli().validate(file, targets, var, offline)  # exits with its code
        return

    def go() -> int:
        for v in api.validate(file, targets, _parse_vars(var), offline=offline):
            if v.plan is not None:
                out.print(f"ok: {v.name} ({len(v.plan.faults())} faults, {len(v.plan.probe_names)} probes"
                          + (f"; {v.note}" if v.note else "") + ")", markup=False)
            else:
                out.print(f"ok: {v.name} ({v.note})", markup=False)
        return 0
    _guard(go, internal=2)


@app.command()
def plan(file: Path = typer.Argument(..., help="experiment file"),
         targets: Path | None = TargetsOpt, var: list[str] | None = VarOpt,
         only: str | None = typer.Option(None, help="only the experiment with this name"),
         as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
         time_scale: float = TimeScaleOpt) -> None:
    """Show what a run would do — targets, drivers, blast radius, duration, each fault and its revert."""
    def go() -> int:
        from chaosrunner.ctk import is_ctk_file

        if is_ctk_file(file):             # as `run` runs it: chaoslib's activities, not a conversion
            from chaosrunner.cli.ctk import print_plan

            return print_plan(file, as_json, time_scale=time_scale, targets=targets, only=only)
        plans = api.plan(file, targets, _parse_vars(var), only, time_scale)
        if as_json:
            print(json.dumps([api.plan_document(p) for p in plans], indent=1))
            return 0
        for p in plans:
            out.print(f"[bold]{p.name}[/]  environment: {p.environment}  drivers: {', '.join(p.drivers) or '—'}")
            out.print(f"blast radius: {', '.join(p.blast_radius) or 'nothing'}", markup=False)
            out.print(f"probes: {', '.join(p.probe_names) or 'none'}", markup=False)
            out.print(f"expected duration: about {format_duration(p.expected_duration)}", markup=False)
            table = Table(show_header=True)
            for col in ("#", "at", "step", "inject", "revert"):
                table.add_column(col)
            for s in p.steps + p.rollbacks:
                label = ("rollback " if s.section == "rollback" else "") + s.label
                if not s.faults:
                    table.add_row(str(s.index), f"+{format_duration(s.at)}", label, "", "")
                for f, (inj, rev) in zip(s.faults, s.describe, strict=True):
                    table.add_row(str(s.index), f"+{format_duration(s.at)}", f"{label} [{f.target_name}]", inj, rev)
            out.print(table)
        return 0
    _guard(go, internal=2)


def _ask(question: str) -> str:
    """A question to the person at the terminal (stderr, so --json output stays clean)."""
    return str(typer.prompt(question, err=True, default="", show_default=False))


@app.command()
def run(file: Path = typer.Argument(..., help="experiment file"),
        targets: Path | None = TargetsOpt, var: list[str] | None = VarOpt,
        report_dir: Path = typer.Option(Path("reports"), "--report-dir", help="runs land in <dir>/<run-id>/"),
        only: str | None = typer.Option(None, help="only the experiment with this name"),
        confirm: str | None = typer.Option(None, help="name of the environment, required for production"),
        junit: Path | None = typer.Option(None, "--junit", help="also copy junit.xml here (CI)"),
        as_json: bool = typer.Option(False, "--json", help="print results as JSON on stdout"),
        non_interactive: bool = typer.Option(False, "--non-interactive",
                                             help="never prompt (scheduled runs, CI): a production inventory then "
                                                  "needs --confirm"),
        recovery_timeout: float | None = typer.Option(
            None, help="seconds to wait for the steady state after the faults"),
        hypothesis_strategy: str | None = typer.Option(None, help="Chaos Toolkit files: as `chaos run`"),
        rollback_strategy: str | None = typer.Option(None, help="Chaos Toolkit files: as `chaos run`"),
        hypothesis_frequency: float = typer.Option(1.0, help="Chaos Toolkit files: as `chaos run`"),
        fail_fast: bool = typer.Option(False, "--fail-fast", help="Chaos Toolkit files: as `chaos run`"),
        strict: bool = typer.Option(False, "--strict", help="Chaos Toolkit files: a deviation chaosrunner's "
                                                             "sampling saw fails the run"),
        time_scale: float = TimeScaleOpt) -> None:
    """Run experiments: inject the faults, sample the probes, revert, judge, report."""
    from chaosrunner.cli.console import LiveView

    def go() -> int:
        from chaosrunner.ctk import is_ctk_file
        from chaosrunner.execute.signals import SignalGuard

        if is_ctk_file(file):           # compatibility mode: chaoslib's run, its signals, its verdict
            from chaosrunner.cli.ctk import run_command
            from chaosrunner.errors import ConfigError

            if time_scale != 1:
                raise ConfigError(f"--time-scale does not apply to {file}: a Chaos Toolkit file runs as "
                                  "`chaos run` runs it", hint="run it without --time-scale, or convert it "
                                  "first: chaosrunner convert FILE")

            return run_command(file, report_dir, as_json, junit, _parse_vars(var), strict=strict,
                               hypothesis_strategy=hypothesis_strategy, rollback_strategy=rollback_strategy,
                               hypothesis_frequency=hypothesis_frequency, fail_fast=fail_fast)

        plans = api.plan(file, targets, _parse_vars(var), only, time_scale)
        results = []
        # held until the process ends: a Ctrl-C after the report is written still only counts
        with SignalGuard(restore=not _PROCESS_IS_THE_CLI) as signals:
            for p in plans:
                if signals.count:
                    break                  # the operator stopped the sequence: no further experiment
                view = LiveView(err)
                ask = None if non_interactive or not sys.stdin.isatty() else _ask
                options = api.RunOptions(report_dir=report_dir, confirm=confirm, ask=ask, signals=signals,
                                         recovery_timeout=recovery_timeout, on_record=None if as_json else view)
                with view:
                    result = api.run_plan(p, options)
                results.append(result)
                _report_one(result, as_json, junit)
        if as_json:
            print(json.dumps([r.summary() for r in results], indent=1))
        return max((r.exit_code for r in results), default=3)      # none ran: stopped by a signal
    _guard(go, internal=3)


def _report_one(result: Any, as_json: bool, junit: Path | None) -> None:
    from chaosrunner.cli.console import print_result

    if not as_json:
        print_result(err, result)
    if junit is not None and (result.run_dir / "junit.xml").exists():
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_bytes((result.run_dir / "junit.xml").read_bytes())


@app.command()
def schema(inventory: bool = typer.Option(False, "--inventory", help="the inventory's schema instead"),
           run_record: bool = typer.Option(False, "--run-record", help="the schema of run.json (the run record)"),
           gameday: bool = typer.Option(False, "--gameday", help="the schema of game-day files (kind: GameDay)")
           ) -> None:
    """Print the JSON Schema of experiment files (or inventories, game days, run.json), for editors and CI linting."""
    def go() -> int:
        if gameday:
            print(json.dumps(_gameday_cli().schema_document(), indent=1))
            return 0
        if run_record:
            from chaosrunner.results import RunRecord

            print(json.dumps(RunRecord.run_record_schema(), indent=1))
            return 0
        from chaosrunner.drivers import registry
        from chaosrunner.model.experiment import Experiment, ExperimentFile
        from chaosrunner.model.targets import Inventory

        registry()          # every installed driver's fault types and handles
        if inventory:
            doc: dict[str, Any] = Inventory.model_json_schema()
        else:
            one, many = Experiment.model_json_schema(), ExperimentFile.model_json_schema()
            defs = {**one.pop("$defs", {}), **many.pop("$defs", {})}
            defs["Experiment"] = one
            doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "chaosrunner experiment file",
                   "anyOf": [{"$ref": "#/$defs/Experiment"}, many], "$defs": defs}
        print(json.dumps(doc, indent=1))
        return 0
    _guard(go, internal=2)


@app.command()
def recover(all_entries: bool = typer.Option(False, "--all", help="also faults of runs that are still alive"),
            listing: bool = typer.Option(False, "--list", help="list the ledger entries and their ids; revert nothing"),
            forget: str | None = typer.Option(None, "--forget", metavar="ID",
                                              help="strike one entry off without reverting it (after fixing it "
                                                   "by hand); asks to confirm, and records it"),
            reason: str = typer.Option("", "--reason", help="with --forget: why (recorded)"),
            yes: bool = typer.Option(False, "--yes", help="with --forget: do not ask (scripts)")) -> None:
    """Revert every fault left behind by a crashed or killed run (the ledger)."""
    from chaosrunner.execute import recovery

    def go() -> int:
        if listing:
            return _list_ledger()
        if forget is not None:
            entry = recovery.find_entry(forget)
            if entry is None:
                err.print(f"error: no ledger entry {forget!r}; `chaosrunner recover --list` shows them", markup=False)
                return 2
            what = f"{entry.fault_type} on {entry.target} (run {entry.run_id})"
            if not yes:
                if not sys.stdin.isatty():
                    err.print("error: --forget asks for a confirmation: run it in a terminal, or add --yes",
                              markup=False)
                    return 2
                answer = _ask(f"forget {what} without reverting it? It must have been fixed by hand. Type 'forget'")
                if answer.strip() != "forget":
                    err.print("not forgotten", markup=False)
                    return 2
            log = recovery.forget(entry, reason)
            out.print(f"forgotten: {what}; recorded in {log}", markup=False)
            return 0
        results = api.recover(include_live=all_entries)
        if not results:
            out.print("nothing to recover: the ledger is empty", markup=False)
            return 0
        for r in results:
            e = r.entry
            state = "reverted" if r.ok else f"FAILED: {r.error}"
            out.print(f"{e.fault_type} on {e.target} (run {e.run_id}, {e.fault_id}): {state}", markup=False,
                      soft_wrap=True)
        return 0 if all(r.ok for r in results) else 4
    _guard(go, internal=4)


def _list_ledger() -> int:
    from chaosrunner.execute import ledger, recovery

    entries = ledger.read_entries()
    if not entries:
        out.print("the ledger is empty", markup=False)
        return 0
    for e in entries:                  # one line each, never cut: the id is there to be copied
        run = "alive" if e.owner_alive() else "dead"
        written = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.written))
        out.print(f"{recovery.entry_id(e)}  {e.fault_type} on {e.target}  {e.state}  run {e.run_id} ({run})  "
                  f"written {written}", markup=False, soft_wrap=True)
    return 0


def _gameday_cli() -> Any:
    """The ``gameday`` commands, imported by name as ``_mount`` does: ``chaosrunner.gameday`` builds on
    ``chaosrunner.api`` and on this module, so neither of them imports it."""
    return __import__("chaosrunner.gameday.cli", fromlist=["app"])


def _mount(name: str, module: str, help_text: str) -> None:
    try:
        sub = __import__(module, fromlist=["app"]).app
    except ImportError:
        return
    app.add_typer(sub, name=name, help=help_text)


_mount("proxy", "chaosrunner.proxy.cli", "The embedded Toxiproxy-compatible fault proxy.")
_mount("demo", "chaosrunner.demo.cli", "The embedded demo system (the default target).")
_mount("report", "chaosrunner.report.cli", "Render reports and the index of runs.")
_mount("schedule", "chaosrunner.schedule.cli", "Scheduled chaos: list fire times, run the scheduler, export.")
_mount("gameday", "chaosrunner.gameday.cli", "Game days: runbooks of phases, manual steps, expected timings.")
app.command("gate")(__import__("chaosrunner.cli.gate", fromlist=["gate"]).gate)
_mount("risks", "chaosrunner.risks.cli", "The risk register's coverage: which risks experiments verified, and when.")
app.command("convert")(__import__("chaosrunner.cli.ctk", fromlist=["convert"]).convert)


_PROCESS_IS_THE_CLI = False
"""True when this process is the ``chaosrunner`` command (not the CLI called from Python, as tests do)."""


def main() -> None:
    global _PROCESS_IS_THE_CLI
    _PROCESS_IS_THE_CLI = True
    app(prog_name="chaosrunner")


if __name__ == "__main__":
    main()
