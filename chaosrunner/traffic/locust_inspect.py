"""Imports a locustfile and prints what it defines, as one JSON line (run in a subprocess).

    python locust_inspect.py LOCUSTFILE

This file runs in its own interpreter, never inside chaosrunner: importing Locust (and the
user's file) applies gevent's monkey-patching. It prints ``{"users": [...]}`` (each user class
with its ``host`` and whether it needs one) or ``{"error": "..."}`` with the exception's own
line, located in the locustfile when it happened there: ``SyntaxError: '(' was never closed
(api.py, line 3)``, ``ModuleNotFoundError: No module named 'x' (api.py, line 1)``.
"""
from __future__ import annotations

import json
import os
import sys
import traceback


def _located(exc: BaseException, path: str) -> str:
    if isinstance(exc, SyntaxError):       # its str() already says "(file, line N)"
        return f"{type(exc).__name__}: {exc}"
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == path]
    if frames:
        text += f" ({os.path.basename(path)}, line {frames[-1].lineno})"
    return text


def main(path: str) -> int:
    path = os.path.abspath(path)
    try:
        import locust  # noqa: F401 - first, as Locust itself does: it monkey-patches with gevent
        from locust import FastHttpUser, HttpUser
        from locust.util.load_locustfile import load_locustfile
    except ImportError as exc:
        print(json.dumps({"error": f"Locust is not installed for {sys.executable} ({exc}); pip install locust",
                          "locust_missing": True}))
        return 0
    try:
        user_classes, _shapes = load_locustfile(path)
    except BaseException as exc:  # noqa: BLE001 - any failure of the user's file is the answer
        print(json.dumps({"error": _located(exc, path)}))
        return 0
    users = [{"name": name, "host": getattr(cls, "host", None),
              "needs_host": issubclass(cls, (HttpUser, FastHttpUser))} for name, cls in sorted(user_classes.items())]
    print(json.dumps({"users": users}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
