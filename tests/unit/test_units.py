import pytest

from shoal.units import format_bytes, parse_cpus, parse_key_value, parse_port, parse_size


@pytest.mark.parametrize("text,expected", [
    ("64m", 64 << 20), ("64M", 64 << 20), ("1g", 1 << 30), ("1.5g", 3 << 29), ("512k", 512 << 10),
    ("100", 100), ("100b", 100), ("2mb", 2 << 20), ("2MiB", 2 << 20), ("1t", 1 << 40),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["12x", "", "m", "-1m", "1.5", "1e3", "64 mm"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="is not"):
        parse_size(text)


@pytest.mark.parametrize("text,expected", [("1", 10**9), ("0.5", 5 * 10**8), ("2.25", 2_250_000_000)])
def test_parse_cpus(text, expected):
    assert parse_cpus(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "abc", "5000", "nan"])
def test_parse_cpus_rejects(text):
    with pytest.raises(ValueError):
        parse_cpus(text)


@pytest.mark.parametrize("text,expected", [
    ("8080:80", (8080, 80, "tcp")), ("80", (0, 80, "tcp")), ("53:53/udp", (53, 53, "udp")), ("80/tcp", (0, 80, "tcp")),
])
def test_parse_port(text, expected):
    assert parse_port(text) == expected


@pytest.mark.parametrize("text,reason", [
    ("99999", "1-65535"), ("0", "1-65535"), ("80/sctp", "tcp or udp"), ("a:b", "is not"),
    ("1.2.3.4:80:80", "host IP"), ("8080:0", "1-65535"),
])
def test_parse_port_rejects(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_port(text)


def test_parse_key_value():
    assert parse_key_value("A=b=c") == ("A", "b=c")
    assert parse_key_value("A=") == ("A", "")
    with pytest.raises(ValueError):
        parse_key_value("A")
    with pytest.raises(ValueError):
        parse_key_value("=x")


@pytest.mark.parametrize("n,text", [(512 << 20, "512 MiB"), (3 << 29, "1.5 GiB"), (10, "10 B"), (2048, "2 KiB")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text
