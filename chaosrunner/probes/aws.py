"""The ``aws`` probe: instance state, RDS status and role, target group health, CloudWatch alarm state,
of the resources a target's ``aws:`` handle selects (``chaosrunner.model.aws.AwsProbeSpec`` says when
each is healthy). boto3 calls run in a worker thread; the clients are made once per probe, with a read
timeout of the probe's own.
"""
from __future__ import annotations

import asyncio
from typing import Any

from chaosrunner.drivers.aws.connect import Connection, describe_error
from chaosrunner.drivers.aws.watch import alarm_states, aws_handle, db_instances, instance_states, target_groups
from chaosrunner.probes.base import Outcome, ProbeContext, register_probe


class AwsProbe:
    def __init__(self, spec: Any, name: str, ctx: ProbeContext):
        self.name, self.spec, self.timeout = name, spec, spec.timeout
        self.handle = aws_handle(ctx.inventory, spec.target)
        self.aws = Connection(self.handle.connection(), read_timeout=max(1.0, spec.timeout))

    def _check(self) -> Outcome:
        spec, h, want = self.spec, self.handle, self.spec.expected()
        if spec.check == "instance_state":
            states = instance_states(self.aws, h)
            bad = {i: s for i, s in states.items() if s != want}
            if not states:
                return Outcome(False, {}, "no instance matches the target's aws ids or filters")
            return Outcome(not bad, states, None if not bad else
                           "not " + want + ": " + ", ".join(f"{i} {s}" for i, s in bad.items()))
        if spec.check == "rds_status":
            found = db_instances(self.aws, h)
            value = {d["DBInstanceIdentifier"]: {
                "status": d.get("DBInstanceStatus"), "zone": d.get("AvailabilityZone"),
                "role": "replica" if d.get("ReadReplicaSourceDBInstanceIdentifier") else "primary"} for d in found}
            wrong = [f"{i} {v['status']} ({v['role']})" for i, v in value.items()
                     if v["status"] != want or (spec.role is not None and v["role"] != spec.role)]
            if not value:
                return Outcome(False, {}, "no DB instance matches the target's aws ids or filters")
            zones = sorted({str(v["zone"]) for v in value.values() if v["role"] == "primary"})
            return Outcome(not wrong, value, "; ".join(wrong) or None, role=",".join(zones) or None)
        if spec.check == "target_health":
            groups: dict[str, dict[str, int]] = {}
            problems: list[str] = []
            elb = self.aws.client("elbv2")
            for g in target_groups(self.aws, h):
                health = [d["TargetHealth"]["State"] for d in
                          elb.describe_target_health(TargetGroupArn=g["TargetGroupArn"])["TargetHealthDescriptions"]]
                healthy = health.count("healthy")
                need = spec.min_healthy if spec.min_healthy is not None else max(1, len(health))
                groups[g["TargetGroupName"]] = {"healthy": healthy, "registered": len(health)}
                if healthy < need:
                    problems.append(f"{g['TargetGroupName']}: {healthy} healthy of {len(health)} (need {need})")
            if not groups:
                return Outcome(False, {}, "no target group matches the target's aws ids or filters")
            return Outcome(not problems, groups, "; ".join(problems) or None)
        names = list(spec.alarms or h.ids)
        states = alarm_states(self.aws, names)
        missing = [n for n in names if n not in states]
        bad = {n: s for n, s in states.items() if s != want}
        error = "; ".join([f"no alarm {n!r}" for n in missing] + [f"{n} is {s}" for n, s in bad.items()]) or None
        return Outcome(not bad and not missing, states, error)

    async def check(self) -> Outcome:
        try:
            return await asyncio.to_thread(self._check)
        except Exception as exc:
            if type(exc).__module__.startswith("botocore"):
                return Outcome(False, None, describe_error(exc))
            raise

    async def close(self) -> None:
        self.aws.close()


register_probe("aws")(AwsProbe)
