"""A plain Chaos Toolkit experiment (JSON) runs as it is, with its configuration and env secrets."""
from __future__ import annotations

import json

import pytest

from chaosrunner import api
from support import write


@pytest.fixture(autouse=True)
def importable_actions(monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent / "fixtures"))


def test_chaos_toolkit_json_experiment_runs(tmp_path, web, monkeypatch):
    flag = tmp_path / "flag"
    monkeypatch.setenv("CTK_TEST_TEXT", "from-env")
    experiment = {
        "title": "Flag survives: a Chaos Toolkit experiment",
        "description": "written for the chaos CLI",
        "configuration": {"base": web.url, "flag": str(flag)},
        "secrets": {"app": {"text": {"type": "env", "key": "CTK_TEST_TEXT"}}},
        "steady-state-hypothesis": {
            "title": "the service answers",
            "probes": [{"type": "probe", "name": "health", "tolerance": 200,
                        "provider": {"type": "http", "url": "${base}/health", "timeout": 2}}]},
        "method": [
            {"type": "action", "name": "set flag", "pauses": {"after": 0.3},
             "provider": {"type": "python", "module": "ctk_actions", "func": "touch",
                          "arguments": {"path": "${flag}", "text": "${text}"}}},
            {"ref": "health"}],
        "rollbacks": [{"type": "action", "name": "clear flag",
                       "provider": {"type": "python", "module": "ctk_actions", "func": "remove",
                                    "arguments": {"path": "${flag}"}}}],
    }
    f = write(tmp_path / "experiment.json", json.dumps(experiment))
    [p] = api.plan(f)
    assert p.name == "Flag survives- a Chaos Toolkit experiment"
    assert [s.kind for s in p.steps] == ["action", "pause", "probe"] and len(p.rollbacks) == 1
    written = []
    options = api.RunOptions(report_dir=tmp_path / "r", render_report=False,
                             on_record=lambda r: written.append(flag.read_text()) if flag.exists() and
                             getattr(r, "kind", None) is not None and r.kind.value == "action" else None)
    [result] = api.run(f, options=options)
    assert result.status == "held", [v.to_dict() for v in result.verdicts]
    assert "from-env" in written and not flag.exists()        # env secret reached the action; rollback ran
    assert "from-env" not in (result.run_dir / "run.json").read_text()   # and was redacted
