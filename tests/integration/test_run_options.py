"""`docker run`'s isolation, runtime and reservation options on real engines: each checked from
inside the container (attached runs print what the container sees) or on the engine that runs it."""
from __future__ import annotations

import json

import pytest

from tests.integration.conftest import HOST_MEMORY
from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"


def inside(shoal, *args: str) -> str:
    """What an attached run prints; it must exit 0."""
    r = shoal("run", *args, check=False, timeout=90)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    return r.stdout


def engine_container(cluster, shoal, name: str):
    c = next(c for c in shoal.json("ps", "-a") if c["name"] == name)
    host = next(h for h in cluster.hosts if h.name == c["node"])
    return next(e for e in cluster.docker(host).containers.list(all=True) if e.labels.get("io.shoal.name") == name)


def test_user_read_only_tmpfs_and_capabilities_isolate_as_docker_does(shoal):
    assert inside(shoal, "--user", "nobody", IMAGE, "id", "-u").strip() == "65534"
    out = inside(shoal, "--read-only", "--tmpfs", "/tmp:size=8m", IMAGE, "sh", "-c",
                 "touch /root-file 2>/dev/null && echo root-writable || echo root-read-only; "
                 "touch /tmp/x && echo tmp-writable; grep ' /tmp ' /proc/mounts")
    lines = out.splitlines()
    assert lines[:2] == ["root-read-only", "tmp-writable"], out
    assert "tmpfs" in lines[2] and "size=8192k" in lines[2], out
    # With every capability dropped, root cannot chown; with the default set it can.
    script = "touch /tmp/f && chown 65534 /tmp/f 2>/dev/null && echo chowned || echo refused"
    assert inside(shoal, "--cap-drop", "ALL", IMAGE, "sh", "-c", script).strip() == "refused"
    assert inside(shoal, IMAGE, "sh", "-c", script).strip() == "chowned"
    assert inside(shoal, "--cap-drop", "ALL", "--cap-add", "CHOWN", IMAGE, "sh", "-c", script).strip() == "chowned"


def test_hosts_resolver_and_process_options_reach_the_container(shoal, cluster):
    hosts = inside(shoal, "--add-host", "db.internal:10.1.2.3", "--hostname", "probe-1", IMAGE,
                   "sh", "-c", "cat /etc/hosts; hostname")
    assert any(line.split()[:2] == ["10.1.2.3", "db.internal"] for line in hosts.splitlines()), hosts
    assert hosts.splitlines()[-1] == "probe-1"
    resolv = inside(shoal, "--dns-search", "example.internal", "--dns-option", "ndots:2", IMAGE, "cat", "/etc/resolv.conf")
    search = next(line for line in resolv.splitlines() if line.startswith("search"))
    # The admin's domain first, the cluster's after it: short cluster names still resolve.
    assert search.split()[1] == "example.internal" and len(search.split()) > 2, resolv
    assert "ndots:2" in resolv
    out = inside(shoal, "-w", "/tmp", "--ulimit", "nofile=512:1024", "--pids-limit", "64", "--shm-size", "16m",
                 "--sysctl", "net.ipv4.ip_unprivileged_port_start=80", IMAGE, "sh", "-c",
                 "pwd; ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1; "
                 "cat /proc/sys/net/ipv4/ip_unprivileged_port_start")
    lines = out.splitlines()
    assert lines[:3] == ["/tmp", "512", "1024"], out
    assert lines[3].split()[1] == str(16 * 1024), out
    assert lines[4] == "80", out
    shoal("run", "-d", "--name", "inited", "--init", "--stop-signal", "SIGQUIT", "--user", "nobody",
          "--security-opt", "no-new-privileges", "--pids-limit", "64", IMAGE, "sleep", "300")
    engine = poll(lambda: engine_container(cluster, shoal, "inited"), 30, what="the container on its engine")
    host_config, config = engine.attrs["HostConfig"], engine.attrs["Config"]
    assert host_config["Init"] is True and config["StopSignal"] == "SIGQUIT" and config["User"] == "nobody"
    assert host_config["SecurityOpt"] == ["no-new-privileges"]
    # The cgroup file's path differs between cgroup v1 and v2 hosts; the engine's own record does not.
    assert host_config["PidsLimit"] == 64


