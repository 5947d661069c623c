"""Targets outside loopback need a named environment; production needs --confirm. Nothing is touched."""
from __future__ import annotations

import pytest

from chaosrunner import api
from chaosrunner.errors import ConfigError, PlanError
from support import run_cli, write

EXP = "name: x\ntargets: inv.yaml\nmethod:\n  - action: {type: latency, delay: 1s, target: db, duration: 1s}\n"


def inventory(tmp_path, header: str) -> None:
    write(tmp_path / "inv.yaml", header + "targets:\n  db:\n    toxiproxy: {api: http://10.1.2.3:8474, proxy: db}\n")


def test_outside_loopback_without_environment_is_refused(tmp_path):
    inventory(tmp_path, "")
    exp = write(tmp_path / "exp.yaml", EXP)
    with pytest.raises(PlanError, match="outside loopback"):
        api.check_environment(api.plan(exp)[0], None)
    r = run_cli("run", str(exp), "--report-dir", str(tmp_path / "r"))
    assert r.returncode == 2 and "environment" in r.stderr


def test_production_needs_confirm(tmp_path):
    inventory(tmp_path, "environment: production\n")
    p = api.plan(write(tmp_path / "exp.yaml", EXP))[0]
    with pytest.raises(ConfigError, match="--confirm production"):
        api.check_environment(p, None)
    with pytest.raises(ConfigError):
        api.check_environment(p, "staging")
    api.check_environment(p, "production")            # confirmed: allowed through the gate


def test_named_staging_environment_passes_the_gate(tmp_path):
    inventory(tmp_path, "environment: staging\n")
    p = api.plan(write(tmp_path / "exp.yaml", EXP))[0]
    api.check_environment(p, None)
    assert p.outside_loopback == ["db"] and p.environment == "staging"


@pytest.mark.slow
@pytest.mark.parametrize("answer,code", [("production", 3), ("staging", 2)])
def test_an_interactive_run_against_production_asks_for_the_environment_name(tmp_path, answer, code):
    """In a terminal, without --confirm, `run` asks for the environment's name (the one prompt a run
    has); a wrong answer is exit 2 with nothing touched. With the right one the run goes on (here it
    then fails to reach the loopback proxy: exit 3, the proof it went past the gate)."""
    import sys

    import pexpect
    from support import ROOT

    write(tmp_path / "inv.yaml", "environment: production\n"
                                 "targets:\n  db:\n    toxiproxy: {api: http://127.0.0.1:9, proxy: db}\n")
    exp = write(tmp_path / "exp.yaml", EXP)
    child = pexpect.spawn(sys.executable, ["-m", "chaosrunner.cli", "run", str(exp), "--report-dir",
                                           str(tmp_path / "r")], cwd=str(ROOT), encoding="utf-8", timeout=60)
    child.expect("Type 'production' to go on")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == code, child.before
    if code == 2:
        assert "--confirm production" in child.before and not (tmp_path / "r").exists()


def test_non_interactive_never_prompts(tmp_path):
    inventory(tmp_path, "environment: production\n")
    exp = write(tmp_path / "exp.yaml", EXP)
    r = run_cli("run", str(exp), "--report-dir", str(tmp_path / "r"), "--non-interactive")
    assert r.returncode == 2 and "--confirm production" in r.stderr and "Type" not in r.stderr
