"""Repeated signals: the first aborts (reverts, report, exit 3); the next ones only count, until the
report is written. Real runs of the CLI against a real service, with a real process fault. (The
fourth signal during a slow revert abandons it with exit 4: tests/execute/test_session.py.)"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest
from support import ROOT, run_cli, run_dirs
from test_engine import _wait_stopped, folder_for

REPORT_FILES = {"run.json", "report.html", "junit.xml", "summary.md"}


def _run(tmp_path, exp) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "run", str(exp), "--report-dir",
                             str(tmp_path / "reports")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("count,gap", [(2, 0.02), (2, 0.05), (2, 0.15), (3, 0.02)])
def test_repeated_sigints_still_revert_and_write_the_whole_report(tmp_path, web, count, gap):
    exp = folder_for(tmp_path, web, duration="60s")
    proc = _run(tmp_path, exp)
    _wait_stopped(web)
    for _ in range(count):
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 3, err
    assert web.state() != psutil.STATUS_STOPPED
    [run_dir] = run_dirs(tmp_path / "reports")
    assert REPORT_FILES <= {f.name for f in run_dir.iterdir()}, sorted(f.name for f in run_dir.iterdir())
    assert "more times to abandon reverts" in err and "Traceback" not in err
    assert run_cli("recover").stdout.strip().startswith("nothing to recover")

