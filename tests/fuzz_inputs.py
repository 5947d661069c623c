"""Strategies and the property for fuzzing what chaosrunner reads (tests/test_fuzz_inputs.py).

Inputs: experiment documents generated from scratch (the format's shape, with hostile values
anywhere), mutations of the ready experiments and inventories (a node replaced, dropped, renamed,
wrapped or retyped; then, sometimes, the text itself cut, spliced or salted with YAML tokens), and
inventories from scratch. Hostile values: ``.nan``, infinities, huge and negative numbers, zero
durations, unit typos, tags whose value they cannot hold (``!!int abc``), anchors and aliases,
references, control characters, empty and wrongly shaped collections.

The property (``refused_or_valid``): the call returns, or raises one ConfigError/PlanError whose
every message names a file and line; nothing else, and within ``EXAMPLE_SECONDS`` (a SIGALRM
interrupts a hang). Examples: ``FUZZ_EXAMPLES`` per fuzz test, 2,000 by default,
``CHAOSRUNNER_FUZZ_EXAMPLES=N`` for more (the proxy fuzzers in tests/proxy read the same variable),
derandomized and without an example database so that CI runs the same inputs every time.
"""
from __future__ import annotations

import contextlib
import copy
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from chaosrunner.errors import ConfigError, ConfigErrors, PlanError

FUZZ_EXAMPLES = int(os.environ.get("CHAOSRUNNER_FUZZ_EXAMPLES", "2000"))
#: Seconds one example may take (reading, validating, planning a few-KB file takes milliseconds).
EXAMPLE_SECONDS = 10.0

settings.register_profile(
    "chaosrunner-input-fuzz", max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink), print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])
FUZZ = settings.get_profile("chaosrunner-input-fuzz")


class Hang(AssertionError):
    """An example took longer than EXAMPLE_SECONDS."""


@contextlib.contextmanager
def time_bound(seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    """Raise Hang in this (main) thread when the block runs longer than ``seconds``."""
    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"the example did not finish within {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused_or_valid(call: Callable[[], Any], files: tuple[str, ...]) -> str:
    """Run ``call`` under the time bound: "ok", or "refused" for a ConfigError/PlanError located in one
    of ``files`` (each message of a ConfigErrors too); any other exception propagates (the test fails)."""
    try:
        with time_bound():
            call()
    except (ConfigError, PlanError) as exc:
        parts = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        for part in parts:
            where = part.location
            assert where is not None and where.file in files, f"no location in one of {files}: {exc}"
            text = part.render() if isinstance(part, ConfigError) else str(part)
            assert text.strip() and "Traceback" not in text, text
        return "refused"
    return "ok"


# -- values ----------------------------------------------------------------------------------------

#: Raw YAML put in place of a value (a placeholder word is dumped, then replaced by the token).
RAW_TOKENS = [".nan", ".NaN", ".inf", "-.inf", "!!int abc", "!!float abc", "!!timestamp 2020-13-45", "2020-13-45",
              "!!bool maybe", "!!binary xyz", "!!set {a, b}", "!!omap [a: 1]", "!!str [1]", "!!map [1]",
              "!!null x", "!!int 0x", "!!python/object:os.system x", "&a [1]", "*a", "&b {x: *b}", "1" * 5000,
              "9" * 400, "-" + "9" * 400, "0x" + "f" * 300, "1e400", "[]", "{}", "[[[[[[]]]]]]", "~", "''",
              "\"\\0\"", "\"\\x00\"", "\"\\uffff\"", "\"a\\tb\"", "<<: {a: 1}", "? [a]\n  : b", "|\n  text",
              "!custom x", "%", "@", "`", "{a: 1", "[1,", "- - -"]

DURATION_TEXT = st.from_regex(r"\A-?\d{1,6}(\.\d{1,4})?\s?(ms|us|µs|s|m|h|d|x|)\Z")
UNIT_TEXT = st.one_of(DURATION_TEXT, st.from_regex(r"\A-?\d{1,7}(\.\d{1,3})?\s?(%|/s|/m|/h|/x)?\Z"),
                      st.sampled_from(["nan", "NaN", "inf", "-inf", "infinity", "1e400", "1e-400", "0", "0s", "0%",
                                       "100%", "101%", "1_000", "1m30s", "1m 30s", "5ms5", "24h", "25h", "7d", "8d"]))
NUMBERS = st.one_of(st.integers(-10**6, 10**6), st.integers(-10**400, 10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 0.0, -0.0, 1e-9, 1e300]))
CHARACTERS = st.characters(blacklist_categories=["Cs"])      # a lone surrogate cannot be written to a file
TEXT = st.one_of(st.text(CHARACTERS, max_size=12), st.sampled_from([
    "", " ", "web", "db", "pair", "nope", "${web.url}", "${env:CHAOSRUNNER_FUZZ_UNSET}", "${var:x}", "${nope.url}",
    "${", "}", "$${web.url}", "/health", "http://", "http://[::1", "http://127.0.0.1:99999", "a\x00b",
    "${file:/dev/zero}", "${file:nope}", "${file:.}"]))


