"""chaosrunner: chaos experiments and game days — faults, load, probes, RTO/RPO, one HTML report.

The few names a library user needs; everything else lives in modules named after the domain
(``read``, ``planning``, ``execute``, ``analyse``, ``results``, ``report``; ``model``, ``drivers``, ``probes``).
"""
from chaosrunner.api import load_experiment, plan, recover, run, run_plan, validate
from chaosrunner.errors import (
    ChaosRunnerError,
    ConfigError,
    DriverError,
    LoadError,
    PlanError,
    ProbeError,
    RevertFailed,
    RunAborted,
)
from chaosrunner.model.experiment import Experiment
from chaosrunner.results import RunResult

from chaosrunner.version import __version__

__all__ = [
    "ChaosRunnerError",
    "ConfigError",
    "DriverError",
    "Experiment",
    "LoadError",
    "PlanError",
    "ProbeError",
    "RevertFailed",
    "RunAborted",
    "RunResult",
    "__version__",
    "load_experiment",
    "plan",
    "recover",
    "run",
    "run_plan",
    "validate",
]
