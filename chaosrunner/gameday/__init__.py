"""Game days (``kind: GameDay``): a runbook of phases and steps on the fault session — ``model``
(the file format), ``read`` (checked and planned before anything starts), ``script`` (the phases
on a ``FaultSession``), ``run`` (session, record, review), ``review`` (review.md), ``cli``."""
from __future__ import annotations

from chaosrunner.gameday.read import LoadedGameDay, read_gameday
from chaosrunner.gameday.run import GameDayOptions, run_gameday

__all__ = ["GameDayOptions", "LoadedGameDay", "read_gameday", "run_gameday"]
