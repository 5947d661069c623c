"""Hostile or broken YAML and inventories: one located message with a fix, exit code 2, quickly.

Aliases that expand without bound (a "billion laughs" file), aliases inside their own anchor,
absurd nesting, and inventories whose groups loop or name nothing are bad input like any other:
never a MemoryError, a RecursionError or an internal error.
"""
from __future__ import annotations

import time

import pytest
from support import run_cli, write

from chaosrunner.read.documents import read_experiments
from chaosrunner.errors import ConfigError
from chaosrunner.read.parse import MAX_VALUES, parse_yaml

EXP = """\
name: ok
targets: inv.yaml
method:
  - pause: 1s
"""


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast_with_exit_2(tmp_path):
    text = alias_bomb()
    assert len(text) < 1200                        # about 1 KB that would expand to 9**9 values
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "bomb.yaml")
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert f"expands to more than {MAX_VALUES} values" in message and "aliases such as *a" in message
    assert message.startswith("bomb.yaml:") and "hint: YAML aliases (*name) repeat" in message
    r = run_cli("validate", str(write(tmp_path / "bomb.yaml", text)), timeout=30)
    assert r.returncode == 2 and "expands to more than" in r.stderr, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_legitimate_aliases_still_load():
    data, marks = parse_yaml("base: &b {timeout: 1s}\none: *b\ntwo: [*b, *b]\n", "f.yaml")
    assert data == {"base": {"timeout": "1s"}, "one": {"timeout": "1s"}, "two": [{"timeout": "1s"}] * 2}
    assert marks.values[("two", 1)] == (3, 11)     # an alias is located where it is written


@pytest.mark.parametrize("text, where", [("a: &a [*a]\n", "f.yaml:1:8"), ("a: &a {b: [1, *a]}\n", "f.yaml:1:15")])
def test_alias_inside_its_own_anchor_is_a_located_error(text, where):
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "f.yaml")
    assert str(info.value).startswith(f"{where}: the alias *a refers to a list or mapping that contains it")
    assert "hint:" in str(info.value)


def test_self_referencing_alias_cli_exit_2(tmp_path):
    r = run_cli("validate", str(write(tmp_path / "loop.yaml", "a: &a [*a]\n")))
    assert r.returncode == 2 and "loop.yaml:1:8" in r.stderr and "(a cycle)" in r.stderr, r.stderr
    assert "RecursionError" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("text, expected", [
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nests lists or mappings too deeply"),
    ("? [a, [b]]\n: 1\n", "a key must be a single value"),
    ("b: &b {x: 1}\nc:\n  <<: *b\n", "merge keys (<<:) are not supported"),
])
def test_unreadable_structures_are_config_errors(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "f.yaml")
    assert expected in str(info.value) and "f.yaml:" in str(info.value) and "hint:" in str(info.value)


INV_CASES = {
    "group cycle": ("targets:\n  web: {group: [a]}\n  a: {group: [web]}\n",
                    "group 'web' contains itself: web → a → web", "inv.yaml:2:16"),
    "group contains itself": ("targets:\n  x: {url: 'http://127.0.0.1:9'}\n  g:\n    group: [x, g]\n",
                              "group 'g' contains itself: g → g", "inv.yaml:4:12"),
    "unknown group member": ("targets:\n  db: {url: 'http://127.0.0.1:9'}\n  pair:\n    group: [db, dbb]\n",
                             "group 'pair' names 'dbb'", "inv.yaml:4:17"),
    "toxiproxy api not a url": ("targets:\n  web:\n    toxiproxy: {api: \"not a url at all\", proxy: web}\n",
                                "'not a url at all' is not a Toxiproxy API URL; write e.g. http://127.0.0.1:8474",
                                "inv.yaml:3:22"),
    "toxiproxy api bad ipv6": ("targets:\n  web:\n    toxiproxy: {api: 'http://[::1:8474', proxy: web}\n",
                               "(Invalid IPv6 URL)", "inv.yaml:3:22"),
    "target port out of range": ("targets:\n  db: {host: 127.0.0.1, port: 70000}\n",
                                 "port: 70000 is out of range", "inv.yaml:2:31"),
    "base_url not a url": ("base_url: 127.0.0.1:8080\ntargets: {}\n",
                           "is not a base URL; write e.g. http://127.0.0.1:8080", "inv.yaml:1:11"),
}


@pytest.mark.parametrize("case", list(INV_CASES))
def test_bad_inventory_is_located_at_its_line(tmp_path, case):
    inventory, expected, where = INV_CASES[case]
    write(tmp_path / "inv.yaml", inventory)
    with pytest.raises(ConfigError) as info:
        read_experiments(write(tmp_path / "exp.yaml", EXP))
    text = str(info.value)
    assert expected in text and f"{where}: " in text, text
    assert "hint:" in text or "; write" in text            # every message says how to fix it


def test_group_cycle_cli_exit_2(tmp_path):
    write(tmp_path / "inv.yaml", INV_CASES["group cycle"][0])
    r = run_cli("validate", str(write(tmp_path / "exp.yaml", EXP)))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "inv.yaml:2:16: group 'web' contains itself" in r.stderr and "internal error" not in r.stderr
