"""``python -m chaosrunner.demo up|status|down|restart``: the demo's command line without the main CLI."""
from chaosrunner.demo.cli import app

app(prog_name="python -m chaosrunner.demo")