def raw_tokens() -> st.SearchStrategy[str]:
    """A placeholder for one of RAW_TOKENS (``RAWTOKEN<i>``, replaced after dumping)."""
    return st.integers(0, len(RAW_TOKENS) - 1).map(lambda i: f"RAWTOKEN{i}X")


def hostile(depth: int = 1) -> st.SearchStrategy[Any]:
    """Any value where a value is expected: scalars of every kind, raw YAML, small collections."""
    scalars = st.one_of(UNIT_TEXT, NUMBERS, TEXT, st.booleans(), st.none(), raw_tokens())
    if depth <= 0:
        return scalars
    return st.one_of(scalars, st.lists(hostile(depth - 1), max_size=3),
                     st.dictionaries(TEXT, hostile(depth - 1), max_size=3))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly (nine times in ten) a plausible value, sometimes a hostile one."""
    return st.sampled_from([False] * 9 + [True]).flatmap(lambda bad: hostile(0) if bad else strategy)


def dump(data: Any, flow: bool = False) -> str:
    """YAML text for ``data``, with each RAWTOKEN placeholder replaced by its raw token."""
    text = yaml.dump(data, Dumper=yaml.CSafeDumper, default_flow_style=flow, sort_keys=False, allow_unicode=True,
                     width=4096)
    return re.sub(r"RAWTOKEN(\d+)X", lambda m: RAW_TOKENS[int(m.group(1))], text)


# -- experiments and inventories from scratch --------------------------------------------------------

NAMES = st.sampled_from(["web", "db", "pair", "web", "db", "pair", "api", "nope", "Web", ""])
DURATION = maybe(st.sampled_from(["250ms", "1s", "30s", "5m", "1h", 1, 2.5, "0s", "24h", "25h"]))
FRACTION = maybe(st.sampled_from(["30%", "0%", "100%", 0.5, 1, 80, "101%"]))
TEXTISH = maybe(st.sampled_from(["a", "web", "x y"]))


def _fault(kind: str, required: dict[str, Any], **params: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"type": maybe(st.just(kind)), "target": maybe(NAMES), **required}, optional={
        "duration": DURATION, "timeout": DURATION, "background": maybe(st.booleans()), "name": TEXTISH, **params})


FAULT = st.one_of(
    _fault("network", {"operation": maybe(st.sampled_from(["partition", "restore", "loss", "bandwidth"]))},
           loss=FRACTION, rate=maybe(st.integers(0, 10**6)), mode=maybe(st.sampled_from(["refuse", "blackhole"]))),
    _fault("latency", {"delay": DURATION}, jitter=DURATION,
           direction=maybe(st.sampled_from(["upstream", "downstream"]))),
    _fault("error", {"error_rate": FRACTION}),
    _fault("resource", {"resource": maybe(st.sampled_from(["memory", "cpu"])), "consumption": FRACTION}),
    _fault("process", {"operation": maybe(st.sampled_from(["kill", "stop", "restart"]))},
           signal=maybe(st.sampled_from(["SIGKILL", "SIGTERM", "KILL", "9"]))),
    _fault("provider", {"provider": maybe(st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["python", "process"]))},
        optional={"module": TEXTISH, "func": TEXTISH, "path": TEXTISH, "timeout": hostile(0)}))},
           revert=maybe(st.fixed_dictionaries({"type": maybe(st.just("process")), "path": TEXTISH}))),
    st.fixed_dictionaries({"type": TEXT, "target": NAMES}, optional={"unknown": hostile(0)}))


def _probe(kind: str, required: dict[str, Any], **params: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"type": maybe(st.just(kind)), **required},
                                 optional={"name": TEXTISH, "timeout": DURATION, **params})


URLS = maybe(st.sampled_from(["/health", "${web.url}/health", "http://127.0.0.1:9/", "health", "${nope.url}"]))
PROBE = st.one_of(
    _probe("http", {"url": URLS}, method=maybe(st.sampled_from(["GET", "POST", "get"])),
           expected_status=maybe(st.one_of(st.integers(0, 1000), st.lists(st.integers(99, 600), max_size=2))),
           contains=TEXTISH, headers=maybe(st.dictionaries(TEXT, TEXT, max_size=2))),
    _probe("tcp", {"port": maybe(st.one_of(st.integers(-1, 70000), st.just("${web.port}")))}, host=TEXTISH),
    _probe("command", {"command": maybe(st.sampled_from(["true", ["echo", "x"], []]))}, expected_exit=NUMBERS),
    _probe("metric", {"threshold": st.one_of(UNIT_TEXT, NUMBERS, hostile(0))},
           name=maybe(st.sampled_from(["p99_latency", "error_rate", "rps", "custom"])), window=DURATION,
           source=maybe(st.sampled_from(["load", "prometheus"])), query=TEXTISH,
           operator=maybe(st.sampled_from(["<", ">="])), prometheus=maybe(st.just("http://127.0.0.1:9090"))),
    _probe("role", {"http": maybe(st.fixed_dictionaries({"url": URLS}))}),
    _probe("provider", {"provider": maybe(st.fixed_dictionaries({"type": st.just("python"), "module": TEXTISH,
                                                                 "func": TEXTISH}))}, tolerance=hostile(1)),
    st.fixed_dictionaries({"type": TEXT}, optional={"unknown": hostile(0)}))

STEP = maybe(st.one_of(st.fixed_dictionaries({"action": FAULT}), st.fixed_dictionaries({"action": FAULT}),
                       st.fixed_dictionaries({"pause": DURATION}), st.fixed_dictionaries({"probe": PROBE}),
                       st.fixed_dictionaries({}, optional={"action": FAULT, "pause": DURATION, "probe": PROBE})))

EXPERIMENT_SECTIONS: dict[str, st.SearchStrategy[Any]] = {
    "description": TEXTISH, "hypothesis": TEXTISH, "tags": maybe(st.lists(TEXTISH, max_size=3)),
    "targets": maybe(st.just("inv.yaml")),
    "steady_state": maybe(st.lists(maybe(st.fixed_dictionaries({"probe": PROBE})), max_size=3)),
    "rollback": maybe(st.lists(STEP, max_size=3)),
    "objectives": maybe(st.fixed_dictionaries({}, optional={
        "rto": DURATION, "rpo": DURATION, "failover": maybe(st.fixed_dictionaries({"within": DURATION},
                                                                                   optional={"probe": TEXTISH})),
        "slo": maybe(st.dictionaries(st.sampled_from(["p50", "p99", "error_rate", "rps_min", "p98"]),
                                     st.one_of(DURATION, FRACTION, NUMBERS), max_size=3))})),
    "sampling": maybe(st.fixed_dictionaries({}, optional={"interval": DURATION, "stable_for": DURATION})),
    "abort_when": maybe(st.lists(st.one_of(
        st.fixed_dictionaries({"probe_failing_for": DURATION}, optional={"probe": TEXTISH}),
        st.fixed_dictionaries({"error_rate_above": FRACTION}, optional={"window": DURATION}),
        st.fixed_dictionaries({"file": TEXTISH}),
        st.fixed_dictionaries({}, optional={"probe_failing_for": DURATION, "promql": TEXTISH, "unknown": hostile(0)})),
        max_size=2)),
    "load": maybe(st.fixed_dictionaries({}, optional={
        "http": maybe(st.fixed_dictionaries({"paths": maybe(st.lists(st.sampled_from(["/", "/a", "b"]), max_size=2))},
                                            optional={"weights": maybe(st.lists(NUMBERS, max_size=2)),
                                                      "host": maybe(st.just("http://127.0.0.1:9"))})),
        "users": maybe(st.integers(-1, 10**6)), "rate": maybe(UNIT_TEXT), "run_time": DURATION,
        "spawn_rate": maybe(NUMBERS), "master": TEXTISH, "host": maybe(st.just("http://127.0.0.1:9")),
        "shape": maybe(st.lists(st.fixed_dictionaries({"duration": DURATION, "users": maybe(st.integers(0, 10)),
                                                       "spawn_rate": maybe(NUMBERS)}), max_size=2))})),
    "writer": maybe(st.fixed_dictionaries({"type": maybe(st.sampled_from(["http", "postgres", "redis"]))}, optional={
        "url": maybe(st.sampled_from(["http://127.0.0.1:9/w", "redis://127.0.0.1:9/0"])), "dsn": TEXTISH,
        "rate": maybe(UNIT_TEXT), "timeout": DURATION, "table": TEXTISH})),
}

EXPERIMENTS = st.fixed_dictionaries(
    {"name": maybe(st.sampled_from(["fuzz", "x", "a b"])), "method": maybe(st.lists(STEP, min_size=1, max_size=4))},
    optional=EXPERIMENT_SECTIONS)

TARGET = st.fixed_dictionaries({}, optional={
    "url": maybe(st.sampled_from(["http://127.0.0.1:9", "http://10.0.0.1", "127.0.0.1:9", "${var:x}"])),
    "host": TEXTISH, "port": maybe(st.integers(-1, 70000)), "description": TEXTISH,
    "vars": maybe(st.dictionaries(TEXTISH, hostile(0), max_size=2)), "group": maybe(st.lists(NAMES, max_size=3)),
    "toxiproxy": maybe(st.fixed_dictionaries({"proxy": TEXTISH}, optional={"api": maybe(st.sampled_from(
        ["http://127.0.0.1:8474", "nope", "http://[::1"]))})),
    "process": maybe(st.fixed_dictionaries({}, optional={"pidfile": TEXTISH, "pid": maybe(st.integers(-1, 2**40)),
                                                         "match": TEXTISH, "restart": TEXTISH,
                                                         "restart_timeout": DURATION, "cgroup": TEXTISH})),
    "kubernetes": maybe(st.fixed_dictionaries({}, optional={"namespace": TEXTISH, "selector": TEXTISH})),
    "aws": maybe(st.fixed_dictionaries({}, optional={"region": TEXTISH,
                                                     "instance_ids": st.lists(TEXTISH, max_size=2)}))})

INVENTORIES = st.fixed_dictionaries({"targets": maybe(st.dictionaries(NAMES, maybe(TARGET), max_size=4))}, optional={
    "environment": maybe(st.sampled_from(["local", "staging", "production", ""])),
    "base_url": maybe(st.sampled_from(["http://127.0.0.1:8080", "/x", "http://"])),
    "prometheus": maybe(st.sampled_from(["http://127.0.0.1:9090", "prom"]))})


# -- mutations ---------------------------------------------------------------------------------------

def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, path + (i,))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def mutated_data(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three of its nodes replaced, dropped, renamed, wrapped or duplicated."""
    data = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "replace", "drop", "rename", "wrap", "duplicate", "empty"]))
        if op == "replace":
            parent[key] = draw(hostile(1))
        elif op == "drop":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(TEXT) + draw(st.sampled_from(["", "s", "_"]))] = parent.pop(key)
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "empty":
            parent[key] = draw(st.sampled_from([None, [], {}, ""]))
    return data


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few cuts, splices or raw YAML tokens at random places."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        token = draw(st.one_of(st.sampled_from(RAW_TOKENS[:40]), st.sampled_from(
            [":", "- ", "\n", "\t", "  ", "#", "'", '"', "&x ", "*x", "!!", "${", "\x00", "\x1b", "\ufeff", "\u2028"]),
            st.text(CHARACTERS, max_size=4)))
        end = min(len(text), at + draw(st.integers(0, 12)))
        if op == "insert":
            text = text[:at] + token + text[at:]
        elif op == "delete":
            text = text[:at] + text[end:]
        elif op == "replace":
            text = text[:at] + token + text[end:]
        else:
            text = text[:at]
    return text


