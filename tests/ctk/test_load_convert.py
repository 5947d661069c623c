"""Loading and checking Chaos Toolkit files (positions, activity names, missing modules), `convert` both
ways, the journal read back by chaoslib, and a CTK run killed with kill -9 leaving nothing behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from support import run_cli, wait_until, write

from chaosrunner.ctk.load import load_ctk
from chaosrunner.errors import ConfigError

from .conftest import FIXTURES

HEAD = "version: 1.0.0\ntitle: t\ndescription: d\nmethod:\n"


def _error(tmp_path, text: str, name: str = "exp.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_ctk(write(tmp_path / name, text))
    return info.value


def test_every_fixture_validates(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("CTKFIX_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("CTKFIX_TOKEN", "x")
    monkeypatch.setenv("CTKFIX_TOXIPROXY_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("CTKFIX_PROXIED_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("CTKFIX_TLS_URL", "https://127.0.0.1:1")
    for f in FIXTURES.iterdir():
        if f.is_file():
            assert load_ctk(f).title


def test_json_with_tabs_is_json_and_errors_point_at_the_activity(tmp_path):
    text = ('{\n\t"title": "t",\n\t"description": "d",\n\t"method": [\n\t\t{"type": "action", "name": "ok",'
            ' "provider": {"type": "process", "path": "true"}},\n'
            '\t\t{"type": "action", "name": "broken", "provider": {"type": "carrier-pigeon"}}\n\t]\n}\n')
    err = _error(tmp_path, text, "exp.json")
    assert err.location is not None and (err.location.line, err.location.column) == (6, 3)
    assert "'broken'" in err.message and "carrier-pigeon" in err.message


def test_invalid_json_names_line_and_column(tmp_path):
    err = _error(tmp_path, '{\n  "title": "t",\n  "method": [,]\n}\n', "exp.json")
    assert err.location is not None and err.location.line == 3 and "invalid JSON" in err.message


@pytest.mark.parametrize("tolerance, words", [
    ('{type: regex, pattern: "([", target: body}', "pattern"),
    ("{type: jsonpath}", "path"),
    ("{type: range, range: [5]}", "range"),
    ("{type: probe, name: p, provider: {type: python, module: ctkfix.probes, func: is_up}}", "arguments"),
])
def test_tolerances_are_checked_at_validate(tmp_path, monkeypatch, tolerance, words):
    monkeypatch.syspath_prepend(str(FIXTURES))
    text = ("version: 1.0.0\ntitle: t\ndescription: d\nsteady-state-hypothesis:\n  title: h\n  probes:\n"
            f"    - type: probe\n      name: health\n      tolerance: {tolerance}\n"
            "      provider: {type: http, url: 'http://127.0.0.1:1/'}\nmethod: []\n")
    err = _error(tmp_path, text)
    assert err.location is not None and err.location.line == 9 and "'health'" in err.message
    assert words in (err.message + (err.hint or "")).lower()


def test_a_missing_extension_or_control_names_module_and_package(tmp_path):
    err = _error(tmp_path, HEAD + "  - type: action\n    name: stop ec2\n"
                 "    provider: {type: python, module: chaosaws.ec2.actions, func: stop_instances}\n")
    assert "chaosaws.ec2.actions" in err.message and "'stop ec2'" in err.message
    assert "chaostoolkit-aws" in (err.hint or "") and err.location is not None and err.location.line == 7
    err = _error(tmp_path, "version: 1.0.0\ntitle: t\ndescription: d\ncontrols:\n  - name: tracing\n"
                 "    provider: {type: python, module: chaostracing.control}\nmethod: []\n")
    assert "chaostracing.control" in err.message and "chaostoolkit-opentracing" in (err.hint or "")


@pytest.mark.parametrize("extension, line, words", [
    ("{name: chaosrunner, objectives: {rto: soon}}", 6, "duration"),
    ("{name: chaosrunner, sampling: {interval: 0s}}", 6, "range"),
    ("{name: chaosrunner, colour: red}", 6, "colour"),
])
def test_the_chaosrunner_extension_is_checked(tmp_path, extension, line, words):
    err = _error(tmp_path, "version: 1.0.0\ntitle: t\ndescription: d\nextensions:\n  - {name: other}\n"
                 f"  - {extension}\nmethod: []\n")
    assert err.location is not None and err.location.line == line and words in err.message


def test_validate_and_run_exit_2_on_a_bad_ctk_file(tmp_path):
    exp = write(tmp_path / "exp.yaml", HEAD + "  - ref: nowhere\n")
    for command in ("validate", "run"):
        proc = run_cli(command, str(exp), "--report-dir", str(tmp_path / "r")) if command == "run" \
            else run_cli(command, str(exp))
        assert proc.returncode == 2, proc.stderr
        assert "nowhere" in proc.stderr and "exp.yaml:5" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_convert_both_ways(tmp_path):
    proc = run_cli("convert", str(FIXTURES / "01-json-tabs-http-exact-tolerance.json"))
    assert proc.returncode == 0, proc.stderr
    mine = yaml.safe_load(proc.stdout)
    assert mine["steady_state"][0]["probe"]["type"] == "provider"
    assert mine["rollback"][0]["action"]["name"] == "bring the service back"
    exp = write(tmp_path / "exp.yaml", """\
