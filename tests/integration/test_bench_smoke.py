"""The end-to-end deploy benchmark at a tiny size, so it cannot rot: a real etcd and manager,
simulated agents over real gRPC and mTLS, a small service. No timing is asserted."""
import json
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


def test_the_deploy_benchmark_runs_a_small_service_to_the_end(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench.deploy", "--agents", "3", "--processes", "2",
                        "--replicas", "30", "--timeout", "120", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    (result,) = json.loads((tmp_path / "deploy.json").read_text())["results"]
    assert result["replicas"] == 30 and result["agents"] == 3 and result["processes"] == 2
    assert 0 < result["placed_p50_s"] <= result["placed_p99_s"] and result["running_p99_s"] >= result["placed_p50_s"]
    assert result["etcd_floor_seconds"] > 0 and result["manager_bytes_per_task"] is not None
    assert "all running" in r.stdout


def bench(tmp_path, module: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", f"bench.{module}", *args, "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return json.loads((tmp_path / f"{module}.json").read_text())


def test_the_overhead_benchmark_times_both_sides(tmp_path):
    doc = bench(tmp_path, "overhead", "--rounds", "2", "--cli-rounds", "1")
    api, cli, cold = doc["results"]
    assert [(r["interface"], r["rounds"]) for r in (api, cli, cold)] == \
        [("API", 2), ("CLI", 1), ("CLI, SHOAL_SESSION=off", 1)]
    for r in (api, cli, cold):
        assert len(r["shoal_s"]) == len(r["docker_s"]) == r["rounds"] and min(r["shoal_s"] + r["docker_s"]) > 0


def test_the_failover_benchmark_heals_a_killed_host(tmp_path):
    (result,) = bench(tmp_path, "failover", "--rounds", "1")["results"]
    (round_,) = result["per_round"]
    assert round_["tasks_lost"] >= 1 and 0 < round_["detected_s"] <= round_["healed_s"]


def test_the_dns_benchmark_compares_with_dnsmasq(tmp_path):
    (result,) = bench(tmp_path, "dns", "--seconds", "0.5", "--rounds", "1")["results"]
    assert result["records"] == 3 and result["shoal_median_qps"] > 0 and result["dnsmasq_median_qps"] > 0


def test_the_soak_benchmark_notices_nodes_dying(tmp_path):
    (result,) = bench(tmp_path, "soak", "--nodes", "60", "--die", "20", "--per-lease", "10", "--rest", "0.5")["results"]
    assert result["nodes"] == 60 and result["die"] == 20 and result["noticed_die_s"] >= 0
    assert result["rest_rss_mib"] > 0 and result["idle_rss_mib"] > 0
