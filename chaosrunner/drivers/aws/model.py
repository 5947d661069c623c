"""What the AWS driver reads from files: the ``aws:`` inventory handle and its fault types.

Plain pydantic models (boto3 is not imported here): chaosrunner validates experiments and
inventories that use them whether or not the ``aws`` extra is installed, and says what is
missing only when a fault is planned.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaosrunner.model.base import Duration, FieldError, Strict, Timeout, check_http_url
from chaosrunner.model.faults import Fault

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
ZONE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d[a-z]$")

TagValues = str | list[str]

ASG_PROCESSES = ("Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance", "AlarmNotification",
                 "ScheduledActions", "AddToLoadBalancer", "InstanceRefresh")


class AwsHandle(Strict):
    """The ``aws:`` handle of a target: where its resources are, how to reach them, which they are.

    ``ids`` or ``filters`` select the resources of the kind a fault acts on (instances for
    ``ec2-*``, Auto Scaling groups for ``asg-suspend``, DB instances for ``rds-*``, target groups
    — ARNs or names — for ``elb-deregister``, subnets for ``az-outage``, experiment templates for
    ``fis-experiment``). ``filters`` are tags: ``{app: web}`` matches resources tagged app=web, a
    list of values any of them; several keys must all match.
    """

    region: str = Field(..., description="the AWS region, e.g. eu-west-1")
    profile: str | None = Field(None, min_length=1, description="a profile of the AWS config files (not with role_arn)")
    role_arn: str | None = Field(None, description="a role to assume for the faults (not with profile)")
    ids: list[str] = Field(default_factory=list, description="the resources, by id (or name / ARN)")
    filters: dict[str, TagValues] = Field(default_factory=dict, description="tag key → value (or values): "
                                                                             "the resources carrying those tags")
    max_targets: int = Field(5, ge=1, le=1000, description="plan and inject refuse a selection of more resources "
                                                           "than this (1-1000; default 5)")
    endpoint_url: str | None = Field(None, description="another endpoint for every AWS API (LocalStack, moto, "
                                                       "a VPC endpoint)")

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if "${" not in v and not REGION.match(v):
            raise ValueError(f"{v!r} is not an AWS region; write e.g. region: eu-west-1")
        return v

    @field_validator("role_arn")
    @classmethod
    def _role(cls, v: str | None) -> str | None:
        if v is not None and "${" not in v and not ROLE_ARN.match(v):
            raise ValueError(f"{v!r} is not an IAM role ARN; write e.g. arn:aws:iam::123456789012:role/chaos")
        return v

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v, "an endpoint URL", "write e.g. http://127.0.0.1:5000")

    @field_validator("ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for n, i in enumerate(v):
            if not i.strip():
                raise FieldError("an empty id", n, hint="list resource ids, e.g. ids: [i-0123456789abcdef0]")
            if i in v[:n]:
                raise FieldError(f"{i!r} is listed twice", n, hint="list each resource once")
        return v

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, TagValues]) -> dict[str, TagValues]:
        for key, values in v.items():
            if not key or (isinstance(values, list) and not values):
                raise FieldError(f"filter {key!r} has no value", key, hint="write e.g. filters: {app: web}")
        return v

    @model_validator(mode="after")
    def _one_way(self) -> AwsHandle:
        if self.profile is not None and self.role_arn is not None:
            raise FieldError("an aws handle takes profile: or role_arn:, not both", "role_arn",
                             hint="a role_arn is assumed with the default credentials (environment or instance "
                                  "role); drop one of the two")
        if bool(self.ids) == bool(self.filters):
            raise FieldError("an aws handle selects its resources with ids: [...] or filters: {tag: value}"
                             + (", not both" if self.ids else ""),
                             hint="e.g. ids: [i-0123456789abcdef0] or filters: {app: web}")
        if len(self.ids) > self.max_targets:
            raise FieldError(f"ids lists {len(self.ids)} resources, more than max_targets ({self.max_targets})",
                             "ids", hint="list fewer, or raise max_targets if that many is meant")
        return self

    def addresses(self) -> list[str]:
        """What the handle reaches: its endpoint, else the region's public APIs (beyond loopback)."""
        return [self.endpoint_url] if self.endpoint_url else [f"https://ec2.{self.region}.amazonaws.com"]

    def connection(self) -> dict[str, str | None]:
        """How to reach AWS, as written into a fault's handle (the ledger reverts with it after a crash)."""
        return {"region": self.region, "profile": self.profile, "role_arn": self.role_arn,
                "endpoint_url": self.endpoint_url}