def test_a_reservation_below_the_limit_lets_more_fit_and_the_engine_keeps_the_limit(shoal, cluster):
    limit = 200 << 20
    assert 2 * limit > HOST_MEMORY   # by their limits, one such container per node
    for i in range(6):
        shoal("run", "-d", "--name", f"over{i}", "-m", "200m", "--reserve-memory", "32m", IMAGE, "sleep", "300")
    assert sorted(c["node"] for c in shoal.json("ps")) == sorted([h.name for h in cluster.hosts] * 2)
    engine = engine_container(cluster, shoal, "over0")
    assert engine.attrs["HostConfig"]["Memory"] == limit
    assert engine.attrs["HostConfig"]["MemoryReservation"] == 32 << 20
    # Without a reservation the limit is counted: 2 x 32 MiB + 200 MiB is more than a node offers.
    r = shoal("run", "-d", "-m", "200m", IMAGE, "sleep", "300", check=False)
    assert r.returncode == 1 and "no node fits: 3 nodes lack 200 MiB memory" in r.stderr, r.stderr
    r = shoal("run", "-d", "-m", "64m", "--reserve-memory", "128m", IMAGE, "true", check=False)
    assert r.returncode == 2 and r.stderr.strip() == "shoal: --reserve-memory: 128 MiB is more than the limit --memory 64 MiB"


def test_service_tasks_get_the_options_and_an_update_changes_them(shoal):
    shoal("service", "create", "--name", "iso", "--user", "nobody", "--read-only", "--stop-grace-period", "1s",
          IMAGE, "sleep", "3600")
    poll(lambda: [t for t in shoal.json("service", "ps", "iso") if t["state"] == "running"], 30, what="iso running")
    doc = json.loads(shoal("service", "inspect", "iso").stdout)
    assert (doc["spec"]["task"]["user"], doc["spec"]["task"]["read_only"]) == ("nobody", True)
    shoal("service", "update", "--no-read-only", "--hostname", "iso-task", "iso")
    task = json.loads(shoal("service", "inspect", "iso").stdout)["spec"]["task"]
    assert (task["user"], task.get("read_only", False), task["hostname"]) == ("nobody", False, "iso-task")
    shoal("service", "rm", "iso")


def test_restart_on_failure_stops_after_its_retries(shoal, cluster):
    shoal("run", "-d", "--name", "flaky", "--restart", "on-failure:3", IMAGE, "sh", "-c", "exit 1")

    def gave_up():
        e = engine_container(cluster, shoal, "flaky")
        return e if e.attrs["RestartCount"] == 3 and e.attrs["State"]["Status"] == "exited" else None

    engine = poll(gave_up, 60, what="three restarts, then exited")
    assert engine.attrs["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    poll(lambda: next(c for c in shoal.json("ps", "-a") if c["name"] == "flaky")["status"] == "exited (1)", 30,
         what="shoal ps to show it exited")


def test_restart_always_survives_its_agent_and_dockerd_and_stays_on_its_host(shoal, cluster):
    shoal("run", "-d", "--name", "keeper", "--restart", "always", IMAGE, "sleep", "600")
    node = poll(lambda: next((c["node"] for c in shoal.json("ps") if c["name"] == "keeper"), None), 30,
                what="keeper placed")
    shoal("run", "-d", "--name", "bystander", "--constraint", f"node.name=={node}", IMAGE, "sleep", "600")
    host = next(h for h in cluster.hosts if h.name == node)
    first = poll(lambda: engine_container(cluster, shoal, "keeper"), 30, what="keeper on its engine").attrs
    cluster.kill_host(host)
    cluster.start_host(host)

    def restarted():
        e = engine_container(cluster, shoal, "keeper")
        state = e.attrs["State"]
        return e if state["Running"] and state["StartedAt"] != first["State"]["StartedAt"] else None

    again = poll(restarted, 90, what="keeper started again by its engine")
    assert again.id == first["Id"]   # the same container, not a new one elsewhere
    rows = poll(lambda: (lambda rs: rs if rs["keeper"]["state"] == "running" and rs["bystander"]["state"] != "running"
                         else None)({c["name"]: c for c in shoal.json("ps", "-a")}), 60,
                what="keeper running again and the bystander (no policy) not")
    assert rows["keeper"]["node"] == node


