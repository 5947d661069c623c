"""Data-integrity measurement from the writer's records: lost writes and RPO measured.

Pure functions (no I/O, no clock) over ``WriteRecord``s whose ``found`` the read-back filled
(``present`` | ``missing`` | ``corrupted`` | ``duplicated``):

- Lost = acknowledged (``ack`` set) but ``missing`` or ``corrupted`` on read-back.
- Duplicated = found more than once; counted as present (the data survived) and reported.
- Corrupted = read back with a different value, acknowledged or not.
- Unacknowledged-but-present = the write failed or timed out for the writer, yet it landed.
- Loss window = from the acknowledgement of the oldest lost write to that of the newest.
- RPO measured = ack time of the newest lost write − ack time of the newest surviving
  (acknowledged and present) write acknowledged before the oldest lost one; 0 when nothing
  acknowledged was lost. When no surviving write precedes the loss, the oldest lost write's
  sending time stands in (everything since the writer started was lost).
Resolution of RPO: ± one write interval (the writer's period).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Sequence

from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import WriteRecord
from chaosrunner.units import format_duration

SURVIVED = ("present", "duplicated")


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "writes": self.writes, "acknowledged": self.acknowledged, "unacknowledged": self.unacknowledged,
            "read_back": self.read_back, "present": self.present, "lost": self.lost, "duplicated": self.duplicated,
            "corrupted": self.corrupted, "unacknowledged_present": self.unacknowledged_present, "rpo": self.rpo,
            "resolution": self.resolution, "loss_window": list(self.loss_window) if self.loss_window else None,
            "last_surviving_before_loss": self.last_surviving_before_loss,
            "lost_seqs": _ranges(self.lost_seqs), "note": self.note,
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


def integrity(records: Iterable[WriteRecord], interval: float | None = None) -> IntegrityResult:
    """Summarise the writes; ``interval`` is the writer's period (inferred from the records when omitted)."""
    recs = sorted(records, key=lambda r: r.seq)
    acked = [r for r in recs if r.ack is not None]
    lost = sorted((r for r in acked if is_lost(r)), key=lambda r: (r.ack, r.seq))
    read_back = bool(recs) and all(r.found is not None for r in recs)
    resolution = interval if interval is not None else write_interval(recs)
    rpo, window, reference, note = 0.0, None, None, ""
    if lost:
        oldest, newest = lost[0], lost[-1]
        window = (float(oldest.ack), float(newest.ack))  # type: ignore[arg-type]
        survivors = [r.ack for r in acked if r.found in SURVIVED and r.ack < oldest.ack]  # type: ignore[operator]
        if survivors:
            reference = max(survivors)  # type: ignore[type-var]
        else:
            reference = oldest.sent
            note = "no acknowledged write survived before the loss; measured from the first lost write's sending"
        rpo = max(0.0, float(newest.ack) - float(reference))  # type: ignore[arg-type]
    if recs and not read_back:
        note = (note + "; " if note else "") + f"{sum(r.found is None for r in recs)} write(s) were not read back"
    return IntegrityResult(
        writes=len(recs), acknowledged=len(acked), unacknowledged=len(recs) - len(acked), read_back=read_back,
        present=sum(r.found in SURVIVED for r in recs), lost=len(lost),
        duplicated=sum(r.found == "duplicated" for r in recs), corrupted=sum(r.found == "corrupted" for r in recs),
        unacknowledged_present=sum(r.ack is None and r.found in SURVIVED for r in recs), rpo=rpo,
        resolution=resolution, loss_window=window, last_surviving_before_loss=reference,
        lost_seqs=tuple(sorted(r.seq for r in lost)), note=note)


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
        if res.loss_window:
            detail += f"; loss window t={res.loss_window[0]:.2f}s..{res.loss_window[1]:.2f}s"
        if res.note:
            detail += f"; {res.note}"
        out.append(Verdict("rpo", Status.PASSED if ok else Status.FAILED, f"≤ {format_duration(rpo)}",
                           _measured(res), detail, value=res.rpo, precision=res.resolution, kind="objective",
                           data=data))
    out.append(Verdict("data integrity", Status.FAILED if res.corrupted else Status.PASSED, "no corrupted writes",
                       f"{res.corrupted} corrupted", summary, value=res.corrupted, kind="objective", data=data))
    return out
