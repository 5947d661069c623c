"""Memory and CPU pressure on a real process, inside a real memory cgroup with a limit."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from support import alive

from chaosrunner.drivers import PlannedFault
from chaosrunner.drivers.resource import ResourceDriver
from chaosrunner.drivers.targets import cgroup_of
from chaosrunner.model.faults import ResourceFault
from chaosrunner.model.targets import Target

LIMIT = 256 * 1024 * 1024


@pytest.fixture
def target_in_cgroup(tmp_path):
    """A sleeping process moved into a fresh memory cgroup limited to 256 MiB (created for the test)."""
    me = cgroup_of(os.getpid())
    parent = me.memory_dir or Path("/sys/fs/cgroup/memory")
    cg = parent / f"chaosrunner-test-{uuid.uuid4().hex[:8]}"
    cg.mkdir()
    (cg / "memory.limit_in_bytes").write_text(str(LIMIT))
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (cg / "cgroup.procs").write_text(str(proc.pid))
    pidfile = tmp_path / "t.pid"
    pidfile.write_text(str(proc.pid))
    yield proc, cg, pidfile
    proc.kill()
    proc.wait()
    for _ in range(50):
        try:
            cg.rmdir()
            break
        except OSError:
            time.sleep(0.1)


def _fault(pidfile: Path, resource: str, consumption: str, duration: str = "30s") -> PlannedFault:
    spec = ResourceFault(type="resource", target="t", resource=resource, consumption=consumption, duration=duration)
    return PlannedFault("f1", spec, "t", Target(process={"pidfile": str(pidfile)}), "resource")


def test_memory_pressure_fills_the_targets_cgroup_and_reverts(target_in_cgroup):
    proc, cg, pidfile = target_in_cgroup

    def usage() -> int:
        return int((cg / "memory.usage_in_bytes").read_text())

    before = usage()
    driver = ResourceDriver()
    handle = driver.inject(_fault(pidfile, "memory", "60%"))
    try:
        during = usage()
        assert during >= 0.5 * LIMIT, (before, during)              # the target's cgroup really filled up
        assert during <= LIMIT
        assert handle.data["limit"] == LIMIT
    finally:
        driver.revert(handle)
    assert not alive(handle.data["pid"])
    deadline = time.monotonic() + 10                                  # the cgroup is uncharged as the helper goes
    while usage() >= before + 32 * 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert usage() < before + 32 * 1024 * 1024
    driver.revert(handle)                                             # idempotent


def test_cpu_pressure_burns_and_reverts(target_in_cgroup):
    _, _, pidfile = target_in_cgroup
    driver = ResourceDriver()
    handle = driver.inject(_fault(pidfile, "cpu", "25%"))             # 25% of 2 cores = half a core
    try:
        helper = psutil.Process(handle.data["pid"])
        procs = [helper] + helper.children(recursive=True)
        w0, t0 = time.monotonic(), sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        time.sleep(1.0)
        w1, t1 = time.monotonic(), sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        # half a core by its wall-clock duty cycle; on cores shared with other busy processes it gets
        # much less of it (0.17 next to two other burners), but an idle helper burns ~0 and an
        # unpaced one a whole core (1.0)
        share = (t1 - t0) / (w1 - w0)
        assert 0.05 < share < 0.9, (t1 - t0, w1 - w0)
    finally:
        driver.revert(handle)
    assert not any(alive(p) for p in procs)


def test_helper_dies_with_its_parent(tmp_path, target_in_cgroup):
    """If the runner is killed, the pressure goes with it (no orphaned memory hog)."""
    _, _, pidfile = target_in_cgroup
    code = ("import sys; from tests.test_resource_driver import _fault; from pathlib import Path;"
            "from chaosrunner.drivers.resource import ResourceDriver;"
            f"h = ResourceDriver().inject(_fault(Path({str(pidfile)!r}), 'memory', '30%'));"
            "print(h.data['pid'], flush=True); import time; time.sleep(60)")
    runner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parent.parent,        # tests/ on the path, as pytest sets it
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)})
    helper_pid = int(runner.stdout.readline())
    assert psutil.pid_exists(helper_pid)
    runner.kill()
    runner.wait()
    deadline = time.monotonic() + 15
    while alive(helper_pid):
        assert time.monotonic() < deadline, "the pressure helper outlived its parent"
        time.sleep(0.05)
