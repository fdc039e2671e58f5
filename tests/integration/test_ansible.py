"""ansible/site.yml (role shoal_agent): two fresh Debian hosts (SSH test hosts, offline) become nodes
of the running dev cluster through a real `ansible-playbook` run over SSH with verified host keys;
a second run changes nothing; the join token shows nowhere in Ansible's output; the files written
are byte for byte the ones `shoal machine create` writes (provisioner/layout.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from shoal.provisioner import layout
from shoal import devimage
from tests.integration.conftest import ROOT, Shoal
from tests.polling import poll
from tests.integration.sshhosts import SshTestHosts

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"
WHEELHOUSE = "/var/cache/shoal/wheels"
PREFIX, SUBNET = "ansb", "10.213.64.0/24"
PLAYBOOK_TIMEOUT = 900
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
LABELS = {"zone": "fleet", "tier": "b 2"}
EXTRA_ARGS = ["--dns-upstream", "none"]   # nothing forwarded outside the test hosts


def node_name(h) -> str:
    return h.name        # the inventory hostname: the role's default shoal_agent_node_name


def settings(h, cluster) -> layout.AgentSettings:
    """What `shoal machine create` would install on this host for the same inputs."""
    return layout.AgentSettings(name=node_name(h), ip=h.ip, manager=cluster.manager_address,
                                etcd=cluster.etcd_bridge_url, labels=LABELS, extra_args=tuple(EXTRA_ARGS))


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines: {host: {"ok": N, "changed": N, "unreachable": N, "failed": N, ...}}."""
    rows = {}
    section = output.split("PLAY RECAP", 1)[-1] if "PLAY RECAP" in output else ""
    for line in section.splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if m:
            rows[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return rows


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, cluster):
    # Host 2 boots real systemd: the role's systemd branch (unit + docker.service) runs there.
    with SshTestHosts(tmp_path_factory.mktemp("ansible-hosts"), count=2, systemd={2}, prefix=PREFIX,
                      subnet=SUBNET) as hs:
        for h in hs:
            # Offline hosts: they reach the manager and etcd on the dev cluster's bridge only.
            h.run(f"ip route add {cluster.bridge_ip}/32 via {hs.bridge_ip}")
        yield hs


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    """The controller-side bundle, made as the README says (ansible/bundle.py)."""
    d = tmp_path_factory.mktemp("bundle")
    r = subprocess.run([sys.executable, str(ROOT / "ansible" / "bundle.py"), str(d), "3.11", "x86_64"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT,
                       env=dict(os.environ, SHOAL_WHEELHOUSE=WHEELHOUSE))
    assert r.returncode == 0, r.stderr
    assert (d / "bundle.sha256").read_text() == r.stdout
    return d


class Playbook:
    """`ansible-playbook -i INV ansible/site.yml -e @VARS`, self-contained: its own ansible.cfg, temp
    dirs and SSH control sockets under tmp, no colour, no galaxy, host keys verified."""

    def __init__(self, work: Path, hosts, cluster, bundle: Path):
        self.work = work
        self.bundle = bundle
        self.token = cluster.join_token("agent")
        self.known_hosts = known = work / "known_hosts"
        known.write_text("".join(h.known_hosts_line + "\n" for h in hosts))
        self.inventory = work / "inventory.ini"
        ssh_args = (f"-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile={known} "
                    "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes")
        self.inventory.write_text(
            "[shoal_agents]\n"
            + "".join(f"{node_name(h)} ansible_host={h.ip}\n" for h in hosts)
            + "\n[shoal_agents:vars]\n"
            f"ansible_user=root\nansible_ssh_private_key_file={hosts.key_path}\n"
            f"ansible_ssh_common_args='{ssh_args}'\nansible_python_interpreter=/usr/bin/python3\n")
        self.vars_file = work / "vars.yml"
        fd = os.open(self.vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump({"shoal_agent_manager": cluster.manager_address, "shoal_agent_etcd": cluster.etcd_bridge_url,
                            "shoal_agent_join_token": self.token, "shoal_agent_bundle_dir": str(bundle),
                            "shoal_agent_labels": LABELS, "shoal_agent_extra_args": EXTRA_ARGS}, f)
        self.control_dir = work / "cp"
        self.control_dir.mkdir(mode=0o700)
        cfg = work / "ansible.cfg"
        cfg.write_text(
            "[defaults]\n"
            f"local_tmp = {work}/local-tmp\n"
            "remote_tmp = /tmp/.ansible-shoal-test\n"
            "host_key_checking = True\n"
            "retry_files_enabled = False\n"
            "nocolor = True\n"
            f"collections_path = {work}/collections\n"
            f"roles_path = {ROOT}/ansible/roles\n"
            "forks = 5\n"
            "[galaxy]\n"
            f"cache_dir = {work}/galaxy-cache\n"
            "[ssh_connection]\n"
            "pipelining = True\n"
            f"control_path_dir = {self.control_dir}\n"
            "ssh_args = -o ControlMaster=auto -o ControlPersist=120s\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.env.update(ANSIBLE_CONFIG=str(cfg), ANSIBLE_LOCAL_TEMP=f"{work}/local-tmp",
                        ANSIBLE_REMOTE_TEMP="/tmp/.ansible-shoal-test", ANSIBLE_NOCOLOR="1",
                        ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOME=f"{work}/ansible-home",
                        ANSIBLE_GALAXY_SERVER_LIST="", ANSIBLE_STDOUT_CALLBACK="default",
                        HOME=str(work))   # ~/.ansible, ~/.ssh: nothing of the machine's user is read
        self.runs: list[str] = []

    def __call__(self) -> tuple[int, str]:
        r = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(self.inventory), str(ROOT / "ansible" / "site.yml"),
                            "-e", f"@{self.vars_file}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=PLAYBOOK_TIMEOUT, env=self.env, cwd=self.work)
        self.runs.append(r.stdout)
        return r.returncode, r.stdout

    def close(self) -> None:
        """Ends the SSH control masters (ControlPersist) of these runs, by their sockets."""
        for sock in self.control_dir.iterdir():
            subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "shoal-test-host"],
                           capture_output=True, timeout=30, env=self.env)


