"""Chaos Toolkit activities run through chaostoolkit-lib inside chaosrunner: actions, reverts, probes."""
from __future__ import annotations

import pytest
from support import write

from chaosrunner import api

EXP = """\
name: ctk-bridge
steady_state:
  - probe:
      type: provider
      name: health via ctk
      provider: {{type: http, url: "{url}/health", timeout: 2}}
      tolerance: 200
method:
  - action:
      type: provider
      name: flag on
      provider: {{type: python, module: ctk_actions, func: touch, arguments: {{path: "{flag}"}}}}
      revert: {{type: python, module: ctk_actions, func: remove, arguments: {{path: "{flag}"}}}}
  - pause: 500ms
sampling: {{interval: 100ms, stable_for: 200ms}}
"""


@pytest.fixture(autouse=True)
def importable_actions(monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent / "fixtures"))


def test_python_action_with_revert_and_http_probe_with_tolerance(tmp_path, web):
    flag = tmp_path / "flag"
    exp = write(tmp_path / "exp.yaml", EXP.format(url=web.url, flag=flag))
    seen = []
    options = api.RunOptions(report_dir=tmp_path / "r", render_report=False,
                             on_record=lambda rec: seen.append(flag.exists()) if getattr(rec, "kind", None) and
                             rec.kind.value == "fault_injected" else None)
    [result] = api.run(exp, options=options)
    assert seen == [True]                    # the python provider ran (the flag existed once injected)
    assert not flag.exists()                 # its revert provider ran in the rollbacks
    assert result.status == "held", [v.to_dict() for v in result.verdicts]
    probe_samples = [s for s in result.data["timeline"]["samples"] if s["probe"] == "health via ctk"]
    assert probe_samples and all(s["ok"] and s["value"] for s in probe_samples)


def test_tolerance_failure_fails_the_hypothesis(tmp_path, web):
    exp = write(tmp_path / "exp.yaml", EXP.format(url=web.url, flag=tmp_path / "f").replace("tolerance: 200",
                                                                                           "tolerance: 503"))
    [result] = api.run(exp, options=api.RunOptions(report_dir=tmp_path / "r", render_report=False))
    assert result.status == "failed"
    before = next(v for v in result.verdicts if v.name == "steady state before")
    assert before.status.value == "failed" and "tolerance" in before.detail
