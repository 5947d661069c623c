"""The safety gate, checked before a run touches anything: targets outside loopback need an
inventory that names its environment, and a production one needs ``--confirm <environment>``."""
from __future__ import annotations

from chaosrunner.errors import ConfigError, PlanError
from chaosrunner.planning.planner import Plan

PRODUCTION_NAMES = ("production", "prod")


def check_environment(p: Plan, confirm: str | None) -> None:
    inv = p.experiment.inventory
    if p.outside_loopback and (inv is None or "environment" not in inv.raw):
        raise PlanError(f"targets outside loopback ({', '.join(p.outside_loopback)}) need an inventory that names "
                        "its environment", None,
                        "add `environment: staging` (or the real name) to the inventory")
    if p.environment.lower() in PRODUCTION_NAMES and confirm != p.environment:
        raise ConfigError(f"the inventory's environment is {p.environment!r}: confirm with --confirm {p.environment}")
