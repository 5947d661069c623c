"""`chaosrunner schedule list|run|export`: the schedules file's fire times, the foreground scheduler, exports."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Scheduled chaos: list fire times, run the scheduler, export to cron engines.")

FileArg = typer.Argument(..., help="a schedules file (kind: Schedules)")


def _guard(fn: object, internal: int = 2) -> None:
    from chaosrunner.cli.main import _guard as guard

    guard(fn, internal=internal)  # type: ignore[arg-type]


@app.command("list")
def list_(file: Path = FileArg,
          count: int = typer.Option(5, "--count", "-n", help="fire times per entry")) -> None:
    """Each entry's next fire times with its windows applied, in its time zone and in UTC."""
    from chaosrunner.schedule.read import read_schedules
    from chaosrunner.schedule.timing import fmt, next_allowed

    def go() -> int:
        loaded = read_schedules(file, check_runs=False)
        now = datetime.now(UTC)
        for name, entry in loaded.entries.items():
            m = entry.model
            when = f"cron {m.cron!r} ({m.timezone})" if m.cron else f"every {m.every:g}s from the scheduler's start"
            windows = ", ".join(w for w in (
                f"only_between {m.only_between[0]:%H:%M}-{m.only_between[1]:%H:%M}" if m.only_between else "",
                f"days {','.join(m.days)}" if m.days else "",
                f"except {', '.join(d.isoformat() for d in m.except_)}" if m.except_ else "") if w)
            print(f"{name}: {when}; runs {', '.join(r.path.name for r in entry.runs)}"
                  + (f"; windows: {windows}" if windows else "")
                  + (f"; jitter up to {m.jitter:g}s" if m.jitter else "")
                  + f"; concurrency {m.concurrency.value}; missed {m.missed.value}"
                  + ("" if m.enabled else "; DISABLED"))
            if not m.enabled:
                continue
            for at in next_allowed(m, now, count, anchor=now):
                print(f"  {fmt(at, m)}")
        return 0
    _guard(go)


@app.command()
def run(file: Path = FileArg,
        once: str | None = typer.Option(None, "--once", metavar="ENTRY",
                                        help="run this entry now, as a scheduled run would (notify, retention), "
                                             "then exit with its runs' worst exit code"),
        respect_windows: bool = typer.Option(False, "--respect-windows",
                                             help="with --once: skip (exit 0, recorded) when a window is closed "
                                                  "now — what exports to cron engines use"),
        jitter: bool = typer.Option(False, "--jitter", help="with --once: wait the entry's random jitter first"),
        due: bool = typer.Option(False, "--due", help="with --once: skip unless the entry's cron, in its time zone, "
                                                      "fired within the last 45 minutes (UTC-only cron engines)")
        ) -> None:
    """The scheduler, in the foreground: fires each entry at its times, one line per decision."""
    from chaosrunner.schedule.read import read_schedules
    from chaosrunner.schedule.runner import Scheduler

    def go() -> int:
        loaded = read_schedules(file)
        scheduler = Scheduler(loaded)
        if once is not None:
            due_cron = None
            if due:
                from chaosrunner.schedule.export import cron_of

                due_cron = cron_of(loaded, loaded.entry(once))
            return scheduler.run_once(once, respect_windows=respect_windows, jitter=jitter, due_cron=due_cron)
        return scheduler.run_forever()
    _guard(go, internal=3)


@app.command()
def export(file: Path = FileArg,
           fmt: str = typer.Option(..., "--format", help="k8s-cronjob | systemd | github-actions | gitlab-ci"),
           out: Path | None = typer.Option(None, "--out", "-o",
                                           help="a folder to write the files into (default: print them)"),
           image: str = typer.Option("ghcr.io/chaosrunner/chaosrunner:latest", help="k8s-cronjob: the image"),
           namespace: str = typer.Option("chaos", help="k8s-cronjob: the namespace"),
           workdir: str = typer.Option("", help="systemd: the project folder (default: the schedules file's)"),
           ) -> None:
    """Write what a cron engine needs to fire the same runs: CronJobs, systemd units, CI workflows."""
    from chaosrunner.errors import ConfigError
    from chaosrunner.schedule.export import FORMATS, export_files
    from chaosrunner.schedule.read import read_schedules

    def go() -> int:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}", hint="formats: " + ", ".join(FORMATS))
        loaded = read_schedules(file, offline=True)      # the files run elsewhere (in the cluster, in CI)
        files = export_files(loaded, fmt, image=image, namespace=namespace, workdir=workdir or None)
        for name, text in files.items():
            if out is None:
                print(f"# --- {name}\n{text}")
            else:
                out.mkdir(parents=True, exist_ok=True)
                (out / name).write_text(text, encoding="utf-8")
                print(out / name)
        return 0
    _guard(go)
