"""Data-integrity measurement from the writer's records: lost writes and RPO measured.

Pure functions (no I/O, no clock) over ``WriteRecord``s whose ``found`` the read-back filled
(``present`` | ``missing`` | ``corrupted`` | ``duplicated``):

- Lost = acknowledged (``ack`` set) but ``missing`` or ``corrupted`` on read-back.
- Duplicated = found more than once; counted as present (the data survived) and reported.
- Corrupted = read back with a different value, acknowledged or not.
- Unacknowledged-but-present = the write failed or timed out for the writer, yet it landed.
- Incident = lost writes that belong together: a run of lost writes with no surviving
  acknowledged write between them (in acknowledgement order), and runs that fall into the same
  fault window (the first window that had not ended when the run's oldest write was
  acknowledged) are one incident. Two partitions minutes apart are two incidents.
- An incident's RPO = ack time of its newest lost write − ack time of the newest surviving
  (acknowledged and present) write acknowledged before its oldest lost one. When no surviving
  write precedes it, the oldest lost write's sending time stands in (everything since the
  writer started was lost).
- RPO measured = the worst incident's RPO; 0 when nothing acknowledged was lost. The objective
  is judged on it, never on the span between incidents.
- Loss window = from the acknowledgement of the oldest lost write to that of the newest (all
  incidents: it spans the quiet time between them).
Resolution of RPO: ± one write interval (the writer's period).

The writer's view of an outage (``writes_in_window``), from acknowledgement times alone:
- Longest gap = the longest time between two consecutive acknowledgements in a fault window's
  scope (the last acknowledgement before ``t0`` opens the first gap).
- First acknowledged write after the outage = the earliest acknowledgement of a write sent after
  the last write of the scope that went unacknowledged (failed or timed out), minus ``t0``;
  ``None`` when no write of the scope failed (a stall shows in the longest gap).
Resolution: ± one write interval.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Sequence

from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import FaultWindow, WriteRecord
from chaosrunner.units import format_duration

SURVIVED = ("present", "duplicated")


@dataclass(frozen=True)
class Incident:
    """One data-loss incident: lost writes that belong together, and their RPO."""

    index: int
    window: int | None                  # the fault window it is attributed to; None: no fault window
    lost: int
    first_seq: int
    last_seq: int
    first_lost_ack: float               # run clock
    last_lost_ack: float
    reference: float                    # ack of the newest survivor before it (or the first lost write's sending)
    rpo: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "window": self.window, "lost": self.lost, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "first_lost_ack": self.first_lost_ack,
                "last_lost_ack": self.last_lost_ack, "reference": self.reference, "rpo": self.rpo,
                "note": self.note}


@dataclass(frozen=True)
class IntegrityResult:
    writes: int
    acknowledged: int
    unacknowledged: int
    read_back: bool                     # every write has a read-back result
    present: int
    lost: int
    duplicated: int
    corrupted: int
    unacknowledged_present: int
    rpo: float                          # seconds; 0 when nothing acknowledged was lost
    resolution: float | None            # the write interval
    loss_window: tuple[float, float] | None   # (ack of oldest lost, ack of newest lost), run clock
    last_surviving_before_loss: float | None  # ack time used as RPO's reference
    lost_seqs: tuple[int, ...]
    note: str = ""
    incidents: tuple[Incident, ...] = ()
    worst_incident: int | None = None   # index into ``incidents`` of the one RPO measured comes from

    def to_dict(self) -> dict[str, Any]:
        return {
            "writes": self.writes, "acknowledged": self.acknowledged, "unacknowledged": self.unacknowledged,
            "read_back": self.read_back, "present": self.present, "lost": self.lost, "duplicated": self.duplicated,
            "corrupted": self.corrupted, "unacknowledged_present": self.unacknowledged_present, "rpo": self.rpo,
            "resolution": self.resolution, "loss_window": list(self.loss_window) if self.loss_window else None,
            "last_surviving_before_loss": self.last_surviving_before_loss,
            "lost_seqs": _ranges(self.lost_seqs), "note": self.note,
            "incidents": [i.to_dict() for i in self.incidents], "worst_incident": self.worst_incident,
        }


def _ranges(seqs: Sequence[int]) -> list[list[int]]:
    """Compress sorted sequence numbers into [first, last] runs for a compact run.json."""
    out: list[list[int]] = []
    for s in sorted(seqs):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def write_interval(records: Sequence[WriteRecord]) -> float | None:
    """The writer's period, read from the spacing of its sending times (median, robust to stalls)."""
    sent = sorted(r.sent for r in records)
    gaps = [b - a for a, b in zip(sent[:-1], sent[1:], strict=True) if b > a]
    return statistics.median(gaps) if gaps else None


