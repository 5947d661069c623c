"""Checks of a load setup that need no fault and no running Locust: the locustfile and the host.

- ``inspect_locustfile(path)`` imports the file in a separate interpreter
  (``locust_inspect.py``: Locust and the user's code never enter chaosrunner's process) and
  returns its user classes with their own ``host``; a file that does not import or defines no
  user class is a ``LoadInputError`` about ``load.locustfile``. It takes about a second, so
  the planner only checks that the file exists; ``validate`` and ``run`` call this.
- ``check_host_reachable(url)`` opens one TCP connection to the host's port.
- ``warmup_failure(...)`` explains a warm-up in which every request failed (nothing listens,
  or every answer is an error), before anything is injected.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chaosrunner.model.traffic import LoadInputError

INSPECTOR = Path(__file__).with_name("locust_inspect.py")
LOCUSTFILE = ("locustfile",)
USER_CLASS_HINT = "define a subclass of locust.HttpUser, FastHttpUser or User with @task methods"


@dataclass(frozen=True)
class UserClass:
    name: str
    host: str | None
    needs_host: bool          # an HttpUser or FastHttpUser: it cannot run without a base URL


def inspect_locustfile(path: Path, python: str | None = None, timeout: float = 90.0,
                       written: str | None = None) -> list[UserClass]:
    """The user classes of a locustfile (LoadInputError when it is missing, broken or empty).

    ``written`` is the path as the experiment gives it (for the message).
    """
    if not path.is_file():
        raise LoadInputError(f"load.locustfile {written or str(path)!r} does not exist (looked for {path})", LOCUSTFILE,
                             "the path is relative to the experiment file")
    try:
        proc = subprocess.run([python or sys.executable, str(INSPECTOR), str(path)], capture_output=True, text=True,
                              timeout=timeout, cwd=str(path.parent), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LoadInputError(f"load.locustfile {path}: importing it took more than {timeout:g}s", LOCUSTFILE,
                             "a locustfile should not do work at import time") from None
    answer = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    try:
        data = json.loads(answer) if answer else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise LoadInputError(f"load.locustfile {path} could not be inspected (exit {proc.returncode}: {last})",
                             LOCUSTFILE)
    if "error" in data:
        if data.get("locust_missing"):
            raise LoadInputError(str(data["error"]), LOCUSTFILE)
        raise LoadInputError(f"load.locustfile {path.name} does not import: {data['error']}", LOCUSTFILE,
                             "run `python " + path.name + "` to see the whole error")
    users = [UserClass(str(u["name"]), u.get("host"), bool(u.get("needs_host"))) for u in data.get("users", [])]
    if not users:
        raise LoadInputError(f"load.locustfile {path.name} defines no Locust User class", LOCUSTFILE, USER_CLASS_HINT)
    return users


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise LoadInputError(f"load host {url!r} is not a URL", (), "write e.g. http://127.0.0.1:8080")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def check_host_reachable(url: str, timeout: float = 3.0, field: tuple[str, ...] = ("host",),
                         hint: str = "start the service or fix load.host before running") -> None:
    """Raise LoadInputError when nothing accepts TCP connections at the URL's host and port."""
    host, port = host_port(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise LoadInputError(f"load host {url} is not reachable ({host}:{port}: {reason})", field, hint) from None


def warmup_failure(requests: int, failures: int, errors: dict[str, int], hosts: list[str]) -> LoadInputError:
    """The error for a warm-up in which every completed request failed."""
    sample = max(errors, key=lambda e: errors[e]) if errors else "no error message was reported"
    url = re.search(r"https?://[^\s/'\"]+", sample)         # a request to an absolute URL names its own host
    where = url.group(0) if url else ", ".join(hosts) if hosts else "the locustfile's host"
    refused = "refused" in sample.lower()
    what = f"nothing listens on {where}" if refused else f"every answer from {where} was an error"
    return LoadInputError(f"every request of the load's warm-up failed ({failures} of {requests}), e.g. {sample}: "
                          f"{what}; nothing was injected", (),
                          "start the service or fix load.host" if refused else
                          "check the service (the steady state is broken before any fault) or load.host")
