"""Integration tests of the dev-cluster plumbing: netns hosts, their dockerds,
the busybox image, etcd, process lifecycle and teardown.

Real everything (root, pyroute2, dockerd, etcd).  Traffic goes only to
loopback and to the test hosts' addresses (10.213.9x.0/24) made here.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import os
import signal
import shutil
import socket
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.polling import poll
from tests.integration.ports import free_port, free_port_pair

import pytest

from shoal import devcleanup, devhosts, devimage, devprocs
from shoal.devcluster import DevCluster, DevClusterError, address_pools

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

_missing = [c for c in ("dockerd", "containerd", "etcd", "nsenter") if not shutil.which(c)]
needs_root_hosts = pytest.mark.skipif(
    os.geteuid() != 0 or bool(_missing) or not Path(devimage.BUSYBOX).exists(),
    reason=f"needs root, busybox-static and {', '.join(_missing) or 'dockerd/etcd'}",
)

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def short_state_dir(tmp_path_factory, name: str) -> Path:
    """A state dir short enough for unix socket paths."""
    d = tmp_path_factory.mktemp(name)
    if len(str(d)) > 40:
        d = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))
    return d / "state"


def recorded_pids(state_dir: Path) -> list[tuple[str, int, int]]:
    state = json.loads((state_dir / "cluster.json").read_text())
    return [(k, r["pid"], r["start"]) for k, r in state["procs"].items() if r.get("start") is not None]


def ip(*args: str) -> subprocess.CompletedProcess:
    """iproute2 in the root namespace: what the kernel itself says of its routes and rules."""
    return subprocess.run(["ip", "-4", *args], capture_output=True, text=True, timeout=10, check=False)


def routes_of_ours() -> list[str]:
    return ip("route", "show", "proto", str(devhosts.ROUTE_PROTO)).stdout.splitlines()


def assert_all_gone(state_dir: Path, prefix: str, pids: list[tuple[str, int, int]]) -> None:
    assert devhosts.netns_with_prefix(prefix) == []
    assert devhosts.links_with_prefix(prefix) == []
    bridge = prefix + "br"
    assert [r for r in routes_of_ours() if f"dev {bridge} " in r + " "] == []
    assert f"iif {bridge} " not in ip("rule", "show").stdout
    if not [r for r in routes_of_ours() if " via " in r]:   # no other dev cluster is up
        assert routes_of_ours() == [], "the pools' unreachable routes outlived the last dev cluster"
    alive = [(k, pid) for k, pid, start in pids if devprocs.running(pid, start)]
    assert alive == []
    assert devcleanup.mounts_under(state_dir) == []
    assert not state_dir.exists()


# -- the image (no root needed) -------------------------------------------------


@pytest.mark.skipif(not Path(devimage.BUSYBOX).exists(), reason="needs busybox-static")
def test_image_tar_is_deterministic_and_complete():
    a = devimage.build_tar()
    devimage._build_cached.cache_clear()
    b = devimage.build_tar()
    assert a.sha256 == b.sha256 and a.data == b.data
    with tarfile.open(fileobj=io.BytesIO(a.data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("sh", "httpd", "wget", "sleep", "nc"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    assert a.applets > 100
    assert members["tmp"].mode == 0o1777
    for d in ("proc", "sys", "dev", "root", "etc"):
        assert members[d].isdir()
    with tarfile.open(fileobj=io.BytesIO(a.data)) as tar:
        passwd = tar.extractfile("etc/passwd").read().decode()
        group = tar.extractfile("etc/group").read().decode()
    assert passwd.startswith("root:x:0:0:") and "\nnobody:x:65534:" in passwd
    assert group.startswith("root:x:0:") and "nobody:x:65534:" in group


# -- a 2-host cluster without agents/manager ------------------------------------

X_NAME = "shoalx"
X_SUBNET = "10.213.99.0/24"


@pytest.fixture(scope="module")
def xcluster(tmp_path_factory):
    if os.geteuid() != 0 or _missing:
        pytest.skip("needs root, dockerd, containerd, etcd, nsenter")
    state_dir = short_state_dir(tmp_path_factory, X_NAME)
    c = DevCluster(
        state_dir,
        name=X_NAME,
        subnet=X_SUBNET,
        docker_bip_base="10.214.90.0",
        etcd_port=free_port_pair(),
        start_agents=False,
        start_manager=False,
        hosts=2,
    )
    t0 = time.monotonic()
    c.up()
    c.up_seconds = time.monotonic() - t0
    try:
        yield c
    finally:
        c.down()  # tolerant: the last test already tore it down via load()


@needs_root_hosts
def test_up_makes_hosts_with_dockerd_and_image(xcluster):
    c = xcluster
    assert [h.name for h in c.hosts] == ["shoalx-h1", "shoalx-h2"]
    assert [h.ip for h in c.hosts] == ["10.213.99.11", "10.213.99.12"]
    assert [h.bip for h in c.hosts] == ["10.214.90.1/24", "10.214.91.1/24"]
    assert devhosts.netns_with_prefix(X_NAME + "-") == ["shoalx-h1", "shoalx-h2"]
    assert set(devhosts.links_with_prefix(X_NAME + "-")) == {"shoalx-br", "shoalx-h1", "shoalx-h2"}
    for h in c.hosts:
        assert h.docker_socket.is_socket()
        client = c.docker(h)
        try:
            assert client.ping()
            img = client.images.get(devimage.IMAGE)
            assert img.labels[devimage.DIGEST_LABEL] == devimage.build_tar().sha256
            assert img.attrs["Config"]["Cmd"] == ["sh"]
            # each dockerd's docker0 lives inside its own host
            r = c.host_exec(h, ["/bin/busybox", "ip", "-4", "addr", "show", "docker0"])
            assert h.bip in r.stdout, r
            r = c.host_exec(h, ["/bin/busybox", "ip", "-4", "addr", "show", "eth0"])
            assert f"{h.ip}/24" in r.stdout, r
        finally:
            client.close()
    # a second load is a no-op
    assert devimage.load_image(c.hosts[0].docker_socket) is False


@needs_root_hosts
def test_published_port_reachable_from_other_host(xcluster):
    c = xcluster
    h1, h2 = c.hosts
    client = c.docker(h1)
    try:
        ctr = client.containers.run(
            devimage.IMAGE,
            ["sh", "-c", "echo shoal-from-h1 > /var/www/index.html && exec httpd -f -p 80 -h /var/www"],
            detach=True,
            ports={"80/tcp": 8080},
            name="web",
        )
        url = f"http://{h1.ip}:8080/index.html"

        def fetch():
            r = c.host_exec(h2, ["/bin/busybox", "wget", "-qO-", url], timeout=10)
            return r.stdout.strip() if r.returncode == 0 else None

        assert poll(fetch, 20, interval=0.1, what=f"wget {url} from {h2.name}") == "shoal-from-h1"
        ctr.reload()
        assert ctr.status == "running"
    finally:
        client.close()
    # the container is left running on purpose: down() must cope with it


@needs_root_hosts
def test_the_root_namespace_answers_containers_via_their_host_and_routes_nothing_off_the_machine(xcluster):
    """A container talking to the bridge address (the root namespace's) gets its answer back through
    its host; before, the root namespace answered by its default route, off the machine."""
    c = xcluster
    bridge = f"{X_NAME}-br"
    for h in c.hosts:
        container_address = h.bip.replace(".1/24", ".77")
        r = ip("route", "get", container_address)
        assert r.returncode == 0 and r.stdout.startswith(f"{container_address} via {h.ip} dev {bridge} "), r
    # The rest of the pools: unreachable, not the default route (whatever else is up).
    for elsewhere in ("10.214.255.5", "10.240.0.5", "10.241.7.7"):
        r = ip("route", "get", elsewhere)
        assert r.returncode != 0 and "No route to host" in r.stderr, (elsewhere, r)
    # ...but the machine's own resolvers inside a pool (here: 10.255.255.53 in 10.240.0.0/12) are
    # reached as before, off the bridge: the blackhole once took the machine's DNS with it.
    with open(devhosts.RESOLV_CONF) as f:
        kept = devhosts.in_pools(devhosts.resolvers(f.read()), address_pools(c.docker_bip_base))
    for address in kept:
        r = ip("route", "get", address)
        assert r.returncode == 0 and f"dev {bridge}" not in r.stdout, (address, r)
    # Nothing in from the bridge is forwarded past the pools, should this machine forward at all.
    rules = ip("rule", "show", "iif", bridge).stdout
    assert f"to 10.214.0.0/16 iif {bridge} lookup main" in rules and f"iif {bridge} unreachable" in rules, rules
    client = c.docker(c.hosts[0])
    try:
        out = client.containers.run(devimage.IMAGE, ["ping", "-c", "1", "-W", "5", c.bridge_ip], remove=True)
        assert b"1 packets received" in out, out
    finally:
        client.close()
    # Again is a no-op; a host subnet routed elsewhere is refused.
    before = routes_of_ours()
    subnets = {str(h.bip).replace(".1/24", ".0/24"): h.ip for h in c.hosts}
    devhosts.add_container_routes(bridge, subnets, address_pools(c.docker_bip_base))
    assert routes_of_ours() == before
    with pytest.raises(devhosts.DevHostsError, match="10.214.90.0/24 is routed already"):
        devhosts.add_container_routes(bridge, {"10.214.90.0/24": c.hosts[1].ip}, address_pools(c.docker_bip_base))


@needs_root_hosts
def test_etcd_health_on_loopback_and_bridge(xcluster):
    """etcd serves TLS only and wants a client certificate of the cluster CA, from the machine and from a host."""
    c = xcluster
    probe = (
        "import ssl, sys, urllib.request\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
        "if len(sys.argv) > 3: ctx.load_cert_chain(sys.argv[3], sys.argv[4])\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))\n"
        "try:\n"
        "    print(opener.open(sys.argv[1] + '/health', timeout=5).read().decode())\n"
        "except Exception as e:\n"
        "    print('refused', type(e).__name__); sys.exit(1)\n"
    )
    m = c.manager_dir
    with_cert = [str(m / "ca.pem"), str(m / "manager.pem"), str(m / "manager.key")]
    r = subprocess.run([sys.executable, "-c", probe, c.etcd_url, *with_cert], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and json.loads(r.stdout)["health"] == "true", r
    r = c.host_exec(c.hosts[1], [sys.executable, "-c", probe, c.etcd_bridge_url, *with_cert])
    assert r.returncode == 0 and json.loads(r.stdout)["health"] == "true", r
    # Without a client certificate: refused (no plaintext, no anonymous access).
    r = subprocess.run([sys.executable, "-c", probe, c.etcd_url, with_cert[0]], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and r.stdout.startswith("refused"), r


@needs_root_hosts
def test_up_twice_refuses(xcluster):
    c = xcluster
    with pytest.raises(DevClusterError, match="already up; run shoal dev down first"):
        c.up()
    again = DevCluster(c.state_dir, name=X_NAME, subnet=X_SUBNET, docker_bip_base="10.214.90.0",
                       etcd_port=c.etcd_port, start_agents=False, start_manager=False, hosts=2)
    with pytest.raises(DevClusterError, match="already up"):
        again.up()
    # refusing touched nothing
    assert c.docker(c.hosts[0]).ping()
    # a different state dir with the same cluster name collides on names
    other = DevCluster(c.state_dir.parent / "other", name=X_NAME, subnet=X_SUBNET, etcd_port=free_port_pair(),
                       start_agents=False, start_manager=False, hosts=1)
    with pytest.raises(DevClusterError, match="exists already"):
        other.up()
    assert devhosts.netns_exists("shoalx-h1")


@needs_root_hosts
def test_down_via_load_leaves_nothing(xcluster):
    """Last test on xcluster: tear down from a fresh object, with a container
    still running on h1."""
    c = xcluster
    state_dir = c.state_dir
    pids = recorded_pids(state_dir)
    assert {k for k, _, _ in pids} == {"etcd", "dockerd:shoalx-h1", "dockerd:shoalx-h2"}
    assert all(devprocs.running(pid, start) for _, pid, start in pids)
    assert devcleanup.mounts_under(state_dir)  # dockerd mounts its data root and the container rootfs

    t0 = time.monotonic()
    DevCluster.load(state_dir).down()
    took = time.monotonic() - t0
    assert_all_gone(state_dir, X_NAME + "-", pids)
    assert took < 20, f"down took {took:.1f} s"
    # twice is fine, from either object
    c.down()
    c.down()
    with pytest.raises(DevClusterError, match="no dev cluster"):
        DevCluster.load(state_dir)


# -- process lifecycle of agents and manager (with a stand-in for `python -m shoal`) --

FAKE_SHOAL = """\
import socket, sys
args = sys.argv[1:]
assert args[:2] == ["-m", "shoal"], args
role = args[2]
if role in __FAIL__:
    print(f"fake {role}: boom", flush=True)
    sys.exit(3)
host, port = args[args.index("--listen") + 1].rsplit(":", 1)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port)))
s.listen(16)
print(f"fake {role} listening on {host}:{port} args={args}", flush=True)
while True:
    conn, _ = s.accept()
    conn.close()
