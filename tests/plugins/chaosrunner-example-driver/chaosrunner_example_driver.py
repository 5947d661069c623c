"""chaosrunner-example-driver: a third-party driver that brings a fault type of its own.

``flag-file`` writes a file into the target's flag directory while the fault lasts — the
maintenance marker or feature flag a service watches — and removes it on revert::

    # inventory                                # experiment
    targets:                                   method:
      web: {flagdir: {path: /srv/web/flags}}     - action: {type: flag-file, target: web, path: maintenance,
                                                            content: "on", duration: 30s}

The driver declares its fault model (``FlagFileFault``: ``type: Literal["flag-file"]`` plus its
parameters) and its inventory handle (``flagdir`` with the ``FlagDir`` model); chaosrunner
validates both when it loads the entry point, and its experiment and inventory models then
accept them, with the same located errors as the built-in ones.
"""
from __future__ import annotations

import time
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chaosrunner.drivers import Driver, Fault, Handle, PlannedFault
from chaosrunner.errors import DriverError, PlanError
from chaosrunner.model.base import Duration


class FlagDir(BaseModel):
    """The ``flagdir:`` handle of a target: the directory its flags live in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(..., description="the directory the target's service watches for flag files")

    def addresses(self) -> list[str]:
        return []               # a directory on this machine: nothing beyond loopback


class FlagFileFault(Fault):
    """A flag file present while the fault lasts."""

    type: Literal["flag-file"]
    path: str = Field(..., description="the flag file, relative to the target's flag directory")
    content: str = Field("on", description="what the file holds")
    settle: Duration = Field(0.0, description="how long inject waits after writing, for the watcher to notice")

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        p = PurePosixPath(value)
        if not value or p.is_absolute() or ".." in p.parts:
            raise ValueError(f"{value!r} is not a path inside the flag directory; write e.g. maintenance")
        return value


class FlagFileDriver(Driver):
    name = "flag-file"
    fault_models = (FlagFileFault,)
    handle = "flagdir"
    handle_model = FlagDir

    def _file(self, fault: PlannedFault) -> Path:
        flags: FlagDir = fault.handle()
        return Path(flags.path) / fault.spec.path

    def check(self, fault: PlannedFault) -> None:
        directory = self._file(fault).parent
        if not directory.is_dir():
            raise PlanError(f"flag directory {directory} of {fault.target_name!r} does not exist",
                            hint="create it, or fix flagdir.path in the inventory")

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        file = self._file(fault)
        return (f"write {file} ({fault.spec.content!r})", f"remove {file}")

    def inject(self, fault: PlannedFault) -> Handle:
        file = self._file(fault)
        try:
            with open(file, "x", encoding="utf-8") as f:         # never take over a flag someone else set
                f.write(fault.spec.content)
        except FileExistsError:
            raise DriverError(f"{file} exists already: someone else set that flag", target=fault.target_name,
                              fault=fault.type) from None
        except OSError as exc:
            raise DriverError(f"cannot write {file}: {exc.strerror}", target=fault.target_name,
                              fault=fault.type) from exc
        time.sleep(fault.spec.settle)
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, {"file": str(file)})

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        # inject refuses a file that exists: whatever is there after a crash mid-inject is ours
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, {"file": str(self._file(fault))})

    def revert(self, handle: Handle) -> None:
        Path(handle.data["file"]).unlink(missing_ok=True)
