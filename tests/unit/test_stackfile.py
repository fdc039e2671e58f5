import textwrap

import pytest

from shoal.protos.shoal.v1 import types_pb2
from shoal.stackfile import ParsedStack, StackFileError, parse_stack

S = 1_000_000_000
MS = 1_000_000
MIB = 1 << 20

FULL = """
version: "3.8"
services:
  web:
    image: nginx:1.27
    command: nginx -g 'daemon off;'
    environment:
      MODE: prod
      WORKERS: 4
      DEBUG: false
      EMPTY:
    ports:
      - "8080:80"
      - 443
      - "53:53/udp"
      - target: 9000
        published: 9001
        protocol: tcp
        mode: ingress
    labels:
      com.example.team: web
    healthcheck:
      test: curl -f http://localhost/ || exit 1
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 1m30s
    deploy:
      replicas: 3
      resources:
        limits:
          cpus: "0.5"
          memory: 128M
        reservations:
          memory: 128m
      update_config:
        parallelism: 2
        delay: 10s
        failure_action: rollback
        monitor: 30s
  api:
    image: example/api:2
    entrypoint: ["/bin/api", "--serve"]
    command: ["--port", "9000"]
    environment:
      - A=1
      - B=x=y
    labels:
      - tier=backend
      - flag
    deploy:
      placement:
        constraints:
          - node.labels.zone==eu
          - node.role!=manager
        preferences:
          - spread: node.labels.rack
      restart_policy:
        condition: on-failure
        delay: 2s
        max_attempts: 5
        window: 2m
  worker:
    image: example/worker
    healthcheck:
      test: ["CMD", "/bin/check", "--quick"]
    deploy:
      mode: global
      resources:
        reservations:
          cpus: 0.25
          memory: 64M
"""


