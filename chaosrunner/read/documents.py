"""Reading experiment files and inventories into resolved, typed models.

``read_experiments(path)`` reads a file of one experiment or several (``experiments:``),
finds its inventory (``targets:`` in the file, or the ``--targets`` override), resolves every
``${...}`` reference and validates the result. Errors carry the file, line and column.
Fault types and target handles are those of the installed drivers: both loaders load the driver
registry first, which installs its vocabulary into the models (a broken plugin is a ConfigError).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.drivers import registry
from chaosrunner.read.ctk import convert, is_ctk_experiment, read_document
from chaosrunner.errors import ConfigError, Location
from chaosrunner.read.parse import Marks, read_yaml, validate
from chaosrunner.model.experiment import Experiment, ExperimentFile
from chaosrunner.model.targets import Inventory
from chaosrunner.read.resolve import Resolver, Secrets, judged_once_resolved, written_locations


@dataclass
class LoadedInventory:
    file: Path | None
    model: Inventory
    raw: dict[str, Any]


@dataclass
class LoadedExperiment:
    file: Path
    model: Experiment
    raw: dict[str, Any]                 # as written, references unresolved (safe to record)
    marks: Marks
    prefix: tuple[Any, ...]             # path of this experiment inside its file
    inventory: LoadedInventory | None
    secrets: Secrets = field(default_factory=Secrets)
    time_scale: float = 1.0             # --time-scale: the model's durations are already scaled

    def location(self, *path: Any) -> Location:
        return self.marks.at(self.prefix + tuple(path))


def read_inventory(path: Path, secrets: Secrets, variables: dict[str, str] | None = None) -> LoadedInventory:
    registry()                          # the installed drivers' handles
    data, marks = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("an inventory is a mapping with a `targets:` key", marks.at(()))
    resolver = Resolver(path.parent, marks, secrets, variables=variables or {})
    resolved = resolver.resolve(data)
    try:
        return LoadedInventory(path, validate(Inventory, resolved, marks), data)
    except ConfigError as exc:
        raise resolver.explain(exc) from None


def read_experiments(
    path: str | Path,
    targets: str | Path | None = None,
    variables: dict[str, str] | None = None,
) -> list[LoadedExperiment]:
    """Load, resolve and validate every experiment in ``path``."""
    registry()                          # the installed drivers' fault types and handles
    file = Path(path)
    data, marks = read_document(file)        # JSON as JSON (Chaos Toolkit files), else YAML
    if not isinstance(data, dict):
        raise ConfigError("an experiment file is a mapping (name:, method:, ...) or has `experiments:`",
                          marks.at(()), "see `chaosrunner schema` for the format")
    if is_ctk_experiment(data):
        data, marks = convert(data, marks)     # marks: where each part stands in the Chaos Toolkit file
    many = "experiments" in data
    # structure first, references unresolved: errors point at what the user wrote; a value that holds
    # a reference (`duration: "${var:d}"`) is judged once resolved, below
    raws: list[tuple[tuple[Any, ...], dict[str, Any]]]
    try:
        validate(ExperimentFile if many else Experiment, data, marks)
    except ConfigError as exc:
        left = judged_once_resolved(exc, written_locations(data, marks))
        listed = not many or (isinstance(data["experiments"], list)
                              and all(isinstance(e, dict) for e in data["experiments"]))
        if left is not None or not listed:
            raise (left or exc) from None
    raws = [(("experiments", i), e) for i, e in enumerate(data["experiments"])] if many else [((), data)]
    out: list[LoadedExperiment] = []
    inventories: dict[Path, LoadedInventory] = {}
    for prefix, raw in raws:
        secrets = Secrets()
        inv_path: Path | None = None
        if targets is not None:
            inv_path = Path(targets)
        elif raw.get("targets"):
            inv_path = (file.parent / str(raw["targets"])).resolve()
        inventory = None
        if inv_path is not None:
            if not inv_path.exists():
                where = marks.at(prefix + ("targets",)) if targets is None else None
                raise ConfigError(f"targets inventory {inv_path} does not exist", where,
                                  "fix the path (relative to the experiment file) or pass --targets")
            if inv_path not in inventories:
                inventories[inv_path] = read_inventory(inv_path, secrets, variables)
            inventory = inventories[inv_path]
            secrets.update(_secrets_of(inventory, variables))
        resolver = Resolver(file.parent, marks, secrets, inventory.model if inventory else None, variables or {})
        resolved = resolver.resolve(raw, prefix)
        try:
            model = _validate_at(Experiment, resolved, marks, prefix)
        except ConfigError as exc:
            raise resolver.explain(exc) from None
        out.append(LoadedExperiment(file, model, raw, marks, prefix, inventory, secrets))
    names = [e.model.name for e in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"two experiments are named {sorted(dupes)[0]!r}", marks.at(()), "give each a unique name")
    return out


def _secrets_of(inv: LoadedInventory, variables: dict[str, str] | None) -> Secrets:
    # an inventory shared by several experiments was loaded once: collect its secrets for each
    s = Secrets()
    Resolver(inv.file.parent if inv.file else Path("."), Marks(str(inv.file)), s,
             variables=variables or {}).resolve(inv.raw)
    return s


def _validate_at(model: Any, data: Any, marks: Marks, prefix: tuple[Any, ...]) -> Any:
    """Validate a sub-document whose marks live under ``prefix`` in the file's Marks."""
    if not prefix:
        return validate(model, data, marks)
    sub = Marks(marks.file,
                {k[len(prefix):]: v for k, v in marks.values.items() if k[:len(prefix)] == prefix},
                {k[len(prefix):]: v for k, v in marks.keys.items() if k[:len(prefix)] == prefix})
    return validate(model, data, sub)
