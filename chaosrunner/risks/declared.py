"""What experiment and game-day files declare: the risks each says it verifies (a light read)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from chaosrunner.errors import ConfigError
from chaosrunner.read.parse import read_yaml


@dataclass(frozen=True)
class Declared:
    """An experiment or game day in a file, and the risks it says it verifies."""

    name: str
    kind: str                      # Experiment | GameDay
    file: Path
    risks: tuple[str, ...]


def declared_in(folders: list[Path]) -> list[Declared]:
    """Every experiment and game day of the YAML files in ``folders`` with the risks it declares.

    A light read (the YAML, not the whole validation): a file that cannot be read is left out, with
    a line on stderr; ``chaosrunner validate`` says what is wrong with it."""
    out: list[Declared] = []
    for folder in folders:
        for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                data, _ = read_yaml(file)
            except ConfigError as exc:
                print(f"chaosrunner: {file} is left out: {exc.message}", file=sys.stderr)
                continue
            if not isinstance(data, dict):
                continue
            items = data["experiments"] if isinstance(data.get("experiments"), list) else [data]
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                risks = item.get("risks")
                ids = tuple(str(r) for r in risks) if isinstance(risks, list) else ()
                out.append(Declared(item["name"], "GameDay" if item.get("kind") == "GameDay" else "Experiment",
                                    file, ids))
    return out
