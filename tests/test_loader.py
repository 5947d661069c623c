"""Bad input gets one readable message with file, line and fix, exit code 2, and touches nothing."""
from __future__ import annotations

import textwrap

import pytest
from support import ROOT, run_cli, write

from chaosrunner.read.documents import read_experiments
from chaosrunner.errors import ConfigError

INV = """\
targets:
  web:
    url: http://127.0.0.1:9
    process: {pidfile: /nonexistent/web.pid}
  db:
    url: http://127.0.0.1:9
  pair: {group: [web, db]}
"""

GOOD = """\
name: ok
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${web.url}/health"}
method:
  - action: {type: process, operation: stop, target: web, duration: 1s}
"""


@pytest.fixture
def folder(tmp_path):
    write(tmp_path / "inv.yaml", INV)
    return tmp_path


def test_seed_experiments_load_unchanged():
    exps = read_experiments(ROOT / "experiments" / "seed-experiments.yaml")
    assert [e.model.name for e in exps] == ["database-failure", "memory-pressure", "cascading-failure"]
    assert exps[0].model.method[0].action.duration == 300.0
    assert exps[1].model.method[0].action.consumption == pytest.approx(0.8)
    assert exps[2].model.method[1].action.error_rate == 0.5


def test_validate_cli_on_seed():
    r = run_cli("validate", "experiments/seed-experiments.yaml")
    # the seed's file names targets but no inventory: its structure passes, and it says what it did not check
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("targets not checked") == 3
    r = run_cli("plan", "experiments/seed-experiments.yaml")
    assert r.returncode == 2 and "no targets inventory" in r.stderr and "seed-experiments.yaml:" in r.stderr
    r = run_cli("validate", "experiments/seed-experiments.yaml", "--targets", "targets/local-example.yaml")
    # with an inventory, the seed's memory-pressure probe (a load metric) needs load: said at its line
    assert r.returncode == 2 and "seed-experiments.yaml:28" in r.stderr and "has no load:" in r.stderr


