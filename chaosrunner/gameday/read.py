"""Reading a game-day file (``kind: GameDay``) into a typed, checked, planned runbook.

Everything is checked before anything starts, each error at its line with a fix: the structure
(an unknown step kind, a ``wait_until`` without a timeout, phases whose ``at`` go backwards),
the references, the targets and faults (planned with the experiment planner: the day's
``action`` steps are an experiment's method whose marks point back at the steps), the fault ids
``revert`` names, the probes conditions name, the phases and steps ``expected`` timings start
from, and every nested experiment (its own file and line).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.drivers import registry
from chaosrunner.errors import ConfigError, PlanError, suggest
from chaosrunner.gameday.model import Check, Condition, GameDay, Step
from chaosrunner.model.experiment import Experiment
from chaosrunner.planning import Plan, PlannedStep
from chaosrunner.read.documents import LoadedExperiment, LoadedInventory, _secrets_of, read_inventory
from chaosrunner.read.parse import Marks, read_yaml, validate
from chaosrunner.read.resolve import Resolver, Secrets, judged_once_resolved, written_locations

Index = tuple[int, int]          # (phase, step)


@dataclass(frozen=True)
class NestedCtk:
    """A Chaos Toolkit file nested in a game day: run as ``chaosrunner run`` runs it (chaoslib's
    ``run_experiment``, its verdict), in a process of its own, since chaoslib's signal handling
    needs a main thread and the day's own loop must go on sampling meanwhile."""

    file: Path
    name: str


@dataclass
class LoadedGameDay:
    file: Path
    model: GameDay
    raw: dict[str, Any]
    marks: Marks
    inventory: LoadedInventory | None
    secrets: Secrets
    plan: Plan                                  # the day's faults, probes, load and writer, planned
    actions: dict[Index, PlannedStep] = field(default_factory=dict)
    nested: dict[Index, list[Plan | NestedCtk]] = field(default_factory=dict)
    inventory_path: Path | None = None

    def steps(self) -> list[tuple[Index, Step]]:
        return [((p, s), st) for p, ph in enumerate(self.model.phases) for s, st in enumerate(ph.steps)]

    def summary(self) -> str:
        """What ``validate`` prints: ``name (N phases, N steps, N faults, N nested experiments)``."""
        return (f"{self.model.name} ({len(self.model.phases)} phases, {len(self.steps())} steps, "
                f"{len(self.plan.faults())} faults, {sum(len(v) for v in self.nested.values())} nested experiments)")


def is_gameday(path: str | Path) -> bool:
    try:
        data, _ = read_yaml(Path(path))
    except ConfigError:
        return False
    return isinstance(data, dict) and data.get("kind") == "GameDay"


def read_gameday(path: str | Path, targets: str | Path | None = None,
                 variables: dict[str, str] | None = None, offline: bool = False) -> LoadedGameDay:
    """Read, check and plan a game day; ``offline``: planned without asking any driver (no target
    is reached: ``make_plan``), for a day meant to run elsewhere (``schedule export``)."""
    registry()
    file = Path(path)
    data, marks = read_yaml(file)
    if not isinstance(data, dict) or data.get("kind") != "GameDay":
        raise ConfigError("a game-day file is a mapping with `kind: GameDay`", marks.at(("kind",)),
                          "add `kind: GameDay` (experiments are run with `chaosrunner run`)")
    try:
        validate(GameDay, data, marks)
    except ConfigError as exc:
        left = judged_once_resolved(exc, written_locations(data, marks))
        if left is not None:
            raise left from None
    secrets = Secrets()
    inv_path: Path | None = Path(targets) if targets is not None else (
        (file.parent / str(data["targets"])).resolve() if data.get("targets") else None)
    inventory = None
    if inv_path is not None:
        if not inv_path.exists():
            raise ConfigError(f"targets inventory {inv_path} does not exist",
                              marks.at(("targets",)) if targets is None else None,
                              "fix the path (relative to the game-day file) or pass --targets")
        inventory = read_inventory(inv_path, secrets, variables)
        secrets.update(_secrets_of(inventory, variables))
    resolver = Resolver(file.parent, marks, secrets, inventory.model if inventory else None, variables or {})
    resolved = resolver.resolve(data)
    try:
        model = validate(GameDay, resolved, marks)
    except ConfigError as exc:
        raise resolver.explain(exc) from None
    plan, actions = _plan_actions(file, model, resolved, data, marks, inventory, secrets, offline)
    day = LoadedGameDay(file, model, data, marks, inventory, secrets, plan, actions, inventory_path=inv_path)
    _check_references(day)
    day.nested = _nested(day, offline)
    return day


