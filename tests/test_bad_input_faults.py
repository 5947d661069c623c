"""A fault that cannot be injected says which fault on which target, with no "None" in the message."""
from __future__ import annotations

import pytest
from support import write

from chaosrunner import api
from chaosrunner.drivers.base import PlannedFault
from chaosrunner.drivers.process import ProcessDriver
from chaosrunner.errors import DriverError, RevertFailed
from chaosrunner.model.faults import ProcessFault
from chaosrunner.model.targets import Target


@pytest.mark.parametrize("target, fault, text", [
    (None, None, "boom"),
    ("web", None, "[web] boom"),
    (None, "latency", "[latency] boom"),
    ("web", "latency", "[latency on web] boom"),
])
def test_driver_error_prefix_has_only_the_parts_that_are_set(target, fault, text):
    assert str(DriverError("boom", target=target, fault=fault)) == text
    assert str(RevertFailed("boom", target=target, fault=fault)) == text
    assert DriverError("boom", target=target, fault=fault).detail == "boom"


def test_missing_pid_file_names_the_fault_and_target(tmp_path):
    fault = PlannedFault("f1", ProcessFault(type="process", operation="stop", target="web"), "web",
                         Target(process={"pidfile": str(tmp_path / "absent.pid")}), "process")
    with pytest.raises(DriverError) as info:
        ProcessDriver().inject(fault)
    assert str(info.value).startswith("[process stop on web] cannot read pid file")
    assert info.value.target == "web" and info.value.fault == "process stop"


def test_run_aborted_by_a_missing_pid_file_says_so_without_none(tmp_path, web):
    write(tmp_path / "inv.yaml", f"""\
targets:
  web:
    url: {web.url}
    process: {{pidfile: {tmp_path / "absent.pid"}}}
""")
    exp = write(tmp_path / "exp.yaml", """\
name: no-pid
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${web.url}/health", timeout: 500ms}
method:
  - action: {type: process, operation: stop, target: web, duration: 1s}
sampling: {interval: 100ms, stable_for: 200ms}
""")
    [result] = api.run(exp, options=api.RunOptions(report_dir=tmp_path / "r", render_report=False,
                                                   recovery_timeout=5))
    assert result.exit_code == 3, result.abort_reason
    assert "[process stop on web] cannot read pid file" in (result.abort_reason or "")
    assert "None" not in (result.abort_reason or "")
    assert web.state() != "stopped"
