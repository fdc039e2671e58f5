"""The `shoal` command with its CLI session, against the real dev cluster: what a command prints,
its exit status, working directory and environment are those of a command run without a session;
signals reach the command; the session refuses what it could not run as the client would, and
ends when idle, when its code changes or when its socket goes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import pytest

from shoal.cli import session_wire as wire
from tests.integration.conftest import ROOT
from tests.polling import poll

IMAGE = "shoal/busybox:latest"
SHOAL = Path(sys.executable).with_name("shoal")


def _session_pids(run_dir: Path) -> list[int]:
    """The sessions serving run_dir; not their commands, which were forked with the same argv."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                ppid = int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if b"shoal.cli.session_server" in cmdline and any(a.startswith(os.fsencode(run_dir)) for a in cmdline):
                found[int(proc.name)] = ppid
    return sorted(pid for pid, ppid in found.items() if ppid not in found)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []


def _child_writing_to(session: int, stdout: str) -> int | None:
    """The session's child whose stdout is `stdout` (a /proc fd link): our pipe for a command,
    /dev/null for the spare, which has no caller's descriptors yet."""
    for pid in _children(session):
        try:
            if os.readlink(f"/proc/{pid}/fd/1") == stdout:
                return pid
        except OSError:
            continue
    return None


def _our_end(pipe) -> str:
    return os.readlink(f"/proc/self/fd/{pipe.fileno()}")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (OSError, IndexError):
        return "?"


def _alive(pid: int) -> bool:
    return _state(pid) not in ("Z", "?")


