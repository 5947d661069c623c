"""``check`` steps on a PromQL value and on the writer's data so far.

PromQL: a real Prometheus (Debian's) scraping a small app whose gauge the test sets; every bound
form (below, above, a range, equals), a scalar, a query with no series, a bad query and an
unreachable server, judged in a game day run by the command line. The writer's data: a fresh
embedded demo (asynchronous replication) whose primary is killed while its standby lags, the
game day checking "lost so far" and "RPO so far" before and after, each check agreeing with the
end-of-day read-back. The judging functions themselves on hand-made values.
"""
from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from support import free_port, prometheus_scraping, run_cli, run_dirs, set_gauge

from chaosrunner.analyse.gameday import judge_value, judge_writes
from chaosrunner.analyse.integrity import integrity
from chaosrunner.timeline import WriteRecord


def test_judge_value_every_series_in_bounds():
    two = [("q{shard=a}", 6.0), ("q{shard=b}", 3.0)]
    assert judge_value(two, below=10)[0] is True
    ok, text = judge_value(two, above=4)
    assert ok is False and "1 of 2 series out of bounds: q{shard=b}=3" in text
    assert judge_value(two, above=2, below=7)[0] is True
    assert judge_value(two, above=3, below=7)[0] is False            # bounds are strict
    assert judge_value([("x", 9.0)], equals=9)[0] is True
    assert judge_value([("x", 9.5)], equals=9)[0] is False
    assert judge_value([], below=1) == (False, "the query returned no series")


def _writes(found: list[str | None], period: float = 0.05) -> list[WriteRecord]:
    return [WriteRecord(i, f"k{i}", i * period, i * period + 0.01, found=f) for i, f in enumerate(found)]


def test_judge_writes_lost_and_rpo_so_far():
    clean = integrity(_writes(["present"] * 20), interval=0.05)
    assert judge_writes(clean, lost_writes=0)[0] is True
    ok, text = judge_writes(clean, rpo=0.0)
    assert ok and "0 of 20 acknowledged writes lost so far" in text and "RPO so far 0ms ± 50ms" in text
    lossy = integrity(_writes(["present"] * 10 + ["missing"] * 5 + ["present"] * 5), interval=0.05)
    ok, text = judge_writes(lossy, lost_writes=0)
    assert not ok and "5 of 20 acknowledged writes lost so far" in text
    assert judge_writes(lossy, lost_writes=5)[0] is True
    # RPO: ack of the newest lost (seq 14) − ack of the newest survivor before the loss (seq 9) = 0.25s
    assert lossy.rpo == pytest.approx(0.25)
    assert judge_writes(lossy, rpo=0.3)[0] is True and judge_writes(lossy, rpo=0.2)[0] is False
    ok, text = judge_writes(integrity([], interval=0.05), lost_writes=0)
    assert not ok and "not measured" in text
    unread = integrity(_writes(["present", None]), interval=0.05)
    ok, text = judge_writes(unread, lost_writes=0)
    assert not ok and "not measured" in text


def _prom_value(prom: str, query: str) -> float | None:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as r:
        result = json.load(r)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


PROMQL_DAY = """\
kind: GameDay
name: promql-checks
targets: {inventory}
phases:
  - name: look
    steps:
      - check: {{promql: 'demo_queue_depth{{shard="a"}}', equals: 6}}
      - check: {{promql: demo_queue_depth, below: 10}}
      - check: {{promql: demo_queue_depth, above: 4}}
      - check: {{promql: demo_queue_depth, above: 1, below: 7}}
      - check: {{promql: 'sum(demo_queue_depth)', equals: 9}}
      - check: {{promql: 'scalar(sum(demo_queue_depth))', below: 100}}
      - check: {{promql: no_such_metric_here, below: 1}}
      - check: {{promql: 'sum(', below: 1}}
      - check: {{promql: demo_queue_depth, below: 10, prometheus: 'http://127.0.0.1:{dead}'}}
"""