def test_devices_and_the_engines_own_network_modes(shoal, cluster):
    assert inside(shoal, "--device", "/dev/null:/dev/xnull", IMAGE, "sh", "-c",
                  "test -c /dev/xnull && echo chardev").strip() == "chardev"
    r = shoal("run", "-d", "--device", "/dev/shoal-no-such-device", IMAGE, "true", check=False)
    assert r.returncode == 1 and r.stderr.startswith("shoal: node shoalt-h") and "/dev/shoal-no-such-device" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert inside(shoal, "--network", "none", IMAGE, "ls", "/sys/class/net").split() == ["lo"]
    host = cluster.hosts[0]
    seen = inside(shoal, "--network", "host", "--constraint", f"node.name=={host.name}", IMAGE, "ls", "/sys/class/net")
    # The host's network namespace, as iproute2 lists it there (its /sys is the machine's).
    links = cluster.host_exec(host, ["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    on_host = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines())
    assert sorted(seen.split()) == on_host and len(on_host) > 1


def test_ipc_and_volumes_from_share_with_a_container_on_its_node(shoal, cluster):
    import os
    shoal("run", "-d", "--name", "src", "--ipc", "shareable", "-v", "srcdata:/data", IMAGE, "sh", "-c",
          "echo shared > /data/f; sleep 600")
    home = poll(lambda: next((c["node"] for c in shoal.json("ps") if c["name"] == "src" and c["state"] == "running"),
                             None), 30, what="src running")
    src = engine_container(cluster, shoal, "src")
    src_ipc = os.readlink(f"/proc/{src.attrs['State']['Pid']}/ns/ipc")
    for i in range(2):   # the emptiest nodes are the others: only the sharing keeps it on src's
        shoal("run", "-d", "--name", f"other{i}", "--constraint", f"node.name!={home}", IMAGE, "sleep", "600")
    out = inside(shoal, "--name", "peer", "--ipc", "container:src", "--volumes-from", "src:ro", IMAGE, "sh", "-c",
                 "readlink /proc/self/ns/ipc; cat /data/f; touch /data/g 2>/dev/null && echo rw || echo ro")
    assert out.splitlines() == [src_ipc, "shared", "ro"], out
    assert next(c for c in shoal.json("ps", "-a") if c["name"] == "peer")["node"] == home
    r = shoal("run", "-d", "--ipc", "container:src", "--constraint", f"node.name!={home}", IMAGE, "true", check=False)
    assert r.returncode == 1 and r.stderr.startswith(f'shoal: --ipc: container "src" is on node {home}, where this '
                                                      f"container does not fit"), r.stderr
    r = shoal("run", "-d", "--volumes-from", "nosuch", IMAGE, "true", check=False)
    assert r.returncode == 2 and 'container "nosuch": no such container' in r.stderr


def test_stop_timeout_is_the_containers_default_grace(shoal):
    import time
    # A shell as PID 1 ignores SIGTERM: only the kill at the end of the grace stops it.
    shoal("run", "-d", "--name", "slow", "--stop-timeout", "1", IMAGE, "sh", "-c", "sleep 600")
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "slow" and c["state"] == "running"], 30, what="slow up")
    started = time.monotonic()
    shoal("stop", "slow")
    # The default grace is 10 s; --stop-timeout 1 must have replaced it (a bound with room for a slow machine).
    assert time.monotonic() - started < 8
