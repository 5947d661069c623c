"""Locust and the run's secrets: it is given references (in its environment, never on its command line or
in the generated locustfile) and resolves them itself; files it leaves are redacted once it is gone."""
from __future__ import annotations

import json
from pathlib import Path

from chaosrunner.read.resolve import Secrets
from chaosrunner.timeline import Timeline
from chaosrunner.traffic.redaction import redact_files
from chaosrunner.traffic.runner import LoadRunner

TOKEN, PASSWORD = "tok-0123456789abcdefXYZ", "pw-ABCDEFGHIJKLMNOPQRS"


def run_secrets(monkeypatch) -> Secrets:
    monkeypatch.setenv("CR_LOAD_TOKEN", TOKEN)
    monkeypatch.setenv("CR_LOAD_PW", PASSWORD)
    s = Secrets()
    s.add(TOKEN, "${env:CR_LOAD_TOKEN}")
    s.add(PASSWORD, "${env:CR_LOAD_PW}")
    return s


def test_locust_gets_references_only(tmp_path: Path, delay_server, monkeypatch) -> None:
    secrets = run_secrets(monkeypatch)
    host = delay_server.url.replace("http://", f"http://user:{PASSWORD}@")
    r = LoadRunner({"http": {"host": host, "paths": [f"/a?key={TOKEN}", "/b$x"]}, "users": 1}, tmp_path, Timeline(),
                   secrets=secrets)
    r.preflight()
    argv, env = r.command("127.0.0.1:1")
    ours = {k: v for k, v in env.items() if k.startswith("CHAOSRUNNER_")}
    assert not any(TOKEN in a or PASSWORD in a for a in argv) and "--host" not in argv
    assert not any(TOKEN in v or PASSWORD in v for v in ours.values())
    assert ours["CHAOSRUNNER_LOAD_HOST"] == delay_server.url.replace("http://", "http://user:${env:CR_LOAD_PW}@")
    assert sorted(json.loads(ours["CHAOSRUNNER_LOAD_REDACT"])) == ["${env:CR_LOAD_PW}", "${env:CR_LOAD_TOKEN}"]
    generated = r.locustfile.read_text()
    assert TOKEN not in generated and PASSWORD not in generated
    assert 'PATHS = ["/a?key=${env:CR_LOAD_TOKEN}", "/b$$x"]' in generated          # resolved by the plugin
    assert 'NAMES = ["/a?key=${env:CR_LOAD_TOKEN}", "/b$x"]' in generated           # what the statistics show


def test_a_host_without_a_secret_stays_on_the_command_line(tmp_path: Path, delay_server, monkeypatch) -> None:
    r = LoadRunner({"http": {"host": delay_server.url, "paths": ["/a"]}, "users": 1}, tmp_path, Timeline(),
                   secrets=run_secrets(monkeypatch))
    r.preflight()
    argv, env = r.command("127.0.0.1:1")
    assert argv[argv.index("--host") + 1] == delay_server.url and "CHAOSRUNNER_LOAD_HOST" not in env


def test_files_locust_left_are_redacted(tmp_path: Path, monkeypatch) -> None:
    secrets = run_secrets(monkeypatch)
    (tmp_path / "locust_stats.csv").write_text(f"GET,/a?key={TOKEN},1\n")
    (tmp_path / "locust.log").write_text(f"error for http://user:{PASSWORD}@h/\n")
    (tmp_path / "notes.txt").write_text(TOKEN)               # not a file of Locust's: left alone
    changed = redact_files(tmp_path, secrets)
    assert sorted(p.name for p in changed) == ["locust.log", "locust_stats.csv"]
    assert (tmp_path / "locust_stats.csv").read_text() == "GET,/a?key=***,1\n"
    assert (tmp_path / "locust.log").read_text() == "error for http://user:***@h/\n"
    assert (tmp_path / "notes.txt").read_text() == TOKEN
