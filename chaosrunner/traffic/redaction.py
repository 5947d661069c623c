"""Locust and the run's secrets: Locust is given references, and nothing it writes keeps a secret.

A secret (``${env:TOKEN}``, ``${file:key.txt}``) may be in the load's host (``http://u:${env:PW}@...``)
or in a profile's paths (``/api?key=${env:TOKEN}``). The decision:

- Locust is given the *references*, never the values, and resolves them itself: the host in
  ``CHAOSRUNNER_LOAD_HOST`` (not on its command line, which every user of the machine can read),
  the generated locustfile's host and paths as written with references (``Secrets.referenced``),
  and in ``CHAOSRUNNER_LOAD_REDACT`` the references of every secret of the run. Its plugin
  (``locust_plugin.py``) resolves them with its own environment (inherited from the runner's) and
  files: the values exist only in its memory.
- What Locust writes is redacted where it is written: the plugin redacts every cell of its CSV
  files and the names and errors it streams to the runner (before cutting them); its output goes
  through a pipe to ``LogPump``, which redacts it (``StreamRedactor``: never splitting a secret)
  into ``locust.log``. The request names of the built-in profile are the paths *as written*
  (``/api?key=${env:TOKEN}``), which name what was requested without the value.
- When Locust has exited, ``redact_files`` rewrites every file it left in the run folder with the
  run's own redaction: a second line of defence (a Locust version that writes something new), run
  where the runner is still alive. After a ``kill -9`` of the runner, Locust stops by itself; its
  files were redacted as they were written.
"""
from __future__ import annotations

import codecs
import json
import os
import threading
from pathlib import Path
from typing import IO

from chaosrunner.read.resolve import Secrets, StreamRedactor

LOCUST_FILES = ("locust.log", "locust_*.csv")


def locust_env(secrets: Secrets | None, host: str | None) -> tuple[dict[str, str], bool]:
    """The environment that gives Locust the run's secrets as references, and whether the host must go
    there (it holds a secret) rather than on the command line."""
    env: dict[str, str] = {}
    if secrets:
        env["CHAOSRUNNER_LOAD_REDACT"] = json.dumps(sorted(set(secrets.refs.values())))
    secret_host = bool(secrets and host and secrets.redact(host) != host)
    if secret_host and host is not None and secrets is not None:
        env["CHAOSRUNNER_LOAD_HOST"] = secrets.referenced(host)
    return env, secret_host


class LogPump:
    """Copies a child's output (a pipe) into a log file as it comes, redacted."""

    def __init__(self, pipe: IO[bytes], path: Path, secrets: Secrets | None):
        self.pipe, self.path = pipe, path
        self._redactor = StreamRedactor(secrets or Secrets())
        self._thread = threading.Thread(target=self._run, name="chaosrunner-load-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        with open(self.path, "a", encoding="utf-8") as log:
            while True:
                try:
                    chunk = os.read(self.pipe.fileno(), 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                log.write(self._redactor.feed(decoder.decode(chunk)))
                log.flush()
            log.write(self._redactor.feed(decoder.decode(b"", final=True)) + self._redactor.flush())
        try:
            self.pipe.close()
        except OSError:
            pass

    def join(self, timeout: float) -> None:
        """Wait until the output has ended (every process writing to the pipe is gone), at most ``timeout``."""
        self._thread.join(timeout)


def redact_files(run_dir: Path, secrets: Secrets | None) -> list[Path]:
    """Rewrite, redacted, every file Locust left in ``run_dir`` that holds a secret; the files rewritten."""
    if not secrets:
        return []
    changed = []
    for pattern in LOCUST_FILES:
        for path in sorted(run_dir.glob(pattern)):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            clean = secrets.redact(text)
            if clean != text:
                tmp = path.with_name(path.name + ".redacting")
                tmp.write_text(clean, encoding="utf-8")
                os.replace(tmp, path)
                changed.append(path)
    return changed
