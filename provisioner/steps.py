"""`machine create` / `machine provision`: idempotent steps over one SSH session.

Each step looks before it acts, so running the whole list again on a provisioned host changes
nothing. A failure names its step; the caller records it with the machine.
"""
from __future__ import annotations

import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from shoal.provisioner import facts, layout, wheelhouse
from shoal.provisioner.errors import ProvisionerError
from shoal.provisioner.ssh import Session

SHORT = 60.0
INSTALL = 900.0   # apt-get and pip on a slow host


class StepFailed(ProvisionerError):
    def __init__(self, step: str, reason: str):
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass
class Context:
    session: Session
    settings: layout.AgentSettings
    join_token: Callable[[], str]             # asked only when the host has no node certificate
    node_ready: Callable[[], str | None]      # the node id once the manager lists it ready
    ready_timeout: float = 120.0
    changed: list[str] = field(default_factory=list)
    os: facts.OsInfo | None = None
    systemd: bool = False
    python: str = ""
    machine: str = ""
    bundle: wheelhouse.Bundle | None = None
    node_id: str | None = None
    restart: bool = False                     # `machine upgrade`: restart the agent even if nothing changed

    def sh(self, cmd: str, timeout: float = SHORT, check: bool = True, stdin: bytes | None = None, what: str = ""):
        return self.session.run(["sh", "-c", cmd], sudo=True, timeout=timeout, check=check, stdin_data=stdin,
                                what=what or None)


    def fact(self, fact: facts.Fact[facts.T]) -> facts.T:
        """Runs a fact's commands on the host and returns what its parser makes of them."""
        outputs = []
        for cmd in fact.commands:
            r = self.sh(cmd, check=False, what=cmd)
            outputs.append(facts.Output(r.stdout, r.stderr, r.exit_code))
        return fact.process(outputs)


def os_release(ctx: Context) -> None:
    ctx.os = ctx.fact(facts.OS_RELEASE)
    facts.check_supported(ctx.os)
    ctx.machine = ctx.fact(facts.MACHINE)
    ctx.systemd = ctx.fact(facts.SYSTEMD).usable


def privilege(ctx: Context) -> None:
    ctx.session.check_privilege()


def _apt_install(ctx: Context, packages: list[str]) -> None:
    ctx.sh("export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
           f"apt-get install -y -qq --no-install-recommends {' '.join(packages)}", timeout=INSTALL,
           what=f"apt-get install {' '.join(packages)}")
    ctx.changed.append(f"installed {', '.join(packages)}")


def docker_engine(ctx: Context) -> None:
    if not ctx.fact(facts.DOCKER).installed:
        _apt_install(ctx, ["docker.io"])
    if ctx.sh("docker version --format '{{.Server.Version}}'", check=False).exit_code == 0:
        return
    if ctx.systemd:
        ctx.sh("systemctl enable --now docker", timeout=120)
    else:
        _put_if_changed(ctx, layout.DOCKERD_SUPERVISOR,
                        layout.supervisor("dockerd", layout.DOCKERD_PID, f"{layout.LOG_DIR}/dockerd.log"), 0o755)
        ctx.sh(layout.start_supervised(layout.DOCKERD_PID, layout.DOCKERD_SUPERVISOR))
    ctx.changed.append("started the Docker Engine")
    _wait(ctx, lambda: ctx.sh("docker version --format '{{.Server.Version}}'", check=False).exit_code == 0,
          60, "the Docker Engine to answer")


