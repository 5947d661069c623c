"""Reading risk registers, finding the one that applies to a file, and the risks files declare.

Which register applies to an experiment or game day file (the first that exists):

1. the file named by ``$CHAOSRUNNER_RISK_REGISTER`` (an empty value: none, ids are not checked);
2. ``risks.yaml`` in the file's folder, or in the nearest folder above it, up to the project root
   (the first folder holding ``.git``) — ``experiments/x.yaml`` in this repository finds the
   ``risks.yaml`` at its root.

With no register, the ids a file declares are recorded as written and not checked.
``chaosrunner risks --register FILE`` names the register it reports on. ``check_risk_ids`` is what
the reader (``read.parse.validate``) gives the models to check a file's ``risks:`` with.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from chaosrunner.errors import ConfigError, suggest
from chaosrunner.model.base import FieldError
from chaosrunner.model.risks import RiskRegister

REGISTER_FILE = "risks.yaml"
REGISTER_ENV = "CHAOSRUNNER_RISK_REGISTER"


def read_register(path: Path | str) -> RiskRegister:
    """The register in ``path``; a ConfigError at the file and line of anything wrong."""
    path = Path(path)
    try:
        stat = path.stat()
        key: tuple[Any, ...] = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (str(path), None, None)            # read_yaml says what is wrong with it
    return _read_register(*key, shown=str(path))


@lru_cache(maxsize=16)
def _read_register(resolved: str, mtime: int | None, size: int | None, shown: str) -> RiskRegister:
    from chaosrunner.read.parse import read_yaml, validate     # parse imports this module: at first use

    data, marks = read_yaml(Path(shown))
    if not isinstance(data, dict) or data.get("kind") != "RiskRegister":
        raise ConfigError("a risk register is a mapping with `kind: RiskRegister` and `risks:`",
                          marks.at(("kind",)) if isinstance(data, dict) else marks.at(()),
                          "add `kind: RiskRegister` (see risks.yaml at the root of chaosrunner's repository)")
    return validate(RiskRegister, data, marks)


def find_register(start: Path | str) -> Path | None:
    """The register that applies to files in folder ``start`` (see the module's docstring)."""
    if REGISTER_ENV in os.environ:
        named = os.environ[REGISTER_ENV].strip()
        return Path(named) if named else None
    folder = Path(start).resolve()
    for d in (folder, *folder.parents):
        candidate = d / REGISTER_FILE
        if candidate.is_file():
            return candidate
        if (d / ".git").exists():
            return None
    return None


def register_for(file: Path | str) -> tuple[Path, RiskRegister] | None:
    """The register that applies to the experiment or game-day ``file``, read (None: there is none)."""
    path = find_register(Path(file).parent)
    if path is None:
        return None
    if not path.exists():
        raise ConfigError(f"the risk register {path} named by ${REGISTER_ENV} does not exist", None,
                          f"fix the path, or unset {REGISTER_ENV}")
    return path, read_register(path)


def unknown_risk(risk_id: str, index: int, path: Path, register: RiskRegister) -> FieldError:
    """The error of an id the register does not hold (located at the id by the reader)."""
    near = suggest(risk_id, register.ids())
    listed = ", ".join(register.ids())
    return FieldError(f"risk {risk_id!r} is not in the risk register {path}", index,
                      hint=(f"did you mean {near!r}? " if near else "") + f"the register lists: {listed}")


def check_risk_ids(file: str) -> Callable[[list[str]], None]:
    """The check of the ids a model read from ``file`` declares: each must be in the register that applies."""
    def check(ids: list[str]) -> None:
        found = register_for(file)
        if found is None:
            return
        path, register = found
        for i, risk_id in enumerate(ids):
            if register.get(risk_id) is None:
                raise unknown_risk(risk_id, i, path, register)
    return check
