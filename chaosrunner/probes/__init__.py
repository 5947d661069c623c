"""Probes: build a probe object from its model (see ``probes.base`` for the interface)."""
from __future__ import annotations

from typing import Any

from chaosrunner.errors import ProbeError
from chaosrunner.probes import builtin as _builtin  # noqa: F401 - registers http, tcp, command, provider
from chaosrunner.probes.base import Outcome, Probe, ProbeContext, probe_factory


def _load_optional() -> None:
    for module in ("chaosrunner.probes.metric", "chaosrunner.probes.role"):
        try:
            __import__(module)
        except ImportError:
            pass


def build_probe(spec: Any, name: str, ctx: ProbeContext) -> Probe:
    factory = probe_factory(spec.type)
    if factory is None:
        _load_optional()
        factory = probe_factory(spec.type)
    if factory is None:
        raise ProbeError(f"no probe implementation for type {spec.type!r}")
    return factory(spec, name, ctx)


__all__ = ["Outcome", "Probe", "ProbeContext", "build_probe"]
