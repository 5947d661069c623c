"""Webhooks: a loopback receiver gets the failure with its summary; one that hangs holds nothing past its timeout."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaosrunner.schedule import notify
from chaosrunner.schedule.model import Webhook
from chaosrunner.schedule.read import read_schedules
from chaosrunner.schedule.runner import Scheduler


class Receiver:
    """An HTTP receiver on 127.0.0.1; ``fail_first`` requests answer 500 before it accepts."""

    def __init__(self, fail_first: int = 0):
        self.bodies: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                receiver.attempts += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if receiver.attempts <= fail_first else 200
                if code == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Hanging:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def receivers():
    made = []

    def make(kind=Receiver, **kw):
        r = kind(**kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def test_failure_notification_reaches_the_receivers_and_a_hanging_one_delays_only_its_timeout(tmp_path, receivers):
    good, slack, hanging = receivers(fail_first=1), receivers(), receivers(Hanging)
    (tmp_path / "bad.yaml").write_text('name: bad-probe\nsteady_state:\n  - probe: {type: command, name: ok, '
                                       'command: "false"}\nmethod:\n  - pause: 100ms\n')
    (tmp_path / "s.yaml").write_text(f"""kind: Schedules
schedules:
  nightly:
    cron: "0 3 * * *"
    run: bad.yaml
    notify:
      - {{url: "{good.url}", format: json, on: failure, backoff: 100ms}}
      - {{url: "{slack.url}", format: slack, on: always}}
      - {{url: "{hanging.url}", on: always, timeout: 1s, retries: 1, backoff: 200ms}}
      - {{url: "{good.url}", on: regression}}
""")
    lines: list[tuple[float, str]] = []
    scheduler = Scheduler(read_schedules(tmp_path / "s.yaml"), say=lambda s: lines.append((time.monotonic(), s)),
                          state=tmp_path / "state")
    code = scheduler.run_once("nightly")
    ended = time.monotonic()
    assert code == 1
    text = "\n".join(s for _, s in lines)
    [doc] = good.bodies                                  # the 500 was retried; regression: no earlier run held
    assert good.attempts == 2
    assert (doc["entry"], doc["experiment"], doc["status"], doc["exit_code"]) == ("nightly", "bad-probe", "failed", 1)
    assert "steady state before" in doc["summary"] and doc["report"].endswith("report.html")
    [message] = slack.bodies
    assert "bad-probe* FAILED" in message["text"] and message["blocks"][1]["text"]["type"] == "mrkdwn"
    port = hanging.url.split(":")[2].split("/")[0]
    assert f"notify 127.0.0.1:{port}: failed (" in text and "after 2 attempts" in text
    finished = next(t for t, s in lines if "finished:" in s)
    # the hanging receiver: 2 attempts of 1 s and one 0.2 s backoff, and nothing more
    assert ended - finished < 2 * 1.0 + 0.2 + 1.0, text


def test_sending_from_the_scheduler_never_waits_for_the_receiver(receivers):
    hanging = receivers(Hanging)
    said: list[str] = []
    t0 = time.monotonic()
    thread = notify.send_in_background(Webhook(url=hanging.url, timeout=0.5, retries=0), {"entry": "e"}, said.append)
    assert time.monotonic() - t0 < 0.2
    thread.join(5)
    assert said and "failed" in said[0] and ("TimeoutError" in said[0] or "timed out" in said[0]), said


def test_who_is_notified_when():
    always, failure, regression = (Webhook(url="http://127.0.0.1:1/x", on=on) for on in ("always", "failure",
                                                                                         "regression"))
    assert notify.wanted(always, True, None) and not notify.wanted(failure, True, None)
    assert notify.wanted(failure, False, None)
    assert notify.wanted(regression, False, True) and not notify.wanted(regression, False, False)
    assert not notify.wanted(regression, True, True) and not notify.wanted(regression, False, None)


def test_a_secret_webhook_url_comes_from_the_environment_and_is_never_said(receivers, monkeypatch):
    good = receivers()
    monkeypatch.setenv("CHAOS_HOOK", good.url)
    hook = Webhook(url="${env:CHAOS_HOOK}", on="always")
    said: list[str] = []
    notify.send_in_background(hook, {"entry": "e", "status": "held"}, said.append).join(10)
    assert good.bodies == [{"entry": "e", "status": "held"}] and said == ["e  notify ${env:CHAOS_HOOK}: sent"]
    monkeypatch.delenv("CHAOS_HOOK")
    assert notify.send(hook, {}) == "environment variable CHAOS_HOOK is not set"
    monkeypatch.setenv("CHAOS_HOOK", "hooks.example/T000/secret")
    assert notify.send(hook, {}) == "not a valid http(s) URL"
