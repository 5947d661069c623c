"""A small AWS estate built in moto (server mode, loopback) with real boto3: the resources the AWS
tests put faults on, and the files of an experiment that uses them.

Nothing here reaches an AWS account: every client is given the moto server's ``endpoint_url`` and
the fake credentials that ``tests/aws/conftest.py`` puts in the environment.
"""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from support import ROOT

REGION = "eu-west-1"
CHAOSRUNNER = ROOT / ".venv" / "bin" / "chaosrunner"


def reset(url: str) -> None:
    """Empty every moto backend (between tests)."""
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10):
        pass


def set_transition(url: str, model: str, progression: str = "manual", times: int = 1_000_000) -> None:
    """moto's state manager: how its ``model`` (``fis::experiment``) moves between states."""
    body = json.dumps({"model_name": model, "transition": {"progression": progression, "times": times}}).encode()
    req = urllib.request.Request(f"{url}/moto-api/state-manager/set-transition", method="POST", data=body)
    with urllib.request.urlopen(req, timeout=10):
        pass


@dataclass
class World:
    """VPC 10.0.0.0/16 with an app subnet in each of eu-west-1a and eu-west-1b; two web instances in
    the first; an Auto Scaling group; a target group holding both instances; a CloudWatch alarm."""

    url: str
    vpc: str = ""
    subnets: dict[str, str] = field(default_factory=dict)       # zone -> subnet id
    instances: list[str] = field(default_factory=list)
    asg: str = "web-asg"
    target_group: str = ""
    alarm: str = "api-5xx"

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION)

    def build(self) -> World:
        ec2 = self.client("ec2")
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        for n, zone in enumerate(("eu-west-1a", "eu-west-1b"), start=1):
            self.subnets[zone] = ec2.create_subnet(
                VpcId=self.vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=zone,
                TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "app"}]}],
            )["Subnet"]["SubnetId"]
        run = ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2, InstanceType="t3.micro",
                                SubnetId=self.subnets["eu-west-1a"],
                                TagSpecifications=[{"ResourceType": "instance",
                                                    "Tags": [{"Key": "app", "Value": "web"}]}])
        self.instances = sorted(i["InstanceId"] for i in run["Instances"])
        asg = self.client("autoscaling")
        asg.create_launch_configuration(LaunchConfigurationName="web-lc", ImageId="ami-12345678",
                                        InstanceType="t3.micro")
        asg.create_auto_scaling_group(AutoScalingGroupName=self.asg, LaunchConfigurationName="web-lc", MinSize=0,
                                      MaxSize=2, DesiredCapacity=0, VPCZoneIdentifier=self.subnets["eu-west-1a"],
                                      Tags=[{"Key": "app", "Value": "web", "PropagateAtLaunch": False}])
        elb = self.client("elbv2")
        self.target_group = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=self.vpc,
                                                    TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        elb.add_tags(ResourceArns=[self.target_group], Tags=[{"Key": "app", "Value": "web"}])
        elb.register_targets(TargetGroupArn=self.target_group, Targets=[{"Id": i, "Port": 80} for i in self.instances])
        cw = self.client("cloudwatch")
        cw.put_metric_alarm(AlarmName=self.alarm, MetricName="HTTPCode_Target_5XX_Count",
                            Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                            Threshold=10, ComparisonOperator="GreaterThanThreshold")
        cw.set_alarm_state(AlarmName=self.alarm, StateValue="OK", StateReason="quiet")
        return self

    # -- what the tests look at --------------------------------------------------------------------
    def instance_states(self) -> dict[str, str]:
        res = self.client("ec2").describe_instances(InstanceIds=self.instances)["Reservations"]
        return {i["InstanceId"]: i["State"]["Name"] for r in res for i in r["Instances"]}

    def instance_tags(self) -> dict[str, dict[str, str]]:
        res = self.client("ec2").describe_instances(InstanceIds=self.instances)["Reservations"]
        return {i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])} for r in res for i in r["Instances"]}

    def suspended(self) -> set[str]:
        g = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[self.asg])
        return {p["ProcessName"] for p in g["AutoScalingGroups"][0]["SuspendedProcesses"]}

    def asg_tags(self) -> dict[str, str]:
        g = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[self.asg])
        return {t["Key"]: t["Value"] for t in g["AutoScalingGroups"][0]["Tags"]}

    def registered(self) -> set[str]:
        d = self.client("elbv2").describe_target_health(TargetGroupArn=self.target_group)
        return {t["Target"]["Id"] for t in d["TargetHealthDescriptions"] if t["TargetHealth"]["State"] != "draining"}

    def tg_tags(self) -> dict[str, str]:
        d = self.client("elbv2").describe_tags(ResourceArns=[self.target_group])["TagDescriptions"][0]
        return {t["Key"]: t["Value"] for t in d["Tags"]}

    def acl_of(self, subnet: str) -> str:
        acls = self.client("ec2").describe_network_acls(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
        [acl] = acls
        return str(acl["NetworkAclId"])

    def acls(self) -> dict[str, dict[str, Any]]:
        acls = self.client("ec2").describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [self.vpc]}])
        return {a["NetworkAclId"]: a for a in acls["NetworkAcls"]}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def inventory(tmp: Path, url: str, targets: str) -> Path:
    """An inventory of AWS targets (YAML lines under ``targets:``) on the moto endpoint."""
    return write(tmp / "inv.yaml", f"environment: test\ntargets:\n{targets.replace('@URL', url)}")


def experiment(tmp: Path, action: str, extra: str = "", name: str = "aws-fault") -> Path:
    """An experiment whose method is one AWS fault (``action``, a flow mapping) — on line 6."""
    return write(tmp / "exp.yaml", f"""\
name: {name}
targets: inv.yaml
steady_state:
  - probe: {{type: command, name: alive, command: "true"}}
method:
  - action: {action}
sampling: {{interval: 100ms, stable_for: 200ms}}
{extra}""")


def cli(tmp: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOSRUNNER), *args], capture_output=True, text=True, timeout=timeout, cwd=tmp,
                          env=dict(os.environ))


def start(tmp: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(CHAOSRUNNER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp, env=dict(os.environ), start_new_session=True)
