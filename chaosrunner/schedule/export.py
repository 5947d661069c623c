"""``schedule export``: the same schedules for the engines teams already run, never a scheduler of our own.

Every format fires the same command for an entry — ``chaosrunner schedule run FILE --once ENTRY
--respect-windows`` — which runs ``chaosrunner run`` (``gameday run`` for a game day) as the
foreground scheduler would, with its notify, retention and history row. What a format cannot
express is enforced by chaosrunner at start, not dropped: ``--respect-windows`` skips (recorded)
when ``only_between``, ``days`` or ``except`` is closed; ``--jitter`` waits the random jitter where
the engine has no randomized delay; ``--due`` skips a fire that is not a fire of the entry's cron
in its own time zone (engines whose cron is UTC only, across daylight-saving changes).

- ``k8s-cronjob``: per entry a CronJob (``schedule``, ``timeZone``, ``concurrencyPolicy``,
  ``startingDeadlineSeconds``, history limits from ``retention``, ``backoffLimit: 0``: a chaos run is
  never retried by accident), and once: a ServiceAccount with a Role and RoleBinding holding the
  least rights the entries' drivers need (the built-in drivers need none of the API server), the
  reports on a PersistentVolumeClaim, secrets from a Secret as environment variables.
- ``systemd``: per entry a ``.service`` (oneshot) and a ``.timer`` (``OnCalendar=`` from croniter's
  reading of the cron, in the entry's time zone; ``RandomizedDelaySec=`` for the jitter;
  ``Persistent=`` for ``missed: run-once``).
- ``github-actions``: a workflow with a ``schedule`` per entry (UTC cron), setting up, running,
  uploading the reports as an artifact and writing summary.md to the job summary.
- ``gitlab-ci``: ``.gitlab-ci.yml`` with a job per entry run by a pipeline schedule (``CHAOSRUNNER_ENTRY``),
  and ``gitlab-schedules.json``: the pipeline schedules to create (cron, ``cron_timezone``, variable).
"""
from __future__ import annotations

import json
import re
import shlex
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from croniter import croniter

from chaosrunner.drivers.kubernetes.rbac import CLUSTER_RULES as KUBERNETES_CLUSTER_RULES
from chaosrunner.drivers.kubernetes.rbac import ROLE_RULES as KUBERNETES_ROLE_RULES
from chaosrunner.errors import ConfigError
from chaosrunner.schedule.model import Concurrency, Missed
from chaosrunner.schedule.read import LoadedEntry, LoadedSchedules

FORMATS = ("k8s-cronjob", "systemd", "github-actions", "gitlab-ci")
KUBERNETES_VERSION = "1.30.0"
"""The Kubernetes version the CronJobs target (``timeZone`` is GA since 1.27); the test validates against it."""
DOW = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")

# what the API server must allow a run, per driver (least rights), in each namespace its targets live in; the
# built-in drivers touch no Kubernetes object. Cluster-wide rights only for the fault types that need them.
DRIVER_RULES: dict[str, list[dict[str, Any]]] = {"kubernetes": KUBERNETES_ROLE_RULES}
CLUSTER_FAULTS: dict[str, list[dict[str, Any]]] = {"node-drain": KUBERNETES_CLUSTER_RULES}


def export_files(loaded: LoadedSchedules, fmt: str, image: str = "ghcr.io/chaosrunner/chaosrunner:latest",
                 namespace: str = "chaos", workdir: str | None = None) -> dict[str, str]:
    """File name → text for ``fmt``."""
    entries = [e for e in loaded.entries.values() if e.model.enabled]
    if fmt == "k8s-cronjob":
        return {"chaosrunner-cronjobs.yaml": k8s(loaded, entries, image, namespace)}
    if fmt == "systemd":
        return systemd(loaded, entries, workdir)
    if fmt == "github-actions":
        return {"chaosrunner-schedules.yml": github(loaded, entries)}
    if fmt == "gitlab-ci":
        return gitlab(loaded, entries)
    raise ConfigError(f"unknown format {fmt!r}", hint="formats: " + ", ".join(FORMATS))


