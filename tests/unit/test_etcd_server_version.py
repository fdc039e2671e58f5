"""The production minimum etcd: which server versions get the start-up warning."""
import pytest

from shoal.etcd.server_version import below_minimum, minimum_text


@pytest.mark.parametrize("version", [
    "3.4.23",        # Debian's: CVE-2023-32082 and the rest unfixed
    "3.4.26",        # fixes CVE-2023-32082 only
    "3.4.45",        # the last 3.4: GHSA-xg4h-6gfc-h4m8 was never fixed on 3.4
    "3.3.27", "2.3.8",
    "3.5.0", "3.5.9", "3.5.32",
    "3.6.0", "3.6.13",
    "3.7.0",
    "3.5.33-rc.0",   # a pre-release of the minimum is older than it
])
def test_older_than_the_minimum_of_its_line(version):
    assert below_minimum(version) is True


@pytest.mark.parametrize("version", [
    "3.5.33", "3.5.34", "3.6.14", "3.6.15", "3.7.1", "3.7.2",
    "3.8.0", "3.8.0-alpha.0", "4.0.0",   # lines newer than the newest known one were cut with the fixes
    "3.5.34-rc.1", "v3.6.14", " 3.7.1\n",
])
def test_at_or_above_the_minimum(version):
    assert below_minimum(version) is False


@pytest.mark.parametrize("version", ["", "3.5", "three", "3.5.x", "3.5.33.1"])
def test_unreadable_versions_are_neither(version):
    assert below_minimum(version) is None


def test_the_minimum_names_each_line():
    assert minimum_text() == "3.5.33, 3.6.14, 3.7.1"
