"""``chaosrunner validate`` reads a ``kind: GameDay`` file as ``chaosrunner gameday validate`` does
(same output, same errors, same exit codes), and ``chaosrunner schema --gameday`` is a JSON Schema
the ready game days satisfy and a misspelt step does not."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from support import run_cli

ROOT = Path(__file__).resolve().parents[2]
READY = sorted((ROOT / "gamedays").glob("*.yaml"))


def test_there_are_ready_gamedays():
    assert [p.name for p in READY] == ["database-failover.yaml", "monthly.yaml", "region-failure.yaml"]


@pytest.mark.slow
@pytest.mark.parametrize("path", READY, ids=lambda p: p.stem)
def test_validate_reads_a_gameday_as_gameday_validate_does(path, isolated_state):
    plain = run_cli("validate", str(path))
    own = run_cli("gameday", "validate", str(path))
    assert plain.returncode == own.returncode == 0, plain.stderr + own.stderr
    assert plain.stdout == own.stdout and plain.stdout.startswith(f"ok: {path.stem} (")
    assert "phases" in plain.stdout


BAD = """\
kind: GameDay
name: bad
targets: {targets}
steady_state:
  - probe: {{type: http, name: health, url: /health}}
phases:
  - name: one
    steps:
      - check: {{probe: health, state: ok}}
      - {step}
"""


CASES = [
    ("manaul: look at the dashboards", "manaul", ["unknown step kind 'manaul'", "did you mean 'manual'"]),
    ("wait_until: {probe: health, state: ok}", "wait_until", ["timeout"]),
    ("check: {rpo: 1m}", "rpo: 1m", ["no writer", "add `writer:`"]),
    ("check: {promql: 'up'}", "promql", ["give below:, above: (or both) or equals:"]),
]
IDS = ["unknown kind", "wait without timeout", "rpo without writer", "promql without bound"]


def _bad(tmp_path: Path, step: str, needle: str) -> tuple[Path, int]:
    path = tmp_path / "day.yaml"
    path.write_text(BAD.format(targets=ROOT / "targets" / "demo.yaml", step=step))
    return path, next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def test_a_bad_gameday_through_validate_exits_2_with_the_line(tmp_path, isolated_state):
    path, line = _bad(tmp_path, *CASES[0][:2])
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2, proc.stderr
    assert re.match(rf"error: {re.escape(str(path))}:{line}:\d+: unknown step kind 'manaul'", proc.stderr), proc.stderr
    assert "did you mean 'manual'" in proc.stderr and "Traceback" not in proc.stderr
    assert "GameDay' is not allowed" not in proc.stderr          # not read as an experiment


@pytest.mark.slow
@pytest.mark.parametrize("step, needle, words", CASES, ids=IDS)
def test_validate_and_gameday_validate_give_the_same_error(tmp_path, isolated_state, step, needle, words):
    path, line = _bad(tmp_path, step, needle)
    plain = run_cli("validate", str(path))
    own = run_cli("gameday", "validate", str(path))
    assert plain.returncode == own.returncode == 2, plain.stderr
    assert plain.stderr == own.stderr                            # the same error, word for word
    assert f"{path}:{line}:" in plain.stderr, plain.stderr
    for w in words:
        assert w in plain.stderr, (w, plain.stderr)
    assert "Traceback" not in plain.stderr


@pytest.mark.slow
def test_validate_still_reads_experiments(isolated_state):
    proc = run_cli("validate", str(ROOT / "experiments" / "api-latency.yaml"))
    assert proc.returncode == 0 and proc.stdout.startswith("ok: api-latency ("), proc.stderr


@pytest.fixture(scope="module")
def gameday_schema() -> dict:
    proc = run_cli("schema", "--gameday")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


@pytest.mark.parametrize("path", READY, ids=lambda p: p.stem)
def test_ready_gamedays_satisfy_the_schema(gameday_schema, path):
    jsonschema.validate(yaml.safe_load(path.read_text()), gameday_schema,
                        cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("change, word", [
    (lambda d: d["phases"][0]["steps"].append({"manaul": "x"}), "manaul"),
    (lambda d: d["phases"][0].update(at="soon"), "soon"),
    (lambda d: d.update(kind="Experiment"), "GameDay"),
    (lambda d: d["phases"][0]["steps"].append({"check": {"rpo": "a while"}}), "a while"),
], ids=["misspelt step", "bad offset", "not a game day", "bad rpo"])
def test_the_schema_rejects_what_validate_rejects(gameday_schema, change, word):
    doc = yaml.safe_load((ROOT / "gamedays" / "region-failure.yaml").read_text())
    change(doc)
    errors = list(jsonschema.Draft202012Validator(gameday_schema).iter_errors(doc))
    assert errors and any(word in e.message or word in json.dumps(e.instance) for e in errors), errors


def test_the_schema_knows_the_check_forms(gameday_schema):
    check = gameday_schema["$defs"]["Check"]["properties"]
    assert {"probe", "state", "rpo", "lost_writes", "promql", "below", "above", "equals", "prometheus"} <= set(check)
    at = json.dumps(gameday_schema["$defs"]["Phase"]["properties"]["at"])
    pattern = re.search(r'"pattern": "([^"]+)"', at)
    assert pattern
    rx = json.loads(f'"{pattern.group(1)}"')
    for ok in ("T+30s", "T+0", "T+5m", "30s", "T + 1h30m", "T"):
        assert re.search(rx, ok), ok
    for bad in ("T-30s", "soon", "T+", "30"):
        assert not re.search(rx, bad), bad