def slug(name: str) -> str:
    """An entry's name as a Kubernetes object name or a unit name (DNS-1123: lowercase, digits, '-')."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "entry"


def _rel(loaded: LoadedSchedules) -> str:
    return loaded.file.name


def once_args(loaded: LoadedSchedules, entry: LoadedEntry, file: str, jitter: bool, due: bool) -> list[str]:
    args = ["schedule", "run", file, "--once", entry.name, "--respect-windows"]
    if jitter and entry.model.jitter:
        args.append("--jitter")
    if due:
        args.append("--due")
    return args


def cron_of(loaded: LoadedSchedules, entry: LoadedEntry) -> str:
    """The entry's cron; an ``every`` that a cron can say (whole minutes dividing an hour, hours dividing a day)."""
    m = entry.model
    if m.cron is not None:
        return m.cron
    assert m.every is not None
    s = int(m.every)
    if s == m.every and s % 60 == 0:
        minutes = s // 60
        if minutes < 60 and 60 % minutes == 0:
            return f"*/{minutes} * * * *" if minutes > 1 else "* * * * *"
        if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
            hours = minutes // 60
            return f"0 */{hours} * * *" if hours > 1 else "0 * * * *"
        if minutes == 1440:
            return "0 0 * * *"
    raise ConfigError(f"every: {m.every:g}s cannot be said as a cron expression, which cron engines need",
                      loaded.marks.at(("schedules", entry.name, "every")),
                      "write `cron:` instead, or an every of whole minutes dividing an hour, or hours dividing a day")


def _dump(docs: list[dict[str, Any]]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False, width=1000) for d in docs)


# -- Kubernetes ----------------------------------------------------------------------------------------------
def _rights(entries: list[LoadedEntry],
            namespace: str) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """(namespace → the rules a Role there grants, cluster-wide rules) for every experiment the entries
    run: each driver's rules in each namespace its targets live in (``kubernetes: {namespace}``), the
    CronJob's own namespace always listed, and the cluster rules of the fault types that need them
    (node-drain: nodes and evictions), for experiments and game days (their own faults and their
    nested experiments'). Planned offline (``make_plan(offline=True)``): the export reaches no
    cluster, so it also works for an inventory with ``in_cluster: true``."""
    from chaosrunner import api
    from chaosrunner.gameday.read import read_gameday
    from chaosrunner.planning import Plan

    where: dict[str, list[dict[str, Any]]] = {namespace: []}
    cluster: list[dict[str, Any]] = []
    for entry in entries:
        for run in entry.runs:
            plans: list[Any]
            if run.kind == "GameDay":
                day = read_gameday(run.path, entry.targets, entry.model.vars, offline=True)
                plans = [day.plan] + [p for ps in day.nested.values() for p in ps if isinstance(p, Plan)]
            else:
                plans = api.plan(run.path, entry.targets, entry.model.vars, offline=True)
            for plan in plans:
                for fault in plan.faults():
                    rules = DRIVER_RULES.get(fault.driver)
                    if rules:
                        ns = str(getattr(fault.handle(), "namespace", None) or namespace)
                        where.setdefault(ns, [])
                        where[ns] += [r for r in rules if r not in where[ns]]
                    cluster += [r for r in CLUSTER_FAULTS.get(fault.type, []) if r not in cluster]
    return where, cluster


