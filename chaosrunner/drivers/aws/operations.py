"""The AWS faults, one class each: which resources a target selects, what inject changes, how revert
undoes it and shows that it did, and what a crashed inject left behind.

**Marks on the resources.** Before a fault changes a resource it tags it (``chaosrunner:fault`` =
the fault's token, ``<fault id>/<target>``) with what the revert needs (``chaosrunner:undo``: the
processes suspended, the targets deregistered, each subnet's original network ACL). A run killed
in the middle of an inject — before its handle reached the ledger — is then recovered from the
resources themselves (``from_intent``), and a resource already carrying a mark is refused: one
chaosrunner fault per resource at a time, so a mark is always the fault's own. Revert removes it.

**Verification.** Inject checks that its change shows (instances stopping or stopped, processes
suspended, targets gone or draining, the subnets on the deny-all ACL, the FIS experiment running);
revert checks the opposite (running again, resumed, registered, the original ACLs back and ours
deleted, the experiment ended). A revert that cannot see its effect raises ``RevertFailed``.

EC2 shows no state for a reboot: ``ec2-reboot`` is verified only as the instances running after
it. ``ec2-terminate`` cannot be reverted (its model demands ``irreversible: true``).
"""
from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from chaosrunner.drivers.aws.connect import (
    Connection,
    error_code,
    tag_dict,
    tag_filters,
    tags_match,
    wait_for,
)
from chaosrunner.drivers.aws.model import AwsHandle
from chaosrunner.errors import PlanError, RevertFailed

TAG = "chaosrunner:fault"
UNDO = "chaosrunner:undo"
TAG_VALUE_LIMIT = 250          # AWS allows 256 characters in a tag value
VERIFY_BUDGET = 10.0           # inject: how long its change may take to show
REVERT_BUDGET = 25.0           # revert: how long its effect may take to show (the session allows 30 s)


@dataclass(frozen=True)
class Resource:
    """One resource a fault hits: its id and how `plan` shows it."""

    id: str
    label: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class Unrevertable(RevertFailed):
    """A revert that could not show its effect."""


def chunks(items: list[str], limit: int = TAG_VALUE_LIMIT) -> list[str]:
    """Space-separated items in values of at most ``limit`` characters (tag values)."""
    out: list[str] = []
    for item in items:
        if out and len(out[-1]) + 1 + len(item) <= limit:
            out[-1] += " " + item
        else:
            out.append(item)
    return out or ["-"]


def undo_tags(items: list[str]) -> list[dict[str, str]]:
    """``chaosrunner:undo:1``, ``:2``, … holding ``items`` (what the revert needs), in order."""
    return [{"Key": f"{UNDO}:{i}", "Value": v} for i, v in enumerate(chunks(items), start=1)]


def read_undo(tags: dict[str, str]) -> list[str]:
    keys = sorted((k for k in tags if k.startswith(UNDO + ":")), key=lambda k: int(k.rsplit(":", 1)[1]))
    return [item for k in keys for item in tags[k].split() if item != "-"]


def undo_keys(tags: dict[str, str]) -> list[str]:
    return [k for k in tags if k == TAG or k.startswith(UNDO + ":")]


class Operation(ABC):
    """One fault type's work. ``select`` may raise PlanError; the others talk to AWS."""

    kind: ClassVar[str]                 # what ids/filters select, for messages: "instance", "subnet", ...

    @abstractmethod
    def select(self, aws: Connection, h: AwsHandle, spec: Any) -> list[Resource]:
        ...

    @abstractmethod
    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        ...

    @abstractmethod
    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        ...

    @abstractmethod
    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        ...

    @abstractmethod
    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        """What a crashed inject left: the data ``revert`` needs, found from the marks on the resources."""

    def refuse_marked(self, resources: list[Resource], tags: dict[str, dict[str, str]]) -> None:
        for r in resources:
            mark = tags.get(r.id, {}).get(TAG)
            if mark is not None:
                raise PlanError(f"{self.kind} {r.id} carries {TAG}={mark}: another chaosrunner fault is in force on it",
                                hint="wait for it to end, or run `chaosrunner recover` where it was started")


def _ids(resources: list[Resource]) -> list[str]:
    return [r.id for r in resources]


def _names(resources: list[Resource]) -> str:
    return ", ".join(r.label for r in resources)


# -- EC2 instances --------------------------------------------------------------------------------

