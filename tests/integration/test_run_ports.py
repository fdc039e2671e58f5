"""`docker run`'s ports, files and pull options on real engines: -p with a host IP and ranges,
-P with --expose, --env-file/--label-file, --health-* on run, --pull never."""
from __future__ import annotations

import urllib.request

import pytest

from tests.integration.conftest import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"
SERVE = "mkdir -p /www && echo hello-$PORT > /www/index.html && exec httpd -f -p $PORT -h /www"


def engine_container(cluster, shoal, name: str):
    c = next(c for c in shoal.json("ps", "-a") if c["name"] == name)
    host = next(h for h in cluster.hosts if h.name == c["node"])
    return next(e for e in cluster.docker(host).containers.list(all=True) if e.labels.get("io.shoal.name") == name)


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.read().decode()
    except OSError:
        return ""


def test_a_host_ip_and_a_range_are_bound_as_docker_binds_them(shoal, cluster):
    host = cluster.hosts[0]
    shoal("run", "-d", "--name", "ipweb", "--constraint", f"node.name=={host.name}", "-e", "PORT=80",
          "-p", f"{host.ip}:18080:80", IMAGE, "sh", "-c", SERVE)
    engine = poll(lambda: engine_container(cluster, shoal, "ipweb"), 30, what="the container on its engine")
    assert engine.attrs["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": host.ip, "HostPort": "18080"}]}
    # Traffic to the test host's own address reaches the container; ps shows the address.
    assert poll(lambda: fetch(f"http://{host.ip}:18080/"), 30, what="the published port to answer") == "hello-80\n"
    row = next(c for c in shoal.json("ps") if c["name"] == "ipweb")
    assert row["ports"] == [f"{host.ip}:18080->80/tcp"]

    shoal("run", "-d", "--name", "rangeweb", "-p", "18100-18101:8100-8101", IMAGE, "sleep", "300")
    engine = poll(lambda: engine_container(cluster, shoal, "rangeweb"), 30, what="the container on its engine")
    bindings = {k: [b["HostPort"] for b in v] for k, v in engine.attrs["HostConfig"]["PortBindings"].items()}
    assert bindings == {"8100/tcp": ["18100"], "8101/tcp": ["18101"]}


def test_unequal_ranges_are_refused_with_the_reason(shoal):
    r = shoal("run", "-d", "-p", "18200-18202:80-81", IMAGE, "true", check=False)
    assert r.returncode == 2
    assert "the host ports (3) and the container ports (2) must be ranges of the same length" in r.stderr, r.stderr
    assert shoal.json("ps", "-a") == []


def test_publish_all_publishes_exposed_ports_and_expose_alone_publishes_nothing(shoal, cluster):
    shoal("run", "-d", "--name", "exposed", "--expose", "7000-7001", IMAGE, "sleep", "300")
    shoal("run", "-d", "--name", "all", "-P", "--expose", "7000", IMAGE, "sleep", "300")
    exposed = poll(lambda: engine_container(cluster, shoal, "exposed"), 30, what="the container on its engine")
    assert set(exposed.attrs["Config"]["ExposedPorts"]) == {"7000/tcp", "7001/tcp"}
    assert not exposed.attrs["HostConfig"]["PortBindings"]
    assert all(not v for v in (exposed.attrs["NetworkSettings"]["Ports"] or {}).values())
    published = poll(lambda: engine_container(cluster, shoal, "all"), 30, what="the container on its engine")
    assert published.attrs["HostConfig"]["PublishAllPorts"] is True
    bound = published.attrs["NetworkSettings"]["Ports"]["7000/tcp"]
    assert bound and int(bound[0]["HostPort"]) > 0, bound


def test_env_file_and_label_file_reach_the_container_and_e_wins(shoal, cluster, tmp_path):
    env = tmp_path / "app.env"
    env.write_text("# settings\nMODE=file\nGREETING=hello world\n\n")
    labels = tmp_path / "labels"
    labels.write_text("team=web\n")
    r = shoal("run", "--name", "envprobe", "--env-file", str(env), "-e", "MODE=flag", "--label-file", str(labels),
              IMAGE, "sh", "-c", 'echo "$MODE|$GREETING"', check=False, timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "flag|hello world"
    assert engine_container(cluster, shoal, "envprobe").labels["team"] == "web"


def test_health_cmd_on_run_and_no_healthcheck(shoal, cluster):
    shoal("run", "-d", "--name", "checked", "--health-cmd", "true", "--health-interval", "1s", IMAGE, "sleep", "300")
    engine = poll(lambda: engine_container(cluster, shoal, "checked"), 30, what="the container on its engine")
    assert engine.attrs["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    poll(lambda: engine.reload() or engine.attrs["State"]["Health"]["Status"] == "healthy", 30, what="healthy")
    shoal("run", "-d", "--name", "unchecked", "--no-healthcheck", IMAGE, "sleep", "300")
    engine = poll(lambda: engine_container(cluster, shoal, "unchecked"), 30, what="the container on its engine")
    assert engine.attrs["Config"]["Healthcheck"]["Test"] == ["NONE"]


def test_pull_never_refuses_an_image_the_node_lacks_naming_the_node(shoal):
    r = shoal("run", "-d", "--pull", "never", "shoal/not-here:1", "true", check=False)
    assert r.returncode != 0
    line = r.stderr.strip()
    assert line.startswith("shoal: node ") and "image shoal/not-here:1 is not on this node (--pull never)" in line, line
    assert shoal.json("ps", "-a") == []
