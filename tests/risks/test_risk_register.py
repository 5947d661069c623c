"""The risk register file (kind: RiskRegister), the `risks:` of experiments and game days, and bad input.

Bad registers and unknown risk ids exit 2 with the file and line named, through the command line
(`chaosrunner risks`, `validate`, `gameday validate`, `report index`), as a user meets them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaosrunner.errors import ConfigError
from chaosrunner.read.documents import read_experiments
from chaosrunner.results.record import ExperimentInfo
from chaosrunner.model.risks import Probability, Severity
from chaosrunner.read.risks import REGISTER_ENV, find_register, read_register
from chaosrunner.risks.declared import declared_in
from support import ROOT

#: seed §4 (the register the repository ships): id → (title, category, severity, probability)
SEED_REGISTER = {
    "INFRA-001": ("Database Primary Failure", "Infrastructure", "critical", "low"),
    "INFRA-002": ("Network Partition", "Infrastructure", "high", "medium"),
    "INFRA-003": ("Complete Region Failure", "Infrastructure", "critical", "very_low"),
    "APP-001": ("Memory Leak in API Server", "Application", "high", "medium"),
    "APP-002": ("SQLx Connection Pool Exhaustion", "Application", "high", "medium"),
    "APP-003": ("Configuration Corruption", "Application", "critical", "low"),
    "SEC-001": ("JWT Secret Compromise", "Security", "critical", "very_low"),
    "SEC-002": ("DDoS Attack", "Security", "high", "medium"),
}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, cwd: Path = ROOT) -> Result:
    """The command line, in this process (the same code path as `chaosrunner ...`; seconds faster)."""
    from typer.testing import CliRunner

    from chaosrunner.cli.main import app

    before = Path.cwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(before)
    assert not isinstance(r.exception, Exception) or isinstance(r.exception, SystemExit), r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


def test_the_shipped_register_is_the_seeds():
    reg = read_register(ROOT / "risks.yaml")
    got = {r.id: (r.title, r.category, r.severity.value, r.probability.value) for r in reg.risks}
    assert got == SEED_REGISTER
    assert all(r.owner and r.mitigations and r.impact for r in reg.risks)
    assert reg.review == "monthly" and reg.review_of(reg.get("INFRA-003")) == "quarterly"
    # the scales carry the seed's words
    assert "system-wide outage" in Severity.CRITICAL.level.words and "> 1 hour" in Severity.CRITICAL.level.words
    assert Probability.VERY_LOW.level.words == "< 10%; yearly"


def test_the_ready_files_declare_registered_risks_and_three_are_uncovered():
    reg = read_register(ROOT / "risks.yaml")
    declared = declared_in([ROOT / "experiments", ROOT / "gamedays"])
    by_name = {d.name: set(d.risks) for d in declared if d.file.name != "seed-experiments.yaml"}
    assert by_name["database-failure"] == {"INFRA-001"}
    assert by_name["region-partition"] == {"INFRA-002", "INFRA-003"}
    assert by_name["region-failure"] == {"INFRA-002", "INFRA-003"}
    assert by_name["memory-pressure"] == {"APP-001"} and by_name["cascading-failure"] == {"APP-002"}
    used = set().union(*by_name.values())
    assert used <= set(reg.ids())
    assert set(reg.ids()) - used == {"APP-003", "SEC-001", "SEC-002"}
    # and the readers find the repository's register for them, so the ids are checked when they load
    assert find_register(ROOT / "experiments") == ROOT / "risks.yaml"
    [exp] = read_experiments(ROOT / "experiments" / "database-failure.yaml")
    assert exp.model.risks == ["INFRA-001"]


def test_the_seeds_spellings_are_read(tmp_path):
    text = (ROOT / "risks.yaml").read_text().replace("severity: critical ", "severity: Critical ", 1)
    text = text.replace("probability: very_low ", "probability: Very Low ", 1)
    (tmp_path / "risks.yaml").write_text(text)
    reg = read_register(tmp_path / "risks.yaml")
    assert reg.risks[0].severity is Severity.CRITICAL and reg.get("INFRA-003").probability is Probability.VERY_LOW


BAD_REGISTERS = [
    ("severity", "severity: critical            # system-wide", "severity: severe            # system-wide",
     r"'severe' is not allowed here", "expected 'critical', 'high', 'medium' or 'low'"),
    ("probability", "probability: medium           # 25-50%, monthly\n    owner: platform team",
     "probability: sometimes\n    owner: platform team", r"'sometimes' is not allowed", "very_high"),
    ("duplicate", "  - id: INFRA-002", "  - id: INFRA-001", r"risk id 'INFRA-001' appears twice", "unique id"),
    ("unknown key", "    owner: database team", "    owners: database team", r"unknown key 'owners'", "owner"),
    ("missing title", "    title: Network Partition\n", "", r"missing required key 'title'", "title:"),
    ("review", "review: monthly\nrisks:", "review: fortnightly\nrisks:", r"'fortnightly' is not allowed", "weekly"),
    ("kind", "kind: RiskRegister", "kind: Risks", r"kind: RiskRegister", "add `kind: RiskRegister`"),
]


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(("case", "old", "new", "message", "hint"), BAD_REGISTERS, ids=[b[0] for b in BAD_REGISTERS])
def test_a_bad_register_exits_2_naming_its_line(tmp_path, case, old, new, message, hint):
    text = (ROOT / "risks.yaml").read_text()
    assert old in text
    bad = text.replace(old, new, 1)
    path = tmp_path / "risks.yaml"
    path.write_text(bad)
    r = cli("risks", "--register", str(path), "--reports", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and re.search(message, r.stderr), r.stderr
    assert hint in r.stderr
    located = re.search(re.escape(str(path)) + r":(\d+):\d+", r.stderr)
    assert located, r.stderr
    if new.strip() and case not in ("missing title",):
        assert int(located.group(1)) == _line_of(text, old), r.stderr      # where the bad value stands
    # `report index` refuses it the same way (exit 2, the line named)
    reports = tmp_path / "reports"
    reports.mkdir()
    r = cli("report", "index", str(reports), "--register", str(path))
    assert r.returncode == 2 and f"{path}:{located.group(1)}" in r.stderr, r.stderr


def test_not_a_register_and_no_register(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    r = cli("risks", "--register", str(tmp_path / "list.yaml"))
    assert r.returncode == 2 and f"{tmp_path / 'list.yaml'}:1:1" in r.stderr and "RiskRegister" in r.stderr
    r = cli("risks", "--register", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = cli("risks", "--register", str(ROOT / "risks.yaml"), "--experiments", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "nowhere is not a folder" in r.stderr
    r = cli("risks", "--register", str(ROOT / "risks.yaml"), "--reports", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "nowhere is not a folder" in r.stderr and "--reports" in r.stderr
    (tmp_path / ".git").mkdir()                       # the project root: the search stops here
    r = cli("risks", cwd=tmp_path)
    assert r.returncode == 2 and "no risk register found" in r.stderr and "--register" in r.stderr


EXPERIMENT = """\
name: tagged
risks:
  - INFRA-001
  - {risk}