class _Instances(Operation):
    kind = "instance"
    states: ClassVar[tuple[str, ...]] = ("pending", "running")    # the instances the fault acts on

    def _describe(self, aws: Connection, **kw: Any) -> list[dict[str, Any]]:
        pages = aws.client("ec2").get_paginator("describe_instances").paginate(**kw)
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def _states(self, aws: Connection, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        return {i["InstanceId"]: i["State"]["Name"] for i in self._describe(aws, InstanceIds=ids)}

    def _all(self, aws: Connection, h: AwsHandle) -> list[dict[str, Any]]:
        if h.ids:
            try:
                found = self._describe(aws, InstanceIds=h.ids)
            except Exception as exc:
                if error_code(exc).startswith("InvalidInstanceID"):
                    raise PlanError(f"aws ids: {error_code(exc)}: {_message(exc)}",
                                    hint="list instance ids (i-0123456789abcdef0) that exist in "
                                         f"{h.region}") from None
                raise
        else:
            found = self._describe(aws, Filters=tag_filters(h.filters))
        return [i for i in found if i["State"]["Name"] not in ("terminated", "shutting-down")]

    def select(self, aws: Connection, h: AwsHandle, spec: Any) -> list[Resource]:
        found = self._all(aws, h)
        chosen = [i for i in found if i["State"]["Name"] in self.states]
        if not chosen:
            seen = ", ".join(f"{i['InstanceId']} {i['State']['Name']}" for i in found) or "none"
            raise PlanError(f"no {'/'.join(self.states)} instance matches (found: {seen})",
                            hint="check the target's aws ids or filters, and the region")
        self.refuse_marked([_instance(i) for i in chosen], {i["InstanceId"]: tag_dict(i.get("Tags")) for i in chosen})
        return [_instance(i) for i in chosen]

    def wait_states(self, aws: Connection, ids: list[str], wanted: tuple[str, ...], what: str,
                    budget: float) -> dict[str, str]:
        def check() -> dict[str, str] | None:
            states = self._states(aws, ids)
            return states if all(states.get(i) in wanted for i in ids) else None

        try:
            return wait_for(what, check, budget)
        except TimeoutError:
            states = self._states(aws, ids)
            raise Unrevertable(f"{what}: not seen within {budget:g}s ("
                               + ", ".join(f"{i} {states.get(i, 'gone')}" for i in ids) + ")") from None


def _instance(i: dict[str, Any]) -> Resource:
    name = tag_dict(i.get("Tags")).get("Name")
    zone = i.get("Placement", {}).get("AvailabilityZone", "")
    label = f"{i['InstanceId']} ({', '.join(x for x in (name, i['State']['Name'], zone) if x)})"
    return Resource(i["InstanceId"], label, i)


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Message", exc))


class Ec2Stop(_Instances):
    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"stop {len(resources)} instance(s) in {h.region}{' (forced)' if spec.force else ''}: "
                f"{_names(resources)}",
                f"start {', '.join(_ids(resources))} again; verified running")

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        ids = _ids(resources)
        ec2 = aws.client("ec2")
        ec2.create_tags(Resources=ids, Tags=[{"Key": TAG, "Value": token}])
        ec2.stop_instances(InstanceIds=ids, Force=bool(spec.force))
        self.wait_states(aws, ids, ("stopping", "stopped"), "instances stopping", VERIFY_BUDGET)
        return {"instances": ids}

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        ids = list(data.get("instances", []))
        if not ids:
            return
        ec2 = aws.client("ec2")
        try:
            gone = {i: s for i, s in self._states(aws, ids).items() if s in ("shutting-down", "terminated")}
            if gone:
                raise Unrevertable("cannot start what was stopped: "
                                   + ", ".join(f"{i} is {s}" for i, s in gone.items()))
            states = self.wait_states(aws, ids, ("stopped", "pending", "running"), "instances stopped",
                                      REVERT_BUDGET / 2)
        except Exception as exc:
            if error_code(exc).startswith("InvalidInstanceID"):
                raise Unrevertable(f"cannot start what was stopped: {_message(exc)}") from None
            raise
        stopped = [i for i in ids if states[i] == "stopped"]
        if stopped:
            ec2.start_instances(InstanceIds=stopped)
        self.wait_states(aws, ids, ("running",), "instances running", REVERT_BUDGET / 2)
        ec2.delete_tags(Resources=ids, Tags=[{"Key": TAG}])

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        mark = [{"Name": f"tag:{TAG}", "Values": [token]}]
        marked = self._describe(aws, Filters=mark + ([] if h.ids else tag_filters(h.filters)))
        if h.ids:
            marked = [i for i in marked if i["InstanceId"] in h.ids]
        return {"instances": [i["InstanceId"] for i in marked]}


