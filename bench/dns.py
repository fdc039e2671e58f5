"""Benchmark 5, DNS: queries per second of the agent's DNS server (dns/server.py, the same
class the agent runs, in a process of its own) for a service name, measured with dnsperf against
Debian's dnsmasq serving the same records, on loopback, alternated in the same run.

    python -m bench.dns [--replicas 3] [--seconds 10] [--rounds 2] [--clients 4]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.harness import stop

ROOT = Path(__file__).resolve().parent.parent
NAME = "web.shoal"
TARGET_QPS = 30_000
TARGET_RATIO = 1.0


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _addresses(replicas: int) -> list[str]:
    # Documentation addresses (TEST-NET-3): answered, never contacted.
    return [f"203.0.113.{i + 1}" for i in range(replicas)]


async def _serve(replicas: int) -> None:
    from shoal.dns.server import DnsServer
    from shoal.dns.zone import Endpoint, Zone

    zone = Zone("shoal", 5)
    for i, ip in enumerate(_addresses(replicas)):
        zone.put(Endpoint(key=f"bench/{i}", name=f"web.{i + 1}", service="web", ip=ip))
    server = DnsServer(zone)
    # Port 0: the server finds one free for both UDP and TCP (a UDP port found free here may be
    # taken for TCP by the time it binds).
    port, _ = await server.start("127.0.0.1", 0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {port}", flush=True)
    await stop.wait()
    await server.stop()


def _dnsperf(port: int, queries: Path, seconds: float, clients: int) -> float:
    r = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds),
                        "-c", str(clients), "-q", "200"], capture_output=True, text=True, timeout=seconds + 60)
    found = re.search(r"Queries per second:\s+([\d.]+)", r.stdout)
    lost = re.search(r"Queries lost:\s+(\d+)", r.stdout)
    if r.returncode != 0 or not found:
        raise SystemExit(f"dnsperf failed: {r.stdout[-800:]} {r.stderr[-800:]}")
    if lost and int(lost.group(1)) > 0:
        print(f"  (dnsperf: {lost.group(1)} queries lost)", flush=True)
    return float(found.group(1))


def _check_answer(port: int, replicas: int) -> None:
    """Both servers must answer the same addresses before they are compared."""
    import dnslib

    reply = dnslib.DNSRecord.parse(dnslib.DNSRecord.question(NAME, "A").send("127.0.0.1", port, timeout=5))
    got = sorted(str(rr.rdata) for rr in reply.rr if rr.rtype == dnslib.QTYPE.A)
    if got != sorted(_addresses(replicas)):
        raise SystemExit(f"server on port {port} answered {got} for {NAME}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dns", description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=3, help="A records behind the service name")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each dnsperf run")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each server, alternated")
    ap.add_argument("--clients", type=int, default=4, help="dnsperf clients (sockets)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    args = ap.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.replicas))
        return 0
    for tool in ("dnsperf", "dnsmasq"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (make setup installs dnsperf and dnsmasq-base)")

    work = Path(tempfile.mkdtemp(prefix="shoal-bench-dns-"))
    procs: list[subprocess.Popen] = []
    try:
        queries = work / "queries"
        queries.write_text(f"{NAME} A\n")
        hosts = work / "hosts"
        hosts.write_text("".join(f"{ip} {NAME}\n" for ip in _addresses(args.replicas)))
        ours = subprocess.Popen([sys.executable, "-m", "bench.dns", "--serve", "--replicas", str(args.replicas)],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        procs.append(ours)
        word, _, port = ours.stdout.readline().partition(" ")
        if word != "ready":
            raise SystemExit("the agent's DNS server did not start")
        ours_port = int(port)
        deadline = time.monotonic() + 10
        theirs = None
        while True:
            if theirs is None or theirs.poll() is not None:
                # (Again) on a fresh port: dnsmasq binds TCP too, and exits if that one is taken.
                theirs_port = _free_udp_port()
                theirs = subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                                           "--no-hosts", f"--addn-hosts={hosts}", "--bind-interfaces",
                                           "--listen-address=127.0.0.1", f"--port={theirs_port}", "--user=root",
                                           f"--pid-file={work / 'dnsmasq.pid'}", "--cache-size=1000"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(theirs)
            try:
                _check_answer(theirs_port, args.replicas)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)   # poll interval: dnsmasq starting
        _check_answer(ours_port, args.replicas)

        shoal_qps, dnsmasq_qps = [], []
        for r in range(args.rounds):
            order = [("shoal", ours_port, shoal_qps), ("dnsmasq", theirs_port, dnsmasq_qps)]
            for name, port, out in (order if r % 2 == 0 else order[::-1]):
                out.append(_dnsperf(port, queries, args.seconds, args.clients))
                print(f"round {r + 1}: {name} {out[-1]:,.0f} q/s", flush=True)
        ours_median, theirs_median = report.median(shoal_qps), report.median(dnsmasq_qps)
        result = {
            "name": NAME, "records": args.replicas, "seconds_per_run": args.seconds, "clients": args.clients,
            "shoal_qps": [round(x) for x in shoal_qps], "dnsmasq_qps": [round(x) for x in dnsmasq_qps],
            "shoal_median_qps": round(ours_median), "dnsmasq_median_qps": round(theirs_median),
            "ratio": round(ours_median / theirs_median, 2) if theirs_median else None,
            "target_qps": TARGET_QPS, "target_ratio": TARGET_RATIO,
            "meets_targets": ours_median >= TARGET_QPS and bool(theirs_median) and ours_median / theirs_median >= TARGET_RATIO,
        }
        print(report.table(["name", "A records", "shoal q/s (median)", "dnsmasq q/s (median)", "ratio", "target"],
                           [[NAME, args.replicas, result["shoal_median_qps"], result["dnsmasq_median_qps"],
                             f"{result['ratio']}x", "met" if result["meets_targets"] else "NOT met"]]))
        report.publish("dns", args, [result])
        return 0
    finally:
        stop(procs, 10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
