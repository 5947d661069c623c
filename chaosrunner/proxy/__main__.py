"""``python -m chaosrunner.proxy serve ...``: the fault proxy's command line without the main CLI."""
from chaosrunner.proxy.cli import app

app(prog_name="python -m chaosrunner.proxy")
