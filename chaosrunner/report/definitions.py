"""The measurement definitions every report prints, so a reader knows what each figure means."""
from __future__ import annotations

DEFINITIONS: list[tuple[str, str]] = [
    ("Sampling", "Every steady-state probe is sampled at sampling.interval (default 250 ms) on its own "
                 "schedule; each sample records start, end, ok, value and error. Resolution = the interval."),
    ("t0", "The instant the first fault of a window became effective (the driver confirmed it)."),
    ("Detection time", "First failed sample after t0, minus t0."),
    ("Recovery time (RTO measured)", "Start of the first stable_for window after t0 in which every "
                                     "steady-state probe is ok, minus t0; printed with its ± resolution. "
                                     "No deviation → 0."),
    ("Failover time", "First sample after t0 in which the role probe names a different primary and the "
                      "steady state is ok, minus t0."),
    ("RPO", "The writer issues sequenced writes at a fixed rate and records each acknowledgement time. After "
            "recovery everything is read back. Lost = acknowledged but missing or altered. RPO measured = ack "
            "time of the newest lost write − ack time of the newest surviving write that precedes the oldest "
            "lost one (0 when nothing acknowledged was lost). Also reported: lost, duplicated, corrupted and "
            "unacknowledged-but-present writes."),
    ("SLO windows", "From load statistics: p50/p95/p99 latency, error rate and RPS in the baseline, fault and "
                    "recovery windows, against the thresholds given."),
]
