"""Durations, rates and percentages are finite and in a sensible range, or refused with that range
(issue 11, item 9).

``.nan`` passes every comparison with a limit, so it used to be accepted everywhere: a fault of
``.nan`` ran and the run HELD (then ``plan`` crashed on it), a ``.nan`` sampling interval took
"0 samples", ``probe_failing_for: .nan`` silently disabled the stop condition; ``duration: 0s``
injected a fault and reverted it within 0 ms. The ranges (``chaosrunner.model.base``; the README
lists them): a fault lasts more than 0s and at most 24h; a pause 0s–24h; a timeout 1ms–1h;
``sampling.interval`` 5ms–10m; ``stable_for`` 0s–1h; ``probe_failing_for`` 0s–24h; a window or a
latency delay more than 0s, at most 1h; objectives 0s–7d; percentages 0%–100%; rates more than
0/s, at most 100000/s (a writer's at most 1000/s).
"""
from __future__ import annotations

import math

import pytest
from support import run_cli, write

from chaosrunner import api, units
from chaosrunner.errors import ConfigError
from chaosrunner.model.experiment import Experiment
from chaosrunner.model.faults import Fault, LatencyFault

INV = """\
targets:
  web:
    url: http://127.0.0.1:9
    toxiproxy: {api: "http://127.0.0.1:9", proxy: web}
    process: {pidfile: /nonexistent/web.pid}
"""

BASE = """\
name: ranges
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "http://127.0.0.1:9/health", timeout: 1s}
method:
  - action: {type: process, operation: stop, target: web, duration: 1s}
"""

# the issue's reproductions: (what to replace in BASE, by what) → the range the message names
ISSUE = {
    "nan fault duration": (("duration: 1s", "duration: .nan"),
                           "a fault's duration must be more than 0s and at most 24h"),
    "zero fault duration": (("duration: 1s", "duration: 0s"),
                            "0s is out of range: a fault's duration must be more than 0s and at most 24h"),
    "nan pause": (("method:\n", "method:\n  - pause: .nan\n"), "a pause must be between 0s and 24h"),
    "nan probe timeout": (("timeout: 1s", "timeout: .nan"), "a timeout must be between 1ms and 1h"),
    "nan sampling.interval": (("method:\n", "sampling: {interval: .nan}\nmethod:\n"),
                              "sampling.interval must be between 5ms and 10m"),
    "nan probe_failing_for": (("method:\n", "abort_when: [{probe_failing_for: .nan}]\nmethod:\n"),
                              "probe_failing_for must be between 0s and 24h"),
}


def _file(folder, text):
    write(folder / "inv.yaml", INV)
    return write(folder / "exp.yaml", text)


@pytest.mark.parametrize("case", list(ISSUE))
def test_the_issue_s_values_are_refused_with_their_range(tmp_path, case):
    (old, new), expected = ISSUE[case]
    path = _file(tmp_path, BASE.replace(old, new, 1))
    for call in (api.validate, api.plan):                 # plan used to crash on a .nan duration
        with pytest.raises(ConfigError) as info:
            call(path)
        assert expected in info.value.render() and "exp.yaml:" in info.value.render(), info.value.render()


@pytest.mark.slow
def test_the_cli_refuses_them_and_touches_nothing(tmp_path, web):
    """The reproductions through the command line, on a real process target: exit 2 from validate, plan
    and run, and the process is never stopped (a ``.nan`` fault used to run and HOLD)."""
    inv = INV.replace("/nonexistent/web.pid", str(web.pidfile))
    for i, case in enumerate(ISSUE):
        (old, new), expected = ISSUE[case]
        folder = tmp_path / str(i)
        folder.mkdir()
        write(folder / "inv.yaml", inv)
        path = write(folder / "exp.yaml", BASE.replace(old, new, 1))
        for command in ("validate", "plan", "run"):
            extra = ["--report-dir", str(folder / "reports"), "--non-interactive"] if command == "run" else []
            r = run_cli(command, str(path), *extra, timeout=60)
            assert r.returncode == 2 and expected in r.stderr, (case, command, r.returncode, r.stderr)
            assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        assert not (folder / "reports").exists()
        assert web.state() != "stopped"


