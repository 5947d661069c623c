"""The terminal view of a run: one line per fault event and probe change, then a verdict table.

A listener on the timeline (it never touches the engine): the engine runs the same with or
without it. Lines go to stderr so that ``--json`` output on stdout stays machine-readable.
"""
from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, unmeasured_objectives
from chaosrunner.timeline import Event, EventKind, Sample

MARK = {Status.PASSED: "[green]✓ passed[/]", Status.FAILED: "[red]✗ failed[/]",
        Status.UNKNOWN: "[yellow]? unknown[/]", Status.SKIPPED: "[dim]- skipped[/]"}
STATUS_TEXT = {RunStatus.HELD: "[bold green]HELD[/]", RunStatus.FAILED: "[bold red]FAILED[/]",
               RunStatus.ABORTED: "[bold yellow]ABORTED[/]",
               RunStatus.INCONCLUSIVE: "[bold yellow]INCONCLUSIVE — an objective could not be measured[/]",
               RunStatus.REVERT_FAILED:
                   "[bold red]REVERT FAILED — a fault is still active, run `chaosrunner recover`[/]"}


class LiveView:
    """Event lines as they happen; on a terminal, also a live panel: a line per probe and the current step."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)
        self._probe_state: dict[str, tuple[float, bool]] = {}
        self._counts: dict[str, list[int]] = {}
        self._last_error: dict[str, str | None] = {}
        self._step = "starting"
        self._now = 0.0
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            self._live = Live(self._panel(), console=self.console, refresh_per_second=4, transient=True,
                              get_renderable=self._panel)
            self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _panel(self) -> Group:
        table = Table(box=None, show_header=True, pad_edge=False)
        for col in ("probe", "now", "ok", "last error"):
            table.add_column(col)
        for name, (_, ok) in self._probe_state.items():
            good, total = self._counts.get(name, [0, 0])
            table.add_row(name, "[green]ok[/]" if ok else "[red]failing[/]", f"{good}/{total}",
                          Text((self._last_error.get(name) or "")[:60]))
        return Group(Text.from_markup(f"[bold]{self._now:7.1f}s[/]  {self._step}"), table)

    def __call__(self, record: Any) -> None:
        if isinstance(record, Sample):
            self._now = max(self._now, record.end)
            counts = self._counts.setdefault(record.probe, [0, 0])
            counts[0] += record.ok
            counts[1] += 1
            if not record.ok:
                self._last_error[record.probe] = record.error
            last = self._probe_state.get(record.probe)
            if last is not None and record.start < last[0]:
                return      # a slow sample finishing after a newer one: old news
            self._probe_state[record.probe] = (record.start, record.ok)
            if last is None or last[1] != record.ok:
                state = "[green]ok[/]" if record.ok else f"[red]failing[/] ({record.error})"
                self.console.print(f"[dim]{record.start:8.2f}s[/]  probe {record.probe}: {state}", markup=True)
            return
        if isinstance(record, Event):
            self._now = max(self._now, record.t)
            if record.kind in (EventKind.STEP_STARTED, EventKind.PHASE_STARTED):
                self._step = str(record.data.get("step") or record.data.get("phase"))
            text = describe_event(record)
            if text:
                self.console.print(f"[dim]{record.t:8.2f}s[/]  {text}")


def describe_event(ev: Event) -> str | None:
    d = ev.data
    k = ev.kind
    if k is EventKind.PHASE_STARTED:
        return f"[bold]{d.get('phase')}[/]"
    if k is EventKind.STEADY_STATE:
        outcome = "[green]ok[/]" if d.get("ok") else f"[red]failed[/] {d.get('errors')}"
        return f"steady state {d.get('phase')}: {outcome}"
    if k is EventKind.FAULT_INJECTED:
        return f"[magenta]fault injected[/] {d.get('type')} on {d.get('target')} ({d.get('fault_id')})"
    if k is EventKind.FAULT_REVERTED:
        return f"[cyan]fault reverted[/] {d.get('type')} on {d.get('target')} ({d.get('fault_id')}, by {d.get('by')})"
    if k is EventKind.FAULT_REVERT_FAILED:
        return f"[bold red]REVERT FAILED[/] {d.get('type')} on {d.get('target')}: {d.get('error')}"
    if k is EventKind.STEP_STARTED and d.get("kind") == "pause":
        return f"{d.get('step')}"
    if k in (EventKind.ABORT, EventKind.SIGNAL, EventKind.ERROR):
        return f"[bold yellow]{k.value}[/] {d.get('reason') or d.get('signal') or d.get('error')}"
    if k in (EventKind.LOAD_STARTED, EventKind.LOAD_STOPPED, EventKind.WRITER_STARTED, EventKind.WRITER_STOPPED):
        return k.value.replace("_", " ") + (f" ({d['error']})" if d.get("error") else "")
    return None


def verdict_table(result: Any) -> Table:
    table = Table(title=f"{result.name}: {result.run_id}", show_lines=False)
    for col in ("verdict", "expected", "measured", "status"):
        table.add_column(col)
    for v in result.verdicts:
        table.add_row(v.name, v.expected, v.measured, MARK[v.status])
    return table


def print_result(console: Console, result: Any) -> None:
    console.print(verdict_table(result))
    reason = f" ({result.abort_reason})" if result.abort_reason else ""
    console.print(f"result: {STATUS_TEXT[RunStatus(result.status)]}{reason}")
    failed = [v for v in result.verdicts if v.status is Status.FAILED and v.detail]
    for v in failed:
        console.print(f"  {v.name}: {v.detail}", markup=False)
    for v in unmeasured_objectives(result.verdicts):
        why = f"{v.measured}" + (f" ({v.detail})" if v.detail else "")
        console.print(f"  {v.name}: could not be measured: {why}", markup=False)
    report = result.run_dir / "report.html"
    console.print(f"report: {report if report.exists() else result.run_dir / 'run.json'}")