def _plan_actions(file: Path, model: GameDay, resolved: dict[str, Any], raw: dict[str, Any], marks: Marks,
                  inventory: LoadedInventory | None, secrets: Secrets,
                  offline: bool = False) -> tuple[Plan, dict[Index, PlannedStep]]:
    """The day's actions as an experiment's method, planned by the experiment planner; the method's
    marks are the steps' own, so a planning error names the step's line."""
    from chaosrunner.planning import make_plan

    where: list[Index] = []
    method: list[dict[str, Any]] = []
    values, keys = dict(marks.values), dict(marks.keys)
    for p, ph in enumerate(resolved["phases"]):
        for s, st in enumerate(ph["steps"]):
            if isinstance(st, dict) and "action" in st:
                j = len(method)
                method.append({"action": st["action"]})
                where.append((p, s))
                src = ("phases", p, "steps", s)
                for table in (values, keys):
                    for k, v in list(table.items()):
                        if k[:4] == src:
                            table[("method", j) + k[4:]] = v
    objectives: dict[str, Any] = {}
    for i, c in enumerate(model.success_criteria):
        for kind in ("rpo", "rto"):
            value = getattr(c, kind)
            if value is not None:
                objectives[kind] = value
                values[("objectives", kind)] = marks.values.get(("success_criteria", i, kind), (1, 1))
    header = ("targets", "load", "writer", "steady_state", "sampling", "abort_when")
    exp_data: dict[str, Any] = {k: resolved[k] for k in header if k in resolved}
    exp_data.update(name=model.name, description=model.scenario, objectives=objectives,
                    method=method or [{"pause": 0}])
    exp_marks = Marks(marks.file, values, keys)
    exp_model = validate(Experiment, exp_data, exp_marks)
    raw_exp: dict[str, Any] = {k: raw[k] for k in header if k in raw}
    loaded = LoadedExperiment(file, exp_model, {**raw_exp, "name": model.name}, exp_marks, (), inventory, secrets)
    try:
        plan = make_plan(loaded, offline)
    except PlanError as exc:
        raise secrets.scrub(exc) from None
    steps = plan.steps if method else []
    return plan, {where[j]: st for j, st in enumerate(steps)}


def _unknown(what: str, name: str, known: list[str], at: Any, hint_more: str = "") -> ConfigError:
    near = suggest(name, known)
    return ConfigError(f"unknown {what} {name!r}", at,
                       (f"did you mean {near!r}? " if near else "") + (f"{what}s: " + ", ".join(known) if known
                                                                       else hint_more or f"define the {what} first"))


def _check_condition(day: LoadedGameDay, cond: Condition, path: tuple[Any, ...]) -> None:
    names = day.plan.probe_names
    if cond.probe is not None and cond.probe not in names:
        raise _unknown("probe", cond.probe, names, day.marks.at(path + ("probe",)),
                       "add it under steady_state: (conditions read the steady-state probes' samples)")
    for i, name in enumerate(cond.probes or []):
        if name not in names:
            raise _unknown("probe", name, names, day.marks.at(path + ("probes", i)),
                           "add it under steady_state: (conditions read the steady-state probes' samples)")