def _at(section: str, where: str = "method") -> str:
    """BASE with ``section`` (YAML lines) inserted before ``where:``."""
    return BASE.replace(f"{where}:\n", section + f"{where}:\n", 1)


FAULT = "  - action: {type: process, operation: stop, target: web, duration: 1s}\n"
LATENCY = "  - action: {{type: latency, target: web, delay: {delay}, jitter: {jitter}}}\n"
# field → (the experiment with a bad value, what the message must say)
FIELDS = {
    "fault duration 25h": (BASE.replace("duration: 1s", "duration: 25h"), "more than 0s and at most 24h"),
    "fault duration .inf": (BASE.replace("duration: 1s", "duration: .inf"), "more than 0s and at most 24h"),
    "fault timeout 0s": (BASE.replace("duration: 1s}", "duration: 1s, timeout: 0s}"), "between 1ms and 1h"),
    "provider timeout 2h": (BASE.replace(FAULT, "  - action: {type: provider, provider: {type: python, module: os, "
                                                "func: getcwd}, timeout: 2h}\n"), "between 1ms and 1h"),
    "pause 2d": (BASE.replace("method:\n", "method:\n  - pause: 2d\n"), "a pause must be between 0s and 24h"),
    "pause 'nan' as text": (BASE.replace("method:\n", "method:\n  - pause: nan\n"),
                            "a pause must be between 0s and 24h"),
    "latency delay 0s": (BASE.replace(FAULT, LATENCY.format(delay="0s", jitter="0s")),
                         "a latency fault's delay must be more than 0s and at most 1h"),
    "latency jitter .nan": (BASE.replace(FAULT, LATENCY.format(delay="1s", jitter=".nan")),
                            "jitter must be between 0s and 1h"),
    "network loss .nan": (BASE.replace(FAULT, "  - action: {type: network, target: web, operation: loss, "
                                              "loss: .nan}\n"), "a percentage must be between 0% and 100%"),
    "network bandwidth 10**12 KB/s": (BASE.replace(FAULT, "  - action: {type: network, target: web, operation: "
                                                          "bandwidth, rate: 1000000000000}\n"),
                                      "rate: Input should be less than or equal to 10000000"),
    "error rate 150%": (BASE.replace(FAULT, "  - action: {type: error, target: web, error_rate: 150%}\n"),
                        "between 0% and 100%"),
    "consumption .inf": (BASE.replace(FAULT, "  - action: {type: resource, target: web, resource: cpu, "
                                             "consumption: .inf}\n"), "between 0% and 100%"),
    "probe timeout 0.5ms": (BASE.replace("timeout: 1s", "timeout: 0.5ms"), "between 1ms and 1h"),
    "metric window 0s": (BASE.replace("type: http, url: \"http://127.0.0.1:9/health\", timeout: 1s",
                                      "type: metric, name: p99_latency, threshold: 500ms, window: 0s"),
                         "a window must be more than 0s and at most 1h"),
    "sampling.interval 1ms": (_at("sampling: {interval: 1ms}\n"), "sampling.interval must be between 5ms and 10m"),
    "sampling.stable_for .nan": (_at("sampling: {stable_for: .nan}\n"),
                                 "sampling.stable_for must be between 0s and 1h"),
    "abort window .nan": (_at("abort_when: [{error_rate_above: 50%, window: .nan}]\n"),
                          "a window must be more than 0s and at most 1h"),
    "error_rate_above .nan": (_at("abort_when: [{error_rate_above: .nan}]\n"), "between 0% and 100%"),
    "rto .nan": (_at("objectives: {rto: .nan}\n"), "a duration must be between 0s and 7d"),
    "failover within .inf": (_at("objectives: {failover: {within: .inf}}\n"), "between 0s and 7d"),
    "writer rate .nan": (_at("writer: {type: http, url: 'http://127.0.0.1:9/w', rate: .nan}\n"),
                         "a rate must be more than 0/s and at most 100000/s"),
    "writer rate 5000/s": (_at("writer: {type: http, url: 'http://127.0.0.1:9/w', rate: 5000/s}\n"),
                           "the writer's rate must be more than 0/s and at most 1000/s"),
    "writer timeout .nan": (_at("writer: {type: http, url: 'http://127.0.0.1:9/w', timeout: .nan}\n"),
                            "a timeout must be between 1ms and 1h"),
    "load rate .inf": (_at("load: {http: {paths: [/]}, users: 1, rate: .inf}\n"), "more than 0/s and at most 100000/s"),
    "load run_time 0s": (_at("load: {http: {paths: [/]}, users: 1, run_time: 0s}\n"),
                         "load.run_time must be more than 0s and at most 7d"),
    "load stage .nan": (_at("load: {http: {paths: [/]}, shape: [{duration: .nan, users: 1, spawn_rate: 1}]}\n"),
                        "a load stage's duration must be more than 0s and at most 24h"),
    "load spawn_rate .inf": (_at("load: {http: {paths: [/]}, users: 1, spawn_rate: .inf}\n"),
                             "spawn_rate: Input should be a finite number"),
    "slo p99 .nan": (_at("objectives: {slo: {p99: .nan}}\n"), "slo.p99: nan is not a finite duration"),
    "slo misspelt": (_at("objectives: {slo: {p98: 1s}}\n"), "unknown SLO threshold 'p98'"),
    "metric threshold abc": (BASE.replace("type: http, url: \"http://127.0.0.1:9/health\", timeout: 1s",
                                          "type: metric, name: rps, threshold: abc"),
                             "threshold: 'abc' is not a finite"),
    "metric threshold .nan": (BASE.replace("type: http, url: \"http://127.0.0.1:9/health\", timeout: 1s",
                                           "type: metric, name: p99_latency, threshold: .nan"),
                              "threshold: nan is not a finite duration"),
}


