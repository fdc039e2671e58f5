"""`shoal machine`: fresh Debian hosts (SSH test hosts with their own root filesystems, offline)
become nodes of the running dev cluster; failures leave the store consistent."""
from __future__ import annotations

import asyncio
import ipaddress
import json

import pytest

from shoal.pki import files
from shoal.protos import etcd_keys
from shoal.etcd.client import EtcdClient, TlsConfig

from shoal import devimage
from tests.integration.conftest import Shoal
from tests.polling import poll
from tests.integration.sshhosts import SshTestHosts, new_ed25519_key

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"
WHEELHOUSE = "/var/cache/shoal/wheels"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, cluster):
    # Host 4 boots real systemd as its pid 1: the agent is a systemd unit there, a supervised script elsewhere.
    with SshTestHosts(tmp_path_factory.mktemp("machines"), count=4, systemd={4}, prefix="mach",
                      subnet="10.213.62.0/24") as hs:
        for h in hs:
            # The hosts are offline; they reach the manager and etcd on the dev cluster's bridge only.
            h.run(f"ip route add {cluster.bridge_ip}/32 via {hs.bridge_ip}")
        yield hs


@pytest.fixture(scope="module")
def machines_cli(cluster, hosts, tmp_path_factory):
    config = tmp_path_factory.mktemp("machine-store")
    return Shoal(cluster.manager_address, str(cluster.admin_dir), str(config), {"SHOAL_WHEELHOUSE": WHEELHOUSE})


def create(cli: Shoal, cluster, h, name: str, *extra: str, check: bool = True, key=None, host_key=None, ip=None,
           popen: bool = False):
    args = ("machine", "create", "--ip", ip or h.ip, "--ssh-key", str(key or h.key_path),
            "--ssh-host-key", host_key or h.host_key_fingerprint, "--manager", cluster.manager_address,
            "--etcd", cluster.etcd_bridge_url, "--label", "zone=edge", "--agent-arg=--dns-upstream=none",
            *extra, name)
    if popen:
        return cli.popen(*args, text=True)
    return cli(*args, check=check, timeout=600)


def record(cli: Shoal, name: str) -> dict:
    return json.loads(cli("machine", "inspect", name).stdout)


MACHINES = {"m1": 0, "m2": 1, "m3": 3}   # name -> host; hosts[2] stays bare for the failure cases


@pytest.fixture(scope="module")
def provisioned(hosts, machines_cli, cluster):
    """Three hosts turned into nodes at once (as an admin would, in parallel) for the module;
    removed at its end."""
    running = {name: create(machines_cli, cluster, hosts[i], name, popen=True) for name, i in MACHINES.items()}
    for name, proc in running.items():
        out, err = proc.communicate(timeout=600)
        h = hosts[MACHINES[name]]
        if proc.returncode != 0:
            logs = h.run("tail -n 30 /var/log/shoal/agent.log /var/log/shoal/dockerd.log; "
                         "journalctl -n 30 --no-pager -u shoal-agent 2>/dev/null", check=False)
            pytest.fail(f"machine create {name}: {err.strip()}\n{logs.stdout}{logs.stderr}")
        assert f"{name}: ready as node" in out, out
        devimage.load_image(h.path("/run/docker.sock"))
    yield machines_cli
    for name in MACHINES:
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
    from shoal.pki.identity import of_pem
    old = of_pem(hosts[1].path("/var/lib/shoal/agent/node.pem").read_bytes())
    provisioned("machine", "regenerate-certs", "m2", timeout=600)
    new = of_pem(hosts[1].path("/var/lib/shoal/agent/node.pem").read_bytes())
    assert new.serial != old.serial and new.node_id == old.node_id
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
    assert node_id in {cn.partition(".")[0] for cn in revoked_common_names(cluster)}   # CN: <node id>.<generation>


def test_a_changed_host_key_is_refused_until_pinned_again(provisioned, hosts, shoal):
    new = hosts[1].swap_host_key()
    r = provisioned("machine", "provision", "m2", check=False, timeout=120)
    err = one_line_failure(r)
    assert "host key mismatch" in err and new in err, err
    assert record(provisioned, "m2")["error"]["step"] == "ssh"
    # A malformed pin is refused before anything is touched: the record still says why it failed.
    r = provisioned("machine", "provision", "m2", "--ssh-host-key", "SHA256:short", check=False)
    assert r.returncode == 2 and "--ssh-host-key" in r.stderr, r
    assert record(provisioned, "m2")["error"]["step"] == "ssh"
    # The admin checked the new key out of band and pins it.
    r = provisioned("machine", "provision", "m2", "--ssh-host-key", new, timeout=300)
    assert "nothing to change" in r.stdout, r.stdout
    rec = record(provisioned, "m2")
    assert rec["state"] == "ready" and rec["host_key"] == new
    assert shoal.nodes()["m2"]["state"] == "ready"


