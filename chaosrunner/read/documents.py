"""Reading experiment files and inventories into resolved, typed models.

``load_experiments(path)`` reads a file of one experiment or several (``experiments:``),
finds its inventory (``targets:`` in the file, or the ``--targets`` override), resolves every
``${...}`` reference and validates the result. Errors carry the file, line and column.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.read.ctk import convert, is_ctk_experiment
from chaosrunner.errors import ConfigError, Location
from chaosrunner.read.parse import Marks, read_yaml, validate
from chaosrunner.model.experiment import Experiment, ExperimentFile
from chaosrunner.model.targets import Inventory
from chaosrunner.read.resolve import Resolver, Secrets


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

    def location(self, *path: Any) -> Location:
        return self.marks.at(self.prefix + tuple(path))


def load_inventory(path: Path, secrets: Secrets, variables: dict[str, str] | None = None) -> LoadedInventory:
    data, marks = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("an inventory is a mapping with a `targets:` key", marks.at(()))
    resolved = Resolver(path.parent, marks, secrets, variables=variables or {}).resolve(data)
    return LoadedInventory(path, validate(Inventory, resolved, marks), data)


def load_experiments(
    path: str | Path,
    targets: str | Path | None = None,
    variables: dict[str, str] | None = None,
) -> list[LoadedExperiment]:
    """Load, resolve and validate every experiment in ``path``."""
    file = Path(path)
    data, marks = read_yaml(file)
    if not isinstance(data, dict):
        raise ConfigError("an experiment file is a mapping (name:, method:, ...) or has `experiments:`",
                          marks.at(()), "see `chaosrunner schema` for the format")
    if is_ctk_experiment(data):
        data = convert(data, str(file))
        marks = Marks(str(file))       # positions refer to the Chaos Toolkit file, which we did not parse
    many = "experiments" in data
    # structure first, references unresolved: errors point at what the user wrote
    raws: list[tuple[tuple[Any, ...], dict[str, Any]]]
    if many:
        validate(ExperimentFile, data, marks)
        raws = [(("experiments", i), e) for i, e in enumerate(data["experiments"])]
    else:
        validate(Experiment, data, marks)
        raws = [((), data)]
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
                inventories[inv_path] = load_inventory(inv_path, secrets, variables)
            inventory = inventories[inv_path]
            secrets.values |= _secrets_of(inventory, variables)
        resolver = Resolver(file.parent, marks, secrets, inventory.model if inventory else None, variables or {})
        resolved = resolver.resolve(raw, prefix)
        model = _validate_at(Experiment, resolved, marks, prefix)
        out.append(LoadedExperiment(file, model, raw, marks, prefix, inventory, secrets))
    names = [e.model.name for e in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"two experiments are named {sorted(dupes)[0]!r}", marks.at(()), "give each a unique name")
    return out


def _secrets_of(inv: LoadedInventory, variables: dict[str, str] | None) -> set[str]:
    # an inventory shared by several experiments was loaded once: collect its secrets for each
    s = Secrets()
    Resolver(inv.file.parent if inv.file else Path("."), Marks(str(inv.file)), s,
             variables=variables or {}).resolve(inv.raw)
    return s.values


def _validate_at(model: Any, data: Any, marks: Marks, prefix: tuple[Any, ...]) -> Any:
    """Validate a sub-document whose marks live under ``prefix`` in the file's Marks."""
    if not prefix:
        return validate(model, data, marks)
    sub = Marks(marks.file,
                {k[len(prefix):]: v for k, v in marks.values.items() if k[:len(prefix)] == prefix},
                {k[len(prefix):]: v for k, v in marks.keys.items() if k[:len(prefix)] == prefix})
    return validate(model, data, sub)
