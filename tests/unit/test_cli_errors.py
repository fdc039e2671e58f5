"""The CLI's error contract: one line naming the field, exit 2 for usage, 1 for runtime errors."""
import subprocess
import sys

import pytest


def shoal(*args, env=None):
    import os
    e = dict(os.environ)
    e.pop("SHOAL_MANAGER", None)
    e["SHOAL_CONFIG_DIR"] = "/nonexistent-shoal-config"
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, text=True, env=e, timeout=60)


@pytest.mark.parametrize("args,message", [
    (["run", "--memory", "12x", "img"], 'shoal: --memory: "12x" is not a size (examples: 64M, 1g, 512m)'),
    (["run", "-p", "99999", "img"], 'shoal: --publish: "99999": ports must be in 1-65535'),
    (["run", "--cpus", "zero", "img"], 'shoal: --cpus: "zero" is not a number of CPUs (examples: 0.5, 2)'),
    (["run", "-e", "NOVALUE", "img"], 'shoal: --env: "NOVALUE" is not KEY=VALUE'),
    (["run", "--strategy", "best", "img"], "shoal: --strategy:"),
    (["logs", "--tail", "x", "c"], 'shoal: --tail: "x" is not a number of lines or "all"'),
    (["node", "update", "n1"], "shoal: nothing to update"),
    (["run"], "IMAGE"),
    (["frobnicate"], "No such command"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    r = shoal(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("shoal: ")
    assert message in lines[0]


def test_no_manager_is_a_runtime_error():
    r = shoal("ps")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "shoal: --manager: no manager address (give --manager HOST:PORT, set SHOAL_MANAGER, or run `shoal dev up`)"
    ]


def test_unreachable_manager_is_a_runtime_error():
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    r = shoal("--insecure", "--manager", "127.0.0.1:1", "ps")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "manager unreachable" in r.stderr


def test_no_client_certificate_is_a_one_line_error():
    r = shoal("--manager", "127.0.0.1:1", "ps")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no admin certificate" in r.stderr and "--insecure" in r.stderr


def test_manager_without_credentials_or_insecure_refuses_to_start(tmp_path):
    r = shoal("manager", "--etcd", "http://127.0.0.1:1", "--state-dir", str(tmp_path / "m"))
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "shoal cluster init" in r.stderr and "--state-dir" in r.stderr


def test_agent_without_certificate_or_token_refuses_to_start(tmp_path):
    r = shoal("agent", "--etcd", "http://127.0.0.1:1", "--advertise", "127.0.0.1:7999",
              "--manager", "127.0.0.1:1", "--state-dir", str(tmp_path / "a"))
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "--join-token" in r.stderr


@pytest.mark.parametrize("args", [["run", "--secret-env", "NOVALUE", "img"],
                                  ["service", "create", "--name", "web", "--secret-env", "=x", "img"]])
def test_secret_env_needs_key_value(args):
    r = shoal(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shoal: --secret-env: "), r.stderr
