"""The planner: experiment + inventory → ordered, timed steps, each injection paired with its revert.

Everything that can be known before touching a target is checked here — unknown targets,
faults a target has no handle for, probes without a URL to resolve against — and raised as
``PlanError`` with the file position of the offending step. ``chaosrunner plan`` prints the
result: targets, drivers, blast radius, expected duration, each fault and its revert.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from chaosrunner.read.documents import LoadedExperiment
from chaosrunner.drivers import PlannedFault, registry
from chaosrunner.errors import PlanError
from chaosrunner.errors import suggest
from chaosrunner.model.targets import Inventory, outside_loopback


@dataclass
class PlannedStep:
    index: int
    kind: str                       # action | pause | probe
    spec: Any
    faults: list[PlannedFault] = field(default_factory=list)
    at: float = 0.0                 # expected start, seconds after the method starts
    duration: float = 0.0           # how long the method waits on it (0 for background)
    describe: list[tuple[str, str]] = field(default_factory=list)   # (inject, revert) per fault
    section: str = "method"         # method | rollback

    @property
    def label(self) -> str:
        if self.kind == "pause":
            return f"pause {self.spec:g}s"
        if self.kind == "probe":
            return f"probe {self.spec.name or self.spec.type}"
        s = self.spec
        target = getattr(s, "target", None)
        op = getattr(s, "operation", None) or getattr(s, "resource", None)
        return " ".join(str(x) for x in (s.name or s.type, op, f"on {target}" if target else "") if x)


@dataclass
class Plan:
    experiment: LoadedExperiment
    steps: list[PlannedStep]
    rollbacks: list[PlannedStep]
    probe_names: list[str]
    expected_duration: float
    blast_radius: list[str]
    drivers: list[str]
    environment: str
    outside_loopback: list[str]

    @property
    def name(self) -> str:
        return self.experiment.model.name

    def faults(self) -> list[PlannedFault]:
        return [f for s in self.steps + self.rollbacks for f in s.faults]


def probe_names(probes: list[Any]) -> list[str]:
    """A unique, readable name per steady-state probe (its own ``name``, else derived)."""
    names: list[str] = []
    for p in probes:
        base = p.name or _default_probe_name(p)
        name, n = base, 2
        while name in names:
            name, n = f"{base} #{n}", n + 1
        names.append(name)
    return names


def _default_probe_name(p: Any) -> str:
    if p.type == "http":
        return f"http {p.url}"
    if p.type == "tcp":
        return f"tcp {p.host}:{p.port}"
    if p.type == "aws":
        return f"aws {p.check} {p.target}"
    return str(p.type)


def _driver_for(spec: Any, target_name: str, inv: Inventory | None, where: Any) -> str:
    """The driver for a fault on a target: the first installed one that injects the fault's type and
    finds its handle on the target (or needs none)."""
    candidates = [cls for cls in registry().values() if spec.type in cls.fault_types()]
    if not candidates:
        raise PlanError(f"no installed driver handles fault type {spec.type!r}", where)
    target = inv.targets.get(target_name) if inv else None
    for cls in candidates:
        if cls.handle is None or (target is not None and target.handle(cls.handle) is not None):
            return cls.name
    handles = sorted({str(c.handle) for c in candidates})
    raise PlanError(f"target {target_name!r} has no {' or '.join(handles)} handle, which a {spec.type} fault needs",
                    where, f"add {' or '.join(f'`{h}:`' for h in handles)} to {target_name!r} in the inventory, "
                           "or pick another target")


def _target_names(exp: LoadedExperiment, spec: Any, where: Any) -> list[str]:
    """The concrete targets an action names (a group's members), or PlanError at its line."""
    inv = exp.inventory.model if exp.inventory else None
    if spec.target is None:          # a fault model may make its target optional (a Chaos Toolkit provider)
        return ["(chaos toolkit)" if spec.type == "provider" else f"({spec.type})"]
    if inv is None:
        raise PlanError(f"the action names target {spec.target!r} but the experiment has no targets inventory",
                        where, "add `targets: ../targets/<inventory>.yaml` or pass --targets")
    if spec.target not in inv.targets:
        near = suggest(str(spec.target), list(inv.targets))
        raise PlanError(f"unknown target {spec.target!r}", where,
                        f"did you mean {near!r}?" if near else
                        f"targets in {exp.inventory.file}: {', '.join(inv.targets)}")  # type: ignore[union-attr]
    return inv.members(spec.target)


OFFLINE = "(not reached: planned offline)"


def _plan_section(exp: LoadedExperiment, section: str, counter: list[int],
                  offline: bool = False) -> list[PlannedStep]:
    model = exp.model
    inv = exp.inventory.model if exp.inventory else None
    steps = model.method if section == "method" else model.rollback
    out: list[PlannedStep] = []
    t = 0.0
    for i, step in enumerate(steps):
        where = exp.location(section, i)
        if step.pause is not None:
            out.append(PlannedStep(i, "pause", step.pause, at=t, duration=step.pause, section=section))
            t += step.pause
            continue
        if step.probe is not None:
            out.append(PlannedStep(i, "probe", step.probe, at=t, duration=step.probe.timeout, section=section))
            t += step.probe.timeout
            continue
        spec = step.action
        assert spec is not None            # a step is exactly one of action, pause, probe (model-checked)
        where = exp.location(section, i, "action", "target") if spec.target else where
        names = _target_names(exp, spec, where)
        planned = PlannedStep(i, "action", spec, at=t, section=section)
        for name in names:
            counter[0] += 1
            fid = f"f{counter[0]}"
            target = inv.targets.get(name) if inv else None
            driver = _driver_for(spec, name, inv, where)
            fault = PlannedFault(fid, spec, name, target, driver)
            planned.faults.append(fault)
            if offline:                    # no driver is asked: it would reach its cluster, account or proxy
                planned.describe.append((f"{spec.type} on {name} by the {driver} driver {OFFLINE}", OFFLINE))
                continue
            drv = registry()[driver]()
            try:
                drv.check(fault)
            except PlanError as exc:
                raise PlanError(exc.message, where, exc.hint) from None
            planned.describe.append(drv.describe(fault))
        planned.duration = 0.0 if spec.background else (spec.duration or 0.0)
        t += planned.duration
        out.append(planned)
    return out


def make_plan(exp: LoadedExperiment, offline: bool = False) -> Plan:
    """The plan of a read experiment. ``offline``: without asking any driver (no cluster, account
    or proxy is reached): each fault's target and the driver that takes it are checked, not what
    the driver would find there; the steps say so instead of what they would hit. For files that
    run elsewhere (``validate --offline``, ``schedule export``: a CronJob's ``in_cluster`` inventory)."""
    exp = _with_prometheus_defaults(exp)
    _check_load(exp)
    model = exp.model
    counter = [0]
    steps = _plan_section(exp, "method", counter, offline)
    rollbacks = _plan_section(exp, "rollback", counter, offline)
    inv = exp.inventory.model if exp.inventory else None
    method_end = max([s.at + (s.spec.duration or 0.0 if s.kind == "action" else s.duration) for s in steps] + [0.0])
    names = probe_names(model.probes())
    _check_probes(exp, names)
    _check_origins(exp, steps)
    # steady state before and after, plus the stable_for window the recovery needs
    expected = method_end + 2 * max([p.timeout for p in model.probes()] + [0.0]) + model.sampling.stable_for
    radius: list[str] = []
    for s in steps + rollbacks:
        for f in s.faults:
            if f.target_name not in radius:
                radius.append(f.target_name)
    drivers = sorted({f.driver for s in steps + rollbacks for f in s.faults})
    return Plan(exp, steps, rollbacks, names, expected, radius, drivers,
                inv.environment if inv else "local", outside_loopback(inv) if inv else [])


def _check_origins(exp: LoadedExperiment, steps: list[PlannedStep]) -> None:
    """An objective's ``from:`` that looks like a fault id must be one of the method's faults."""
    ids = [f.fault_id for s in steps for f in s.faults]
    names = {getattr(s.spec, "name", None) for s in steps if s.kind == "action"}
    for which, ref in exp.model.objectives.origins():
        if ref in names or ref in ids:
            continue
        raise PlanError(f"objectives.{which}.from names fault {ref!r}, but the method's faults are "
                        + (", ".join(ids) or "none"), exp.location("objectives", which, "from"),
                        "use one of those ids (`chaosrunner plan --json` lists each fault with its fault_id), or an "
                        "action's name")


def _check_probes(exp: LoadedExperiment, names: list[str]) -> None:
    inv = exp.inventory.model if exp.inventory else None
    if any(p.type == "aws" for p in exp.model.probes()) or any(
            getattr(c, "cloudwatch_alarm", None) for c in exp.model.abort_when) or any(
            s.probe is not None and s.probe.type == "aws" for s in exp.model.method + exp.model.rollback):
        from chaosrunner.drivers.aws.watch import check_references

        check_references(exp)
    for i, probe in enumerate(exp.model.probes()):
        url = getattr(probe, "url", None)
        if probe.type == "http" and isinstance(url, str) and url.startswith("/") and not (inv and inv.base_url):
            raise PlanError(f"probe URL {url!r} is relative but the inventory sets no base_url",
                            exp.location("steady_state", i, "probe", "url"),
                            "give a full URL (http://host:port/path) or set base_url: in the inventory")
    obj = exp.model.objectives
    for which in ("failover", "failback"):
        o = getattr(obj, which)
        if o is not None and o.probe is not None and o.probe not in names:
            raise PlanError(f"objectives.{which}.probe names {o.probe!r}, which is not a steady-state probe",
                            exp.location("objectives", which, "probe"), "probes: " + ", ".join(names))
    model = exp.model
    for i, probe in enumerate(model.probes()):
        if probe.type == "metric" and probe.source != "prometheus" and not probe.query and model.load is None:
            if probe.source is None and (probe.prometheus or (inv and inv.prometheus)):
                raise PlanError(f"metric probe {probe.name!r} has no query:, and chaosrunner has no default PromQL "
                                "for that name", exp.location("steady_state", i, "probe"),
                                f"give `query: <PromQL>`, or name one of {', '.join(DEFAULT_PROMQL)}")
            known = probe.source is None and (probe.name or "").lower() in DEFAULT_PROMQL
            raise PlanError(f"metric probe {probe.name!r} reads load statistics, but the experiment has no load:",
                            exp.location("steady_state", i, "probe"),
                            "add `load:` (a locustfile or an http profile), or " + (
                                "set `prometheus:` in the inventory (this name has a default query there)"
                                if known else "give `source: prometheus` and `query:` with the inventory's "
                                              "`prometheus:` server"))
        if probe.type == "metric" and (probe.source == "prometheus" or probe.query) and not (
                probe.prometheus or (inv and inv.prometheus)):
            raise PlanError(f"metric probe {probe.name!r} queries Prometheus, but no server is named",
                            exp.location("steady_state", i, "probe"),
                            "set `prometheus: http://host:9090` on the probe or in the inventory")
    for i, cond in enumerate(exp.model.abort_when):
        if cond.error_rate_above is not None and model.load is None:
            raise PlanError("error_rate_above reads the load's error rate, but the experiment has no load:",
                            exp.location("abort_when", i), "add `load:` or use probe_failing_for")
        if cond.probe is not None and cond.probe not in names:
            raise PlanError(f"abort_when names probe {cond.probe!r}, which is not a steady-state probe",
                            exp.location("abort_when", i, "probe"), "probes: " + ", ".join(names))
        if cond.promql is not None and not (cond.prometheus or (inv and inv.prometheus)):
            raise PlanError("abort_when promql: needs a Prometheus server", exp.location("abort_when", i, "promql"),
                            "set `prometheus: http://host:9090` on the condition or in the inventory")


def _check_load(exp: LoadedExperiment) -> None:
    """The cheap checks of ``load:``: the locustfile exists, the http profile has a host.

    Whether the locustfile imports and defines user classes takes a second interpreter (about a
    second): ``validate`` and the run's preflight check that, not every plan.
    """
    spec = exp.model.load
    if spec is None:
        return
    inv = exp.inventory.model if exp.inventory else None
    path = spec.resolve_locustfile(exp.file.parent)
    if path is not None and not path.is_file():
        raise PlanError(f"load.locustfile {spec.locustfile!r} does not exist (looked for {path})",
                        exp.location("load", "locustfile"), "the path is relative to the experiment file")
    if spec.http is not None and spec.target_host is None and not (inv and inv.base_url):
        raise PlanError("load.http has no host, and the inventory has no base_url", exp.location("load", "http"),
                        "set load.http.host: http://host:port, or base_url: in the inventory")


DEFAULT_PROMQL = {
    "p50_latency": "histogram_quantile(0.5, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))",
    "p95_latency": "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))",
    "p99_latency": "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))",
    "error_rate": '(sum(rate(http_requests_total{code=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total[1m]))',
    "rps": "sum(rate(http_requests_total[1m]))",
}
"""The PromQL of a ``metric`` probe without ``source`` or ``query`` in a run without load (DESIGN:
it reads the inventory's Prometheus then), by the probe's name; the metric names are the
Prometheus client libraries' conventional ones. Any other setup writes its own ``query:``."""


def _with_prometheus_defaults(exp: LoadedExperiment) -> LoadedExperiment:
    """Give each such metric probe its default PromQL (the probes then query Prometheus)."""
    inv = exp.inventory.model if exp.inventory else None
    model = exp.model
    if model.load is not None:
        return exp
    entries = list(model.steady_state)
    for i, entry in enumerate(entries):
        probe = entry.probe
        if (probe.type == "metric" and probe.source is None and not probe.query and (probe.prometheus or (
                inv and inv.prometheus)) and (probe.name or "").lower() in DEFAULT_PROMQL):
            query = DEFAULT_PROMQL[str(probe.name).lower()]
            entries[i] = entry.model_copy(update={"probe": probe.model_copy(update={"query": query})})
    if entries == list(model.steady_state):
        return exp
    return replace(exp, model=model.model_copy(update={"steady_state": entries}))
