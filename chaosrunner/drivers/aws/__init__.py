"""The AWS driver (boto3): EC2, Auto Scaling, ELB, network ACL, RDS and FIS faults on a target's ``aws:`` handle.

A plugin like any other: chaosrunner's own pyproject registers it under the ``chaosrunner.drivers``
entry point (``aws = "chaosrunner.drivers.aws:AwsDriver"``), and it declares its fault models and
its handle (``chaosrunner.drivers.aws.model``). boto3 is imported on first use: without the ``aws``
extra, experiments still validate and a fault is refused at plan time with how to install it::

    # inventory                                      # experiment
    environment: staging                             method:
    targets:                                           - action: {type: ec2-stop, target: web, duration: 2m}
      web:                                             - action: {type: az-outage, target: app-subnets,
        aws: {region: eu-west-1, filters: {app: web},              zone: eu-west-1a, duration: 5m}
              max_targets: 3}

``plan`` lists the concrete resources each fault hits and refuses a selection larger than the
handle's ``max_targets`` (exit 2). What each fault changes, how its revert is verified and how a
crash mid-inject is recovered: ``chaosrunner.drivers.aws.operations``.
"""
from __future__ import annotations

import re
from typing import Any

from chaosrunner.drivers.aws.connect import Connection, describe_error, is_botocore_error
from chaosrunner.drivers.aws.model import AWS_FAULTS, AwsHandle
from chaosrunner.drivers.aws.operations import OPERATIONS, Operation, Resource
from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.errors import DriverError, PlanError, RevertFailed

__all__ = ["AwsDriver", "AwsHandle"]


def token(fault: PlannedFault) -> str:
    """The mark a fault leaves on what it changes (``chaosrunner:fault`` tag): its id and target."""
    return re.sub(r"[^\w .:/=+@-]", "_", f"{fault.fault_id}/{fault.target_name}")[:200]


def _text(exc: BaseException) -> str:
    return describe_error(exc) if is_botocore_error(exc) else (str(exc) or type(exc).__name__)


class AwsDriver(Driver):
    name = "aws"
    fault_models = AWS_FAULTS
    handle = "aws"
    handle_model = AwsHandle

    def __init__(self) -> None:
        self._connections: dict[tuple[Any, ...], Connection] = {}
        self._selected: dict[str, list[Resource]] = {}

    def connection(self, conn: dict[str, Any]) -> Connection:
        key = tuple(sorted(conn.items()))
        if key not in self._connections:
            self._connections[key] = Connection(conn)
        return self._connections[key]

    @staticmethod
    def operation(fault_type: str) -> Operation:
        return OPERATIONS[fault_type]

    def select(self, fault: PlannedFault) -> list[Resource]:
        """The resources this fault hits now: PlanError when there are none, too many, or AWS says no."""
        h: AwsHandle = fault.handle()
        op = self.operation(fault.type)
        try:
            resources = op.select(self.connection(h.connection()), h, fault.spec)
        except PlanError as exc:
            raise PlanError(f"target {fault.target_name!r}: {exc.message}", hint=exc.hint) from None
        except Exception as exc:
            if not is_botocore_error(exc):
                raise
            raise PlanError(f"target {fault.target_name!r}: cannot list its {op.kind}s in {h.region}: "
                            f"{describe_error(exc)}",
                            hint="check the credentials (profile, role_arn or the environment), the region and "
                                 "endpoint_url of its aws handle") from None
        if len(resources) > h.max_targets:
            raise PlanError(f"target {fault.target_name!r} selects {len(resources)} {op.kind}s, more than its "
                            f"max_targets ({h.max_targets}): {', '.join(r.id for r in resources)}",
                            hint="narrow its aws ids or filters, or raise max_targets if that many is meant")
        return resources

    def check(self, fault: PlannedFault) -> None:
        self._selected[fault.fault_id] = self.select(fault)

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        resources = self._selected.get(fault.fault_id)
        if resources is None:
            resources = self._selected[fault.fault_id] = self.select(fault)
        return self.operation(fault.type).describe(resources, fault.spec, fault.handle())

    def inject(self, fault: PlannedFault) -> Handle:
        h: AwsHandle = fault.handle()
        op, aws, mark = self.operation(fault.type), self.connection(h.connection()), token(fault)
        try:
            resources = self.select(fault)          # again: what the plan saw may have changed since
        except PlanError as exc:
            raise DriverError(exc.message, target=fault.target_name, fault=fault.type) from None
        try:
            data = op.inject(aws, resources, fault.spec, mark)
        except Exception as exc:
            # undo the part that was done, found from the marks it left
            try:
                op.revert(aws, op.from_intent(aws, h, fault.spec, mark))
            except Exception as undo:  # noqa: BLE001 - both failures are said
                raise DriverError(f"{_text(exc)}; undoing the part done failed too ({_text(undo)}): check the "
                                  f"{op.kind}s for the tag chaosrunner:fault={mark} by hand",
                                  target=fault.target_name, fault=fault.type) from exc
            raise DriverError(f"{_text(exc)} (the part done was undone)", target=fault.target_name,
                              fault=fault.type) from exc
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type,
                      {"conn": h.connection(), "token": mark, **data})

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        h: AwsHandle = fault.handle()
        mark = token(fault)
        try:
            data = self.operation(fault.type).from_intent(self.connection(h.connection()), h, fault.spec, mark)
        except Exception as exc:  # noqa: BLE001 - the entry stays in the ledger; the revert says why
            data = {"unknown": f"cannot tell what the interrupted inject did: {_text(exc)}"}
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type,
                      {"conn": h.connection(), "token": mark, **data})

    def revert(self, handle: Handle) -> None:
        if "unknown" in handle.data:
            raise RevertFailed(str(handle.data["unknown"]), target=handle.target, fault=handle.fault_type)
        try:
            self.operation(handle.fault_type).revert(self.connection(handle.data["conn"]), handle.data)
        except RevertFailed as exc:
            raise RevertFailed(exc.detail, target=handle.target, fault=handle.fault_type) from None
        except Exception as exc:
            raise RevertFailed(_text(exc), target=handle.target, fault=handle.fault_type) from exc

    def close(self) -> None:
        for c in self._connections.values():
            c.close()
        self._connections.clear()
