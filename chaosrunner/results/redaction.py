"""What leaves a run, without its secrets: the run record, the records a live view is given, the plan's words.

The run's ``Secrets`` (``chaosrunner.read.resolve``) is the one redaction point, applied where text
leaves the process and never earlier than any cut (``Secrets.clip`` redacts, then truncates):

- ``redacted``: the run record (run.json; the report, junit.xml and summary.md are rendered from it);
- ``redacting``: a timeline listener (the terminal's live view, any ``on_record`` callback) that is
  only ever given redacted copies of events, samples, load statistics and writes;
- ``redacted_plan``: a plan whose words for people (probe names, which may be a URL; what each
  fault's inject and revert do, which may name a restart command or an API URL with a password)
  are redacted, for ``plan``, ``plan --json`` and the terminal. Its faults keep the resolved values
  the drivers need.

The timeline itself, in memory, keeps what happened as it happened; so do the faults in force.
The fault ledger holds secret references instead (``execute.ledger``), Locust gets its secrets as
references it resolves itself and redacts its own files (``traffic.runner``), probes redact their
answers before cutting them (``probes``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chaosrunner.results.record import RunRecord
from chaosrunner.timeline import Event, LoadStat, Sample, WriteRecord

if TYPE_CHECKING:
    from chaosrunner.planning import Plan
    from chaosrunner.read.resolve import Secrets


def redacted(record: RunRecord, redact: Callable[[Any], Any]) -> RunRecord:
    """The record with every string passed through ``redact`` (a run's ``Secrets.redact_obj``).

    The words chaosrunner itself writes (schema, statuses, event kinds, timestamps) are kept: they
    are no secret, and a short secret that happens to be part of one must not break the record."""
    doc = record.document()
    out = redact(doc)
    for key in ("schema", "status", "started", "ended"):
        out[key] = doc[key]
    out["experiment"]["kind"] = doc["experiment"]["kind"]
    for mine, theirs in zip(out["timeline"]["events"], doc["timeline"]["events"], strict=True):
        mine["kind"] = theirs["kind"]
    for mine, theirs in zip(out["verdicts"], doc["verdicts"], strict=True):
        mine["status"] = theirs["status"]
    return RunRecord.model_validate(out)


def redacted_record(record: Any, secrets: Secrets) -> Any:
    """A copy of one timeline record (event, sample, load statistic, write) with its text redacted."""
    if isinstance(record, Event):
        return Event(record.seq, record.t, record.wall, record.kind, secrets.redact_obj(record.data))
    if isinstance(record, Sample):
        return replace(record, probe=secrets.redact(record.probe), value=secrets.redact_obj(record.value),
                       error=secrets.redact(record.error) if record.error else record.error,
                       role=secrets.redact(record.role) if record.role else record.role)
    if isinstance(record, LoadStat):
        return replace(record, name=secrets.redact(record.name))
    if isinstance(record, WriteRecord):
        return replace(record, key=secrets.redact(record.key),
                       error=secrets.redact(record.error) if record.error else record.error)
    return secrets.redact_obj(record)


def redacting(listener: Callable[[Any], None], secrets: Secrets) -> Callable[[Any], None]:
    """``listener``, given only redacted copies of the records (the timeline keeps the originals)."""
    if not secrets:
        return listener

    def redacted_listener(record: Any) -> None:
        listener(redacted_record(record, secrets))

    return redacted_listener


def redacted_plan(p: Plan) -> Plan:
    """``p`` (changed in place, and returned) with the words it shows people redacted: probe names,
    what each fault's inject and revert do. Probe names are labels (samples and verdicts are filed
    under them), so the run that follows uses the redacted ones throughout."""
    secrets = p.experiment.secrets
    if not secrets:
        return p
    p.probe_names = [secrets.redact(n) for n in p.probe_names]
    for step in p.steps + p.rollbacks:
        step.describe = [(secrets.redact(inject), secrets.redact(revert)) for inject, revert in step.describe]
    return p
