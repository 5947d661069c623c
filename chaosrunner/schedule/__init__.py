"""Scheduled chaos: a schedules file (``kind: Schedules``) whose entries run experiments and game days
by themselves — in the foreground on one machine (``schedule run``), or handed to the schedulers teams
already run (``schedule export``: Kubernetes CronJobs, systemd timers, GitHub Actions, GitLab CI).

- ``model``: the file's typed entries; ``read``: reading and checking it (located errors);
- ``timing``: fire times (croniter) and windows;
- ``runner``: the foreground scheduler (lock, decisions, runs as ``chaosrunner run`` subprocesses);
- ``notify``: webhooks; ``retention``: pruning run folders;
- ``export``: the four formats; ``cli``: ``chaosrunner schedule list|run|export``.

Every run, scheduled or not, lands in the reports folder's history (``results.history``).
"""
