"""Streaming a run's records to disk as they come, so that a long run's memory stays flat.

A timeline spooled into a run folder (``Timeline.spool_to(run_dir)``) appends every sample, load
statistic and write as one JSON line to ``samples.jsonl``, ``load_stats.jsonl`` and
``writes.jsonl`` there, and keeps in memory only the last ``keep`` seconds of each (what the run
itself reads while it goes: stop conditions, the wait for recovery, live views). When the run is
over, ``Timeline.unspool()`` reads the files back whole for the analysis and run.json, which is
assembled from them; the files are then removed. A run that never got that far (a crash, a
``kill -9``) leaves them in its folder, with everything recorded until then.

An 8-hour run at 4 probes × 4 samples/s and 50 writes/s appended about 1 MB a minute to memory
before; spooled, the memory holds ``keep`` seconds (``benchmarks/memory_bench.py``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

FILES = {"samples": "samples.jsonl", "load_stats": "load_stats.jsonl", "writes": "writes.jsonl"}
TIME_OF = {"samples": "start", "load_stats": "t", "writes": "sent"}


class Spool:
    def __init__(self, folder: Path, keep: float = 300.0, trim_every: int = 1024):
        self.folder, self.keep, self.trim_every = Path(folder), keep, trim_every
        self._files: dict[str, IO[str]] = {
            name: (self.folder / fn).open("a", encoding="utf-8", buffering=1 << 16) for name, fn in FILES.items()}
        self._count = dict.fromkeys(FILES, 0)

    def append(self, name: str, record: Any, memory: list[Any], now: float) -> None:
        """Write ``record`` (one of ``memory``, already appended) and, now and then, drop from
        ``memory`` what is older than ``keep`` (called under the timeline's lock)."""
        self._files[name].write(json.dumps(record.to_dict(), default=str, separators=(",", ":")) + "\n")
        self._count[name] += 1
        if self._count[name] % self.trim_every == 0:
            self._files[name].flush()
            cutoff, attr = now - self.keep, TIME_OF[name]
            old = 0
            for r in memory:                   # appended in about time order: stop at the first recent one
                if getattr(r, attr) >= cutoff:
                    break
                old += 1
            if old:
                del memory[:old]

    def close(self) -> dict[str, list[dict[str, Any]]]:
        """Flush, close and read every record back (in the order appended)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for name, f in self._files.items():
            f.close()
            with (self.folder / FILES[name]).open(encoding="utf-8") as r:
                out[name] = [json.loads(line) for line in r if line.strip()]
        return out

    def remove(self) -> None:
        remove(self.folder)


def remove(folder: Path) -> None:
    """Remove a run folder's spool files (once run.json holds everything)."""
    for fn in FILES.values():
        (Path(folder) / fn).unlink(missing_ok=True)
