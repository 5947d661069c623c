"""The ``check`` steps that look outside the probes' samples, judged the moment the step runs.

- ``{promql: EXPR, below|above|equals: X}``: the query, asked of Prometheus (``prometheus:`` or the
  inventory's) through the ``metric`` probe's PromQL client (``chaosrunner.probes.metric``);
  every series of the instant value must be in bounds; no series, an error or an unreachable
  server is a failed check that says why.
- ``{rpo: D}`` / ``{lost_writes: N}``: "so far" — every write the run's writer had acknowledged
  when the step began is read back now, through a connection of its own to the writer's store
  (``writer.core.make_sink``; the writer goes on writing), and judged with
  ``analyse.integrity`` (lost = acknowledged but missing or corrupted; RPO as defined there).
  A store that does not answer within ``READBACK_TIMEOUT`` makes the check fail as not measured.
The verdicts themselves are pure (``analyse.gameday.judge_value``, ``judge_writes``).
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from chaosrunner.analyse.gameday import judge_value, judge_writes
from chaosrunner.analyse.integrity import integrity
from chaosrunner.gameday.model import Check
from chaosrunner.probes import ProbeContext
from chaosrunner.timeline import Timeline, fault_windows

PROMQL_TIMEOUT = 5.0
READBACK_TIMEOUT = 10.0


async def promql_check(check: Check, ctx: ProbeContext, timeout: float = PROMQL_TIMEOUT) -> tuple[bool, str]:
    from chaosrunner.model.probes import MetricProbeSpec
    from chaosrunner.probes.metric import MetricProbe

    spec = MetricProbeSpec(type="metric", source="prometheus", query=check.promql, threshold=0,
                           prometheus=check.prometheus)
    try:
        probe = MetricProbe(spec, "check", ctx)
    except Exception as exc:  # noqa: BLE001 - no server: the check fails and says why
        return False, f"not measured: {exc}"
    try:
        outcome = await asyncio.wait_for(probe.check(), timeout)
    except TimeoutError:
        return False, f"not measured: Prometheus did not answer within {timeout:g}s"
    except Exception as exc:  # noqa: BLE001 - unreachable or not Prometheus: the check fails and says why
        return False, f"not measured: Prometheus at {probe.url} cannot be asked: {type(exc).__name__}: {exc}"
    finally:
        await probe.close()
    value = outcome.value
    if value is None:
        return False, f"not measured: {outcome.error}"
    values = list(value.items()) if isinstance(value, dict) else [(check.promql or "value", float(value))]
    equals = check.equals if isinstance(check.equals, float) else None
    ok, shown = judge_value(values, below=check.below, above=check.above, equals=equals)
    return ok, f"{shown} (expected {check.bounds()})"


def _writer(companions: list[Any]) -> Any:
    return next((c.writer for c in companions if getattr(c, "name", "") == "writer"), None)


async def writes_check(check: Check, companions: list[Any], timeline: Timeline,
                       timeout: float = READBACK_TIMEOUT) -> tuple[bool, str]:
    """``{rpo:}`` / ``{lost_writes:}`` now; the fault windows so far group the losses into incidents, as
    the end-of-day RPO does (``analyse.integrity``)."""
    from chaosrunner.writer.core import make_sink, write_value

    writer = _writer(companions)
    if writer is None or not writer.run_id:
        return False, "not measured: the writer has not started"
    acked = sorted((r for r in list(writer.records) if r.ack is not None), key=lambda r: r.seq)
    if not acked:
        return judge_writes(integrity([], interval=writer.period), rpo=check.rpo, lost_writes=check.lost_writes)
    wanted = [(r.seq, r.key, write_value(writer.run_id, r.seq)) for r in acked]
    sink = make_sink(writer.spec, writer.run_id)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    found: dict[int, str] | None = None
    error = ""
    try:
        while found is None:
            try:
                await asyncio.wait_for(sink.open(), max(0.1, give_up - loop.time()))
                found = await asyncio.wait_for(sink.read(wanted), max(0.1, give_up - loop.time()))
            except Exception as exc:  # noqa: BLE001 - the store may be failing over: retry until give_up
                error = f"{type(exc).__name__}: {exc}".strip()
                if loop.time() >= give_up:
                    return False, (f"not measured: the writer's store did not answer the read-back of "
                                   f"{len(acked)} writes within {timeout:g}s ({error})")
                await asyncio.sleep(0.5)
    finally:
        try:
            await sink.close()
        except Exception:  # noqa: BLE001 - closing a failing store must not fail the check
            pass
    result = integrity([replace(r, found=found.get(r.seq)) for r in acked], interval=writer.period,
                       windows=fault_windows(list(timeline.events)))
    return judge_writes(result, rpo=check.rpo, lost_writes=check.lost_writes)
