"""Issue 14, finding 5: a compromised host keeps the leader's lease alive; failover happens anyway.

On the real dev cluster (TLS, etcd auth on), with a second manager. The attacker holds one host's
agent certificate, as a compromised host does, and uses etcdctl as the issue did: it lists the
leases, finds the one holding /shoal/leader (etcd < 3.4.26 shows any lease's keys to anyone,
CVE-2023-32082) and keeps it alive. The leader is then SIGSTOPped: the other manager must take over
within about the TTL all the same, because leadership also rests on a heartbeat only managers
can write; and the old leader, resumed, must find itself fenced and step down.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from shoal.protos import etcd_keys
from shoal.etcd.client import EtcdClient, TlsConfig
from tests.integration.conftest import LEASE_TTL
from tests.polling import poll
from tests.integration.test_managers import IMAGE, ExtraManager, leader_of, status

pytestmark = pytest.mark.integration
# Failover from the SIGSTOP: the heartbeat stands still for a TTL, plus a follower's poll (TTL/6) and
# the CLI's own status calls; the same bound as for a killed leader (test_managers).
FAILOVER_BOUND = LEASE_TTL + 5


def etcdctl(cluster, cert: Path, key: Path, *args: str) -> list[str]:
    return ["etcdctl", f"--endpoints={cluster.etcd_url}", f"--cacert={cluster.manager_dir / 'ca.pem'}",
            f"--cert={cert}", f"--key={key}", "--command-timeout=5s", *args]


def leader_lease(cluster, cert: Path, key: Path) -> int | None:
    """What an etcd user without any right on /shoal/leader can learn: the id of the lease it is under."""
    r = subprocess.run(etcdctl(cluster, cert, key, "lease", "list", "-w", "json"),
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        return None
    for lease in json.loads(r.stdout).get("leases") or []:
        r = subprocess.run(etcdctl(cluster, cert, key, "lease", "timetolive", f"{lease['id']:x}", "--keys", "-w", "json"),
                           capture_output=True, text=True, timeout=20)
        if r.returncode == 0 and etcd_keys.LEADER in [base64.b64decode(k).decode()
                                                      for k in json.loads(r.stdout).get("keys") or []]:
            return lease["id"]
    return None


async def read_as_manager(cluster) -> tuple:
    m = cluster.manager_dir
    tls = TlsConfig((m / "ca.pem").read_bytes(), (m / "manager.pem").read_bytes(), (m / "manager.key").read_bytes())
    async with EtcdClient([cluster.etcd_url], tls=tls, timeout=5) as etcd:
        return await etcd.get(etcd_keys.LEADER), await etcd.get(etcd_keys.HEARTBEAT)


@pytest.fixture
def second_manager(shoal, cluster, tmp_path):
    extra = ExtraManager(cluster, tmp_path)
    try:
        poll(lambda: status(shoal, extra.address), 30, what="the second manager to answer")
        yield extra
    finally:
        extra.stop()
        if status(shoal, cluster.manager_address) is None:
            cluster.start_manager_process()
        # The attacker's lease is gone with its keep-alive, and the dev manager deposes whatever
        # else is left within a TTL.
        poll(lambda: (status(shoal, cluster.manager_address) or {}).get("leader"), LEASE_TTL * 3 + 15,
             what="the dev manager to lead again")


def test_an_agent_keeping_the_leaders_lease_alive_does_not_block_failover(shoal, cluster, second_manager):
    dev, extra = cluster.manager_address, second_manager
    leader, st = poll(lambda: leader_of(shoal, [dev, extra.address]), 20, what="a leader")
    if leader == dev:
        # The second manager must lead: it is the process this test can pause.
        cluster.kill_manager()
        leader, st = poll(lambda: leader_of(shoal, [extra.address]), LEASE_TTL + 5, what="the second manager to lead")
        cluster.start_manager_process()
        poll(lambda: status(shoal, dev), 30, what="the dev manager to answer again")
    old_term = int(st["term"])
    cli = shoal.at(dev)
    # The leader writes (placements) before it is paused, so that its log shows what it committed.
    cli("service", "create", "--name", "busy", "--replicas", "3", "--stop-grace-period", "1s", IMAGE, "sleep", "600")
    poll(lambda: len([t for t in cli.json("service", "ps", "busy") if t["state"] == "running"]) == 3, 60,
         what="busy to run under the leader to be paused")

    agent = cluster.hosts[0].dir / "agent"
    attacker = (agent / "node.pem", agent / "node.key")
    lease = leader_lease(cluster, *attacker)
    assert lease is not None, "a host's etcd identity could not find the leader's lease: the attack needs a " \
                              "patched etcd variant of this test"
    # What the attacker cannot do is advance the heartbeat itself: agents' roles write only their own keys.
    r = subprocess.run(etcdctl(cluster, *attacker, "put", etcd_keys.HEARTBEAT, "{}"), capture_output=True, text=True,
                       timeout=20)
    assert r.returncode != 0 and "permission denied" in r.stderr, (r.returncode, r.stderr)
    keeping = subprocess.Popen(etcdctl(cluster, *attacker, "lease", "keep-alive", f"{lease:x}"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The host's identity really refreshes it: etcdctl reports each keep-alive etcd granted.
        assert "keepalived with TTL" in keeping.stdout.readline()
        extra.proc.send_signal(signal.SIGSTOP)
        try:
            paused = time.monotonic()
            new_st = poll(lambda: (s := status(shoal, dev)) and s["leader"] and s, FAILOVER_BOUND, interval=0.2,
                          what="the dev manager to lead while the paused leader's lease is kept alive")
            took = time.monotonic() - paused
            new_term = int(new_st["term"])
            assert new_term > old_term
            assert took <= FAILOVER_BOUND
            # The attack was on all along: the old lease still lives, refreshed by the host.
            assert keeping.poll() is None
            r = subprocess.run(etcdctl(cluster, *attacker, "lease", "timetolive", f"{lease:x}", "-w", "json"),
                               capture_output=True, text=True, timeout=20)
            assert json.loads(r.stdout)["ttl"] > 0, r.stdout
            cli("service", "scale", "busy=5")
        finally:
            extra.proc.send_signal(signal.SIGCONT)

        # Resumed, the old leader finds its term over (its heartbeat is refused) and steps down.
        poll(lambda: f"lost leadership of term {old_term}" in extra.log.read_text(), 20,
             what="the deposed leader to step down")
        st_old = poll(lambda: (s := status(shoal, extra.address)) and int(s["term"]) == new_term and s, 20,
                      what="the deposed leader to follow the new one")
        assert st_old["leader"] is False
        log = extra.log.read_text()
        commits = [int(m.group(1)) for m in re.finditer(r"committed rev=(\d+) term=(\d+)", log)]
        assert commits, "the paused leader never wrote anything: the test proves nothing"
        assert max(commits) < new_term, (max(commits), new_term)
        # Nothing it wrote after waking landed: the leader key and the heartbeat are the new term's.
        leader_kv, beat_kv = asyncio.run(read_as_manager(cluster))
        assert leader_kv.create_revision == new_term
        beat = json.loads(beat_kv.value)
        assert (beat["id"], beat["term"]) == (new_st["id"], new_term)
        poll(lambda: len([t for t in cli.json("service", "ps", "busy") if t["state"] == "running"]) == 5, 30,
             what="busy to converge under the new leader")
        assert "deposed leader" in cluster.manager_log().read_text()
    finally:
        keeping.kill()
        keeping.wait(timeout=10)
