"""A third-party driver package, built and installed for real, brings its own fault type to the command line.

tests/plugins/chaosrunner-example-driver is a package of its own (pyproject.toml with an entry point in
`chaosrunner.drivers`) whose `flag-file` fault writes a file into a target's `flagdir` while it lasts.
It is installed with `pip install --no-deps --target <tmp>` (the shared venv stays as it is) and
chaosrunner runs as a subprocess with PYTHONPATH=<tmp>: entry points are found from the dist-info.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, wait_until, write

pytestmark = pytest.mark.slow

CHAOSRUNNER = ROOT / ".venv" / "bin" / "chaosrunner"
PACKAGE = Path(__file__).resolve().parent / "plugins" / "chaosrunner-example-driver"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example package, built from its sources and installed into a directory of its own."""
    work = tmp_path_factory.mktemp("plugin")
    src = shutil.copytree(PACKAGE, work / "src")       # the build writes build/ and *.egg-info beside the sources
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                        "--no-cache-dir", "--disable-pip-version-check", "--quiet", "--target", str(work / "site"),
                        str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    [dist] = (work / "site").glob("chaosrunner_example_driver-*.dist-info")
    assert "flag-file = chaosrunner_example_driver:FlagFileDriver" in (dist / "entry_points.txt").read_text()
    return work / "site"


def _env(site: Path | None, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CHAOSRUNNER_STATE_DIR"] = str(state)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


def cli(site: Path | None, state: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHAOSRUNNER), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=_env(site, state))


@pytest.fixture
def flags(tmp_path) -> Path:
    """An inventory whose target `web` has a flag directory (the plugin's handle)."""
    d = tmp_path / "flags"
    d.mkdir()
    write(tmp_path / "inv.yaml", f"""\
targets:
  web:
    flagdir: {{path: {d}}}
""")
    return d


def experiment(tmp_path: Path, params: str = "duration: 2s") -> Path:
    """An experiment whose one action is a flag-file fault on `web` with these parameters (line 6)."""
    return write(tmp_path / "exp.yaml", f"""\
name: maintenance-flag
targets: inv.yaml
steady_state:
  - probe: {{type: command, name: alive, command: "true"}}
method:
  - action: {{type: flag-file, target: web, {params}}}
sampling: {{interval: 100ms, stable_for: 200ms}}
""")


FLAG = 'path: maintenance, content: "on"'



