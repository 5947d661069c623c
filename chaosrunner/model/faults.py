"""Typed models of method actions: the common fault base, the seed's fault vocabulary, the Chaos Toolkit bridge.

``type`` picks the model. Every fault names a ``target`` from the inventory (a group hits all
its members), may last a ``duration`` (then it is reverted by the engine when it ends) and may
run in the ``background`` (the method goes on while it lasts).

The vocabulary is open: a driver declares the models of the fault types it brings (each a
subclass of ``Fault`` with ``type: Literal["<its name>"]`` and its own parameters), and the
experiment model accepts every installed driver's types (``chaosrunner.model.vocabulary``).
The models below are the built-in drivers' ones.
"""
from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import Field, model_validator

from chaosrunner.model.base import HOUR, FaultDuration, Fraction, Strict, Timeout, Within
from chaosrunner.model.probes import CtkProvider


class Fault(Strict):
    """The base of every fault model: what each fault has whichever driver injects it.

    A subclass narrows ``type`` to ``Literal["<its type>"]`` (the discriminator of the method's
    actions) and adds its parameters; unknown keys are errors, as everywhere in a file.
    """

    name: str | None = None
    target: str
    duration: FaultDuration | None = Field(
        None, description="how long the fault lasts (more than 0s, at most 24h); omitted = until the rollbacks")
    background: bool = Field(False, description="go on with the method while the fault lasts")
    timeout: Timeout = Field(10.0, description="how long the driver may take to inject or revert (between 1ms and 1h)")
    type: str          # each fault model narrows it to its Literal

    def undoes(self) -> bool:
        """True when this action undoes faults instead of injecting one (``network restore``).

        The engine runs such an action once, as a step of its own: no fault window, nothing to
        revert and nothing written to the ledger. A driver's fault model overrides it.
        """
        return False


def fault_type_of(model: type[Fault]) -> str:
    """The ``type`` a fault model answers to (the one value of its ``type: Literal[...]``).

    ValueError when the model does not narrow ``type`` to a single string literal.
    """
    field = model.model_fields.get("type")
    args = typing.get_args(field.annotation) if field is not None else ()
    if field is None or typing.get_origin(field.annotation) is not Literal or len(args) != 1 \
            or not isinstance(args[0], str) or not args[0]:
        raise ValueError(f"{model.__name__} must declare `type: Literal[\"<fault type>\"]` (one non-empty string)")
    return args[0]


class NetworkFault(Fault):
    type: Literal["network"]
    operation: Literal["partition", "restore", "loss", "bandwidth"]
    loss: Fraction | None = Field(None, description="loss: share of connections dropped (between 0% and 100%)")
    rate: int | None = Field(None, description="bandwidth: KB/s (0 to 10000000)", ge=0, le=10_000_000)
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

    def undoes(self) -> bool:
        return self.operation == "restore"


class LatencyFault(Fault):
    type: Literal["latency"]
    delay: Annotated[float, Within("duration", 0.0, HOUR, "a latency fault's delay", low_open=True)] = Field(
        ..., description="added to every chunk of data (more than 0s, at most 1h)")
    jitter: Annotated[float, Within("duration", 0.0, HOUR, "jitter")] = Field(
        0.0, description="the delay varies by up to this (between 0s and 1h)")
    direction: Literal["upstream", "downstream"] = "downstream"


class ErrorFault(Fault):
    type: Literal["error"]
    error_rate: Fraction = Field(..., description="share of connections reset (between 0% and 100%)")


class ResourceFault(Fault):
    type: Literal["resource"]
    resource: Literal["memory", "cpu"]
    consumption: Fraction = Field(..., description="memory: share of the target's limit; cpu: share of its CPUs "
                                                   "(between 0% and 100%)")


class ProcessFault(Fault):
    type: Literal["process"]
    operation: Literal["kill", "stop", "restart"]
    signal: str = Field("SIGKILL", description="kill: the signal sent")


class ProviderAction(Fault):
    """Any Chaos Toolkit activity, run through chaostoolkit-lib (a target is optional)."""

    type: Literal["provider"]
    provider: CtkProvider
    revert: CtkProvider | None = Field(None, description="a provider that undoes it, run in the rollbacks")
    target: str | None = None          # type: ignore[assignment]  # a provider acts wherever it says
    timeout: Timeout = Field(30.0, description="how long the activity may take (between 1ms and 1h)")


BUILTIN_FAULTS: tuple[type[Fault], ...] = (NetworkFault, LatencyFault, ErrorFault, ResourceFault, ProcessFault,
                                           ProviderAction)
"""The built-in drivers' fault models: the vocabulary before (or without) any plugin."""

__all__ = ["BUILTIN_FAULTS", "ErrorFault", "Fault", "LatencyFault", "NetworkFault", "ProcessFault",
           "ProviderAction", "ResourceFault", "fault_type_of"]