def expected_full() -> list[types_pb2.ServiceSpec]:
    default_restart = types_pb2.RestartPolicy(condition="any", max_attempts=0, delay_ns=5 * S, window_ns=0)
    default_update = types_pb2.UpdateConfig(parallelism=1, delay_ns=0, failure_action="pause", monitor_ns=5 * S)
    api = types_pb2.ServiceSpec(
        name="api", mode="replicated", replicas=1,
        task=types_pb2.ContainerSpec(
            image="example/api:2",
            entrypoint=["/bin/api", "--serve"],
            command=["--port", "9000"],
            env={"A": "1", "B": "x=y"},
            labels={"tier": "backend", "flag": ""},
            constraints=["node.labels.zone==eu", "node.role!=manager"],
        ),
        restart=types_pb2.RestartPolicy(condition="on-failure", max_attempts=5, delay_ns=2 * S, window_ns=120 * S),
        update=default_update,
        preferences=[types_pb2.PlacementPreference(spread="node.labels.rack")],
    )
    web = types_pb2.ServiceSpec(
        name="web", mode="replicated", replicas=3,
        task=types_pb2.ContainerSpec(
            image="nginx:1.27",
            command=["nginx", "-g", "daemon off;"],
            env={"MODE": "prod", "WORKERS": "4", "DEBUG": "false", "EMPTY": ""},
            ports=[
                types_pb2.PortMapping(host_port=8080, container_port=80, protocol="tcp"),
                types_pb2.PortMapping(host_port=0, container_port=443, protocol="tcp"),
                types_pb2.PortMapping(host_port=53, container_port=53, protocol="udp"),
                types_pb2.PortMapping(host_port=9001, container_port=9000, protocol="tcp"),
            ],
            memory_bytes=128 * MIB,
            nano_cpus=500_000_000,
            reserve_memory_bytes=128 * MIB,
            labels={"com.example.team": "web"},
            health=types_pb2.HealthCheck(
                test=["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                interval_ns=30 * S, timeout_ns=5 * S, retries=3, start_period_ns=90 * S,
            ),
        ),
        restart=default_restart,
        update=types_pb2.UpdateConfig(parallelism=2, delay_ns=10 * S, failure_action="rollback", monitor_ns=30 * S),
    )
    worker = types_pb2.ServiceSpec(
        name="worker", mode="global", replicas=0,
        task=types_pb2.ContainerSpec(
            image="example/worker",
            reserve_memory_bytes=64 * MIB,
            reserve_nano_cpus=250_000_000,
            health=types_pb2.HealthCheck(test=["CMD", "/bin/check", "--quick"]),
        ),
        restart=default_restart,
        update=default_update,
    )
    return [api, web, worker]


def parse(text: str, **kwargs) -> ParsedStack:
    return parse_stack(textwrap.dedent(text), **kwargs)


def one_service(body: str, name: str = "web") -> types_pb2.ServiceSpec:
    text = "services:\n  " + name + ":\n" + textwrap.indent(textwrap.dedent(body), "    ")
    stack = parse_stack(text)
    assert len(stack.services) == 1
    return stack.services[0]


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(StackFileError) as info:
        parse_stack(textwrap.dedent(text), **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message == f"{info.value.path}: {info.value.reason}"
    return message


def test_full_file_parses_to_the_exact_specs():
    stack = parse(FULL)
    expected = expected_full()
    assert [s.name for s in stack.services] == ["api", "web", "worker"]
    for got, want in zip(stack.services, expected, strict=True):
        assert got == want, f"{got.name}:\n{got}\n!=\n{want}"
    assert stack.warnings == []


def test_services_are_sorted_and_keep_their_names_without_a_stack():
    stack = parse("""
        services:
          zeta: {image: a}
          Alpha: {image: b}
          beta: {image: c}
    """)
    assert [s.name for s in stack.services] == ["Alpha", "beta", "zeta"]
    assert all(s.stack == "" for s in stack.services)


def test_defaults_are_filled_in():
    spec = one_service("image: nginx\n")
    assert spec == types_pb2.ServiceSpec(
        name="web", mode="replicated", replicas=1,
        task=types_pb2.ContainerSpec(image="nginx"),
        restart=types_pb2.RestartPolicy(condition="any", max_attempts=0, delay_ns=5 * S, window_ns=0),
        update=types_pb2.UpdateConfig(parallelism=1, delay_ns=0, failure_action="pause", monitor_ns=5 * S),
    )
    assert spec.HasField("restart") and spec.HasField("update") and not spec.task.HasField("health")


def test_partial_policies_keep_the_other_defaults():
    spec = one_service("""
        image: nginx
        deploy:
          replicas: 0
          restart_policy: {max_attempts: 2}
          update_config: {parallelism: 0, delay: 0}
    """)
    assert spec.replicas == 0
    assert spec.restart == types_pb2.RestartPolicy(condition="any", max_attempts=2, delay_ns=5 * S)
    assert spec.update == types_pb2.UpdateConfig(parallelism=0, failure_action="pause", monitor_ns=5 * S)


@pytest.mark.parametrize("body,expected", [
    ("test: [NONE]", None),
    ("test: [NONE]\ninterval: 5s", None),
    ("disable: true", None),
    ("disable: true\ntest: [NONE]", None),
    ("test: [CMD-SHELL, 'pg_isready']", types_pb2.HealthCheck(test=["CMD-SHELL", "pg_isready"])),
    ("test: check\nretries: 0\ninterval: 500ms", types_pb2.HealthCheck(test=["CMD-SHELL", "check"], interval_ns=500 * MS)),
])
def test_healthcheck_forms(body, expected):
    spec = one_service("image: x\nhealthcheck:\n" + textwrap.indent(body, "  ") + "\n")
    if expected is None:
        assert not spec.task.HasField("health")
    else:
        assert spec.task.health == expected


@pytest.mark.parametrize("value,expected", [
    ('"64M"', 64 * MIB), ("1g", 1 << 30), ("512m", 512 * MIB), ("100b", 100), ("1048576", 1 * MIB),
    ("2gb", 2 << 30), ("1.5G", 3 << 29), ("1GiB", 1 << 30), ("512k", 512 << 10), ('"10"', 10),
])
def test_memory_sizes(value, expected):
    spec = one_service(f"image: x\ndeploy: {{resources: {{limits: {{memory: {value}}}}}}}\n")
    assert spec.task.memory_bytes == expected


@pytest.mark.parametrize("value,expected", [
    ('"0.5"', 500_000_000), ("0.5", 500_000_000), ("2", 2 * S), ('"1.25"', 1_250_000_000), ("0.1", 100_000_000),
])
def test_cpus(value, expected):
    spec = one_service(f"image: x\ndeploy: {{resources: {{reservations: {{cpus: {value}}}}}}}\n")
    assert (spec.task.nano_cpus, spec.task.reserve_nano_cpus) == (0, expected)
    spec = one_service(f"image: x\ndeploy: {{resources: {{limits: {{cpus: {value}}}}}}}\n")
    assert (spec.task.nano_cpus, spec.task.reserve_nano_cpus) == (expected, 0)


@pytest.mark.parametrize("limits,reservations,limit,reserved", [
    ("{cpus: '1', memory: 256M}", None, (S, 256 * MIB), (0, 0)),
    (None, "{cpus: '0.5', memory: 64M}", (0, 0), (500_000_000, 64 * MIB)),
    ("{memory: 64M}", "{cpus: '0.5'}", (0, 64 * MIB), (500_000_000, 0)),
    ("{memory: 256M}", "{memory: 64M}", (0, 256 * MIB), (0, 64 * MIB)),
    ("{cpus: '2', memory: 512M}", "{cpus: '0.5', memory: 64M}", (2 * S, 512 * MIB), (500_000_000, 64 * MIB)),
])
def test_limits_and_reservations_are_kept_apart(limits, reservations, limit, reserved):
    resources = {}
    if limits:
        resources["limits"] = limits
    if reservations:
        resources["reservations"] = reservations
    body = "image: x\ndeploy:\n  resources:\n" + "".join(f"    {k}: {v}\n" for k, v in resources.items())
    stack = parse_stack("services:\n  web:\n" + textwrap.indent(body, "    "))
    task = stack.services[0].task
    assert (task.nano_cpus, task.memory_bytes) == limit
    assert (task.reserve_nano_cpus, task.reserve_memory_bytes) == reserved
    assert stack.warnings == []


def test_run_option_keys_become_the_spec_docker_run_would_get():
    stack = parse("""
        services:
          db:
            image: postgres
            user: "999:999"
            group_add: [audio, 44]
            cap_add: [NET_ADMIN]
            cap_drop: [ALL]
            privileged: false
            read_only: true
            security_opt: [no-new-privileges]
            hostname: db-1
            dns: 10.0.0.2
            dns_search: [example.internal]
            dns_opt: [ndots:2]
            extra_hosts: ["api:10.1.2.3", "web=10.1.2.4"]
            working_dir: /srv
            init: true
            stop_signal: SIGINT
            cpu_shares: 512
            cpuset: "0-1"
            pids_limit: 100
            ulimits: {nproc: 65535, nofile: {soft: 20000, hard: 40000}}
            sysctls: {net.core.somaxconn: 1024}
            shm_size: 128m
            tmpfs: [/tmp, "/run:size=64m,noexec"]
            ipc: shareable
            pid: host
            devices: [/dev/fuse]
            network_mode: host
            deploy: {resources: {limits: {memory: 1g, pids: 200}, reservations: {memory: 256m}}}
    """)
    t = stack.services[0].task
    assert stack.warnings == []
    assert (t.user, list(t.group_add), list(t.cap_add), list(t.cap_drop)) == ("999:999", ["audio", "44"], ["NET_ADMIN"], ["ALL"])
    assert (t.privileged, t.read_only, list(t.security_opt), t.hostname) == (False, True, ["no-new-privileges"], "db-1")
    assert (list(t.dns), list(t.dns_search), list(t.dns_option)) == (["10.0.0.2"], ["example.internal"], ["ndots:2"])
    assert list(t.extra_hosts) == ["api:10.1.2.3", "web:10.1.2.4"]
    assert (t.workdir, t.init, t.stop_signal, t.cpu_shares, t.cpuset_cpus) == ("/srv", True, "SIGINT", 512, "0-1")
    assert [(u.name, u.soft, u.hard) for u in t.ulimits] == [("nproc", 65535, 65535), ("nofile", 20000, 40000)]
    assert dict(t.sysctls) == {"net.core.somaxconn": "1024"} and t.shm_size_bytes == 128 * MIB
    assert [(m.target, m.size_bytes, list(m.options)) for m in t.tmpfs] == [("/tmp", 0, []), ("/run", 64 * MIB, ["noexec"])]
    assert (t.ipc, t.pid, t.pids_limit, list(t.devices), t.network_mode) == ("shareable", "host", 200, ["/dev/fuse"], "host")
    assert (t.memory_bytes, t.reserve_memory_bytes) == (1 << 30, 256 * MIB)


@pytest.mark.parametrize("body,message", [
    ("read_only: yes please", "services.web.read_only: must be true or false"),
    ("cpu_shares: lots", "services.web.cpu_shares: must be an integer"),
    ("tmpfs: [run]", 'services.web.tmpfs.0: "run": the path must be absolute'),
    ("extra_hosts: [api]", 'services.web.extra_hosts.0: "api" is not NAME:IP'),
    ("ulimits: {nofile: {soft: 1}}", "services.web.ulimits.nofile: must be a number or a mapping with soft and hard"),
    ("sysctls: [net.x]", 'services.web.sysctls.0: "net.x" is not NAME=VALUE'),
    ("shm_size: huge", 'services.web.shm_size: "huge" is not a size'),
    ("deploy: {resources: {limits: {pids: many}}}", "services.web.deploy.resources.limits.pids: must be an integer"),
])
def test_a_bad_run_option_key_names_its_path(body, message):
    with pytest.raises(StackFileError) as caught:
        parse_stack(svc("image: x\n" + body + "\n"))
    assert str(caught.value).startswith(message), str(caught.value)


def test_unsupported_keys_are_one_sorted_warning():
    stack = parse("""
        version: "3.9"
        x-common: &common
          image: ignored
        services:
          web:
            image: nginx
            build: .
            volumes: [data:/data]
            restart: always
            x-note: ignored silently
            ports:
              - target: 80
                published: 8080
                name: http
                app_protocol: http
            healthcheck:
              test: check
              start_interval: 1s
            deploy:
              endpoint_mode: vip
              labels: {a: b}
              placement:
                max_replicas_per_node: 1
                preferences:
                  - spread: node.labels.zone
                    weight: 2
              resources:
                limits: {memory: 64M, pids: 10}
                reservations: {pids: 5}
              update_config:
                order: start-first
                max_failure_ratio: 0.1
              rollback_config: {parallelism: 1}
          api:
            image: api
            container_name: api
        networks: {front: {}}
        volumes: {data: {}}
        secrets: {s: {file: ./s}}
        configs: {c: {file: ./c}}
        name: myproject
    """)
    assert stack.warnings == ["unsupported keys ignored: " + ", ".join([
        "configs",
        "name",
        "networks",
        "secrets",
        "services.api.container_name",
        "services.web.build",
        "services.web.deploy.endpoint_mode",
        "services.web.deploy.labels",
        "services.web.deploy.placement.max_replicas_per_node",
        "services.web.deploy.placement.preferences.0.weight",
        "services.web.deploy.resources.reservations.pids",
        "services.web.deploy.rollback_config",
        "services.web.deploy.update_config.max_failure_ratio",
        "services.web.deploy.update_config.order",
        "services.web.healthcheck.start_interval",
        "services.web.ports.0.app_protocol",
        "services.web.ports.0.name",
        "services.web.restart",
    ])]
    assert [s.name for s in stack.services] == ["api", "web"]


def svc(body: str, name: str = "web") -> str:
    return "services:\n  " + name + ":\n" + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize("text,message", [
    # the document
    ("", "services: required"),
    ("# only a comment\n", "services: required"),
    ("version: '3'\n", "services: required"),
    ("services:\n", "services: required"),
    ("- a\n- b\n", "stack file: the top level must be a mapping with a services key"),
    ("services: [web]\n", "services: must be a mapping of service names to services"),
    ("services: {}\n", "services: must define at least one service"),
    ("services:\n  'web app': {image: x}\n",
     'services.web app: "web app" is not a valid service name (letters, digits, "_", "." and "-", '
     'starting with a letter or digit, at most 63 characters)'),
    ("services:\n  -web: {image: x}\n",
     'services.-web: "-web" is not a valid service name (letters, digits, "_", "." and "-", '
     'starting with a letter or digit, at most 63 characters)'),
    ("services:\n  1: {image: x}\n", 'services.1: service names must be strings (quote it: "1")'),
    ("services:\n  web: [x]\n", "services.web: must be a mapping"),
    # image
    ("services:\n  web:\n", "services.web.image: required"),
    (svc("command: x\n"), "services.web.image: required"),
    (svc("image: [nginx]\n"), "services.web.image: must be a string"),
    (svc("image: 3\n"), "services.web.image: must be a string"),
    (svc("image: ''\n"), "services.web.image: must not be empty"),
    # command, entrypoint
    (svc("image: x\ncommand: [sleep, 10]\n"), "services.web.command.1: must be a string (quote it)"),
    (svc("image: x\ncommand: {a: b}\n"), "services.web.command: must be a string or a list of strings"),
    (svc("image: x\nentrypoint: \"sh -c 'oops\"\n"),
     "services.web.entrypoint: cannot be split into arguments: No closing quotation"),
    # environment
    (svc("image: x\nenvironment: [A=1, B]\n"),
     'services.web.environment.1: "B" has no value; a value is required (KEY=VALUE), taking it from the shell is not supported'),
    (svc("image: x\nenvironment: ['=1']\n"), 'services.web.environment.0: "=1" has no variable name'),
    (svc("image: x\nenvironment: [1]\n"), "services.web.environment.0: must be a KEY=VALUE string"),
    (svc("image: x\nenvironment: {A: [1]}\n"),
     "services.web.environment.A: must be a string, number, boolean or null"),
    (svc("image: x\nenvironment: A=1\n"),
     "services.web.environment: must be a mapping or a list of KEY=VALUE strings"),
    # ports
    (svc("image: x\nports: '80'\n"), "services.web.ports: must be a list"),
    (svc("image: x\nports: ['99999']\n"), 'services.web.ports.0: "99999": ports must be in 1-65535'),
    (svc("image: x\nports: [99999]\n"), 'services.web.ports.0: "99999" is not a valid port'),
    (svc("image: x\nports: ['80', '8080:0']\n"), 'services.web.ports.1: "8080:0": ports must be in 1-65535'),
    (svc("image: x\nports: ['a:b']\n"), 'services.web.ports.0: "a:b" is not [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp] (each port may be a range A-B)'),
    (svc("image: x\nports: [0]\n"), 'services.web.ports.0: "0" is not a valid port'),
    (svc("image: x\nports: ['8000-8010:80']\n"),
     'services.web.ports.0: "8000-8010:80": a host port range for one container port (the engine would pick one) '
     'is not supported; give one host port'),
    (svc("image: x\nports: ['8000-8002:80-81']\n"),
     'services.web.ports.0: "8000-8002:80-81": the host ports (3) and the container ports (2) must be ranges of '
     'the same length'),
    (svc("image: x\nports: ['1.2.3:8080:80']\n"), 'services.web.ports.0: "1.2.3:8080:80": "1.2.3" is not an IP address'),
    (svc("image: x\nports: [{target: 80, host_ip: 'a.b'}]\n"), 'services.web.ports.0.host_ip: "a.b" is not an IP address'),
    (svc("image: x\nports: ['80/sctp']\n"), 'services.web.ports.0: "80/sctp": protocol must be tcp or udp'),
    (svc("image: x\nports: [80.5]\n"),
     'services.web.ports.0: must be a port string ("8080:80/tcp"), a port number or a mapping'),
    (svc("image: x\nports: [{published: 80}]\n"), "services.web.ports.0.target: required"),
    (svc("image: x\nports: [{target: 70000}]\n"), 'services.web.ports.0.target: "70000" is not a valid port'),
    (svc("image: x\nports: [{target: 80, published: '8000-8001'}]\n"),
     'services.web.ports.0.published: "8000-8001": port ranges are not supported; publish each port separately'),
    (svc("image: x\nports: [{target: 80, protocol: sctp}]\n"),
     'services.web.ports.0.protocol: "sctp" is not one of tcp, udp'),
    (svc("image: x\nports: [{target: 80, mode: bridge}]\n"),
     'services.web.ports.0.mode: "bridge" is not one of ingress, host'),
    # labels
    (svc("image: x\nlabels: {io.shoal.service: forged}\n"),
     'services.web.labels.io.shoal.service: "io.shoal.service": the io.shoal. prefix is reserved'),
    (svc("image: x\nlabels: [a=b, io.shoal.id=x]\n"),
     'services.web.labels.1: "io.shoal.id": the io.shoal. prefix is reserved'),
    (svc("image: x\nlabels: a=b\n"), "services.web.labels: must be a mapping or a list of KEY=VALUE strings"),
    # healthcheck
    (svc("image: x\nhealthcheck: {test: [CMD], interval: 10s}\n"),
     "services.web.healthcheck.test: CMD needs a command after it"),
    (svc("image: x\nhealthcheck: {test: [RUN, x]}\n"),
     'services.web.healthcheck.test.0: "RUN" is not one of CMD, CMD-SHELL, NONE'),
    (svc("image: x\nhealthcheck: {test: []}\n"), "services.web.healthcheck.test: must not be empty"),
    (svc("image: x\nhealthcheck: {interval: 10s}\n"),
     "services.web.healthcheck.test: required (or disable: true)"),
    (svc("image: x\nhealthcheck: {test: x, interval: 10}\n"),
     'services.web.healthcheck.interval: "10" is not a duration (examples: 10s, 1m30s, 500ms)'),
    (svc("image: x\nhealthcheck: {test: x, timeout: 5 seconds}\n"),
     'services.web.healthcheck.timeout: "5 seconds" is not a duration (examples: 10s, 1m30s, 500ms)'),
    (svc("image: x\nhealthcheck: {test: x, start_period: [1s]}\n"),
     "services.web.healthcheck.start_period: must be a duration (examples: 10s, 1m30s, 500ms)"),
    (svc("image: x\nhealthcheck: {test: x, retries: -1}\n"),
     "services.web.healthcheck.retries: must be an integer >= 0"),
    (svc("image: x\nhealthcheck: {test: x, disable: 'yes'}\n"),
     "services.web.healthcheck.disable: must be true or false"),
    (svc("image: x\nhealthcheck: {test: x, disable: true}\n"),
     "services.web.healthcheck.disable: cannot be combined with a test"),
    # deploy.mode / replicas
    (svc("image: x\ndeploy: {replicas: -1}\n"), "services.web.deploy.replicas: must be an integer >= 0"),
    (svc("image: x\ndeploy: {replicas: '3'}\n"), "services.web.deploy.replicas: must be an integer >= 0"),
    (svc("image: x\ndeploy: {replicas: true}\n"), "services.web.deploy.replicas: must be an integer >= 0"),
    (svc("image: x\ndeploy: {replicas: 1.5}\n"), "services.web.deploy.replicas: must be an integer >= 0"),
    (svc("image: x\ndeploy: {replicas: 3000000000}\n"), "services.web.deploy.replicas: must be at most 2147483647"),
    (svc("image: x\ndeploy: {mode: global, replicas: 2}\n"),
     "services.web.deploy.replicas: not allowed with mode global"),
    (svc("image: x\ndeploy: {mode: global, replicas: 1}\n"),
     "services.web.deploy.replicas: not allowed with mode global"),
    (svc("image: x\ndeploy: {mode: replicated-job}\n"),
     'services.web.deploy.mode: "replicated-job" is not one of replicated, global'),
    (svc("image: x\ndeploy: [replicas]\n"), "services.web.deploy: must be a mapping"),
    # placement
    (svc("image: x\ndeploy: {placement: {constraints: [node.role==worker, node.labels.zone=eu]}}\n"),
     'services.web.deploy.placement.constraints.1: "node.labels.zone=eu" is not KEY==VALUE or KEY!=VALUE'),
    (svc("image: x\ndeploy: {placement: {constraints: node.role==worker}}\n"),
     "services.web.deploy.placement.constraints: must be a list"),
    (svc("image: x\ndeploy: {placement: {constraints: [1]}}\n"),
     "services.web.deploy.placement.constraints.0: must be a string"),
    (svc("image: x\ndeploy: {placement: {preferences: [{spread: node.hostname}]}}\n"),
     'services.web.deploy.placement.preferences.0.spread: "node.hostname" must be node.labels.KEY'),
    (svc("image: x\ndeploy: {placement: {preferences: [{spread: node.labels.}]}}\n"),
     'services.web.deploy.placement.preferences.0.spread: "node.labels." must be node.labels.KEY'),
    (svc("image: x\ndeploy: {placement: {preferences: [{}]}}\n"),
     "services.web.deploy.placement.preferences.0.spread: required"),
    (svc("image: x\ndeploy: {placement: {preferences: [node.labels.zone]}}\n"),
     "services.web.deploy.placement.preferences.0: must be a mapping like {spread: node.labels.KEY}"),
    # resources
    (svc("image: x\ndeploy: {resources: {limits: {memory: 12x}}}\n"),
     'services.web.deploy.resources.limits.memory: "12x" is not a size (examples: 64M, 1g, 512m)'),
    (svc("image: x\ndeploy: {resources: {limits: {memory: -1}}}\n"),
     'services.web.deploy.resources.limits.memory: "-1" is not a size (examples: 64M, 1g, 512m)'),
    (svc("image: x\ndeploy: {resources: {reservations: {memory: 1.5b}}}\n"),
     'services.web.deploy.resources.reservations.memory: "1.5b" is not a whole number of bytes'),
    (svc("image: x\ndeploy: {resources: {limits: {cpus: abc}}}\n"),
     'services.web.deploy.resources.limits.cpus: "abc" is not a number of CPUs (examples: 0.5, 2)'),
    (svc("image: x\ndeploy: {resources: {limits: {cpus: '-1'}}}\n"),
     'services.web.deploy.resources.limits.cpus: "-1" is not a number of CPUs (examples: 0.5, 2)'),
    (svc("image: x\ndeploy: {resources: {limits: {cpus: .nan}}}\n"),
     'services.web.deploy.resources.limits.cpus: "nan" is not a number of CPUs (examples: 0.5, 2)'),
    (svc("image: x\ndeploy: {resources: {limits: 1g}}\n"),
     "services.web.deploy.resources.limits: must be a mapping"),
    # restart_policy
    (svc("image: x\ndeploy: {restart_policy: {condition: always}}\n"),
     'services.web.deploy.restart_policy.condition: "always" is not one of none, on-failure, any'),
    (svc("image: x\ndeploy: {restart_policy: {condition: 1}}\n"),
     "services.web.deploy.restart_policy.condition: must be one of none, on-failure, any"),
    (svc("image: x\ndeploy: {restart_policy: {delay: 5}}\n"),
     'services.web.deploy.restart_policy.delay: "5" is not a duration (examples: 10s, 1m30s, 500ms)'),
    (svc("image: x\ndeploy: {restart_policy: {max_attempts: '3'}}\n"),
     "services.web.deploy.restart_policy.max_attempts: must be an integer >= 0"),
    (svc("image: x\ndeploy: {restart_policy: {window: -1s}}\n"),
     'services.web.deploy.restart_policy.window: "-1s" is not a duration (examples: 10s, 1m30s, 500ms)'),
    # update_config
    (svc("image: x\ndeploy: {update_config: {parallelism: -2}}\n"),
     "services.web.deploy.update_config.parallelism: must be an integer >= 0"),
    (svc("image: x\ndeploy: {update_config: {delay: 1d}}\n"),
     'services.web.deploy.update_config.delay: "1d" is not a duration (examples: 10s, 1m30s, 500ms)'),
    (svc("image: x\ndeploy: {update_config: {failure_action: stop}}\n"),
     'services.web.deploy.update_config.failure_action: "stop" is not one of pause, continue, rollback'),
    (svc("image: x\ndeploy: {update_config: {monitor: 1m30}}\n"),
     'services.web.deploy.update_config.monitor: "1m30" is not a duration (examples: 10s, 1m30s, 500ms)'),
])
def test_errors_name_the_path_and_the_reason(text, message):
    assert error_of(text) == message


@pytest.mark.parametrize("text,message", [
    ("services:\n  web:\n    image: x\n   bad: 1\n",
     "stack.yml: invalid YAML at line 4, column 4: expected <block end>, but found '<block mapping start>'"),
    ("services: [\n", "stack.yml: invalid YAML at line 2, column 1: expected the node content, but found '<stream end>'"),
    ("services:\n  web:\n    image: nginx: latest\n",
     "stack.yml: invalid YAML at line 3, column 17: mapping values are not allowed here"),
    ("a: 1\n---\nb: 2\n",
     "stack.yml: invalid YAML at line 2, column 1: but found another document"),
])
def test_yaml_errors_name_the_source_and_the_position(text, message):
    assert error_of(text, source="stack.yml") == message


def test_yaml_error_path_defaults_to_stack_file():
    with pytest.raises(StackFileError) as info:
        parse_stack("a: [")
    assert info.value.path == "stack file"
    assert str(info.value).startswith("stack file: invalid YAML at line 1, column 5: ")


def test_yaml_unsafe_tags_are_refused():
    message = error_of("services: !!python/object/apply:os.system ['true']\n")
    assert message.startswith("stack file: invalid YAML at line 1, column 11: ")


def test_the_first_error_is_the_first_service_in_name_order():
    text = """
        services:
          zz: {image: x, deploy: {replicas: -1}}
          aa: {image: [x]}
          mm: {}
    """
    assert error_of(text) == "services.aa.image: must be a string"


def test_keys_are_checked_in_a_fixed_order_within_a_service():
    text = svc("""
        deploy: {replicas: -1}
        ports: ['99999']
        image: x
        command: [1]
    """)
    assert error_of(text) == "services.web.command.0: must be a string (quote it)"


def test_error_messages_stay_on_one_line():
    text = 'services:\n  web:\n    image: x\n    ports: ["8080:\\n80"]\n'
    message = error_of(text)
    assert message.startswith("services.web.ports.0: ")
    text = 'services:\n  "we\\nb": {image: x}\n'
    assert error_of(text).startswith("services.we b: ")


def test_stack_file_error_is_a_value_error_with_a_path():
    err = StackFileError("services.web.image", "must be a string")
    assert isinstance(err, ValueError)
    assert err.path == "services.web.image"
    assert str(err) == "services.web.image: must be a string"


def test_null_sections_are_absent():
    spec = one_service("""
        image: x
        command:
        environment:
        ports:
        labels:
        healthcheck:
        deploy:
          placement:
          resources:
          restart_policy:
          update_config:
    """)
    assert spec == one_service("image: x\n")


def test_a_global_service_has_no_replicas():
    spec = one_service("image: x\ndeploy: {mode: global, replicas: null}\n")
    assert (spec.mode, spec.replicas) == ("global", 0)


def test_command_forms():
    assert list(one_service("image: x\ncommand: sh -c 'echo \"hi there\"'\n").task.command) == [
        "sh", "-c", 'echo "hi there"',
    ]
    assert list(one_service("image: x\ncommand: ['a b', c]\n").task.command) == ["a b", "c"]
    assert list(one_service("image: x\ncommand: []\n").task.command) == []


def test_environment_values_become_strings():
    spec = one_service("""
        image: x
        environment:
          S: text
          I: 42
          F: 1.5
          T: true
          N: null
          Q: "007"
    """)
    assert dict(spec.task.env) == {"S": "text", "I": "42", "F": "1.5", "T": "true", "N": "", "Q": "007"}


def test_ports_in_every_form():
    spec = one_service("""
        image: x
        ports:
          - "80"
          - 8443
          - "8080:80"
          - "5353:53/udp"
          - "9000/tcp"
          - {target: 53, published: "1053", protocol: udp, mode: host}
          - {target: 81}
    """)
    assert [(p.host_port, p.container_port, p.protocol) for p in spec.task.ports] == [
        (0, 80, "tcp"), (0, 8443, "tcp"), (8080, 80, "tcp"), (5353, 53, "udp"), (0, 9000, "tcp"),
        (1053, 53, "udp"), (0, 81, "tcp"),
    ]


def test_duration_zero_may_be_a_bare_number():
    spec = one_service("image: x\ndeploy: {update_config: {delay: 0, monitor: 0s}}\n")
    assert (spec.update.delay_ns, spec.update.monitor_ns) == (0, 0)


def test_volumes_short_and_long_as_compose_names_them():
    stack = parse_stack(textwrap.dedent("""
        services:
          db:
            image: postgres
            volumes:
              - data:/var/lib/db
              - /srv/conf:/etc/db:ro
              - /cache
              - {type: volume, source: shared, target: /shared, read_only: true}
              - {type: tmpfs, target: /scratch, tmpfs: {size: 8m}}
        volumes:
          data: {driver_opts: {type: tmpfs, device: tmpfs}, labels: {tier: db}}
          shared: {external: true}
    """), stack="shop")
    got = [(m.type, m.source, m.target, m.readonly, m.tmpfs_size_bytes, dict(m.driver_options), dict(m.volume_labels))
           for m in stack.services[0].task.mounts]
    assert got == [
        ("volume", "shop_data", "/var/lib/db", False, 0, {"type": "tmpfs", "device": "tmpfs"}, {"tier": "db"}),
        ("bind", "/srv/conf", "/etc/db", True, 0, {}, {}),   # short syntax: create_host_path, checked below
        ("volume", "", "/cache", False, 0, {}, {}),
        ("volume", "shared", "/shared", True, 0, {}, {}),
        ("tmpfs", "", "/scratch", False, 8 << 20, {}, {}),
    ]
    assert [m.create_host_path for m in stack.services[0].task.mounts] == [False, True, False, False, False]
    assert stack.warnings == []


@pytest.mark.parametrize("body,message", [
    ("services: {db: {image: x, volumes: [nope:/d]}}", 'services.db.volumes.0.source: volume "nope" is not declared'),
    ("services: {db: {image: x, volumes: ['./rel:/d']}}", "services.db.volumes.0: \"./rel:/d\": a bind mount's source must be"),
    ("services: {db: {image: x, volumes: [{type: volume, source: d}]}}\nvolumes: {d: {}}", "services.db.volumes.0.target: required"),
    ("services: {db: {image: x, volumes: [{type: nfs, target: /d}]}}", 'services.db.volumes.0.type: "nfs" is not one of'),
    ("services: {db: {image: x}}\nvolumes: {d: {external: maybe}}", "volumes.d.external: must be true or false"),
])
def test_bad_stack_volumes_name_their_path(body, message):
    with pytest.raises(StackFileError) as caught:
        parse_stack(body)
    assert str(caught.value).startswith(message), str(caught.value)


def test_ports_take_host_ips_and_ranges_as_docker_run_p_does():
    stack = parse_stack(textwrap.dedent("""\
        services:
          web:
            image: x
            ports: ["127.0.0.1:8080:80", "[::1]::81/udp", "9000-9001:90-91", "7000-7001", ":82",
                    {target: 83, published: 8083, host_ip: 10.0.0.1}]
    """))
    ports = [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in stack.services[0].task.ports]
    assert ports == [("127.0.0.1", 8080, 80, "tcp"), ("::1", 0, 81, "udp"), ("", 9000, 90, "tcp"), ("", 9001, 91, "tcp"),
                     ("", 0, 7000, "tcp"), ("", 0, 7001, "tcp"), ("", 0, 82, "tcp"), ("10.0.0.1", 8083, 83, "tcp")]


def test_env_file_expose_and_platform(tmp_path):
    (tmp_path / "a.env").write_text("A=1\nB=2\n")
    (tmp_path / "b.env").write_text("B=3\n")
    read = []

    def reader(name):
        read.append(name)
        return [tuple(line.split("=", 1)) for line in (tmp_path / name).read_text().splitlines()]

    stack = parse_stack(textwrap.dedent("""\
        services:
          web:
            image: x
            env_file: [a.env, b.env]
            environment: {A: override}
            expose: [80, "7000-7001/udp"]
            platform: linux/arm64
    """), read_env_file=reader)
    task = stack.services[0].task
    assert read == ["a.env", "b.env"]
    assert dict(task.env) == {"A": "override", "B": "3"}
    assert list(task.expose) == ["80/tcp", "7000/udp", "7001/udp"] and task.platform == "linux/arm64"


def test_env_file_errors_name_the_path():
    def reader(name):
        raise ValueError(f"{name}: No such file or directory")

    with pytest.raises(StackFileError) as caught:
        parse_stack("services:\n  web:\n    image: x\n    env_file: gone.env\n", read_env_file=reader)
    assert str(caught.value) == "services.web.env_file: gone.env: No such file or directory"
    with pytest.raises(StackFileError, match=r"services.web.expose.0: \"80:80\" is not PORT"):
        parse_stack("services:\n  web:\n    image: x\n    expose: ['80:80']\n")
