"""Stacks: a Compose file deploys several services; a bad file deploys nothing."""
from __future__ import annotations

import pytest

from tests.polling import poll

pytestmark = pytest.mark.integration

GOOD = """
version: "3.8"
services:
  web:
    image: shoal/busybox:latest
    command: ["sleep", "600"]
    environment:
      MODE: web
    deploy:
      replicas: 3
      resources:
        limits: {memory: 32M}
      update_config: {parallelism: 2, delay: 0s}
  api:
    image: shoal/busybox:latest
    command: sleep 600
    deploy:
      replicas: 2
      placement:
        constraints: ["node.labels.tier==api"]
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 2}
  agent:
    image: shoal/busybox:latest
    command: sleep 600
    volumes: ["/tmp/shoal-test-stack-data:/data"]
    deploy:
      mode: global
networks:
  default: {}
"""


def deploy(shoal, tmp_path, text, name="shop", check=True):
    f = tmp_path / "stack.yml"
    f.write_text(text)
    return shoal("stack", "deploy", "-c", str(f), name, check=check)


def test_deploy_three_services_redeploy_and_rm(shoal, cluster, tmp_path):
    shoal("node", "update", "--label-add", "tier=api", cluster.hosts[1].name)
    r = deploy(shoal, tmp_path, GOOD)
    assert r.stdout.split("\n")[:3] == ["created shop_agent", "created shop_api", "created shop_web"]
    assert "warning: unsupported keys ignored: networks" in r.stderr and "volumes" not in r.stderr
    assert shoal.json("stack", "ls") == [{"name": "shop", "services": 3}]

    def all_running():
        rows = {s["name"]: s["replicas"] for s in shoal.json("service", "ls")}
        return rows if rows == {"shop_web": "3/3", "shop_api": "2/2", "shop_agent": "3/3"} else None

    poll(all_running, 60, what="the stack's services to run")
    api_nodes = {t["node"] for t in shoal.json("stack", "ps", "shop") if t["name"].startswith("shop_api.")}
    assert api_nodes == {cluster.hosts[1].name}
    ids = {t["id"] for t in shoal.json("stack", "ps", "shop")}
    # Unchanged file: nothing changes.
    r = deploy(shoal, tmp_path, GOOD)
    assert sorted(r.stdout.split()) == sorted("unchanged shop_agent unchanged shop_api unchanged shop_web".split())
    assert {t["id"] for t in shoal.json("stack", "ps", "shop")} == ids
    # Changed replicas of one service: only that one changes.
    r = deploy(shoal, tmp_path, GOOD.replace("replicas: 3", "replicas: 4"))
    assert "updated shop_web" in r.stdout and "unchanged shop_api" in r.stdout
    poll(lambda: {s["name"]: s["replicas"] for s in shoal.json("service", "ls")}.get("shop_web") == "4/4", 30,
         what="shop_web scaled to 4")
    api_ids = {t["id"] for t in shoal.json("stack", "ps", "shop") if t["name"].startswith("shop_api.")}
    assert api_ids <= ids
    assert shoal("stack", "rm", "shop").stdout.split("\n")[:3] == ["removed shop_agent", "removed shop_api",
                                                                     "removed shop_web"]
    poll(lambda: not shoal.json("ps", "-a"), 30, what="the stack's tasks to be gone")


@pytest.mark.parametrize("bad,message", [
    (GOOD.replace("image: shoal/busybox:latest\n    command: sleep 600\n    volumes",
                  "image: [shoal/busybox]\n    command: sleep 600\n    volumes"),
     "services.agent.image: must be a string"),
    (GOOD.replace("replicas: 2", "replicas: -2"), "services.api.deploy.replicas: must be an integer >= 0"),
    (GOOD.replace('"node.labels.tier==api"', '"node.planet==mars"'), "services.api.deploy.placement.constraints: "),
])
def test_a_bad_file_names_the_path_and_deploys_nothing(shoal, tmp_path, bad, message):
    r = deploy(shoal, tmp_path, bad, check=False)
    assert r.returncode == 2, r   # bad input, whether the CLI's parser or the manager's validation finds it
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("shoal: ") and message in lines[-1], r.stderr
    assert shoal.json("service", "ls") == [] and shoal.json("stack", "ls") == []