"""


def fake_python(directory: Path, fail: tuple[str, ...] = ()) -> str:
    path = directory / "fakepython"
    path.write_text(f"#!{sys.executable}\n" + FAKE_SHOAL.replace("__FAIL__", repr(fail)))
    path.chmod(0o755)
    return str(path)


@needs_root_hosts
def test_agent_and_manager_lifecycle(tmp_path_factory):
    state_dir = short_state_dir(tmp_path_factory, "shoaly")
    fake = fake_python(state_dir.parent)
    mport = free_port()
    c = DevCluster(
        state_dir,
        name="shoaly",
        hosts=1,
        subnet="10.213.98.0/24",
        docker_bip_base="10.214.80.0",
        etcd_port=free_port_pair(),
        manager_port=mport,
        agent_port=7071,
        host_memory=512 * 2**20,
        host_cpus=1.5,
        lease_ttl=6,
        python=fake,
        agent_token="SHOAL-1-" + "0" * 64 + "-" + "f" * 32,   # the fake manager issues none
    )
    try:
        c.up()
        (h,) = c.hosts
        assert h.agent_address == "10.213.98.11:7071"
        assert c.manager_address == f"10.213.98.1:{mport}"
        # the agent listens inside the host netns, reachable from the root ns over the bridge
        with socket.create_connection((h.ip, 7071), timeout=2):
            pass
        with socket.create_connection(("10.213.98.1", mport), timeout=2):
            pass
        log = c.agent_log(h).read_text()
        for expected in ("--etcd', 'https://10.213.98.1:", "--name', 'shoaly-h1'", "--memory', '536870912'",
                         "--cpus', '1.5'", "--lease-ttl', '6'", "--manager', '10.213.98.1:", f"--docker', 'unix://{h.docker_socket}'"):
            assert expected in log, (expected, log)
        assert "--strategy', 'spread'" in c.manager_log().read_text()

        before = {k: (p, s) for k, p, s in recorded_pids(state_dir)}
        c.kill_agent(h)
        pid, start = before["agent:shoaly-h1"]
        assert not devprocs.running(pid, start)
        poll(lambda: not _accepts(h.ip, 7071), 5, interval=0.1, what="agent port closed")
        # the record says dead, seen from a fresh object too
        assert DevCluster.load(state_dir).status()["procs"]["agent:shoaly-h1"]["running"] is False
        with pytest.raises(DevClusterError, match="no agent"):
            DevCluster(state_dir, name="shoaly", hosts=2, subnet="10.213.98.0/24").kill_agent("shoaly-h2")

        DevCluster.load(state_dir).start_agent(h)  # from another object, as a test helper might
        assert _accepts(h.ip, 7071)
        after = {k: (p, s) for k, p, s in recorded_pids(state_dir)}
        assert after["agent:shoaly-h1"] != before["agent:shoaly-h1"]
        with pytest.raises(DevClusterError, match="running already"):
            c.start_agent(h)

        # a dockerd that dies hard leaves containerd-shim, the container and
        # its mounts behind: down() must still clean all of it up
        client = c.docker(h)
        try:
            ctr = client.containers.run(devimage.IMAGE, ["sleep", "1000"], detach=True)
            ctr.reload()
            cpid = ctr.attrs["State"]["Pid"]
        finally:
            client.close()
        cstart = devprocs.proc_stat(cpid)[1]
        pids = recorded_pids(state_dir)
        dockerd = [(p, s) for k, p, s in pids if k == "dockerd:shoaly-h1"][0]
        assert devprocs.send_signal(*dockerd, signal.SIGKILL)
        poll(lambda: not devprocs.running(*dockerd), 10, interval=0.1, what="dockerd killed")
        assert devprocs.running(cpid, cstart)  # the container outlives its dockerd

        c.down()
        assert_all_gone(state_dir, "shoaly-", pids)
        assert not devprocs.running(cpid, cstart)
        # containerd 1.6 names a shim's socket by sha256("<address>/<ns>/<id>")
        shim_socket = "/run/containerd/s/" + hashlib.sha256(
            f"{h.dir}/exec/containerd/containerd.sock/moby/{ctr.id}".encode()
        ).hexdigest()
        assert not os.path.exists(shim_socket)
    finally:
        c.down()


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@needs_root_hosts
def test_failed_up_tears_down_and_names_the_log(tmp_path_factory):
    state_dir = short_state_dir(tmp_path_factory, "shoalw")
    fake = fake_python(state_dir.parent, fail=("agent",))
    c = DevCluster(
        state_dir,
        name="shoalw",
        hosts=1,
        subnet="10.213.96.0/24",
        docker_bip_base="10.214.60.0",
        etcd_port=free_port_pair(),
        manager_port=free_port(),
        python=fake,
        agent_token="SHOAL-1-" + "0" * 64 + "-" + "f" * 32,
    )
    try:
        with pytest.raises(DevClusterError) as ei:
            c.up()
        msg = str(ei.value)
        assert "agent on shoalw-h1" in msg and str(c.agent_log(c.hosts[0])) in msg, msg
        assert "\n" not in msg
        assert "boom" in c.agent_log(c.hosts[0]).read_text()
        assert devhosts.netns_with_prefix("shoalw-") == []
        assert devhosts.links_with_prefix("shoalw-") == []
        assert devcleanup.mounts_under(state_dir) == []
        assert not (state_dir / "cluster.json").exists()
        assert sorted(p.name for p in state_dir.iterdir()) == ["logs"]
    finally:
        c.down()
