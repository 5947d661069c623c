"""Every input the fuzzers (tests/test_fuzz_inputs.py) once failed on, as a regular test.

Each crashed with an exception other than a located ConfigError/PlanError (an internal error,
exit 3 from ``run``); each is now one message at its file and line, with what to do. The
comment above each case names what it raised.
"""
from __future__ import annotations

import pytest
from support import write

from chaosrunner import api
from chaosrunner.errors import ConfigError

INV = """\
targets:
  web: {url: 'http://127.0.0.1:9', toxiproxy: {proxy: web}, process: {pidfile: /nonexistent/web.pid}}
"""
EXP = "name: x\ntargets: inv.yaml\nmethod:\n  - action: {type: process, operation: stop, target: web, duration: 1s}\n"

# case → ({file name: text}, the file given to the command, what the message says, where it points)
CASES = {
    # chaoslib's validation called arguments.copy(): AttributeError: 'str' object has no attribute 'copy'
    "Chaos Toolkit python provider with arguments: '0ms'": (
        {"exp.yaml": "title: a\nmethod:\n  - type: action\n    name: web\n    provider: {type: python, module: os, "
                     "func: getcwd, arguments: '0ms'}\n"},
        "exp.yaml", "arguments: a python provider's arguments are a mapping", "exp.yaml:5:67"),
    # PyYAML's timestamp constructor: AttributeError: 'NoneType' object has no attribute 'groupdict'
    "a timestamp tag on text that is not one": (
        {"exp.yaml": EXP, "inv.yaml": "!!timestamp 2020-13-45targets: {}\n"},
        "exp.yaml", "cannot read '2020-13-45targets' as a timestamp (not a valid timestamp)", "inv.yaml:1:1"),
    # PyYAML's scanner, on a \U escape beyond Unicode: ValueError: chr() arg not in range(0x110000)
    "a \\U escape that names no character": (
        {"exp.yaml": "name: fuzz\nsteady_state:\n- probe:\n    url: \"\\U1e400000104A0ms\"\n    type: http\n"
                     "method:\n- pause: 1s\n"},
        "exp.yaml", "invalid YAML: an escape (\\U...) names no character", "exp.yaml:4:"),
    # and its neighbour: a \uD800 escape loaded as a lone surrogate, which no report could be written with
    "a lone surrogate escape": (
        {"exp.yaml": "name: fuzz\ndescription: \"\\uD800\"\nmethod:\n- pause: 1s\n"},
        "exp.yaml", "stands for half a character", "exp.yaml:2:14"),
    # the safety gate's urlsplit: ValueError: '1' does not appear to be an IPv4 or IPv6 address
    "a target URL with a bracketed non-address": (
        {"exp.yaml": EXP, "inv.yaml": INV.replace("url: 'http://127.0.0.1:9'", "url: 'http://&a [1]127.0.0.1:18080'")},
        "exp.yaml", "is not a URL ('1' does not appear to be an IPv4 or IPv6 address)", "inv.yaml:2:"),
    "a target host with a bracketed non-address": (
        {"exp.yaml": EXP, "inv.yaml": INV.replace("url: 'http://127.0.0.1:9'", "host: '[1]'")},
        "exp.yaml", "is not a host name", "inv.yaml:2:"),
    # found by reading the fields the fuzzers reach: an objective read only by the judge, after the run
    "an SLO threshold that is not a duration": (
        {"exp.yaml": EXP + "objectives: {slo: {p99: fast}}\n", "inv.yaml": INV},
        "exp.yaml", "slo.p99: cannot read 'fast' as a duration", "exp.yaml:5:"),
    # float(threshold) in the metric probe, at run time: ValueError
    "a metric threshold that is not a number": (
        {"exp.yaml": EXP.replace("method:", "steady_state:\n  - probe: {type: metric, name: rps, threshold: lots, "
                                           "prometheus: 'http://127.0.0.1:9'}\nmethod:"), "inv.yaml": INV},
        "exp.yaml", "threshold: 'lots' is not a finite number", "exp.yaml:4:"),
    # float(int) in the unit parsers: OverflowError: int too large to convert to float
    "a 400-digit duration": (
        {"exp.yaml": EXP.replace("duration: 1s", "duration: " + "9" * 400), "inv.yaml": INV},
        "exp.yaml", "is not a finite duration", "exp.yaml:4:"),
    # importlib.import_module(""): ValueError: Empty module name
    "a Chaos Toolkit provider with an empty module name": (
        {"exp.yaml": "title: a\nmethod:\n  - {type: action, name: a, provider: {type: python, module: '', "
                     "func: f}}\n"},
        "exp.yaml", "module", "exp.yaml:3:"),     # validate: chaoslib's checks; plan: the model's pattern
}


@pytest.mark.parametrize("case", list(CASES))
def test_fuzzed_input_is_a_located_config_error(tmp_path, case):
    files, given, expected, where = CASES[case]
    for name, text in files.items():
        write(tmp_path / name, text)
    for call in (api.validate, api.plan):
        with pytest.raises(ConfigError) as info:
            call(tmp_path / given)
        text = info.value.render()
        assert expected in text and where in text, text
