"""Benchmark 3, overhead over the runtime: on one real dockerd test host (a dev cluster of one host:
its own network namespace, dockerd, agent; a real etcd and manager), the time from asking Shoal to
run a container until it runs, against asking that host's Docker Engine directly, alternated
round by round (ABBA order) in the same run.

* API: the manager's `Run` call (it returns once the agent has created and started the
  container) against the Docker SDK's `containers.run(detach=True)` on the host's socket.
* CLI: `shoal run -d` against `docker run -d`, each a fresh process: the `shoal` command an admin
  types, which hands the command to its CLI session (shoal/cli/launch.py; started by the first
  command, as dockerd is there before `docker run`), and again with SHOAL_SESSION=off (Python's
  start-up and the CLI's imports in every command).

    python -m bench.overhead [--rounds 30] [--cli-rounds 10]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.harness import new_cluster, poll, remove_cluster

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "shoal/busybox:latest"
TARGET_RATIO = 1.1
TARGET_P99_S = 1.0


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30, help="API rounds (one of each per round)")
    ap.add_argument("--cli-rounds", type=int, default=20)
    ap.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench.overhead needs root (a dev cluster host: netns, dockerd)")

    from shoal.protos.shoal.v1 import manager_pb2, types_pb2
    from shoal.cli.dev import wait_for_nodes
    from shoal.client import connect

    cluster, state = new_cluster("shoalo", hosts=1, subnet="10.213.93.0/24", docker_bip_base="10.214.93.0",
                                 agent_port=7074, lease_ttl=5, host_memory=1 << 30)
    channel = None
    try:
        print("dev cluster of one host ...", flush=True)
        cluster.up()
        wait_for_nodes(cluster.manager_address, cluster.admin_credentials(), 1)
        host = cluster.hosts[0]
        engine = cluster.docker(host)
        channel, stub = connect(cluster.manager_address, cluster.admin_credentials())
        spec = types_pb2.ContainerSpec(image=IMAGE, command=["sleep", "600"])

        def shoal_api(name: str) -> None:
            c = stub.Run(manager_pb2.RunRequest(name=name, spec=spec), timeout=60)
            if c.status.state != "running":
                raise SystemExit(f"shoal run {name}: {c.status.state} {c.status.error}")

        def docker_api(name: str) -> None:
            engine.containers.run(IMAGE, ["sleep", "600"], detach=True, name=name)

        shoal_command = Path(sys.executable).with_name("shoal")
        cli_env = {**os.environ, "SHOAL_TLS_DIR": str(cluster.admin_dir), "SHOAL_CONFIG_DIR": str(state / "cfg")}

        def shoal_cli(name: str, session: bool = True) -> None:
            env = cli_env if session else {**cli_env, "SHOAL_SESSION": "off"}
            subprocess.run([shoal_command, "--manager", cluster.manager_address, "run", "-d",
                            "--name", name, IMAGE, "sleep", "600"], cwd=ROOT, env=env, check=True,
                           capture_output=True, timeout=60)

        def docker_cli(name: str) -> None:
            subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", "run", "-d", "--name", name, IMAGE,
                            "sleep", "600"], check=True, capture_output=True, timeout=60)

        for i in range(2):   # warm-up: channels, caches, the engine's first start
            shoal_api(f"warm-s{i}")
            docker_api(f"warm-d{i}")
        shoal_cli("warm-cli")   # starts the CLI session
        poll(lambda: list((state / "cfg" / "run").glob("session-*.sock")), 30, "the CLI session")

        def alternate(a, b, rounds: int, tag: str) -> tuple[list[float], list[float]]:
            ta, tb = [], []
            for i in range(rounds):
                # ABBA: neither side always goes first (caches, the engine's own state).
                if i % 2 == 0:
                    ta.append(_timed(lambda i=i: a(f"{tag}-s{i}")))
                    tb.append(_timed(lambda i=i: b(f"{tag}-d{i}")))
                else:
                    tb.append(_timed(lambda i=i: b(f"{tag}-d{i}")))
                    ta.append(_timed(lambda i=i: a(f"{tag}-s{i}")))
            return ta, tb

        api_s, api_d = alternate(shoal_api, docker_api, args.rounds, "api")
        cli_s, cli_d = alternate(shoal_cli, docker_cli, args.cli_rounds, "cli")
        cold_s, cold_d = alternate(lambda name: shoal_cli(name, session=False), docker_cli, args.cli_rounds, "cold")
        results = []
        for what, s, d in (("API", api_s, api_d), ("CLI", cli_s, cli_d), ("CLI, SHOAL_SESSION=off", cold_s, cold_d)):
            ms, md = report.median(s), report.median(d)
            results.append({
                "interface": what, "rounds": len(s),
                "shoal_median_s": round(ms, 3), "shoal_p99_s": round(report.percentile(s, 99), 3),
                "docker_median_s": round(md, 3), "docker_p99_s": round(report.percentile(d, 99), 3),
                "ratio_of_medians": round(ms / md, 2) if md else None,
                "target_ratio": TARGET_RATIO, "target_p99_s": TARGET_P99_S,
                "meets_targets": bool(md) and ms / md <= TARGET_RATIO and report.percentile(s, 99) <= TARGET_P99_S,
                "shoal_s": [round(x, 4) for x in s], "docker_s": [round(x, 4) for x in d],
            })
        print(report.table(
            ["interface", "rounds", "shoal median", "shoal p99", "docker median", "docker p99", "ratio", "target"],
            [[r["interface"], r["rounds"], f"{r['shoal_median_s'] * 1000:.0f} ms", f"{r['shoal_p99_s'] * 1000:.0f} ms",
              f"{r['docker_median_s'] * 1000:.0f} ms", f"{r['docker_p99_s'] * 1000:.0f} ms",
              f"{r['ratio_of_medians']}x", "met" if r["meets_targets"] else "NOT met"] for r in results]))
        report.publish("overhead", args, results)
        return 0
    finally:
        if channel is not None:
            channel.close()
        remove_cluster(cluster, state)


if __name__ == "__main__":
    sys.exit(main())