class Ec2Reboot(_Instances):
    states = ("running",)

    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"reboot {len(resources)} instance(s) in {h.region}: {_names(resources)}",
                f"nothing to undo; verified running ({', '.join(_ids(resources))})")

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        ids = _ids(resources)
        aws.client("ec2").reboot_instances(InstanceIds=ids)
        return {"instances": ids}

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        ids = list(data.get("instances", []))
        if ids:
            self.wait_states(aws, ids, ("running",), "instances running after the reboot", REVERT_BUDGET)

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        return {"instances": [i["InstanceId"] for i in self._all(aws, h) if i["State"]["Name"] in self.states]}


class Ec2Terminate(_Instances):
    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"terminate {len(resources)} instance(s) in {h.region}: {_names(resources)}",
                "nothing: terminated instances cannot be brought back (irreversible: true)")

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        ids = _ids(resources)
        aws.client("ec2").terminate_instances(InstanceIds=ids)
        self.wait_states(aws, ids, ("shutting-down", "terminated"), "instances terminating", VERIFY_BUDGET)
        return {"instances": ids, "irreversible": True}

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        return None                     # acknowledged as irreversible in the experiment

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        return {"instances": [], "irreversible": True}


# -- Auto Scaling groups -----------------------------------------------------------------------------

class AsgSuspend(Operation):
    kind = "Auto Scaling group"

    def _groups(self, aws: Connection, names: list[str] | None = None) -> list[dict[str, Any]]:
        kw: dict[str, Any] = {"AutoScalingGroupNames": names} if names else {}
        pages = aws.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate(**kw)
        return [g for page in pages for g in page["AutoScalingGroups"]]

    def select(self, aws: Connection, h: AwsHandle, spec: Any) -> list[Resource]:
        if h.ids:
            groups = self._groups(aws, h.ids)
            missing = sorted(set(h.ids) - {g["AutoScalingGroupName"] for g in groups})
            if missing:
                raise PlanError(f"no Auto Scaling group named {', '.join(missing)} in {h.region}",
                                hint="list Auto Scaling group names in the target's aws ids")
        else:
            groups = [g for g in self._groups(aws) if tags_match(tag_dict(g.get("Tags")), h.filters)]
            if not groups:
                raise PlanError(f"no Auto Scaling group in {h.region} carries the tags {h.filters}",
                                hint="check the target's aws filters and region")
        self.refuse_marked([Resource(g["AutoScalingGroupName"], "") for g in groups],
                           {g["AutoScalingGroupName"]: tag_dict(g.get("Tags")) for g in groups})
        return [Resource(g["AutoScalingGroupName"],
                         f"{g['AutoScalingGroupName']} ({g.get('DesiredCapacity', 0)} desired, "
                         f"{len(g.get('Instances', []))} instances)", g) for g in groups]

    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"suspend {', '.join(spec.processes)} of {len(resources)} Auto Scaling group(s) in {h.region}: "
                f"{_names(resources)}",
                "resume the processes it suspended; verified resumed")

    @staticmethod
    def _suspended(g: dict[str, Any]) -> set[str]:
        return {p["ProcessName"] for p in g.get("SuspendedProcesses", [])}

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        client = aws.client("autoscaling")
        plan: dict[str, list[str]] = {}
        for g in self._groups(aws, _ids(resources)):
            plan[g["AutoScalingGroupName"]] = [p for p in spec.processes if p not in self._suspended(g)]
        for name, procs in plan.items():
            client.create_or_update_tags(Tags=[
                {"ResourceId": name, "ResourceType": "auto-scaling-group", "PropagateAtLaunch": False, **t}
                for t in [{"Key": TAG, "Value": token}, *undo_tags(procs)]])
        for name, procs in plan.items():
            if procs:
                client.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=procs)

        def suspended() -> bool | None:
            groups = {g["AutoScalingGroupName"]: g for g in self._groups(aws, list(plan))}
            return True if all(set(p) <= self._suspended(groups[n]) for n, p in plan.items()) else None

        wait_for("processes suspended", suspended, VERIFY_BUDGET)
        return {"groups": plan}

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        plan: dict[str, list[str]] = data.get("groups", {})
        if not plan:
            return
        client = aws.client("autoscaling")
        present = {g["AutoScalingGroupName"]: g for g in self._groups(aws, list(plan))}
        for name, procs in plan.items():
            if name in present and procs:
                client.resume_processes(AutoScalingGroupName=name, ScalingProcesses=procs)

        def resumed() -> bool | None:
            groups = {g["AutoScalingGroupName"]: g for g in self._groups(aws, list(present))}
            return True if all(not set(plan[n]) & self._suspended(g) for n, g in groups.items()) else None

        try:
            wait_for("processes resumed", resumed, REVERT_BUDGET)
        except TimeoutError as exc:
            raise Unrevertable(str(exc)) from None
        for name in present:
            tags = tag_dict(self._groups(aws, [name])[0].get("Tags"))
            keys = undo_keys(tags)
            if keys:
                client.delete_tags(Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k}
                                         for k in keys])

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        plan: dict[str, list[str]] = {}
        for g in self._groups(aws, h.ids or None):
            tags = tag_dict(g.get("Tags"))
            if tags.get(TAG) == token:
                plan[g["AutoScalingGroupName"]] = read_undo(tags)
        return {"groups": plan}


