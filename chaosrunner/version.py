"""The version of chaosrunner (one place; the package root and the reports read it here)."""
__version__ = "0.1.0"