def k8s(loaded: LoadedSchedules, entries: list[LoadedEntry], image: str, namespace: str) -> str:
    base = "/chaosrunner"
    report_dir = f"{base}/{loaded.model.report_dir}".rstrip("/")
    roles, cluster = _rights(entries, namespace)
    labels = {"labels": {"app.kubernetes.io/name": "chaosrunner"}}
    meta = {"namespace": namespace, **labels}
    account = [{"kind": "ServiceAccount", "name": "chaosrunner", "namespace": namespace}]
    rbac = "rbac.authorization.k8s.io"
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "chaosrunner", **meta}}]
    for ns, rules in roles.items():          # a Role where the targets are, bound to the CronJob's account
        docs += [
            {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": "chaosrunner", "namespace": ns,
                                                                      **labels}, "rules": rules},
            {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding",
             "metadata": {"name": "chaosrunner", "namespace": ns, **labels}, "subjects": account,
             "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "chaosrunner"}}]
    if cluster:
        docs += [
            {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": {"name": "chaosrunner", **labels},
             "rules": cluster},
            {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "chaosrunner", **labels},
             "subjects": account, "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "chaosrunner"}}]
    docs += [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "chaosrunner-reports", **meta},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}},
    ]
    for e in entries:
        m = e.model
        keep = m.retention
        spec: dict[str, Any] = {
            "schedule": cron_of(loaded, e), "timeZone": m.timezone,
            "concurrencyPolicy": {Concurrency.FORBID: "Forbid", Concurrency.ALLOW: "Allow",
                                  Concurrency.REPLACE: "Replace"}[m.concurrency],
            "successfulJobsHistoryLimit": min(keep.keep_last, 100) if keep else 3,
            "failedJobsHistoryLimit": min(keep.keep_failed, 100) if keep else 3,
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "chaosrunner", "chaosrunner/entry": slug(e.name)}},
                "spec": {
                    "serviceAccountName": "chaosrunner", "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 120,    # SIGTERM: the run reverts and writes its report
                    "containers": [{
                        "name": "chaosrunner", "image": image, "workingDir": base,
                        "command": ["chaosrunner", *once_args(loaded, e, _rel(loaded), jitter=True, due=False)],
                        "env": [{"name": "CHAOSRUNNER_STATE_DIR", "value": f"{report_dir}/.state"}],
                        "envFrom": [{"secretRef": {"name": "chaosrunner-secrets", "optional": True}}],
                        "volumeMounts": [{"name": "reports", "mountPath": report_dir}]}],
                    "volumes": [{"name": "reports", "persistentVolumeClaim": {"claimName": "chaosrunner-reports"}}],
                }}}},
        }
        deadline = m.starting_deadline if m.missed is Missed.RUN_ONCE else 60.0
        if deadline is not None:
            spec["startingDeadlineSeconds"] = max(10, int(deadline))
        docs.append({"apiVersion": "batch/v1", "kind": "CronJob",
                     "metadata": {"name": f"chaosrunner-{slug(e.name)}", **meta}, "spec": spec})
    head = (f"# chaosrunner schedules from {loaded.file.name} as Kubernetes CronJobs (Kubernetes >= 1.27, "
            f"written for {KUBERNETES_VERSION}).\n# The image holds the project at /chaosrunner; runs land on the "
            f"PVC; secrets (${{env:...}}) come from the Secret chaosrunner-secrets.\n"
            + "".join(f"# Role in {ns}: {'what the drivers need of the API server there' if rules else 'nothing'} "
                      f"(least rights).\n" for ns, rules in roles.items())
            + ("# ClusterRole: nodes and evictions, for node-drain.\n" if cluster else ""))
    return head + _dump(docs)


# -- systemd -------------------------------------------------------------------------------------------------
def _systemd_list(values: list[Any], width: int = 2) -> str:
    if values == ["*"]:
        return "*"
    return ",".join(f"{int(v):0{width}d}" for v in values)


def on_calendar(loaded: LoadedSchedules, entry: LoadedEntry) -> list[str]:
    """``OnCalendar=`` values equivalent to the cron (croniter reads it; cron ORs day-of-month with day-of-week
    when both are restricted, systemd ANDs them, so that case gives two values)."""
    cron = cron_of(loaded, entry)
    minute, hour, dom, month, dow = croniter(cron).expanded[:5]
    if any(isinstance(v, str) and v not in ("*",) for f in (dom,) for v in f):
        raise ConfigError(f"cron {cron!r}: 'L' (last day) has no systemd calendar equivalent",
                          loaded.marks.at(("schedules", entry.name, "cron")), "write the days of month out")
    days = "*" if dow == ["*"] else ",".join(DOW[int(d) % 7] for d in dow)
    tz = entry.model.timezone
    time = f"{_systemd_list(hour)}:{_systemd_list(minute)}:00"
    mon = _systemd_list(month)

    def spec(weekdays: str, dom_: list[Any]) -> str:
        return (f"{weekdays} " if weekdays != "*" else "") + f"*-{mon}-{_systemd_list(dom_)} {time} {tz}"

    if dom != ["*"] and dow != ["*"]:
        return [spec("*", dom), spec(days, ["*"])]
    return [spec(days, dom)]


