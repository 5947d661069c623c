"""``RunResult``: what ``chaosrunner.run`` returns for one experiment — status, exit code, verdicts, its record."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Verdict
from chaosrunner.results.migrate import run_record
from chaosrunner.results.record import RunRecord


@dataclass
class RunResult:
    run_id: str
    name: str
    status: RunStatus
    run_dir: Path
    verdicts: list[Verdict]
    record: RunRecord | None = field(repr=False, default=None)   # the typed run.json (secrets redacted)
    abort_reason: str | None = None
    _document: tuple[RunRecord, dict[str, Any]] | None = field(repr=False, default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    @property
    def data(self) -> dict[str, Any]:
        """The record as plain JSON values, as run.json holds it (``{}`` before the run wrote it)."""
        if self.record is None:
            return {}
        if self._document is None or self._document[0] is not self.record:
            self._document = (self.record, self.record.document())
        return self._document[1]

    @data.setter
    def data(self, value: RunRecord | dict[str, Any]) -> None:
        self.record = value if isinstance(value, RunRecord) else run_record(value)

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "experiment": self.name, "status": self.status.value,
                "exit_code": self.exit_code, "run_dir": str(self.run_dir), "abort_reason": self.abort_reason,
                "verdicts": [v.to_dict() for v in self.verdicts]}
