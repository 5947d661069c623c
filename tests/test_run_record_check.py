"""The suite's run-record check (tests/run_records.py) really fails a session that wrote an invalid run.json.

Each case runs a small pytest session in a subprocess with the plugin loaded (``-p run_records``),
its base temporary folder outside this session's, so that the broken files it writes on purpose
are not this session's own.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from support import ROOT

TESTS = Path(__file__).parent
V1_FIXTURE = TESTS / "report" / "v1" / "real-failover.run.json"

INNER_HEAD = """\
import json
from pathlib import Path

from chaosrunner.analyse.status import RunStatus
from chaosrunner.results import RunRecord, write_run_json
from chaosrunner.results.record import ExperimentInfo
from run_records import not_a_record


def written(folder):
    record = RunRecord(run_id="r1", experiment=ExperimentInfo(name="x"), status=RunStatus.HELD)
    path = write_run_json(folder, record)
    return path, json.loads(path.read_text())
"""

CASES = {
    "valid": "pass",
    "v1": "(tmp_path / 'old').mkdir(); "
          f"(tmp_path / 'old' / 'run.json').write_bytes(Path({str(V1_FIXTURE)!r}).read_bytes())",
    "broken on purpose": "path.write_text('{not json'); not_a_record(path.parent, 'this test reads a broken file')",
    "status": "doc['status'] = 'passed-ish'; path.write_text(json.dumps(doc))",
    "unknown key": "doc['measurements']['rto'] = 3.0; path.write_text(json.dumps(doc))",
    "missing part": "del doc['timeline']; path.write_text(json.dumps(doc))",
    "broken json": "path.write_text('{not json')",
}


def inner_tests(cases: list[str]) -> str:
    """One test per case, each writing a valid run.json into ``<tmp>/<case>/`` and then doing the case to it."""
    return INNER_HEAD + "".join(
        f"\n\ndef test_{i}(tmp_path):\n    path, doc = written(tmp_path / {case.replace(' ', '-')!r})\n"
        f"    {CASES[case]}\n" for i, case in enumerate(cases))


def inner_session(cases: list[str]) -> subprocess.CompletedProcess:
    base = Path(tempfile.mkdtemp(prefix="run-record-check-"))     # not under this session's basetemp
    try:
        (base / "test_inner.py").write_text(inner_tests(cases))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "run_records", "-p", "no:cacheprovider",
                               "--basetemp", str(base / "tmp"), str(base / "test_inner.py")],
                              cwd=base, env=env, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_session_whose_run_records_are_valid_passes():
    """A v2 record from the writer, a v1 file (it migrates) and one exempted on purpose: the session passes."""
    r = inner_session(["valid", "v1", "broken on purpose"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed" in r.stdout and "not valid run records" not in r.stdout


def test_an_invalid_run_json_fails_the_session_and_says_which_and_why():
    r = inner_session(["valid", "status", "unknown key", "missing part", "broken json"])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "5 passed" in r.stdout                        # every test passed: the check failed the session
    assert "4 run.json file(s) written by this session are not valid run records" in r.stdout, r.stdout
    for case, why in [("status", "status: 'passed-ish' is not one of"),
                      ("unknown-key", "measurements: Additional properties are not allowed ('rto' was unexpected)"),
                      ("missing-part", "(the document): 'timeline' is a required property"),
                      ("broken-json", "not JSON")]:
        assert f"/{case}/run.json\n    {why}" in r.stdout, (case, r.stdout)
    assert "/valid/run.json" not in r.stdout
