"""A pytest plugin: every run.json the test session wrote must be a valid run record, or the session fails.

When the session ends, every ``run.json`` under its base temporary folder (where ``tmp_path``
and ``tmp_path_factory`` put everything: runs of the engine, of the CLI in a subprocess, the
report tests' files; with pytest-xdist, the controller's folder, which holds each worker's) is
validated with ``jsonschema`` against the run record's published JSON Schema (what
``chaosrunner schema --run-record`` prints). A v1 file (``chaosrunner/run/v1``, kept for the
reader's sake) must migrate to a record that validates. Any other file makes the session
exit 1, naming the file and why. A test that writes a broken run.json on purpose says so with
``not_a_record(run_dir, why)``.

``tests/conftest.py`` registers this module; ``pytest -p run_records`` loads it elsewhere (the test
that shows it fails a session does that).
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

NOT_A_RECORD = "NOT_A_RUN_RECORD"      # beside a run.json written broken on purpose: its reason
MAX_PROBLEMS = 5


def not_a_record(run_dir: Path, why: str) -> None:
    """Exempt ``run_dir/run.json`` from the check: a test wrote it broken on purpose."""
    (run_dir / NOT_A_RECORD).write_text(why, encoding="utf-8")


@cache
def validator() -> jsonschema.protocols.Validator:
    from chaosrunner.results import RunRecord

    schema = RunRecord.run_record_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _where(error: Any) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(the document)"


def problems(path: Path) -> list[str]:
    """Why ``path`` is not a valid run record (empty: it is one)."""
    from chaosrunner.results import RUN_SCHEMA_V1, run_record

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"not JSON: {exc}"]
    if isinstance(doc, dict) and doc.get("schema") == RUN_SCHEMA_V1:
        try:
            doc = run_record(doc).document()
        except ValueError as exc:
            return [f"a v1 file that does not migrate: {' '.join(str(exc).split())[:500]}"]
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_where(e)}: {e.message[:300]}" for e in errors[:MAX_PROBLEMS]]


def invalid_run_records(root: Path) -> list[tuple[Path, list[str]]]:
    """Every run.json under ``root`` that is not a valid run record, with why."""
    out = []
    for path in sorted(root.rglob("run.json")):
        if (path.parent / NOT_A_RECORD).exists():
            continue
        found = problems(path)
        if found:
            out.append((path, found))
    return out


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return      # a pytest-xdist worker: its folder is under the controller's, which checks them all at the end
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)       # None: no test asked for a temporary folder
    if basetemp is None or not Path(basetemp).is_dir():
        return
    bad = invalid_run_records(Path(basetemp))
    if not bad:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(text: str, **markup: bool) -> None:
        if reporter is None:
            print(text)
        else:
            reporter.write_line(text, **markup)

    say("")
    say(f"{len(bad)} run.json file(s) written by this session are not valid run records "
        "(chaosrunner schema --run-record):", red=True, bold=True)
    for path, found in bad:
        say(f"  {path}")
        for line in found:
            say(f"    {line}")
    if session.exitstatus == 0:
        session.exitstatus = 1
