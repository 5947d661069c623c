"""Load during experiments: Locust in a subprocess, per-second stats on the timeline, SLO windows.

- ``spec``: the ``load:`` section model (``LoadSpec``, ``parse_load_spec``);
- ``runner``: ``LoadRunner`` (preflight, start, stop, alive, ``on_died``);
- ``slo``: pure functions over a timeline: baseline / fault / recovery windows and their verdicts.

Nothing here imports Locust: it runs only in the subprocess (``locust_plugin.py`` is loaded by
Locust, never by chaosrunner).
"""
from __future__ import annotations

from chaosrunner.traffic.runner import LoadRunner
from chaosrunner.model.traffic import HttpProfile, LoadSpec, ShapeStage, parse_load_spec

__all__ = ["HttpProfile", "LoadRunner", "LoadSpec", "ShapeStage", "parse_load_spec"]