def systemd(loaded: LoadedSchedules, entries: list[LoadedEntry], workdir: str | None) -> dict[str, str]:
    wd = workdir or str(loaded.file.parent.resolve())
    out: dict[str, str] = {}
    for e in entries:
        m = e.model
        unit = f"chaosrunner-{slug(e.name)}"
        exe = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "chaosrunner",
                                                *once_args(loaded, e, str(loaded.file.resolve()), jitter=False,
                                                           due=False)])
        out[f"{unit}.service"] = (
            f"# chaosrunner schedule entry {e.name!r} from {loaded.file.name}; started by {unit}.timer\n"
            f"[Unit]\nDescription=chaosrunner schedule entry {e.name}\nAfter=network-online.target\n"
            f"Wants=network-online.target\n\n"
            f"[Service]\nType=oneshot\nWorkingDirectory={wd}\nExecStart={exe}\n"
            f"# SIGTERM: the run reverts its faults and writes its report, then exits\nKillSignal=SIGTERM\n"
            f"KillMode=mixed\nTimeoutStopSec=300\n")
        cal = "".join(f"OnCalendar={c}\n" for c in on_calendar(loaded, e))
        out[f"{unit}.timer"] = (
            f"# chaosrunner schedule entry {e.name!r}: cron {cron_of(loaded, e)!r} in {m.timezone}"
            + ("; windows are checked by chaosrunner at start (--respect-windows)" if
               (m.only_between or m.days or m.except_) else "") + "\n"
            f"[Unit]\nDescription=chaosrunner schedule entry {e.name} (timer)\n\n"
            f"[Timer]\n{cal}AccuracySec=1s\n"
            + (f"RandomizedDelaySec={int(m.jitter)}\n" if m.jitter else "")
            + f"Persistent={'true' if m.missed is Missed.RUN_ONCE else 'false'}\nUnit={unit}.service\n\n"
            f"[Install]\nWantedBy=timers.target\n")
    return out


# -- CI engines ----------------------------------------------------------------------------------------------
def utc_crons(loaded: LoadedSchedules, entry: LoadedEntry) -> list[str]:
    """The entry's cron for an engine whose cron is UTC only: shifted by each UTC offset its zone has in a
    year (two with daylight saving); ``--due`` then keeps only the fire that is one in the entry's zone."""
    cron = cron_of(loaded, entry)
    tz = ZoneInfo(entry.model.timezone)
    year = datetime.now(UTC).year
    offsets = sorted({int(datetime(year, mo, 15, 12, tzinfo=tz).utcoffset().total_seconds())  # type: ignore[union-attr]
                      for mo in range(1, 13)})
    if offsets == [0]:
        return [cron]
    minute, hour, dom, month, dow = cron.split()
    out = []
    for off in offsets:
        if off % 3600:
            raise ConfigError(f"time zone {entry.model.timezone} is not a whole number of hours from UTC: a UTC-only "
                              f"cron cannot follow it", loaded.marks.at(("schedules", entry.name, "timezone")),
                              "use k8s-cronjob or systemd (both have time zones), or a UTC cron")
        shift = off // 3600
        hours = croniter(cron).expanded[1]
        if hours == ["*"]:
            out.append(cron)
            continue
        shifted = sorted({(int(h) - shift) % 24 for h in hours})
        crosses = any(not 0 <= int(h) - shift < 24 for h in hours)
        if crosses and (dom != "*" or dow != "*"):
            raise ConfigError(f"cron {cron!r} in {entry.model.timezone} crosses midnight in UTC: its days would "
                              f"shift", loaded.marks.at(("schedules", entry.name, "cron")),
                              "use k8s-cronjob or systemd (both have time zones), or write the cron in UTC")
        out.append(" ".join([minute, ",".join(map(str, shifted)), dom, month, dow]))
    return list(dict.fromkeys(out))


