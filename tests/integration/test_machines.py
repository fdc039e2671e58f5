"""`shoal machine`: fresh Debian hosts (SSH test hosts with their own root filesystems, offline)
become nodes of the running dev cluster; failures leave the store consistent."""
from __future__ import annotations

import asyncio
import json

import pytest

from pki import files
from protos import etcd_keys
from protos.etcdv3.client import EtcdClient, TlsConfig

from shoal import devimage
from tests.integration.conftest import Shoal, poll
from tests.integration.sshhosts import SshTestHosts, new_ed25519_key

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"
WHEELHOUSE = "/var/cache/shoal/wheels"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, cluster):
    with SshTestHosts(tmp_path_factory.mktemp("machines"), count=3, prefix="mach", subnet="10.213.62.0/24") as hs:
        for h in hs:
            # The hosts are offline; they reach the manager and etcd on the dev cluster's bridge only.
            h.run(f"ip route add {cluster.bridge_ip}/32 via {hs.bridge_ip}")
        yield hs


@pytest.fixture(scope="module")
def machines_cli(cluster, hosts, tmp_path_factory):
    config = tmp_path_factory.mktemp("machine-store")
    return Shoal(cluster.manager_address, str(cluster.admin_dir), str(config), {"SHOAL_WHEELHOUSE": WHEELHOUSE})


def create(cli: Shoal, cluster, h, name: str, *extra: str, check: bool = True, key=None, host_key=None, ip=None):
    return cli("machine", "create", "--ip", ip or h.ip, "--ssh-key", str(key or h.key_path),
               "--ssh-host-key", host_key or h.host_key_fingerprint, "--manager", cluster.manager_address,
               "--etcd", cluster.etcd_bridge_url, "--label", "zone=edge", "--agent-arg=--dns-upstream=none",
               *extra, name, check=check, timeout=600)


def record(cli: Shoal, name: str) -> dict:
    return json.loads(cli("machine", "inspect", name).stdout)


@pytest.fixture(scope="module")
def provisioned(hosts, machines_cli, cluster):
    """Two hosts turned into nodes once for the module; removed at its end."""
    for i, name in enumerate(("m1", "m2")):
        r = create(machines_cli, cluster, hosts[i], name, check=False)
        if r.returncode != 0:
            logs = hosts[i].run("tail -n 30 /var/log/shoal/agent.log /var/log/shoal/dockerd.log", check=False)
            pytest.fail(f"machine create {name}: {r.stderr.strip()}\n{logs.stdout}{logs.stderr}")
        assert f"{name}: ready as node" in r.stdout, r
        devimage.load_image(hosts[i].path("/run/docker.sock"))
    yield machines_cli
    for name in ("m1", "m2"):
        machines_cli("machine", "rm", "-f", name, check=False)


def test_two_fresh_hosts_become_nodes_and_run_containers(shoal, provisioned, hosts):
    cli = provisioned
    nodes = shoal.nodes()
    for name in ("m1", "m2"):
        assert nodes[name]["state"] == "ready", nodes
        assert nodes[name]["description"]["engine_labels"] == {"zone": "edge"}
    rows = {r["name"]: r for r in cli.json("machine", "ls")}
    assert rows["m1"]["node_state"] == rows["m2"]["node_state"] == "ready"
    assert rows["m1"]["agent_version"] != "-"
    shoal("run", "-d", "--name", "on-m1", "--constraint", "node.name==m1", IMAGE, "sleep", "300")
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "on-m1" and c["state"] == "running"], 60,
         what="a container on the provisioned host")
    # It really runs on that host's own engine.
    assert "on-m1" in hosts[0].run("docker ps --format '{{.Names}}'").stdout
    # What was installed landed on that host only.
    assert hosts[0].path("/opt/shoal/venv/bin/shoal").exists() and not hosts[2].path("/opt/shoal").exists()
    assert oct(hosts[0].path("/etc/shoal/agent.env").stat().st_mode & 0o777) == "0o600"
    # The record: 0700 directory, 0600 file, the host key pinned.
    rec = record(cli, "m1")
    assert rec["state"] == "ready" and rec["host_key"] == hosts[0].host_key_fingerprint and rec["node_id"]


def test_a_second_create_changes_nothing(provisioned, cluster, hosts, shoal):
    before = hosts[0].run("stat -c %Y /opt/shoal/bundle.sha256 /opt/shoal/bin/shoal-agent").stdout
    agent_pid = hosts[0].run("cat /run/shoal/agent-supervisor.pid").stdout
    r = create(provisioned, cluster, hosts[0], "m1")
    assert "nothing to change" in r.stdout, r.stdout
    assert hosts[0].run("stat -c %Y /opt/shoal/bundle.sha256 /opt/shoal/bin/shoal-agent").stdout == before
    assert hosts[0].run("cat /run/shoal/agent-supervisor.pid").stdout == agent_pid
    r = provisioned("machine", "provision", "m1", timeout=600)
    assert "nothing to change" in r.stdout
    assert shoal.nodes()["m1"]["state"] == "ready"


def test_machine_ssh_runs_a_command_with_the_pinned_key(provisioned, hosts):
    r = provisioned("machine", "ssh", "m2", "cat", "/etc/hostname")
    assert r.stdout.strip() == hosts[1].run("cat /etc/hostname").stdout.strip()


def revoked(cluster) -> dict[str, str]:
    """serial -> common name of every revoked certificate."""
    async def read():
        m = files.load(cluster.manager_dir, "manager")
        async with EtcdClient([cluster.etcd_url], tls=TlsConfig(m.ca, m.cert, m.key)) as etcd:
            kvs, _ = await etcd.get_prefix(etcd_keys.REVOKED)
        return {kv.key[len(etcd_keys.REVOKED):]: json.loads(kv.value)["common_name"] for kv in kvs}
    return asyncio.run(read())


