"""`chaosrunner plan` with AWS targets (moto in server mode on loopback): the concrete resources each fault
hits, the max_targets limit, and every bad handle, filter or reference refused with exit 2, its file and
line, and nothing touched."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from world import World, cli, experiment, inventory

from chaosrunner.execute.ledger import read_entries

pytestmark = pytest.mark.slow

AWS = 'region: eu-west-1, endpoint_url: "@URL"'


def _plan(tmp: Path) -> dict:
    r = cli(tmp, "plan", "exp.yaml", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    [plan] = json.loads(r.stdout)
    return plan


def test_plan_lists_the_instances_and_subnets_each_fault_hits(tmp_path, world):
    inventory(tmp_path, world.url, f"""\
  web: {{aws: {{{AWS}, filters: {{app: web}}}}}}
  app-subnets: {{aws: {{{AWS}, filters: {{tier: app}}}}}}
  web-tg: {{aws: {{{AWS}, filters: {{app: web}}}}}}
  web-asg: {{aws: {{{AWS}, ids: [web-asg]}}}}
""")
    experiment(tmp_path, "{type: ec2-stop, target: web, duration: 1s}\n"
               "  - action: {type: az-outage, target: app-subnets, zone: eu-west-1b, duration: 1s}\n"
               "  - action: {type: elb-deregister, target: web-tg, duration: 1s}\n"
               "  - action: {type: asg-suspend, target: web-asg, duration: 1s}")
    plan = _plan(tmp_path)
    assert plan["drivers"] == ["aws"] and plan["outside_loopback"] == []
    stop, cut, dereg, asg = (step["faults"][0] for step in plan["method"])
    assert all(i in stop["inject"] for i in world.instances) and stop["inject"].startswith("stop 2 instance(s)")
    assert world.subnets["eu-west-1b"] in cut["inject"] and world.subnets["eu-west-1a"] not in cut["inject"]
    assert all(f"{i}:80" in dereg["inject"] for i in world.instances) and "web-tg" in dereg["inject"]
    assert "web-asg" in asg["inject"] and "Launch" in asg["inject"]
    assert set(world.instance_states().values()) == {"running"}        # planning touched nothing


def test_plan_refuses_more_targets_than_max_targets(tmp_path, world, isolated_state):
    inventory(tmp_path, world.url, f"  web: {{aws: {{{AWS}, filters: {{app: web}}, max_targets: 1}}}}\n")
    experiment(tmp_path, "{type: ec2-stop, target: web, duration: 1s}")
    for command in (["plan"], ["run", "--non-interactive"]):
        r = cli(tmp_path, command[0], "exp.yaml", *command[1:])
        assert r.returncode == 2, r.stdout + r.stderr
        assert "exp.yaml:6:" in r.stderr and "selects 2 instances, more than its max_targets (1)" in r.stderr, r.stderr
        assert all(i in r.stderr for i in world.instances) and "Traceback" not in r.stderr
    assert set(world.instance_states().values()) == {"running"}
    assert read_entries(isolated_state / "ledger") == []


BAD_HANDLES = [
    # (handle, line:column of the error in inv.yaml or exp.yaml, what the message says)
    ("{region: mars-1, filters: {app: web}}", "inv.yaml:4:", "'mars-1' is not an AWS region"),
    ('{region: eu-west-1, profile: a, role_arn: "arn:aws:iam::123456789012:role/x", ids: [i-1]}', "inv.yaml:4:",
     "profile: or role_arn:, not both"),
    ("{region: eu-west-1}", "inv.yaml:4:", "ids: [...] or filters: {tag: value}"),
    ("{region: eu-west-1, ids: [i-1], filters: {a: b}}", "inv.yaml:4:", "not both"),
    ('{region: eu-west-1, role_arn: "role/x", ids: [i-1]}', "inv.yaml:4:", "is not an IAM role ARN"),
    ("{region: eu-west-1, filters: {app: web}, max_targets: 0}", "inv.yaml:4:", "max_targets"),
    ("{region: eu-west-1, filter: {app: web}}", "inv.yaml:4:", "unknown key 'filter'"),
    ('{region: eu-west-1, endpoint_url: "@URL", ids: [i-0123456789abcdef0]}', "exp.yaml:6:",
     "InvalidInstanceID.NotFound"),
    ('{region: eu-west-1, endpoint_url: "@URL", ids: [nonsense]}', "exp.yaml:6:", "InvalidInstanceID"),
    ('{region: eu-west-1, endpoint_url: "@URL", filters: {app: nothing-has-this}}', "exp.yaml:6:",
     "no pending/running instance matches"),
    ('{region: eu-west-1, endpoint_url: "http://127.0.0.1:9", filters: {app: web}}', "exp.yaml:6:",
     "cannot list its instances"),
    ('{region: eu-west-1, endpoint_url: "@URL", profile: nowhere, filters: {app: web}}', "exp.yaml:6:",
     "nowhere"),
]


@pytest.mark.parametrize("handle, where, message", BAD_HANDLES)
def test_a_bad_handle_or_filter_exits_2_with_its_line(tmp_path, world, isolated_state, handle, where, message):
    inventory(tmp_path, world.url, f"  web:\n    aws: {handle}\n")
    experiment(tmp_path, "{type: ec2-stop, target: web, duration: 1s}")
    r = cli(tmp_path, "plan", "exp.yaml")
    assert r.returncode == 2, r.stdout + r.stderr
    assert where in r.stderr and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert set(world.instance_states().values()) == {"running"}


BAD_FAULTS = [
    ("{type: az-outage, target: subnets, zone: eu-west-1z, duration: 1s}", "none of the target's subnets is in "
                                                                          "eu-west-1z"),
    ("{type: az-outage, target: subnets, zone: west, duration: 1s}", "'west' is not an availability zone"),
    ("{type: asg-suspend, target: web, processes: [Lunch], duration: 1s}", "'Lunch' is not an Auto Scaling process"),
    ("{type: elb-deregister, target: web, zone: eu-west-1b, duration: 1s}", "no target group in eu-west-1 matches"),
    ("{type: rds-failover, target: web, duration: 1s}", "no DB instance in eu-west-1 carries the tags"),
    ("{type: ec2-stop, target: plain, duration: 1s}", "target 'plain' has no aws handle"),
]


@pytest.mark.parametrize("action, message", BAD_FAULTS)
def test_a_fault_that_cannot_be_planned_exits_2_with_its_line(tmp_path, world, action, message):
    inventory(tmp_path, world.url, f"""\
  web: {{aws: {{{AWS}, filters: {{role: none}}}}}}
  subnets: {{aws: {{{AWS}, filters: {{tier: app}}}}}}
  plain: {{url: "http://127.0.0.1:1"}}
