"""Named volumes keep their data and pin their containers to the node that holds it; binds and
tmpfs mounts; `shoal volume`. Real engines on the dev cluster."""
from __future__ import annotations

import json

import pytest

from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"
FAST = ["--stop-grace-period", "1s"]


def node_of(shoal, name: str) -> str:
    return poll(lambda: next((c["node"] for c in shoal.json("ps", "-a") if c["name"] == name and c["node"]), None),
                30, what=f"{name} placed")


def volumes(shoal) -> dict:
    return {v["name"]: v for v in shoal.json("volume", "ls")}


def test_a_named_volume_keeps_its_data_and_its_containers_on_its_node(shoal, cluster):
    shoal("run", "-d", "--name", "db1", "-v", "dbdata:/data", IMAGE, "sh", "-c", "echo row1 >> /data/rows; sleep 600")
    home = node_of(shoal, "db1")
    poll(lambda: volumes(shoal).get("dbdata", {}).get("used_by") == ["db1"], 30, what="dbdata used by db1")
    v = volumes(shoal)["dbdata"]
    assert (v["node_name"], v["implicit"], v["driver"]) == (home, True, "local")
    # Crowd the volume's node, so that spread alone would put the next container elsewhere.
    for i in range(2):
        shoal("run", "-d", "--name", f"crowd{i}", "--constraint", f"node.name=={home}", IMAGE, "sleep", "600")
    shoal("rm", "-f", "db1")
    out = shoal("run", "--name", "db2", "-v", "dbdata:/data", IMAGE, "cat", "/data/rows", timeout=90).stdout
    assert out == "row1\n"
    assert node_of(shoal, "db2") == home
    # The attached run returned with db2's exit code; its record learns it from the agent's report.
    poll(lambda: next(c for c in shoal.json("ps", "-a") if c["name"] == "db2")["state"] == "exited", 30,
         what="db2's record to say it exited")
    # In use (by a stopped container) it is not removed without -f; in use by a running one, not even with -f.
    r = shoal("volume", "rm", "dbdata", check=False)
    assert r.returncode == 1 and "is named by stopped containers (db2)" in r.stderr, r.stderr
    shoal("run", "-d", "--name", "db3", "-v", "dbdata:/data", IMAGE, "sleep", "600")
    node_of(shoal, "db3")
    r = shoal("volume", "rm", "-f", "dbdata", check=False)
    assert r.returncode == 1 and "is in use by db3" in r.stderr, r.stderr
    shoal("rm", "-f", "db2", "db3")
    poll(lambda: not [c for c in shoal.json("ps", "-a") if c["name"] in ("db2", "db3")], 30, what="db2 and db3 gone")
    engine = cluster.docker(next(h for h in cluster.hosts if h.name == home))
    assert "dbdata" in [e.name for e in engine.volumes.list()]
    assert shoal("volume", "rm", "dbdata").stdout.strip() == "dbdata"
    assert "dbdata" not in volumes(shoal) and "dbdata" not in [e.name for e in engine.volumes.list()]


def test_volume_create_on_a_node_with_options_pins_the_first_container(shoal, cluster):
    target = cluster.hosts[2].name
    for i in range(2):   # the emptiest nodes are the others
        shoal("run", "-d", "--name", f"crowd{i}", "--constraint", f"node.name=={target}", IMAGE, "sleep", "600")
    assert shoal("volume", "create", "--node", target, "--label", "tier=db", "--opt", "type=tmpfs",
                 "--opt", "device=tmpfs", "--opt", "o=size=4m", "scratch").stdout.strip() == "scratch"
    doc = json.loads(shoal("volume", "inspect", "scratch").stdout)
    assert (doc["node_name"], doc["labels"], doc["implicit"]) == (target, {"tier": "db"}, False)
    out = shoal("run", "--name", "user", "-v", "scratch:/s", IMAGE, "sh", "-c", "df -k /s | tail -1", timeout=90).stdout
    assert out.split()[1] == "4096", out       # the driver's options reached the engine
    assert node_of(shoal, "user") == target
    engine_volume = cluster.docker(cluster.hosts[2]).volumes.get("scratch")
    assert engine_volume.attrs["Labels"] == {"tier": "db"}
    for args, code, message in [
        (["volume", "create", "scratch"], 1, 'NAME: volume "scratch" already exists'),
        (["volume", "create", "--opt", "size=1g", "other"], 2, '--opt: "size" is not an option of the local driver'),
        (["run", "-v", "./rel:/x", IMAGE, "true"], 2, "a bind mount's source must be an absolute path on the node"),
        (["volume", "inspect", "nosuch"], 1, 'volume "nosuch": no such volume'),
    ]:
        r = shoal(*args, check=False)
        assert r.returncode == code and message in r.stderr, (args, r.returncode, r.stderr)


