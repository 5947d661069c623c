"""The Jinja2 environment every report page is rendered with (report.html, index.html): autoescaping always on."""
from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

_ENV: Environment | None = None


def environment() -> Environment:
    """The Jinja2 environment of every report page: autoescaping always on."""
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=PackageLoader("chaosrunner.report", "templates"), autoescape=True,
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return _ENV
