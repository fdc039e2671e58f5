"""Secret values given without the command line (issue 14, finding 7): from a file, from stdin and
from the caller's environment they reach the task's environment, and neither the CLI's command
line (what every local user reads in /proc/PID/cmdline) nor any inspect shows them."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT
from tests.polling import poll

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"
FROM_FILE = "reef-3b9d41-file-secret"
FROM_STDIN = "reef-51c0e2-stdin-secret"
FROM_ENV = "reef-8e27a9-environment-secret"


def exec_cmdline(pid: int) -> bytes | None:
    """/proc/PID/cmdline once the child runs the CLI (before its exec it shows the parent's)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            line = f.read()
    except FileNotFoundError:
        return None
    return line if b"--secret-env-stdin" in line else None


def test_secrets_from_a_file_stdin_and_the_environment_reach_the_task_and_no_command_line(shoal, cluster, tmp_path):
    f = tmp_path / "db.env"
    f.write_text(f"# the database\nDB_PASSWORD={FROM_FILE}\n")
    f.chmod(0o600)
    argv = [sys.executable, "-m", "shoal", "--manager", shoal.manager, "service", "create", "--name", "vault",
            "--secret-env-file", str(f), "--secret-env", "API_KEY", "--secret-env-stdin", "PIPED", "-e", "PLAIN=shown",
            IMAGE, "sleep", "300"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         env={**shoal._env(), "API_KEY": FROM_ENV})
    try:
        # The CLI waits for stdin's end, so its command line can be read while it runs (once it has exec'd).
        seen = poll(lambda: exec_cmdline(p.pid), 30, what="the CLI's command line")
        assert stat.S_IMODE(os.stat(f"/proc/{p.pid}/environ").st_mode) == 0o400   # API_KEY: its owner's only
    finally:
        out, err = p.communicate(input=(FROM_STDIN + "\n").encode(), timeout=60)
    assert p.returncode == 0, err
    for value in (FROM_FILE, FROM_STDIN, FROM_ENV):
        assert value.encode() not in seen
        assert value.encode() not in out + err

    task = poll(lambda: next((t for t in shoal.json("service", "ps", "vault") if t["state"] == "running"), None), 60,
                what="the task of vault to run")
    engine_env = None
    for host in cluster.hosts:
        for c in cluster.docker(host).containers.list():
            if c.labels.get("io.shoal.name") == task["name"]:
                engine_env = c.attrs["Config"]["Env"]
    assert engine_env is not None
    assert {f"DB_PASSWORD={FROM_FILE}", f"PIPED={FROM_STDIN}", f"API_KEY={FROM_ENV}", "PLAIN=shown"} <= set(engine_env)

    shown = shoal("service", "inspect", "vault").stdout + shoal("inspect", task["name"]).stdout
    assert "shown" in shown and "<secret>" in shown
    for value in (FROM_FILE, FROM_STDIN, FROM_ENV):
        assert value not in shown
