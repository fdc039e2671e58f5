"""Benchmark 2, end-to-end deploy: a real etcd (TLS, auth) and a real manager (a dev cluster with
no hosts), --agents simulated agents in --processes processes (bench/simulated_agents.py: the real
agent, real gRPC with mutual TLS, an in-memory engine), and one service of --replicas replicas.
Measured: the time from CreateService until the manager reports every replica running; per task,
the time until it was placed (its record's created_at) and until its agent started it; the
manager's resident memory per task (from after a warm-up service of one task per node, which opens
the manager's channel to every agent: that part is per node, reported apart).

Baseline in the same run: etcd's own floor for the writes a deploy cannot avoid -- each task's
record written twice (placed, then started), in transactions of 100, from one client, into the
same etcd, right before each deploy. The ratio says how much the manager adds on top of storing
its decisions; --repeats deploys (a new service each time) and the median is reported.

    python -m bench.deploy                                  # 200 agents, 10,000 replicas
    python -m bench.deploy --agents 4 --processes 1 --replicas 40    # smoke
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import grpc

from bench import report
from bench.harness import new_cluster, poll, remove_cluster, rss, stop

ROOT = Path(__file__).resolve().parent.parent
SUBNET = "10.213.92.0/24"   # the bench's own bridge; agents listen on loopback
IMAGE = "shoal/busybox:latest"
TARGET_SECONDS = 5.0
TARGET_BYTES_PER_TASK = 2048
RECORD_BYTES = 270   # a task's record as the manager writes it (binary), for the etcd floor


def _free_range(count: int) -> int:
    """A first port p with p .. p+count-1 all free on loopback (the simulated agents' listeners)."""
    for base in range(21000, 60000, 1000):
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise SystemExit(f"no {count} consecutive free ports on 127.0.0.1")


def _stamp_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _restarted_manager_rss(cluster, stub, service: str | None, running: int, timeout: float) -> int:
    """Restarts the manager, waits until it serves (and reports `running` tasks of `service`) and
    its memory has settled, and returns its RSS."""
    from shoal.protos.shoal.v1 import manager_pb2
    cluster.kill_manager()
    cluster.start_manager_process()
    pid = cluster._proc("manager")["pid"]

    def serving() -> bool:
        try:
            if not stub.Status(manager_pb2.StatusRequest(), timeout=5).leader:
                return False        # the killed one's leader lease has to end first
            if service is None:
                return bool(stub.ListNodes(manager_pb2.ListNodesRequest(), timeout=5).nodes)
            return stub.InspectService(manager_pb2.ServiceRef(ref=service), timeout=5).running >= running
        except grpc.RpcError:
            return False
    poll(serving, timeout, "the restarted manager serving")
    readings = [rss(pid)]

    def settled() -> bool:
        readings.append(rss(pid))
        return abs(readings[-1] - readings[-2]) <= readings[-2] * 0.005
    poll(settled, 60, "the restarted manager's memory to settle", interval=2.0)
    return readings[-1]


async def _etcd_floor(cluster, tasks: int, value_bytes: int) -> float:
    """Seconds to write `tasks` records of value_bytes twice, in transactions of 100, from one client."""
    from shoal.pki import files
    from shoal.etcd.client import EtcdClient, Op, TlsConfig

    m = files.load(cluster.manager_dir, "manager")
    value = "x" * value_bytes
    async with EtcdClient([cluster.etcd_url], tls=TlsConfig(m.ca, m.cert, m.key)) as etcd:
        started = time.perf_counter()
        for _round in range(2):
            for start in range(0, tasks, 100):
                await etcd.txn([], [Op.put(f"/bench-floor/{i:06d}", value) for i in range(start, min(tasks, start + 100))])
        seconds = time.perf_counter() - started
        await etcd.txn([], [Op.delete("/bench-floor/", prefix=True)])
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.deploy", description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--processes", type=int, default=4, help="processes the agents are spread over")
    ap.add_argument("--replicas", type=int, default=10_000)
    ap.add_argument("--timeout", type=float, default=300.0, help="give up waiting for the deploy after this")
    ap.add_argument("--repeats", type=int, default=3, help="deploys (each a new service, the previous one removed); "
                    "the median one is reported")
    ap.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    ap.add_argument("--keep", action="store_true", help="keep the state dir (logs) afterwards")
    ap.add_argument("--profile", type=Path, metavar="FILE",
                    help="record the manager with py-spy during the deploy (collapsed stacks into FILE)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench.deploy needs root (the dev cluster's bridge)")

    from shoal.protos.shoal.v1 import manager_pb2, types_pb2
    from shoal.client import connect

    cluster, state = new_cluster("shoalb", hosts=0, subnet=SUBNET, lease_ttl=10)
    agents: list[subprocess.Popen] = []
    channel = None
    try:
        print("dev cluster (etcd + manager, no hosts) ...", flush=True)
        cluster.up()
        token = cluster.join_token("agent")
        base_port = _free_range(args.agents)
        per = -(-args.agents // args.processes)
        started = time.monotonic()
        for p in range(args.processes):
            first, count = p * per, min(per, args.agents - p * per)
            if count <= 0:
                break
            agents.append(subprocess.Popen(
                [sys.executable, "-m", "bench.simulated_agents", "--count", str(count), "--first", str(first),
                 "--manager", cluster.manager_address, "--etcd", cluster.etcd_bridge_url,
                 "--state-dir", str(state / "agents"), "--base-port", str(base_port)],
                cwd=ROOT, env={**os.environ, "SHOAL_JOIN_TOKEN": token}, stdout=subprocess.PIPE,
                stderr=open(state / f"agents-{p}.log", "w"), text=True))
        for proc in agents:
            line = proc.stdout.readline()
            if not line.startswith("ready"):
                raise SystemExit(f"simulated agents did not start (see {state}/agents-*.log)")
        channel, stub = connect(cluster.manager_address, cluster.admin_credentials())
        poll(lambda: sum(n.state == "ready" for n in stub.ListNodes(manager_pb2.ListNodesRequest(), timeout=30).nodes)
              >= args.agents, 120, f"{args.agents} nodes ready")
        join_seconds = time.monotonic() - started
        print(f"{args.agents} agents joined and ready in {join_seconds:.1f} s", flush=True)

        # What a manager holds per task is measured on a restarted one (below): its baseline is a
        # manager restarted with the nodes and no task.
        rss_fresh = _restarted_manager_rss(cluster, stub, None, 0, args.timeout)
        manager_pid = cluster._proc("manager")["pid"]
        rss_joined = rss(manager_pid)
        # A first service of one task per node opens the manager's channel to every agent: that
        # memory grows with nodes, not tasks, so the per-task figure starts after it.
        warm = types_pb2.ServiceSpec(name="warmup", replicas=args.agents,
                                     task=types_pb2.ContainerSpec(image=IMAGE, command=["sleep", "3600"]))
        stub.CreateService(manager_pb2.CreateServiceRequest(spec=warm), timeout=60)
        poll(lambda: stub.InspectService(manager_pb2.ServiceRef(ref="warmup"), timeout=30).running >= args.agents,
             args.timeout, "the warm-up service running", interval=0.25)
        stub.RemoveService(manager_pb2.ServiceRef(ref="warmup"), timeout=60)
        poll(lambda: not asyncio.run(_task_records(cluster)), args.timeout, "the warm-up tasks to be gone", interval=0.5)
        rss_before = rss(manager_pid)
        rss_each = []
        runs = []
        for r in range(args.repeats):
            name = f"bench{r}"
            spec = types_pb2.ServiceSpec(name=name, replicas=args.replicas,
                                         task=types_pb2.ContainerSpec(image=IMAGE, command=["sleep", "3600"]))
            spy = None
            if args.profile and r == 0:
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(manager_pid),
                                        "--format", "raw", "--rate", "200", "--output", str(args.profile)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)   # py-spy attaches before the clock starts (not a wait for a condition)
            # The baseline, right before each deploy: etcd as it is now (it slows as its history grows).
            floor = asyncio.run(_etcd_floor(cluster, args.replicas, RECORD_BYTES))
            t0 = time.time()
            clock0 = time.monotonic()
            stub.CreateService(manager_pb2.CreateServiceRequest(spec=spec), timeout=60)
            poll(lambda name=name: stub.InspectService(manager_pb2.ServiceRef(ref=name), timeout=30).running
                 >= args.replicas,
                  args.timeout, f"{args.replicas} replicas running", interval=0.25)
            seconds = time.monotonic() - clock0
            rss_each.append(rss(manager_pid))
            if r == 0:
                rss_after = rss_each[0]   # the first deploy: later ones reuse what it freed
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            tasks = asyncio.run(_task_records(cluster))
            runs.append({
                "seconds": seconds, "floor": floor,
                "placed": [_stamp_seconds(t["createdAt"]) - t0 for t, _ in tasks],
                "running": [_stamp_seconds(t["status"]["startedAt"]) - t0 for t, _ in tasks
                            if t.get("status", {}).get("startedAt")],
                "bytes": [size for _, size in tasks],
            })
            print(f"deploy {r + 1}: {args.replicas} running after {seconds:.2f} s (etcd floor {floor:.2f} s)", flush=True)
            stub.RemoveService(manager_pb2.ServiceRef(ref=name), timeout=60)
            poll(lambda: not asyncio.run(_task_records(cluster)), args.timeout, "the service's tasks to be gone",
                  interval=0.5)
        # Held: a manager restarted with --replicas tasks running reads them from etcd; no deploy's
        # leftovers in its heap (the figure above has them).
        held = types_pb2.ServiceSpec(name="held", replicas=args.replicas,
                                     task=types_pb2.ContainerSpec(image=IMAGE, command=["sleep", "3600"]))
        stub.CreateService(manager_pb2.CreateServiceRequest(spec=held), timeout=60)
        poll(lambda: stub.InspectService(manager_pb2.ServiceRef(ref="held"), timeout=30).running >= args.replicas,
             args.timeout, "the held service running", interval=0.25)
        rss_held = _restarted_manager_rss(cluster, stub, "held", args.replicas, args.timeout)
        middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]   # the median run
        deploy_seconds, floor = middle["seconds"], middle["floor"]
        placed, running = middle["placed"], middle["running"]
        value_bytes = int(sum(middle["bytes"]) / max(1, len(middle["bytes"])))
        ratios = sorted(run["seconds"] / run["floor"] for run in runs if run["floor"])
        result = {
            "agents": args.agents, "processes": len(agents), "replicas": args.replicas,
            "deploy_seconds": round(deploy_seconds, 2), "target_seconds": TARGET_SECONDS,
            "deploy_runs_seconds": [round(run["seconds"], 2) for run in runs],
            "meets_time_target": deploy_seconds <= TARGET_SECONDS,
            "placed_p50_s": round(report.percentile(placed, 50), 3), "placed_p99_s": round(report.percentile(placed, 99), 3),
            "running_p50_s": round(report.percentile(running, 50), 3),
            "running_p99_s": round(report.percentile(running, 99), 3),
            "manager_rss_joined_mib": round(rss_joined / 2**20, 1),
            "manager_bytes_per_node": round((rss_before - rss_joined) / args.agents),
            "manager_rss_before_mib": round(rss_before / 2**20, 1), "manager_rss_after_mib": round(rss_after / 2**20, 1),
            "manager_rss_after_each_deploy_mib": [round(x / 2**20, 1) for x in rss_each],
            "manager_bytes_per_task": round((rss_after - rss_before) / args.replicas),
            "target_bytes_per_task": TARGET_BYTES_PER_TASK,
            "meets_memory_target": (rss_after - rss_before) / args.replicas <= TARGET_BYTES_PER_TASK,
            "manager_rss_fresh_mib": round(rss_fresh / 2**20, 1), "manager_rss_held_mib": round(rss_held / 2**20, 1),
            "manager_held_bytes_per_task": round((rss_held - rss_fresh) / args.replicas),
            "meets_held_memory_target": (rss_held - rss_fresh) / args.replicas <= TARGET_BYTES_PER_TASK,
            "task_record_bytes": value_bytes,
            "etcd_floor_seconds": round(floor, 2), "ratio_to_etcd_floor": round(deploy_seconds / floor, 1) if floor else None,
            "ratios_to_etcd_floor": [round(x, 1) for x in ratios],
            "median_ratio_to_etcd_floor": round(ratios[len(ratios) // 2], 1) if ratios else None,
            "agents_join_seconds": round(join_seconds, 1),
        }
        print(report.table(
            ["replicas", "agents", "all running", "placed p50/p99", "running p50/p99", "etcd floor", "ratio",
             "manager B/task", "held B/task", "B/node"],
            [[result["replicas"], result["agents"], f"{deploy_seconds:.2f} s",
              f"{result['placed_p50_s']:.2f}/{result['placed_p99_s']:.2f} s",
              f"{result['running_p50_s']:.2f}/{result['running_p99_s']:.2f} s", f"{floor:.2f} s",
              f"{result['ratio_to_etcd_floor']}x", result["manager_bytes_per_task"], result["manager_held_bytes_per_task"],
              result["manager_bytes_per_node"]]]))
        report.publish("deploy", args, [result])
        return 0
    finally:
        if channel is not None:
            channel.close()
        stop(agents, 30)
        remove_cluster(cluster, state, keep=args.keep)


async def _task_records(cluster) -> list[dict]:
    from google.protobuf import json_format

    from shoal.pki import files
    from shoal.protos import etcd_keys, records
    from shoal.etcd.client import EtcdClient, TlsConfig
    from shoal.protos.shoal.v1 import types_pb2

    m = files.load(cluster.manager_dir, "manager")
    async with EtcdClient([cluster.etcd_url], tls=TlsConfig(m.ca, m.cert, m.key)) as etcd:
        kvs, _ = await etcd.get_prefix(etcd_keys.CONTAINERS)
    return [(json_format.MessageToDict(records.decode(types_pb2.Container, kv.value)), len(kv.value)) for kv in kvs]


if __name__ == "__main__":
    sys.exit(main())