class Cli:
    """The installed `shoal` command, with a config dir (and so a session) of the test's own."""

    def __init__(self, cluster, config_dir: Path) -> None:
        self.cluster, self.config_dir = cluster, config_dir
        self.run_dir = config_dir / "run"

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "SHOAL_CONFIG_DIR": str(self.config_dir), "SHOAL_TLS_DIR": str(self.cluster.admin_dir),
               "SHOAL_MANAGER": self.cluster.manager_address, **extra}
        env.pop("SHOAL_SESSION", None)
        return {k: v for k, v in env.items() if v is not None}

    def __call__(self, *args: str, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([SHOAL, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                              env=self.env(**extra))

    def without_session(self, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        return self(*args, cwd=cwd, SHOAL_SESSION="off")

    def popen(self, *args: str) -> subprocess.Popen:
        # A process group of its own under ours, as a shell gives each job: job-control stops
        # (^Z) reach it even when the suite itself runs in an orphaned group (CI, nohup), where
        # the kernel would drop them.
        return subprocess.Popen([SHOAL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(),
                                cwd=ROOT, process_group=0)

    def session(self) -> int:
        """The session's pid, once the first command has started it and it listens."""
        self.socket_path()
        return poll(lambda: (lambda p: p[0] if len(p) == 1 else None)(_session_pids(self.run_dir)), 30,
                    what="one CLI session")

    def socket_path(self) -> Path:
        return poll(lambda: next(iter(self.run_dir.glob("session-*.sock")), None), 30, what="the session socket")


@pytest.fixture
def cli(cluster, shoal, tmp_path):
    c = Cli(cluster, tmp_path / "cfg")
    yield c
    for pid in _session_pids(c.run_dir):
        os.kill(pid, signal.SIGTERM)
    poll(lambda: not _session_pids(c.run_dir), 30, what="the test's CLI sessions to end")


def test_commands_print_and_exit_as_they_do_without_a_session(cli):
    first = cli("ps")                       # runs in its own process, and leaves a session
    assert first.returncode == 0, first.stderr
    cli.session()
    run = cli("run", "-d", "--name", "via-session", IMAGE, "sleep", "600")
    assert run.returncode == 0 and len(run.stdout.strip()) == 32, run.stderr
    for args in (("ps",), ("inspect", "via-session"), ("inspect", "no-such-container"), ("run", "--bogus", IMAGE),
                 ("node", "ls", "--format", "json"), ("--help",), ("stop", "no-such", "via-session")):
        with_session, without = cli(*args), cli.without_session(*args)
        if args[0] == "stop":   # stop acts: the second time the container is already stopped
            assert (with_session.returncode, with_session.stderr) == (1, without.stderr)
            continue
        assert (with_session.returncode, with_session.stdout, with_session.stderr) == \
            (without.returncode, without.stdout, without.stderr), args
    assert cli("inspect", "no-such-container").returncode == 1
    assert cli("run", "--bogus", IMAGE).returncode == 2


def test_a_command_runs_in_the_callers_directory_and_environment(cli, tmp_path):
    cli("--version")
    session = cli.session()
    certs = tmp_path / "elsewhere" / "certs"
    shutil.copytree(cli.cluster.admin_dir, certs)
    # A relative --tls-dir is the caller's; SHOAL_MANAGER comes from the caller's environment.
    r = cli("--tls-dir", "certs", "run", "-d", "--name", "from-cwd", IMAGE, "sleep", "600", cwd=tmp_path / "elsewhere")
    assert r.returncode == 0, r.stderr
    assert _session_pids(cli.run_dir) == [session]
    # Another caller, with no manager in its environment, gets the CLI's own error, not the first's.
    r = cli("ps", SHOAL_MANAGER=None)
    assert r.returncode == 1 and r.stderr.startswith("shoal: --manager: no manager address"), r.stderr
    assert _session_pids(cli.run_dir) == [session]


def test_the_command_is_a_child_of_the_session_and_takes_the_callers_signals(cli):
    """^Z and fg, then ^C: what the caller gets, its command gets."""
    cli("run", "-d", "--name", "talker", IMAGE, "sh", "-c", "while true; do echo tick; sleep 0.2; done")
    session = cli.session()
    follower = cli.popen("logs", "-f", "talker")
    try:
        assert follower.stdout.readline().strip() == b"tick"   # the session child writes to our pipe
        command = poll(lambda: _child_writing_to(session, _our_end(follower.stdout)), 10, what="the command in the session")
        follower.send_signal(signal.SIGTSTP)           # ^Z: the command stops with its caller
        poll(lambda: _state(command) == "T" and _state(follower.pid) == "T", 10, what="both stopped")
        follower.send_signal(signal.SIGCONT)           # fg
        poll(lambda: _state(command) in "RS" and _state(follower.pid) in "RS", 10, what="both running again")
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0   # `logs -f` ends quietly on ^C, as without a session
        poll(lambda: not _alive(command), 10, what="the command to end with its caller's ^C")
    finally:
        follower.kill()
        follower.wait()


def test_a_killed_caller_takes_its_command_with_it(cli):
    cli("run", "-d", "--name", "talker2", IMAGE, "sh", "-c", "while true; do echo tick; sleep 0.2; done")
    session = cli.session()
    follower = cli.popen("logs", "-f", "talker2")
    try:
        assert follower.stdout.readline().strip() == b"tick"
        command = poll(lambda: _child_writing_to(session, _our_end(follower.stdout)), 10, what="the command in the session")
        follower.kill()
        poll(lambda: not _alive(command), 10, what="the command to end with its killed caller")
    finally:
        follower.kill()
        follower.wait()


def _ask(path: Path, req: wire.Request) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendmsg([wire.encode_request(req)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                 b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2)))])
        return s.recv(wire.REPLY_SIZE)


def _identity_request(**over) -> wire.Request:
    """What the session's own client would send (the `shoal` script's interpreter, module path
    and process context)."""
    code = ("import sys; from shoal.cli.launch import process_context; print(sys.executable); "
            "print(process_context().decode()); print(*sys.path[1:], sep='\\n')")
    out = subprocess.run([SHOAL.read_text().splitlines()[0][2:], "-c", code], capture_output=True, text=True,
                         check=True, cwd="/").stdout.splitlines()
    env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items() if k.startswith(("PYTHON", "GRPC_"))}
    fields = dict(executable=os.fsencode(out[0]), context=os.fsencode(out[1]), path=[os.fsencode(p) for p in out[2:]],
                  cwd=b"/", umask=0o022, argv=[b"shoal", b"--version"], env=env)
    fields.update(over)
    return wire.Request(**fields)


def test_the_session_refuses_another_interpreter_path_context_or_python_settings(cli):
    cli("--version")
    cli.session()
    path = cli.socket_path()
    assert wire.parse_reply(_ask(path, _identity_request()))[0] == wire.STARTED   # the control
    assert _ask(path, _identity_request(executable=b"/usr/bin/python3")) == wire.reply(wire.REFUSED, wire.NOT_YOURS)
    assert _ask(path, _identity_request(path=[b"/elsewhere"])) == wire.reply(wire.REFUSED, wire.NOT_YOURS)
    assert _ask(path, _identity_request(context=b"net:[1] gid:0:0")) == wire.reply(wire.REFUSED, wire.NOT_YOURS)
    ident = _identity_request()
    assert _ask(path, _identity_request(env={**ident.env, b"PYTHONWARNINGS": b"error"})) == wire.reply(wire.REFUSED, wire.NOT_YOURS)
    # Refused, the command still runs: in the caller's own process; and the session stays the only one.
    session = cli.session()
    r = cli("--version", PYTHONWARNINGS="ignore")
    assert r.returncode == 0 and "shoal" in r.stdout
    assert _session_pids(cli.run_dir) == [session]


