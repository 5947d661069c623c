"""``--time-scale F``: an experiment run on a compressed (or stretched) clock, its file unchanged.

What chaosrunner itself waits for is multiplied by ``F``: each fault's ``duration``, each
``pause:`` of the method and the rollbacks, and the load's ``run_time`` and shape stages. What
the run measures *against* is not: objectives (RTO, failover, SLOs), probe timeouts, sampling,
stop conditions and the recovery timeout are properties of the system under test, and a system
does not fail over ten times faster because the drill is shorter. So the seed's five-minute
partition runs for three seconds at ``--time-scale 0.01`` and is still judged on a 30 s failover.

The run record says so in a note, which the report shows.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from chaosrunner.model.experiment import Experiment, MethodStep
from chaosrunner.read.documents import LoadedExperiment

MIN_SCALE, MAX_SCALE = 0.001, 100.0


def _step(step: MethodStep, scale: float) -> MethodStep:
    if step.pause is not None:
        return step.model_copy(update={"pause": step.pause * scale})
    action = step.action
    duration = getattr(action, "duration", None)
    if action is not None and duration is not None:
        return step.model_copy(update={"action": action.model_copy(update={"duration": duration * scale})})
    return step


def scaled_model(model: Experiment, scale: float) -> Experiment:
    """The experiment with every duration chaosrunner waits for multiplied by ``scale``."""
    update: dict[str, Any] = {"method": [_step(s, scale) for s in model.method],
                              "rollback": [_step(s, scale) for s in model.rollback]}
    if model.load is not None:
        load: dict[str, Any] = {}
        if model.load.run_time is not None:
            load["run_time"] = model.load.run_time * scale
        if model.load.shape:
            load["shape"] = [st.model_copy(update={"duration": st.duration * scale}) for st in model.load.shape]
        update["load"] = model.load.model_copy(update=load)
    return model.model_copy(update=update)


def compress(exp: LoadedExperiment, scale: float) -> LoadedExperiment:
    """``exp`` on a clock ``scale`` times as fast (``scale`` < 1 shortens); 1 returns it unchanged."""
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"a time scale is between {MIN_SCALE:g} and {MAX_SCALE:g}, got {scale:g}")
    if scale == 1:
        return exp
    return replace(exp, model=scaled_model(exp.model, scale), time_scale=scale)


def note(scale: float) -> str:
    """What the record and the report say about a compressed clock."""
    return (f"compressed clock: --time-scale {scale:g} (fault durations, pauses and load ×{scale:g}; objectives, "
            "probe timeouts, sampling and stop conditions as written)")