# -- ELB target groups -----------------------------------------------------------------------------------

def _target_key(t: dict[str, Any]) -> str:
    """``id:port[:zone]`` (a Lambda function's ARN alone): how a target is written into a tag."""
    if t["Id"].startswith("arn:"):
        return str(t["Id"])
    parts = [t["Id"], str(t.get("Port", ""))]
    if t.get("AvailabilityZone"):
        parts.append(t["AvailabilityZone"])
    return ":".join(parts)


def _target_from_key(key: str) -> dict[str, Any]:
    parts = key.split(":")
    if key.startswith("arn:"):          # a Lambda function's ARN: no port, no zone
        return {"Id": key}
    out: dict[str, Any] = {"Id": parts[0]}
    if len(parts) > 1 and parts[1]:
        out["Port"] = int(parts[1])
    if len(parts) > 2:
        out["AvailabilityZone"] = parts[2]
    return out


class ElbDeregister(Operation):
    kind = "target group"
    gone = ("draining", "unused")

    def _groups(self, aws: Connection, h: AwsHandle) -> list[dict[str, Any]]:
        elb = aws.client("elbv2")
        if h.ids:
            arns = [i for i in h.ids if i.startswith("arn:")]
            names = [i for i in h.ids if not i.startswith("arn:")]
            out: list[dict[str, Any]] = []
            try:
                if arns:
                    out += elb.describe_target_groups(TargetGroupArns=arns)["TargetGroups"]
                if names:
                    out += elb.describe_target_groups(Names=names)["TargetGroups"]
            except Exception as exc:
                if error_code(exc) in ("TargetGroupNotFound", "ValidationError"):
                    raise PlanError(f"aws ids: {error_code(exc)}: {_message(exc)}",
                                    hint=f"list target group ARNs or names that exist in {h.region}") from None
                raise
            return out
        pages = elb.get_paginator("describe_target_groups").paginate()
        groups = [g for page in pages for g in page["TargetGroups"]]
        tags = self._tags(aws, [g["TargetGroupArn"] for g in groups])
        return [g for g in groups if tags_match(tags.get(g["TargetGroupArn"], {}), h.filters)]

    def _tags(self, aws: Connection, arns: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(arns), 20):
            for d in aws.client("elbv2").describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
                out[d["ResourceArn"]] = tag_dict(d.get("Tags"))
        return out

    def _health(self, aws: Connection, arn: str) -> list[dict[str, Any]]:
        return list(aws.client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])

    def _chosen(self, aws: Connection, arn: str, spec: Any) -> list[dict[str, Any]]:
        targets = [d["Target"] for d in self._health(aws, arn) if d["TargetHealth"]["State"] not in self.gone]
        if spec.instances:
            targets = [t for t in targets if t["Id"] in spec.instances]
        if spec.zone:
            instances = [t["Id"] for t in targets if t["Id"].startswith("i-") and "AvailabilityZone" not in t]
            zones: dict[str, str] = {}
            if instances:
                pages = aws.client("ec2").get_paginator("describe_instances").paginate(InstanceIds=instances)
                zones = {i["InstanceId"]: i["Placement"]["AvailabilityZone"]
                         for page in pages for r in page["Reservations"] for i in r["Instances"]}
            targets = [t for t in targets if (t.get("AvailabilityZone") or zones.get(t["Id"])) == spec.zone]
        return targets

    def select(self, aws: Connection, h: AwsHandle, spec: Any) -> list[Resource]:
        groups = self._groups(aws, h)
        if not groups:
            raise PlanError(f"no target group in {h.region} matches the target's aws "
                            f"{'ids' if h.ids else 'filters'}", hint="check them, and the region")
        self.refuse_marked([Resource(g["TargetGroupArn"], "") for g in groups],
                           self._tags(aws, [g["TargetGroupArn"] for g in groups]))
        out = []
        for g in groups:
            chosen = self._chosen(aws, g["TargetGroupArn"], spec)
            if not chosen:
                raise PlanError(f"target group {g['TargetGroupName']} has no registered target"
                                + (f" in {spec.zone}" if spec.zone else "")
                                + (f" among {', '.join(spec.instances)}" if spec.instances else ""),
                                hint="nothing to deregister: check the zone or instances of the fault")
            out.append(Resource(g["TargetGroupArn"], f"{g['TargetGroupName']} "
                                f"({', '.join(_target_key(t) for t in chosen)})", {"targets": chosen}))
        return out

    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"deregister targets from {len(resources)} target group(s) in {h.region}: {_names(resources)}",
                "register the same targets again; verified registered")

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        elb = aws.client("elbv2")
        plan = {r.id: [_target_key(t) for t in self._chosen(aws, r.id, spec)] for r in resources}
        for arn, keys in plan.items():
            elb.add_tags(ResourceArns=[arn], Tags=[{"Key": TAG, "Value": token}, *undo_tags(keys)])
        for arn, keys in plan.items():
            if keys:
                elb.deregister_targets(TargetGroupArn=arn, Targets=[_target_from_key(k) for k in keys])

        def gone() -> bool | None:
            for arn, keys in plan.items():
                live = {(d["Target"]["Id"], d["Target"].get("Port")) for d in self._health(aws, arn)
                        if d["TargetHealth"]["State"] not in self.gone}
                if live & {(t["Id"], t.get("Port")) for t in map(_target_from_key, keys)}:
                    return None
            return True

        wait_for("targets deregistered", gone, VERIFY_BUDGET)
        return {"groups": plan}

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        plan: dict[str, list[str]] = data.get("groups", {})
        elb = aws.client("elbv2")
        for arn, keys in plan.items():
            if keys:
                elb.register_targets(TargetGroupArn=arn, Targets=[_target_from_key(k) for k in keys])

        def registered() -> bool | None:
            for arn, keys in plan.items():
                live = {(d["Target"]["Id"], d["Target"].get("Port")) for d in self._health(aws, arn)
                        if d["TargetHealth"]["State"] not in self.gone}
                want = {(t["Id"], t.get("Port")) for t in map(_target_from_key, keys)}
                if not want <= live:
                    return None
            return True

        try:
            wait_for("targets registered again", registered, REVERT_BUDGET)
        except TimeoutError as exc:
            raise Unrevertable(str(exc)) from None
        for arn in plan:
            keys = undo_keys(self._tags(aws, [arn]).get(arn, {}))
            if keys:
                elb.remove_tags(ResourceArns=[arn], TagKeys=keys)

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        groups = self._groups(aws, h)
        tags = self._tags(aws, [g["TargetGroupArn"] for g in groups])
        return {"groups": {arn: read_undo(t) for arn, t in tags.items() if t.get(TAG) == token}}