class ExampleCount:
    """How many examples a fuzz test ran, printed (also under capture) with the time they took."""

    def __init__(self, name: str) -> None:
        self.name, self.count, self.outcomes = name, 0, {"ok": 0, "refused": 0}
        self.started = time.monotonic()

    def __call__(self, outcome: str) -> None:
        self.count += 1
        self.outcomes[outcome] += 1

    def report(self, capsys: Any, minimum: int = FUZZ_EXAMPLES) -> None:
        with capsys.disabled():
            print(f"\n{self.name}: {self.count} examples in {time.monotonic() - self.started:.1f}s "
                  f"({self.outcomes['ok']} valid, {self.outcomes['refused']} refused; "
                  f"CHAOSRUNNER_FUZZ_EXAMPLES={FUZZ_EXAMPLES})")
        assert self.count >= minimum, f"only {self.count} examples ran"


# -- Chaos Toolkit experiments ---------------------------------------------------------------------

CTK_PROVIDER = st.one_of(
    st.fixed_dictionaries({"type": st.just("python"), "module": maybe(st.just("os")), "func": maybe(st.just("getcwd"))},
                          optional={"arguments": hostile(1), "timeout": maybe(st.integers(1, 10))}),
    st.fixed_dictionaries({"type": st.just("http"), "url": maybe(st.just("http://127.0.0.1:9/"))},
                          optional={"timeout": hostile(0)}),
    st.fixed_dictionaries({"type": maybe(st.sampled_from(["process", "k8s"]))}, optional={"path": TEXTISH}))
