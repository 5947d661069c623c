"""Chaos Toolkit experiments as they are: loaded and checked as ``chaos validate`` does (``load``),
run by chaoslib with its verdict and journal plus chaosrunner's sampling (``run``, ``findings``), and
converted both ways (``convert``). ``cli`` holds ``chaosrunner convert`` and the CTK side of ``run``.

Submodules load on first use (chaoslib is not imported by the command line until a CTK file is run).
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {"CtkDocument": "load", "is_ctk_file": "load", "load_ctk": "load", "CtkOptions": "run", "run_ctk": "run"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"chaosrunner.ctk.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'chaosrunner.ctk' has no attribute {name!r}")
