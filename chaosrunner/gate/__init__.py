"""The CI gate: run an experiment (or take a finished run) and compare it with its baseline.

``gate`` runs each experiment of a file (``--repeat N`` times: the figures are the medians), or takes
an existing run folder, and compares its headline figures with the baseline's
(``analyse.regression``). The baseline is, in this order: the run given with ``--baseline RUN_ID|PATH``;
the run pinned for this experiment and file hash (``--update-baseline`` pins one; the pins live in
the history database, table ``gate_baselines``); else the last passing run of the same experiment
and file hash — one that held and did not fail a gate (``gate_outcomes``) — (``--baseline last-pass``
skips the pin). Figures come from the history rows
(``reports/history.sqlite``), so a baseline whose run folder is gone (a CI job that kept only the
history) still compares.

Outcome (exit code): the worst of the runs' own exit codes (a failed hypothesis is 1, an abort 3, a
revert failure 4) and 1 for a regression beyond tolerance or a score under ``--min-score``. With no
baseline the gate passes with a notice, and the run — when it held — is the next gate's baseline.
The gate adds to the (last) run's folder: a ``gate`` test suite in junit.xml (one test case per
figure, a regression's failure message naming it), a "baseline vs now" table in summary.md, and
``gate.json``.
"""
from chaosrunner.gate.outputs import add_to_junit, junit_suite, summary_section, write_gate_outputs
from chaosrunner.gate.run import (
    LAST_PASS,
    GateResult,
    GateRun,
    check_baseline,
    figures_of,
    find_baseline,
    gate_runs,
    pin,
    pinned,
    read_run,
    read_tolerances,
    representative,
    run_experiments,
)

__all__ = ["LAST_PASS", "GateResult", "GateRun", "add_to_junit", "check_baseline", "figures_of", "find_baseline",
           "gate_runs", "junit_suite", "pin", "pinned", "read_run", "read_tolerances", "representative",
           "run_experiments", "summary_section", "write_gate_outputs"]
