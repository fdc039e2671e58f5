"""Property-based tests of manager/validation.py: for every request type and any value, hostile
or not, a check either passes or raises InvalidField whose message is ONE line starting with the
field's name; nothing else ever escapes. Whatever passes is safe to store (no "/", no control
characters, bounded). The explicit examples at the end make sure the hostile values are really
refused, so the properties cannot hold by accepting everything."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shoal.manager import redact
from shoal.manager.validation import (
    MAX_CSR_BYTES, MAX_TAIL, NAME_RE, SECRET_PLACEHOLDER, InvalidField, check_container_ref, check_create_network,
    check_deploy_stack, check_join_request, check_join_token_request, check_list_services, check_logs,
    check_network_ref, check_node_ref, check_remove, check_remove_node, check_renew_request, check_run, check_scale,
    check_service, check_service_ref, check_service_tasks, check_stack_ref, check_stop, check_update_node,
    check_update_service,
)
from shoal.protos.shoal.v1 import manager_pb2, types_pb2
from tests.unit.conftest import service_spec

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.data_too_large])
# Whole specs are costly to draw: fewer of them, each with a few hostile fields among valid ones.
SPEC_SETTINGS = settings(SETTINGS, max_examples=150)
SPEC_REQUESTS = ("Run", "CreateService", "UpdateService", "DeployStack")
FIELD_RE = re.compile(r"[A-Za-z0-9_.\-]+")

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)

HOSTILE_TEXT = [
    "", "/", "//", "../", "../../nodes/x", "..", ".", "a/b", "a/../b", "/shoal/services/x", "x/", "%2e%2e%2f",
    "\x00", "a\x00b", "\n", "a\nb", "a\r\nb", "\t", "\x1b[31m", "\u2028", "\u2029", "\x85", "\x0b", "\x1c",
    " ", " a", "a ", "é", "名前", "\ufeffa", "\u202eevil", "-a", "_a", "a" * 63, "a" * 64, "a" * 255, "a" * 256,
    "x" * 5000, "a\\b", "'; DROP", "$(reboot)", "`id`", "*", "?", "<secret>", "node.labels.zone==eu",
    "spread", "overlay", "tcp", "agent", "manager", "global", "replicated", "10.0.0.0/24", "10.241.0.0/24",
]


def texts(max_size: int = 80) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.text(max_size=max_size),                                     # any unicode, controls and NUL included
        st.text(alphabet=st.characters(codec="ascii"), max_size=max_size),
        st.from_regex(NAME_RE, fullmatch=True),
        st.builds(lambda a, b: a + b, st.from_regex(NAME_RE, fullmatch=True), st.sampled_from(HOSTILE_TEXT)),
        st.builds(lambda n: "y" * n, st.integers(0, 20_000)),
    )


def ints(bounds: tuple[int, int]) -> st.SearchStrategy[int]:
    low, high = bounds
    edges = [v for v in (low, low + 1, -1, 0, 1, 2, 63, 100, 3600, 10_000, 10_001, MAX_TAIL, MAX_TAIL + 1,
                         2**31 - 1, 2**31, 2**62, high - 1, high) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def text_maps(max_size: int = 5):
    """Small maps of any text, or now and then one too big for any bound (env, labels)."""
    return st.one_of(st.dictionaries(texts(40), texts(60), max_size=max_size),
                     st.integers(60, 300).map(lambda n: {f"K{i}": "v" for i in range(n)}))


def arg_lists():
    return st.one_of(st.lists(texts(30), max_size=4), st.integers(250, 300).map(lambda n: ["a"] * n))


SIMPLE = st.sampled_from(["a", "web", "x-1", "Zz_9.b"])
SIMPLE_KEY = st.sampled_from(["A", "PW", "zone", "K_1"])


def _hostile_or(draw, name: str, hostile: set, valid, bad):
    """Most fields of a spec are valid, a few (drawn per spec) hostile: so every check is reached."""
    return draw(bad if name in hostile else valid)


CONTAINER_FIELDS = ("image", "command", "env", "secret_env", "ports", "memory_bytes", "nano_cpus", "labels",
                    "constraints", "strategy", "health", "entrypoint", "networks")


@st.composite
def container_specs(draw) -> types_pb2.ContainerSpec:
    hostile = draw(st.sets(st.sampled_from(CONTAINER_FIELDS), max_size=3))

    def f(name, valid, bad):
        return _hostile_or(draw, name, hostile, valid, bad)

    env = f("env", st.dictionaries(SIMPLE_KEY, st.text(max_size=20).filter(lambda v: "\x00" not in v), max_size=4),
            text_maps())
    secret = f("secret_env", st.lists(st.sampled_from(sorted(env)), unique=True) if env else st.just([]),
               st.one_of(st.lists(texts(20), max_size=3),
                         st.just([SIMPLE_PLACEHOLDER_KEY]).map(lambda ks: env.update({k: SECRET_PLACEHOLDER
                                                                                    for k in ks}) or ks),
                         st.lists(st.sampled_from(sorted(env)), min_size=2) if env else st.just(["A"] * 300)))
    port = st.builds(types_pb2.PortMapping, host_port=ints(UINT32), container_port=ints(UINT32),
                     protocol=st.one_of(st.sampled_from(["tcp", "udp"]), texts(10)))
    ok_port = st.builds(types_pb2.PortMapping, host_port=st.just(0), container_port=st.integers(1, 65535),
                        protocol=st.sampled_from(["tcp", "udp"]))
    health = st.builds(types_pb2.HealthCheck,
                       test=st.one_of(st.just([]), st.lists(texts(20), max_size=3),
                                      st.sampled_from([["CMD", "true"], ["CMD-SHELL", "x"], ["NONE"], ["CMD"]])),
                       interval_ns=ints(INT64), timeout_ns=ints(INT64), retries=ints(INT32),
                       start_period_ns=ints(INT64))
    return types_pb2.ContainerSpec(
        image=f("image", st.sampled_from(["busybox", "shoal/busybox:latest", "r.io/a/b@sha256:00"]), texts()),
        command=f("command", st.lists(SIMPLE, max_size=3), arg_lists()),
        env=env,
        secret_env=secret,
        ports=f("ports", st.lists(ok_port, max_size=2, unique_by=lambda p: p.container_port),
                st.lists(port, max_size=3)),
        memory_bytes=f("memory_bytes", st.sampled_from([0, 64 << 20]), ints(INT64)),
        nano_cpus=f("nano_cpus", st.sampled_from([0, 10**9]), ints(INT64)),
        labels=f("labels", st.dictionaries(SIMPLE_KEY, SIMPLE, max_size=3), text_maps()),
        constraints=f("constraints", st.lists(st.sampled_from(["node.labels.zone==eu", "node.id==~a*",
                                                               "engine.labels.k!=v"]), max_size=2),
                      st.lists(st.one_of(st.sampled_from(["node.name!=/x[/", "node.labels.==x", "a=b"]), texts()),
                               min_size=1, max_size=3)),
        strategy=f("strategy", st.sampled_from(["", "spread", "binpack", "random"]), texts(20)),
        health=f("health", st.just(types_pb2.HealthCheck()), health),
        entrypoint=f("entrypoint", st.lists(SIMPLE, max_size=2), arg_lists()),
        networks=f("networks", st.lists(SIMPLE, max_size=2, unique=True), st.lists(texts(20), max_size=6)),
    )


SIMPLE_PLACEHOLDER_KEY = "PH"
SERVICE_FIELDS = ("name", "mode", "replicas", "restart", "update", "preferences", "stack", "stop_grace_ns")


@st.composite
def service_specs(draw) -> types_pb2.ServiceSpec:
    hostile = draw(st.sets(st.sampled_from(SERVICE_FIELDS), max_size=3))

    def f(name, valid, bad):
        return _hostile_or(draw, name, hostile, valid, bad)

    mode = f("mode", st.sampled_from(["", "replicated", "global"]), texts(20))
    return types_pb2.ServiceSpec(
        name=f("name", SIMPLE, texts()),
        mode=mode,
        replicas=f("replicas", st.just(0) if mode == "global" else st.integers(0, 5), ints(INT32)),
        task=draw(container_specs()),
        restart=f("restart", st.builds(types_pb2.RestartPolicy, condition=st.sampled_from(["", "any", "none"])),
                  st.builds(types_pb2.RestartPolicy,
                            condition=st.one_of(st.sampled_from(["", "any", "none"]), texts(20)),
                            max_attempts=ints(INT32), delay_ns=ints(INT64), window_ns=ints(INT64))),
        update=f("update", st.builds(types_pb2.UpdateConfig, parallelism=st.integers(0, 3)),
                 st.builds(types_pb2.UpdateConfig, parallelism=ints(INT32), delay_ns=ints(INT64),
                           failure_action=st.one_of(st.sampled_from(["", "pause"]), texts(20)),
                           monitor_ns=ints(INT64))),
        preferences=[types_pb2.PlacementPreference(spread=p) for p in f(
            "preferences", st.lists(st.just("node.labels.zone"), max_size=1),
            st.lists(st.one_of(st.just("node.labels.zone"), texts(30)), max_size=10))],
        stack=f("stack", st.just(""), texts(20)),
        stop_grace_ns=f("stop_grace_ns", st.sampled_from([0, 10**10]), ints(INT64)),
    )


def bytes_bounded():
    return st.one_of(st.binary(max_size=200), st.integers(0, 3 * MAX_CSR_BYTES).map(lambda n: b"c" * n))


# One strategy per request type, each with the check the manager runs on it.
REQUESTS = {
    "Run": (check_run, st.builds(manager_pb2.RunRequest, name=texts(), spec=container_specs())),
    "InspectContainer/Wait": (check_container_ref, st.builds(manager_pb2.ContainerRef, ref=texts())),
    "StopContainer": (check_stop, st.builds(manager_pb2.StopRequest, ref=texts(), timeout_seconds=ints(INT32))),
    "RemoveContainer": (check_remove, st.builds(manager_pb2.RemoveRequest, ref=texts(), force=st.booleans())),
    "Logs": (check_logs, st.builds(manager_pb2.LogsRequest, ref=texts(), follow=st.booleans(), tail=ints(INT32))),
    "InspectNode": (check_node_ref, st.builds(manager_pb2.NodeRef, ref=texts())),
    "UpdateNode": (check_update_node, st.builds(manager_pb2.UpdateNodeRequest, ref=texts(), label_add=text_maps(),
                                                label_rm=st.lists(texts(40), max_size=4),
                                                availability=st.one_of(st.sampled_from(["", "drain"]), texts(20)))),
    "RemoveNode": (check_remove_node, st.builds(manager_pb2.RemoveNodeRequest, ref=texts(), force=st.booleans())),
    "CreateService": (check_service, service_specs()),
    "ListServices": (check_list_services, st.builds(manager_pb2.ListServicesRequest, stack=texts())),
    "InspectService/Rollback/RemoveService": (check_service_ref, st.builds(manager_pb2.ServiceRef, ref=texts())),
    "ServiceTasks": (check_service_tasks, st.builds(manager_pb2.ServiceTasksRequest, ref=texts(), all=st.booleans())),
    "UpdateService": (check_update_service, st.builds(manager_pb2.UpdateServiceRequest, ref=texts(),
                                                      spec=service_specs(), version=ints(INT64),
                                                      rebalance=st.booleans())),
    "ScaleService": (check_scale, st.builds(manager_pb2.ScaleServiceRequest, ref=texts(), replicas=ints(INT32))),
    "DeployStack": (check_deploy_stack, st.builds(manager_pb2.DeployStackRequest, name=texts(),
                                                  services=st.lists(service_specs(), max_size=3),
                                                  prune=st.booleans())),
    "RemoveStack": (check_stack_ref, st.builds(manager_pb2.StackRef, name=texts())),
    "CreateNetwork": (check_create_network, st.builds(
        manager_pb2.CreateNetworkRequest, name=texts(), driver=st.one_of(st.sampled_from(["", "overlay"]), texts(20)),
        subnet=st.one_of(st.sampled_from(["", "10.241.0.0/24", "10.0.0.0/8", "192.168.7.0/28", "10.0.0.1/24",
                                          "300.1.1.1/24", "10.1.0.0/33", "fd00::/64"]), texts(30),
                         st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}", fullmatch=True)))),
    "InspectNetwork/RemoveNetwork": (check_network_ref, st.builds(manager_pb2.NetworkRef, ref=texts())),
    "JoinToken": (check_join_token_request, st.builds(manager_pb2.JoinTokenRequest, role=texts(),
                                                      rotate=st.booleans())),
    "Join": (check_join_request, st.builds(manager_pb2.JoinRequest, token=texts(300), role=st.one_of(
        st.sampled_from(["agent", "manager"]), texts(20)), node_id=st.one_of(
        st.from_regex(r"[a-z0-9]{8,64}", fullmatch=True), texts(70)), csr=bytes_bounded())),
    "Renew": (check_renew_request, st.builds(manager_pb2.RenewRequest, csr=bytes_bounded())),
}


def outcome(check, request):
    """None if the check passed, else the InvalidField (after checking its message's shape).
    Any other exception fails the test as it is."""
    try:
        check(request)
    except InvalidField as exc:
        text = str(exc)
        assert len(text.splitlines()) == 1 and "\n" not in text and "\r" not in text, repr(text)
        assert text.startswith(f"{exc.field}: ") and FIELD_RE.fullmatch(exc.field), repr(text)
        assert len(text) < 1000, len(text)
        return exc
    return None


def safe_name(value: str) -> bool:
    return bool(value) and "/" not in value and value.isprintable() and value.isascii() and len(value) <= 255 \
        and not value.startswith((".", "-", "_"))


def accepted_is_safe(name: str, request) -> None:
    """What a check lets through is fit to become part of an etcd key or a message."""
    if hasattr(request, "ref"):
        assert safe_name(request.ref), request.ref
    if name == "Run":
        assert not request.name or (safe_name(request.name) and len(request.name) <= 63)
        assert all(safe_name(n) for n in request.spec.networks)
    if name == "CreateService":
        assert safe_name(request.name) and len(request.name) <= 63
        for k in request.task.secret_env:
            assert k in request.task.env and request.task.env[k] != SECRET_PLACEHOLDER
    if name in ("DeployStack", "RemoveStack", "CreateNetwork"):
        assert safe_name(request.name) and len(request.name) <= 63
    if name == "Logs":
        assert request.tail == -1 or 0 <= request.tail <= MAX_TAIL
    if name == "StopContainer":
        assert 0 <= request.timeout_seconds <= 3600
    if name == "ScaleService":
        assert 0 <= request.replicas <= 10_000
    if name == "Join":
        assert len(request.token) <= 200 and request.role in ("agent", "manager") and len(request.csr) <= MAX_CSR_BYTES
    if name == "UpdateNode":
        assert request.availability in ("", "active", "pause", "drain")
        assert all(v.isprintable() for v in request.label_add.values())


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_every_request_type_passes_or_fails_with_one_line_naming_the_field(name):
    check, strategy = REQUESTS[name]

    @(SPEC_SETTINGS if name in SPEC_REQUESTS else SETTINGS)
    @given(strategy)
    def prop(request):
        if outcome(check, request) is None:
            accepted_is_safe(name, request)

    prop()


@SPEC_SETTINGS
@given(service_specs())
def test_a_stack_service_error_is_named_by_its_path(spec):
    exc = outcome(check_deploy_stack, manager_pb2.DeployStackRequest(name="shop", services=[spec]))
    if exc is not None:
        assert exc.field in ("NAME", "services") or exc.field.startswith(f"services.{spec.name}."), exc.field


# ---- redaction ------------------------------------------------------------------------------------

ENV_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
ENV_VALUES = st.text(max_size=30).filter(lambda v: "\x00" not in v)


@st.composite
def valid_secret_specs(draw) -> types_pb2.ContainerSpec:
    env = draw(st.dictionaries(ENV_KEYS, st.one_of(ENV_VALUES, st.just(SECRET_PLACEHOLDER)), max_size=6))
    secret = draw(st.lists(st.sampled_from(sorted(env)), unique=True, max_size=len(env))) if env else []
    for k in secret:
        if env[k] == SECRET_PLACEHOLDER:
            env[k] = "real-" + k
    spec = types_pb2.ContainerSpec(image="busybox", env=env, secret_env=secret)
    check_run(manager_pb2.RunRequest(spec=spec))
    return spec


@SETTINGS
@given(valid_secret_specs())
def test_redacted_views_hide_every_secret_and_sending_one_back_restores_the_stored_spec(spec):
    stored = types_pb2.Container(id="c", spec=spec)
    before = stored.SerializeToString(deterministic=True)
    view = redact.container(stored)
    assert stored.SerializeToString(deterministic=True) == before          # the record is never touched
    for k in spec.secret_env:
        assert view.spec.env[k] == SECRET_PLACEHOLDER
    for k, v in spec.env.items():
        if k not in spec.secret_env:
            assert view.spec.env[k] == v
    sent_back = types_pb2.ContainerSpec()
    sent_back.CopyFrom(view.spec)
    redact.restore(sent_back, spec)
    assert sent_back == spec


@settings(SPEC_SETTINGS, max_examples=100)
@given(container_specs(), container_specs())
def test_restore_then_validate_never_raises_anything_else(new, stored):
    redact.restore(new, stored)
    outcome(check_run, manager_pb2.RunRequest(spec=new))


# ---- explicit hostile examples: the properties above are not vacuous ------------------------------------

HOSTILE_REFS = ["", "/", "../", "../../nodes/x", "a/b", "a\x00", "a\nb", "\u2028", "x" * 256, "é", ".", ".."]


@pytest.mark.parametrize("ref", HOSTILE_REFS)
@pytest.mark.parametrize("make,check", [
    (lambda r: manager_pb2.ContainerRef(ref=r), check_container_ref),
    (lambda r: manager_pb2.StopRequest(ref=r), check_stop),
    (lambda r: manager_pb2.RemoveRequest(ref=r), check_remove),
    (lambda r: manager_pb2.LogsRequest(ref=r), check_logs),
    (lambda r: manager_pb2.NodeRef(ref=r), check_node_ref),
    (lambda r: manager_pb2.UpdateNodeRequest(ref=r), check_update_node),
    (lambda r: manager_pb2.RemoveNodeRequest(ref=r), check_remove_node),
    (lambda r: manager_pb2.ServiceRef(ref=r), check_service_ref),
    (lambda r: manager_pb2.ServiceTasksRequest(ref=r), check_service_tasks),
    (lambda r: manager_pb2.UpdateServiceRequest(ref=r), check_update_service),
    (lambda r: manager_pb2.ScaleServiceRequest(ref=r), check_scale),
    (lambda r: manager_pb2.NetworkRef(ref=r), check_network_ref),
])
def test_hostile_refs_are_refused_by_every_request_type(ref, make, check):
    assert outcome(check, make(ref)) is not None


@pytest.mark.parametrize("name", HOSTILE_REFS + ["a" * 64])
@pytest.mark.parametrize("make,check", [
    (lambda n: manager_pb2.RunRequest(name=n, spec=types_pb2.ContainerSpec(image="busybox")), check_run),
    (lambda n: service_spec(n, "busybox", mode="replicated"), check_service),
    (lambda n: manager_pb2.DeployStackRequest(name=n, services=[service_spec(image="busybox")]), check_deploy_stack),
    (lambda n: manager_pb2.DeployStackRequest(name="shop", services=[service_spec(n, "busybox")]),
     check_deploy_stack),
    (lambda n: manager_pb2.StackRef(name=n), check_stack_ref),
    (lambda n: manager_pb2.CreateNetworkRequest(name=n), check_create_network),
    (lambda n: manager_pb2.RunRequest(spec=types_pb2.ContainerSpec(image="busybox", networks=[n])), check_run),
])
def test_hostile_names_are_refused_wherever_a_name_becomes_a_key(name, make, check):
    request = make(name)
    if isinstance(request, manager_pb2.RunRequest) and not name and not request.spec.networks:
        assert outcome(check, request) is None     # an empty run name means: make one up
        return
    assert outcome(check, request) is not None


@pytest.mark.parametrize("number", [-(2**63), -(2**31), -2, 2**31 - 1, 2**62, 2**63 - 1])
def test_out_of_range_numbers_are_refused(number):
    def spec(**fields):
        return service_spec(image="busybox", mode="replicated", **fields)
    int32 = -(2**31) <= number < 2**31
    if int32:
        assert outcome(check_logs, manager_pb2.LogsRequest(ref="c", tail=number)) is not None
        assert outcome(check_stop, manager_pb2.StopRequest(ref="c", timeout_seconds=number)) is not None
        assert outcome(check_scale, manager_pb2.ScaleServiceRequest(ref="s", replicas=number)) is not None
        assert outcome(check_service, spec(replicas=number)) is not None
    if not 0 <= number <= 24 * 3600 * 10**9:
        assert outcome(check_service, spec(stop_grace_ns=number)) is not None
    if number < 0 or number > 2**50:
        assert outcome(check_run, manager_pb2.RunRequest(spec=types_pb2.ContainerSpec(
            image="busybox", memory_bytes=number))) is not None
    if number < 0:
        assert outcome(check_update_service, manager_pb2.UpdateServiceRequest(ref="s", version=number)) is not None


@example(text="a\nb")
@given(st.text(min_size=1, max_size=50).filter(lambda s: not s.isprintable()))
@settings(deadline=None)
def test_non_printable_values_never_reach_a_message_unescaped(text):
    exc = outcome(check_container_ref, manager_pb2.ContainerRef(ref=text))
    assert exc is not None
    assert len(str(exc).splitlines()) == 1
