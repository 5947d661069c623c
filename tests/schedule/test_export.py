"""`schedule export`: the ready schedules in the four formats, each validated offline by the engine's own rules."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import kubernetes_validate
import pytest
import yaml
from croniter import croniter
from typer.testing import CliRunner

from chaosrunner.cli.main import app
from chaosrunner.schedule.export import KUBERNETES_VERSION, export_files, on_calendar, utc_crons
from chaosrunner.schedule.read import read_schedules

ROOT = Path(__file__).resolve().parents[2]
READY = ROOT / "schedules.yaml"
QUICK = 'name: quick\nsteady_state:\n  - probe: {type: command, name: ok, command: "true"}\nmethod:\n  - pause: 100ms\n'


@pytest.fixture(scope="module")
def ready():
    return read_schedules(READY)


def export(tmp_path: Path, fmt: str, file: Path = READY) -> Path:
    out = tmp_path / fmt
    r = CliRunner().invoke(app, ["schedule", "export", str(file), "--format", fmt, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_k8s_cronjobs_validate_against_the_kubernetes_schemas(tmp_path, ready):
    out = export(tmp_path, "k8s-cronjob")
    docs = list(yaml.safe_load_all((out / "chaosrunner-cronjobs.yaml").read_text()))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = [d["kind"] for d in docs]
    assert kinds[:4] == ["ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim"]
    jobs = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "CronJob"}
    assert set(jobs) == {f"chaosrunner-{n}" for n in ready.entries}
    seed = jobs["chaosrunner-seed-experiments"]
    assert (seed["schedule"], seed["timeZone"], seed["concurrencyPolicy"]) == ("0 10 1-7 * *", "Europe/Paris", "Forbid")
    assert (seed["startingDeadlineSeconds"], seed["successfulJobsHistoryLimit"], seed["failedJobsHistoryLimit"]) == \
        (7200, 24, 100)
    pod = seed["jobTemplate"]["spec"]["template"]["spec"]
    assert seed["jobTemplate"]["spec"]["backoffLimit"] == 0 and pod["serviceAccountName"] == "chaosrunner"
    [c] = pod["containers"]
    assert c["command"] == ["chaosrunner", "schedule", "run", "schedules.yaml", "--once", "seed-experiments",
                            "--respect-windows", "--jitter"]
    assert c["envFrom"][0]["secretRef"]["name"] == "chaosrunner-secrets"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "chaosrunner-reports"
    assert docs[1]["rules"] == []            # the built-in drivers need nothing of the API server: least rights
    # the validation is real: a CronJob the API server would refuse fails it
    broken = {**docs[-1], "spec": {**docs[-1]["spec"], "concurrencyPolicy": 7}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _systemd_times(spec: str, n: int) -> list[datetime]:
    r = subprocess.run(["systemd-analyze", "calendar", f"--iterations={n}", spec], capture_output=True, text=True,
                       env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}, timeout=30)
    assert r.returncode == 0, r.stderr
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", r.stdout)
    return [datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for s in stamps]


def _croniter_times(cron: str, tz: str, n: int) -> list[datetime]:
    it = croniter(cron, datetime.now(UTC).astimezone(ZoneInfo(tz)))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(n)]


def test_systemd_units_verify_and_fire_when_croniter_does(tmp_path, ready):
    out = export(tmp_path, "systemd")
    units = sorted(out.iterdir())
    assert len(units) == 2 * len(ready.entries)
    r = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    timer = (out / "chaosrunner-seed-experiments.timer").read_text()
    assert "RandomizedDelaySec=600" in timer and "Persistent=true" in timer            # jitter, missed: run-once
    assert "Persistent=false" in (out / "chaosrunner-failover-drills.timer").read_text()
    service = (out / "chaosrunner-seed-experiments.service").read_text()
    assert "--once seed-experiments --respect-windows" in service
    for name, entry in ready.entries.items():
        specs = re.findall(r"^OnCalendar=(.+)$", (out / f"chaosrunner-{name}.timer").read_text(), flags=re.M)
        assert specs == on_calendar(ready, entry)
        n = 8
        fired = sorted({t for s in specs for t in _systemd_times(s, n)})[:n]
        assert fired == _croniter_times(entry.model.cron, entry.model.timezone, n), name


def test_systemd_calendar_of_harder_crons(tmp_path):
    """Steps, lists, named days, and cron's OR of day-of-month and day-of-week (two OnCalendar lines)."""
    (tmp_path / "quick.yaml").write_text(QUICK)
    crons = ["*/15 9-17 * * mon-fri", "30 2 1,15 * *", "0 12 13 * fri", "5 4 * 2,8 sun", "0 */6 * * *"]
    (tmp_path / "s.yaml").write_text("kind: Schedules\nschedules:\n" + "".join(
        f"  c{i}: {{cron: \"{c}\", timezone: America/New_York, run: quick.yaml}}\n" for i, c in enumerate(crons)))
    loaded = read_schedules(tmp_path / "s.yaml")
    for i, cron in enumerate(crons):
        specs = on_calendar(loaded, loaded.entries[f"c{i}"])
        assert len(specs) == (2 if cron == "0 12 13 * fri" else 1)
        fired = sorted({t for s in specs for t in _systemd_times(s, 12)})[:12]
        assert fired == _croniter_times(cron, "America/New_York", 12), (cron, specs)


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


