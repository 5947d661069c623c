"""The ledger: written before inject, struck after revert; recover handles runs that died mid-inject."""
from __future__ import annotations

import json
import signal

import psutil

from chaosrunner import api
from chaosrunner.execute import ledger
from chaosrunner.drivers import Handle


def test_entry_lifecycle(isolated_state):
    book = ledger.Ledger(run_id="r1")
    book.intend("f1", "web", "process", "process", {"spec": {}})
    [e] = book.entries()
    assert e.state == "injecting" and e.owner_alive() and not ledger.orphans()
    book.record(Handle("f1", "process", "web", "process", {"pid": 1}), {"spec": {}})
    [e] = book.entries()
    assert e.state == "active" and e.handle.data == {"pid": 1}
    book.strike("f1")
    assert book.entries() == []
    book.strike("f1")                                   # idempotent


def test_recover_reverts_a_fault_whose_run_died_mid_inject(isolated_state, web):
    """The runner wrote its intent, stopped the process, and died before writing the handle."""
    book = ledger.Ledger(run_id="dead-run")
    spec = {"type": "process", "operation": "stop", "target": "web", "signal": "SIGKILL", "duration": None,
            "background": False, "timeout": 10.0, "name": None}
    book.intend("f1", "web", "process", "process",
                {"spec": spec, "target": "web", "target_model": {"process": {"pidfile": str(web.pidfile)}}})
    path = next((isolated_state / "ledger").glob("*.json"))
    record = json.loads(path.read_text())
    record["pid"] = 999999999                           # the run is gone
    path.write_text(json.dumps(record))
    psutil.Process(web.proc.pid).send_signal(signal.SIGSTOP)
    [orphan] = ledger.orphans()
    assert orphan.handle is None
    [r] = api.recover()
    assert r.ok, r.error
    assert web.state() != psutil.STATUS_STOPPED and ledger.orphans() == []