CASES = {
    "invalid yaml": ("name: x\nmethod:\n  - action: {type: network\n", "flow mapping that starts at line 3", 4),
    "unknown key": (GOOD.replace("steady_state:", "steady_stat:"), "unknown key 'steady_stat'", 3),
    "misspelt nested key": (GOOD.replace("duration: 1s", "duraton: 1s"), "did you mean 'duration'", 6),
    "wrong type": (GOOD.replace("duration: 1s", "duration: [1]"), "duration", 6),
    "unknown target": (GOOD.replace("target: web", "target: wbe"), "unknown target 'wbe'", 6),
    "unknown fault type": (GOOD.replace("type: process", "type: proces"), "unknown fault type 'proces'", 6),
    "negative duration": (GOOD.replace("duration: 1s", "duration: -5s"), "negative duration", 6),
    "absurd duration": (GOOD.replace("duration: 1s", "duration: 9000h"), "longer than 7 days", 6),
    "bad url": (GOOD.replace('"${web.url}/health"', '"htp:/broken"'), "not a URL", 4),
    "missing secret": (GOOD.replace('"${web.url}/health"', '"${env:CHAOSRUNNER_TEST_UNSET}/x"'),
                       "CHAOSRUNNER_TEST_UNSET is not set", 4),
    "unknown reference": (GOOD.replace('"${web.url}/health"', '"${wbe.url}/health"'), "did you mean 'web'", 4),
    "no handle": (GOOD.replace("type: process, operation: stop, target: web",
                               "type: latency, delay: 1s, target: web"), "has no kubernetes or toxiproxy handle", 6),
    "missing key": (GOOD.replace("operation: stop, ", ""), "missing required key 'operation'", 6),
    "duplicate key": (GOOD.replace("targets: inv.yaml", "targets: inv.yaml\nname: twice"), "appears twice", 3),
    "bad enum": (GOOD.replace("operation: stop", "operation: stopp"), "did you mean 'stop'", 6),
    "missing file secret": (GOOD.replace('"${web.url}/health"',
                                         '"${web.url}/health", headers: {X-T: "${file:no.txt}"}'),
                            "cannot read secret file", 4),
    "url not a string": (GOOD.replace('"${web.url}/health"', "12"), 'write a string such as url: "http', 4),
    "bad IPv6 url": (GOOD.replace('"${web.url}/health"', '"http://[::1/health"'),
                     "(Invalid IPv6 URL); write http://host:port/path", 4),
    "unclosed reference": (GOOD.replace('"${web.url}/health"', '"${web.url/health"'),
                           "hint: write ${web.url}/health", 4),
    "port out of range": (GOOD.replace('type: http, url: "${web.url}/health"', "type: tcp, port: 99999"),
                          "port: 99999 is out of range; write a TCP port between 1 and 65535", 4),
    "duration as a list": (GOOD + "objectives: {rto: [1, 2]}\n",
                           "hint: write one value here, not a list, e.g. rto: 30s", 7),
    "no experiments": ("experiments: []\n", "experiments: the list is empty\n  hint: list at least one experiment", 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_position(folder, web, case):
    text, expected, line = CASES[case]
    text = text.replace("/nonexistent/web.pid", str(web.pidfile))
    write(folder / "inv.yaml", INV.replace("/nonexistent/web.pid", str(web.pidfile)))
    f = write(folder / "exp.yaml", text)
    r = run_cli("run", str(f), "--report-dir", str(folder / "reports"))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert expected in r.stderr, r.stderr
    assert f"exp.yaml:{line}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert web.state() != "stopped"                    # nothing was touched
    assert not (folder / "reports").exists() or not any((folder / "reports").iterdir())


def test_a_union_reports_the_member_whose_shape_the_value_has(folder):
    """`command: str | list[str]` given a list with a non-string item: one error, at the item —
    not also "write a single string here, not a list" for the other member of the union."""
    f = write(folder / "exp.yaml",
              GOOD.replace('type: http, url: "${web.url}/health"', "type: command, command: [true]"))
    r = run_cli("validate", str(f))
    assert r.returncode == 2
    assert "exp.yaml:4:38: command: Input should be a valid string (got True)" in r.stderr, r.stderr
    assert "not a list" not in r.stderr and r.stderr.count("exp.yaml:") == 1, r.stderr


def test_missing_inventory_file(folder):
    f = write(folder / "exp.yaml", GOOD.replace("inv.yaml", "nope.yaml"))
    r = run_cli("validate", str(f))
    assert r.returncode == 2 and "nope.yaml does not exist" in r.stderr and "exp.yaml:2" in r.stderr


def test_missing_file_and_empty_file(folder):
    r = run_cli("validate", str(folder / "absent.yaml"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run_cli("validate", str(write(folder / "empty.yaml", "")))
    assert r.returncode == 2 and "empty" in r.stderr


def test_bad_var_flag(folder):
    f = write(folder / "exp.yaml", GOOD)
    r = run_cli("validate", str(f), "--var", "novalue")
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr


def test_secrets_resolve_and_are_recorded(folder, monkeypatch):
    monkeypatch.setenv("CR_TOKEN", "s3cr3t-value")
    write(folder / "token.txt", "file-secret\n")
    headers_yaml = 'headers: {X-A: "${env:CR_TOKEN}", X-B: "${file:token.txt}"}'
    f = write(folder / "exp.yaml",
              GOOD.replace('url: "${web.url}/health"', f'url: "${{web.url}}/health", {headers_yaml}'))
    exp = read_experiments(f)[0]
    headers = exp.model.steady_state[0].probe.headers
    assert headers == {"X-A": "s3cr3t-value", "X-B": "file-secret"}
    assert exp.secrets.redact("a s3cr3t-value b file-secret") == "a *** b ***"
    assert "${env:CR_TOKEN}" in str(exp.raw)           # what is recorded is what was written


def test_group_expands_to_members(folder):
    f = write(folder / "exp.yaml", GOOD.replace("type: process, operation: stop, target: web, duration: 1s",
                                                "type: network, operation: partition, target: pair, duration: 1s"))
    with pytest.raises(Exception) as info:      # db has no toxiproxy (nor kubernetes) handle: said before anything runs
        from chaosrunner import api
        api.plan(f)
    assert "has no kubernetes or toxiproxy handle" in str(info.value)


def test_errors_are_sorted_and_all_reported(folder):
    f = write(folder / "exp.yaml", textwrap.dedent("""\
        name: x
        colour: blue
        method:
          - pause: 5x
        sampling: {intervl: 1s}
        """))
    with pytest.raises(ConfigError) as info:
        read_experiments(f)
    text = str(info.value)
    assert text.index(":2:") < text.index(":4:") < text.index(":5:")
    assert "did you mean 'interval'" in text