def is_lost(r: WriteRecord) -> bool:
    return r.ack is not None and r.found in ("missing", "corrupted")


def _window_of(t: float, windows: Sequence[FaultWindow]) -> int | None:
    """The first fault window that had not ended at ``t`` (a loss shows before or during its fault)."""
    for w in windows:
        if w.end is None or t <= w.end:
            return w.index
    return None


def incidents(acked: Sequence[WriteRecord], windows: Sequence[FaultWindow] = ()) -> list[Incident]:
    """Group the lost writes among ``acked`` (acknowledged writes, read back) into incidents."""
    ordered = sorted(acked, key=lambda r: (r.ack, r.seq))      # type: ignore[arg-type, return-value]
    runs: list[list[WriteRecord]] = []
    previous_lost = False
    # contiguous in the order the writes were sent: a write sent before the loss began but acknowledged
    # during it (requests overlap) survived without ending the loss, so it must not split an incident
    for r in sorted(acked, key=lambda r: r.seq):
        if is_lost(r):
            if previous_lost:
                runs[-1].append(r)
            else:
                runs.append([r])
            previous_lost = True
        elif r.found in SURVIVED:
            previous_lost = False
    groups: list[tuple[int | None, list[WriteRecord]]] = []
    for run in runs:
        window = _window_of(float(run[0].ack), windows) if windows else None  # type: ignore[arg-type]
        if groups and window is not None and groups[-1][0] == window:
            groups[-1][1].extend(run)
        else:
            groups.append((window, list(run)))
    out: list[Incident] = []
    for window, lost in groups:
        oldest = min(lost, key=lambda r: r.ack)         # type: ignore[arg-type, return-value]
        newest = max(lost, key=lambda r: r.ack)         # type: ignore[arg-type, return-value]
        survivors = [float(r.ack) for r in ordered  # type: ignore[arg-type]
                     if r.found in SURVIVED and r.ack < oldest.ack]  # type: ignore[operator]
        note = ""
        if survivors:
            reference = max(survivors)
        else:
            reference = oldest.sent
            note = "no acknowledged write survived before the loss; measured from the first lost write's sending"
        out.append(Incident(len(out), window, len(lost), min(r.seq for r in lost), max(r.seq for r in lost),
                            float(oldest.ack), float(newest.ack), reference,  # type: ignore[arg-type]
                            max(0.0, float(newest.ack) - reference), note))  # type: ignore[arg-type]
    return out


def integrity(records: Iterable[WriteRecord], interval: float | None = None,
              windows: Sequence[FaultWindow] = ()) -> IntegrityResult:
    """Summarise the writes; ``interval`` is the writer's period (inferred from the records when omitted);
    ``windows`` (the run's fault windows) attribute the lost writes to incidents."""
    recs = sorted(records, key=lambda r: r.seq)
    acked = [r for r in recs if r.ack is not None]
    lost = sorted((r for r in acked if is_lost(r)), key=lambda r: (r.ack, r.seq))
    read_back = bool(recs) and all(r.found is not None for r in recs)
    resolution = interval if interval is not None else write_interval(recs)
    rpo, window, reference, note = 0.0, None, None, ""
    found = incidents(acked, windows) if lost else []
    worst = max(found, key=lambda i: i.rpo) if found else None
    if worst is not None:
        window = (float(lost[0].ack), float(lost[-1].ack))  # type: ignore[arg-type]
        rpo, reference, note = worst.rpo, worst.reference, worst.note
        if len(found) > 1:
            note = (note + "; " if note else "") + (
                f"{len(found)} separate incidents; RPO measured is the worst, incident {worst.index + 1}")
    if recs and not read_back:
        note = (note + "; " if note else "") + f"{sum(r.found is None for r in recs)} write(s) were not read back"
    return IntegrityResult(
        writes=len(recs), acknowledged=len(acked), unacknowledged=len(recs) - len(acked), read_back=read_back,
        present=sum(r.found in SURVIVED for r in recs), lost=len(lost),
        duplicated=sum(r.found == "duplicated" for r in recs), corrupted=sum(r.found == "corrupted" for r in recs),
        unacknowledged_present=sum(r.ack is None and r.found in SURVIVED for r in recs), rpo=rpo,
        resolution=resolution, loss_window=window, last_surviving_before_loss=reference,
        lost_seqs=tuple(sorted(r.seq for r in lost)), note=note, incidents=tuple(found),
        worst_incident=None if worst is None else worst.index)