# -- An availability zone cut off by a network ACL ----------------------------------------------------------

class AzOutage(Operation):
    kind = "subnet"

    def _subnets(self, aws: Connection, h: AwsHandle) -> list[dict[str, Any]]:
        ec2 = aws.client("ec2")
        kw = {"SubnetIds": h.ids} if h.ids else {"Filters": tag_filters(h.filters)}
        try:
            return [s for page in ec2.get_paginator("describe_subnets").paginate(**kw) for s in page["Subnets"]]
        except Exception as exc:
            if error_code(exc).startswith("InvalidSubnet"):
                raise PlanError(f"aws ids: {error_code(exc)}: {_message(exc)}",
                                hint=f"list subnet ids (subnet-0123456789abcdef0) that exist in {h.region}") from None
            raise

    def _acls_of(self, aws: Connection, subnets: list[str]) -> dict[str, tuple[str, str]]:
        """Each subnet's (network ACL id, association id)."""
        out: dict[str, tuple[str, str]] = {}
        if not subnets:
            return out
        acls = aws.client("ec2").describe_network_acls(
            Filters=[{"Name": "association.subnet-id", "Values": subnets}])["NetworkAcls"]
        for acl in acls:
            for a in acl.get("Associations", []):
                if a["SubnetId"] in subnets:
                    out[a["SubnetId"]] = (acl["NetworkAclId"], a["NetworkAclAssociationId"])
        return out

    def select(self, aws: Connection, h: AwsHandle, spec: Any) -> list[Resource]:
        subnets = self._subnets(aws, h)
        if not subnets:
            raise PlanError(f"no subnet in {h.region} matches the target's aws filters {h.filters}",
                            hint="check the filters and the region")
        inside = [s for s in subnets if s["AvailabilityZone"] == spec.zone]
        if not inside:
            zones = sorted({s["AvailabilityZone"] for s in subnets})
            raise PlanError(f"none of the target's subnets is in {spec.zone} (they are in {', '.join(zones)})",
                            hint="pick one of those zones, or another target")
        acls = self._acls_of(aws, [s["SubnetId"] for s in inside])
        marked = self._marked_acls(aws, [a for a, _ in acls.values()])
        for s in inside:
            acl = acls.get(s["SubnetId"], ("?", ""))[0]
            if acl in marked:
                raise PlanError(f"subnet {s['SubnetId']} is on network ACL {acl}, which another chaosrunner fault "
                                "created", hint="wait for it to end, or run `chaosrunner recover` where it started")
        return [Resource(s["SubnetId"], f"{s['SubnetId']} ({s.get('CidrBlock', '')}, {s['VpcId']}, network ACL "
                                        f"{acls.get(s['SubnetId'], ('none', ''))[0]})", s) for s in inside]

    def _marked_acls(self, aws: Connection, acl_ids: list[str]) -> set[str]:
        if not acl_ids:
            return set()
        acls = aws.client("ec2").describe_network_acls(NetworkAclIds=sorted(set(acl_ids)))["NetworkAcls"]
        return {a["NetworkAclId"] for a in acls if TAG in tag_dict(a.get("Tags"))}

    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"cut {spec.zone} off: {len(resources)} subnet(s) onto a new network ACL that denies all traffic: "
                f"{_names(resources)}",
                "put each subnet back on its original network ACL, delete the deny-all one; verified")

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        ec2 = aws.client("ec2")
        by_vpc: dict[str, list[str]] = {}
        for r in resources:
            by_vpc.setdefault(r.raw["VpcId"], []).append(r.id)
        plan: dict[str, Any] = {}
        for vpc, subnets in by_vpc.items():
            original = self._acls_of(aws, subnets)
            restore = {s: original[s][0] for s in subnets if s in original}
            tags = [{"Key": TAG, "Value": token}, {"Key": "Name", "Value": f"chaosrunner {spec.zone} outage"},
                    *undo_tags([f"{s}={a}" for s, a in restore.items()])]
            acl = ec2.create_network_acl(VpcId=vpc, TagSpecifications=[{"ResourceType": "network-acl",
                                                                        "Tags": tags}])["NetworkAcl"]["NetworkAclId"]
            plan[vpc] = {"acl": acl, "subnets": restore}
            for egress in (False, True):
                ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=1, Protocol="-1", RuleAction="deny",
                                             Egress=egress, CidrBlock="0.0.0.0/0")
                ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=2, Protocol="-1", RuleAction="deny",
                                             Egress=egress, Ipv6CidrBlock="::/0")
            for s in subnets:
                ec2.replace_network_acl_association(AssociationId=original[s][1], NetworkAclId=acl)
        for p in plan.values():
            now = self._acls_of(aws, list(p["subnets"]))
            off = [s for s in p["subnets"] if now.get(s, ("", ""))[0] != p["acl"]]
            if off:
                raise RuntimeError(f"subnets {', '.join(off)} are not on the deny-all network ACL {p['acl']}")
        return {"vpcs": plan}

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        ec2 = aws.client("ec2")
        problems: list[str] = []
        for vpc, p in data.get("vpcs", {}).items():
            ours, restore = p["acl"], p["subnets"]
            now = self._acls_of(aws, list(restore))
            for subnet, original in restore.items():
                acl, assoc = now.get(subnet, ("", ""))
                if acl == ours:
                    try:
                        ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=original)
                    except Exception as exc:
                        problems.append(f"{subnet} back onto {original}: {_message(exc)}")
            now = self._acls_of(aws, list(restore))
            wrong = [f"{s} is on {now.get(s, ('no ACL', ''))[0]}, not {a}" for s, a in restore.items()
                     if now.get(s, ("", ""))[0] != a]
            if wrong or problems:
                raise Unrevertable("original network ACLs not restored: " + "; ".join(problems + wrong))
            try:
                ec2.delete_network_acl(NetworkAclId=ours)
            except Exception as exc:
                if not error_code(exc).endswith(".NotFound"):
                    raise Unrevertable(f"cannot delete the deny-all network ACL {ours} of {vpc}: "
                                       f"{_message(exc)}") from None
            try:
                left = ec2.describe_network_acls(NetworkAclIds=[ours])["NetworkAcls"]
            except Exception as exc:
                if not error_code(exc).endswith(".NotFound"):     # AWS: InvalidNetworkAclID.NotFound
                    raise
                left = []
            if left:
                raise Unrevertable(f"the deny-all network ACL {ours} of {vpc} is still there")

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        acls = aws.client("ec2").describe_network_acls(
            Filters=[{"Name": f"tag:{TAG}", "Values": [token]}])["NetworkAcls"]
        plan: dict[str, Any] = {}
        for acl in acls:
            pairs = [item.split("=", 1) for item in read_undo(tag_dict(acl.get("Tags")))]
            plan[acl["VpcId"]] = {"acl": acl["NetworkAclId"], "subnets": {s: a for s, a in pairs}}
        return {"vpcs": plan}


