"""Planning: a read experiment + its inventory → ordered, timed steps, each fault paired with its
driver and revert; and the safety gate (environment, ``--confirm``) checked before anything runs."""
from chaosrunner.planning.planner import DEFAULT_PROMQL, Plan, PlannedStep, make_plan, probe_names
from chaosrunner.planning.safety import check_environment

__all__ = ["DEFAULT_PROMQL", "Plan", "PlannedStep", "check_environment", "make_plan", "probe_names"]
