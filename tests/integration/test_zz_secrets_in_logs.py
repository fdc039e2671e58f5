"""No token, private key or secret value in any log of the integration suite.

Named to run last (pytest runs files in name order): by then the session cluster's daemons have
logged a whole suite's worth of work, joins, renewals and refusals.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.polling import poll

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"
SECRET = "tide-9f27c1e0-secret-value"


def secrets_of(cluster) -> dict[str, str]:
    found = {"secret env value": SECRET}
    for role in ("agent", "manager"):
        found[f"{role} join token"] = cluster.join_token(role)
        # The secret half alone must not leak either.
        found[f"{role} join token secret"] = found[f"{role} join token"].rsplit("-", 1)[1]
    for key in sorted(Path(cluster.state_dir).rglob("*.key")):
        body = "".join(line for line in key.read_text().splitlines() if not line.startswith("-----"))
        found[f"private key {key.name}"] = body[:64]
    return found


def test_no_secret_reaches_a_log_or_inspect(shoal, cluster):
    cid = shoal("run", "-d", "--name", "secretive", "--secret-env", f"DB_PASSWORD={SECRET}", "-e", "PLAIN=visible",
                IMAGE, "sleep", "300").stdout.strip()
    poll(lambda: [c for c in shoal.json("ps") if c["id"] == cid and c["state"] == "running"], 30,
         what="the container with a secret")
    shown = shoal("inspect", "secretive").stdout
    assert SECRET not in shown and "visible" in shown
    assert json.loads(shown)  # still a whole document
    shoal("service", "create", "--name", "secretsvc", "--secret-env", f"API_KEY={SECRET}", IMAGE, "sleep", "300")
    assert SECRET not in shoal("service", "inspect", "secretsvc").stdout
    assert SECRET not in shoal("service", "ps", "secretsvc", "--format", "json").stdout

    logs = sorted(Path(cluster.log_dir).glob("*.log"))
    assert len(logs) >= 5   # etcd, manager, an agent and a dockerd per host
    leaks = []
    for name, value in secrets_of(cluster).items():
        pattern = re.compile(re.escape(value))
        for log in logs:
            if pattern.search(log.read_text(errors="replace")):
                leaks.append(f"{name} in {log.name}")
        assert len(value) >= 16, name
    assert "PRIVATE KEY" not in "".join(log.read_text(errors="replace") for log in logs)
    assert leaks == []
