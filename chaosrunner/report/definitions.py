"""The measurement definitions every report prints, so a reader knows what each figure means.

They are DESIGN.md's "Measurement definitions", with the two edge-case rules the analysis applies
written out (recovery after a late failure; RPO when no write survived before the loss), and how
SLO precision and unmeasured objectives are reported.
"""
from __future__ import annotations

RECOVERY_AFTER_FAILURE = (
    "When the steady state deviated, the stable window must start after the first failed sample: "
    "a system fine for 10 s after t0 and then down for 10 s recovered at 20 s, not at 0 s.")
RPO_WITHOUT_SURVIVOR = (
    "When no acknowledged write survived before the oldest lost one (everything since the writer started "
    "was lost), the oldest lost write's sending time stands in for that survivor's acknowledgement.")

DEFINITIONS: list[tuple[str, str]] = [
    ("Sampling", "Every steady-state probe is sampled at sampling.interval (default 250 ms) on its own "
                 "schedule, and at sampling.fine (default 25 ms) from its first failed sample until it has "
                 "held for stable_for again and for sampling.watch (2 s) after each inject and revert; each "
                 "sample records start, end, ok, value and error. The ± of a time is the resolution the samples "
                 "achieved around it: the gap between the last sample that showed the condition not yet met "
                 "and the first that showed it met (about sampling.fine around a fault)."),
    ("t0", "The instant the first fault of a window became effective (the driver confirmed it)."),
    ("Detection time", "First failed sample after t0, minus t0."),
    ("Recovery time (RTO measured)", "Start of the first stable_for window after t0 in which every "
                                     "steady-state probe is ok, minus t0; printed with its ± resolution. "
                                     "No deviation → 0. " + RECOVERY_AFTER_FAILURE + " Never recovered → "
                                     "unbounded (the verdict fails)."),
    ("Time out of SLO, deviations, relapses", "Time in the window during which some probe's latest sample had "
                                              "failed; the separate periods of it (more than one: flapping); "
                                              "those that began after the recovery."),
    ("Failover time", "First sample after t0 in which the role probe names a different primary and the "
                      "steady state is ok, minus t0. A window whose steady state never deviated and in which "
                      "no failover happened needed none (skipped); if no window needed one, the failover "
                      "objective could not be measured."),
    ("Failback time", "First role sample after the failover naming the original primary again with the steady "
                      "state ok, minus the fault's revert."),
    ("RPO", "The writer issues sequenced writes at a fixed rate and records each acknowledgement time. After "
            "recovery everything is read back. Lost = acknowledged but missing or altered. RPO measured = ack "
            "time of the newest lost write − ack time of the newest surviving write that precedes the oldest "
            "lost one (0 when nothing acknowledged was lost). " + RPO_WITHOUT_SURVIVOR + " Precision: ± one "
            "write interval. Also reported: lost, duplicated, corrupted and unacknowledged-but-present writes."),
    ("Faults of a window", "Overlapping faults share one fault window, timed from its first fault (t0). Each "
                           "fault is listed with its id, its action's name, its target and its offsets from t0 "
                           "(inject, revert), in the table and on the charts."),
    ("Timed from a named fault", "An objective with from: <action name or fault id> (rto, failover) is measured "
                                 "from that fault's injection instead of t0, never negative; a window without "
                                 "that fault is not judged against it. Each window is judged; the run is judged "
                                 "on its worst window (never recovered is the worst)."),
    ("Recovery seen by the users",
     "Users' recovery, with load: the start of the last failed request in the window (every request that "
     "started after it succeeded), minus t0, overall and per endpoint, from the failed requests and first "
     "successes the Locust plugin reports. ± = the mean spacing of requests around it (1 / request rate). "
     "No failed request: no deviation."),
    ("Outage seen by the writer",
     "With writer: the first acknowledgement of a write sent after the last unacknowledged write of the "
     "window, minus t0, and the longest gap between two consecutive acknowledgements. ± one write interval."),
    ("RPO per incident", "Lost writes are grouped into incidents (a run of lost writes with no surviving "
                         "acknowledged write between them; runs in one fault window are one incident), each "
                         "with its own RPO as defined above. RPO measured is the worst incident's, and the "
                         "objective is judged on it, not on the span between incidents."),
    ("SLO windows", "From load statistics: p50/p95/p99 latency, error rate and RPS in the baseline, fault and "
                    "recovery windows, against the thresholds given. The statistics come per second, so a "
                    "window's edges are known to ±1 s; a window's percentile is estimated from its seconds' "
                    "percentiles (never below the true value)."),
    ("Resilience score", "0–100: 100 × Σ weight × points / Σ weight over every verdict the run judged (a "
                         "skipped one is left out, except in an aborted run, where it counts 0). Points: a passed "
                         "objective with a numeric bound scores 0.5 + 0.5 × margin, margin = 1 − measured / bound "
                         "(1 − bound / measured for a lower bound such as rps); a failed one 0; an unmeasured one 0 "
                         "(unmeasured counts as failed); one without a bound 1 passed, 0 failed. Weight: the "
                         "severity's (critical 8, high 4, medium 2, low 1; the experiment's own, else the highest of "
                         "its risks', else medium) divided by the number of verdicts of the same objective (its "
                         "fault or SLO windows). A suite's score is the severity-weighted mean of its runs' scores."),
    ("Inconclusive", "No verdict failed, but a declared objective (RTO, RPO, failover, SLO, …) could not be "
                     "measured, e.g. the writes were not read back or an SLO window had no requests. The run "
                     "exits 1: a gate does not pass on a number it does not have."),
]