class _AwsFault(Fault):
    timeout: Timeout = Field(60.0, description="how long the driver may take to inject (between 1ms and 1h; "
                                               "default 60s: AWS APIs answer in seconds, not milliseconds)")


class Ec2StopFault(_AwsFault):
    """Stop the target's running instances; revert starts them again."""

    type: Literal["ec2-stop"]
    force: bool = Field(False, description="stop without the instances' orderly shutdown")


class Ec2RebootFault(_AwsFault):
    """Reboot the target's running instances; revert checks they are running."""

    type: Literal["ec2-reboot"]


class Ec2TerminateFault(_AwsFault):
    """Terminate the target's instances. Cannot be reverted: ``irreversible: true`` says so."""

    type: Literal["ec2-terminate"]
    irreversible: bool = Field(False, description="must be true: terminated instances cannot be brought back")

    @model_validator(mode="after")
    def _acknowledged(self) -> Ec2TerminateFault:
        if not self.irreversible:
            raise FieldError("ec2-terminate cannot be reverted: terminated instances are gone for good (an Auto "
                             "Scaling group may replace them)", hint="write irreversible: true to say you know")
        return self


class AsgSuspendFault(_AwsFault):
    """Suspend Auto Scaling processes of the target's groups; revert resumes those it suspended."""

    type: Literal["asg-suspend"]
    processes: list[str] = Field(default_factory=lambda: list(ASG_PROCESSES),
                                 description="the processes to suspend (default: all of them)")

    @field_validator("processes")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        if not v:
            raise FieldError("processes is empty", hint="omit it to suspend every process")
        for n, p in enumerate(v):
            if p not in ASG_PROCESSES:
                raise FieldError(f"{p!r} is not an Auto Scaling process", n, hint="known: " + ", ".join(ASG_PROCESSES))
        return v


class RdsRebootFault(_AwsFault):
    """Reboot the target's DB instances; revert waits until they are available again."""

    type: Literal["rds-reboot"]


class RdsFailoverFault(_AwsFault):
    """Reboot a Multi-AZ DB instance with failover (the standby becomes primary); revert waits until it is
    available in the other zone, and with ``failback: true`` fails over once more to the original zone."""

    type: Literal["rds-failover"]
    failback: bool = Field(False, description="revert fails back to the original zone (a second failover)")


class ElbDeregisterFault(_AwsFault):
    """Deregister targets from the target's target groups; revert registers them again."""

    type: Literal["elb-deregister"]
    zone: str | None = Field(None, description="only the targets in this availability zone (default: all)")
    instances: list[str] = Field(default_factory=list, description="only these target ids (default: all)")


class AzOutageFault(_AwsFault):
    """Cut an availability zone off: the target's subnets in ``zone`` are associated with a network ACL that
    denies all traffic; revert restores their original ACLs and deletes it."""

    type: Literal["az-outage"]
    zone: str = Field(..., description="the availability zone, e.g. eu-west-1a")

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if "${" not in v and not ZONE.match(v):
            raise ValueError(f"{v!r} is not an availability zone; write e.g. zone: eu-west-1a")
        return v


class FisExperimentFault(_AwsFault):
    """Start an AWS FIS experiment from a template; revert (or an abort) stops it if it still runs."""

    type: Literal["fis-experiment"]
    template: str | None = Field(None, description="the experiment template id (default: the target's ids/filters)")
    settle: Duration = Field(0.0, description="how long inject waits for the experiment to be running")


AWS_FAULTS = (Ec2StopFault, Ec2RebootFault, Ec2TerminateFault, AsgSuspendFault, RdsRebootFault, RdsFailoverFault,
              ElbDeregisterFault, AzOutageFault, FisExperimentFault)