@pytest.fixture(scope="module")
def playbook(tmp_path_factory, hosts, cluster, bundle_dir):
    p = Playbook(tmp_path_factory.mktemp("ansible"), hosts, cluster, bundle_dir)
    yield p
    p.close()


@pytest.fixture(scope="module")
def installed(playbook, hosts, cluster):
    """The first run, once for the module; at its end the agents stop and their nodes go."""
    started = time.monotonic()
    rc, out = playbook()
    seconds = time.monotonic() - started
    try:
        if rc != 0:
            logs = "".join(h.run("tail -n 20 /var/log/shoal/agent.log /var/log/shoal/dockerd.log",
                                 check=False).stdout for h in hosts)
            pytest.fail(f"ansible-playbook exited {rc}:\n{out[-6000:]}\n{logs}")
        for h in hosts:
            devimage.load_image(h.path("/run/docker.sock"))
        yield out, seconds
    finally:
        admin = Shoal(cluster.manager_address, str(cluster.admin_dir))
        for h in hosts:
            h.run(layout.stop_agent(), check=False)
        for h in hosts:
            admin("node", "rm", "--force", node_name(h), check=False)
        poll(lambda: not {node_name(h) for h in hosts} & set(admin.nodes()), 60, what="the added nodes to be gone")


def test_first_run_makes_both_hosts_ready_nodes_that_run_containers(installed, playbook, shoal, hosts, cluster):
    out, seconds = installed
    rows = recap(out)
    assert set(rows) == {node_name(h) for h in hosts}, out[-3000:]
    for name, row in rows.items():
        assert row["failed"] == 0 and row["unreachable"] == 0 and row["changed"] > 0, (name, row)
    print(f"\nfirst ansible-playbook run: {seconds:.1f} s; recap {rows}")
    nodes = poll(lambda: (n := shoal.nodes()) and all(n.get(node_name(h), {}).get("state") == "ready"
                                                       for h in hosts) and n, 60, what="both nodes ready")
    for h in hosts:
        assert nodes[node_name(h)]["description"]["engine_labels"] == LABELS
    shoal("run", "-d", "--name", "on-ansb", "--constraint", f"node.name=={node_name(hosts[0])}", IMAGE, "sleep", "300")
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "on-ansb" and c["state"] == "running"], 60,
         what="a container on a host installed by Ansible")
    assert "on-ansb" in hosts[0].run("docker ps --format '{{.Names}}'").stdout
    assert playbook.token not in out


