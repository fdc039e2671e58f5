"""What `machine create` puts on a host: paths, the agent's command line, its start script, its
systemd unit or its supervisor. Pure text; the same layout the Ansible role installs."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

OPT = "/opt/shoal"
VENV = f"{OPT}/venv"
WHEELS = f"{OPT}/wheels"
BUNDLE_MARK = f"{OPT}/bundle.sha256"
BIN = f"{OPT}/bin"
AGENT_SCRIPT = f"{BIN}/shoal-agent"               # the agent with this host's flags
SUPERVISOR = f"{BIN}/shoal-agent-supervise"       # restarts it where systemd does not run
DOCKERD_SUPERVISOR = f"{BIN}/dockerd-supervise"
ETC = "/etc/shoal"
ENV_FILE = f"{ETC}/agent.env"                     # the join token, 0600
STATE = "/var/lib/shoal/agent"
LOG_DIR = "/var/log/shoal"
RUN_DIR = "/run/shoal"
SUPERVISOR_PID = f"{RUN_DIR}/agent-supervisor.pid"
DOCKERD_PID = f"{RUN_DIR}/dockerd-supervisor.pid"
UNIT = "/etc/systemd/system/shoal-agent.service"
AGENT_PORT = 7070


@dataclass(frozen=True)
class AgentSettings:
    name: str
    ip: str
    manager: str
    etcd: str
    labels: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    port: int = AGENT_PORT

    @property
    def advertise(self) -> str:
        return f"{self.ip}:{self.port}"

    def argv(self) -> list[str]:
        argv = [f"{VENV}/bin/shoal", "agent", "--name", self.name, "--manager", self.manager,
                "--etcd", self.etcd, "--advertise", self.advertise, "--state-dir", STATE]
        for k, v in sorted(self.labels.items()):
            argv += ["--label", f"{k}={v}"]
        return argv + list(self.extra_args)


def agent_script(settings: AgentSettings) -> str:
    # The token is read from a root-only file, never put on the command line (`ps` shows it).
    return ("#!/bin/sh\n"
            "# Written by `shoal machine`; rewritten by `shoal machine provision`.\n"
            f"set -a; [ -r {ENV_FILE} ] && . {ENV_FILE}; set +a\n"
            f"exec {shlex.join(settings.argv())}\n")


def env_file(join_token: str) -> str:
    return f"SHOAL_JOIN_TOKEN={shlex.quote(join_token)}\n"


def systemd_unit() -> str:
    return ("[Unit]\n"
            "Description=Shoal agent\n"
            "After=network-online.target docker.service\n"
            "Wants=network-online.target docker.service\n\n"
            "[Service]\n"
            f"ExecStart={AGENT_SCRIPT}\n"
            "Restart=always\n"
            "RestartSec=2\n"
            "KillMode=process\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n")


def supervisor(program: str, pidfile: str, log: str) -> str:
    """Where no systemd runs: restarts `program` when it exits, with a growing pause (capped at
    30 s); records its own pid so `start` is idempotent and `stop` finds it."""
    return ("#!/bin/sh\n"
            "# Written by `shoal machine`: keeps one program running without systemd.\n"
            f"echo $$ > {pidfile}\n"
            "pause=1\n"
            "trap 'kill \"$child\" 2>/dev/null; wait \"$child\"; rm -f " + pidfile + "; exit 0' TERM INT\n"
            "while :; do\n"
            "  started=$(date +%s)\n"
            f"  {program} >> {log} 2>&1 &\n"
            "  child=$!\n"
            "  wait \"$child\"\n"
            "  if [ $(( $(date +%s) - started )) -gt 60 ]; then pause=1; fi\n"
            "  sleep \"$pause\"\n"
            "  pause=$(( pause * 2 > 30 ? 30 : pause * 2 ))\n"
            "done\n")


def running_check(pidfile: str, script: str) -> str:
    """Exit 0 when the supervisor recorded in pidfile is alive and is `script`."""
    return (f"test -r {pidfile} && pid=$(cat {pidfile}) && "
            f"tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -qF {shlex.quote(script)}")


def start_supervised(pidfile: str, script: str) -> str:
    """Starts the supervisor detached from the SSH session, unless it already runs."""
    return (f"mkdir -p {RUN_DIR} {LOG_DIR} && ({running_check(pidfile, script)} || "
            f"setsid {script} < /dev/null > /dev/null 2>&1 &)")


def stop_supervised(pidfile: str, script: str) -> str:
    return f"if {running_check(pidfile, script)}; then kill $(cat {pidfile}); fi; true"


def uninstall() -> str:
    """Stops the agent (containers keep running until the node is removed) and removes what
    `machine create` installed, except the Docker Engine and its containers' data."""
    return (f"if command -v systemctl >/dev/null && [ -d /run/systemd/system ] && [ -f {UNIT} ]; then "
            "systemctl disable --now shoal-agent || true; "
            f"rm -f {UNIT}; systemctl daemon-reload || true; fi; "
            f"{stop_supervised(SUPERVISOR_PID, SUPERVISOR)}; "
            f"rm -rf {OPT} {ETC} {STATE} {SUPERVISOR_PID}")


def stop_agent() -> str:
    return (f"if command -v systemctl >/dev/null && [ -d /run/systemd/system ] && [ -f {UNIT} ]; then "
            f"systemctl stop shoal-agent; fi; {stop_supervised(SUPERVISOR_PID, SUPERVISOR)}")


def forget_certificate() -> str:
    """The node's key and certificate go; the next start joins again (and the manager revokes the old ones)."""
    return f"rm -f {STATE}/node.pem {STATE}/node.key"
