"""Rolling updates: a new version that fails its health check pauses or rolls back, and the
old version keeps serving throughout (start-first)."""
from __future__ import annotations

import json

import pytest

from tests.polling import poll

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"
SERVE = "mkdir -p /www && echo {v} > /www/index.html && exec httpd -f -p 80 -h /www"


def create(shoal, name, *extra):
    shoal("service", "create", "--name", name, "--replicas", "3", "--stop-grace-period", "1s",
          "--update-parallelism", "1", "--health-cmd", "wget -q -O /dev/null http://127.0.0.1/ || true",
          "--health-interval", "1s", "--health-retries", "2", *extra, IMAGE, "sh", "-c", SERVE.format(v="v1"))
    return poll(lambda: (lambda ts: ts if len(ts) == 3 else None)(
        [t for t in shoal.json("service", "ps", name)
         if t["desired_state"] == "running" and t["current_state"] == "running (healthy)"]),
        40, what=f"{name}: 3 healthy tasks")


def serving_versions(cluster, name):
    """What the live, healthy containers of the service run (from the engines)."""
    out = []
    for host in cluster.hosts:
        for c in cluster.docker(host).containers.list():
            if c.labels.get("io.shoal.name", "").startswith(name + "."):
                health = (c.attrs["State"].get("Health") or {}).get("Status")
                out.append((" ".join(c.attrs["Config"]["Cmd"]), health))
    return out


def inspect(shoal, name):
    return json.loads(shoal("service", "inspect", name).stdout)


def test_failing_update_pauses_and_the_old_version_keeps_serving(shoal, cluster):
    before = {t["id"] for t in create(shoal, "upd")}
    shoal("service", "update", "--health-cmd", "false", "upd")
    svc = poll(lambda: (lambda s: s if s.get("update_status", {}).get("state") == "paused" else None)(
        inspect(shoal, "upd")), 60, what="the update to pause")
    assert "unhealthy" in svc["update_status"]["message"] or "not healthy" in svc["update_status"]["message"]
    live = [t for t in shoal.json("service", "ps", "upd") if t["desired_state"] == "running"]
    assert {t["id"] for t in live} == before  # every old task still there
    failed = [t for t in shoal.json("service", "ps", "upd") if t["error"].startswith("update failed")]
    assert len(failed) == 1  # parallelism 1: one new task tried, then the update paused
    # The failed task's container is stopped and removed after its grace period: poll until it has gone.
    versions = poll(lambda: (lambda v: v if len(v) == 3 else None)(serving_versions(cluster, "upd")), 30,
                    what="the failed task's container to be removed")
    assert all("v1" in cmd and health == "healthy" for cmd, health in versions), versions
    # Fix the service: a new good spec resumes the rollout to completion.
    shoal("service", "update", "--health-cmd", "true", "--args", f"sh -c '{SERVE.format(v='v2')}'", "upd")
    poll(lambda: inspect(shoal, "upd").get("update_status", {}).get("state") == "completed", 90,
         what="the fixed update to complete")
    poll(lambda: (lambda v: len(v) == 3 and all("v2" in c and h == "healthy" for c, h in v))(
        serving_versions(cluster, "upd")), 30, what="3 healthy v2 containers")


def test_failing_update_with_rollback_restores_the_previous_spec(shoal, cluster):
    create(shoal, "rbk", "--update-failure-action", "rollback")
    original = inspect(shoal, "rbk")["spec"]
    shoal("service", "update", "--health-cmd", "false", "--args", f"sh -c '{SERVE.format(v='v2')}'", "rbk")
    svc = poll(lambda: (lambda s: s if s.get("update_status", {}).get("state") == "rolled_back" else None)(
        inspect(shoal, "rbk")), 90, what="the update to roll back")
    assert svc["spec"]["task"] == original["task"]
    # The failed v2 task is being stopped (1 s grace) and removed; then only v1 is left.
    poll(lambda: (lambda v: len(v) == 3 and all("v1" in c and h == "healthy" for c, h in v))(
        serving_versions(cluster, "rbk")), 15, what="only the 3 healthy v1 containers")
    live = [t for t in shoal.json("service", "ps", "rbk") if t["desired_state"] == "running"]
    assert len(live) == 3


def test_manual_rollback(shoal, cluster):
    create(shoal, "man")
    shoal("service", "update", "--args", f"sh -c '{SERVE.format(v='v2')}'", "man")
    poll(lambda: inspect(shoal, "man").get("update_status", {}).get("state") == "completed", 90,
         what="the update to complete")
    assert all("v2" in c for c, _ in serving_versions(cluster, "man"))
    shoal("service", "rollback", "man")
    poll(lambda: inspect(shoal, "man").get("update_status", {}).get("state") == "rolled_back", 90,
         what="the rollback to finish")
    poll(lambda: (lambda v: len(v) == 3 and all("v1" in c for c, _ in v))(serving_versions(cluster, "man")), 30,
         what="3 v1 containers again")