def test_github_actions_workflow_validates(tmp_path, ready):
    out = export(tmp_path, "github-actions")
    wf = out / "chaosrunner-schedules.yml"
    r = _check_jsonschema("vendor.github-workflows", wf)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = yaml.safe_load(wf.read_text())
    crons = [s["cron"] for s in doc["on"]["schedule"]]
    assert "0 9 1-7 * *" in crons and "0 8 1-7 * *" in crons           # 10:00 Paris in winter and in summer
    job = doc["jobs"]["seed-experiments"]
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    run = steps["Run schedule entry seed-experiments"]["run"]
    assert "--once seed-experiments --respect-windows --jitter --due" in run
    assert steps["Upload the reports"]["uses"].startswith("actions/upload-artifact@")
    assert "$GITHUB_STEP_SUMMARY" in steps["Summary"]["run"] and job["concurrency"]["cancel-in-progress"] is False
    bad = tmp_path / "bad.yml"
    bad.write_text(wf.read_text().replace("runs-on:", "runs_on:"))
    assert _check_jsonschema("vendor.github-workflows", bad).returncode == 1


def test_gitlab_ci_validates(tmp_path, ready):
    out = export(tmp_path, "gitlab-ci")
    ci = out / ".gitlab-ci.yml"
    r = _check_jsonschema("vendor.gitlab-ci", ci)
    assert r.returncode == 0, r.stdout + r.stderr
    import json

    schedules = json.loads((out / "gitlab-schedules.json").read_text())
    assert {s["variables"][0]["value"] for s in schedules} == set(ready.entries)
    assert all(s["cron_timezone"] == "Europe/Paris" for s in schedules)
    job = yaml.safe_load(ci.read_text())["chaosrunner-monthly-game-day"]
    assert job["artifacts"]["when"] == "always" and "reports/" in job["artifacts"]["paths"]
    bad = tmp_path / "bad.yml"
    bad.write_text(ci.read_text().replace("when: always", "when: sometimes"))
    assert _check_jsonschema("vendor.gitlab-ci", bad).returncode == 1


def test_utc_only_engines_get_a_cron_per_offset_and_due_keeps_the_real_fire(tmp_path, ready):
    assert utc_crons(ready, ready.entries["monthly-game-day"]) == ["0 13 15-21 * *", "0 12 15-21 * *"]
    (tmp_path / "quick.yaml").write_text(QUICK)
    hour = datetime.now(UTC).hour
    (tmp_path / "s.yaml").write_text("kind: Schedules\nschedules:\n"
                                     f"  later: {{cron: \"0 {(hour + 5) % 24} * * *\", run: quick.yaml}}\n")
    r = CliRunner().invoke(app, ["schedule", "run", str(tmp_path / "s.yaml"), "--once", "later", "--due"])
    assert r.exit_code == 0 and "skipped: not due" in r.output, r.output
    assert not list((tmp_path / "reports").glob("*/run.json"))


def test_every_that_cron_cannot_say_is_refused_when_exported(tmp_path):
    (tmp_path / "quick.yaml").write_text(QUICK)
    (tmp_path / "s.yaml").write_text("kind: Schedules\nschedules:\n  fast:\n    every: 7m\n    run: quick.yaml\n")
    r = CliRunner().invoke(app, ["schedule", "export", str(tmp_path / "s.yaml"), "--format", "k8s-cronjob"])
    assert r.exit_code == 2 and "s.yaml:4" in r.output and "cannot be said as a cron" in r.output
    (tmp_path / "s.yaml").write_text("kind: Schedules\nschedules:\n  half-hourly: {every: 30m, run: quick.yaml}\n"
                                     "  six-hourly: {every: 6h, run: quick.yaml}\n")
    files = export_files(read_schedules(tmp_path / "s.yaml"), "systemd")
    assert "OnCalendar=*-*-* *:00,30:00 UTC" in files["chaosrunner-half-hourly.timer"]
    assert "OnCalendar=*-*-* 00,06,12,18:00:00 UTC" in files["chaosrunner-six-hourly.timer"]


