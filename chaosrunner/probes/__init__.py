"""Probes: build a probe object from its model (see ``probes.base`` for the interface)."""
from __future__ import annotations

from typing import Any

from chaosrunner.errors import ProbeError
from chaosrunner.probes import builtin as _builtin  # noqa: F401 - registers http, tcp, command, provider
from chaosrunner.probes.base import Outcome, Probe, ProbeContext, RedactingProbe, probe_factory


def _load_optional() -> None:
    for module in ("chaosrunner.probes.metric", "chaosrunner.probes.role", "chaosrunner.probes.aws",
                   "chaosrunner.probes.k8s"):
        try:
            __import__(module)
        except ImportError:
            pass


def build_probe(spec: Any, name: str, ctx: ProbeContext) -> Probe:
    """The probe of ``spec``, its answers redacted with ``ctx.secrets`` and then cut (``RedactingProbe``)."""
    factory = probe_factory(spec.type)
    if factory is None:
        _load_optional()
        factory = probe_factory(spec.type)
    if factory is None:
        raise ProbeError(f"no probe implementation for type {spec.type!r}")
    return RedactingProbe(factory(spec, name, ctx), ctx.secrets)


__all__ = ["Outcome", "Probe", "ProbeContext", "RedactingProbe", "build_probe"]
