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