def test_a_host_whose_address_changes_keeps_its_node_and_certificate(provisioned, shoal, cluster, hosts):
    """Certificates name the node, not its IP: after `provision --ip NEW` the manager reaches the
    agent at the new address with the same certificate."""
    from shoal.pki.identity import of_pem
    h = hosts[1]
    cert = of_pem(h.path("/var/lib/shoal/agent/node.pem").read_bytes())
    node_id = record(provisioned, "m2")["node_id"]
    new_ip = str(ipaddress.ip_address(h.ip) + 100)
    # The old address goes away for good (sshd is moved to the new one; the route out is re-made).
    h.stop()
    h.run(f"ip addr del {h.ip}/24 dev eth0 && ip addr add {new_ip}/24 dev eth0 && "
          f"ip route replace {cluster.bridge_ip}/32 via {hosts.bridge_ip}")
    h.run(f"/usr/sbin/sshd -E /var/log/sshd.log -o ListenAddress={new_ip}:22")
    poll(lambda: h.run(f"ss -ltn 'sport = :22' | grep -F {new_ip}:22", check=False).returncode == 0, 30,
         what="sshd on the new address")

    r = provisioned("machine", "provision", "m2", "--ip", new_ip, timeout=300)
    assert "restarted the agent" in r.stdout, r.stdout
    assert record(provisioned, "m2")["ip"] == new_ip
    node = poll(lambda: (n := shoal.nodes().get("m2")) and n["state"] == "ready"
                and n["address"].startswith(f"{new_ip}:") and n, 60, what="the node at its new address")
    assert node["id"] == node_id
    same = of_pem(h.path("/var/lib/shoal/agent/node.pem").read_bytes())
    assert (same.serial, same.common_name) == (cert.serial, cert.common_name)
    assert cert.serial not in revoked_serials(cluster)
    # The manager calls the agent at the new address: work is placed there and runs.
    shoal("run", "-d", "--name", "after-move", "--constraint", "node.name==m2", IMAGE, "sleep", "300")
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "after-move" and c["state"] == "running"], 60,
         what="a container on the moved host")
    assert "after-move" in h.run("docker ps --format '{{.Names}}'").stdout


def test_on_a_systemd_host_the_agent_is_a_systemd_unit(provisioned, shoal, hosts, cluster):
    h, cli = hosts[3], provisioned
    assert h.run("cat /proc/1/comm").stdout.strip() == "systemd"
    assert h.run("systemctl is-enabled shoal-agent").stdout.strip() == "enabled"
    assert h.run("systemctl is-active shoal-agent docker").stdout.split() == ["active", "active"]
    assert not h.path("/run/shoal/agent-supervisor.pid").exists() and not h.path("/opt/shoal/bin/shoal-agent-supervise").exists()
    assert shoal.nodes()["m3"]["state"] == "ready"
    shoal("run", "-d", "--name", "on-m3", "--constraint", "node.name==m3", IMAGE, "sleep", "300")
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "on-m3" and c["state"] == "running"], 60,
         what="a container on the systemd host")
    assert "on-m3" in h.run("docker ps --format '{{.Names}}'").stdout

    # Idempotent there too; an upgrade restarts the unit (a new main pid), not the container.
    main_pid = h.run("systemctl show -p MainPID --value shoal-agent").stdout.strip()
    r = create(cli, cluster, h, "m3")
    assert "nothing to change" in r.stdout, r.stdout
    assert h.run("systemctl show -p MainPID --value shoal-agent").stdout.strip() == main_pid
    started = h.run("docker inspect -f '{{.State.StartedAt}}' $(docker ps -q --filter label=io.shoal.name=on-m3)").stdout
    r = cli("machine", "upgrade", "m3", timeout=600)
    assert "started the agent (systemd)" in r.stdout, r.stdout
    assert h.run("systemctl show -p MainPID --value shoal-agent").stdout.strip() not in ("", "0", main_pid)
    assert h.run("docker inspect -f '{{.State.StartedAt}}' $(docker ps -q --filter label=io.shoal.name=on-m3)").stdout == started

    # The agent is killed hard: systemd brings it back and the node stays in the cluster.
    h.run("systemctl kill -s KILL shoal-agent")
    poll(lambda: h.run("systemctl is-active shoal-agent", check=False).stdout.strip() == "active"
         and h.run("systemctl show -p NRestarts --value shoal-agent").stdout.strip() not in ("", "0"), 30,
         what="systemd to restart the killed agent")
    poll(lambda: shoal.nodes().get("m3", {}).get("state") == "ready", 60, what="m3 ready after the restart")

    # rm takes the unit away.
    cli("machine", "rm", "m3", timeout=300)
    assert "m3" not in shoal.nodes()
    assert not h.path("/etc/systemd/system/shoal-agent.service").exists()
    assert h.run("systemctl is-active shoal-agent", check=False).stdout.strip() != "active"
