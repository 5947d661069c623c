"""Input that used to crash the loader is one clear message, exit 2 from every command (issue 11, item 8).

Each case is the issue's reproduction: ``/dev/zero`` or a FIFO as the experiment or as its
``targets:`` (read until memory ran out / hung forever), a 5,000-digit integer, YAML tags whose
value they cannot hold, a NUL byte, a Chaos Toolkit file with ``method: 42`` and ``delay: .nan``.
``validate``, ``plan`` and ``run`` all exit 2 with the file, the line and a fix — ``run`` used to
call them internal errors (exit 3) — and nothing is touched: no ledger entry, no report.
"""
from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import run_cli, write
from typer.testing import CliRunner

from chaosrunner import api
from chaosrunner.cli.main import app
from chaosrunner.errors import ConfigError

INV = """\
targets:
  web:
    url: http://127.0.0.1:9
    toxiproxy: {api: "http://127.0.0.1:9", proxy: web}
"""


def _experiment(pause: str) -> str:
    return f"name: x\nmethod:\n  - pause: {pause}\n"


def _fifo(folder: Path, name: str) -> Path:
    path = folder / name
    os.mkfifo(path)
    return path


# case → (build the input in a folder: the path of the experiment, what the message says, where it points)
CASES = {
    "/dev/zero as the experiment": (lambda d: Path("/dev/zero"),
                                    "this is a character device, not a file chaosrunner can read", "/dev/zero: "),
    "/dev/zero as targets:": (lambda d: write(d / "exp.yaml", "name: x\ntargets: /dev/zero\nmethod:\n  - pause: 1s\n"),
                              "this is a character device", "/dev/zero: "),
    "a FIFO as the experiment": (lambda d: _fifo(d, "exp.yaml"), "this is a named pipe (FIFO)", "exp.yaml: "),
    "a FIFO as targets:": (lambda d: (_fifo(d, "inv.yaml"),
                                      write(d / "exp.yaml", "name: x\ntargets: inv.yaml\nmethod:\n  - pause: 1s\n"))[1],
                           "this is a named pipe (FIFO)", "inv.yaml: "),
    "a 5,000-digit integer": (lambda d: write(d / "exp.yaml", _experiment("1" * 5000)),
                              "as an int (Exceeds the limit (4300 digits)", "exp.yaml:3:12: "),
    "!!timestamp 2020-13-45": (lambda d: write(d / "exp.yaml", _experiment("!!timestamp 2020-13-45")),
                               "cannot read '2020-13-45' as a timestamp (month must be in 1..12)", "exp.yaml:3:12: "),
    "!!float abc": (lambda d: write(d / "exp.yaml", _experiment("!!float abc")),
                    "cannot read 'abc' as a float", "exp.yaml:3:12: "),
    "!!int abc": (lambda d: write(d / "exp.yaml", _experiment("!!int abc")),
                  "cannot read 'abc' as an int", "exp.yaml:3:12: "),
    "a NUL byte": (lambda d: write(d / "exp.yaml", "name: x\x00\nmethod:\n  - pause: 1s\n"),
                   "the file holds a control character (#x0000)", "exp.yaml:1:8: "),
    "Chaos Toolkit method: 42": (lambda d: write(d / "exp.yaml", "title: x\nmethod: 42\n"),
                                 "method is a list, not 42", "exp.yaml:2:9: "),
    # the same through a secret reference (read/resolve.py reads ${file:...} with read.files.read_text too)
    "${file:/dev/zero}": (lambda d: write(d / "exp.yaml", "name: x\nmethod:\n  - probe: {type: http, url: "
                                                          "\"http://127.0.0.1:9/${file:/dev/zero}\"}\n"),
                          "cannot read secret file /dev/zero: this is a character device", "exp.yaml:3:30: "),
    "${file:fifo}": (lambda d: (_fifo(d, "secret"), write(d / "exp.yaml", "name: x\nmethod:\n  - probe: {type: http, "
                                                                           "url: \"http://127.0.0.1:9/${file:secret}\"}\n"))[1],
                     "this is a named pipe (FIFO)", "exp.yaml:3:30: "),
    "${file:} not UTF-8": (lambda d: ((d / "secret").write_bytes(b"\xff"), write(d / "exp.yaml", (
        "name: x\nmethod:\n  - probe: {type: http, url: \"http://127.0.0.1:9/${file:secret}\"}\n")))[1],
                           "the file is not UTF-8 text (byte 0xff at line 1, column 1)", "exp.yaml:3:30: "),
    "delay: .nan": (lambda d: (write(d / "inv.yaml", INV), write(d / "exp.yaml", (
        "name: x\ntargets: inv.yaml\nmethod:\n  - action: {type: latency, target: web, delay: .nan}\n")))[1],
                    "delay: nan is not a finite duration", "exp.yaml:4:49: "),
}


@pytest.mark.timeout(30)                                # a FIFO used to block forever
@pytest.mark.parametrize("case", list(CASES))
def test_library_refuses_with_a_located_config_error(tmp_path, case):
    build, expected, where = CASES[case]
    path = build(tmp_path)
    for call in (api.validate, api.plan):
        with pytest.raises(ConfigError) as info:
            call(path)
        text = info.value.render()
        assert expected in text and where in text, text
        assert "hint: " in text, text                     # and how to fix it


def _cli(folder: Path, command: str, path: Path) -> subprocess.CompletedProcess:
    extra = ["--report-dir", str(folder / "reports"), "--non-interactive"] if command == "run" else []
    return run_cli(command, str(path), *extra, env={"CHAOSRUNNER_STATE_DIR": str(folder / "state")}, timeout=60)


def _check(folder: Path, r: subprocess.CompletedProcess, expected: str, where: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert expected in r.stderr and where in r.stderr and "hint: " in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert not (folder / "reports").exists()              # nothing ran
    assert not list((folder / "state").rglob("*.json"))   # nothing was written to the ledger


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_run_exits_2_touching_nothing(tmp_path, monkeypatch, case):
    """``run`` turned every one of these into exit 3, "internal error" (the command in this process, for
    speed; the slow test below starts one interpreter per command)."""
    build, expected, where = CASES[case]
    path = build(tmp_path)
    monkeypatch.setenv("CHAOSRUNNER_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(app, ["run", str(path), "--report-dir", str(tmp_path / "reports"),
                                      "--non-interactive"])
    _check(tmp_path, subprocess.CompletedProcess([], result.exit_code, result.stdout, result.stderr), expected, where)


@pytest.mark.slow
def test_validate_plan_and_run_alike(tmp_path):
    """Every case through the three commands (in parallel: 33 interpreters)."""
    jobs = []
    for i, (case, (build, expected, where)) in enumerate(CASES.items()):
        folder = tmp_path / str(i)
        folder.mkdir()
        path = build(folder)
        jobs += [(case, command, folder, path, expected, where) for command in ("validate", "plan", "run")]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda j: _cli(j[2], j[1], j[3]), jobs))
    for (case, command, folder, _, expected, where), r in zip(jobs, results, strict=True):
        try:
            _check(folder, r, expected, where)
        except AssertionError as exc:
            raise AssertionError(f"{command} on {case}: {exc}") from None

