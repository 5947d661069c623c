"""``validate --offline``: a file checked without reaching its targets — structure, references, each
fault's target and the driver that takes it — for files meant to run elsewhere (a CronJob whose
inventory is ``in_cluster``; CI linting experiments with no cluster credentials). No cluster runs
here: the point is that none is reached (``in_cluster`` outside a cluster fails when it is)."""
from __future__ import annotations

from support import run_cli, write

INV = """\
targets:
  api:
    kubernetes: {namespace: envoy-control, selector: deployment/api-server, in_cluster: true}
  web:
    url: http://127.0.0.1:9
"""
EXP = """\
name: offline
targets: inv.yaml
steady_state:
  - probe: {type: command, name: ok, command: "true"}
method:
  - action: {type: pod-kill, target: api}
"""


def test_offline_checks_the_file_without_reaching_the_cluster(tmp_path):
    write(tmp_path / "inv.yaml", INV)
    exp = write(tmp_path / "exp.yaml", EXP)
    online = run_cli("validate", str(exp), env={"KUBERNETES_SERVICE_HOST": ""})
    assert online.returncode == 2 and "in-cluster" in online.stderr, online.stderr   # the cluster was asked
    offline = run_cli("validate", str(exp), "--offline")
    assert offline.returncode == 0, offline.stderr
    assert " ".join(offline.stdout.split()) == "ok: offline (1 faults, 1 probes; checked offline, targets not " \
                                               "reached: drivers kubernetes)"
    plan = run_cli("plan", str(exp))                          # plan itself reaches the cluster: no offline there
    assert plan.returncode == 2 and "in-cluster" in plan.stderr


def test_offline_still_refuses_what_the_file_gets_wrong(tmp_path):
    write(tmp_path / "inv.yaml", INV)
    cases = {
        "  - action: {type: pod-kill, target: apx}\n": (7, "unknown target 'apx'", "did you mean 'api'?"),
        "  - action: {type: pod-kill, target: web}\n": (7, "target 'web' has no kubernetes handle",
                                                          "add `kubernetes:`"),
        "  - action: {type: pod-kill, target: api, bogus: 1}\n": (7, "unknown key 'bogus'", "allowed here"),
    }
    for line, (lineno, what, hint) in cases.items():
        exp = write(tmp_path / "exp.yaml", EXP + line)
        r = run_cli("validate", str(exp), "--offline")
        assert r.returncode == 2, (line, r.stdout, r.stderr)
        assert f"{exp}:{lineno}:" in r.stderr and what in r.stderr and hint in r.stderr, (line, r.stderr)
        assert "Traceback" not in r.stderr


def test_a_game_day_validates_offline_too(tmp_path):
    """``validate --offline`` on a game day (``kind: GameDay``): its own faults and its nested
    experiments planned without reaching the cluster; online, the in-cluster API is asked and fails."""
    write(tmp_path / "inv.yaml", INV)
    write(tmp_path / "exp.yaml", EXP)
    day = write(tmp_path / "day.yaml", """\
kind: GameDay
name: k8s-day
targets: inv.yaml
steady_state:
  - probe: {type: command, name: ok, command: "true"}
phases:
  - name: one
    steps:
      - action: {type: pod-kill, target: api}
      - experiment: exp.yaml
""")
    online = run_cli("validate", str(day), env={"KUBERNETES_SERVICE_HOST": ""})
    assert online.returncode == 2 and "in-cluster" in online.stderr, online.stderr
    offline = run_cli("validate", str(day), "--offline")
    assert offline.returncode == 0, offline.stderr
    assert " ".join(offline.stdout.split()) == ("ok: k8s-day (1 phases, 2 steps, 1 faults, 1 nested experiments) "
                                                "(checked offline, targets not reached)")