def test_a_service_task_waits_for_its_volumes_node_and_each_slot_has_its_own(shoal):
    shoal("service", "create", "--name", "pg", "-v", "pgdata:/data", *FAST, IMAGE, "sh", "-c",
          "hostname >> /data/seen; sleep 3600")
    home = poll(lambda: next((t["node"] for t in shoal.json("service", "ps", "pg") if t["state"] == "running"), None),
                30, what="pg running")
    shoal("node", "update", "--availability", "drain", home)
    rows = poll(lambda: (lambda rs: rs if rs and all(r["state"] == "pending" for r in rs) else None)(
        [r for r in shoal.json("service", "ps", "pg") if r["desired_state"] == "running"]), 60,
        what="pg's task to wait for its volume's node")
    assert rows[0]["error"] == f"no node fits: volume pgdata is on node {home}, which is draining", rows
    assert not [c for c in shoal.json("ps") if c["service"] == "pg"]   # it did not move away from its data
    shoal("node", "update", "--availability", "active", home)
    back = poll(lambda: next((t for t in shoal.json("service", "ps", "pg") if t["state"] == "running"), None), 60,
                what="pg running again")
    assert back["node"] == home
    shoal("service", "rm", "pg")

    shoal("service", "create", "--name", "shard", "--replicas", "3", "-v", "sh:/data", *FAST, IMAGE, "sleep", "3600")
    tasks = poll(lambda: (lambda ts: ts if len(ts) == 3 else None)(
        [t for t in shoal.json("service", "ps", "shard") if t["state"] == "running"]), 60, what="three shards")
    vols = volumes(shoal)
    assert {"sh", "sh.2", "sh.3"} <= set(vols)
    for t in tasks:
        slot_volume = "sh" if t["slot"] == 1 else f"sh.{t['slot']}"
        assert vols[slot_volume]["node_name"] == t["node"] and vols[slot_volume]["used_by"] == [t["name"]], (t, vols)


def test_bind_and_tmpfs_mounts(shoal, tmp_path):
    (tmp_path / "greeting").write_text("hello from the node\n")
    tmp_path.chmod(0o755)
    out = shoal("run", "-v", f"{tmp_path}:/in:ro", "--mount", "type=tmpfs,target=/scratch,tmpfs-size=2m", IMAGE,
                "sh", "-c", "cat /in/greeting; touch /in/x 2>/dev/null && echo rw || echo ro; df -k /scratch | tail -1",
                timeout=90).stdout.splitlines()
    assert out[:2] == ["hello from the node", "ro"], out
    assert out[2].split()[1] == "2048", out


def test_a_stack_volume_is_named_for_its_stack_and_made_as_declared(shoal, tmp_path):
    (tmp_path / "stack.yml").write_text(
        "services:\n"
        "  db:\n"
        f"    image: {IMAGE}\n"
        "    command: sh -c 'df -k /data | tail -1; sleep 3600'\n"
        "    stop_grace_period: 1s\n"
        "    read_only: true\n"
        "    volumes: [data:/data]\n"
        "volumes:\n"
        "  data: {driver_opts: {type: tmpfs, device: tmpfs, o: size=3m}, labels: {tier: db}}\n")
    shoal("stack", "deploy", "-c", str(tmp_path / "stack.yml"), "shop")
    task = poll(lambda: next((t for t in shoal.json("service", "ps", "shop_db") if t["state"] == "running"), None), 60,
                what="shop_db running")
    vol = poll(lambda: volumes(shoal).get("shop_data"), 30, what="the stack's volume recorded")
    assert (vol["node_name"], vol["options"], vol["labels"]) == (
        task["node"], {"type": "tmpfs", "device": "tmpfs", "o": "size=3m"}, {"tier": "db"})
    logs = poll(lambda: shoal("logs", task["name"]).stdout.strip(), 30, what="the task's df line")
    assert logs.split()[1] == "3072", logs
    shoal("stack", "rm", "shop")