def test_an_experiment_with_the_plugin_fault_validates_and_plans(site, isolated_state, tmp_path, flags):
    experiment(tmp_path, f"{FLAG}, duration: 2s")
    r = cli(site, isolated_state, "validate", "exp.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "ok: maintenance-flag (1 faults, 1 probes)" in r.stdout, r.stderr
    r = cli(site, isolated_state, "plan", "exp.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "drivers: flag-file" in r.stdout, r.stderr
    r = cli(site, isolated_state, "plan", "exp.yaml", "--json", cwd=tmp_path)
    [plan] = json.loads(r.stdout)
    assert plan["drivers"] == ["flag-file"] and plan["outside_loopback"] == []
    [fault] = plan["method"][0]["faults"]
    assert fault["driver"] == "flag-file" and fault["target"] == "web"
    assert (fault["inject"], fault["revert"]) == (f"write {flags / 'maintenance'} ('on')",
                                                  f"remove {flags / 'maintenance'}")


@pytest.mark.parametrize("params, column, message", [
    ("path: maintenance, contnet: x", 63, "unknown key 'contnet'\n  hint: did you mean 'content'?"),
    ("path: ../etc/x", 50, "path: '../etc/x' is not a path inside the flag directory; write e.g. maintenance"),
    (f"{FLAG}, settle: soon", 86, "settle: "),
    ("content: x", 13, "missing required key 'path'\n  hint: add `path:` here"),
])
def test_a_wrong_parameter_is_a_located_error(site, isolated_state, tmp_path, flags, params, column, message):
    experiment(tmp_path, params)
    r = cli(site, isolated_state, "validate", "exp.yaml", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"error: exp.yaml:6:{column}: {message}" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_misspelt_plugin_handle_is_a_located_error(site, isolated_state, tmp_path, flags):
    experiment(tmp_path, f"{FLAG}, duration: 2s")
    inv = tmp_path / "inv.yaml"
    inv.write_text(inv.read_text().replace("flagdir:", "flagdirs:"))
    r = cli(site, isolated_state, "validate", "exp.yaml", cwd=tmp_path)
    assert r.returncode == 2 and f"{inv}:3:5: unknown key 'flagdirs'\n  hint: did you mean 'flagdir'?" in r.stderr


def test_without_the_package_the_fault_type_is_unknown(isolated_state, tmp_path, flags):
    experiment(tmp_path, f"{FLAG}, duration: 2s")
    r = cli(None, isolated_state, "validate", "exp.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "error: exp.yaml:6:20: unknown fault type 'flag-file'" in r.stderr


def test_schema_lists_the_plugin_fault_type_only_when_installed(site, isolated_state, tmp_path):
    with_it = json.loads(cli(site, isolated_state, "schema", cwd=tmp_path).stdout)
    fault = with_it["$defs"]["FlagFileFault"]
    assert fault["properties"]["type"]["const"] == "flag-file"
    assert {"path", "content", "settle", "target", "duration"} <= set(fault["properties"])
    assert "NetworkFault" in with_it["$defs"]
    inventory = json.loads(cli(site, isolated_state, "schema", "--inventory", cwd=tmp_path).stdout)
    assert inventory["$defs"]["Target"]["properties"]["flagdir"]["anyOf"][0] == {"$ref": "#/$defs/FlagDir"}
    without = cli(None, isolated_state, "schema", cwd=tmp_path)
    assert without.returncode == 0 and "flag-file" not in without.stdout and "FlagFileFault" not in without.stdout
    assert "flagdir" not in cli(None, isolated_state, "schema", "--inventory", cwd=tmp_path).stdout


def _start_run(site: Path, state: Path, tmp_path: Path, exp: str = "exp.yaml") -> subprocess.Popen:
    return subprocess.Popen([str(CHAOSRUNNER), "run", exp, "--non-interactive", "--report-dir", str(tmp_path / "r")],
                            cwd=tmp_path, env=_env(site, state), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _ledger(state: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((state / "ledger").glob("*.json"))]


def _active(state: Path) -> bool:
    """A fault is in the ledger with its handle: injected, and known to be."""
    return any(e["state"] == "active" for e in _ledger(state))


def test_run_injects_the_plugin_fault_and_reverts_it(site, isolated_state, tmp_path, flags):
    experiment(tmp_path, f"{FLAG}, duration: 3s")
    flag = flags / "maintenance"
    run = _start_run(site, isolated_state, tmp_path)
    try:
        wait_until(lambda: _active(isolated_state) or run.poll() is not None, timeout=60, ignore=(OSError, ValueError))
        assert flag.read_text() == "on", run.communicate()[1]        # the effect, seen while the fault lasts
        [entry] = _ledger(isolated_state)
        assert (entry["driver"], entry["fault_type"], entry["target"]) == ("flag-file", "flag-file", "web")
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert not flag.exists() and _ledger(isolated_state) == []


def test_recover_reverts_the_plugin_fault_after_kill_9_mid_fault(site, isolated_state, tmp_path, flags):
    experiment(tmp_path, f"{FLAG}, duration: 10m")
    flag = flags / "maintenance"
    run = _start_run(site, isolated_state, tmp_path)
    try:
        wait_until(lambda: _active(isolated_state) or run.poll() is not None, timeout=60, ignore=(OSError, ValueError))
        assert flag.exists(), run.communicate()[1]
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        run.kill()
    assert flag.exists() and len(_ledger(isolated_state)) == 1         # nobody reverted it
    # without the plugin, recover cannot revert it: it says why, exits 4 and keeps the entry
    r = cli(None, isolated_state, "recover", cwd=tmp_path)
    assert r.returncode == 4 and "driver 'flag-file', which injected it, is not installed" in " ".join(r.stdout.split())
    assert flag.exists() and len(_ledger(isolated_state)) == 1
    r = cli(site, isolated_state, "recover", cwd=tmp_path)
    assert r.returncode == 0 and "flag-file on web" in r.stdout and "reverted" in r.stdout, r.stdout + r.stderr
    assert not flag.exists() and _ledger(isolated_state) == []


def test_recover_reverts_the_plugin_fault_after_kill_9_mid_inject(site, isolated_state, tmp_path, flags):
    # settle: inject writes the file, then waits; the runner dies before the handle is written
    experiment(tmp_path, f"{FLAG}, duration: 10m, settle: 5m, timeout: 10m")
    flag = flags / "maintenance"
    run = _start_run(site, isolated_state, tmp_path)
    try:
        wait_until(lambda: flag.exists() or run.poll() is not None, timeout=60)
        [entry] = _ledger(isolated_state)
        assert entry["state"] == "injecting" and entry["handle"] is None, run.communicate()[1]
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        run.kill()
    assert flag.exists()
    r = cli(site, isolated_state, "recover", cwd=tmp_path)       # the handle comes from the driver's handle_from_intent
    assert r.returncode == 0 and "reverted" in r.stdout, r.stdout + r.stderr
    assert not flag.exists() and _ledger(isolated_state) == []