def test_only_the_sessions_user_is_served(cluster, shoal):
    # Outside pytest's private tmp dir: another user must be able to reach the socket's directory.
    base = Path(tempfile.mkdtemp(prefix="shoal-session-uid-"))
    own = Cli(cluster, base / "cfg")
    try:
        base.chmod(0o711)
        own("--version")
        own.session()
        path = own.socket_path()
        # Open the way for another user, as a mistaken chmod would; the peer check still holds.
        (base / "cfg").chmod(0o711)
        own.run_dir.chmod(0o711)
        path.chmod(0o666)
        # A request the session would serve (the control below): only the peer's uid is wrong.
        request = wire.encode_request(_identity_request()).hex()
        probe = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
                 "try:\n"
                 "    s.sendmsg([bytes.fromhex(sys.argv[2])], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, "
                 "b''.join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2)))])\n"
                 "    print('answered' if s.recv(5) else 'closed')\n"
                 "except (BrokenPipeError, ConnectionResetError): print('closed')")
        r = subprocess.run(["/usr/bin/python3", "-I", "-c", probe, str(path), request], capture_output=True,
                           text=True, timeout=30, user=65534, group=65534, cwd="/")
        assert r.returncode == 0 and r.stdout.strip() == "closed", (r.stdout, r.stderr)
        assert wire.parse_reply(_ask(path, _identity_request()))[0] == wire.STARTED   # the control, as root
    finally:
        for pid in _session_pids(own.run_dir):
            os.kill(pid, signal.SIGTERM)
        shutil.rmtree(base, ignore_errors=True)


def test_a_session_ends_when_idle_or_when_its_socket_goes(cli):
    cli.run_dir.mkdir(parents=True, mode=0o700)
    sock = cli.run_dir / "session-test.sock"
    idle = subprocess.Popen([sys.executable, "-P", "-m", "shoal.cli.session_server", "--idle", "1", str(sock)],
                            cwd="/", env=cli.env())
    try:
        poll(lambda: sock.exists(), 60, what="the session socket")
        assert idle.wait(timeout=60) == 0 and not sock.exists()
    finally:
        idle.kill()
    cli("--version")
    session = cli.session()
    cli.socket_path().unlink()
    poll(lambda: not _alive(session), 30, what="the session to end once its socket is gone")


