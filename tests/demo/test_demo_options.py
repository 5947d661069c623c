"""`demo up` options: the failover delay and failback are the demo's state, and a running demo is
never silently kept in another mode than the one asked for. One demo, driven through the CLI."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chaosrunner.demo.cli import app

from .helpers import demo_processes, get_json, listening

runner = CliRunner()


def test_bad_failover_delay_is_refused_before_anything_starts(tmp_path):
    for value, why in (("soon", "--failover-after 'soon'"), ("0s", "failover delay must be more than 0s")):
        out = runner.invoke(app, ["up", "--dir", str(tmp_path / "d"), "--free-ports", "--failover-after", value])
        assert out.exit_code == 2, out.output
        assert why in out.output and "Traceback" not in out.output
        assert len(out.output.strip().splitlines()) == 1
    assert demo_processes(tmp_path / "d") == []


@pytest.mark.slow
def test_options_are_kept_shown_and_a_different_mode_is_refused(tmp_path):
    d = str(tmp_path / "demo")
    out = runner.invoke(app, ["up", "--dir", d, "--free-ports", "--failover-after", "1500ms", "--failback"])
    try:
        assert out.exit_code == 0, out.output
        assert "failover after 1.5s, automatic failback" in out.output
        state = json.loads((tmp_path / "demo" / "demo.json").read_text())
        assert state["failover_after"] == 1.5 and state["failback"] is True and state["sync"] is False
        assert "failover after 1.5s, automatic failback" in (tmp_path / "demo" / "targets" / "demo.yaml").read_text()
        status = runner.invoke(app, ["status", "--dir", d])
        assert status.exit_code == 0, status.output
        assert "replication: async; failover after 1.5s; failback: automatic" in status.output
        st = json.loads(runner.invoke(app, ["status", "--dir", d, "--json"]).output)
        assert st["failover_after"] == 1.5 and st["failback"] is True
        role = get_json(f"http://127.0.0.1:{state['ports']['supervisor']}/role")
        assert role["failover_after"] == 1.5 and role["failback"] is True      # the supervisor runs with them

        for args, message in (
                (["--sync"], f"the demo is up in async mode at {tmp_path / 'demo'}; run `chaosrunner demo down` first"),
                (["--no-failback"], "the demo is up with failback at"),
                (["--failover-after", "2s"], "the demo is up with failover after 1.5s at")):
            again = runner.invoke(app, ["up", "--dir", d, "--free-ports", *args])
            assert again.exit_code == 2, (args, again.output)
            assert message in again.output and "Traceback" not in again.output, again.output
        same = runner.invoke(app, ["up", "--dir", d, "--free-ports", "--failback", "--failover-after", "1.5s"])
        assert same.exit_code == 0 and "already up" in same.output, same.output
    finally:
        down = runner.invoke(app, ["down", "--dir", d])
    assert down.exit_code == 0, down.output
    assert demo_processes(tmp_path / "demo") == []
    assert [p for p in state["ports"].values() if listening(p)] == []