name: web-check
hypothesis: the web answers
steady_state:
  - probe: {type: http, name: health, url: "http://127.0.0.1:9/health", timeout: 2s}
  - probe: {type: tcp, name: port, port: 9}
method:
  - pause: 1s
  - action: {type: provider, name: flag, provider: {type: process, path: "true"}, revert: {type: process, path: "true"}}
  - pause: 500ms
objectives: {rto: 5s}
""")
    proc = run_cli("convert", str(exp), "--to", "ctk", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    ctk = json.loads(proc.stdout)
    assert ctk["steady-state-hypothesis"]["probes"] == [
        {"type": "probe", "name": "health", "provider": {"type": "http", "url": "http://127.0.0.1:9/health",
                                                         "timeout": 2.0}, "tolerance": 200}]
    assert ctk["method"][0]["pauses"] == {"before": 1.0, "after": 0.5}
    assert ctk["rollbacks"][0]["name"] == "flag (revert)"
    assert "'port': a tcp probe" in proc.stderr and "objectives" in proc.stderr
    written = write(tmp_path / "back.json", proc.stdout)
    assert load_ctk(written).title == "web-check"             # chaoslib accepts what we wrote


@pytest.mark.slow
def test_journal_reads_with_chaoslib_and_a_killed_run_leaves_nothing(tmp_path, env):
    """A CTK run killed with kill -9 in the middle of its method: the next run starts, `recover` has
    nothing to revert; the journal of a run is Chaos Toolkit's, read back by chaoslib's own code."""
    slow = write(tmp_path / "slow.yaml", HEAD + "  - type: action\n    name: sleeping\n"
                 "    provider: {type: python, module: ctkfix.actions, func: wait, arguments: {seconds: 30}}\n"
                 "rollbacks:\n  - type: action\n    name: undo\n    provider: {type: process, path: 'true'}\n")
    state = tmp_path / "state"
    e = {**env.vars(), "CHAOSRUNNER_STATE_DIR": str(state)}
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "run", str(slow), "--report-dir",
                             str(tmp_path / "r1")], env=e, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any((tmp_path / "r1").glob("*/chaostoolkit.log")) and "sleeping" in
                   next((tmp_path / "r1").glob("*/chaostoolkit.log")).read_text(), 60, what="the method")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    listing = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "recover", "--list"], env=e,
                             capture_output=True, text=True, timeout=60)
    assert "the ledger is empty" in listing.stdout
    fixture = FIXTURES / "13-failing-action.yaml"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "run", str(fixture), "--report-dir",
                           str(tmp_path / "r2")], env=e, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    [run_dir] = [d for d in (tmp_path / "r2").iterdir() if d.is_dir()]
    from chaoslib.run import initialize_run_journal     # chaoslib's journal is a dict: the keys it starts with

    journal = json.loads((run_dir / "journal.json").read_text())
    assert set(initialize_run_journal(yaml.safe_load(fixture.read_text()))) <= set(journal)
    assert {"end", "duration", "deviated", "steady_states", "rollbacks"} <= set(journal)
    assert journal["chaoslib-version"] and journal["status"] == "completed"
    assert [r["status"] for r in journal["run"]] == ["failed", "succeeded"]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "held" and (run_dir / "report.html").exists()
