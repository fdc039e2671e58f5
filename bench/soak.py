"""Benchmark 6, scale soak: a real etcd and a real manager (a dev cluster with no hosts) and
--nodes simulated nodes registered in etcd under leases, their records as agents write them.
Measured: the manager's CPU and memory at rest with the nodes (against the same manager at rest
with none, in the same run), and the time until it notices --die of them gone at once.

The nodes share leases, --per-lease to a lease, so that one process can keep 10,000 nodes alive;
the manager sees exactly what it would see from agents (a node record per node, deleted when its
lease ends). "Dying at once" is the revocation of their leases: etcd deletes the records at that
instant, so the time measured is the manager's own, not the TTL (which a real host adds on top).

    python -m bench.soak [--nodes 10000] [--die 1000] [--rest 30]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import report
from bench.harness import new_cluster, remove_cluster, rss

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS   # utime + stime


def _at_rest(pid: int, seconds: float) -> tuple[float, int]:
    """(CPU share of one core, RSS) over `seconds` of wall time."""
    cpu0, wall0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)   # the measurement window itself, not a wait for a condition
    return (_cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0), rss(pid)


async def _register(cluster, nodes: int, per_lease: int, ttl: int):
    """Registers the nodes; returns the client, the leases (with their node ids) and the keeper task."""
    from google.protobuf import json_format

    from shoal.pki import files
    from shoal.protos import etcd_keys
    from shoal.etcd.client import EtcdClient, Op, TlsConfig
    from shoal.protos.shoal.v1 import types_pb2

    m = files.load(cluster.manager_dir, "manager")
    etcd = EtcdClient([cluster.etcd_url], tls=TlsConfig(m.ca, m.cert, m.key))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    leases: list[tuple[int, list[str]]] = []
    for first in range(0, nodes, per_lease):
        lease = await etcd.lease_grant(ttl)
        ids = [f"soak{i:016d}" for i in range(first, min(nodes, first + per_lease))]
        ops = []
        for i, node_id in enumerate(ids, start=first):
            # An address of its own: the manager binds a node only to an address no other node holds.
            node = types_pb2.Node(id=node_id, name=f"soak-{i:05d}", address=f"127.0.0.1:{1024 + i}",
                                  registered_at=now, description=types_pb2.NodeDescription(
                                      hostname=f"soak-{i:05d}", os="simulated", nano_cpus=8_000_000_000,
                                      memory_bytes=32 << 30, engine_version="none", agent_version="bench"))
            ops.append(Op.put(etcd_keys.node_info(node_id), json_format.MessageToJson(node, indent=None), lease))
        for start in range(0, len(ops), 100):
            await etcd.txn([], ops[start:start + 100])
        leases.append((lease, ids))

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(ttl / 3)   # the keep-alive cadence, as an agent's
            for lease, _ in list(leases):
                await etcd.lease_keepalive_once(lease)
    return etcd, leases, asyncio.create_task(keep_alive())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--die", type=int, default=1_000)
    ap.add_argument("--per-lease", type=int, default=100)
    ap.add_argument("--ttl", type=int, default=30)
    ap.add_argument("--rest", type=float, default=30.0, help="seconds of each at-rest measurement")
    ap.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    args = ap.parse_args(argv)
    if args.die % args.per_lease or args.die > args.nodes:
        raise SystemExit("--die: a multiple of --per-lease, at most --nodes")
    if os.geteuid() != 0:
        raise SystemExit("bench.soak needs root (the dev cluster's bridge)")

    from shoal.protos.shoal.v1 import manager_pb2
    from shoal.client import connect

    cluster, state = new_cluster("shoals", hosts=0, subnet="10.213.95.0/24")
    channel = None
    try:
        print("dev cluster (etcd + manager, no hosts) ...", flush=True)
        cluster.up()
        cluster.join_token("agent")   # the manager leads and answers
        channel, stub = connect(cluster.manager_address, cluster.admin_credentials())
        pid = cluster._proc("manager")["pid"]
        idle_cpu, idle_rss = _at_rest(pid, args.rest)
        print(f"manager at rest with no nodes: {idle_cpu:.1%} of a core, {idle_rss / 2**20:.1f} MiB", flush=True)

        def ready() -> int:
            return sum(n.state == "ready" for n in stub.ListNodes(manager_pb2.ListNodesRequest(), timeout=60).nodes)

        async def scenario() -> dict:
            started = time.monotonic()
            etcd, leases, keeper = await _register(cluster, args.nodes, args.per_lease, args.ttl)
            registered = time.monotonic() - started
            try:
                deadline = time.monotonic() + 120
                while (seen := await asyncio.to_thread(ready)) < args.nodes:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the manager lists {seen} of {args.nodes} nodes after 120 s")
                    await asyncio.sleep(0.2)   # poll interval
                listed = time.monotonic() - started
                busy_cpu, busy_rss = await asyncio.to_thread(_at_rest, pid, args.rest)
                dying = leases[:args.die // args.per_lease]
                killed = time.monotonic()
                await asyncio.gather(*(etcd.lease_revoke(lease) for lease, _ in dying))
                while await asyncio.to_thread(ready) > args.nodes - args.die:
                    if time.monotonic() - killed > 120:
                        raise SystemExit("the manager did not notice the dead nodes within 120 s")
                    await asyncio.sleep(0.02)   # poll interval
                noticed = time.monotonic() - killed
            finally:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
                await etcd.close()
            return {"registered_s": registered, "listed_s": listed, "cpu": busy_cpu, "rss": busy_rss,
                    "noticed_s": noticed}

        got = asyncio.run(scenario())
        result = {
            "nodes": args.nodes, "die": args.die, "per_lease": args.per_lease, "ttl_s": args.ttl,
            "rest_window_s": args.rest,
            "registered_s": round(got["registered_s"], 1), "all_listed_s": round(got["listed_s"], 1),
            "idle_cpu_share": round(idle_cpu, 4), "idle_rss_mib": round(idle_rss / 2**20, 1),
            "rest_cpu_share": round(got["cpu"], 4), "rest_rss_mib": round(got["rss"] / 2**20, 1),
            "rss_bytes_per_node": round((got["rss"] - idle_rss) / args.nodes),
            "noticed_die_s": round(got["noticed_s"], 2),
        }
        print(report.table(
            ["nodes", "at rest: CPU / RSS", "baseline, no nodes", "RSS per node", f"{args.die} die: listed gone after"],
            [[args.nodes, f"{result['rest_cpu_share']:.1%} / {result['rest_rss_mib']} MiB",
              f"{result['idle_cpu_share']:.1%} / {result['idle_rss_mib']} MiB", f"{result['rss_bytes_per_node']} B",
              f"{result['noticed_die_s']:.2f} s (+ the TTL on real hosts)"]]))
        report.publish("soak", args, [result])
        return 0
    finally:
        if channel is not None:
            channel.close()
        remove_cluster(cluster, state)


if __name__ == "__main__":
    sys.exit(main())
