"""The ready CI examples (examples/ci/) are valid workflows, checked offline with check-jsonschema's vendored
schemas, and do what the README says: demo up, gate the ready experiments, keep the history between runs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support import ROOT

CI = ROOT / "examples" / "ci"
HISTORY = "reports/history.sqlite"


def check(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


def gated(script: str) -> list[Path]:
    """The experiment files a CI script gates."""
    [names] = re.findall(r"for exp in ([a-z\- ]+); do", script)
    assert re.search(r'chaosrunner gate "experiments/\$exp\.yaml" --repeat 3', script)
    assert re.search(r'--junit "reports/junit/\$exp\.xml"', script)
    return [ROOT / "experiments" / f"{n}.yaml" for n in names.split()]


@pytest.mark.slow
@pytest.mark.parametrize("file, schema, broken", [
    ("github-actions.yml", "vendor.github-workflows", ("runs-on:", "runs_on:")),
    ("gitlab-ci.yml", "vendor.gitlab-ci", ("when: always", "when: sometimes")),
])
def test_the_examples_validate_and_a_broken_copy_does_not(tmp_path, file, schema, broken):
    r = check(schema, CI / file)
    assert r.returncode == 0, r.stdout + r.stderr
    bad = tmp_path / file
    bad.write_text((CI / file).read_text().replace(*broken))
    assert check(schema, bad).returncode == 1


def test_github_actions_sets_up_gates_summarises_uploads_and_caches_the_history():
    doc = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = doc["jobs"]["gate"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "") for s in steps]
    assert "pip install -e ." in runs and "chaosrunner demo up" in runs and "chaosrunner demo down" in runs
    for exp in gated(runs):
        assert exp.is_file(), exp
    assert '--summary "$GITHUB_STEP_SUMMARY"' in runs
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert restore["with"]["path"] == save["with"]["path"] == HISTORY and save["if"] == "always()"
    assert restore["with"]["key"] == save["with"]["key"] and restore["with"]["restore-keys"]


def test_gitlab_ci_sets_up_gates_reports_and_caches_the_history():
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["chaos-gate"]
    script = "\n".join(job["script"])
    assert "pip install -e ." in script and "chaosrunner demo up" in script
    for exp in gated(script):
        assert exp.is_file(), exp
    assert job["cache"]["paths"] == [HISTORY] and job["cache"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "reports/junit/*.xml" and "reports/" in job["artifacts"]["paths"]
    assert "--summary reports/gate-summary.md" in script
    assert any("cat reports/gate-summary.md" in line for line in job["after_script"])


def test_the_gated_experiments_validate_against_the_demo_inventory():
    from chaosrunner import api

    steps = yaml.safe_load((CI / "github-actions.yml").read_text())["jobs"]["gate"]["steps"]
    for exp in gated(next(s["run"] for s in steps if s.get("name") == "Gate the ready experiments")):
        assert api.validate(exp, ROOT / "targets" / "demo.yaml"), exp
