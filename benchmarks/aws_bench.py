"""The AWS driver's own cost per fault: plan (select + describe), inject and revert, each timed over
real HTTP against moto in server mode on loopback (no AWS account), and the AWS API calls each makes.

    .venv/bin/python benchmarks/aws_bench.py [--rounds 5]

moto answers in about a millisecond, so the figures are chaosrunner's and botocore's side of a call
(signing, serialising, parsing) times the calls a fault needs; against AWS each call costs its
round trip (tens of ms) and the waits for states (an instance stopping) dominate.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "aws")]
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true",
                  AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)

FAULTS = {
    "ec2-stop": ("web", {}),
    "ec2-reboot": ("web", {}),
    "asg-suspend": ("web-asg", {}),
    "elb-deregister": ("web-tg", {}),
    "az-outage": ("app-subnets", {"zone": "eu-west-1a"}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import botocore.client
    from moto.server import ThreadedMotoServer
    from world import World

    from chaosrunner.drivers import PlannedFault, registry
    from chaosrunner.drivers.aws import AwsDriver
    from chaosrunner.drivers.aws.model import AWS_FAULTS, AwsHandle
    from chaosrunner.model.vocabulary import current

    calls = {"n": 0}
    real = botocore.client.BaseClient._make_api_call

    def counted(self, name, params):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(self, name, params)

    botocore.client.BaseClient._make_api_call = counted   # type: ignore[method-assign]

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    World(url).build()
    registry()
    models = {m.model_fields["type"].annotation.__args__[0]: m for m in AWS_FAULTS}
    handles = {"web": {"filters": {"app": "web"}}, "web-asg": {"ids": ["web-asg"]}, "web-tg": {"ids": ["web-tg"]},
               "app-subnets": {"filters": {"tier": "app"}}}
    target_model = current().target_model
    print(f"{'fault':16} {'plan ms':>9} {'inject ms':>10} {'revert ms':>10} {'API calls (plan/inject/revert)':>32}")
    try:
        for fault_type, (target, params) in FAULTS.items():
            handle = AwsHandle(region="eu-west-1", endpoint_url=url, **handles[target])
            spec = models[fault_type](type=fault_type, target=target, **params)
            fault = PlannedFault("f1", spec, target, target_model(aws=handle), "aws")
            times: dict[str, list[float]] = {"plan": [], "inject": [], "revert": []}
            counts: dict[str, int] = {}
            for _ in range(args.rounds):
                for stage in ("plan", "inject", "revert"):
                    before, started = calls["n"], time.perf_counter()
                    if stage == "plan":
                        driver = AwsDriver()
                        driver.check(fault)
                        driver.describe(fault)
                    elif stage == "inject":
                        h = driver.inject(fault)
                    else:
                        driver.revert(h)
                    times[stage].append((time.perf_counter() - started) * 1000)
                    counts[stage] = calls["n"] - before
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"{fault_type:16} {med['plan']:9.1f} {med['inject']:10.1f} {med['revert']:10.1f} "
                  f"{counts['plan']:>20}/{counts['inject']}/{counts['revert']}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
