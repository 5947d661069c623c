"""When an entry fires, and whether its windows are open then. Cron is croniter's, never hand-written.

A fire time is an instant (an aware datetime). ``cron`` fires are croniter's in the entry's time
zone; ``every`` fires are ``anchor + k × every`` (the anchor is the scheduler's start). A fire is
*allowed* when every window is open at it, read in the entry's time zone: its day is in ``days``,
not in ``except``, and its time of day is within ``only_between`` (start included, end excluded; a
window may cross midnight, and then belongs to the day it starts on).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from chaosrunner.schedule.model import DAYS, Entry


def zone(entry: Entry) -> ZoneInfo:
    return ZoneInfo(entry.timezone)


def fires(entry: Entry, after: datetime, anchor: datetime | None = None) -> Iterator[datetime]:
    """The entry's fire times strictly after ``after`` (aware), in its time zone, forever."""
    tz = zone(entry)
    if entry.cron is not None:
        it = croniter(entry.cron, after.astimezone(tz))
        while True:
            yield it.get_next(datetime)
    else:
        assert entry.every is not None
        step = timedelta(seconds=entry.every)
        base = (anchor or after).astimezone(tz)
        k = max(0, int((after - base) / step) - 1)
        while True:
            at = base + k * step
            if at > after:
                yield at
            k += 1


def closed_window(entry: Entry, at: datetime) -> str | None:
    """Which window is closed at ``at`` (a sentence for the log), or None when the run may start."""
    local = at.astimezone(zone(entry))
    day = local.date()
    if entry.only_between is not None:
        start, end = entry.only_between
        t = local.time().replace(tzinfo=None)
        if start < end:
            inside = start <= t < end
        else:                                   # crosses midnight: the late part belongs to the previous day
            inside = t >= start or t < end
            if t < end:
                day = day - timedelta(days=1)
        if not inside:
            return f"outside only_between {start:%H:%M}-{end:%H:%M} ({local:%H:%M} {entry.timezone})"
    if entry.days is not None and DAYS[day.weekday()] not in entry.days:
        return f"not on days {','.join(entry.days)} ({DAYS[day.weekday()]})"
    if day in entry.except_:
        return f"an excepted day ({day.isoformat()})"
    return None


def next_allowed(entry: Entry, after: datetime, count: int, anchor: datetime | None = None,
                 horizon_days: int = 800, limit: int = 200_000) -> list[datetime]:
    """The next ``count`` fires with every window open (fewer when none comes within the horizon)."""
    out: list[datetime] = []
    end = after + timedelta(days=horizon_days)
    for n, at in enumerate(fires(entry, after, anchor)):
        if at > end or n >= limit or len(out) >= count:
            break
        if closed_window(entry, at) is None:
            out.append(at)
    return out


def fmt(at: datetime, entry: Entry) -> str:
    """``2026-12-01 10:00 CET (09:00 UTC)``."""
    local = at.astimezone(zone(entry))
    return f"{local:%a %Y-%m-%d %H:%M:%S %Z} ({at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
