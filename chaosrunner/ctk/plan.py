"""``chaosrunner plan`` of a Chaos Toolkit file: what ``chaosrunner run`` will do with it, as it runs it.

A CTK file runs through chaoslib's own ``run_experiment`` (``ctk.run``), not through a conversion:
so its plan lists the file's activities as chaoslib will call them — the steady-state hypothesis
(each probe with its tolerance, checked before and after the method), the method in order (each
provider, its pauses, whether it runs in the background), the rollbacks and the controls — and
what chaosrunner adds (the hypothesis probes sampled all through the run, its objectives and
``strict`` from the file's ``extensions``). Pure: reads the loaded document, reaches nothing.
"""
from __future__ import annotations

from typing import Any

from chaosrunner.ctk.load import CtkDocument, activities
from chaosrunner.ctk.run import CtkOptions

MODE = "Chaos Toolkit compatibility: chaoslib's run_experiment, its verdict and journal"


def _args(arguments: Any) -> str:
    if isinstance(arguments, dict):
        return ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    if isinstance(arguments, list):
        return " ".join(map(str, arguments))
    return "" if arguments is None else str(arguments)


def provider_text(provider: Any) -> str:
    """``python chaosk8s.pod.actions.terminate_pods(label_selector='app=api', ns='default')``,
    ``http GET http://...``, ``process /usr/bin/true --flag``."""
    if not isinstance(provider, dict):
        return "no provider"
    kind = provider.get("type")
    if kind == "python":
        return f"python {provider.get('module')}.{provider.get('func')}({_args(provider.get('arguments'))})"
    if kind == "http":
        return f"http {str(provider.get('method', 'GET')).upper()} {provider.get('url')}"
    if kind == "process":
        args = _args(provider.get("arguments"))
        return f"process {provider.get('path')}" + (f" {args}" if args else "")
    return f"{kind} provider"


def _step(doc: CtkDocument, path: tuple[Any, ...], act: Any, by_name: dict[str, Any]) -> dict[str, Any]:
    ref = act.get("ref") if isinstance(act, dict) else None
    resolved = by_name.get(ref, {}) if ref else act if isinstance(act, dict) else {}
    pauses = resolved.get("pauses") or {}
    return {"name": resolved.get("name") or (f"ref {ref}" if ref else "?"), "type": resolved.get("type"),
            "ref": ref, "provider": provider_text(resolved.get("provider")),
            "tolerance": resolved.get("tolerance") if resolved.get("type") == "probe" else None,
            "pause_before": pauses.get("before"), "pause_after": pauses.get("after"),
            "background": bool(resolved.get("background", False)),
            "controls": [c.get("name") for c in resolved.get("controls") or [] if isinstance(c, dict)],
            "line": doc.at(path).line}


def ctk_plan(doc: CtkDocument, options: CtkOptions | None = None) -> dict[str, Any]:
    """The plan of a loaded (checked) CTK document, as ``plan --json`` prints it."""
    options = options or CtkOptions()
    by_name = {a["name"]: a for _, a, _ in activities(doc.data) if isinstance(a, dict) and "name" in a
               and "ref" not in a}
    sections: dict[str, list[dict[str, Any]]] = {"hypothesis": [], "method": [], "rollbacks": []}
    for path, act, section in activities(doc.data):
        sections[section].append(_step(doc, path, act, by_name))
    ext = doc.extension()
    hypothesis = doc.data.get("steady-state-hypothesis") or {}
    return {
        "experiment": doc.title, "file": str(doc.file), "mode": MODE,
        "hypothesis_title": hypothesis.get("title") if isinstance(hypothesis, dict) else None,
        "hypothesis": sections["hypothesis"], "method": sections["method"], "rollbacks": sections["rollbacks"],
        "controls": [c.get("name") for c in doc.data.get("controls") or [] if isinstance(c, dict)],
        "chaosrunner": {
            "samples": [s["name"] for s in sections["hypothesis"]],
            "interval": ext.interval if ext.interval is not None else options.sample_interval,
            "stable_for": ext.stable_for if ext.stable_for is not None else options.stable_for,
            "rto": ext.rto, "strict": ext.strict or options.strict,
        },
    }
