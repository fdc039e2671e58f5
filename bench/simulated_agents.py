"""Many simulated agents in one process, for benchmarks only.

Each is the real agent (agent.main.serve): it joins with the agent token over the real join flow,
gets its own certificate, registers in etcd under its own lease and etcd identity, and serves the
Agent API over mutual TLS on its own loopback port. Only the engine is simulated
(FakeRuntimeForScale: a container runs as soon as it is created), and the agents do not follow
the cluster's records (DNS, host routes), which a real host does on its own CPU.

    SHOAL_JOIN_TOKEN=... python -m bench.simulated_agents --count 100 --first 0 \\
        --manager 10.213.90.1:PORT --etcd https://10.213.90.1:PORT --state-dir DIR --base-port 20000

Runs until SIGTERM/SIGINT; prints "ready N" once every agent serves.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from shoal.agent.main import AgentConfig, serve
from shoal.agent.runtime.fake_for_scale import FakeRuntimeForScale


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    token = os.environ.get("SHOAL_JOIN_TOKEN", "")
    agents = []
    for i in range(args.first, args.first + args.count):
        name = f"sim-{i:05d}"
        port = args.base_port + i
        cfg = AgentConfig(
            etcd=args.etcd.split(","), advertise=f"127.0.0.1:{port}", listen=f"127.0.0.1:{port}", name=name,
            state_dir=Path(args.state_dir) / name, lease_ttl=args.lease_ttl, dns_listen="none",
            join_token=token, managers=[args.manager],
        )
        runtime = FakeRuntimeForScale(name, nano_cpus=args.cpus * 1_000_000_000, memory_bytes=args.memory_gib << 30)
        agents.append(asyncio.create_task(serve(cfg, runtime=runtime, stop=stop, follow_cluster=False), name=name))
        # Joining is a certificate signature on the manager: a few at a time, not all at once.
        if len(agents) % 10 == 0:
            await asyncio.sleep(0)
    ports = [args.base_port + i for i in range(args.first, args.first + args.count)]
    deadline = loop.time() + args.ready_timeout
    while True:
        dead = [t for t in agents if t.done()]
        if dead:
            exc = dead[0].exception() if not dead[0].cancelled() else None
            print(f"agent {dead[0].get_name()} ended: {exc!r}", file=sys.stderr, flush=True)
            stop.set()
            await asyncio.gather(*agents, return_exceptions=True)
            return 1
        ready = sum(await asyncio.gather(*(_accepts(p) for p in ports)))
        if ready == len(ports):
            break
        if loop.time() > deadline:
            print(f"only {ready} of {len(ports)} agents serve after {args.ready_timeout} s", file=sys.stderr, flush=True)
            stop.set()
            await asyncio.gather(*agents, return_exceptions=True)
            return 1
        await asyncio.sleep(0.2)   # poll interval
    print(f"ready {len(agents)}", flush=True)
    await stop.wait()
    await asyncio.gather(*agents, return_exceptions=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.simulated_agents", description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--first", type=int, default=0, help="number of the first agent (names sim-NNNNN)")
    ap.add_argument("--manager", required=True)
    ap.add_argument("--etcd", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--base-port", type=int, required=True, help="agent K listens on 127.0.0.1:BASE+K")
    ap.add_argument("--lease-ttl", type=int, default=10)
    ap.add_argument("--cpus", type=int, default=64)
    ap.add_argument("--memory-gib", type=int, default=256)
    ap.add_argument("--ready-timeout", type=float, default=300.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