K8S_INV = """\
environment: staging
targets:
  api:
    kubernetes: {namespace: envoy-control, selector: deployment/api-server, in_cluster: true}
  edge-node:
    kubernetes: {namespace: edge, selector: "app=edge-proxy", in_cluster: true}
  drill-pods:
    kubernetes: {namespace: drills, selector: "app=drill", in_cluster: true}
  local:
    url: http://127.0.0.1:9
    toxiproxy: {api: "http://127.0.0.1:9", proxy: local}
"""
K8S_EXP = """\
name: k8s-drills
targets: inv.yaml
steady_state:
  - probe: {type: command, name: ok, command: "true"}
method:
  - action: {type: pod-kill, target: api}
  - action: {type: node-drain, target: edge-node, duration: 1m}
  - action: {type: latency, target: local, delay: 100ms, duration: 10s}
"""


K8S_DAY = """\
kind: GameDay
name: k8s-day
targets: inv.yaml
steady_state:
  - probe: {type: command, name: ok, command: "true"}
phases:
  - name: one
    steps:
      - action: {type: pod-kill, target: drill-pods}
      - experiment: k8s.yaml
"""


def test_k8s_cronjob_grants_the_drivers_rights_where_the_targets_are(tmp_path, monkeypatch):
    """The CronJob's service account lives in the export's namespace (``chaos``), the targets in
    others: a Role (the Kubernetes driver's rules) and a RoleBinding to that account in each target
    namespace, and the ClusterRole for node-drain (nodes, evictions), bound cluster-wide. Read from
    the files alone: no cluster is reached (the targets say ``in_cluster``; $KUBECONFIG names nothing)."""
    from chaosrunner.drivers.kubernetes.rbac import CLUSTER_RULES, ROLE_RULES

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    (tmp_path / "inv.yaml").write_text(K8S_INV)
    (tmp_path / "k8s.yaml").write_text(K8S_EXP)
    (tmp_path / "day.yaml").write_text(K8S_DAY)
    (tmp_path / "s.yaml").write_text("kind: Schedules\nschedules:\n  drills: {cron: \"0 3 * * *\", run: k8s.yaml}\n"
                                     "  day: {cron: \"0 4 * * *\", run: day.yaml}\n")
    out = export(tmp_path, "k8s-cronjob", tmp_path / "s.yaml")
    docs = list(yaml.safe_load_all((out / "chaosrunner-cronjobs.yaml").read_text()))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    roles = {d["metadata"]["namespace"]: d["rules"] for d in docs if d["kind"] == "Role"}
    # the game day's own pod-kill (drills) and its nested experiment's targets count too
    assert roles == {"chaos": [], "envoy-control": ROLE_RULES, "edge": ROLE_RULES, "drills": ROLE_RULES}
    account = [{"kind": "ServiceAccount", "name": "chaosrunner", "namespace": "chaos"}]
    bindings = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "RoleBinding"}
    assert set(bindings) == set(roles)
    assert all(b["subjects"] == account and b["roleRef"]["kind"] == "Role" for b in bindings.values())
    [cluster_role] = [d for d in docs if d["kind"] == "ClusterRole"]
    [cluster_binding] = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert cluster_role["rules"] == CLUSTER_RULES and cluster_binding["subjects"] == account
    assert cluster_binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                          "name": cluster_role["metadata"]["name"]}
    # without node-drain, nothing cluster-wide: least rights
    (tmp_path / "k8s.yaml").write_text(K8S_EXP.replace("  - action: {type: node-drain, target: edge-node, "
                                                       "duration: 1m}\n", ""))
    docs = list(yaml.safe_load_all((export(tmp_path / "again", "k8s-cronjob", tmp_path / "s.yaml")
                                    / "chaosrunner-cronjobs.yaml").read_text()))
    assert not [d for d in docs if d["kind"].startswith("Cluster")]
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"} == {"chaos", "envoy-control", "drills"}
