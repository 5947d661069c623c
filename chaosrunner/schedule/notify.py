"""Webhooks after a scheduled run: a Slack-compatible message or a generic JSON document, retried with backoff.

A notification never fails the run and never holds the scheduler: each one is sent from its own
thread, every attempt bounded by the webhook's ``timeout``; after ``retries`` failed attempts
(backoff doubling from ``backoff``) it is given up, and the scheduler logs one line saying so.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from chaosrunner.analyse.status import RunStatus
from chaosrunner.results.history import History
from chaosrunner.schedule.model import ENV_REF, NotifyOn, Webhook

SLACK_TEXT_LIMIT = 3000


def wanted(hook: Webhook, held: bool, previous_held: bool | None) -> bool:
    """Whether a run's outcome is one ``hook.on`` asks about."""
    if hook.on is NotifyOn.ALWAYS:
        return True
    if hook.on is NotifyOn.FAILURE:
        return not held
    return not held and previous_held is True          # regression: it held last time


def body(hook: Webhook, doc: dict[str, Any]) -> bytes:
    """The request body: the generic document, or Slack's ``{text, blocks}`` (incoming webhooks, Mattermost)."""
    if hook.format == "json":
        return json.dumps(doc, default=str).encode()
    mark = "✅" if doc.get("status") == "held" else "❌"
    head = (f"{mark} chaosrunner: *{doc.get('experiment')}* {str(doc.get('status', '')).upper()} "
            f"(exit {doc.get('exit_code')}) — schedule entry `{doc.get('entry')}`, run `{doc.get('run_id')}`")
    summary = str(doc.get("summary") or "")[:SLACK_TEXT_LIMIT]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    if summary:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": summary}})
    return json.dumps({"text": head + ("\n" + summary if summary else ""), "blocks": blocks}).encode()


def send(hook: Webhook, doc: dict[str, Any], sleep: Callable[[float], None] = time.sleep) -> str | None:
    """Post ``doc`` (retrying); None when delivered, else why not (the last attempt's error)."""
    data = body(hook, doc)
    try:
        url = _env(hook.url)
        headers = {k: _env(v) for k, v in hook.headers.items()}
    except KeyError as exc:
        return f"environment variable {exc.args[0]} is not set"
    error = "not sent"
    delay = hook.backoff
    for attempt in range(hook.retries + 1):
        if attempt:
            sleep(delay)
            delay *= 2
        try:
            req = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "chaosrunner",
                                                  **headers})
            with urllib.request.urlopen(req, timeout=hook.timeout) as resp:
                if 200 <= resp.status < 300:
                    return None
                error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except OSError as exc:                         # refused, timed out, reset
            error = f"{type(exc).__name__}: {exc}"
        except ValueError:                             # its text would hold the URL, maybe a secret one
            return "not a valid http(s) URL"
    return f"{error} after {hook.retries + 1} attempts"


def _env(text: str) -> str:
    """``${env:NAME}`` replaced by the variable's value (KeyError: not set)."""
    return ENV_REF.sub(lambda m: os.environ[m.group(1)], text)


def host_of(hook: Webhook) -> str:
    """What the log may say of a webhook: its host, never its path (a Slack URL's path is its secret)."""
    m = re.match(r"^https?://([^/\s]+)", hook.url)
    return m.group(1) if m else hook.url            # ${env:NAME}: the reference, not the value


def send_in_background(hook: Webhook, doc: dict[str, Any], say: Callable[[str], None]) -> threading.Thread:
    """``send`` from a daemon thread; its outcome is said in one line."""
    def go() -> None:
        try:
            failure = send(hook, doc)
        except Exception as exc:  # noqa: BLE001 - a notification must never take the scheduler down
            failure = f"{type(exc).__name__}: {exc}"
        say(f"{doc.get('entry')}  notify {host_of(hook)}: " + ("sent" if failure is None else f"failed ({failure})"))

    thread = threading.Thread(target=go, name="chaosrunner-notify", daemon=True)
    thread.start()
    return thread


def longest(hooks: list[Webhook]) -> float:
    """The longest a webhook can take (every attempt timing out, every backoff slept)."""
    return max((h.timeout * (h.retries + 1) + h.backoff * (2 ** h.retries - 1) for h in hooks), default=0.0)


def notify_run(hooks: list[Webhook], report_dir: Path, schedule: str, entry: str, result: dict[str, Any],
               say: Callable[[str], None]) -> list[threading.Thread]:
    """Send a finished run's document to each hook that asks about its outcome; the threads sending."""
    held = result.get("status") == RunStatus.HELD.value
    previous = _previous_held(report_dir, result)
    doc = {"schedule": schedule, "entry": entry, **result, "summary": _summary(result), "report": _report(result)}
    return [send_in_background(hook, doc, say) for hook in hooks if wanted(hook, held, previous)]


def _summary(result: dict[str, Any]) -> str:
    run_dir = result.get("run_dir")
    if not run_dir:
        return ""
    try:
        return (Path(run_dir) / "summary.md").read_text(encoding="utf-8")
    except OSError:
        return ""


def _report(result: dict[str, Any]) -> str | None:
    run_dir = result.get("run_dir")
    return str(Path(run_dir) / "report.html") if run_dir else None


def _previous_held(report_dir: Path, result: dict[str, Any]) -> bool | None:
    """Whether the run of the same experiment before this one held (None: no earlier run)."""
    try:
        with History.open(report_dir) as h:
            rows = h.rows(experiment=result.get("experiment"))
    except Exception:  # noqa: BLE001
        return None
    ids = [r.run_id for r in rows]
    if result.get("run_id") in ids:
        i = ids.index(result["run_id"])
        return rows[i + 1].status is RunStatus.HELD if i + 1 < len(rows) else None
    return rows[0].status is RunStatus.HELD if rows else None
