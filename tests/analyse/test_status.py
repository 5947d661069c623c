"""The run status from its verdicts: a declared objective that could not be measured is not 'held'."""
import io
from pathlib import Path

import pytest
from rich.console import Console

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.analyse.judge import run_status as status_of
from chaosrunner.cli import console
from chaosrunner.cli.console import print_result
from chaosrunner.report import _view
from chaosrunner.results import RunResult


def v(name, status, kind="objective", measured="1s ± 0.25s", detail=""):
    return Verdict(name, status, "≤ 30s", measured, detail, kind=kind)


PASSED = v("steady state before", Status.PASSED, kind="hypothesis")


@pytest.mark.parametrize(("verdicts", "status", "code"), [
    ([PASSED, v("rto", Status.PASSED)], RunStatus.HELD, 0),
    ([PASSED, v("rpo", Status.UNKNOWN, measured="not read back")], RunStatus.INCONCLUSIVE, 1),
    ([PASSED, v("failover", Status.UNKNOWN, measured="no role probe")], RunStatus.INCONCLUSIVE, 1),
    ([PASSED, v("slo p99 (recovery)", Status.UNKNOWN, kind="slo", measured="—")], RunStatus.INCONCLUSIVE, 1),
    ([v("rto", Status.FAILED), v("rpo", Status.UNKNOWN)], RunStatus.FAILED, 1),
    # harmless: an unmeasured hypothesis, and objectives that do not apply (skipped), stay held
    ([PASSED, v("steady state held during faults", Status.UNKNOWN, kind="hypothesis",
                measured="no fault was injected")], RunStatus.HELD, 0),
    ([PASSED, v("rto", Status.SKIPPED, measured="no fault was injected"),
      v("failover (fault window 2)", Status.SKIPPED, measured="not needed")], RunStatus.HELD, 0),
])
def test_status_and_exit_code(verdicts, status, code):
    assert status_of(verdicts, None, []) is status
    assert status.exit_code == code
    assert RunResult("r", "x", status, Path("."), verdicts).exit_code == code


def test_abort_and_revert_failure_win_over_inconclusive():
    unknown = [v("rpo", Status.UNKNOWN)]
    assert status_of(unknown, "stop condition", []) is RunStatus.ABORTED
    assert status_of(unknown, None, ["web: still frozen"]) is RunStatus.REVERT_FAILED


def test_run_status_owns_every_exit_code_and_every_view_names_every_status():
    assert {s: s.exit_code for s in RunStatus} == {RunStatus.HELD: 0, RunStatus.FAILED: 1, RunStatus.INCONCLUSIVE: 1,
                                                  RunStatus.ABORTED: 3, RunStatus.REVERT_FAILED: 4}
    assert [s for s in RunStatus if s.good] == [RunStatus.HELD]
    assert set(console.STATUS_TEXT) == set(RunStatus) and set(_view.STATUS_TEXT) == set(RunStatus)
    assert all(isinstance(k, RunStatus) for k in (*console.STATUS_TEXT, *_view.STATUS_TEXT))
    assert RunResult("r", "x", "aborted", Path("."), []).status is RunStatus.ABORTED   # type: ignore[arg-type]


def test_console_says_inconclusive_and_names_what_was_not_measured(tmp_path):
    verdicts = [PASSED, v("rpo", Status.UNKNOWN, measured="not read back", detail="3 write(s) were not read back")]
    out = io.StringIO()
    print_result(Console(file=out, width=200, color_system=None),
                 RunResult("r1", "db", status_of(verdicts, None, []), tmp_path, verdicts))
    text = out.getvalue()
    assert "result: INCONCLUSIVE — an objective could not be measured" in text
    assert "rpo: could not be measured: not read back (3 write(s) were not read back)" in text
    assert "? unknown" in text
