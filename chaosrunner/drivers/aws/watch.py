"""Reading AWS while a run goes on: what the ``aws`` probe (``chaosrunner.probes.aws``) reads, the
CloudWatch alarm stop condition, and the plan-time check of the targets both name.

Each boto3 call runs in a worker thread (the sampler owns the clock and applies the probe's
timeout). The resources are those the target's ``aws:`` handle selects (``ids`` or tag
``filters``), found again at each sample, so that an instance replaced during the run is seen.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.drivers.aws.connect import Connection, describe_error, tag_dict, tag_filters, tags_match
from chaosrunner.drivers.aws.model import AwsHandle
from chaosrunner.errors import PlanError
from chaosrunner.timeline import EventKind


def aws_handle(inventory: Any, target: str) -> AwsHandle:
    """The ``aws:`` handle of an inventory target (PlanError when there is no such target or handle)."""
    targets = getattr(inventory, "targets", None) or {}
    if target not in targets:
        raise PlanError(f"unknown target {target!r}", hint="targets: " + ", ".join(targets) if targets else
                        "the experiment needs a targets inventory")
    value = targets[target].handle("aws")
    if value is None:
        raise PlanError(f"target {target!r} has no aws handle", hint=f"add `aws: {{region, ids or filters}}` to "
                                                                     f"{target!r} in the inventory")
    return value if isinstance(value, AwsHandle) else AwsHandle.model_validate(value.model_dump())


def instance_states(aws: Connection, h: AwsHandle) -> dict[str, str]:
    kw = {"InstanceIds": h.ids} if h.ids else {"Filters": tag_filters(h.filters)}
    pages = aws.client("ec2").get_paginator("describe_instances").paginate(**kw)
    return {i["InstanceId"]: i["State"]["Name"] for p in pages for r in p["Reservations"] for i in r["Instances"]}


def db_instances(aws: Connection, h: AwsHandle) -> list[dict[str, Any]]:
    rds = aws.client("rds")
    if h.ids:
        return [d for i in h.ids for d in rds.describe_db_instances(DBInstanceIdentifier=i)["DBInstances"]]
    pages = rds.get_paginator("describe_db_instances").paginate()
    return [d for p in pages for d in p["DBInstances"] if tags_match(tag_dict(d.get("TagList")), h.filters)]


def target_groups(aws: Connection, h: AwsHandle) -> list[dict[str, Any]]:
    from chaosrunner.drivers.aws.operations import ElbDeregister

    return ElbDeregister()._groups(aws, h)


def alarm_states(aws: Connection, names: list[str]) -> dict[str, str]:
    got = aws.client("cloudwatch").describe_alarms(AlarmNames=names)
    alarms = got.get("MetricAlarms", []) + got.get("CompositeAlarms", [])
    return {a["AlarmName"]: a["StateValue"] for a in alarms}




@dataclass
class AlarmStop:
    """Stop when any of the CloudWatch ``alarms`` is in ``state``; one that cannot be read does not stop
    the run (the timeline says so once), as a ``promql`` condition whose server is down. CloudWatch is
    asked at most once every ``every`` seconds (an alarm changes state once per evaluation period, at
    least 10 s; DescribeAlarms is rate-limited per account); the answer is kept in between."""

    handle: AwsHandle
    alarms: list[str]
    state: str = "ALARM"
    timeout: float = 2.0
    every: float = 1.0
    _aws: Connection | None = field(default=None, init=False, repr=False)
    _failing: bool = field(default=False, init=False, repr=False)
    _asked: float = field(default=-1e18, init=False, repr=False)
    _answer: str | None = field(default=None, init=False, repr=False)

    async def check(self, run: Any, now: float) -> str | None:
        if now - self._asked < self.every:
            return self._answer
        self._asked = now
        self._answer = await self._ask(run)
        return self._answer

    async def _ask(self, run: Any) -> str | None:
        if self._aws is None:
            self._aws = Connection(self.handle.connection(), read_timeout=max(1.0, self.timeout))
        try:
            states = await asyncio.wait_for(asyncio.to_thread(alarm_states, self._aws, self.alarms), self.timeout)
        except Exception as exc:  # noqa: BLE001 - cannot be evaluated: the run goes on, the timeline says why
            if not self._failing:
                self._failing = True
                why = "timed out" if isinstance(exc, TimeoutError) else describe_error(exc)
                run.timeline.event(EventKind.ERROR, where="abort_when",
                                   error=f"CloudWatch alarms {', '.join(self.alarms)} cannot be read: {why}")
            return None
        self._failing = False
        hits = [n for n in self.alarms if states.get(n) == self.state]
        return f"CloudWatch alarm {hits[0]} is {self.state}" if hits else None

    async def close(self) -> None:
        if self._aws is not None:
            self._aws.close()


def check_references(exp: Any) -> None:
    """Plan time: every ``aws`` probe (steady state, method, rollback) and ``cloudwatch_alarm:`` stop
    condition names a target of the inventory that has an ``aws:`` handle (PlanError at its line)."""
    inv = exp.inventory.model if exp.inventory else None
    refs: list[tuple[str, Any]] = []
    for i, probe in enumerate(exp.model.probes()):
        if probe.type == "aws":
            refs.append((probe.target, exp.location("steady_state", i, "probe", "target")))
    for section in ("method", "rollback"):
        for i, step in enumerate(getattr(exp.model, section)):
            if step.probe is not None and step.probe.type == "aws":
                refs.append((step.probe.target, exp.location(section, i, "probe", "target")))
    for i, cond in enumerate(exp.model.abort_when):
        alarm = getattr(cond, "cloudwatch_alarm", None)
        if alarm is not None:
            refs.append((alarm.target, exp.location("abort_when", i, "cloudwatch_alarm", "target")))
    for target, where in refs:
        try:
            aws_handle(inv, target)
        except PlanError as exc:
            raise PlanError(exc.message, where, exc.hint) from None
