"""Benchmark 4, failover: a dev cluster of 3 real hosts (each its own network namespace, dockerd and
agent; a real etcd and manager), a 6-replica service, lease TTL 5 s. Each round kills the agent and
the dockerd of the host with the most tasks (SIGKILL: the host dies as a machine would) and
measures, from the kill, when the manager drops the node (detection) and when 6 replicas run again
elsewhere (healed); then the host is started again and rejoins before the next round.

Baseline: the lease TTL, the time etcd itself takes to notice a silent host; what Shoal adds is
the healed time minus the TTL.

    python -m bench.failover [--rounds 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench import report
from bench.harness import new_cluster, poll, remove_cluster

IMAGE = "shoal/busybox:latest"
LEASE_TTL = 5
TARGET_MEDIAN_S = 7.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench.failover needs root (dev cluster hosts: netns, dockerd)")

    from shoal.protos.shoal.v1 import manager_pb2, types_pb2
    from shoal.cli.dev import wait_for_nodes
    from shoal.client import connect

    cluster, state = new_cluster("shoalf", hosts=3, subnet="10.213.94.0/24", docker_bip_base="10.214.94.0",
                                 agent_port=7075, lease_ttl=LEASE_TTL, host_memory=256 << 20)
    channel = None
    try:
        print("dev cluster of three hosts ...", flush=True)
        cluster.up()
        wait_for_nodes(cluster.manager_address, cluster.admin_credentials(), 3)
        channel, stub = connect(cluster.manager_address, cluster.admin_credentials())
        spec = types_pb2.ServiceSpec(name="fo", replicas=6, stop_grace_ns=1_000_000_000,
                                     task=types_pb2.ContainerSpec(image=IMAGE, command=["sleep", "3600"]))
        stub.CreateService(manager_pb2.CreateServiceRequest(spec=spec), timeout=30)

        def running_nodes() -> list[str]:
            tasks = stub.ServiceTasks(manager_pb2.ServiceTasksRequest(ref="fo"), timeout=10).containers
            return [t.node_name for t in tasks if t.desired_state == "running" and t.status.state == "running"]

        def nodes() -> set[str]:
            return {n.name for n in stub.ListNodes(manager_pb2.ListNodesRequest(), timeout=10).nodes
                    if n.state == "ready"}

        poll(lambda: len(running_nodes()) == 6, 60, "6 replicas running")
        rounds = []
        for r in range(args.rounds):
            placed = running_nodes()
            victim = max(cluster.hosts, key=lambda h: placed.count(h.name))
            killed = time.monotonic()
            cluster.kill_host(victim)
            detected = None

            def healed(victim=victim, killed=killed):
                nonlocal detected
                if detected is None and victim.name not in nodes():
                    detected = time.monotonic() - killed
                on = running_nodes()
                return len(on) == 6 and victim.name not in on
            poll(healed, 60, f"round {r + 1}: 6 replicas away from {victim.name}")
            heal = time.monotonic() - killed
            rounds.append({"victim": victim.name, "tasks_lost": placed.count(victim.name),
                           "detected_s": round(detected if detected is not None else heal, 2), "healed_s": round(heal, 2)})
            print(f"round {r + 1}: {victim.name} lost {placed.count(victim.name)} task(s); node dropped after "
                  f"{rounds[-1]['detected_s']:.2f} s, 6 running again after {heal:.2f} s", flush=True)
            cluster.start_host(victim)
            poll(lambda victim=victim: victim.name in nodes(), 60, f"{victim.name} to rejoin")

        heals = [x["healed_s"] for x in rounds]
        detects = [x["detected_s"] for x in rounds]
        result = {
            "rounds": len(rounds), "lease_ttl_s": LEASE_TTL,
            "healed_median_s": round(report.median(heals), 2), "healed_max_s": max(heals),
            "detected_median_s": round(report.median(detects), 2),
            "healed_over_ttl_s": round(report.median(heals) - LEASE_TTL, 2),
            "ratio_to_ttl": round(report.median(heals) / LEASE_TTL, 2),
            "target_median_s": TARGET_MEDIAN_S, "meets_target": report.median(heals) <= TARGET_MEDIAN_S,
            "per_round": rounds,
        }
        print(report.table(
            ["rounds", "lease TTL", "node dropped (median)", "6 running again (median / max)", "over the TTL", "target"],
            [[result["rounds"], f"{LEASE_TTL} s", f"{result['detected_median_s']:.2f} s",
              f"{result['healed_median_s']:.2f} / {result['healed_max_s']:.2f} s", f"{result['healed_over_ttl_s']:.2f} s",
              "met" if result["meets_target"] else "NOT met"]]))
        report.publish("failover", args, [result])
        return 0
    finally:
        if channel is not None:
            channel.close()
        remove_cluster(cluster, state)


if __name__ == "__main__":
    sys.exit(main())
