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
