"""The installed vocabulary: which fault types a method's actions may have, which handles a target may carry.

Drivers own it. Each declares the models of its fault types and of the inventory handle it
needs (``chaosrunner.drivers.Driver``); ``chaosrunner.drivers.registry()`` collects the installed
drivers, built-in and plugin, and calls ``install()`` with the union of their declarations.

The models that depend on it are the public classes themselves, not copies:
``MethodStep.action`` is annotated ``Annotated[Fault, INSTALLED_FAULTS]`` and
``Inventory.targets`` ``dict[str, Annotated[Target, INSTALLED_TARGET]]``. These markers hand
pydantic, whenever it builds the schema, the discriminated union of the installed fault models
and the ``Target`` subclass with the installed handles as fields; ``install()`` rebuilds the
four models (``MethodStep``, ``Experiment``, ``ExperimentFile``, ``Inventory``), whose schemas are
deferred to their first use. So ``chaosrunner.Experiment`` validates the built-in vocabulary when
no registry was ever loaded, and every installed driver's types once one was; unknown keys
inside a plugin's fault still get their line and "did you mean" (``read.parse`` walks the
models through ``Installed.models()``). The vocabulary installed is this module's only state.
"""
from __future__ import annotations

import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, GetCoreSchemaHandler, create_model
from pydantic_core import CoreSchema

if TYPE_CHECKING:
    from chaosrunner.model.faults import Fault
    from chaosrunner.model.targets import Target


@dataclass(frozen=True)
class Vocabulary:
    """Fault models (each with its own ``type``) and handle models by inventory key."""

    faults: tuple[type[Fault], ...]
    handles: Mapping[str, type[BaseModel]] = field(default_factory=dict)

    @cached_property
    def fault_annotation(self) -> Any:
        """What a method step's ``action`` is: the discriminated union of the fault models."""
        if len(self.faults) == 1:
            return self.faults[0]
        return Annotated[typing.Union[self.faults], Field(discriminator="type")]  # noqa: UP007 - built at runtime

    @cached_property
    def target_model(self) -> type[Target]:
        """``Target``, plus a field for each handle it does not already have with that model."""
        from chaosrunner.model.targets import Target

        extra: dict[str, Any] = {}
        for key, model in self.handles.items():
            have = Target.model_fields.get(key)
            if have is None or model not in typing.get_args(have.annotation):
                extra[key] = (model | None, Field(None, description=f"the {key} handle"))
        if not extra:
            return Target
        return create_model("Target", __base__=Target, __module__=Target.__module__, **extra)


@cache
def builtin() -> Vocabulary:
    """The built-in drivers' vocabulary: what the models accept until ``install()`` is called."""
    from chaosrunner.model.faults import BUILTIN_FAULTS
    from chaosrunner.model.targets import BUILTIN_HANDLES

    return Vocabulary(BUILTIN_FAULTS, dict(BUILTIN_HANDLES))


_installed: Vocabulary | None = None
_lock = threading.Lock()


def current() -> Vocabulary:
    """The vocabulary installed (by the driver registry), else the built-in one."""
    return _installed if _installed is not None else builtin()


def install(vocabulary: Vocabulary) -> None:
    """Make ``vocabulary`` the one every experiment and inventory is validated with."""
    global _installed
    from chaosrunner.model.experiment import Experiment, ExperimentFile, MethodStep
    from chaosrunner.model.targets import Inventory

    with _lock:
        unchanged = vocabulary == current()
        _installed = vocabulary
        if unchanged:
            return          # the models are (or will be) built from an equal vocabulary
        # innermost first: a model's schema embeds those of the models it holds
        for model in (MethodStep, Experiment, ExperimentFile, Inventory):
            model.model_rebuild(force=True)


class Installed:
    """Annotation metadata: the field holds what the installed vocabulary says, decided when pydantic
    builds the schema (``install()`` has it rebuilt)."""

    def __init__(self, what: str, annotation: Callable[[Vocabulary], Any], models: Callable[[Vocabulary], Any]):
        self.what, self._annotation, self._models = what, annotation, models

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(self._annotation(current()))

    def models(self) -> list[type[BaseModel]]:
        """The model classes the field may hold now (for walking error locations)."""
        return list(self._models(current()))

    def __repr__(self) -> str:
        return f"Installed({self.what})"


INSTALLED_FAULTS = Installed("fault types", lambda v: v.fault_annotation, lambda v: v.faults)
INSTALLED_TARGET = Installed("target handles", lambda v: v.target_model, lambda v: [v.target_model])
