"""etcd outages and lost leases: agents register again, the manager's view resumes."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.conftest import LEASE_TTL
from tests.polling import poll

pytestmark = pytest.mark.integration

IDLE = ["shoal/busybox:latest", "sleep", "3600"]


def etcdctl(cluster, *args: str) -> str:
    m = cluster.manager_dir   # the manager's certificate: an etcd user with the root role
    tls = [f"--cacert={m / 'ca.pem'}", f"--cert={m / 'manager.pem'}", f"--key={m / 'manager.key'}"]
    r = subprocess.run(["etcdctl", f"--endpoints={cluster.etcd_url}", "--dial-timeout=3s", *tls, *args],
                       capture_output=True, text=True, timeout=30, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_etcd_outage_is_reported_then_everything_resumes(shoal, cluster):
    shoal("run", "-d", "--name", "before", *IDLE)
    cluster.kill_etcd()
    try:
        # Writes fail with a clear, one-line error while etcd is away; nothing is half-done.
        r = poll(lambda: (lambda r: r if r.returncode == 1 else None)(shoal("run", "-d", "--name", "during", *IDLE,
                                                                             check=False, timeout=60)),
                 30, what="run to be refused during the outage")
        assert r.stderr.startswith("shoal: etcd") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    finally:
        cluster.start_etcd()
    poll(lambda: shoal("run", "-d", "--name", "after", *IDLE, check=False).returncode == 0, 30,
         what="runs to work again after etcd is back")
    poll(lambda: len(shoal.nodes()) == 3, 30, what="all nodes after the outage")
    states = poll(lambda: (lambda s: s if s.get("before") == "running" and s.get("after") == "running" else None)(
        {c["name"]: c["state"] for c in shoal.json("ps", "-a")}), 20, what="both containers running")
    assert "during" not in states


def test_agents_register_again_when_their_lease_is_lost(shoal, cluster):
    shoal("run", "-d", "--name", "survivor", *IDLE)
    leases = json.loads(etcdctl(cluster, "lease", "list", "-w", "json")).get("leases") or []
    assert len(leases) >= 3
    for lease in leases:
        etcdctl(cluster, "lease", "revoke", format(lease["id"], "x"))
    # Each agent notices at its next keep-alive (TTL/3) and registers under a new lease.
    poll(lambda: len(shoal.nodes()) == 3, LEASE_TTL + 10, what="nodes to register again")
    new = json.loads(etcdctl(cluster, "lease", "list", "-w", "json")).get("leases") or []
    assert not {lease["id"] for lease in new} & {lease["id"] for lease in leases}
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "survivor" and c["state"] == "running"], 15,
         what="survivor reported running again")
    # The leader's lease went too: a manager leads again (a write goes through) before the test ends.
    poll(lambda: shoal("run", "-d", "--name", "after-leases", *IDLE, check=False).returncode == 0, 30,
         what="a leader to accept writes again")