def test_files_are_the_ones_machine_create_writes(installed, hosts, cluster, playbook):
    for h in hosts:
        s = settings(h, cluster)
        assert h.path(layout.AGENT_SCRIPT).read_text() == layout.agent_script(s)
        if h.systemd:
            assert h.path(layout.UNIT).read_text() == layout.systemd_unit()
            assert h.run("systemctl is-enabled shoal-agent").stdout.strip() == "enabled"
            assert h.run("systemctl is-active shoal-agent docker").stdout.split() == ["active", "active"]
            assert not h.path(layout.SUPERVISOR).exists() and not h.path(layout.DOCKERD_SUPERVISOR).exists()
        else:
            assert h.path(layout.SUPERVISOR).read_text() == layout.supervisor(
                layout.AGENT_SCRIPT, layout.SUPERVISOR_PID, f"{layout.LOG_DIR}/agent.log")
            assert h.path(layout.DOCKERD_SUPERVISOR).read_text() == layout.supervisor(
                "dockerd", layout.DOCKERD_PID, f"{layout.LOG_DIR}/dockerd.log")
            assert not h.path(layout.UNIT).exists()
            assert h.run(layout.running_check(layout.SUPERVISOR_PID, layout.SUPERVISOR), check=False).returncode == 0
        assert h.path(layout.ENV_FILE).read_text() == layout.env_file(playbook.token)
        assert oct(h.path(layout.ENV_FILE).stat().st_mode & 0o777) == "0o600"
        assert oct(h.path(layout.ETC).stat().st_mode & 0o777) == "0o700"
        assert oct(h.path(layout.AGENT_SCRIPT).stat().st_mode & 0o777) == "0o755"
        assert h.path(layout.BUNDLE_MARK).read_text() == (playbook.bundle / "bundle.sha256").read_text()
        assert sorted(p.name for p in h.path(layout.WHEELS).iterdir()) == sorted(
            p.name for p in playbook.bundle.glob("*.whl"))
        assert h.run(f"{layout.VENV}/bin/shoal --help").returncode == 0
        assert h.path(f"{layout.STATE}/node.pem").stat().st_size > 0


def test_second_run_changes_nothing_and_never_shows_the_token(installed, playbook, hosts, shoal):
    def state(h):
        service_files = layout.UNIT if h.systemd else f"{layout.SUPERVISOR} {layout.DOCKERD_SUPERVISOR}"
        files = h.run(f"stat -c '%n %i %.9Y %a' {layout.BUNDLE_MARK} {layout.AGENT_SCRIPT} {layout.ENV_FILE} "
                      f"{service_files} {layout.WHEELS}/*").stdout
        if h.systemd:
            pids = h.run("systemctl show -p MainPID --value shoal-agent docker").stdout
        else:
            pids = h.run(f"cat {layout.SUPERVISOR_PID} {layout.DOCKERD_PID}; "
                         f"pgrep -P $(cat {layout.SUPERVISOR_PID})").stdout
        assert pids.split() and "0" not in pids.split(), pids
        return files, pids
    before = [state(h) for h in hosts]
    started = time.monotonic()
    rc, out = playbook()
    seconds = time.monotonic() - started
    assert rc == 0, out[-6000:]
    rows = recap(out)
    print(f"\nsecond ansible-playbook run: {seconds:.1f} s; recap {rows}")
    assert set(rows) == {node_name(h) for h in hosts}
    for name, row in rows.items():
        assert row["changed"] == 0 and row["failed"] == 0 and row["unreachable"] == 0, (name, row, out[-4000:])
    assert [state(h) for h in hosts] == before        # nothing rewritten, nothing restarted
    assert all(shoal.nodes()[node_name(h)]["state"] == "ready" for h in hosts)
    for run in playbook.runs:
        assert playbook.token not in run


def test_a_host_key_that_does_not_match_is_refused(installed, playbook, hosts):
    """Host keys are checked for real: with each host's key swapped for the other's in known_hosts,
    ssh refuses both hosts and nothing runs."""
    good = playbook.known_hosts.read_text()
    h1, h2 = hosts[0], hosts[1]
    swapped = (f"{h1.ip} {' '.join(h2.host_public_key.split()[:2])}\n"
               f"{h2.ip} {' '.join(h1.host_public_key.split()[:2])}\n")
    playbook.close()          # no open control connection may skip the check
    playbook.known_hosts.write_text(swapped)
    try:
        rc, out = playbook()
    finally:
        playbook.known_hosts.write_text(good)
    assert rc != 0
    assert {name: row["unreachable"] for name, row in recap(out).items()} == {node_name(h): 1 for h in hosts}, out
    assert "Host key verification failed" in out or "REMOTE HOST IDENTIFICATION HAS CHANGED" in out, out[-3000:]
    assert playbook.token not in out