def revoked_common_names(cluster) -> set[str]:
    return set(revoked(cluster).values())


def revoked_serials(cluster) -> set[str]:
    return set(revoked(cluster))


def test_machine_scp_both_ways_and_env(provisioned, hosts, tmp_path, cluster):
    src = tmp_path / "payload.txt"
    src.write_text("tide\n")
    provisioned("machine", "scp", str(src), "m2:/tmp/payload.txt")
    assert hosts[1].path("/tmp/payload.txt").read_text() == "tide\n"
    provisioned("machine", "scp", "m2:/tmp/payload.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "tide\n"
    env = provisioned("machine", "env", "m2").stdout
    assert f"export SHOAL_MANAGER={cluster.manager_address}" in env


def one_line_failure(r) -> str:
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_failures_name_their_cause_and_leave_a_consistent_record(machines_cli, cluster, hosts, tmp_path):
    cli, h = machines_cli, hosts[2]
    other_key = tmp_path / "other"
    other_key.write_bytes(new_ed25519_key()[0])
    other_key.chmod(0o600)
    err = one_line_failure(create(cli, cluster, h, "bad-key", key=other_key, check=False))
    assert f"authentication failed for root@{h.ip}" in err, err
    assert record(cli, "bad-key")["state"] == "error" and record(cli, "bad-key")["error"]["step"] == "ssh"

    err = one_line_failure(create(cli, cluster, h, "bad-hostkey", host_key="SHA256:" + "A" * 43, check=False))
    assert "host key mismatch" in err and h.host_key_fingerprint in err, err

    err = one_line_failure(create(cli, cluster, h, "gone", "--ssh-timeout", "8", ip="10.213.62.99", check=False))
    assert "10.213.62.99:22 unreachable" in err, err

    h.set_os_release('NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\nPRETTY_NAME="Fedora Linux 40"\n')
    try:
        err = one_line_failure(create(cli, cluster, h, "fedora", check=False))
    finally:
        h.reset_os_release()
    assert "unsupported OS: Fedora Linux 40" in err, err
    assert record(cli, "fedora")["error"] == {"step": "os", "reason": "unsupported OS: Fedora Linux 40"}

    err = one_line_failure(create(cli, cluster, h, "nosudo", "--ssh-user", "nosudo", check=False))
    assert "is not root and `sudo -n`" in err, err
    assert record(cli, "nosudo")["error"]["step"] == "privilege"
    assert not h.path("/opt/shoal").exists()     # nothing was installed by any of these
    for name in ("bad-key", "bad-hostkey", "gone", "fedora", "nosudo"):
        cli("machine", "rm", "-f", name)


def test_upgrade_restarts_the_agent_but_not_its_containers(provisioned, shoal, hosts):
    shoal("run", "-d", "--name", "keeps-running", "--constraint", "node.name==m2", IMAGE, "sleep", "300")
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "keeps-running" and c["state"] == "running"], 60,
         what="the container before the upgrade")
    engine = "docker inspect -f '{{.State.StartedAt}}' $(docker ps -q --filter label=io.shoal.name=keeps-running)"
    started = hosts[1].run(engine).stdout
    assert started.strip()
    agent_before = hosts[1].run("pgrep -f 'shoal agent'").stdout
    r = provisioned("machine", "upgrade", "m2", timeout=600)
    assert "restarted the agent" in r.stdout, r.stdout
    assert hosts[1].run("pgrep -f 'shoal agent'").stdout != agent_before
    assert hosts[1].run(engine).stdout == started
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "keeps-running" and c["state"] == "running"], 30,
         what="the container still reported running")


def test_regenerate_certs_gives_a_new_certificate_and_revokes_the_old(provisioned, shoal, cluster, hosts):
    from pki.identity import of_pem
    old = of_pem(hosts[1].path("/var/lib/shoal/agent/node.pem").read_bytes())
    provisioned("machine", "regenerate-certs", "m2", timeout=600)
    new = of_pem(hosts[1].path("/var/lib/shoal/agent/node.pem").read_bytes())
    assert new.serial != old.serial and new.common_name == old.common_name
    assert old.serial in revoked_serials(cluster)
    assert shoal.nodes()["m2"]["state"] == "ready"


def test_machine_rm_drains_and_removes_the_node_and_its_certificate(provisioned, shoal, cluster, hosts):
    shoal("service", "create", "--name", "edge", "--replicas", "2", "--constraint", "node.labels.zone!=none",
          "--stop-grace-period", "1s", IMAGE, "sleep", "300")
    node_id = record(provisioned, "m1")["node_id"]
    provisioned("machine", "rm", "m1", timeout=300)
    assert "m1" not in shoal.nodes()
    assert not [t for t in shoal.json("service", "ps", "edge")
                if t["node"] == "m1" and t["desired_state"] == "running"]
    r = provisioned("machine", "inspect", "m1", check=False)
    assert r.returncode == 1 and "m1" in r.stderr
    # The agent is gone from the host and its certificate is revoked.
    assert not hosts[0].path("/opt/shoal").exists()
    assert hosts[0].run("cat /run/shoal/agent-supervisor.pid", check=False).returncode != 0
    assert node_id in revoked_common_names(cluster)


def test_a_changed_host_key_is_refused_later(provisioned, hosts):
    new = hosts[1].swap_host_key()
    r = provisioned("machine", "provision", "m2", check=False, timeout=120)
    err = one_line_failure(r)
    assert "host key mismatch" in err and new in err, err
    assert record(provisioned, "m2")["error"]["step"] == "ssh"