CTK_ACTIVITY = maybe(st.one_of(
    st.fixed_dictionaries({"type": maybe(st.sampled_from(["action", "probe"])), "name": maybe(NAMES),
                           "provider": maybe(CTK_PROVIDER)}, optional={
        "pauses": maybe(st.fixed_dictionaries({}, optional={"before": DURATION, "after": DURATION})),
        "background": maybe(st.booleans()), "tolerance": hostile(0)}),
    st.fixed_dictionaries({"ref": maybe(NAMES)})))

CTK_EXPERIMENTS = st.fixed_dictionaries({"title": maybe(TEXTISH),
                                         "method": maybe(st.lists(CTK_ACTIVITY, min_size=1, max_size=3))},
                                        optional={
    "description": TEXT, "tags": maybe(st.lists(TEXT, max_size=2)),
    "configuration": maybe(st.dictionaries(TEXT, st.one_of(TEXT, NUMBERS, st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["env", "vault"])), "key": TEXT})), max_size=2)),
    "secrets": maybe(st.dictionaries(TEXT, maybe(st.dictionaries(TEXT, TEXT, max_size=2)), max_size=2)),
    "steady-state-hypothesis": maybe(st.fixed_dictionaries({"title": TEXT}, optional={
        "probes": maybe(st.lists(CTK_ACTIVITY, max_size=2))})),
    "rollbacks": maybe(st.lists(CTK_ACTIVITY, max_size=2))})
