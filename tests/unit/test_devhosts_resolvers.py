"""Which of the machine's resolvers a dev cluster's unreachable pools would swallow."""
from shoal import devhosts

POOLS = ["10.214.0.0/16", "10.240.0.0/12"]


def test_resolvers_reads_ipv4_nameservers_only() -> None:
    text = ("# generated\nsearch example\nnameserver 10.255.255.53\nnameserver ::1\n"
            "nameserver not-an-address\n  nameserver 192.0.2.53  \noptions ndots:1\nnameserver\n")
    assert devhosts.resolvers(text) == ["10.255.255.53", "192.0.2.53"]


def test_in_pools_keeps_only_addresses_inside_a_pool() -> None:
    assert devhosts.in_pools(["10.255.255.53", "192.0.2.53", "10.214.3.4", "10.239.255.255"], POOLS) \
        == ["10.255.255.53", "10.214.3.4"]
