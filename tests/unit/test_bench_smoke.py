"""The scheduler benchmark at a tiny size, so it cannot rot: it runs, the index and the scan agree,
and it writes its table and JSON. No timing is asserted (that is what `make bench` reports)."""
import json

from bench import scheduler


def test_the_scheduler_benchmark_runs_and_the_index_agrees_with_the_scan(tmp_path, capsys):
    rc = scheduler.main(["--nodes", "40,80", "--containers", "600", "--batch", "70", "--repeats", "1",
                         "--baseline-seconds", "0.05", "--single", "50", "--out", str(tmp_path)])
    assert rc == 0
    doc = json.loads((tmp_path / "scheduler.json").read_text())
    cases = {(r["nodes"], r["strategy"]) for r in doc["results"]}
    assert cases == {(n, s) for n in (40, 80) for s in ("spread", "binpack", "random")}
    for r in doc["results"]:
        assert r["agree"] and r["compared"] > 0 and r["containers"] == 600, r
    assert doc["machine"]["cores"] >= 1
    assert "speedup" in capsys.readouterr().out
