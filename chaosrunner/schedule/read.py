"""Reading a schedules file: its shape (``schedule.model``), then what needs the world, each error located.

Refused with exit 2, file, line and fix: an invalid cron expression (croniter's reading, 5 fields
only), an unknown time zone, a window that never opens at a fire time of the entry, a run file
that is missing or fails its own validation (the message then points into that file), a game day
when this chaosrunner has no ``gameday run`` command.
"""
from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

from chaosrunner.errors import ChaosRunnerError, ConfigError, ConfigErrors
from chaosrunner.read.parse import Marks, read_yaml, validate
from chaosrunner.schedule.model import Entry, SchedulesFile
from chaosrunner.schedule.timing import next_allowed


@dataclass
class RunFile:
    path: Path
    kind: str                   # Experiment | GameDay


@dataclass
class LoadedEntry:
    name: str
    model: Entry
    runs: list[RunFile]
    targets: Path | None


@dataclass
class LoadedSchedules:
    file: Path
    model: SchedulesFile
    marks: Marks
    entries: dict[str, LoadedEntry]

    @property
    def report_dir(self) -> Path:
        return (self.file.parent / self.model.report_dir).resolve()

    def entry(self, name: str) -> LoadedEntry:
        if name not in self.entries:
            raise ConfigError(f"no entry {name!r} in {self.file}", hint="entries: " + ", ".join(self.entries))
        return self.entries[name]


def gameday_command_available() -> bool:
    """Whether this chaosrunner has ``chaosrunner gameday run`` (the game-day package is being built beside this)."""
    try:
        return importlib.util.find_spec("chaosrunner.gameday.cli") is not None
    except ImportError:
        return False


def file_kind(path: Path) -> str:
    data, _ = read_yaml(path)
    if isinstance(data, dict) and data.get("kind") == "GameDay":
        return "GameDay"
    return "Experiment"


def read_schedules(path: str | Path, check_runs: bool = True, now: datetime | None = None,
                   offline: bool = False) -> LoadedSchedules:
    """Read and check a schedules file; ``check_runs``: also validate every file the entries run;
    ``offline``: without reaching their targets (``api.validate(offline=True)``) — ``schedule
    export`` writes files that run elsewhere, such as a CronJob whose inventory is ``in_cluster``."""
    file = Path(path)
    data, marks = read_yaml(file)
    if not isinstance(data, dict) or data.get("kind") != "Schedules":
        raise ConfigError("not a schedules file: it needs `kind: Schedules` at the top", marks.at(()),
                          "add `kind: Schedules` and a `schedules:` mapping of named entries")
    model = validate(SchedulesFile, data, marks)
    errors: list[ConfigError] = []
    entries: dict[str, LoadedEntry] = {}
    for name, entry in model.schedules.items():
        try:
            entries[name] = _check_entry(file, name, entry, marks, check_runs, now or datetime.now(UTC), offline)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return LoadedSchedules(file, model, marks, entries)


def _check_entry(file: Path, name: str, entry: Entry, marks: Marks, check_runs: bool,
                 now: datetime, offline: bool = False) -> LoadedEntry:
    at = ("schedules", name)
    try:
        ZoneInfo(entry.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        near = difflib.get_close_matches(entry.timezone, sorted(available_timezones()), n=1)
        raise ConfigError(f"unknown time zone {entry.timezone!r}", marks.at(at + ("timezone",)),
                          (f"did you mean {near[0]!r}? " if near else "") + "write an IANA name, e.g. Europe/Paris "
                          "or UTC") from None
    if entry.cron is not None:
        fields = entry.cron.split()
        if len(fields) != 5 or not croniter.is_valid(entry.cron):
            why = f"it has {len(fields)} fields, not 5" if len(fields) != 5 else "croniter cannot read it"
            raise ConfigError(f"invalid cron expression {entry.cron!r}: {why}", marks.at(at + ("cron",)),
                              'write 5 fields: minute hour day-of-month month day-of-week, e.g. "0 10 1 * *" '
                              "(10:00 on the 1st of each month)")
    if entry.enabled and not next_allowed(entry, now, 1, anchor=now):
        where = next((k for k in ("only_between", "days", "except") if at + (k,) in marks.values),
                     "cron" if entry.cron else "every")
        raise ConfigError("the window never opens at a fire time of this entry: it would never run",
                          marks.at(at + (where,)),
                          "widen only_between or days, or move the cron's hour into the window "
                          "(`chaosrunner schedule list` shows the fire times)")
    base = file.parent
    targets = (base / entry.targets) if entry.targets else None
    if targets is not None and not targets.is_file():
        raise ConfigError(f"no such inventory: {targets}", marks.at(at + ("targets",)),
                          "paths are relative to the schedules file")
    runs = []
    for i, item in enumerate(entry.run):
        loc = marks.at(at + ("run", i)) if len(entry.run) > 1 or isinstance(_raw_run(marks, at), list) \
            else marks.at(at + ("run",))
        path = base / item
        if not path.is_file():
            raise ConfigError(f"no such file: {path}", loc, "paths are relative to the schedules file")
        kind = file_kind(path)
        if check_runs:
            _check_run(path, kind, targets, entry.vars, name, loc, offline)
        runs.append(RunFile(path, kind))
    return LoadedEntry(name, entry, runs, targets)


def _raw_run(marks: Marks, at: tuple[Any, ...]) -> Any:
    return list if at + ("run", 0) in marks.values else None


def _check_run(path: Path, kind: str, targets: Path | None, variables: dict[str, str], entry: str,
               loc: Any, offline: bool = False) -> None:
    """The run file's own validation, as ``chaosrunner validate`` (or the game day's reader) does it."""
    try:
        if kind == "GameDay":
            if not gameday_command_available():
                raise ConfigError(f"{path} is a game day, and this chaosrunner has no `gameday run` command",
                                  loc, "schedule experiments, or install a chaosrunner with game days")
            from chaosrunner.gameday import read as gameday_read

            gameday_read.read_gameday(path, targets, variables, offline=offline)
        else:
            from chaosrunner import api

            api.validate(path, targets, variables, offline=offline)
    except ConfigErrors:
        raise
    except ConfigError as exc:
        if exc.location is not None and exc.location.file != loc.file:
            raise ConfigError(exc.message, exc.location,
                              ((exc.hint + " ") if exc.hint else "") + f"(run by schedule entry {entry!r}, "
                                                                       f"{loc})") from None
        raise
    except ChaosRunnerError as exc:
        raise ConfigError(f"{path} (run by entry {entry!r}) cannot be planned: {exc}", loc,
                          "`chaosrunner validate` on that file shows the details") from None
