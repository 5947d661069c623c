"""Observing an existing (distributed) Locust master through its web UI (``load.master``).

chaosrunner does not drive that Locust: its users, workers and locustfile belong to whoever runs
it. Once a second the observer reads ``GET /stats/requests`` from the master's web UI and turns
it into ``LoadStat`` rows:

- requests and failures per interval are exact (differences of the master's cumulative counts);
- the Aggregated p50/p95 are Locust's "current" percentiles: a sliding window of about 10 s
  at the master, fed by worker reports every 3 s, so they lag and smooth the real
  per-second values; per-endpoint percentiles are not available there (None), nor is p99
  unless that master charts it (``PERCENTILES_TO_CHART``): the rows' p99 stays None and the
  p99 SLO verdicts are UNKNOWN (``slo.py``), never judged on the p95;
- ``t`` is when the reading arrived, not when the requests completed. The observer polls once
  a second (a reading reaches the timeline within 1 s of the master publishing it), but the
  master publishes at most every 2 s (its web UI caches ``/stats/requests`` for 2 s) and
  its workers report every 3 s, so a latency change shows up 0-5 s late in the timeline.

At ``stop()`` the master's ``/stats/requests/csv`` and ``/stats/failures/csv`` are saved in the
run folder as ``locust_stats.csv`` and ``locust_failures.csv`` (the names the local runner's
Locust writes), while that master still answers.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from collections.abc import Callable

from chaosrunner.errors import LoadError
from chaosrunner.timeline import EventKind, LoadStat, Timeline

AGGREGATED = "Aggregated"
CSV_FILES = {"/stats/requests/csv": "locust_stats.csv", "/stats/failures/csv": "locust_failures.csv"}


def _base(address: str) -> str:
    return address.rstrip("/") if address.startswith(("http://", "https://")) else f"http://{address}"


def _get(url: str, timeout: float) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - URL from the experiment
        return json.loads(resp.read())


class MasterObserver:
    def __init__(self, address: str, timeline: Timeline, on_died: Callable[[str], None], interval: float = 1.0,
                 max_failures: int = 3, run_dir: str | Path | None = None):
        self.base = _base(address)
        self.url = self.base + "/stats/requests"
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.timeline, self.on_died, self.interval, self.max_failures = timeline, on_died, interval, max_failures
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._prev: dict[str, tuple[int, int]] = {}
        self._alive = False

    @staticmethod
    def check(address: str) -> None:
        url = _base(address) + "/stats/requests"
        try:
            data = _get(url, 3.0)
        except (OSError, ValueError) as exc:
            raise LoadError(f"load.master {address}: no Locust web UI answers at {url} ({exc})") from None
        if "stats" not in data:
            raise LoadError(f"load.master {address}: {url} did not answer like a Locust master")

    def start(self) -> None:
        self._alive = True
        self._thread = threading.Thread(target=self._loop, name="chaosrunner-locust-observer", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._alive

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self.run_dir is not None and self._alive:
            self.save_csvs(self.run_dir)
        self._alive = False

    def save_csvs(self, run_dir: Path) -> list[Path]:
        """The master's request and failure statistics, as CSV files in ``run_dir``."""
        saved = []
        for path, name in CSV_FILES.items():
            try:
                with urllib.request.urlopen(self.base + path, timeout=5) as resp:  # noqa: S310 - the experiment's
                    body = resp.read()
            except OSError as exc:
                self.timeline.event(EventKind.ERROR, where="load", error=f"could not save {self.base}{path}: {exc}")
                continue
            (run_dir / name).write_bytes(body)
            saved.append(run_dir / name)
        return saved

    def _loop(self) -> None:
        failures = 0
        next_at = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval
            try:
                data = _get(self.url, min(2.0, self.interval * 2))
                failures = 0
            except (OSError, ValueError) as exc:
                failures += 1
                if failures >= self.max_failures:
                    self._alive = False
                    self.on_died(f"the Locust master at {self.url} stopped answering: {exc}")
                    return
                continue
            self._record(data, self.timeline.now())

    def _record(self, data: dict[str, Any], t: float) -> None:
        pct = data.get("current_response_time_percentiles") or {}
        for entry in data.get("stats", []):
            name = entry.get("name", "")
            key = AGGREGATED if name == AGGREGATED else f"{entry.get('method') or ''} {name}".strip()
            n, f = int(entry.get("num_requests", 0)), int(entry.get("num_failures", 0))
            pn, pf = self._prev.get(key, (n, f)) if self._prev else (n, f)
            self._prev[key] = (n, f)
            dn, df = max(0, n - pn), max(0, f - pf)
            aggregated = key == AGGREGATED
            self.timeline.add_load_stat(LoadStat(
                t=t, name=key, requests=dn, failures=df, rps=dn / self.interval,
                p50=pct.get("response_time_percentile_0.5") if aggregated else None,
                p95=pct.get("response_time_percentile_0.95") if aggregated else None,
                p99=pct.get("response_time_percentile_0.99") if aggregated else None, avg=None, max=None))