# -- RDS ------------------------------------------------------------------------------------------------------

class _Rds(Operation):
    kind = "DB instance"
    failover: ClassVar[bool] = False

    def _instances(self, aws: Connection, h: AwsHandle) -> list[dict[str, Any]]:
        rds = aws.client("rds")
        if h.ids:
            out = []
            for i in h.ids:
                try:
                    out += rds.describe_db_instances(DBInstanceIdentifier=i)["DBInstances"]
                except Exception as exc:
                    if error_code(exc) == "DBInstanceNotFound":
                        raise PlanError(f"aws ids: no DB instance {i!r} in {h.region}",
                                        hint="list DB instance identifiers in the target's aws ids") from None
                    raise
            return out
        pages = rds.get_paginator("describe_db_instances").paginate()
        return [d for page in pages for d in page["DBInstances"] if tags_match(tag_dict(d.get("TagList")), h.filters)]

    def _one(self, aws: Connection, ident: str) -> dict[str, Any]:
        return dict(aws.client("rds").describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0])

    def select(self, aws: Connection, h: AwsHandle, spec: Any) -> list[Resource]:
        found = self._instances(aws, h)
        if not found:
            raise PlanError(f"no DB instance in {h.region} carries the tags {h.filters}",
                            hint="check the target's aws filters and region")
        if self.failover:
            single = [d["DBInstanceIdentifier"] for d in found if not d.get("MultiAZ")]
            if single:
                raise PlanError(f"rds-failover needs Multi-AZ DB instances; {', '.join(single)} is not",
                                hint="use rds-reboot, or make the instance Multi-AZ")
        return [Resource(d["DBInstanceIdentifier"],
                         f"{d['DBInstanceIdentifier']} ({d.get('Engine', '')}, {d.get('DBInstanceStatus', '')}, "
                         f"{d.get('AvailabilityZone', '?')}"
                         + (f", standby in {d['SecondaryAvailabilityZone']}" if d.get("SecondaryAvailabilityZone")
                            else "") + ")", d) for d in found]

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        rds = aws.client("rds")
        before: dict[str, Any] = {}
        for r in resources:
            d = self._one(aws, r.id)
            before[r.id] = {"zone": d.get("AvailabilityZone")}
            kw = {"ForceFailover": True} if self.failover else {}
            rds.reboot_db_instance(DBInstanceIdentifier=r.id, **kw)
        return {"instances": before, "failover": self.failover,
                "failback": bool(getattr(spec, "failback", False))}

    def _wait_available(self, aws: Connection, ids: list[str], budget: float) -> dict[str, dict[str, Any]]:
        def check() -> dict[str, dict[str, Any]] | None:
            now = {i: self._one(aws, i) for i in ids}
            return now if all(d.get("DBInstanceStatus") == "available" for d in now.values()) else None

        try:
            return wait_for("DB instances available", check, budget, first=0.2)
        except TimeoutError:
            states = {i: self._one(aws, i).get("DBInstanceStatus") for i in ids}
            raise Unrevertable(f"DB instances not available within {budget:g}s: {states}") from None

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        before: dict[str, Any] = data.get("instances", {})
        if not before:
            return
        now = self._wait_available(aws, list(before), REVERT_BUDGET / (2 if data.get("failback") else 1))
        if data.get("failover") and data.get("failback"):
            back = [i for i, b in before.items() if b.get("zone") and now[i].get("AvailabilityZone") != b["zone"]]
            for i in back:
                aws.client("rds").reboot_db_instance(DBInstanceIdentifier=i, ForceFailover=True)
            if back:
                now = self._wait_available(aws, back, REVERT_BUDGET / 2)
                wrong = [f"{i} in {now[i].get('AvailabilityZone')}, not {before[i]['zone']}" for i in back
                         if now[i].get("AvailabilityZone") != before[i]["zone"]]
                if wrong:
                    raise Unrevertable("failback did not return to the original zone: " + "; ".join(wrong))

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        # a reboot cannot be taken back: recovery waits for the instances to be available (no failback:
        # the zone they were in before the crash is not known)
        return {"instances": {d["DBInstanceIdentifier"]: {} for d in self._instances(aws, h)},
                "failover": self.failover, "failback": False}