""")
    experiment(tmp_path, action)
    r = cli(tmp_path, "plan", "exp.yaml")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "exp.yaml:6:" in r.stderr and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_an_aws_probe_or_alarm_on_a_target_without_an_aws_handle_exits_2(tmp_path, world):
    inventory(tmp_path, world.url, f'  web: {{aws: {{{AWS}, filters: {{app: web}}}}}}\n  plain: {{url: "http://127.0.0.1:1"}}\n')
    exp = experiment(tmp_path, "{type: ec2-reboot, target: web, duration: 1s}",
                     "abort_when:\n  - cloudwatch_alarm: {target: plain, alarms: [api-5xx]}\n")
    r = cli(tmp_path, "plan", "exp.yaml")
    assert r.returncode == 2 and "exp.yaml:9:" in r.stderr and "target 'plain' has no aws handle" in r.stderr, r.stderr
    text = exp.read_text().replace("{type: command, name: alive, command: \"true\"}",
                                   "{type: aws, target: webb, check: instance_state}")
    exp.write_text(text.split("abort_when")[0])
    r = cli(tmp_path, "plan", "exp.yaml")
    assert r.returncode == 2 and "exp.yaml:4:" in r.stderr and "unknown target 'webb'" in r.stderr, r.stderr


def test_without_an_endpoint_the_inventory_must_name_its_environment(tmp_path, world: World):
    """An aws handle without endpoint_url reaches the region's public APIs: beyond loopback."""
    (tmp_path / "inv.yaml").write_text("targets:\n  web: {aws: {region: eu-west-1, filters: {app: web}}}\n")
    experiment(tmp_path, "{type: ec2-stop, target: web, duration: 1s}")
    r = cli(tmp_path, "run", "exp.yaml", "--non-interactive")
    assert r.returncode == 2 and "environment" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert set(world.instance_states().values()) == {"running"}


def test_a_profile_or_an_assumed_role_reaches_the_endpoint(tmp_path, world, monkeypatch):
    """profile: reads the AWS config files (here a temporary one with fake keys); role_arn: is assumed
    through STS (moto's) with the environment's credentials before any other call."""
    config = tmp_path / "credentials"
    config.write_text("[chaos]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    for how in ("profile: chaos", 'role_arn: "arn:aws:iam::123456789012:role/chaosrunner"'):
        inventory(tmp_path, world.url, f"  web: {{aws: {{{AWS}, {how}, filters: {{app: web}}}}}}\n")
        experiment(tmp_path, "{type: ec2-stop, target: web, duration: 1s}")
        [step] = _plan(tmp_path)["method"]
        assert all(i in step["faults"][0]["inject"] for i in world.instances), how