def github(loaded: LoadedSchedules, entries: list[LoadedEntry]) -> str:
    crons = {e.name: utc_crons(loaded, e) for e in entries}
    jobs: dict[str, Any] = {}
    for e in entries:
        mine = crons[e.name]
        due = mine != [cron_of(loaded, e)]
        cond = " || ".join(f"github.event.schedule == '{c}'" for c in mine)
        job: dict[str, Any] = {
            "if": f"github.event_name == 'workflow_dispatch' && inputs.entry == '{e.name}' || {cond}",
            "runs-on": "ubuntu-latest", "timeout-minutes": 120,
            "steps": [
                {"uses": "actions/checkout@v4"},
                {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                {"name": "Set up chaosrunner", "run": "pip install -e ."},
                {"name": f"Run schedule entry {e.name}", "run": shlex.join(
                    ["chaosrunner", *once_args(loaded, e, _rel(loaded), jitter=True, due=due)])},
                {"name": "Summary", "if": "always()",
                 "run": f"cat {loaded.model.report_dir}/*/summary.md >> \"$GITHUB_STEP_SUMMARY\" || true"},
                {"name": "Upload the reports", "if": "always()", "uses": "actions/upload-artifact@v4",
                 "with": {"name": f"chaosrunner-{slug(e.name)}-${{{{ github.run_id }}}}",
                          "path": loaded.model.report_dir, "if-no-files-found": "warn"}},
            ]}
        if e.model.concurrency is not Concurrency.ALLOW:
            job["concurrency"] = {"group": f"chaosrunner-{slug(e.name)}",
                                  "cancel-in-progress": e.model.concurrency is Concurrency.REPLACE}
        jobs[slug(e.name)] = job
    doc = {"name": "chaosrunner schedules",
           "on": {"schedule": [{"cron": c} for cs in crons.values() for c in cs],
                  "workflow_dispatch": {"inputs": {"entry": {"description": "the schedule entry to run now",
                                                             "required": True, "type": "choice",
                                                             "options": [e.name for e in entries]}}}},
           "permissions": {"contents": "read"}, "jobs": jobs}
    return (f"# chaosrunner schedules from {loaded.file.name} (GitHub cron is UTC: entries in another zone get "
            f"one cron per UTC offset, and --due keeps the one that is a fire in their zone)\n"
            + yaml.safe_dump(doc, sort_keys=False, width=1000))


def gitlab(loaded: LoadedSchedules, entries: list[LoadedEntry]) -> dict[str, str]:
    doc: dict[str, Any] = {}
    schedules = []
    for e in entries:
        job = {
            "image": "python:3.11", "stage": "test", "timeout": "2h",
            "rules": [{"if": f"$CI_PIPELINE_SOURCE == \"schedule\" && $CHAOSRUNNER_ENTRY == \"{e.name}\""},
                      {"if": f"$CI_PIPELINE_SOURCE == \"web\" && $CHAOSRUNNER_ENTRY == \"{e.name}\""}],
            "script": ["pip install -e .",
                       shlex.join(["chaosrunner", *once_args(loaded, e, _rel(loaded), jitter=True, due=False)])],
            "after_script": [f"cat {loaded.model.report_dir}/*/summary.md || true"],
            "artifacts": {"when": "always", "paths": [f"{loaded.model.report_dir}/"], "expire_in": "90 days"},
        }
        if e.model.concurrency is not Concurrency.ALLOW:
            job["resource_group"] = f"chaosrunner-{slug(e.name)}"      # one at a time (queued)
        doc[f"chaosrunner-{slug(e.name)}"] = job
        schedules.append({"description": f"chaosrunner {e.name}", "cron": cron_of(loaded, e),
                          "cron_timezone": e.model.timezone, "ref": "main", "active": True,
                          "variables": [{"key": "CHAOSRUNNER_ENTRY", "value": e.name}]})
    head = (f"# chaosrunner schedules from {loaded.file.name}. GitLab keeps schedules outside this file: create "
            f"the pipeline schedules in gitlab-schedules.json\n# (Build > Pipeline schedules, or POST "
            f"/projects/:id/pipeline_schedules), each with its CHAOSRUNNER_ENTRY variable.\n")
    return {".gitlab-ci.yml": head + yaml.safe_dump(doc, sort_keys=False, width=1000),
            "gitlab-schedules.json": json.dumps(schedules, indent=1) + "\n"}

