"""Typed models of the AWS probe (``probe: {type: aws, ...}``) and the CloudWatch alarm stop condition
(``abort_when: [{cloudwatch_alarm: {...}}]``).

Both name a target of the inventory whose ``aws:`` handle (the AWS driver's) says the region, the
credentials and, where the check needs them, the resources: the instances of ``instance_state``,
the DB instances of ``rds_status``, the target groups of ``target_health``. The implementations
are in ``chaosrunner.drivers.aws.watch`` (boto3, imported when a run builds them).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaosrunner.model.base import FieldError, Strict, Timeout
from chaosrunner.model.probes import _ProbeCommon

AWS_CHECKS = ("instance_state", "rds_status", "target_health", "alarm_state")
DEFAULT_EXPECT = {"instance_state": "running", "rds_status": "available", "alarm_state": "OK"}
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")


class AwsProbeSpec(_ProbeCommon):
    """One AWS check on a target's ``aws:`` resources, healthy when:

    - ``instance_state``: every instance the target selects is in ``expect`` (default running);
    - ``rds_status``: every DB instance is ``expect`` (default available), and the primary when
      ``role: primary`` (not a read replica); the value holds each one's status, role and zone;
    - ``target_health``: at least ``min_healthy`` targets of each target group are healthy
      (default: every registered target);
    - ``alarm_state``: the CloudWatch alarm(s) ``alarms`` (default: the target's ids) are in
      ``expect`` (default OK).
    """

    type: Literal["aws"]
    target: str = Field(..., description="the inventory target whose aws handle the check reads")
    check: Literal["instance_state", "rds_status", "target_health", "alarm_state"]
    expect: str | None = Field(None, description="the state that is healthy (instance_state: running, rds_status: "
                                                 "available, alarm_state: OK)")
    role: Literal["primary", "replica"] | None = Field(None, description="rds_status: the role each must have")
    min_healthy: int | None = Field(None, ge=0, le=100000, description="target_health: healthy targets needed per "
                                                                       "group (default: all registered)")
    alarms: list[str] = Field(default_factory=list, description="alarm_state: alarm names (default: the "
                                                                "target's aws ids)")
    timeout: Timeout = Field(5.0, description="how long one sample may take before it counts as failed "
                                              "(between 1ms and 1h; default 5s)")

    @model_validator(mode="after")
    def _coherent(self) -> AwsProbeSpec:
        if self.check == "alarm_state" and self.expect is not None and self.expect not in ALARM_STATES:
            raise FieldError(f"{self.expect!r} is not an alarm state", "expect",
                             hint="write one of " + ", ".join(ALARM_STATES))
        for key, check in (("role", "rds_status"), ("min_healthy", "target_health"), ("alarms", "alarm_state")):
            if getattr(self, key) not in (None, []) and self.check != check:
                raise FieldError(f"{key}: is for check: {check}, not {self.check}", key, hint=f"drop {key}:")
        return self

    def expected(self) -> str | None:
        return self.expect if self.expect is not None else DEFAULT_EXPECT.get(self.check)


class CloudWatchAlarmStop(Strict):
    """Stop the run when a CloudWatch alarm is in ``state`` (ALARM by default), as AWS FIS stop conditions do."""

    target: str = Field(..., description="the inventory target whose aws handle gives the region and credentials")
    alarms: list[str] = Field(..., min_length=1, description="alarm names: any one of them in the state stops")
    state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"] = Field("ALARM", description="the state that means stop")
    timeout: Timeout = Field(2.0, description="how long one check may take (between 1ms and 1h); one that cannot "
                                              "answer does not stop the run")

    @field_validator("alarms")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for n, name in enumerate(v):
            if not name.strip():
                raise FieldError("an empty alarm name", n, hint="write e.g. alarms: [api-5xx-high]")
        return v
