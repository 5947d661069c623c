"""``chaosrunner plan`` of a Chaos Toolkit file: the activities as chaoslib will run them (``ref``
resolved, pauses, background, tolerances, controls) and what chaosrunner samples — not a
conversion to chaosrunner's form, which ``run`` does not use. Nothing is reached: the fixtures'
service URL points at a closed port."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from support import ROOT

from .conftest import FIXTURES


def _plan(fixture: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(FIXTURES), "CTKFIX_URL": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, "-m", "chaosrunner.cli", "plan", str(FIXTURES / fixture), *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def test_plan_lists_what_chaoslib_will_run():
    r = _plan("12-ref-activities.yaml", "--json")
    assert r.returncode == 0, r.stderr
    [plan] = json.loads(r.stdout)
    assert plan["mode"].startswith("Chaos Toolkit compatibility")
    assert [(s["type"], s["name"], s["ref"]) for s in plan["method"]] == [
        ("action", "go down", None), ("probe", "health", "health"), ("action", "come up", None),
        ("action", "go down", "go down")]
    assert plan["method"][1]["provider"] == "http GET ${base_url}/health" and plan["method"][1]["tolerance"] == 200
    assert plan["method"][0]["provider"] == \
        "python ctkfix.actions.set_state(base_url='${base_url}', state='down')"
    assert [s["name"] for s in plan["rollbacks"]] == ["come up"]
    assert plan["chaosrunner"]["samples"] == ["health"] and plan["chaosrunner"]["strict"] is False

    [background] = json.loads(_plan("11-background-activities.yaml", "--json").stdout)
    assert [s["background"] for s in background["method"] + background["rollbacks"]] == [True, True, True]
    [controls] = json.loads(_plan("10-controls.yaml", "--json").stdout)
    assert controls["controls"] == ["recorder"]
    assert [s["controls"] for s in controls["method"]] == [["activity recorder"]]
    [rto] = json.loads(_plan("17-chaosrunner-extension-rto.yaml", "--json").stdout)
    assert rto["chaosrunner"]["rto"] == 0.3 and rto["chaosrunner"]["interval"] == 0.1
    assert rto["method"][0]["pause_after"] == 1


def test_plan_prints_it_for_people():
    r = _plan("17-chaosrunner-extension-rto.yaml")
    assert r.returncode == 0, r.stderr
    assert "sampled all through the run: health every 0.1s (findings; rto 0.3s)" in r.stdout
    assert "1. action 'down': python ctkfix.actions.set_state(base_url='${base_url}', state='down'); pause 1s after" \
        in r.stdout


def test_options_that_do_not_apply_to_a_ctk_file_are_refused():
    for args, words in ((["--time-scale", "0.1"], "--time-scale does not apply"),
                        (["--targets", str(ROOT / "targets" / "k8s-example.yaml")], "--targets does not apply"),
                        (["--only", "nope"], "no experiment named 'nope'")):
        r = _plan("12-ref-activities.yaml", *args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
