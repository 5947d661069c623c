"""`chaosrunner risks`: the risk register's coverage — per risk, the experiments that verify it, their
last run, verdict and date, days since verified; never-verified, stale, failed and uncovered risks."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Callable
from typing import Any

import typer

app = typer.Typer(add_completion=False, help="The risk register's coverage by experiments and their runs.")


@app.callback(invoke_without_command=True)
def risks(register: Path | None = typer.Option(None, "--register", "-r",
                                               help="the register (kind: RiskRegister; default: risks.yaml here "
                                                    "or in the nearest folder above)"),
          reports: Path = typer.Option(Path("reports"), "--reports", help="the folder runs land in"),
          experiments: list[Path] | None = typer.Option(
              None, "--experiments", help="a folder of experiment or game-day files (repeatable; default: "
                                          "experiments/ and gamedays/ beside the register)"),
          as_json: bool = typer.Option(False, "--json", help="print the coverage as JSON")) -> None:
    """Per risk: the experiments that cover it, their last run, verdict and date, days since verified."""
    _guard(lambda: _risks(register, reports, experiments, as_json))


def _guard(fn: Callable[[], int]) -> None:
    """As the main command line's guard (not imported from it: ``report`` uses this package, and the command
    line imports ``report``): bad input is one message and exit 2, a bug one line and exit 2, never a traceback."""
    import os
    import sys
    import traceback

    from chaosrunner.errors import ChaosRunnerError

    try:
        code = fn()
    except ChaosRunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = getattr(exc, "exit_code", 2)
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly; details on request
        print(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        if os.environ.get("CHAOSRUNNER_DEBUG"):
            traceback.print_exc()
        else:
            print("  hint: a bug in chaosrunner; please report it (CHAOSRUNNER_DEBUG=1 shows the traceback)",
                  file=sys.stderr)
        code = 2
    raise typer.Exit(code)


def _risks(register: Path | None, reports: Path, experiments: list[Path] | None, as_json: bool) -> int:
    from chaosrunner.errors import ConfigError
    from chaosrunner.risks.coverage import coverage
    from chaosrunner.read.risks import find_register, read_register
    from chaosrunner.risks.sources import gather

    path = register if register is not None else find_register(Path.cwd())
    if path is None:
        raise ConfigError("no risk register found (risks.yaml here or in a folder above)", None,
                          "pass --register FILE (a kind: RiskRegister file)")
    if not path.exists():
        raise ConfigError(f"no such file: {path}", None, "check the path of --register")
    reg = read_register(path)
    folders = experiments if experiments else [path.parent / "experiments", path.parent / "gamedays"]
    for folder in folders:
        if not folder.is_dir():
            if experiments:
                raise ConfigError(f"{folder} is not a folder", None, "pass a folder of experiment files")
    if reports != Path("reports") and not reports.is_dir():
        raise ConfigError(f"{reports} is not a folder", None, "pass the folder runs land in (--reports)")
    sources = gather(reports, [f for f in folders if f.is_dir()])
    now = datetime.now(UTC)
    rows = coverage(reg, sources.declared, sources.runs, now)
    if as_json:
        print(json.dumps(_document(path, reg.name, rows, now), indent=1))
        return 0
    print(f"Risk register {reg.name or path.name} ({path}): {len(reg.risks)} risks; runs from {reports} "
          f"({len(sources.runs)}); {now:%Y-%m-%d %H:%M} UTC")
    for c in rows:
        r = c.risk
        print()
        print(f"{r.id}  {r.title}  [{r.category}]  owner: {r.owner or '—'}  review: {c.review}")
        print(f"  severity {r.severity.level.label} ({r.severity.level.words}) × probability "
              f"{r.probability.level.label} ({r.probability.level.words})")
        since = f", {c.days_since:.1f} days since verified" if c.days_since is not None else ""
        print(f"  {c.state.value.upper()}: {c.state.text}{since}"
              + (f" — {'; '.join(c.reasons)}" if c.reasons else ""))
        if not c.covers:
            print("  covered by no experiment")
        for cov in c.covers:
            kind = " (game day)" if cov.kind == "GameDay" else ""
            if cov.last is None:
                print(f"  - {cov.experiment}{kind}: never run")
                continue
            last = cov.last
            when = f"{last.started:%Y-%m-%d %H:%M} UTC" if last.started else "?"
            verified = (f"; verified {(now - cov.last_held.started).total_seconds() / 86400:.1f} days ago"
                        if cov.last_held is not None and cov.last_held.started is not None else "; never held")
            print(f"  - {cov.experiment}{kind}: last run {last.run_id} {last.status.value} {when}{verified}")
    print()
    for label, pick in (("Failed", lambda c: c.state.value == "failed"),
                        ("Stale (last verification older than the review period)", lambda c: c.state.value == "stale"),
                        ("Never verified", lambda c: c.state.value == "never"),
                        ("Uncovered (no experiment declares them; information, not a failure)",
                         lambda c: c.uncovered)):
        ids = [c.risk.id for c in rows if pick(c)]
        print(f"{label}: {', '.join(ids) if ids else 'none'}")
    return 0


def _document(path: Path, name: str, rows: list[Any], now: datetime) -> dict[str, Any]:
    def fact(f: Any) -> dict[str, Any] | None:
        return None if f is None else {"run_id": f.run_id, "status": f.status.value,
                                        "started": f.started.isoformat() if f.started else None}

    return {"register": str(path), "name": name, "at": now.isoformat(),
            "risks": [{"id": c.risk.id, "title": c.risk.title, "severity": c.risk.severity.value,
                       "probability": c.risk.probability.value, "owner": c.risk.owner, "review": c.review,
                       "state": c.state.value, "uncovered": c.uncovered, "days_since_verified": c.days_since,
                       "reasons": list(c.reasons),
                       "covered_by": [{"experiment": v.experiment, "kind": v.kind, "file": v.file,
                                       "last_run": fact(v.last), "last_held": fact(v.last_held)} for v in c.covers]}
                      for c in rows]}