@pytest.mark.slow
def test_promql_checks_against_a_real_prometheus(tmp_path, isolated_state):
    with prometheus_scraping(tmp_path) as (app, prom):
        set_gauge(app, 6)
        deadline = time.monotonic() + 20
        while _prom_value(prom, 'demo_queue_depth{shard="a"}') != 6.0:
            assert time.monotonic() < deadline, "Prometheus never scraped the gauge"
            time.sleep(0.3)
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(f"environment: test\nprometheus: {prom}\n")
        day = tmp_path / "day.yaml"
        day.write_text(PROMQL_DAY.format(inventory=inventory, dead=free_port()))
        proc = run_cli("gameday", "run", str(day), "--non-interactive", "--report-dir", str(tmp_path / "reports"),
                       env={"TERM": "dumb"})
    assert proc.returncode == 1, proc.stderr[-3000:]          # some checks fail, by design: the day fails
    assert "Traceback" not in proc.stderr
    [run_dir] = run_dirs(tmp_path / "reports")
    doc = json.loads((run_dir / "run.json").read_text())
    steps = doc["gameday"]["phases"][0]["steps"]
    got = [(s["status"], s["detail"]) for s in steps]
    assert [g[0] for g in got] == ["passed", "passed", "failed", "passed", "passed", "passed",
                                   "failed", "failed", "failed"], got
    assert 'shard="b"}=3' in got[2][1] and "1 of 2 series" in got[2][1]
    assert "expected > 4" in got[2][1]
    assert "no series" in got[6][1]
    assert "not measured" in got[7][1] and "bad_data" in got[7][1]          # Prometheus' own parse error
    assert "not measured" in got[8][1] and "cannot be asked" in got[8][1]
    # every check is a verdict of the day (a JUnit test case); the failed ones fail the day
    verdicts = {v["name"]: v["status"] for v in doc["verdicts"] if v["name"].startswith("look: ")}
    assert len(verdicts) == 9 and sorted(verdicts.values()).count("failed") == 4, verdicts
    assert verdicts["look: check PromQL demo_queue_depth > 4"] == "failed"
    assert verdicts["look: check PromQL demo_queue_depth > 1 and < 7"] == "passed"
    review = (run_dir / "review.md").read_text()
    assert "- [ ] look: check PromQL demo\\_queue\\_depth \\> 4: failed (expected holds when the step runs; " \
           "measured 1 of 2 series out of bounds" in review


WRITES_DAY = """\
kind: GameDay
name: writes-so-far
targets: {inventory}
writer: {{type: http, url: "${{api.url}}/configs", rate: 50/s, cleanup: true}}
sampling: {{interval: 250ms, stable_for: 2s}}
steady_state:
  - probe: {{type: http, name: health, url: /health}}
  - probe: {{type: role, name: primary, http: {{url: "${{supervisor.url}}/role", field: primary}}}}
success_criteria:
  - {{name: lost at the end, lost_writes: 0}}
phases:
  - name: before
    steps:
      - command: sleep 1
      - check: {{lost_writes: 0}}
      - check: {{rpo: 0s}}
  - name: lose the primary
    steps:
      - action: {{type: process, operation: stop, target: store-standby, duration: 2s, background: true}}
      - command: sleep 1.5
      - action: {{type: process, operation: kill, target: store-primary, duration: 5s}}
      - wait_until: {{probe: primary, changed: true, timeout: 30s, critical: true}}
      - wait_until: {{probe: health, state: ok, timeout: 30s}}
      - command: sleep 1
      - check: {{lost_writes: 0}}
      - check: {{rpo: 10m}}
  - name: switch back
    steps:
      - command:
          run: "curl -sf -m 35 -X POST '${{supervisor.url}}/switchover?candidate=store-a&wait=30'"
          timeout: 40s
      - wait_until: {{probe: primary, equals: store-a, timeout: 1m}}
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_lost_writes_and_rpo_so_far_on_the_demo(tmp_path, isolated_state):
    from demo_support import fresh_demo, role

    with fresh_demo(tmp_path) as inventory:
        day = tmp_path / "day.yaml"
        day.write_text(WRITES_DAY.format(inventory=inventory))
        proc = run_cli("gameday", "run", str(day), "--non-interactive", "--report-dir", str(tmp_path / "reports"),
                       env={"TERM": "dumb"}, timeout=400)
        assert role(inventory) == "store-a"                       # left as found
    assert "Traceback" not in proc.stderr
    [run_dir] = run_dirs(tmp_path / "reports")
    doc = json.loads((run_dir / "run.json").read_text())
    checks = [(p["name"], s) for p in doc["gameday"]["phases"] for s in p["steps"] if s["kind"] == "check"]
    print("\n".join(f"{p}: {s['name']}: {s['status']} ({s['detail']})" for p, s in checks))
    (_, lost0), (_, rpo0), (_, lost1), (_, rpo1) = checks
    assert lost0["status"] == rpo0["status"] == "passed", checks      # nothing lost before the fault
    assert "0 of " in lost0["detail"]
    integ = doc["measurements"]["integrity"]
    assert integ["lost"] > 0, integ                                  # asynchronous: the kill loses writes
    # the check after the failover saw the loss the end-of-day read-back confirms
    assert lost1["status"] == "failed" and rpo1["status"] == "passed", checks
    seen = int(lost1["detail"].split(" of ")[0])
    assert 0 < seen <= integ["lost"], (seen, integ)
    assert seen == integ["lost"], (seen, integ)                      # nothing is lost after the failover
    assert proc.returncode == 1, proc.stderr[-3000:]                 # the failed check and criterion
    verdicts = {v["name"]: v["status"] for v in doc["verdicts"]}
    assert verdicts["lose the primary: check acknowledged writes lost so far ≤ 0"] == "failed"
    assert verdicts["lost at the end"] == "failed"
    assert not list((isolated_state / "ledger").glob("*.json"))
    events = doc["timeline"]["events"]
    injected = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_injected"}
    reverted = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_reverted"}
    assert injected and injected == reverted
    assert Path(run_dir / "review.md").exists()