@pytest.mark.parametrize("case", list(FIELDS))
def test_every_unit_field_is_finite_and_in_range(tmp_path, case):
    text, expected = FIELDS[case]
    assert text != BASE                                   # the case did change the experiment
    with pytest.raises(ConfigError) as info:
        api.validate(_file(tmp_path, text))
    rendered = info.value.render()
    assert expected in rendered and "exp.yaml:" in rendered, rendered


@pytest.mark.parametrize("text", [
    BASE.replace("duration: 1s", "duration: 24h"),                       # the bounds themselves are allowed
    BASE.replace("duration: 1s", "duration: 1ms").replace("timeout: 1s", "timeout: 1ms"),
    _at("sampling: {interval: 5ms, stable_for: 0s}\nabort_when: [{probe_failing_for: 0s}]\n"),
    BASE.replace("method:\n", "method:\n  - pause: 0s\n"),
    BASE.replace(FAULT, "  - action: {type: error, target: web, error_rate: 100%}\n"
                        "  - action: {type: network, target: web, operation: loss, loss: 0%}\n"),
    _at("objectives: {rpo: 0s, rto: 7d, slo: {p99: 500ms, error_rate: 1%, rps_min: 0}}\n"),
])
def test_values_at_the_bounds_are_accepted(tmp_path, text):
    assert api.validate(_file(tmp_path, text))


NON_FINITE = [math.nan, math.inf, -math.inf, "nan", "inf", "-inf", "1e400", 10**400, 10**5000, "NaN%"]


@pytest.mark.parametrize("value", NON_FINITE, ids=[f"{type(v).__name__}-{i}" for i, v in enumerate(NON_FINITE)])
def test_unit_parsers_refuse_non_finite_values_with_a_value_error(value):
    for parse in (units.parse_duration, units.parse_rate, units.parse_fraction):
        with pytest.raises(ValueError) as info:           # never OverflowError: an int too large for a float
            parse(value)
        assert len(str(info.value)) < 200                 # a 5,000-digit number is not repeated whole


def test_the_json_schema_states_the_ranges():
    fault = Fault.model_json_schema()["properties"]
    assert "more than 0s, at most 24h" in fault["duration"]["description"]
    assert "between 1ms and 1h" in fault["timeout"]["description"]
    delay = LatencyFault.model_json_schema()["properties"]["delay"]
    assert {"exclusiveMinimum": 0.0, "maximum": 3600.0, "type": "number"} in delay["anyOf"]
    sampling = Experiment.model_json_schema()["$defs"]["Sampling"]["properties"]
    assert "between 5ms and 10m" in sampling["interval"]["description"]
