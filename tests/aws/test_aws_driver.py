"""The AWS driver as a plugin (registered under the `chaosrunner.drivers` entry point like a third party's),
the example inventory, and the marks a fault leaves on resources. Nothing here talks to AWS or moto."""
from __future__ import annotations

from pathlib import Path

from support import ROOT

from chaosrunner.drivers import registry
from chaosrunner.drivers.aws import AwsDriver, AwsHandle
from chaosrunner.drivers.aws.operations import TAG_VALUE_LIMIT, read_undo, undo_tags
from chaosrunner.model.targets import outside_loopback
from chaosrunner.read.documents import read_experiments, read_inventory
from chaosrunner.read.resolve import Secrets

FAULTS = {"ec2-stop", "ec2-reboot", "ec2-terminate", "asg-suspend", "rds-reboot", "rds-failover", "elb-deregister",
          "az-outage", "fis-experiment"}


def test_the_driver_is_installed_through_its_entry_point():
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="chaosrunner.drivers") if ep.name == "aws"]
    assert ep.load() is AwsDriver and registry()["aws"] is AwsDriver
    assert set(AwsDriver.fault_types()) == FAULTS and AwsDriver.handle == "aws"


def test_the_example_inventory_loads_and_is_outside_loopback():
    inv = read_inventory(ROOT / "targets" / "aws-example.yaml", Secrets()).model
    handles = {name: t.handle("aws") for name, t in inv.targets.items() if t.handle("aws") is not None}
    assert set(handles) == {"api-server", "api-server-asg", "api-target-group", "postgres-primary", "app-subnets",
                            "alarms", "fis-templates"}
    assert all(isinstance(h, AwsHandle) and h.region == "us-west-2" for h in handles.values())
    assert set(outside_loopback(inv)) >= set(handles) and inv.environment == "staging"


def test_an_experiment_on_the_example_inventory_reads(tmp_path: Path):
    exp = tmp_path / "region.yaml"
    exp.write_text(f"""\
name: zone-outage
targets: {ROOT / "targets" / "aws-example.yaml"}
steady_state:
  - probe: {{type: aws, target: alarms, check: alarm_state}}
  - probe: {{type: aws, target: postgres-primary, check: rds_status, role: primary}}
method:
  - action: {{type: az-outage, target: app-subnets, zone: us-west-2a, duration: 5m}}
  - action: {{type: rds-failover, target: postgres-primary, failback: true}}
abort_when:
  - cloudwatch_alarm: {{target: alarms, alarms: [envoy-control-5xx-high]}}
""")
    [loaded] = read_experiments(exp)
    assert [s.action.type for s in loaded.model.method] == ["az-outage", "rds-failover"]
    assert loaded.model.abort_when[0].cloudwatch_alarm.alarms == ["envoy-control-5xx-high"]


def test_what_a_revert_needs_is_split_over_tags_within_their_limit_and_read_back_in_order():
    items = [f"subnet-{n:017x}=acl-{n:017x}" for n in range(12)]
    tags = undo_tags(items)
    assert len(tags) > 1 and all(len(t["Value"]) <= TAG_VALUE_LIMIT for t in tags)
    shuffled = {t["Key"]: t["Value"] for t in reversed(tags)}
    assert read_undo(shuffled) == items
    assert read_undo({t["Key"]: t["Value"] for t in undo_tags([])}) == []


def test_a_deregistered_target_is_written_and_read_back_whole():
    from chaosrunner.drivers.aws.operations import _target_from_key, _target_key

    for target in ({"Id": "i-0123456789abcdef0", "Port": 80},
                   {"Id": "10.0.1.7", "Port": 8080, "AvailabilityZone": "all"},
                   {"Id": "arn:aws:lambda:eu-west-1:123456789012:function:api"}):
        assert _target_from_key(_target_key(target)) == target
