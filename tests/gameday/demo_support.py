"""A fresh embedded demo per test (free ports, its own folder), brought down afterwards."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "chaosrunner"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosrunner.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)


@contextmanager
def fresh_demo(tmp: Path, *options: str) -> Iterator[Path]:
    demo_dir = tmp / "demo"
    up = cli("demo", "up", "--free-ports", "--dir", str(demo_dir), *options, timeout=120)
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        yield demo_dir / "targets" / "demo.yaml"
    finally:
        down = cli("demo", "down", "--dir", str(demo_dir), timeout=120)
        assert down.returncode == 0, down.stderr


def role(inventory: Path) -> str:
    import yaml

    url = yaml.safe_load(inventory.read_text())["targets"]["supervisor"]["url"]
    with urllib.request.urlopen(f"{url}/role", timeout=3) as r:
        return str(json.load(r)["primary"])


def commonmark_headings(text: str) -> list[str]:
    """review.md parsed as strict CommonMark: no raw HTML anywhere; its headings, in order."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    flat = tokens + [c for t in tokens for c in (t.children or [])]
    assert not [t for t in flat if t.type in ("html_inline", "html_block")], "raw HTML in review.md"
    return [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]


def toxics(inventory: Path, target: str) -> list[dict[str, object]]:
    """The toxics in force on ``target``'s proxy, as its Toxiproxy API lists them."""
    import yaml

    handle = yaml.safe_load(inventory.read_text())["targets"][target]["toxiproxy"]
    with urllib.request.urlopen(f"{handle['api']}/proxies/{handle['proxy']}/toxics", timeout=3) as r:
        return list(json.load(r))
