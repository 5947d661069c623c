"""The status of a run (or a game day, or a step of a schedule), and the exit code each one means."""
from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    HELD = "held"                    # every hypothesis and declared objective was measured and passed
    FAILED = "failed"                # a hypothesis or objective failed
    INCONCLUSIVE = "inconclusive"    # nothing failed, but a declared objective could not be measured
    ABORTED = "aborted"              # a stop condition, a signal, or a fault that could not be injected
    REVERT_FAILED = "revert_failed"  # a fault could not be reverted: needs a human (`chaosrunner recover`)

    @property
    def exit_code(self) -> int:
        """0 held · 1 failed or inconclusive (a CI gate must not pass on a number the run does not
        have) · 3 aborted · 4 a revert failed."""
        return _EXIT_CODES[self]

    @property
    def good(self) -> bool:
        return self is RunStatus.HELD


_EXIT_CODES = {RunStatus.HELD: 0, RunStatus.FAILED: 1, RunStatus.INCONCLUSIVE: 1, RunStatus.ABORTED: 3,
               RunStatus.REVERT_FAILED: 4}
