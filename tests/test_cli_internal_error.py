"""A bug inside chaosrunner is not a verdict: the command line never exits 1 ("a hypothesis
failed") for it. It prints one line and a hint to report it, and no traceback unless
CHAOSRUNNER_DEBUG is set."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chaosrunner import api, cli


def boom(*args, **kwargs):
    raise RuntimeError("something\nbroke inside")


@pytest.mark.parametrize("command, patched, code", [
    (["validate", "x.yaml"], "validate", 2),          # nothing ran: no verdict
    (["plan", "x.yaml"], "plan", 2),
    (["run", "x.yaml", "--non-interactive"], "plan", 3),  # aborted: no verdict
    (["recover"], "recover", 4),                      # faults may be left: a human must look
])
def test_internal_error_exit_code_is_never_a_failed_hypothesis(monkeypatch, command, patched, code):
    monkeypatch.delenv("CHAOSRUNNER_DEBUG", raising=False)
    monkeypatch.setattr(api, patched, boom)
    result = CliRunner().invoke(cli.app, command)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert lines == ["internal error: RuntimeError: something broke inside",
                     "  hint: a bug in chaosrunner; please report it (CHAOSRUNNER_DEBUG=1 shows the traceback)"]
    assert "Traceback" not in result.output


def test_schema_internal_error_exits_2(monkeypatch):
    from chaosrunner.model.targets import Inventory

    monkeypatch.setattr(Inventory, "model_json_schema", classmethod(boom))
    result = CliRunner().invoke(cli.app, ["schema", "--inventory"])
    assert result.exit_code == 2 and result.stderr.startswith("internal error: RuntimeError"), result.output


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("CHAOSRUNNER_DEBUG", "1")
    monkeypatch.setattr(api, "validate", boom)
    result = CliRunner().invoke(cli.app, ["validate", "x.yaml"])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr and "hint:" not in result.stderr