method:
  - pause: 10ms
"""

GAMEDAY = """\
kind: GameDay
name: tagged-day
risks: [APP-003, {risk}]
phases:
  - name: only
    steps:
      - note: nothing happens
"""


def test_an_unknown_risk_id_exits_2_at_its_line(tmp_path):
    (tmp_path / "risks.yaml").write_text((ROOT / "risks.yaml").read_text())
    (tmp_path / "exp.yaml").write_text(EXPERIMENT.format(risk="INFRA-009"))
    r = cli("validate", str(tmp_path / "exp.yaml"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{tmp_path / 'exp.yaml'}:4:5: risk 'INFRA-009' is not in the risk register" in r.stderr, r.stderr
    assert "did you mean 'INFRA-00" in r.stderr and "INFRA-001, INFRA-002" in r.stderr
    (tmp_path / "day.yaml").write_text(GAMEDAY.format(risk="SEC-01"))
    r = cli("gameday", "validate", str(tmp_path / "day.yaml"))
    assert r.returncode == 2 and f"{tmp_path / 'day.yaml'}:3:18: risk 'SEC-01'" in r.stderr, r.stderr
    assert "did you mean 'SEC-001'?" in r.stderr
    # a register id that is known validates
    (tmp_path / "day.yaml").write_text(GAMEDAY.format(risk="SEC-002"))
    r = cli("gameday", "validate", str(tmp_path / "day.yaml"))
    assert r.returncode == 0, r.stderr
    # `run` refuses before anything starts (exit 2, the same message)
    (tmp_path / "exp.yaml").write_text(EXPERIMENT.format(risk="APP-404"))
    r = cli("run", str(tmp_path / "exp.yaml"), "--report-dir", str(tmp_path / "reports"))
    assert r.returncode == 2 and ":4:5: risk 'APP-404'" in r.stderr and not (tmp_path / "reports").exists()


def test_a_risk_listed_twice_and_a_bad_register_found_for_an_experiment(tmp_path):
    (tmp_path / "exp.yaml").write_text(EXPERIMENT.format(risk="INFRA-001"))
    r = cli("validate", str(tmp_path / "exp.yaml"))
    assert r.returncode == 2 and ":4:5: risk 'INFRA-001' is listed twice" in r.stderr, r.stderr
    (tmp_path / "exp.yaml").write_text(EXPERIMENT.format(risk="INFRA-002"))
    (tmp_path / "risks.yaml").write_text("kind: RiskRegister\nrisks:\n  - id: X-1\n    title: t\n    category: c\n"
                                         "    severity: dire\n    probability: low\n")
    r = cli("validate", str(tmp_path / "exp.yaml"))
    assert r.returncode == 2 and f"{tmp_path / 'risks.yaml'}:6:15: severity: 'dire'" in r.stderr, r.stderr


def test_which_register_applies(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    sub = tmp_path / "experiments"
    sub.mkdir()
    (sub / "exp.yaml").write_text(EXPERIMENT.format(risk="ANY-1"))
    monkeypatch.delenv(REGISTER_ENV, raising=False)
    # no register: the ids are recorded as written, not checked
    [exp] = read_experiments(sub / "exp.yaml")
    assert exp.model.risks == ["INFRA-001", "ANY-1"]
    # one at the project root applies to the folders below it
    (tmp_path / "risks.yaml").write_text((ROOT / "risks.yaml").read_text())
    with pytest.raises(ConfigError, match="'ANY-1' is not in the risk register"):
        read_experiments(sub / "exp.yaml")
    # $CHAOSRUNNER_RISK_REGISTER names another; empty: none
    (tmp_path / "other.yaml").write_text("kind: RiskRegister\nrisks:\n  - {id: ANY-1, title: t, category: c, "
                                         "severity: low, probability: low}\n  - {id: INFRA-001, title: t, "
                                         "category: c, severity: low, probability: low}\n")
    monkeypatch.setenv(REGISTER_ENV, str(tmp_path / "other.yaml"))
    assert read_experiments(sub / "exp.yaml")[0].model.risks == ["INFRA-001", "ANY-1"]
    monkeypatch.setenv(REGISTER_ENV, "")
    assert read_experiments(sub / "exp.yaml")[0].model.risks == ["INFRA-001", "ANY-1"]
    monkeypatch.setenv(REGISTER_ENV, str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        read_experiments(sub / "exp.yaml")


def test_the_run_record_carries_the_risks():
    info = ExperimentInfo(name="x", risks=["INFRA-001"])
    assert info.risks == ["INFRA-001"]
    # a game day's record is built from its file as written: the risks come with it
    day = ExperimentInfo(name="d", kind="GameDay", raw={"kind": "GameDay", "risks": ["INFRA-003", "INFRA-002"]})
    assert day.risks == ["INFRA-003", "INFRA-002"]
    assert ExperimentInfo(name="old", raw={"risks": "not a list"}).risks == []
    from chaosrunner.results import RunRecord

    schema = RunRecord.run_record_schema()
    assert "risks" in schema["$defs"]["ExperimentInfo"]["properties"]
    assert "risks" in schema["$defs"]["ExperimentInfo"].get("required", [])
