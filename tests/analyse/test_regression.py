"""Regressions against a baseline (``chaosrunner.analyse.regression``): tolerances, the resolution rule, medians."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaosrunner.analyse.regression import (
    Figure,
    ToleranceError,
    compare,
    median_figures,
    parse_tolerances,
    regressions,
)

TOL = parse_tolerances(None)


def one(name: str, base: Figure, now: Figure, tolerances: str | None = None):  # type: ignore[no-untyped-def]
    [c] = [c for c in compare({name: base}, {name: now}, parse_tolerances(tolerances)) if c.figure == name]
    return c


def test_the_issue_s_example_is_a_named_regression() -> None:
    c = one("failover", Figure(2.3, 0.25), Figure(9.1, 0.25))
    assert c.regressed
    assert c.message() == "failover 9.1 s vs baseline 2.3 s (+296 %, tolerance +20 %)"


def test_a_difference_inside_the_combined_resolution_never_fails() -> None:
    # 2.0 s → 2.5 s is +25 % (over +20 %), but each run is known to ± 0.25 s: within ± 0.5 s
    c = one("failover", Figure(2.0, 0.25), Figure(2.5, 0.25))
    assert not c.regressed and c.note == "within the runs' combined ±"
    # the same change measured on a 5 ms grid is a regression
    assert one("failover", Figure(2.0, 0.005), Figure(2.5, 0.005)).regressed
    # and even a zero tolerance does not fail a change inside the grid
    assert not one("rto", Figure(1.0, 0.25), Figure(1.5, 0.25), "rto=+0%").regressed


def test_tolerance_forms() -> None:
    assert not one("error_rate", Figure(0.005), Figure(0.014)).regressed         # +0.9 pt under +1 pt
    assert one("error_rate", Figure(0.005), Figure(0.016)).regressed
    assert one("lost", Figure(0.0), Figure(1.0)).regressed                         # lost=0
    assert not one("lost", Figure(0.0), Figure(3.0), "lost=5").regressed
    assert not one("p99", Figure(0.2, 0.005), Figure(0.6, 0.005), "p99=+500ms").regressed
    assert one("p99", Figure(0.2, 0.005), Figure(0.6, 0.005)).regressed           # +200 % over +30 %
    assert not one("rto", Figure(1.0), Figure(9.0), "rto=off").regressed
    assert one("score", Figure(90.0), Figure(80.0), "score=5").regressed          # lower is worse
    assert not one("score", Figure(80.0), Figure(90.0), "score=5").regressed


def test_better_is_never_a_regression_and_unmeasured_now_is() -> None:
    assert not one("failover", Figure(9.0, 0.25), Figure(2.0, 0.25)).regressed
    c = one("failover", Figure(2.0, 0.25), Figure(None, 0.25))
    assert c.regressed and "not by this run" in c.note
    assert not one("failover", Figure(None), Figure(2.0)).regressed               # the baseline had none
    assert one("rto", Figure(2.0, 0.25), Figure(math.inf, 0.25)).regressed        # never recovered


@pytest.mark.parametrize("text, why", [
    ("foo=+20%", "unknown figure 'foo'"), ("rto=fast", "is not a tolerance for rto"),
    ("rto", "is not FIGURE=VALUE"), ("rto=-20%", "never negative"), ("lost=+1pt", "is not a tolerance for lost"),
    ("error_rate=2", "is not a tolerance for error_rate"), ("p99=1e3%", "is not a tolerance for p99")])
def test_bad_tolerances_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ToleranceError, match=why.replace("(", r"\(")):
        parse_tolerances(text)


def test_the_median_of_repeats_and_its_resolution() -> None:
    runs = [{"failover": Figure(2.0, 0.25), "lost": Figure(0.0)}, {"failover": Figure(9.0, 0.25)},
            {"failover": Figure(2.5, 0.5), "lost": Figure(4.0)}]
    med = median_figures(runs)
    assert med["failover"] == Figure(2.5, 0.5)
    assert med["lost"] == Figure(2.0)
    assert regressions(compare({"failover": Figure(2.3, 0.25)}, med, TOL)) == []


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 1e4), st.floats(0, 1e4), st.floats(0, 10), st.floats(0, 10))
def test_inside_the_combined_resolution_is_never_a_regression(base, now, rb, rn) -> None:  # type: ignore[no-untyped-def]
    c = one("rto", Figure(base, rb), Figure(now, rn), "rto=+0%")
    if now - base <= rb + rn + 1e-9:          # (compared to 1e-9: float noise is never a regression)
        assert not c.regressed
    else:
        assert c.regressed
