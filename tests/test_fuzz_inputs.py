"""Fuzzing what chaosrunner reads: every input ends in a valid model or one located error (issue 11, item 10).

Generated experiments (chaosrunner's format and Chaos Toolkit's), mutations of every ready
experiment (experiments/*.yaml) and inventory (targets/*.yaml), and inventories from scratch go
through the library (``api.validate`` / ``api.plan``: reading, references, validation, planning,
the plan as ``plan --json`` prints it); a smaller number goes through the command line. The
property is ``fuzz_inputs.refused_or_valid``: no other exception, no hang. Strategies, example
counts and the time bound live in tests/fuzz_inputs.py; the inputs that once failed are regular
tests in tests/test_bad_input_fuzzed.py.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml
from fuzz_inputs import (
    CTK_EXPERIMENTS,
    EXAMPLE_SECONDS,
    EXPERIMENTS,
    FUZZ,
    FUZZ_EXAMPLES,
    INVENTORIES,
    ExampleCount,
    Hang,
    dump,
    mutated_data,
    mutated_text,
    refused_or_valid,
    time_bound,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ROOT, run_cli

from chaosrunner import api
from chaosrunner.units import format_duration

pytestmark = [pytest.mark.slow, pytest.mark.timeout(0)]     # each example has its own time bound

READY = sorted(p.name for p in (ROOT / "experiments").glob("*.yaml"))
INVENTORY_FILES = sorted(p.name for p in (ROOT / "targets").glob("*.yaml"))
#: Inventories that planning would send to a real cloud (their handles name no loopback endpoint): never planned
#: here; tests/aws checks that aws-example.yaml loads, tests/k8s plans k8s-example.yaml against a loopback API.
REACHES_A_CLOUD = {"aws-example.yaml", "k8s-example.yaml"}
#: What each ready experiment needs to plan: --var values, and an inventory for the seed's file.
VARIABLES = {"port": "8080", "pidfile": "/nonexistent/web.pid"}
INVENTORY_OF = {"seed-experiments.yaml": "local-example.yaml"}
#: For each inventory, the ready experiments that plan against it.
PLANNED_WITH = {"demo.yaml": [r for r in READY if r not in ("quickstart.yaml", "seed-experiments.yaml")],
                "compose.yaml": [r for r in READY if r not in ("quickstart.yaml", "seed-experiments.yaml")],
                "local-example.yaml": ["seed-experiments.yaml"], "quickstart.yaml": ["quickstart.yaml"]}
INVENTORY = """\
environment: local
base_url: http://127.0.0.1:9
targets:
  web: {url: 'http://127.0.0.1:9', toxiproxy: {proxy: web}, process: {pidfile: /nonexistent/web.pid}}
  db: {url: 'http://127.0.0.1:9', toxiproxy: {proxy: db}}
  pair: {group: [web, db]}
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of experiments/ and targets/, so that mutated files sit where their relative paths point."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "experiments", root / "experiments")
    shutil.copytree(ROOT / "targets", root / "targets")
    (root / "inv.yaml").write_text(INVENTORY)
    return root


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def planned(path: Path, targets: Path | None = None) -> None:
    """What ``chaosrunner plan`` does with a file, without the terminal: plan it, print each step."""
    for p in api.plan(path, targets, VARIABLES):
        json.dumps(api.plan_document(p), allow_nan=False)
        for step in p.steps + p.rollbacks:
            _ = (step.label, format_duration(step.at), step.describe)
        format_duration(p.expected_duration)


def validated(path: Path, targets: Path | None = None) -> None:
    for v in api.validate(path, targets, VARIABLES):
        if v.plan is not None:
            json.dumps(api.plan_document(v.plan), allow_nan=False)
            format_duration(v.plan.expected_duration)


def test_fuzz_generated_experiments(tree, capsys):
    count = ExampleCount("generated experiments")
    exp = tree / "exp.yaml"

    @FUZZ
    @given(doc=st.one_of(EXPERIMENTS, CTK_EXPERIMENTS), flow=st.booleans(), cut=st.booleans(), data=st.data())
    def run(doc, flow, cut, data):
        text = dump(doc, flow)
        if cut:
            text = data.draw(mutated_text(text))
        write(exp, text)
        outcome = refused_or_valid(lambda: validated(exp), (str(exp), str(tree / "inv.yaml")))
        if outcome == "ok":
            refused_or_valid(lambda: planned(exp), (str(exp), str(tree / "inv.yaml")))
        count(outcome)

    run()
    count.report(capsys)


def test_fuzz_mutated_ready_experiments(tree, capsys):
    count = ExampleCount("mutated ready experiments")
    exp = tree / "experiments" / "fuzz.yaml"
    sources = {name: (tree / "experiments" / name).read_text() for name in READY}
    parsed = {name: yaml.load(text, Loader=yaml.CSafeLoader) for name, text in sources.items()}

    @FUZZ
    @given(name=st.sampled_from(READY), how=st.sampled_from(["data", "text", "both"]), flow=st.booleans(),
           data=st.data())
    def run(name, how, flow, data):
        text = sources[name]
        if how != "text":
            text = dump(data.draw(mutated_data(parsed[name])), flow)
        if how != "data":
            text = data.draw(mutated_text(text))
        write(exp, text)
        inventory = tree / "targets" / INVENTORY_OF[name] if name in INVENTORY_OF else None
        files = (str(exp), *(str(tree / "targets" / f) for f in INVENTORY_FILES))
        count(refused_or_valid(lambda: planned(exp, inventory), files))

    run()
    count.report(capsys)