def test_a_session_whose_code_changed_refuses_and_ends_and_the_next_is_fresh(cli):
    """Its running command finishes in it; the next session starts at once, not after it."""
    import sysconfig

    cli("run", "-d", "--name", "talker3", IMAGE, "sh", "-c", "while true; do echo tick; sleep 0.2; done")
    first = cli.session()
    follower = cli.popen("logs", "-f", "talker3")
    site = Path(sysconfig.get_paths()["purelib"])
    st = site.stat()
    try:
        assert follower.stdout.readline().strip() == b"tick"
        # What an install or upgrade does to site-packages; the time only, nothing in it changes.
        os.utime(site, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        r = cli("--version")
        assert r.returncode == 0 and "shoal" in r.stdout   # refused, and run in the caller's process
        second = poll(lambda: next((p for p in _session_pids(cli.run_dir) if p != first), None), 30,
                      what="a fresh session while the old one's command still runs")
        assert _alive(first) and follower.poll() is None
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0           # its exit status came from the old session
        poll(lambda: not _alive(first), 30, what="the stale session to end")
        assert _session_pids(cli.run_dir) == [second]
    finally:
        os.utime(site, ns=(st.st_atime_ns, st.st_mtime_ns))
        follower.kill()
        follower.wait()


def test_the_next_command_runs_in_a_spare_made_ahead_with_its_channel_open(cli):
    cli("ps")
    session = cli.session()
    assert cli("ps").returncode == 0          # the session's first command: its spare follows
    spare = poll(lambda: _child_writing_to(session, "/dev/null"), 10, what="a spare process")
    # Made ahead for a command like the last one: connected to the manager before it is asked.
    manager_port = int(cli.cluster.manager_address.rsplit(":", 1)[1])
    poll(lambda: _connected_to(spare, manager_port), 10, what="the spare's connection to the manager")
    kind, pid = wire.parse_reply(_ask(cli.socket_path(), _identity_request()))
    assert (kind, pid) == (wire.STARTED, spare)


def _connected_to(pid: int, port: int) -> bool:
    """Whether pid holds an established TCP connection to `port` (from /proc/PID/net/tcp and its fds)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                return True
    return False


def test_a_prepared_channel_is_used_only_for_the_same_manager_and_credentials(cluster):
    from shoal import client

    creds = cluster.admin_credentials()
    address = cluster.manager_address
    client.prepare(address, creds)
    prepared = client._prepared[2]
    assert client.connect(address, creds)[0] is prepared and client._prepared is None
    client.prepare(address, creds)
    prepared = client._prepared[2]
    other = client.connect(address, None)[0]   # another caller: --insecure
    assert other is not prepared and client._prepared is None
    other.close()
    # A manager that cannot be reached: the prepared channel fails, and a new one is made.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"127.0.0.1:{closed.getsockname()[1]}"
        client.prepare(unreachable, creds)
        prepared = client._prepared[2]
        poll(lambda: client._connectivity(prepared, False) == grpc.ChannelConnectivity.TRANSIENT_FAILURE, 10,
             what="the prepared channel to fail")
        fresh = client.connect(unreachable, creds)[0]
        assert fresh is not prepared
        fresh.close()


def test_callers_that_vanish_at_once_leave_the_session_serving(cli):
    """Each caller hangs up as soon as its command started: the command is ended (SIGTERM, maybe
    before it is ready for it) and the session goes on."""
    cli("--version")
    session = cli.session()
    path = cli.socket_path()
    for _ in range(50):
        assert wire.parse_reply(_ask(path, _identity_request()))[0] == wire.STARTED
    poll(lambda: len(_children(session)) <= 1, 30, what="the hung-up commands to end (the spare stays)")
    r = cli("--version")
    assert r.returncode == 0 and "shoal" in r.stdout
    assert _session_pids(cli.run_dir) == [session] and path.exists()


def test_a_caller_in_another_network_namespace_is_not_served_from_the_sessions(cli):
    """The session's children live in its namespaces: a caller in another network namespace (one
    with only a loopback, made here) must get the answer its own namespace gives."""
    cli("--version")
    session = cli.session()
    assert cli("node", "ls").returncode == 0   # the manager is reachable from here
    ns = f"shoal-session-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, str(SHOAL), "node", "ls"], capture_output=True, text=True,
                           timeout=120, cwd=ROOT, env=cli.env())
        assert r.returncode == 1 and "unreachable" in r.stderr, (r.returncode, r.stderr)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)
    assert _session_pids(cli.run_dir) == [session]


SETPRIV = shutil.which("setpriv") or "setpriv"
ALL_CAPABILITIES_DROPPED = ("--bounding-set=-all", "--inh-caps=-all")


def test_a_root_caller_with_its_capabilities_dropped_reads_no_more_through_the_session(cli, tmp_path):
    """Issue 14, finding 8: another user's 0600 admin credentials, in the context a root caller
    with every capability dropped points at, were read for it by the session (which has them)."""
    from shoal.pki.cluster_files import context_doc

    theirs = tmp_path / "theirs"
    shutil.copytree(cli.cluster.admin_dir, theirs)
    for f in (theirs, *theirs.iterdir()):
        os.chown(f, 65534, 65534)
        f.chmod(0o755 if f.is_dir() else 0o600)
    cli.config_dir.mkdir(mode=0o700)
    (cli.config_dir / "context.json").write_text(json.dumps(context_doc(cli.cluster.manager_address, theirs)))
    cli("--version")
    session = cli.session()
    # The control: full root reads them, in the session, and the manager takes them.
    assert cli("node", "ls", SHOAL_TLS_DIR=None).returncode == 0
    argv = [SETPRIV, *ALL_CAPABILITIES_DROPPED, str(SHOAL), "node", "ls"]
    confined = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env=cli.env(SHOAL_TLS_DIR=None))
    alone = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
                           env=cli.env(SHOAL_TLS_DIR=None, SHOAL_SESSION="off"))
    assert confined.returncode == 1 and "Permission denied" in confined.stderr, (confined.returncode, confined.stderr)
    assert (confined.returncode, confined.stdout, confined.stderr) == (alone.returncode, alone.stdout, alone.stderr)
    assert _session_pids(cli.run_dir) == [session]   # refused, it started none of its own either


@pytest.mark.parametrize("options", [ALL_CAPABILITIES_DROPPED, ("--no-new-privs",)], ids=["caps-dropped", "no-new-privs"])
def test_a_confined_caller_runs_its_command_in_its_own_process(cli, options):
    """Followed by its own process: the manager's connection is the caller's, and no child of the
    session writes to the caller's pipe."""
    name = f"talker-{options[0].strip('-').partition('=')[0]}"
    cli("run", "-d", "--name", name, IMAGE, "sh", "-c", "while true; do echo tick; sleep 0.2; done")
    session = cli.session()
    follower = subprocess.Popen([SETPRIV, *options, str(SHOAL), "logs", "-f", name], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=cli.env(), cwd=ROOT)
    try:
        assert follower.stdout.readline().strip() == b"tick"
        manager_port = int(cli.cluster.manager_address.rsplit(":", 1)[1])
        poll(lambda: _connected_to(follower.pid, manager_port), 10, what="the caller's own connection to the manager")
        assert _child_writing_to(session, _our_end(follower.stdout)) is None
        assert _session_pids(cli.run_dir) == [session]
    finally:
        follower.kill()
        follower.wait()


