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
                 "schedule; each sample records start, end, ok, value and error. Resolution = the interval."),
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
    ("SLO windows", "From load statistics: p50/p95/p99 latency, error rate and RPS in the baseline, fault and "
                    "recovery windows, against the thresholds given. The statistics come per second, so a "
                    "window's edges are known to ±1 s; a window's percentile is estimated from its seconds' "
                    "percentiles (never below the true value)."),
    ("Inconclusive", "No verdict failed, but a declared objective (RTO, RPO, failover, SLO, …) could not be "
                     "measured, e.g. the writes were not read back or an SLO window had no requests. The run "
                     "exits 1: a gate does not pass on a number it does not have."),
]
