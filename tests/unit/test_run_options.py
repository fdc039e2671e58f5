"""The isolation, runtime and reservation flags of `docker run`, table by table: what the CLI
makes of each flag, what the agent asks the engine for, and every bad value refused with its flag."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from google.protobuf import json_format

from shoal.agent.convert import spec_from_proto
from shoal.agent.runtime.translate import create_kwargs
from shoal.cli import run_options
from shoal.manager.validation import InvalidField, check_spec
from shoal.protos.shoal.v1 import types_pb2

AGENT_DNS = ("10.213.7.1",)
AGENT_SEARCH = ("shoal.internal",)


def parsed(*flags: str) -> types_pb2.ContainerSpec:
    """The spec `shoal run FLAGS img` sends, through the real click options."""
    out = {}

    @click.command()
    @run_options.run_options
    def cmd(**options):
        spec = types_pb2.ContainerSpec(image="img")
        run_options.apply(spec, run_options.pop(options))
        out["spec"] = spec

    result = CliRunner().invoke(cmd, list(flags), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out["spec"]


def engine_kwargs(spec: types_pb2.ContainerSpec) -> dict:
    return create_kwargs("c" * 24, "web", "n1", spec_from_proto(spec), dns=AGENT_DNS, dns_search=AGENT_SEARCH)


# (flags, the spec fields they set, docker-py create() arguments they become)
TABLE = [
    (["--user", "nobody"], {"user": "nobody"}, {"user": "nobody"}),
    (["-u", "1000:1000"], {"user": "1000:1000"}, {"user": "1000:1000"}),
    (["--group-add", "audio", "--group-add", "44"], {"group_add": ["audio", "44"]}, {"group_add": ["audio", "44"]}),
    (["--cap-add", "NET_ADMIN", "--cap-drop", "ALL"], {"cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"]},
     {"cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"]}),
    (["--privileged"], {"privileged": True}, {"privileged": True}),
    (["--read-only"], {"read_only": True}, {"read_only": True}),
    (["--security-opt", "no-new-privileges"], {"security_opt": ["no-new-privileges"]},
     {"security_opt": ["no-new-privileges"]}),
    (["--security-opt", "seccomp=unconfined"], {"security_opt": ["seccomp=unconfined"]},
     {"security_opt": ["seccomp=unconfined"]}),
    (["--hostname", "db-1"], {"hostname": "db-1"}, {"hostname": "db-1"}),
    (["--dns", "10.0.0.2"], {"dns": ["10.0.0.2"]}, {"dns": ["10.0.0.2"]}),
    (["--dns-search", "example.internal"], {"dns_search": ["example.internal"]},
     {"dns": list(AGENT_DNS), "dns_search": ["example.internal", *AGENT_SEARCH]}),
    (["--dns", "10.0.0.2", "--dns-search", "ex.internal"], {"dns": ["10.0.0.2"], "dns_search": ["ex.internal"]},
     {"dns": ["10.0.0.2"], "dns_search": ["ex.internal"]}),
    (["--dns-option", "ndots:2"], {"dns_option": ["ndots:2"]}, {"dns_opt": ["ndots:2"]}),
    (["--add-host", "db:10.1.2.3", "--add-host", "api=10.1.2.4"], {"extra_hosts": ["db:10.1.2.3", "api:10.1.2.4"]},
     {"extra_hosts": ["db:10.1.2.3", "api:10.1.2.4"]}),
    (["-w", "/srv"], {"workdir": "/srv"}, {"working_dir": "/srv"}),
    (["--entrypoint", "/bin/sh"], {"entrypoint": ["/bin/sh"]}, {"entrypoint": ["/bin/sh"]}),
    (["--init"], {"init": True}, {"init": True}),
    (["--stop-signal", "SIGQUIT"], {"stop_signal": "SIGQUIT"}, {"stop_signal": "SIGQUIT"}),
    (["-c", "512", "--cpuset-cpus", "0-1"], {"cpu_shares": "512", "cpuset_cpus": "0-1"},
     {"cpu_shares": 512, "cpuset_cpus": "0-1"}),
    (["--pids-limit", "100"], {"pids_limit": "100"}, {"pids_limit": 100}),
    (["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=unlimited"],
     {"ulimits": [{"name": "nofile", "soft": "1024", "hard": "2048"}, {"name": "nproc", "soft": "-1", "hard": "-1"}]},
     {"ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": -1, "Hard": -1}]}),
    (["--sysctl", "net.core.somaxconn=1024"], {"sysctls": {"net.core.somaxconn": "1024"}},
     {"sysctls": {"net.core.somaxconn": "1024"}}),
    (["--shm-size", "128m"], {"shm_size_bytes": str(128 << 20)}, {"shm_size": 128 << 20}),
    (["--tmpfs", "/tmp", "--tmpfs", "/run:size=64m,mode=1770,noexec"],
     {"tmpfs": [{"target": "/tmp"}, {"target": "/run", "size_bytes": str(64 << 20), "mode": 0o1770,
                                     "options": ["noexec"]}]},
     {"tmpfs": {"/tmp": "", "/run": f"noexec,size={64 << 20},mode=1770"}}),
    (["--ipc", "host", "--pid", "host"], {"ipc": "host", "pid": "host"}, {"ipc_mode": "host", "pid_mode": "host"}),
    (["--reserve-memory", "64m"], {"reserve_memory_bytes": str(64 << 20)}, {"mem_reservation": 64 << 20}),
    (["--reserve-cpus", "0.25"], {"reserve_nano_cpus": str(250_000_000)}, {}),
    (["-p", "127.0.0.1:8080:80/udp"],
     {"ports": [{"host_port": 8080, "container_port": 80, "protocol": "udp", "host_ip": "127.0.0.1"}]},
     {"ports": {"80/udp": ("127.0.0.1", 8080)}}),
    (["-p", "[::1]::53"], {"ports": [{"container_port": 53, "protocol": "tcp", "host_ip": "::1"}]},
     {"ports": {"53/tcp": ("::1", None)}}),
    (["-p", "8000-8001:80-81", "-p", "9090"],
     {"ports": [{"host_port": 8000, "container_port": 80, "protocol": "tcp"},
                {"host_port": 8001, "container_port": 81, "protocol": "tcp"},
                {"container_port": 9090, "protocol": "tcp"}]},
     {"ports": {"80/tcp": 8000, "81/tcp": 8001, "9090/tcp": None}}),
    (["-p", "8080:80", "-p", "10.0.0.1:8081:80"],
     {"ports": [{"host_port": 8080, "container_port": 80, "protocol": "tcp"},
                {"host_port": 8081, "container_port": 80, "protocol": "tcp", "host_ip": "10.0.0.1"}]},
     {"ports": {"80/tcp": [8080, ("10.0.0.1", 8081)]}}),
    (["-P", "--expose", "7000-7001/udp", "--expose", "9000"],
     {"publish_all": True, "expose": ["7000/udp", "7001/udp", "9000/tcp"]}, {"publish_all_ports": True}),
    (["--platform", "linux/arm64/v8"], {"platform": "linux/arm64/v8"}, {"platform": "linux/arm64/v8"}),
]


@pytest.mark.parametrize("flags,fields,engine", TABLE, ids=[" ".join(row[0]) for row in TABLE])
def test_a_flag_sets_its_field_and_reaches_the_engine_as_docker_takes_it(flags, fields, engine):
    spec = parsed(*flags)
    doc = json_format.MessageToDict(spec, preserving_proto_field_name=True)
    doc.pop("image")
    assert doc == fields
    check_spec(spec)   # every row is a valid spec
    kwargs = engine_kwargs(spec)
    for key, value in engine.items():
        assert kwargs[key] == value, key


def test_nothing_given_asks_the_engine_for_nothing_new():
    kwargs = engine_kwargs(types_pb2.ContainerSpec(image="img"))
    assert set(kwargs) == {"image", "name", "labels", "environment", "detach", "dns", "dns_search"}
    assert (kwargs["dns"], kwargs["dns_search"]) == (list(AGENT_DNS), list(AGENT_SEARCH))


def test_the_engine_takes_every_argument_we_make():
    """docker-py refuses an argument it does not know: a typo in the translation fails here, not on a node."""
    from docker.models.containers import _create_container_args
    spec = types_pb2.ContainerSpec(image="img")
    for flags, _, _ in TABLE:
        spec.MergeFrom(parsed(*flags))
    del spec.dns[:]
    kwargs = dict(engine_kwargs(spec), version="1.43")   # the API version dockerd 24 (Debian 12's) speaks
    args = _create_container_args(kwargs)
    host = args["host_config"]
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"] and host["Init"] is True
    assert host["MemoryReservation"] == 64 << 20 and host["ShmSize"] == 128 << 20
    assert args["user"] == "1000:1000" and args["working_dir"] == "/srv"


def test_seccomp_file_is_read_by_the_cli_and_sent_as_json(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW"}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile, indent=2))
    spec = parsed("--security-opt", f"seccomp={path}")
    assert spec.security_opt == ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']
    check_spec(spec)


def test_update_leaves_what_was_not_given_and_replaces_a_repeated_flag():
    spec = types_pb2.ContainerSpec(image="img", user="nobody", read_only=True, cap_drop=["ALL"], dns=["10.0.0.2"])
    opts = {name: None for name in run_options.NAMES}
    opts.update(cap_drop=("NET_RAW",), read_only=False)
    run_options.apply(spec, opts)
    assert (spec.user, spec.read_only, list(spec.cap_drop), list(spec.dns)) == ("nobody", False, ["NET_RAW"], ["10.0.0.2"])


BAD = [
    ({"user": "no body"}, '--user: "no body" is not USER[:GROUP] or UID[:GID]'),
    ({"group_add": ["a b"]}, '--group-add: "a b" is not a group name or GID'),
    ({"cap_add": ["NET_ADMN"]}, '--cap-add: "NET_ADMN" is not a Linux capability (e.g. CHOWN, NET_ADMIN, ALL)'),
    ({"cap_drop": ["chowner"]}, '--cap-drop: "chowner" is not a Linux capability (e.g. CHOWN, NET_ADMIN, ALL)'),
    ({"security_opt": ["no-new-privileges:maybe"]}, "--security-opt: no-new-privileges takes true or false, not \"maybe\""),
    ({"security_opt": ["seccomp=/etc/profile.json"]}, "--security-opt: seccomp= takes unconfined or a JSON profile"),
    ({"security_opt": ["selinux=on"]}, '--security-opt: "selinux=on" is not no-new-privileges'),
    ({"hostname": "-db"}, '--hostname: "-db" is not a host name (RFC 1123)'),
    ({"dns": ["dns.example"]}, '--dns: "dns.example" is not an IP address'),
    ({"dns_search": ["bad_domain!"]}, '--dns-search: "bad_domain!" is not a domain name'),
    ({"dns_option": ["nd ots"]}, '--dns-option: "nd ots" is not a resolver option (e.g. ndots:2)'),
    ({"extra_hosts": ["db"]}, '--add-host: "db" is not NAME:IP'),
    ({"extra_hosts": ["db:10.0.0"]}, '--add-host: "db:10.0.0": "10.0.0" is not an IP address'),
    ({"workdir": "srv"}, '--workdir: "srv" is not an absolute path'),
    ({"stop_signal": "SIG TERM"}, '--stop-signal: "SIG TERM" is not a signal'),
    ({"stop_signal": "99"}, "--stop-signal: 99 is not a signal number (1-64)"),
    ({"cpu_shares": -1}, "--cpu-shares: must be from 0 to 262144"),
    ({"cpuset_cpus": "0-"}, '--cpuset-cpus: "0-" is not a CPU list (0-3, 0,2)'),
    ({"cpuset_cpus": "3-1"}, '--cpuset-cpus: "3-1" is not a range of CPUs 0-1023'),
    ({"pids_limit": -2}, "--pids-limit: must be -1 (unlimited) or from 0 to 4194304"),
    ({"shm_size_bytes": -1}, "--shm-size: is out of range (0 to 1p)"),
    ({"ulimits": [types_pb2.Ulimit(name="files", soft=1, hard=1)]}, '--ulimit: "files" is not a ulimit'),
    ({"ulimits": [types_pb2.Ulimit(name="nofile", soft=10, hard=5)]},
     "--ulimit: nofile: the soft limit 10 is above the hard limit 5"),
    ({"ulimits": [types_pb2.Ulimit(name="nofile", soft=1, hard=1)] * 2}, "--ulimit: nofile is given twice"),
    ({"sysctls": {"vm.swappiness": "10"}}, "--sysctl: vm.swappiness is not namespaced: it would change the host"),
    ({"sysctls": {"net.core.somaxconn": ""}}, "--sysctl: net.core.somaxconn: the value must be 1-256 printable"),
    ({"tmpfs": [types_pb2.TmpfsMount(target="tmp")]}, '--tmpfs: "tmp" is not an absolute path other than /'),
    ({"tmpfs": [types_pb2.TmpfsMount(target="/t"), types_pb2.TmpfsMount(target="/t/")]}, "--tmpfs: /t/ is mounted twice"),
    ({"tmpfs": [types_pb2.TmpfsMount(target="/t", options=["exec=1"])]}, '--tmpfs: /t: "exec=1" is not a tmpfs option'),
    ({"ipc": "shared"}, '--ipc: "shared" is not one of private, shareable, host'),
    ({"pid": "container:db"}, '--pid: "container:db" is not host'),
    ({"memory_bytes": 64 << 20, "reserve_memory_bytes": 128 << 20},
     "--reserve-memory: 128 MiB is more than the limit --memory 64 MiB"),
    ({"reserve_memory_bytes": 1024}, "--reserve-memory: 1024 bytes is out of range (minimum 6m, maximum 1p)"),
    ({"nano_cpus": 500_000_000, "reserve_nano_cpus": 10**9}, "--reserve-cpus: 1 is more than the limit --cpus 0.5"),
    ({"group_add": ["g"] * 33}, "--group-add: at most 32"),
    ({"restart": "sometimes"}, '--restart: "sometimes" is not one of no, always, on-failure, unless-stopped'),
    ({"restart": "always", "restart_max_retries": 3}, "--restart: a maximum retry count goes only with on-failure"),
    ({"restart": "on-failure", "restart_max_retries": 10_001}, "--restart: on-failure:N takes N from 0 to 10000"),
    ({"ports": [types_pb2.PortMapping(container_port=80, protocol="tcp", host_ip="10.0.0")]},
     '--publish: "10.0.0" is not an IP address'),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=80, protocol="tcp"),
                types_pb2.PortMapping(host_port=80, container_port=81, protocol="tcp", host_ip="127.0.0.1")]},
     "--publish: host port 80/tcp is published twice"),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=80, protocol="tcp", host_ip="127.0.0.1")] * 2},
     "--publish: host port 80/tcp is published twice"),
    ({"expose": ["80"]}, '--expose: "80" is not PORT/tcp or PORT/udp (1-65535)'),
    ({"expose": ["70000/tcp"]}, '--expose: "70000/tcp" is not PORT/tcp or PORT/udp (1-65535)'),
    ({"pull": "sometimes"}, '--pull: "sometimes" is not one of always, missing, never'),
    ({"platform": "Linux AMD64"}, '--platform: "Linux AMD64" is not OS[/ARCH[/VARIANT]] (e.g. linux/amd64)'),
]


@pytest.mark.parametrize("fields,message", BAD, ids=[row[1][:50] for row in BAD])
def test_a_bad_value_is_refused_in_one_line_naming_its_flag(fields, message):
    with pytest.raises(InvalidField) as caught:
        check_spec(types_pb2.ContainerSpec(image="img", **fields))
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("flags,message", [
    (["--ulimit", "nofile"], '--ulimit: "nofile" is not NAME=SOFT[:HARD]'),
    (["--ulimit", "nofile=x"], '--ulimit: "nofile=x": "x" is not a number or unlimited'),
    (["--tmpfs", "/run:size=lots"], "--tmpfs: "),
    (["--tmpfs", "/run:sync"], '--tmpfs: "/run:sync": "sync" is not a tmpfs option'),
    (["--tmpfs", "run"], '--tmpfs: "run": the path must be absolute'),
    (["--add-host", "db"], '--add-host: "db" is not NAME:IP'),
    (["--sysctl", "net.x"], '--sysctl: "net.x" is not NAME=VALUE'),
    (["--pids-limit", "many"], '--pids-limit: "many" is not a whole number'),
    (["--reserve-memory", "12x"], '--reserve-memory: "12x" is not a size'),
    (["--restart", "always:3"], '--restart: "always:3": only on-failure takes a maximum retry count'),
    (["--restart", "on-failure:x"], '--restart: "on-failure:x": "x" is not a number of retries'),
    (["--restart", "never"], '--restart: "never" is not one of no, always, on-failure, unless-stopped'),
    (["-p", "8000-8002:80-81"], '--publish: "8000-8002:80-81": the host ports (3) and the container ports (2) must be'),
    (["-p", "8000-8002:80"], '--publish: "8000-8002:80": a host port range for one container port'),
    (["-p", "1.2.3:80:80"], '--publish: "1.2.3:80:80": "1.2.3" is not an IP address'),
    (["--expose", "8080:80"], '--expose: "8080:80" is not PORT[/tcp|/udp]'),
    (["--pull", "sometimes"], "--pull: "),
])

def test_the_cli_refuses_what_it_cannot_parse_with_exit_2(flags, message):
    from tests.unit.test_cli_errors import shoal
    r = shoal("run", *flags, "img")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shoal: " + message), r.stderr


@pytest.mark.parametrize("flag,policy", [
    ("always", {"Name": "always", "MaximumRetryCount": 0}),
    ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
    ("on-failure", {"Name": "on-failure", "MaximumRetryCount": 0}),
    ("on-failure:3", {"Name": "on-failure", "MaximumRetryCount": 3}),
    ("no", None),
])
def test_restart_is_the_engines_own_policy(flag, policy):
    from shoal.run_flags import parse_restart
    spec = types_pb2.ContainerSpec(image="img")
    spec.restart, spec.restart_max_retries = parse_restart(flag)
    check_spec(spec)
    assert engine_kwargs(spec).get("restart_policy") == policy


def test_a_service_task_takes_no_engine_restart_policy():
    from shoal.manager.validation import check_service
    spec = types_pb2.ServiceSpec(name="web", mode="replicated", replicas=1,
                                 task=types_pb2.ContainerSpec(image="img", restart="always"))
    with pytest.raises(InvalidField) as caught:
        check_service(spec)
    assert str(caught.value).startswith("--restart: a service's tasks are restarted by the cluster")


@pytest.mark.parametrize("fields,engine", [
    ({"devices": ["/dev/null:/dev/xnull"]}, {"devices": ["/dev/null:/dev/xnull"]}),
    ({"devices": ["/dev/fuse", "/dev/net/tun:rwm", "/dev/sda:/dev/xvda:r"]},
     {"devices": ["/dev/fuse", "/dev/net/tun:rwm", "/dev/sda:/dev/xvda:r"]}),
    ({"network_mode": "host"}, {"network_mode": "host"}),
    ({"network_mode": "none"}, {"network_mode": "none"}),
])
def test_devices_and_network_modes_reach_the_engine(fields, engine):
    spec = types_pb2.ContainerSpec(image="img", **fields)
    check_spec(spec)
    kwargs = engine_kwargs(spec)
    for key, value in engine.items():
        assert kwargs[key] == value
    if "network_mode" in fields:
        assert "dns" not in kwargs   # the cluster's resolver is the container network's


def test_shared_namespaces_and_volumes_go_by_engine_id():
    from shoal.agent.runtime.translate import shared_with
    spec = types_pb2.ContainerSpec(image="img", ipc="container:db", ipc_container="a" * 32,
                                   volumes_from=["db:ro"], volumes_from_ids=["a" * 32 + ":ro"])
    check_spec(spec)
    o = spec_from_proto(spec).options
    kwargs = shared_with(engine_kwargs(spec), o, {"a" * 32: "e" * 64}.__getitem__)
    assert kwargs["ipc_mode"] == "container:" + "e" * 64 and kwargs["volumes_from"] == ["e" * 64 + ":ro"]


@pytest.mark.parametrize("fields,message", [
    ({"devices": ["/tmp/x"]}, '--device: "/tmp/x" is not /dev/HOST[:/CONTAINER][:rwm]'),
    ({"devices": ["/dev/sda:/dev/x:rwx"]}, '--device: "/dev/sda:/dev/x:rwx" is not'),
    ({"devices": ["/dev/sda:rel"]}, '--device: "/dev/sda:rel" is not'),
    ({"network_mode": "bridge"}, '--network: "bridge" is not host or none'),
    ({"network_mode": "host", "networks": ["front"]}, "--network: host cannot be combined with overlay networks"),
    ({"network_mode": "host", "ports": [types_pb2.PortMapping(container_port=80, protocol="tcp")]},
     "--publish: nothing can be published with --network host"),
    ({"network_mode": "none", "dns": ["10.0.0.1"]}, "--dns: a container with --network none resolves nothing"),
    ({"stop_timeout": 3601}, "--stop-timeout: must be from 0 to 3600 seconds"),
    ({"volumes_from": ["db:rx"]}, '--volumes-from: "db:rx" is not CONTAINER[:ro|rw]'),
    ({"ipc": "container:"}, '--ipc: "container:" is not one of private, shareable, host or container:NAME'),
])
def test_bad_devices_networks_and_sharing_are_refused(fields, message):
    with pytest.raises(InvalidField) as caught:
        check_spec(types_pb2.ContainerSpec(image="img", **fields))
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_service_cannot_share_a_containers_namespace_or_volumes():
    from shoal.manager.validation import check_service
    for task in (types_pb2.ContainerSpec(image="img", ipc="container:db"),
                 types_pb2.ContainerSpec(image="img", volumes_from=["db"])):
        with pytest.raises(InvalidField) as caught:
            check_service(types_pb2.ServiceSpec(name="web", mode="replicated", replicas=1, task=task))
        assert "a service's tasks cannot share another container's namespace or volumes" in str(caught.value)


def test_specific_host_ips_on_one_port_are_valid_together():
    check_spec(types_pb2.ContainerSpec(image="img", ports=[
        types_pb2.PortMapping(host_port=80, container_port=80, protocol="tcp", host_ip="127.0.0.1"),
        types_pb2.PortMapping(host_port=80, container_port=81, protocol="tcp", host_ip="10.0.0.1"),
        types_pb2.PortMapping(host_port=80, container_port=82, protocol="udp")]))


def test_expose_reaches_the_engine_as_exposed_ports_only():
    from shoal.agent.runtime.translate import exposed_ports
    spec = spec_from_proto(parsed("--expose", "7000/udp", "-p", "8080:80"))
    assert exposed_ports(spec) == [("7000", "udp"), ("80", "tcp")]
    assert "ports" not in engine_kwargs(parsed("--expose", "7000"))   # exposed, not published


def test_pull_policy_is_run_only_and_reaches_the_agent():
    out = {}

    @click.command()
    @run_options.run_options
    @run_options.run_only_options
    def cmd(**options):
        spec = types_pb2.ContainerSpec(image="img")
        run_options.apply(spec, run_options.pop(options))
        out["spec"] = spec

    assert CliRunner().invoke(cmd, ["--pull", "never"]).exit_code == 0
    assert out["spec"].pull == "never" and spec_from_proto(out["spec"]).options.pull == "never"
    check_spec(out["spec"])


def test_env_file_and_label_file_are_read_as_docker_reads_them_and_the_flags_win(tmp_path, monkeypatch):
    env = tmp_path / "app.env"
    env.write_bytes(b"# comment\n\nA=1\nB= spaced \"quoted\" \nFROM_SHELL\nUNSET_HERE\nC=x=y\r\n")
    labels = tmp_path / "labels"
    labels.write_text("team=web\nbare\n")
    monkeypatch.setenv("FROM_SHELL", "s")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    spec = parsed("--env-file", str(env), "--label-file", str(labels))
    assert dict(spec.env) == {"A": "1", "B": ' spaced "quoted" ', "FROM_SHELL": "s", "C": "x=y"}
    assert dict(spec.labels) == {"team": "web", "bare": ""}
    check_spec(spec)
    # run: -e and --label are applied after the files
    from shoal.cli.container import run
    assert run.params and {"env_file", "label_file", "pull", "no_healthcheck"} <= {p.name for p in run.params}


@pytest.mark.parametrize("content,message", [
    (b"A=1\nBAD KEY=2\n", "line 2: the variable name has whitespace in it (K=VALUE expected)"),
    (b"=1\n", "line 1 has no variable name"),
])
def test_a_bad_env_file_names_the_flag_the_file_and_the_line(tmp_path, content, message):
    from tests.unit.test_cli_errors import shoal
    path = tmp_path / "bad.env"
    path.write_bytes(content)
    r = shoal("run", "--env-file", str(path), "img")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"shoal: --env-file: {path}: {message}"), r.stderr


def health_parsed(*flags: str) -> types_pb2.ContainerSpec:
    from shoal.cli import health_options
    out = {}

    @click.command()
    @health_options.health_options
    def cmd(**options):
        spec = types_pb2.ContainerSpec(image="img")
        health_options.apply(spec, health_options.pop(options))
        out["spec"] = spec

    result = CliRunner().invoke(cmd, list(flags))
    assert result.exit_code == 0, result.output
    return out["spec"]


@pytest.mark.parametrize("flags,engine", [
    (["--health-cmd", "true", "--health-interval", "2s", "--health-retries", "3"],
     {"test": ["CMD-SHELL", "true"], "interval": 2 * 10**9, "retries": 3}),
    (["--health-cmd", "wget -q localhost", "--health-timeout", "1s", "--health-start-period", "5s"],
     {"test": ["CMD-SHELL", "wget -q localhost"], "timeout": 10**9, "start_period": 5 * 10**9}),
    (["--no-healthcheck"], {"test": ["NONE"]}),
])
def test_health_flags_on_run_reach_the_engine(flags, engine):
    spec = health_parsed(*flags)
    check_spec(spec)
    assert engine_kwargs(spec)["healthcheck"] == engine


def test_no_healthcheck_with_a_health_flag_is_refused_as_docker_refuses_it():
    from tests.unit.test_cli_errors import shoal
    r = shoal("run", "--no-healthcheck", "--health-cmd", "true", "img")
    assert r.returncode == 2 and "--no-healthcheck conflicts with --health-cmd" in r.stderr, r.stderr


def test_service_update_turns_a_disabled_health_check_back_on_with_a_health_flag():
    from shoal.cli import health_options
    from shoal.cli.service import apply_options
    spec = types_pb2.ServiceSpec(name="web", task=types_pb2.ContainerSpec(
        image="img", health=types_pb2.HealthCheck(test=["NONE"])))
    opts = {name: None for name in (*run_options.NAMES, *health_options.NAMES)}
    opts.update(health_cmd="true", health_retries=2)
    apply_options(spec, opts, creating=False)
    assert list(spec.task.health.test) == ["CMD-SHELL", "true"] and spec.task.health.retries == 2
    opts.update(health_cmd=None, health_retries=None, no_healthcheck=True)
    apply_options(spec, opts, creating=False)
    assert list(spec.task.health.test) == ["NONE"] and spec.task.health.retries == 0
