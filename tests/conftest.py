"""Fixtures shared by the whole suite: an isolated ledger per test, a real local service."""
from __future__ import annotations

import pytest

from support import Web


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch):
    """Every test gets its own fault ledger, so tests never see each other's faults."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("CHAOSRUNNER_STATE_DIR", str(state))
    return state


@pytest.fixture
def web(tmp_path):
    """A real HTTP service on a free loopback port, with a pid file (a process target)."""
    w = Web(tmp_path)
    yield w
    w.stop()


def pytest_sessionfinish(session, exitstatus):
    """In CI every dependency is installed by scripts/setup: a skipped test means a missing install
    step, and must fail the run instead of hiding behind a skip."""
    import os

    if hasattr(session.config, "workerinput"):     # a pytest-xdist worker: the controller counts for all
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if os.environ.get("CI") and skipped and session.exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; in CI nothing may be skipped "
                            "(a dependency is missing: see scripts/setup)", red=True)
        session.exitstatus = 1


def pytest_configure(config):
    """Every run.json this session writes must be a valid run record: checked when it ends (run_records.py)."""
    import run_records

    if not config.pluginmanager.is_registered(run_records):
        config.pluginmanager.register(run_records, "chaosrunner-run-records")
