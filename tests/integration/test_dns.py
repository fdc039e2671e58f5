"""Service discovery by DNS across hosts: answered by each agent from etcd, exact and fresh."""
from __future__ import annotations

import re
import time

import pytest
from dnslib import QTYPE, DNSRecord

from tests.integration.conftest import LEASE_TTL
from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"
DNS_TTL = 5
SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"


def engine_of(cluster, name):
    for host in cluster.hosts:
        for c in cluster.docker(host).containers.list():
            if c.labels.get("io.shoal.name") == name:
                return host, c
    raise AssertionError(f"{name} runs nowhere")


def in_client(cluster, *cmd):
    host, client = engine_of(cluster, "client")
    r = client.exec_run(list(cmd))
    return r.exit_code, r.output.decode(errors="replace")


def nslookup(cluster, name) -> set[str] | None:
    code, out = in_client(cluster, "nslookup", name)
    if code != 0:
        return None
    # busybox prints the server first ("Server:\t10.214.x.1", "Address:\t10.214.x.1:53"), then the answers.
    answers = out.split("Name:", 1)[1] if "Name:" in out else ""
    return set(re.findall(r"Address:\s*([0-9.]+)\s*$", answers, re.M))


def task_ips(cluster, service) -> dict[str, str]:
    out = {}
    for host in cluster.hosts:
        for c in cluster.docker(host).containers.list():
            if c.labels.get("io.shoal.service") == service:
                out[c.labels["io.shoal.name"]] = c.attrs["NetworkSettings"]["IPAddress"]
    return out


def ask(cluster, name, qtype="A"):
    host, _, port = cluster.manager_dns.rpartition(":")
    reply = DNSRecord.parse(DNSRecord.question(name, qtype).send(host, int(port), timeout=3))
    return reply


@pytest.fixture
def api(shoal, cluster):
    h1 = cluster.hosts[0].name
    shoal("service", "create", "--name", "api", "--replicas", "3", "--stop-grace-period", "1s", "-p", "8080",
          "--constraint", f"node.name!={h1}", IMAGE, "sh", "-c", SERVE)
    shoal("run", "-d", "--name", "client", "--constraint", f"node.name=={h1}", IMAGE, "sleep", "3600")
    poll(lambda: len(task_ips(cluster, "api")) == 3, 30, what="3 api tasks")
    ips = poll(lambda: (lambda want: want if nslookup(cluster, "api") == set(want.values()) else None)(
        task_ips(cluster, "api")), 20, what="DNS to answer with the 3 api tasks")
    return ips


def test_a_container_finds_the_replicas_on_other_hosts_and_reaches_them(cluster, api):
    hosts = {engine_of(cluster, name)[0].name for name in api}
    assert cluster.hosts[0].name not in hosts and len(hosts) == 2
    assert nslookup(cluster, "api") == set(api.values())
    assert nslookup(cluster, "api.shoal") == set(api.values())
    assert nslookup(cluster, "tasks.api") == set(api.values())
    one = sorted(api)[0]
    assert nslookup(cluster, one) == {api[one]}  # a task by its name, like api.1
    code, out = in_client(cluster, "wget", "-qO-", "http://api:8080/")
    assert code == 0, out
    hostnames = {c.attrs["Config"]["Hostname"] for h in cluster.hosts for c in cluster.docker(h).containers.list()
                 if c.labels.get("io.shoal.service") == "api"}
    assert out.strip() in hostnames


def test_a_killed_replica_leaves_dns_quickly_and_its_replacement_joins(cluster, api):
    victim = sorted(api)[0]
    host, container = engine_of(cluster, victim)
    gone_ip = api[victim]
    container.kill()
    killed = time.monotonic()
    poll(lambda: gone_ip not in (nslookup(cluster, "api") or {gone_ip}), DNS_TTL + 1, interval=0.1,
         what="the killed replica to leave DNS")
    assert time.monotonic() - killed <= DNS_TTL + 1
    poll(lambda: (lambda now: now if len(now) == 3 and nslookup(cluster, "api") == set(now.values()) else None)(
        task_ips(cluster, "api")), 30, what="the replacement to join DNS")


def test_a_dead_agent_takes_its_endpoints_out_of_dns(cluster, api):
    victim_host = engine_of(cluster, sorted(api)[0])[0]
    on_victim = {ip for name, ip in api.items() if engine_of(cluster, name)[0] == victim_host}
    cluster.kill_agent(victim_host)
    killed = time.monotonic()
    poll(lambda: not (on_victim & (nslookup(cluster, "api") or on_victim)), LEASE_TTL + 2, interval=0.2,
         what="the dead host's endpoints to leave DNS")
    assert time.monotonic() - killed <= LEASE_TTL + 2


def test_manager_dns_nxdomain_srv_and_forwarding(cluster, api):
    reply = ask(cluster, "nosuch.shoal")
    assert reply.header.rcode == 3  # NXDOMAIN
    assert any(rr.rtype == QTYPE.SOA for rr in reply.auth)
    reply = ask(cluster, "api.shoal")
    assert {str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A} == set(api.values())
    reply = ask(cluster, "_8080._tcp.api.shoal", "SRV")
    srv = [rr.rdata for rr in reply.rr if rr.rtype == QTYPE.SRV]
    assert len(srv) == 3 and {s.port for s in srv} == {8080}
    assert {str(s.target).rstrip(".") for s in srv} == {f"{name}.shoal" for name in api}
    reply = ask(cluster, "example.test")
    assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.10"]
    # and from a container, through its agent's resolver
    assert nslookup(cluster, "example.test") == {"192.0.2.10"}
    code, _ = in_client(cluster, "nslookup", "nosuch")
    assert code != 0
