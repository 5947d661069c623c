"""The command line: argument parsing and rendering over ``chaosrunner.api``."""
from chaosrunner.cli.main import app, main

__all__ = ["app", "main"]
