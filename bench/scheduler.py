"""Benchmark 1, the scheduler core: placements per second of the indexed scheduler (NodeIndex)
against the straightforward O(nodes) scan (place() once per task), in the same run, on the same
workload, one process, one core. The scan's placements must be exactly the index's.

Workload (deterministic from --seed): nodes of 8/16/32 CPUs and 32/64/128 GiB, half of them
labelled tier=gold; services of --batch replicas each (their tasks reserve 0.01-0.05 CPU and
16-64 MiB, every other service has the constraint node.labels.tier==gold), until --containers
tasks are placed. Every placement runs every filter (health, constraints, CPU, memory, ports).

    python -m bench.scheduler                       # 1,000 and 10,000 nodes, 100,000 containers
    python -m bench.scheduler --nodes 50 --containers 500 --batch 50 --baseline-seconds 0.2   # smoke
"""
from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import report
from shoal.manager.scheduler import STRATEGIES, NodeIndex, NodeSnapshot, TaskRequest, parse_constraint, place
from shoal.manager.scheduler.place import charge

CPU = 1_000_000_000
MiB = 1 << 20
GiB = 1 << 30
TARGETS = {1_000: 50_000, 10_000: 20_000}   # placements/s the issue asks for, by node count


def make_nodes(count: int, seed: int) -> list[NodeSnapshot]:
    rng = random.Random(seed)
    return [
        NodeSnapshot(
            id=f"node-{i:06d}", name=f"node-{i:06d}", hostname=f"host-{i:06d}",
            labels={"tier": "gold"} if i % 2 == 0 else {"tier": "iron"}, engine_labels={},
            availability="active", ready=True,
            nano_cpus=rng.choice((8, 16, 32)) * CPU, memory=rng.choice((32, 64, 128)) * GiB,
        )
        for i in range(count)
    ]


def make_services(containers: int, batch: int, seed: int) -> list[tuple[TaskRequest, int]]:
    rng = random.Random(seed + 1)
    gold = (parse_constraint("node.labels.tier==gold"),)
    services = []
    placed, s = 0, 0
    while placed < containers:
        count = min(batch, containers - placed)
        services.append((TaskRequest(
            nano_cpus=rng.choice((10, 20, 50)) * CPU // 1000,
            memory=rng.choice((16, 32, 64)) * MiB,
            constraints=gold if s % 2 == 0 else (),
            group=f"svc-{s:05d}",
        ), count))
        placed += count
        s += 1
    return services


@dataclass
class Run:
    placed: list[str]
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.placed) / self.seconds if self.seconds > 0 else 0.0


def run_index(nodes: list[NodeSnapshot], services, strategy: str, seed: int) -> Run:
    index = NodeIndex(nodes)   # built once, as the manager keeps it; not timed
    rng = random.Random(seed)
    placed: list[str] = []
    started = time.perf_counter()
    for task, count in services:
        placements, nofit = index.place_many(task, count, strategy, rng)
        if nofit is not None:
            raise SystemExit(f"index: {nofit.message} (the workload must fit)")
        placed.extend(p.node_id for p in placements)
    return Run(placed, time.perf_counter() - started)


def run_single(nodes: list[NodeSnapshot], services, strategy: str, seed: int, limit: int) -> Run:
    """The index asked one task at a time (no batch): what a lone `shoal run` costs."""
    index = NodeIndex(nodes)
    rng = random.Random(seed)
    placed: list[str] = []
    started = time.perf_counter()
    for task, count in services:
        for _ in range(count):
            placed.append(index.place(task, strategy, rng).node_id)
            if len(placed) >= limit:
                return Run(placed, time.perf_counter() - started)
    return Run(placed, time.perf_counter() - started)


def run_scan(nodes: list[NodeSnapshot], services, strategy: str, seed: int, budget: float) -> Run:
    """The reference: every placement screens and ranks every node. Stops after `budget` seconds."""
    current = list(nodes)
    position = {n.id: i for i, n in enumerate(current)}
    rng = random.Random(seed)
    placed: list[str] = []
    started = time.perf_counter()
    deadline = started + budget
    for task, count in services:
        for _ in range(count):
            result = place(current, task, strategy, rng)
            i = position[result.node_id]
            current[i] = charge(current[i], task)
            placed.append(result.node_id)
            if time.perf_counter() > deadline:
                return Run(placed, time.perf_counter() - started)
    return Run(placed, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="1000,10000", help="node counts, comma-separated")
    ap.add_argument("--containers", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1_000, help="replicas per service")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--repeats", type=int, default=3, help="indexed runs per case (the median is kept)")
    ap.add_argument("--baseline-seconds", type=float, default=5.0, help="time given to the scan per case")
    ap.add_argument("--single", type=int, default=2_000, help="placements made one task per call")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    args = ap.parse_args(argv)

    results = []
    for n in [int(x) for x in args.nodes.split(",")]:
        nodes = make_nodes(n, args.seed)
        services = make_services(args.containers, args.batch, args.seed)
        for strategy in args.strategies.split(","):
            gc.collect()
            runs = [run_index(nodes, services, strategy, args.seed) for _ in range(args.repeats)]
            rates = [r.rate for r in runs]
            scan = run_scan(nodes, services, strategy, args.seed, args.baseline_seconds)
            single = run_single(nodes, services, strategy, args.seed, args.single)
            compared = len(scan.placed)
            agree = runs[0].placed[:compared] == scan.placed and runs[0].placed[:len(single.placed)] == single.placed
            if not agree:
                print(f"DISAGREE: {n} nodes, {strategy}: the index and the scan placed differently", file=sys.stderr)
            index_rate = report.median(rates)
            target = TARGETS.get(n)
            results.append({
                "nodes": n, "strategy": strategy, "containers": len(runs[0].placed), "batch": args.batch,
                "index_per_s": round(index_rate), "index_runs_per_s": [round(r) for r in rates],
                "single_per_s": round(single.rate), "scan_per_s": round(scan.rate, 1),
                "speedup": round(index_rate / scan.rate, 1) if scan.rate else None,
                "compared": compared, "agree": agree,
                "target_per_s": target, "meets_target": (index_rate >= target) if target else None,
            })
    print(report.table(
        ["nodes", "strategy", "containers", "index/s (median)", "1 per call/s", "scan/s", "speedup", "agree on",
         "target/s", "met"],
        [[r["nodes"], r["strategy"], r["containers"], r["index_per_s"], r["single_per_s"], r["scan_per_s"],
          f"{r['speedup']}x", f"{r['compared']:,}" if r["agree"] else "NO", r["target_per_s"] or "-",
          {True: "yes", False: "NO", None: "-"}[r["meets_target"]]] for r in results]))
    report.publish("scheduler", args, results)
    return 0 if all(r["agree"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
