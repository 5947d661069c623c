"""Chart text stays text: a probe name with dollar signs is not typeset as mathtext."""
import xml.etree.ElementTree as ET

from report_runs import build_run

from chaosrunner.analyse.status import RunStatus
from chaosrunner.report import _view as v
from chaosrunner.report.charts import run_charts
from chaosrunner.report.entry import IndexEntry
from chaosrunner.report.index import trend_chart

SVG = "{http://www.w3.org/2000/svg}"
NAME = "cost $5 and $6"


def texts(svg: str) -> list[str]:
    """The rendered text of every <text> element (mathtext would split it into glyph runs)."""
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_dollar_signs_in_a_probe_name_appear_verbatim():
    run = build_run(probes=(NAME, "db-role"))
    tl = run.to_timeline()
    windows = v.windows_of(run, tl)
    charts = {c.key: c for c in run_charts(tl, run.probes, windows, v.instants_of(windows), 60.0)}
    assert NAME in texts(charts["health"].svg)


def test_dollar_signs_in_an_experiment_name_appear_verbatim_in_the_trend():
    entry = IndexEntry(run_id="r", experiment=NAME, kind="Experiment", status=RunStatus.HELD,
                       started="2026-01-02T03:04:05Z", duration_s=10.0, rto=3.0, recovered=True, rpo=None, lost=None,
                       p99=None, verdicts={"passed": 1}, failed=[])
    assert any(NAME in t for t in texts(trend_chart(NAME, [entry], "0")))
