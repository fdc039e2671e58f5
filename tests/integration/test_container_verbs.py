"""start, restart, kill, pause, unpause, rename, top, stats, cp and port on real engines, through
the manager and the container's agent; containers are shared within each test to keep it short."""
from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"
# Traps run between two sleeps: USR1 is noted in the output, TERM ends it at once (no 10 s grace).
TRAPPER = 'trap "echo got-usr1" USR1; trap "exit 0" TERM; echo up; while true; do sleep 1; done'


def row(shoal, name: str) -> dict:
    return next(c for c in shoal.json("ps", "-a") if c["name"] == name)


def test_stop_start_restart_kill_pause_and_rename_a_plain_container(shoal):
    shoal("run", "-d", "--name", "v1", IMAGE, "sh", "-c", TRAPPER)
    poll(lambda: row(shoal, "v1")["state"] == "running", 30, what="v1 running")

    shoal("stop", "-t", "1", "v1")
    poll(lambda: row(shoal, "v1")["state"] == "exited", 30, what="v1 stopped")
    assert shoal("start", "v1").stdout.strip() == "v1"
    got = poll(lambda: (lambda c: c if c["state"] == "running" else None)(row(shoal, "v1")), 30, what="v1 started")
    assert got["desired_state"] == "running"
    assert "v1" in [c["name"] for c in shoal.json("ps")]   # live again, not history

    started = shoal("inspect", "v1").stdout
    shoal("restart", "-t", "1", "v1")
    poll(lambda: row(shoal, "v1")["state"] == "running" and shoal("inspect", "v1").stdout != started, 30,
         what="v1 restarted")

    # A trapped signal reaches the process and leaves it running (and its record live).
    shoal("kill", "-s", "USR1", "v1")
    poll(lambda: "got-usr1" in shoal("logs", "v1").stdout, 30, what="USR1 trapped")
    assert row(shoal, "v1")["state"] == "running" and row(shoal, "v1")["desired_state"] == "running"

    shoal("pause", "v1")
    # The status view keeps a paused container "running" (translate.py: its lifecycle goes on); the engine says paused.
    paused = lambda: json.loads(shoal("inspect", "v1").stdout)["engine"]["State"]["Paused"]  # noqa: E731
    poll(paused, 30, what="v1 paused")
    shoal("unpause", "v1")
    poll(lambda: not paused(), 30, what="v1 unpaused")

    shoal("rename", "v1", "v2")
    names = [c["name"] for c in shoal.json("ps", "-a")]
    assert "v2" in names and "v1" not in names
    assert shoal("logs", "v2").stdout.startswith("up")
    assert shoal("logs", "v1", check=False).returncode == 1
    # Renaming to its own name is a usage error.
    r = shoal("rename", "v2", "v2", check=False)
    assert r.returncode == 2, r.stderr

    shoal("kill", "v2")
    c = poll(lambda: (lambda c: c if c["state"] == "exited" else None)(row(shoal, "v2")), 30, what="v2 killed")
    assert c["desired_state"] == "stopped" and c["exit_code"] == 137
    assert shoal("wait", "v2").stdout.strip() == "137"


def test_top_stats_cp_and_port_show_the_container(shoal, tmp_path):
    shoal("run", "-d", "--name", "w1", "-p", "18931:80", IMAGE, "sh", "-c",
          "mkdir -p /data/sub && echo inside > /data/sub/f && exec sleep 600")
    poll(lambda: row(shoal, "w1")["state"] == "running", 30, what="w1 running")

    top = shoal("top", "w1").stdout.splitlines()
    assert "PID" in top[0] and any("sleep 600" in line for line in top[1:]), top

    stats = shoal("stats", "--no-stream", "w1").stdout.splitlines()
    assert stats[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and "NODE" in stats[0]
    assert "w1" in stats[1], stats
    [j] = shoal.json("stats", "--no-stream", "w1")
    assert j["name"] == "w1" and j["memory_bytes"] > 0 and j["pids"] >= 1 and not j["error"], j
    assert j["node"] == row(shoal, "w1")["node"]

    assert shoal("port", "w1").stdout.splitlines() == ["80/tcp -> 0.0.0.0:18931"]
    assert shoal("port", "w1", "80").stdout.strip() == "0.0.0.0:18931"
    assert shoal("port", "w1", "81", check=False).returncode == 1

    # Out of the container, a directory; then into it under a new name; then as a tar on stdout.
    poll(lambda: shoal("cp", "w1:/data", str(tmp_path / "out"), check=False).returncode == 0, 30, what="cp out")
    assert (tmp_path / "out" / "sub" / "f").read_text() == "inside\n"
    (tmp_path / "out" / "sub" / "g").write_text("from here\n")
    shoal("cp", str(tmp_path / "out"), "w1:/back")
    shoal("cp", str(tmp_path / "out" / "sub" / "g"), "w1:/data/sub/")
    r = shoal.popen("cp", "w1:/back", "-")
    raw, _ = r.communicate(timeout=60)
    assert r.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = set(tar.getnames())
        assert {"back/sub/f", "back/sub/g"} <= names, names
        assert tar.extractfile("back/sub/g").read() == b"from here\n"
    shoal("cp", "w1:/data/sub/g", str(tmp_path / "g2"))
    assert (tmp_path / "g2").read_text() == "from here\n"


def test_verbs_refuse_service_tasks_and_unknown_containers(shoal):
    shoal("service", "create", "--name", "vs", IMAGE, "sleep", "600")
    task = poll(lambda: next((t for t in shoal.json("service", "ps", "vs") if t["state"] == "running"), None), 60,
                what="vs running")
    tname = task["name"]
    for verb in (["start"], ["restart"], ["kill"], ["pause"], ["rename"]):
        args = [*verb, tname, *(["vs-other"] if verb == ["rename"] else [])]
        r = shoal(*args, check=False)
        assert r.returncode == 1 and "task of service vs" in r.stderr and len(r.stderr.splitlines()) == 1, (verb, r)
    # What swarm allows on a task: looking inside, and a signal that does not end it.
    assert "sleep 600" in shoal("top", tname).stdout
    shoal("kill", "-s", "HUP", tname)   # allowed (sleep dies of it: the orchestrator replaces the task)
    r = shoal("start", "nosuch-container", "v-other-unknown", check=False)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 2 and "nosuch-container" in r.stderr
    r = shoal("cp", "nosuch-container:/x", "-", check=False)
    assert r.returncode == 1 and "nosuch-container" in r.stderr