def _probe(path: Path, req: wire.Request, *wrapper: str) -> str:
    """Sends `req` from a process of its own (run under `wrapper`): what the session answered.
    The command, if started, gets /dev/null for its stdin, stdout and stderr, not our pipe."""
    probe = ("import os, socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
             "null = os.open(os.devnull, os.O_RDWR)\n"
             "s.sendmsg([bytes.fromhex(sys.argv[2])], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, "
             "null.to_bytes(4, sys.byteorder) * 3)])\n"
             "print(s.recv(5).hex())")
    r = subprocess.run([*wrapper, "/usr/bin/python3", "-I", "-c", probe, str(path), wire.encode_request(req).hex()],
                       check=False, capture_output=True, text=True, timeout=30, cwd="/", stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_the_session_reads_the_callers_confinement_rather_than_taking_its_word(cli):
    """A confined process that speaks to the socket itself, claiming the session's own context."""
    cli("--version")
    cli.session()
    path = cli.socket_path()
    assert wire.parse_reply(bytes.fromhex(_probe(path, _identity_request())))[0] == wire.STARTED   # the control
    refused = wire.reply(wire.REFUSED, wire.NOT_YOURS).hex()
    assert _probe(path, _identity_request(), SETPRIV, *ALL_CAPABILITIES_DROPPED) == refused
    assert _probe(path, _identity_request(), SETPRIV, "--no-new-privs") == refused


def _cgroup_v2() -> tuple[Path, str] | None:
    """(its directory, its path) of our cgroup in the cgroup2 hierarchy (pure v2, or hybrid's
    unified tree), if one is mounted."""
    own = next((line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::")), None)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if own is not None and fields[fields.index("-") + 1] == "cgroup2":
            return Path(fields[4], os.path.relpath(own, fields[3])), own
    return None


def test_a_caller_in_another_cgroup_gets_a_session_of_its_own(cli):
    """Another cgroup may carry other limits: the first session refuses such a caller, whose own
    `shoal` finds (and starts) a session in its cgroup."""
    found = _cgroup_v2()
    if found is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    parent, own = found
    cli("--version")
    first = cli.session()
    first_socket = cli.socket_path()
    cgroup = parent / f"shoal-session-test-{os.getpid()}"
    cgroup.mkdir()
    enter = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh"]
    try:
        assert _probe(first_socket, _identity_request(), *enter) == wire.reply(wire.REFUSED, wire.NOT_YOURS).hex()
        r = subprocess.run([*enter, str(SHOAL), "--version"], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
                           env=cli.env())
        assert r.returncode == 0 and "shoal" in r.stdout, r.stderr
        second = poll(lambda: next((p for p in _session_pids(cli.run_dir) if p != first), None), 30,
                      what="a session in the other cgroup")
        assert "0::" + os.path.join(own, cgroup.name) in Path(f"/proc/{second}/cgroup").read_text().splitlines()
        poll(lambda: len(list(cli.run_dir.glob("session-*.sock"))) == 2, 30, what="the second session's socket")
        assert first_socket.exists() and _session_pids(cli.run_dir) == sorted([first, second])
    finally:
        for pid in _session_pids(cli.run_dir):
            if pid != first:
                os.kill(pid, signal.SIGTERM)
        poll(lambda: not (cgroup / "cgroup.procs").read_text().strip(), 30, what="the other cgroup to empty")
        cgroup.rmdir()