def python_venv(ctx: Context) -> None:
    r = ctx.sh("python3 -c 'import sys, venv; print(\"%d.%d\" % sys.version_info[:2])'", check=False)
    if r.exit_code != 0:
        _apt_install(ctx, ["python3", "python3-venv"])
        r = ctx.sh("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    ctx.python = r.stdout.strip()
    if ctx.sh(f"test -x {layout.VENV}/bin/pip", check=False).exit_code != 0:
        ctx.sh(f"python3 -m venv {layout.VENV}", timeout=300)
        ctx.changed.append(f"created {layout.VENV}")


def agent_software(ctx: Context) -> bool:
    """True when it installed (a new) agent."""
    with tempfile.TemporaryDirectory(prefix="shoal-bundle-") as work:
        ctx.bundle = wheelhouse.bundle(ctx.python, ctx.machine, Path(work))
        mark = ctx.sh(f"cat {layout.BUNDLE_MARK} 2>/dev/null", check=False).stdout.strip()
        if mark == ctx.bundle.digest:
            return False
        ctx.sh(f"rm -rf {layout.WHEELS} && mkdir -p {layout.WHEELS}")
        for wheel in ctx.bundle.wheels:
            ctx.session.put(wheel, f"{layout.WHEELS}/{wheel.name}", 0o644, timeout=300)
        own = f"{layout.WHEELS}/{ctx.bundle.agent_wheel.name}"
        ctx.sh(f"{layout.VENV}/bin/pip install -q --no-index --find-links {layout.WHEELS} --force-reinstall "
               f"--no-deps {own} && {layout.VENV}/bin/pip install -q --no-index --find-links {layout.WHEELS} {own}",
               timeout=INSTALL, what=f"pip install {ctx.bundle.agent_wheel.name}")
        ctx.session.put(ctx.bundle.digest.encode() + b"\n", layout.BUNDLE_MARK, 0o644)
        ctx.changed.append(f"installed the agent {ctx.bundle.version}")
        return True


def _put_if_changed(ctx: Context, path: str, text: str, mode: int) -> bool:
    current = ctx.sh(f"cat {shlex.quote(path)} 2>/dev/null", check=False, what=f"read {path}").stdout
    if current == text:
        return False
    ctx.sh(f"mkdir -p {shlex.quote(str(Path(path).parent))}")
    ctx.session.put(text.encode(), path, mode)
    ctx.changed.append(f"wrote {path}")
    return True


def configuration(ctx: Context) -> bool:
    changed = _put_if_changed(ctx, layout.AGENT_SCRIPT, layout.agent_script(ctx.settings), 0o755)
    has_cert = ctx.sh(f"test -s {layout.STATE}/node.pem", check=False).exit_code == 0
    if not has_cert and ctx.sh(f"test -s {layout.ENV_FILE}", check=False).exit_code != 0:
        # The token goes over SFTP into a 0600 file: never on a command line, never logged.
        ctx.sh(f"mkdir -p {layout.ETC} && chmod 700 {layout.ETC}")
        ctx.session.put(layout.env_file(ctx.join_token()).encode(), layout.ENV_FILE, 0o600)
        ctx.changed.append(f"wrote {layout.ENV_FILE}")
        changed = True
    return changed


def service(ctx: Context, restart: bool) -> None:
    if ctx.systemd:
        wrote = _put_if_changed(ctx, layout.UNIT, layout.systemd_unit(), 0o644)
        if wrote:
            ctx.sh("systemctl daemon-reload")
        active = ctx.sh("systemctl is-active shoal-agent", check=False).exit_code == 0
        if not active or restart:
            ctx.sh("systemctl enable shoal-agent && systemctl restart shoal-agent", timeout=120)
            ctx.changed.append("started the agent (systemd)")
        return
    _put_if_changed(ctx, layout.SUPERVISOR,
                    layout.supervisor(layout.AGENT_SCRIPT, layout.SUPERVISOR_PID, f"{layout.LOG_DIR}/agent.log"), 0o755)
    running = ctx.sh(layout.running_check(layout.SUPERVISOR_PID, layout.SUPERVISOR), check=False).exit_code == 0
    if running and restart:
        # The supervisor restarts its child: the new agent reads the new script and wheels.
        ctx.sh(f"pkill -P $(cat {layout.SUPERVISOR_PID}) || true")
        ctx.changed.append("restarted the agent")
    elif not running:
        ctx.sh(layout.start_supervised(layout.SUPERVISOR_PID, layout.SUPERVISOR))
        ctx.changed.append("started the agent (supervised)")


def _wait(ctx: Context, ready: Callable[[], object], timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        got = ready()
        if got:
            return got
        if time.monotonic() > deadline:
            raise ProvisionerError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)   # poll interval


def node_ready(ctx: Context) -> None:
    ctx.node_id = _wait(ctx, ctx.node_ready, ctx.ready_timeout, f"node {ctx.settings.name} to be ready in the manager")


STEPS: list[tuple[str, Callable[[Context], object]]] = [
    ("privilege", privilege),
    ("os", os_release),
    ("docker", docker_engine),
    ("python", python_venv),
]


def provision(ctx: Context, progress: Callable[[str], None] = lambda step: None) -> Context:
    """Runs every step; raises StepFailed naming the step that failed."""
    def step(name: str, fn: Callable[[], object]) -> object:
        progress(name)
        try:
            return fn()
        except StepFailed:
            raise
        except ProvisionerError as exc:
            raise StepFailed(name, str(exc)) from None
    for name, fn in STEPS:
        step(name, lambda fn=fn: fn(ctx))
    installed = step("agent", lambda: agent_software(ctx))
    reconfigured = step("config", lambda: configuration(ctx))
    step("service", lambda: service(ctx, restart=bool(reconfigured or installed or ctx.restart)))
    step("ready", lambda: node_ready(ctx))
    return ctx

