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
