"""exec, attach and attached runs through the cluster (CLI -> manager -> agent -> engine), with
pipes and with a real terminal: tmux drives `shoal exec -it` as a person would."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import uuid

import pytest

from tests.integration.conftest import ROOT
from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"


def engine_of(cluster, shoal, name: str):
    c = next(c for c in shoal.json("ps", "-a") if c["name"] == name)
    host = next(h for h in cluster.hosts if h.name == c["node"])
    return next(e for e in cluster.docker(host).containers.list(all=True) if e.labels.get("io.shoal.name") == name)


def test_exec_pipes_exit_codes_and_options(shoal):
    shoal("run", "-d", "--name", "box", IMAGE, "sleep", "600")
    r = subprocess.run([sys.executable, "-m", "shoal", "--manager", shoal.manager, "exec", "-i", "box", "cat"],
                       input="hi\n", capture_output=True, text=True, timeout=60, env=shoal._env(), cwd=ROOT)
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = shoal("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    out = shoal("exec", "-u", "nobody", "-w", "/tmp", "-e", "GREETING=hello", "box", "sh", "-c",
                'id -u; pwd; echo "$GREETING"').stdout
    assert out.splitlines() == ["65534", "/tmp", "hello"]
    r = shoal("exec", "box", "no-such-program", check=False)
    assert r.returncode in (126, 127), (r.returncode, r.stderr)
    r = shoal("exec", "ghost", "true", check=False)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "ghost" in r.stderr, r.stderr
    shoal("stop", "-t", "1", "box")
    r = shoal("exec", "box", "true", check=False)
    assert r.returncode == 1 and "exec needs it running" in r.stderr, r.stderr


def test_attached_runs_keep_every_first_line_and_their_exit_code(shoal, cluster):
    r = subprocess.run([sys.executable, "-m", "shoal", "--manager", shoal.manager, "run", "-i", IMAGE, "sh", "-c",
                        "cat; exit 7"], input="piped in\n", capture_output=True, text=True, timeout=90,
                       env=shoal._env(), cwd=ROOT)
    assert (r.returncode, r.stdout) == (7, "piped in\n"), r.stderr
    # A container that prints at once and exits, 50 times (in-process, ten at a time): attached
    # before it starts, no first line is ever lost.
    from shoal.client import connect
    from shoal.protos.shoal.v1 import manager_pb2, types_pb2
    channel, stub = connect(cluster.manager_address, cluster.admin_credentials())
    failures: list[str] = []

    def one(i: int) -> None:
        spec = types_pb2.ContainerSpec(image=IMAGE, command=["echo", f"first-{i}"])
        c = stub.Run(manager_pb2.RunRequest(name=f"quick{i}", spec=spec, create_only=True), timeout=90)
        opened = types_pb2.StreamIn(open=types_pb2.StreamOpen(ref=c.id, start=True))
        out, code = b"", None
        for msg in stub.Stream(iter([opened]), timeout=90):
            out += msg.stdout
            if msg.WhichOneof("msg") == "exit":
                code = msg.exit.exit_code
        if (out, code) != (f"first-{i}\n".encode(), 0):
            failures.append(f"{i}: {out!r} exit {code}")

    try:
        for batch in range(5):
            threads = [threading.Thread(target=one, args=(batch * 10 + k,)) for k in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
    finally:
        channel.close()
    assert not failures, failures


def test_a_killed_cli_leaves_no_exec_process_behind(shoal, cluster):
    shoal("run", "-d", "--name", "host1", IMAGE, "sleep", "600")
    engine = engine_of(cluster, shoal, "host1")
    marker = "4242"
    cli = shoal.popen("exec", "host1", "sleep", marker)

    def sleepers() -> list:
        return [p for p in engine.top()["Processes"] if p[-1].endswith(f"sleep {marker}")]
    poll(sleepers, 30, what="the exec's process in the container")
    cli.send_signal(signal.SIGKILL)
    cli.wait(10)
    poll(lambda: not sleepers(), 10, what="the exec's process to be gone once its CLI died")


class Tmux:
    """A terminal: a tmux session on its own server socket, read with capture-pane."""

    def __init__(self, command: str, env: dict[str, str], width: int = 100, height: int = 30):
        self.socket = f"shoal-test-{uuid.uuid4().hex[:8]}"
        self.env = env
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              env=self.env, timeout=20).stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        try:
            return poll(lambda: text in self.screen() and self.screen(), timeout, what=f"{text!r} on the terminal",
                        error=AssertionError)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the terminal shows:\n{self.screen()}") from None

    def at_prompt(self, prompt: str = "/ #") -> None:
        """Waits for the shell to wait for input (typed-ahead keys may be flushed by a shell, as after ^C)."""
        def ready():
            lines = [line for line in self.screen().splitlines() if line.strip()]
            return bool(lines) and lines[-1].strip() == prompt
        poll(ready, 30, what="the shell's prompt", error=AssertionError)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


def _terminal(shoal, *args: str) -> Tmux:
    env = dict(shoal._env(), PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT)), TERM="xterm")
    cli = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "shoal", "--manager", shoal.manager, *args])
    # The pane stays after the CLI ends, showing its exit code.
    return Tmux(f"cd {shlex.quote(str(ROOT))}; {cli}; echo CLI-EXIT=$?; sleep 600", env)


def test_exec_it_in_a_real_terminal_resizes_interrupts_and_exits(shoal, cluster):
    shoal("run", "-d", "--name", "term", IMAGE, "sleep", "600")
    t = _terminal(shoal, "exec", "-it", "term", "sh")
    try:
        t.wait_for("/ #")   # as a person would: type at the prompt (a shell may flush input typed before)
        t.keys("stty size", "Enter")
        t.wait_for("30 100")
        t.resize(120, 40)
        t.keys("clear; stty size", "Enter")
        t.wait_for("40 120")
        # ctrl-C reaches the container's foreground process, not the CLI.
        t.keys("sleep 300", "Enter")
        engine = engine_of(cluster, shoal, "term")
        # ctrl-C once sleep runs (before that, the shell's line editor takes it as a key).
        poll(lambda: any(p[-1].endswith("sleep 300") for p in engine.top()["Processes"]), 30,
             what="sleep 300 running", error=AssertionError)
        t.keys("C-c")
        t.at_prompt()
        t.keys("echo after-$?", "Enter")
        t.wait_for("after-130")
        t.keys("exit 5", "Enter")
        t.wait_for("CLI-EXIT=5")
    finally:
        t.close()


def test_run_it_and_attach_in_a_real_terminal(shoal):
    t = _terminal(shoal, "run", "-it", "--name", "live", IMAGE, "sh")
    try:
        t.wait_for("/ #")
        t.keys("echo in-$((6*7))", "Enter")
        t.wait_for("in-42")
        t.keys("C-d")   # end of input: the shell exits 0
        t.wait_for("CLI-EXIT=0")
    finally:
        t.close()
    shoal("run", "-d", "-it", "--name", "bg", IMAGE, "sh")
    t = _terminal(shoal, "attach", "bg")
    try:
        t.keys("Enter")     # the shell started before we attached: a new prompt shows we are in
        t.wait_for("/ #")
        t.keys("echo attached-$((2+3))", "Enter")
        t.wait_for("attached-5")
        t.keys("C-p", "C-q")   # docker's detach keys: the container keeps running
        t.wait_for("CLI-EXIT=0")
    finally:
        t.close()
    assert next(c for c in shoal.json("ps") if c["name"] == "bg")["state"] == "running"