def test_fuzz_mutated_inventories(tree, capsys):
    count = ExampleCount("mutated inventories")
    inv = tree / "targets" / "fuzz-inventory.yaml"
    sources = {name: (tree / "targets" / name).read_text() for name in INVENTORY_FILES}
    parsed = {name: yaml.load(text, Loader=yaml.CSafeLoader) for name, text in sources.items()}

    @FUZZ
    @given(name=st.sampled_from([n for n in INVENTORY_FILES if n not in REACHES_A_CLOUD]),
           how=st.sampled_from(["data", "text", "both"]), flow=st.booleans(),
           data=st.data())
    def run(name, how, flow, data):
        text = sources[name]
        if how != "text":
            text = dump(data.draw(mutated_data(parsed[name])), flow)
        if how != "data":
            text = data.draw(mutated_text(text))
        write(inv, text)
        experiment = tree / "experiments" / data.draw(st.sampled_from(PLANNED_WITH[name]))
        count(refused_or_valid(lambda: planned(experiment, inv), (str(experiment), str(inv))))

    run()
    count.report(capsys)


def _experiment_on(doc: object) -> str:
    """An experiment that acts on and probes the targets of an inventory (so planning reaches them): a
    process fault on a target with a process handle, latency on one with a toxiproxy handle, an HTTP
    probe of one with a url (by reference), whichever the inventory has."""
    targets = doc.get("targets") if isinstance(doc, dict) else None
    targets = targets if isinstance(targets, dict) else {}

    def having(key: str) -> str | None:
        return next((n for n, t in targets.items() if isinstance(t, dict) and key in t and isinstance(n, str)), None)

    steps: list[dict[str, object]] = [{"pause": "1s"}]
    if having("process"):
        steps.append({"action": {"type": "process", "operation": "stop", "target": having("process"),
                                 "duration": "1s"}})
    if having("toxiproxy"):
        steps.append({"action": {"type": "latency", "target": having("toxiproxy"), "delay": "100ms"}})
    if having("group"):
        steps.append({"action": {"type": "error", "target": having("group"), "error_rate": "10%"}})
    probes = [{"probe": {"type": "http", "url": "${%s.url}/health" % having("url")}}] if having("url") else []
    return dump({"name": "on-inventory", "targets": "gen-inv.yaml", "steady_state": probes, "method": steps})


def test_fuzz_generated_inventories(tree, capsys):
    count = ExampleCount("generated inventories")
    inv, exp = tree / "gen-inv.yaml", tree / "gen-exp.yaml"

    @FUZZ
    @given(doc=INVENTORIES, flow=st.booleans(), cut=st.booleans(), data=st.data())
    def run(doc, flow, cut, data):
        text = dump(doc, flow)
        if cut:
            text = data.draw(mutated_text(text))
        write(inv, text)
        write(exp, _experiment_on(doc))
        count(refused_or_valid(lambda: validated(exp), (str(exp), str(inv))))

    run()
    count.report(capsys)


CLI_EXAMPLES = max(10, FUZZ_EXAMPLES // 200)


def test_fuzz_through_the_command_line(tree, capsys):
    """Fewer examples (an interpreter each): exit 0 or 2, never a traceback or an internal error; an input
    the library refuses exits 2 from ``validate``, ``plan`` and ``run`` (which then touches nothing; a
    valid input is never run: ``plan`` instead)."""
    count = ExampleCount("command line")
    parsed = {name: yaml.load((tree / "experiments" / name).read_text(), Loader=yaml.CSafeLoader) for name in READY}

    @settings(FUZZ, max_examples=CLI_EXAMPLES)
    @given(doc=st.one_of(EXPERIMENTS, CTK_EXPERIMENTS), name=st.sampled_from(READY), generated=st.booleans(),
           command=st.sampled_from(["validate", "plan", "run"]), data=st.data())
    def run(doc, name, generated, command, data):
        text = dump(doc) if generated else dump(data.draw(mutated_data(parsed[name])))
        exp = write(tree / "cli.yaml" if generated else tree / "experiments" / "cli.yaml", text)
        files = (str(exp), str(tree / "inv.yaml"), *(str(tree / "targets" / f) for f in INVENTORY_FILES))
        outcome = refused_or_valid(lambda: (validated if command == "validate" else planned)(exp), files)
        args = [str(exp)] + [a for k, v in VARIABLES.items() for a in ("--var", f"{k}={v}")]
        cmd = "plan" if command == "run" and outcome == "ok" else command
        extra = ["--report-dir", str(tree / "reports"), "--non-interactive"] if cmd == "run" else []
        r = run_cli(cmd, *args, *extra, env={"CHAOSRUNNER_STATE_DIR": str(tree / "state")}, timeout=EXAMPLE_SECONDS * 6)
        assert r.returncode == (2 if outcome == "refused" else 0), (cmd, text, r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (cmd, text, r.stderr)
        assert not (tree / "reports").exists() and not list((tree / "state").rglob("*.json"))
        count(outcome)

    run()
    count.report(capsys, minimum=CLI_EXAMPLES)


def test_the_time_bound_interrupts_a_hang(tmp_path):
    """The property's "no hang" holds because a blocked call is interrupted: opening a FIFO for reading
    (what the loader used to do with one) blocks until someone writes, and the bound ends it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(Hang), time_bound(0.3):
        fifo.read_text()
    assert time.monotonic() - started < 5
