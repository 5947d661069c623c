"""Typed models of method actions: the fault vocabulary of the seed, plus the Chaos Toolkit bridge.

``type`` picks the model. Every fault names a ``target`` from the inventory (a group hits all
its members), may last a ``duration`` (then it is reverted by the engine when it ends) and may
run in the ``background`` (the method goes on while it lasts).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from chaosrunner.model.base import Duration, Fraction, Strict
from chaosrunner.model.probes import CtkProvider


class _FaultCommon(Strict):
    name: str | None = None
    target: str
    duration: Duration | None = Field(None, description="how long the fault lasts; omitted = until the rollbacks")
    background: bool = Field(False, description="go on with the method while the fault lasts")
    timeout: Duration = Field(10.0, description="how long the driver may take to inject or revert")


class NetworkFault(_FaultCommon):
    type: Literal["network"]
    operation: Literal["partition", "restore", "loss", "bandwidth"]
    loss: Fraction | None = Field(None, description="loss: share of connections dropped")
    rate: int | None = Field(None, description="bandwidth: KB/s", ge=0)
    direction: Literal["both", "upstream", "downstream"] = "both"
    mode: Literal["refuse", "blackhole"] = Field(
        "refuse", description="partition: refuse connections (proxy disabled) or hold their data forever")

    @model_validator(mode="after")
    def _params(self) -> NetworkFault:
        if self.operation == "loss" and self.loss is None:
            raise ValueError("operation loss needs loss: e.g. 30%")
        if self.operation == "bandwidth" and self.rate is None:
            raise ValueError("operation bandwidth needs rate: KB/s, e.g. 64")
        return self


class LatencyFault(_FaultCommon):
    type: Literal["latency"]
    delay: Duration
    jitter: Duration = 0.0
    direction: Literal["upstream", "downstream"] = "downstream"


class ErrorFault(_FaultCommon):
    type: Literal["error"]
    error_rate: Fraction = Field(..., description="share of connections reset")


class ResourceFault(_FaultCommon):
    type: Literal["resource"]
    resource: Literal["memory", "cpu"]
    consumption: Fraction = Field(..., description="memory: share of the target's limit; cpu: share of its CPUs")


class ProcessFault(_FaultCommon):
    type: Literal["process"]
    operation: Literal["kill", "stop", "restart"]
    signal: str = Field("SIGKILL", description="kill: the signal sent")


class ProviderAction(Strict):
    """Any Chaos Toolkit activity, run through chaostoolkit-lib."""

    type: Literal["provider"]
    name: str | None = None
    provider: CtkProvider
    revert: CtkProvider | None = Field(None, description="a provider that undoes it, run in the rollbacks")
    background: bool = False
    timeout: Duration = 30.0
    target: str | None = None
    duration: Duration | None = None


FAULT_TYPES = ("network", "latency", "error", "resource", "process", "provider")
