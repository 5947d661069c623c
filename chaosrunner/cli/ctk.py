"""The command line's Chaos Toolkit side: ``chaosrunner convert`` and ``run`` on a Chaos Toolkit file.

Arguments are parsed here, the work is ``chaosrunner.ctk``'s (which never imports the command line);
``chaosrunner.cli.main`` mounts ``convert`` and hands CTK files of ``run`` to ``run_command``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml


def convert(file: Path = typer.Argument(..., help="experiment file (Chaos Toolkit, or chaosrunner with --to ctk)"),
            to: str = typer.Option("chaosrunner", "--to", help="chaosrunner (from a Chaos Toolkit file) or ctk"),
            fmt: str = typer.Option("yaml", "--format", help="yaml or json")) -> None:
    """Print a Chaos Toolkit experiment in chaosrunner's form, or (--to ctk) a chaosrunner experiment in
    Chaos Toolkit's form, saying on stderr what cannot be expressed there."""
    from chaosrunner.cli.main import _guard, err
    from chaosrunner.ctk.convert import to_chaosrunner, to_ctk
    from chaosrunner.errors import ConfigError

    def go() -> int:
        if to not in ("chaosrunner", "ctk") or fmt not in ("yaml", "json"):
            raise ConfigError(f"--to {to} --format {fmt}: --to is chaosrunner or ctk, --format yaml or json",
                              hint="e.g. chaosrunner convert exp.yaml --to ctk --format json")
        left: list[str] = []
        if to == "ctk":
            doc, left = to_ctk(file)
        else:
            doc = to_chaosrunner(file)
        if fmt == "json":
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        for item in left:
            err.print(f"not expressed in Chaos Toolkit: {item}", markup=False, soft_wrap=True)
        return 0
    _guard(go, internal=2)


def run_command(file: Path, report_dir: Path, as_json: bool, junit: Path | None, var: dict[str, str],
                **ctk: Any) -> int:
    """``chaosrunner run`` on a Chaos Toolkit file: compatibility mode (``chaosrunner.ctk.run``)."""
    from chaosrunner.cli.main import _report_one, err
    from chaosrunner.ctk.run import CtkOptions, run_ctk

    options = CtkOptions(report_dir=report_dir, variables=dict(var), echo_log=not as_json, **ctk)
    if not as_json:
        err.print(f"Chaos Toolkit experiment: compatibility mode (chaoslib's run and verdict; "
                  f"chaosrunner's sampling as findings{', strict' if options.strict else ''})", markup=False)
    result = run_ctk(file, options)
    _report_one(result, as_json, junit)
    if as_json:
        print(json.dumps([result.summary()], indent=1))
    return result.exit_code


def print_plan(file: Path, as_json: bool, *, time_scale: float = 1.0, targets: Path | None = None,
               only: str | None = None) -> int:
    """``chaosrunner plan`` on a Chaos Toolkit file: its activities as chaoslib will run them (``ctk.plan``)."""
    from chaosrunner import api
    from chaosrunner.cli.main import out
    from chaosrunner.errors import ConfigError

    if time_scale != 1 or targets is not None:
        raise ConfigError(f"{'--time-scale' if time_scale != 1 else '--targets'} does not apply to {file}: a Chaos "
                          "Toolkit file runs as `chaos run` runs it", hint="plan it without that option, or "
                          "convert it first: chaosrunner convert FILE")
    plan = api.plan_ctk(file)
    if only is not None and only != plan["experiment"]:
        raise ConfigError(f"no experiment named {only!r} in {file}", hint=f"its title: {plan['experiment']!r}")
    if as_json:
        print(json.dumps([plan], indent=1))
        return 0
    out.print(f"[bold]{plan['experiment']}[/]  {plan['mode']}")
    sampled = plan["chaosrunner"]
    out.print(f"sampled all through the run: {', '.join(sampled['samples']) or 'nothing (no hypothesis)'} every "
              f"{sampled['interval']:g}s (findings{'; strict' if sampled['strict'] else ''}"
              f"{'; rto ' + format(sampled['rto'], 'g') + 's' if sampled['rto'] is not None else ''})",
              markup=False)
    if plan["controls"]:
        out.print(f"controls: {', '.join(map(str, plan['controls']))}", markup=False)
    for title, steps in (("steady-state hypothesis (before and after the method)", plan["hypothesis"]),
                         ("method", plan["method"]), ("rollbacks", plan["rollbacks"])):
        out.print(f"{title}:", markup=False)
        if not steps:
            out.print("  (none)", markup=False)
        for i, s in enumerate(steps, 1):
            extra = [f"tolerance {s['tolerance']!r}" if s["tolerance"] is not None else "",
                     f"pause {s['pause_before']}s before" if s["pause_before"] else "",
                     f"pause {s['pause_after']}s after" if s["pause_after"] else "",
                     "in the background" if s["background"] else ""]
            out.print(f"  {i}. {s['type']} {s['name']!r}: {s['provider']}"
                      + "".join(f"; {e}" for e in extra if e) + f"  (line {s['line']})", markup=False, soft_wrap=True)
    return 0
