"""The Kubernetes driver against the loopback fake Kubernetes API (tests/k8s/fakeapi.py: no cluster):
how long plan, inject and the verified revert of each fault take through the real ``kubernetes``
client over HTTP, and how many writes each makes. The fake answers in microseconds, so these
are chaosrunner's own costs (client, selection, verification polls), not a cluster's.

    .venv/bin/python benchmarks/k8s_bench.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from k8s.conftest import CONTEXTS, NS, seed_cluster  # noqa: E402

from chaosrunner.drivers import PlannedFault, registry  # noqa: E402
from chaosrunner.model.experiment import MethodStep  # noqa: E402
from chaosrunner.model.targets import Inventory  # noqa: E402

FAULTS = {
    "pod-kill": ("api", {"type": "pod-kill", "mode": "one"}),
    "network partition": ("pg", {"type": "network", "operation": "partition"}),
    "zone partition": ("zone", {"type": "network", "operation": "partition"}),
    "scale": ("api", {"type": "scale", "replicas": 1}),
    "node-drain": ("api", {"type": "node-drain"}),
    "rollout-restart": ("api", {"type": "rollout-restart"}),
    "resource memory": ("api", {"type": "resource", "resource": "memory", "consumption": "80%"}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = seed_cluster(ready_delay=0.3)
        cluster.start()
        kc = str(cluster.kubeconfig(Path(tmp) / "kubeconfig", CONTEXTS, NS))
        registry()
        inv = Inventory.model_validate({"environment": "staging", "targets": {
            "api": {"kubernetes": {"namespace": NS, "selector": "deployment/api-server", "kubeconfig": kc}},
            "pg": {"kubernetes": {"namespace": NS, "selector": "app=postgres,role=primary", "kubeconfig": kc}},
            "zone": {"kubernetes": {"namespace": NS, "zone": "us-west-2a", "kubeconfig": kc}}}})
        print(f"{'fault':<20}{'check+describe':>16}{'inject':>10}{'revert':>10}{'writes':>8}")
        for label, (target, action) in FAULTS.items():
            times: dict[str, list[float]] = {"plan": [], "inject": [], "revert": []}
            writes = 0
            for i in range(args.repeat):
                spec = MethodStep.model_validate({"action": {**action, "target": target}}).action
                fault = PlannedFault(f"b{i}", spec, target, inv.targets[target], "kubernetes")
                driver = registry()["kubernetes"]()
                before = len(cluster.log)
                t0 = time.perf_counter()
                driver.check(fault)
                driver.describe(fault)
                t1 = time.perf_counter()
                handle = driver.inject(fault)
                t2 = time.perf_counter()
                driver.revert(handle)
                t3 = time.perf_counter()
                driver.close()
                times["plan"].append(t1 - t0)
                times["inject"].append(t2 - t1)
                times["revert"].append(t3 - t2)
                writes = len(cluster.log) - before
            med = {k: statistics.median(v) * 1000 for k, v in times.items()}
            print(f"{label:<20}{med['plan']:>14.0f}ms{med['inject']:>8.0f}ms{med['revert']:>8.0f}ms{writes:>8}")
        print("(revert of pod-kill, node-drain and rollout-restart includes waiting for the fake's replacements to "
              "be Ready: 0.3 s after they are created;\n writes: those the fake logged: creates, updates, deletes, "
              "evictions)")
        env = {"KUBECONFIG": kc, "PATH": "/usr/bin:/bin"}
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "plan", "experiments/seed-experiments.yaml",
                            "--targets", "targets/k8s-example.yaml", "--json"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        took = time.perf_counter() - t0
        assert r.returncode == 0, r.stderr
        print(f"chaosrunner plan experiments/seed-experiments.yaml --targets targets/k8s-example.yaml: {took:.2f} s "
              "(the whole command, interpreter start included)")
        cluster.stop()


if __name__ == "__main__":
    main()
