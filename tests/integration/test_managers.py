"""Several managers: one leads; a dead or paused leader is replaced, and a deposed one cannot write."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import LEASE_TTL, ROOT
from tests.polling import poll
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"


class ExtraManager:
    def __init__(self, cluster, log_dir: Path):
        """Joins the running cluster with the manager token, as a second manager host would."""
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = log_dir / f"manager-{self.port}.log"
        self.state_dir = log_dir / f"manager-{self.port}"
        env = dict(os.environ, SHOAL_JOIN_TOKEN=cluster.join_token("manager"))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shoal", "manager", "--etcd", cluster.etcd_url,
                 "--state-dir", str(self.state_dir), "--join", cluster.manager_address,
                 "--listen", self.address, "--join-listen", f"127.0.0.1:{free_port()}",
                 "--lease-ttl", str(LEASE_TTL), "--log-level", "debug"],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True, env=env,
            )

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)


def status(shoal, address):
    r = shoal.at(address)("cluster", "status", "--format", "json", check=False, timeout=20)
    return json.loads(r.stdout) if r.returncode == 0 else None


def leader_of(shoal, addresses):
    for a in addresses:
        st = status(shoal, a)
        if st and st["leader"]:
            return a, st
    return None


@pytest.fixture
def managers(shoal, cluster, tmp_path):
    extra = [ExtraManager(cluster, tmp_path), ExtraManager(cluster, tmp_path)]
    try:
        poll(lambda: all(status(shoal, m.address) for m in extra), 30, what="the extra managers to answer")
        yield extra
    finally:
        for m in extra:
            m.stop()
        if status(shoal, cluster.manager_address) is None:
            cluster.start_manager_process()
        # The dev manager leads again once the extra managers' leases are gone.
        poll(lambda: (status(shoal, cluster.manager_address) or {}).get("leader"), LEASE_TTL + 15,
             what="the dev manager to lead again")


def test_followers_forward_writes_and_serve_reads(shoal, cluster, managers):
    addresses = [cluster.manager_address] + [m.address for m in managers]
    leader, st = poll(lambda: leader_of(shoal, addresses), 20, what="a leader")
    follower = next(a for a in addresses if a != leader)
    via = shoal.at(follower)
    via("service", "create", "--name", "fwd", "--replicas", "2", "--stop-grace-period", "1s", IMAGE, "sleep", "600")
    poll(lambda: len([t for t in via.json("service", "ps", "fwd") if t["state"] == "running"]) == 2, 30,
         what="the forwarded service to run")
    assert shoal.at(",".join(["127.0.0.1:1", follower])).json("service", "ls")[0]["name"] == "fwd"


def test_killed_leader_is_replaced_and_the_service_converges_to_exactly_20(shoal, cluster, managers):
    addresses = [cluster.manager_address] + [m.address for m in managers]
    by_address = {m.address: m for m in managers}
    leader, st = poll(lambda: leader_of(shoal, addresses), 20, what="a leader")
    survivors = [a for a in addresses if a != leader]
    cli = shoal.at(",".join(survivors))
    creating = shoal.at(leader).popen("service", "create", "--name", "twenty", "--replicas", "20",
                                      "--stop-grace-period", "1s", IMAGE, "sleep", "600")
    creating.wait(timeout=30)
    # Kill the leader while it is placing the 20 tasks.
    poll(lambda: any(s["name"] == "twenty" for s in cli.json("service", "ls")), 10, interval=0.05,
         what="the service record")
    killed = time.monotonic()
    if leader == cluster.manager_address:
        cluster.kill_manager()
    else:
        by_address[leader].proc.kill()
    new_leader, new_st = poll(lambda: leader_of(shoal, survivors), LEASE_TTL + 5, interval=0.2, what="a new leader")
    assert time.monotonic() - killed <= LEASE_TTL + 5
    assert int(new_st["term"]) > int(st["term"])

    def exactly_20():
        tasks = [t for t in cli.json("service", "ps", "twenty") if t["desired_state"] == "running"]
        running = [t for t in tasks if t["state"] == "running"]
        return running if len(tasks) == 20 and len(running) == 20 else None

    tasks = poll(exactly_20, 60, interval=0.5, what="exactly 20 running tasks")
    assert sorted(t["name"] for t in tasks) == sorted(f"twenty.{i}" for i in range(1, 21))
    engines = [c.labels["io.shoal.name"] for h in cluster.hosts for c in cluster.docker(h).containers.list()
               if c.labels.get("io.shoal.name", "").startswith("twenty.")]
    assert len(engines) == 20 and len(set(engines)) == 20


def test_a_paused_leader_is_deposed_and_cannot_write_after_its_term(shoal, cluster, managers):
    addresses = [cluster.manager_address] + [m.address for m in managers]
    # Make an extra manager the leader: pause the others' chance by waiting for the current one first.
    leader, st = poll(lambda: leader_of(shoal, addresses), 20, what="a leader")
    if leader == cluster.manager_address:
        cluster.kill_manager()
        leader, st = poll(lambda: leader_of(shoal, [m.address for m in managers]), LEASE_TTL + 5, what="an extra leader")
        cluster.start_manager_process()
    paused = next(m for m in managers if m.address == leader)
    cli = shoal.at(",".join(a for a in addresses if a != leader))
    cli("service", "create", "--name", "busy", "--replicas", "3", "--stop-grace-period", "1s", IMAGE, "sleep", "600")
    paused.proc.send_signal(signal.SIGSTOP)
    try:
        others = [a for a in addresses if a != leader]
        new_leader, new_st = poll(lambda: leader_of(shoal, others), LEASE_TTL * 3, what="a leader while it is paused")
        shoal.at(new_leader)("service", "scale", "busy=5")
    finally:
        paused.proc.send_signal(signal.SIGCONT)
    # Once resumed, the old leader notices it lost the term; none of its commits may come after the new term began.
    poll(lambda: "lost leadership" in paused.log.read_text() or "fenced" in paused.log.read_text(), 20,
         what="the deposed leader to notice")
    commits = [int(m.group(1)) for m in re.finditer(r"committed rev=(\d+) term=(\d+)", paused.log.read_text())]
    assert commits, "the paused leader never wrote anything: the test proves nothing"
    assert max(commits) < int(new_st["term"]), (max(commits), new_st["term"])
    poll(lambda: len([t for t in cli.json("service", "ps", "busy") if t["state"] == "running"]) == 5, 30,
         what="busy to converge under the new leader")