def _check_outside(day: LoadedGameDay, check: Check, path: tuple[Any, ...]) -> None:
    """A check of the writer's data needs the writer; a PromQL check, a Prometheus server."""
    for kind in ("rpo", "lost_writes"):
        if getattr(check, kind) is not None and day.model.writer is None:
            raise PlanError(f"check {kind}: reads back the integrity writer's data, but the game day has no writer",
                            day.marks.at(path + (kind,)),
                            "add `writer:` to the header (e.g. writer: {type: http, url: ..., rate: 20/s})")
    if check.promql is not None and check.prometheus is None and not (
            day.inventory is not None and day.inventory.model.prometheus):
        raise PlanError("check promql: needs a Prometheus server", day.marks.at(path + ("promql",)),
                        "set `prometheus: http://host:9090` on the check or in the targets inventory")


def _check_references(day: LoadedGameDay) -> None:
    m = day.model
    ids: dict[str, str] = {}                 # step id -> kind
    action_ids: list[str] = []
    for (p, s), st in day.steps():
        path = ("phases", p, "steps", s)
        if st.id is not None:
            if st.id in ids or st.id in [ph.name for ph in m.phases]:
                raise ConfigError(f"the id {st.id!r} is used twice", day.marks.at(path + ("id",)),
                                  "give each step id (and phase name) a unique name")
            ids[st.id] = st.kind
        if st.action is not None and st.id is not None:
            action_ids.append(st.id)
        if st.revert is not None and st.revert != "all" and st.revert not in action_ids:
            raise _unknown("fault id", st.revert, action_ids, day.marks.at(path + ("revert",)),
                           "give the action step an `id:` (before this step), or write `revert: all`")
        for kind in ("wait_until", "check"):
            cond = getattr(st, kind)
            if cond is not None:
                _check_condition(day, cond, path + (kind,))
        if st.check is not None:
            _check_outside(day, st.check, path + ("check",))
    starts = ["T+0"] + [ph.name for ph in m.phases] + list(ids)
    for name, timing in m.expected.items():
        if timing.from_ not in starts:
            raise _unknown("phase", timing.from_, [ph.name for ph in m.phases],
                           day.marks.at(("expected", name, "from")))
        _check_condition(day, timing.until, ("expected", name, "until"))
    for i, c in enumerate(m.success_criteria):
        if c.condition is not None:
            _check_condition(day, c.condition, ("success_criteria", i, "condition"))
        if c.failback is not None and c.failback.probe not in day.plan.probe_names:
            raise _unknown("probe", c.failback.probe, day.plan.probe_names,
                           day.marks.at(("success_criteria", i, "failback", "probe")))
        if c.kind in ("rpo", "no_corruption", "lost_writes") and m.writer is None:
            raise PlanError(f"success criterion {c.kind} reads the integrity writer, but the game day has no writer:",
                            day.marks.at(("success_criteria", i)), "add `writer:` to the header")


def _nested(day: LoadedGameDay, offline: bool = False) -> dict[Index, list[Plan | NestedCtk]]:
    from chaosrunner import api
    from chaosrunner.ctk import is_ctk_file, load_ctk

    out: dict[Index, list[Plan | NestedCtk]] = {}
    for (p, s), st in day.steps():
        if st.experiment is None:
            continue
        path = (day.file.parent / st.experiment).resolve()
        if not path.is_file():
            raise ConfigError(f"nested experiment {st.experiment!r} does not exist (looked for {path})",
                              day.marks.at(("phases", p, "steps", s, "experiment")),
                              "the path is relative to the game-day file")
        if is_ctk_file(path):           # checked as `chaos validate` checks it; run by chaoslib
            out[(p, s)] = [NestedCtk(path, load_ctk(path).title)]
            continue
        out[(p, s)] = list(api.plan(path, targets=day.inventory_path, offline=offline))  # errors: its own lines
    return out
