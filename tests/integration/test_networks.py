"""Overlay networks: VXLAN segments across hosts, addresses from etcd, names by DNS."""
from __future__ import annotations

import ipaddress
import json

import pytest

from tests.polling import poll
from tests.integration.test_dns import engine_of, in_client

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"
SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"


def networks(shoal):
    return {n["name"]: n for n in shoal.json("network", "ls")}


def overlay_ips(cluster, service):
    out = {}
    for host in cluster.hosts:
        for c in cluster.docker(host).containers.list():
            if c.labels.get("io.shoal.service") == service:
                out[c.labels["io.shoal.name"]] = json.loads(c.labels["io.shoal.networks"])[0][3]
    return out


def test_network_lifecycle_and_bad_input(shoal):
    shoal("network", "create", "--subnet", "10.241.5.0/24", "front")
    net = json.loads(shoal("network", "inspect", "front").stdout)
    assert (net["driver"], net["subnet"], net["containers"]) == ("overlay", "10.241.5.0/24", 0)
    auto = json.loads(shoal("network", "inspect", shoal("network", "create", "back").stdout.strip()).stdout)
    assert ipaddress.ip_network(auto["subnet"]).subnet_of(ipaddress.ip_network("10.240.0.0/12"))
    assert auto["vni"] != net["vni"]
    # A name taken is a runtime error (1); a bad value, caught by the CLI or the manager, is a usage error (2).
    for args, code, message in [
        (["network", "create", "front"], 1, 'NAME: network "front" already exists'),
        (["network", "create", "--subnet", "10.241.5.128/25", "x"], 2, "--subnet: 10.241.5.128/25 overlaps network front"),
        (["network", "create", "--subnet", "8.8.8.0/24", "x"], 2, "must be a private IPv4 network"),
        (["network", "create", "--subnet", "nonsense", "x"], 2, '--subnet: "nonsense" is not a network'),
        (["run", "-d", "--network", "nosuch", IMAGE, "true"], 2, '--network: network "nosuch" does not exist'),
    ]:
        r = shoal(*args, check=False)
        assert r.returncode == code and message in r.stderr, (args, r.returncode, r.stderr)
    shoal("run", "-d", "--name", "member", "--network", "front", IMAGE, "sleep", "600")
    r = shoal("network", "rm", "front", check=False)
    assert r.returncode == 1 and "in use by member" in r.stderr
    shoal("rm", "-f", "member")
    assert networks(shoal)["front"]["containers"] == 0
    shoal("network", "rm", "front", "back")
    assert networks(shoal) == {}


def test_containers_on_an_overlay_reach_each_other_across_hosts_by_name(shoal, cluster):
    shoal("network", "create", "--subnet", "10.241.6.0/24", "backend")
    h1 = cluster.hosts[0].name
    shoal("service", "create", "--name", "api", "--replicas", "3", "--network", "backend", "-p", "8080",
          "--stop-grace-period", "1s", "--constraint", f"node.name!={h1}", IMAGE, "sh", "-c", SERVE)
    shoal("run", "-d", "--name", "client", "--network", "backend", "--constraint", f"node.name=={h1}",
          IMAGE, "sleep", "600")
    ips = poll(lambda: (lambda m: m if len(m) == 3 else None)(overlay_ips(cluster, "api")), 30, what="3 api tasks")
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.241.6.0/24") for ip in ips.values())

    def resolved():
        code, out = in_client(cluster, "nslookup", "api")
        return code == 0 and set(ips.values()) <= set(out.split())

    poll(resolved, 20, what="DNS to give the overlay addresses")
    for ip in ips.values():  # each replica, on another host, over VXLAN
        code, out = in_client(cluster, "wget", "-qO-", f"http://{ip}:8080/")
        assert code == 0 and out.strip(), out
    code, out = in_client(cluster, "ip", "-4", "addr", "show", "eth1")
    assert code == 0 and "10.241.6." in out


def test_addresses_are_unique_under_concurrent_starts_and_released(shoal, cluster):
    shoal("network", "create", "--subnet", "10.241.7.0/24", "many")
    shoal("service", "create", "--name", "many", "--replicas", "12", "--network", "many",
          "--stop-grace-period", "1s", IMAGE, "sleep", "600")
    ips = poll(lambda: (lambda m: m if len(m) == 12 else None)(overlay_ips(cluster, "many")), 60,
               what="12 tasks with addresses")
    assert len(set(ips.values())) == 12
    assert networks(shoal)["many"]["containers"] == 12
    shoal("service", "rm", "many")
    poll(lambda: networks(shoal)["many"]["containers"] == 0, 30, what="the addresses to be released")


def test_a_stack_gets_a_default_network_its_services_share(shoal, cluster, tmp_path):
    f = tmp_path / "stack.yml"
    f.write_text(f"""
services:
  web:
    image: {IMAGE}
    command: ["sh", "-c", "{SERVE}"]
    ports: ["8080"]
  probe:
    image: {IMAGE}
    command: sleep 600
""")
    shoal("stack", "deploy", "-c", str(f), "app")
    assert networks(shoal)["app_default"]["stack"] == "app"

    def fetched():
        try:
            _, probe = engine_of(cluster, "app_probe.1")
        except AssertionError:
            return None
        r = probe.exec_run(["wget", "-qO-", "http://app_web:8080/"])
        return r.output.decode().strip() if r.exit_code == 0 else None

    assert poll(fetched, 40, what="probe to reach web by its service name")
    shoal("stack", "rm", "app")
