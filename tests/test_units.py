import pytest

from chaosrunner.units import format_duration, parse_duration, parse_fraction, parse_rate


@pytest.mark.parametrize("text,seconds", [("250ms", 0.25), ("30s", 30), ("5m", 300), ("1h", 3600),
                                          ("1m30s", 90), (2, 2.0), ("1.5s", 1.5), ("0", 0.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["-5s", "5x", "", "s", "8d", True, None, "5 parsecs"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_rates_and_fractions():
    assert parse_rate("20/s") == 20 and parse_rate("600/m") == 10 and parse_rate(5) == 5
    assert parse_fraction("80%") == pytest.approx(0.8) and parse_fraction(0.5) == 0.5 and parse_fraction(30) == 0.3
    for bad in ("0/s", "-1/s", "fast"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    for bad in ("120%", "-5%", "lots"):
        with pytest.raises(ValueError):
            parse_fraction(bad)


def test_format_duration():
    assert format_duration(0.25) == "250ms" and format_duration(4.25) == "4.25s"
    assert format_duration(125) == "2m05s" and format_duration(float("inf")) == "∞"
