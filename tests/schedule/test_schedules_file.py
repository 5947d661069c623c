"""The schedules file: bad entries exit 2 with file, line and fix; `schedule list` shows the fire times."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from chaosrunner.cli.main import app
from chaosrunner.schedule.read import read_schedules
from chaosrunner.schedule.timing import closed_window, next_allowed

QUICK = 'name: quick\nsteady_state:\n  - probe: {type: command, name: ok, command: "true"}\nmethod:\n  - pause: 100ms\n'


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def schedules(tmp_path, entry: str) -> str:
    (tmp_path / "quick.yaml").write_text(QUICK)
    path = tmp_path / "schedules.yaml"
    path.write_text("kind: Schedules\nschedules:\n  e:\n" + "".join(f"    {ln}\n" for ln in entry.splitlines()))
    return str(path)


BAD = [
    ('cron: "0 10 * *"\nrun: quick.yaml', 4, "it has 4 fields, not 5", "minute hour day-of-month"),
    ('cron: "0 10 1 * * 2026"\nrun: quick.yaml', 4, "it has 6 fields, not 5", "5 fields"),
    ('cron: "61 * * * *"\nrun: quick.yaml', 4, "croniter cannot read it", "5 fields"),
    ('cron: "0 10 * * *"\ntimezone: Europe/Pariss\nrun: quick.yaml', 5, "unknown time zone 'Europe/Pariss'",
     "did you mean 'Europe/Paris'"),
    ('cron: "0 3 * * *"\nrun: quick.yaml\nonly_between: "09:00-17:00"', 6, "the window never opens",
     "move the cron's hour into the window"),
    ('cron: "0 10 * * sat"\nrun: quick.yaml\ndays: mon-fri', 6, "the window never opens", "widen"),
    ('every: 1h\nrun: quick.yaml\nonly_between: "09:00-09:00"', 6, "never opens: it starts when it ends", None),
    ('every: 1h\nrun: quick.yaml\nonly_between: "9 to 5"', 6, "is not a time window", None),
    ('every: 1h\nrun: quick.yaml\ndays: mon-fry', 6, "'mon-fry' is not a range of days; write e.g. mon-fri", None),
    ('every: 1h\nrun: missing.yaml', 5, "no such file", "relative to the schedules file"),
    ('every: 1h\nrun: quick.yaml\nconcurency: allow', 6, "unknown key 'concurency'", "did you mean 'concurrency'"),
    ('every: 1h\nrun: quick.yaml\nconcurrency: sometimes', 6, "'sometimes' is not allowed here", None),
    ('run: quick.yaml', 4, "needs `cron:` or `every:`", "every: 6h"),
    ('every: 1h\nrun: quick.yaml\nnotify: [{url: "hooks.example/x"}]', 6, "is not an http(s) URL", None),
]


@pytest.mark.parametrize(("entry", "line", "message", "hint"), BAD, ids=[b[2][:30] for b in BAD])
def test_bad_entries_exit_2_with_file_line_and_fix(tmp_path, entry, line, message, hint):
    path = schedules(tmp_path, entry)
    for command in (["schedule", "list", path], ["schedule", "run", path], ["schedule", "export", path,
                                                                             "--format", "systemd"]):
        r = cli(*command)
        text = " ".join(r.output.split())
        assert r.exit_code == 2, (command, r.output)
        assert f"schedules.yaml:{line}" in text and message in text, text
        if hint:
            assert "hint:" in text and hint in text, text


def test_a_run_file_that_fails_validation_is_located_in_that_file(tmp_path):
    path = schedules(tmp_path, "every: 1h\nrun: [quick.yaml, broken.yaml]")
    (tmp_path / "broken.yaml").write_text(QUICK.replace("pause: 100ms", "pause: 100ms\n  - pauze: 1s"))
    r = cli("schedule", "run", path)
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and "broken.yaml:6" in text, text
    assert "run by schedule entry 'e'" in text and "schedules.yaml:5" in text, text


def test_not_a_schedules_file(tmp_path):
    (tmp_path / "x.yaml").write_text(QUICK)
    r = cli("schedule", "list", str(tmp_path / "x.yaml"))
    assert r.exit_code == 2 and "kind: Schedules" in r.output


def test_list_shows_the_next_five_fires_with_windows_in_local_time_and_utc(tmp_path):
    path = schedules(tmp_path, 'cron: "0 10 * * *"\ntimezone: Europe/Paris\nrun: quick.yaml\ndays: mon-fri\n'
                               'except: [2030-01-01]')
    r = cli("schedule", "list", path)
    assert r.exit_code == 0, r.output
    fires = [ln for ln in r.output.splitlines() if ln.startswith("  ")]
    assert len(fires) == 5, r.output
    for ln in fires:
        m = re.fullmatch(r"  (\w{3}) (\d{4}-\d\d-\d\d) 10:00:00 (CET|CEST) \((\d{4}-\d\d-\d\d) (\d\d):00:00 UTC\)", ln)
        assert m and m.group(1) not in ("Sat", "Sun"), ln
        assert m.group(5) == ("09" if m.group(3) == "CET" else "08"), ln
    assert "windows: days mon,tue,wed,thu,fri, except 2030-01-01" in r.output


def test_windows_read_in_the_entrys_time_zone_and_across_midnight(tmp_path):
    loaded = read_schedules(schedules(tmp_path, 'every: 1h\ntimezone: America/New_York\nrun: quick.yaml\n'
                                                'only_between: "22:00-02:00"\ndays: fri\nexcept: [2026-12-25]'))
    e = loaded.entries["e"].model
    ny = e.timezone
    from zoneinfo import ZoneInfo

    def at(d: date, t: time) -> datetime:
        return datetime.combine(d, t, ZoneInfo(ny)).astimezone(UTC)

    assert closed_window(e, at(date(2026, 12, 4), time(23, 0))) is None           # Friday night
    assert closed_window(e, at(date(2026, 12, 5), time(1, 0))) is None            # still Friday's window
    assert "not on days fri" in closed_window(e, at(date(2026, 12, 5), time(23, 0)))   # Saturday night
    assert "outside only_between" in closed_window(e, at(date(2026, 12, 4), time(12, 0)))
    assert "excepted day (2026-12-25)" in closed_window(e, at(date(2026, 12, 25), time(23, 0)))
    nxt = next_allowed(e, at(date(2026, 12, 1), time(0, 0)), 6, anchor=at(date(2026, 12, 1), time(0, 0)))
    assert [f.astimezone(ZoneInfo(ny)).strftime("%a %H") for f in nxt] == \
        ["Fri 22", "Fri 23", "Sat 00", "Sat 01", "Fri 22", "Fri 23"]


def test_the_ready_schedules_run_every_ready_experiment_and_game_day_on_the_demo():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    loaded = read_schedules(root / "schedules.yaml")
    scheduled = {r.path.resolve() for e in loaded.entries.values() for r in e.runs}
    experiments = {p.resolve() for p in (root / "experiments").glob("*.yaml")
                   if p.stem not in ("quickstart", "seed-experiments", "db-failover-sync")}   # other systems/modes
    gamedays = {p.resolve() for p in (root / "gamedays").glob("*.yaml")}
    assert scheduled == experiments | gamedays
    assert {r.kind for e in loaded.entries.values() for r in e.runs} == {"Experiment", "GameDay"}
    start = datetime(2027, 1, 1, tzinfo=UTC)
    for name, entry in loaded.entries.items():
        year = next_allowed(entry.model, start, 20, anchor=start, horizon_days=366)
        assert 4 <= len(year) <= 12, (name, year)                 # monthly at most, quarterly at least
        assert all(f.astimezone(ZoneInfo("Europe/Paris")).weekday() == 1 for f in year), name   # Tuesdays
        assert entry.targets is None and all("targets/demo.yaml" in r.path.read_text() for r in entry.runs)
