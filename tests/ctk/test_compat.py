"""Every Chaos Toolkit fixture runs with `chaos run` and with `chaosrunner run` against the same loopback
service: the verdicts, each activity's outcome and the rollbacks executed are equal."""
from __future__ import annotations

import json
import urllib.request

import pytest

from support import proxy_in_front

from chaosrunner.proxy import start_in_thread

from .conftest import FIXTURES, Service, outcome, self_signed

FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".json", ".yaml"))
# the exit codes of chaosrunner for each fixture (chaos run says 1 for interrupted too)
EXPECTED = {"01": 1, "02": 0, "03": 0, "04": 1, "05": 0, "06": 1, "07": 0, "08": 0, "09": 0, "10": 0, "11": 0,
            "12": 1, "13": 0, "14": 1, "15": 3, "16": 0, "17": 1}
CHAOS_EXIT = {"17": 0}         # chaosrunner's rto objective (its extension) fails what Chaos Toolkit holds


def test_the_corpus_covers_what_it_must():
    assert len(FILES) >= 12
    text = "\n".join(p.read_text() for p in FILES)
    assert {p.suffix for p in FILES} == {".json", ".yaml"}
    for needle in ("type: python", "type: process", "type: http", "type: regex", '"type": "jsonpath"', "type: range",
                   "type: probe\n        name: is it up", "default: eu-west-1", "strategy: continuously",
                   "strategy: before-method-only", "ctkfix.control", "background: true", "ref: health",
                   "func: fail", "chaostoxi.toxic.actions", "chaosaddons.controls.safeguards", "verify_tls: false",
                   "timeout: [2, 3]", "controls:\n      - name: activity recorder", "name: chaosrunner"):
        assert needle in text, needle
    assert all(json.loads(p.read_text()) for p in FILES if p.suffix == ".json")
    assert "\t" in FILES[0].read_text()          # tab-indented JSON is JSON
    assert set(EXPECTED) == {p.name[:2] for p in FILES}


def _proxy(env):
    """The embedded fault proxy, a proxy in front of the service; the environment the fixture reads."""
    server = start_in_thread("127.0.0.1", 0)
    listen = proxy_in_front(server.api_url, "ctkfix", env.service.server_address[1])
    env.extra.update({"CTKFIX_TOXIPROXY_URL": server.api_url, "CTKFIX_PROXIED_URL": f"http://{listen}",
                      "CTKFIX_PROXY_NAME": "ctkfix"})
    return server


def _toxics(server) -> list:
    with urllib.request.urlopen(f"{server.api_url}/proxies/ctkfix/toxics", timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
@pytest.mark.parametrize("fixture", FILES, ids=[p.name for p in FILES])
def test_same_verdict_and_rollbacks_as_chaos_run(env, fixture):
    env.extra["CTKFIX_TOKEN"] = "s3cret-from-env"
    server = _proxy(env) if "toxiproxy" in fixture.name else None
    tls = Service(self_signed(env.tmp)) if "tls" in fixture.name else None
    if tls is not None:
        env.extra["CTKFIX_TLS_URL"] = tls.url
    try:
        env.service.state = "up"
        chaos, theirs = env.chaos(fixture)
        control_calls = env.control_log.read_text() if env.control_log.exists() else ""
        env.control_log.unlink(missing_ok=True)
        if server is not None:
            assert _toxics(server) == []             # chaos run's rollback removed its toxic
        env.service.state = "up"
        mine_proc, mine = env.chaosrunner(fixture)
        if server is not None:
            assert _toxics(server) == []             # and so did ours
    finally:
        if server is not None:
            server.stop()
        if tls is not None:
            tls.shutdown()
            tls.server_close()
    assert outcome(mine) == outcome(theirs), (mine_proc.stdout, mine_proc.stderr)
    assert mine_proc.returncode == EXPECTED[fixture.name[:2]], mine_proc.stderr
    assert chaos.returncode == CHAOS_EXIT.get(fixture.name[:2], 0 if EXPECTED[fixture.name[:2]] == 0 else 1)
    [summary] = json.loads(mine_proc.stdout)
    assert summary["verdicts"][0]["name"] == "chaos toolkit verdict"
    if "controls" in fixture.name:
        mine_calls = env.control_log.read_text()
        assert mine_calls == control_calls and "before method" in mine_calls and "after rollback" in mine_calls
        lines = mine_calls.splitlines()
        assert lines[0] == "configure" and lines.index("before experiment") < lines.index("before method")
        assert mine_calls.count("before activity wait") == 2          # the activity-level control too
    if "configuration" in fixture.name:
        records = env.service.records
        assert len(records) == 2 and records[0] == records[1]      # the same for both runners
        assert records[1]["configuration"]["region"] == "eu-west-1"  # the env default
        assert records[1]["secrets"]["token"] == "s3cret-from-env"
    if "extension" in fixture.name:
        rto = next(v for v in summary["verdicts"] if v["name"] == "rto")
        assert rto["status"] == "failed" and 0.8 < rto["value"] < 3, rto        # the 1 s outage, ± sampling
    if "tls" in fixture.name:
        assert outcome(mine)["before"] is True and outcome(mine)["after"] is True   # verify_tls: false honoured
    if "toxiproxy" in fixture.name:
        assert outcome(mine)["rollbacks"] == [("remove latency", "succeeded")]
        assert outcome(mine)["deviated"] is True                  # the latency was there: the probe timed out
