import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.durations import MAX_DURATION_NS, format_duration, parse_duration

S = 1_000_000_000
MS = 1_000_000


@pytest.mark.parametrize("text,expected", [
    ("0", 0),
    ("0s", 0),
    ("0ms", 0),
    ("10s", 10 * S),
    ("1m30s", 90 * S),
    ("500ms", 500 * MS),
    ("2h", 7200 * S),
    ("1.5s", 1500 * MS),
    (".5s", 500 * MS),
    ("1.s", S),
    ("1h2m3s", 3723 * S),
    ("1h30s", 3630 * S),
    ("2h45m", (2 * 3600 + 45 * 60) * S),
    ("1.5h", 5400 * S),
    ("300ms", 300 * MS),
    ("7ns", 7),
    ("10us", 10_000),
    ("10\u00b5s", 10_000),
    ("10\u03bcs", 10_000),
    ("1.000000001s", S + 1),
    ("1.0000000019s", S + 1),  # digits below a nanosecond are truncated, as in Go
    ("1s500ms", 1500 * MS),
    ("9223372036854775807ns", MAX_DURATION_NS),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", [
    "", "10", "s", ".s", ".", "1.5", "abc", "10d", "1y", "10S", "10 s", " 10s", "10s ", "-1s", "+1s",
    "1m30", "1..5s", "1.5.5s", "10sec", "1e3s", "0.0", "00", "9223372036854775808ns", "2562048h", "\u0661s",
])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == f'"{text}" is not a duration (examples: 10s, 1m30s, 500ms)'


@pytest.mark.parametrize("value", [None, 10, 1.5, b"10s"])
def test_parse_duration_rejects_non_strings(value):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


def test_parse_duration_shortens_long_input_in_the_message():
    with pytest.raises(ValueError) as info:
        parse_duration("x" * 500)
    assert str(info.value).startswith('"' + "x" * 77 + '..." is not a duration')


@pytest.mark.parametrize("ns,text", [
    (0, "0s"),
    (90 * S, "1m30s"),
    (500 * MS, "500ms"),
    (10 * S, "10s"),
    (7200 * S, "2h"),
    (3630 * S, "1h30s"),
    (3723 * S, "1h2m3s"),
    (1500 * MS, "1.5s"),
    (61500 * MS, "1m1.5s"),
    (1_500_000, "1.5ms"),
    (1_500, "1.5us"),
    (7, "7ns"),
    (S + 1, "1.000000001s"),
    (-1500 * MS, "-1.5s"),
])
def test_format_duration(ns, text):
    assert format_duration(ns) == text


@pytest.mark.parametrize("ns", [0, 1, 999, 1000, 1_000_001, 500 * MS, S, 90 * S, 3600 * S, 3630 * S + 7, MAX_DURATION_NS])
def test_round_trip_examples(ns):
    assert parse_duration(format_duration(ns)) == ns


@given(st.integers(min_value=0, max_value=MAX_DURATION_NS // MS))
def test_format_is_stable_for_whole_milliseconds(ms):
    text = format_duration(ms * MS)
    assert parse_duration(text) == ms * MS
    assert format_duration(parse_duration(text)) == text


@given(st.integers(min_value=0, max_value=MAX_DURATION_NS))
def test_parse_inverts_format_for_any_nanoseconds(ns):
    assert parse_duration(format_duration(ns)) == ns
