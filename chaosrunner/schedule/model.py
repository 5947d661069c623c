"""The schedules file (``kind: Schedules``): named entries, each saying when to run which files, and how.

```yaml
kind: Schedules
report_dir: reports                       # relative to this file
schedules:
  db-failover-monthly:
    cron: "0 10 1-7 * mon"                # 5 fields (croniter), in `timezone`; or `every: 6h`
    timezone: Europe/Paris
    run: experiments/database-failure.yaml   # or a list, run in sequence; game days too (kind: GameDay)
    targets: targets/demo.yaml
    vars: {region: eu}
    only_between: "09:00-17:00"           # windows, in `timezone`: chaos runs when people are at work
    days: mon-fri
    except: [2026-12-24, 2026-12-31]
    jitter: 10m                           # a random delay within the bound, recorded
    concurrency: forbid                   # forbid | allow | replace
    missed: skip                          # skip | run-once (within starting_deadline)
    starting_deadline: 1h
    retention: {keep_last: 24, keep_failed: 100}
    notify: [{url: "https://hooks.slack.com/...", format: slack, on: failure}]
    enabled: true
```

Only the shapes are checked here; ``schedule.read`` checks what needs the world (cron expressions,
time zones, windows that never open at a fire time, the run files themselves) with the same
located messages.
"""
from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from chaosrunner.model.base import Duration, FieldError, Strict, Timeout
from chaosrunner.units import parse_duration

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${env:NAME}`` in a webhook's url or headers: read when sending, never written anywhere."""
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


Seconds = Annotated[float, BeforeValidator(_duration)]


class Concurrency(StrEnum):
    FORBID = "forbid"        # a fire while the entry's run is still going is skipped (recorded)
    ALLOW = "allow"          # another run starts beside it
    REPLACE = "replace"      # the running one is stopped (its faults reverted, its report written) first


class Missed(StrEnum):
    SKIP = "skip"            # fires missed while no scheduler ran are skipped (recorded)
    RUN_ONCE = "run-once"    # the latest missed fire runs once, when within starting_deadline


class NotifyOn(StrEnum):
    ALWAYS = "always"
    FAILURE = "failure"          # the run did not hold (failed, inconclusive, aborted, revert failed, crashed)
    REGRESSION = "regression"    # it did not hold while the previous run of the same experiment did


class Webhook(Strict):
    url: str
    format: Literal["slack", "json"] = Field("json", description="slack: Slack-compatible {text, blocks}; "
                                                                  "json: the generic document")
    on: NotifyOn = NotifyOn.FAILURE
    timeout: Timeout = Field(5.0, description="per attempt")
    retries: int = Field(3, ge=0, le=10, description="attempts after the first, with a doubling backoff")
    backoff: Seconds = Field(1.0, ge=0.0, le=300.0, description="the first retry's delay; doubled after each")
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        """YAML 1.1 reads the key ``on`` as the boolean true (as GitHub workflows know): take it back."""
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value) and not ENV_REF.fullmatch(value):
            raise ValueError(f"{value!r} is not an http(s) URL; write e.g. https://hooks.slack.com/services/..., or "
                             f"${{env:SLACK_WEBHOOK_URL}} to keep a secret URL out of the file")
        return value


class Retention(Strict):
    keep_last: int = Field(24, ge=1, description="the newest run folders of this entry kept")
    keep_failed: int = Field(100, ge=0, description="and the newest ones that did not hold")


def _days(value: object) -> object:
    """``mon-fri``, ``sat,sun``, ``[mon, wed-fri]`` → the list of day names."""
    if isinstance(value, str):
        value = [p for p in re.split(r"[,\s]+", value.strip().lower()) if p]
    if not isinstance(value, list):
        return value
    out: list[str] = []
    for item in value:
        text = str(item).strip().lower()[:3] if "-" not in str(item) else str(item).strip().lower()
        if "-" in text:
            a, b = (p.strip()[:3] for p in text.split("-", 1))
            if a not in DAYS or b not in DAYS:
                raise ValueError(f"{item!r} is not a range of days; write e.g. mon-fri")
            i, j = DAYS.index(a), DAYS.index(b)
            out.extend(DAYS[k % 7] for k in range(i, (j if j >= i else j + 7) + 1))
        elif text in DAYS:
            out.append(text)
        else:
            raise ValueError(f"{item!r} is not a day; write mon, tue, wed, thu, fri, sat or sun (or mon-fri)")
    return list(dict.fromkeys(out))


def _between(value: object) -> object:
    """``"09:00-17:00"`` → (09:00, 17:00); a window may cross midnight (``22:00-02:00``)."""
    if not isinstance(value, str):
        return value
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not m:
        raise ValueError(f"{value!r} is not a time window; write e.g. \"09:00-17:00\"")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{value!r} is not a time window: hours are 00-23, minutes 00-59")
    if (h1, m1) == (h2 % 24, m2):
        raise ValueError(f"the window {value!r} never opens: it starts when it ends")
    return (time(h1, m1), time(h2 % 24, m2))


class Entry(Strict):
    cron: str | None = Field(None, description="5 fields (minute hour day-of-month month day-of-week), in timezone")
    every: Duration | None = Field(None, description="or an interval from the scheduler's start: 6h, 30m")
    timezone: str = Field("UTC", description="an IANA time zone (Europe/Paris); cron and windows are read in it")
    run: list[str] = Field(description="an experiment or game-day file, or a list of them run in sequence")
    targets: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    only_between: Annotated[tuple[time, time] | None, BeforeValidator(_between)] = None
    days: Annotated[list[str] | None, BeforeValidator(_days)] = None
    except_: list[date] = Field(default_factory=list, alias="except", description="days without chaos")
    jitter: Duration = Field(0.0, description="a random delay within this bound before each run")
    concurrency: Concurrency = Concurrency.FORBID
    missed: Missed = Missed.SKIP
    starting_deadline: Duration | None = Field(None, description="a fire later than this is skipped")
    retention: Retention | None = None
    notify: list[Webhook] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("run", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("run")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the list is empty; name an experiment or game-day file")
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: float | None) -> float | None:
        if value is not None and value < 1.0:
            raise ValueError("every: at least 1s")
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> Entry:
        if (self.cron is None) == (self.every is None):
            raise FieldError("an entry needs `cron:` or `every:` (one of them)", "cron" if self.cron else (),
                             hint='write e.g. cron: "0 10 1 * *" (10:00 on the 1st of each month) or every: 6h')
        if self.days is not None and not self.days:
            raise FieldError("the window never opens: `days:` names no day", "days", hint="write e.g. days: mon-fri")
        return self


class SchedulesFile(Strict):
    kind: Literal["Schedules"]
    report_dir: str = Field("reports", description="where runs land (relative to this file); the history is there")
    schedules: dict[str, Entry]

    @field_validator("schedules")
    @classmethod
    def _names(cls, value: dict[str, Entry]) -> dict[str, Entry]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
                raise ValueError(f"entry name {name!r}: letters, digits, '-', '_' and '.' only (it names units "
                                 f"and jobs when exported)")
        return value