@dataclass(frozen=True)
class WriterView:
    """What the writer saw of one fault window (see the module docstring)."""

    window: int
    t0: float
    resolution: float | None
    longest_gap: float | None           # seconds between two consecutive acknowledgements; None: < 2 acks
    gap_from: float | None              # run clock: the acknowledgement that opened it
    gap_to: float | None                # run clock: the one that closed it
    failed: int                         # writes sent in the scope that went unacknowledged
    first_ack_after_outage: float | None   # seconds after t0; None: no write failed (or none came back)
    first_ack_after_outage_at: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "t0": self.t0, "resolution": self.resolution,
                "longest_gap": self.longest_gap, "gap_from": self.gap_from, "gap_to": self.gap_to,
                "failed": self.failed, "first_ack_after_outage": self.first_ack_after_outage,
                "first_ack_after_outage_at": self.first_ack_after_outage_at, "note": self.note}


def writes_in_window(records: Iterable[WriteRecord], window: FaultWindow, scope_end: float,
                     interval: float | None = None) -> WriterView:
    """The writer's view of one fault window whose scope runs from its ``t0`` to ``scope_end``."""
    recs = list(records)
    t0 = window.start
    resolution = interval if interval is not None else write_interval(recs)
    acks = sorted(float(r.ack) for r in recs if r.ack is not None)  # type: ignore[arg-type]
    before = [a for a in acks if a < t0]
    inside = [a for a in acks if t0 <= a < scope_end]
    points = before[-1:] + inside
    gap, gap_from, gap_to = None, None, None
    for a, b in zip(points[:-1], points[1:], strict=True):
        if gap is None or b - a > gap:
            gap, gap_from, gap_to = b - a, a, b
    failed = [r for r in recs if r.ack is None and t0 <= r.sent < scope_end]
    first_at, note = None, ""
    if failed:
        last_failed = max(r.sent for r in failed)
        later = [float(r.ack) for r in recs  # type: ignore[arg-type]
                 if r.ack is not None and r.sent > last_failed and r.ack < scope_end]
        first_at = min(later) if later else None
        if first_at is None:
            note = "no write was acknowledged after the last failed one in this window"
    else:
        note = "no write failed in this window"
    return WriterView(window.index, t0, resolution, gap, gap_from, gap_to, len(failed),
                      None if first_at is None else first_at - t0, first_at, note)


def _measured(res: IntegrityResult) -> str:
    text = format_duration(res.rpo)
    if res.resolution:
        text += f" ± {format_duration(res.resolution)}"
    return text


def integrity_verdicts(res: IntegrityResult, rpo: float | None) -> list[Verdict]:
    """``rpo`` verdict (when the objective is set) and a "no corrupted writes" verdict.

    Duplicates are reported but do not fail: a retried write landing twice lost nothing.
    """
    data = res.to_dict()
    if res.writes == 0:
        out = [Verdict("data integrity", Status.UNKNOWN, "no corrupted writes", "the writer issued no write",
                       kind="objective", data=data)]
        if rpo is not None:
            out.insert(0, Verdict("rpo", Status.UNKNOWN, f"≤ {format_duration(rpo)}", "no write was issued",
                                  kind="objective", data=data))
        return out
    if not res.read_back:
        out = [Verdict("data integrity", Status.UNKNOWN, "no corrupted writes", "not read back", res.note,
                       kind="objective", data=data)]
        if rpo is not None:
            out.insert(0, Verdict("rpo", Status.UNKNOWN, f"≤ {format_duration(rpo)}", "not read back", res.note,
                                  kind="objective", data=data))
        return out
    summary = (f"{res.writes} writes, {res.acknowledged} acknowledged, {res.lost} lost, {res.duplicated} duplicated, "
               f"{res.corrupted} corrupted, {res.unacknowledged_present} unacknowledged but present")
    out = []
    if rpo is not None:
        ok = res.rpo <= rpo + 1e-9
        detail = summary
        if len(res.incidents) > 1:
            detail += "; incidents: " + ", ".join(
                f"{i.index + 1}) {i.lost} lost at t={i.first_lost_ack:.2f}s..{i.last_lost_ack:.2f}s, "
                f"RPO {format_duration(i.rpo)}" for i in res.incidents)
        elif res.loss_window:
            detail += f"; loss window t={res.loss_window[0]:.2f}s..{res.loss_window[1]:.2f}s"
        if res.note:
            detail += f"; {res.note}"
        out.append(Verdict("rpo", Status.PASSED if ok else Status.FAILED, f"≤ {format_duration(rpo)}",
                           _measured(res), detail, value=res.rpo, precision=res.resolution, kind="objective",
                           data=data))
    out.append(Verdict("data integrity", Status.FAILED if res.corrupted else Status.PASSED, "no corrupted writes",
                       f"{res.corrupted} corrupted", summary, value=res.corrupted, kind="objective", data=data))
    return out