class RdsReboot(_Rds):
    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"reboot {len(resources)} DB instance(s) in {h.region}: {_names(resources)}",
                "nothing to undo; wait until available (verified)")


class RdsFailover(_Rds):
    failover = True

    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"reboot with failover {len(resources)} Multi-AZ DB instance(s) in {h.region}: {_names(resources)}",
                "wait until available" + (", then fail back to the original zone (verified)" if spec.failback
                                          else " in the other zone (verified available; no failback)"))


# -- AWS Fault Injection Service -------------------------------------------------------------------------------

FIS_RUNNING = ("pending", "initiating", "running")
FIS_ENDED = ("completed", "stopped", "failed", "cancelled")


class FisExperiment(Operation):
    kind = "experiment template"

    def select(self, aws: Connection, h: AwsHandle, spec: Any) -> list[Resource]:
        fis = aws.client("fis")
        wanted = [spec.template] if spec.template else list(h.ids)
        if len(wanted) > 1:
            raise PlanError(f"a fis-experiment starts one template; the target lists {len(wanted)}",
                            hint="name it with the fault's template:, or one id in the target's aws ids")
        if wanted:
            try:
                t = fis.get_experiment_template(id=wanted[0])["experimentTemplate"]
            except Exception as exc:
                if error_code(exc) in ("ResourceNotFoundException", "ValidationException"):
                    raise PlanError(f"no FIS experiment template {wanted[0]!r} in {h.region}",
                                    hint="give an existing template id (EXT...)") from None
                raise
            found = [t]
        else:
            pages = fis.get_paginator("list_experiment_templates").paginate() if fis.can_paginate(
                "list_experiment_templates") else [fis.list_experiment_templates()]
            found = [t for page in pages for t in page["experimentTemplates"] if tags_match(t.get("tags", {}),
                                                                                          h.filters)]
            if len(found) != 1:
                raise PlanError(f"the target's aws filters match {len(found)} FIS experiment templates, not one",
                                hint="narrow the filters, or name the template in the fault's template:")
        t = found[0]
        return [Resource(t["id"], f"{t['id']} ({t.get('description', '')})", t)]

    def describe(self, resources: list[Resource], spec: Any, h: AwsHandle) -> tuple[str, str]:
        return (f"start an AWS FIS experiment from template {_names(resources)} in {h.region}",
                "stop the experiment if it still runs; verified ended")

    def _state(self, aws: Connection, ident: str) -> str:
        return str(aws.client("fis").get_experiment(id=ident)["experiment"]["state"]["status"])

    def inject(self, aws: Connection, resources: list[Resource], spec: Any, token: str) -> dict[str, Any]:
        fis = aws.client("fis")
        template = resources[0].id
        exp = fis.start_experiment(experimentTemplateId=template, clientToken=str(uuid.uuid4()),
                                   tags={TAG: token})["experiment"]
        ident = exp["id"]
        data = {"experiments": [ident], "template": template}
        state = self._state(aws, ident)
        if spec.settle:
            try:
                state = wait_for("FIS experiment running",
                                 lambda: (s if (s := self._state(aws, ident)) not in ("pending", "initiating")
                                          else None), spec.settle)
            except TimeoutError:
                state = self._state(aws, ident)
        if state not in FIS_RUNNING:
            raise RuntimeError(f"FIS experiment {ident} is {state}, not running")
        data["state"] = state
        return data

    def revert(self, aws: Connection, data: dict[str, Any]) -> None:
        fis = aws.client("fis")
        for ident in data.get("experiments", []):
            if self._state(aws, ident) not in FIS_ENDED:
                fis.stop_experiment(id=ident)
            def ended(ident: str = ident) -> bool | None:
                return True if self._state(aws, ident) in FIS_ENDED else None

            try:
                wait_for(f"FIS experiment {ident} ended", ended, REVERT_BUDGET)
            except TimeoutError as exc:
                raise Unrevertable(f"{exc} (it is {self._state(aws, ident)})") from None

    def from_intent(self, aws: Connection, h: AwsHandle, spec: Any, token: str) -> dict[str, Any]:
        template = self.select(aws, h, spec)[0].id
        fis = aws.client("fis")
        found = fis.list_experiments(experimentTemplateId=template).get("experiments", [])
        mine = [e["id"] for e in found if e.get("tags", {}).get(TAG) == token]
        return {"experiments": mine, "template": template}


OPERATIONS: dict[str, Operation] = {
    "ec2-stop": Ec2Stop(), "ec2-reboot": Ec2Reboot(), "ec2-terminate": Ec2Terminate(),
    "asg-suspend": AsgSuspend(), "elb-deregister": ElbDeregister(), "az-outage": AzOutage(),
    "rds-reboot": RdsReboot(), "rds-failover": RdsFailover(), "fis-experiment": FisExperiment(),
}
