"""Hostile requests against a real manager (subprocess) over real gRPC, on a real etcd, no agents.

For every request type, hypothesis sends random and hostile values (path traversal, "/", huge
strings, control characters, unicode, numbers near the int32/int64 limits). Each reply must be OK
or an error whose code is not UNKNOWN/INTERNAL/UNAVAILABLE (nor a timeout) and whose details are
one line; the manager must stay up; and every rejected request must leave the whole etcd keyspace
byte-identical (same keys, values, modification revisions and store revision).

Seeds are in place throughout (a service with a secret value, a stack, a network), so a rejected
request is shown to lose nothing already stored. An accepted write (rare: the strategies are
hostile) is undone by re-seeding from scratch before the next example."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.protos import etcd_keys
from shoal.etcd.client import EtcdClient
from shoal.protos.shoal.v1 import manager_pb2, manager_pb2_grpc, types_pb2
from tests.integration.etcd_server import EtcdServer, free_port
from tests.polling import poll
from tests.unit.test_validation_properties import INT32, INT64, container_specs, ints, service_specs, texts

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd binary not installed"),
]

SHOAL = str(Path(sys.executable).parent / "shoal")
CALL_TIMEOUT = 10.0
SECRET = "hunter2-not-for-your-eyes"
BAD_CODES = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE,
             grpc.StatusCode.DEADLINE_EXCEEDED)
WRITES = {"Run", "StopContainer", "RemoveContainer", "UpdateNode", "CreateService", "UpdateService", "ScaleService",
          "RollbackService", "RemoveService", "DeployStack", "RemoveStack", "CreateNetwork", "RemoveNetwork",
          "StartContainer", "RestartContainer", "KillContainer", "PauseContainer", "UnpauseContainer",
          "RenameContainer"}
SERVER_STREAMS = {"Logs", "Stats", "CopyFrom", "Stream"}   # the reply is read to its end
CLIENT_STREAMS = {"CopyTo", "Stream"}                      # the request is a list of messages, sent as a stream
HYPOTHESIS = settings(max_examples=40, deadline=None, derandomize=False,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.data_too_large, HealthCheck.filter_too_much])


def seed_service() -> types_pb2.ServiceSpec:
    return types_pb2.ServiceSpec(
        name="seed", mode="replicated", replicas=1,
        task=types_pb2.ContainerSpec(image="shoal/busybox:latest", command=["sleep", "1d"],
                                     env={"MODE": "x", "PW": SECRET}, secret_env=["PW"]),
        restart=types_pb2.RestartPolicy(condition="any"), update=types_pb2.UpdateConfig(failure_action="pause"))


@dataclass
class Manager:
    etcd: EtcdServer
    proc: subprocess.Popen
    log_path: Path
    address: str
    stub: manager_pb2_grpc.ManagerStub = None
    channel: grpc.Channel = None
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    client: EtcdClient = None
    reseeds: int = 0

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def dump(self) -> tuple[int, tuple]:
        """The whole keyspace but the leader's heartbeat, which advances on its own every TTL/3:
        (the last revision that changed any other key, ((key, value, mod_revision), ...)). A
        delete shows as a key gone, a re-put as a new mod_revision."""
        kvs, _ = self.loop.run_until_complete(self.client.get_prefix("/"))
        kept = tuple((kv.key, kv.value, kv.mod_revision) for kv in kvs if kv.key != etcd_keys.HEARTBEAT)
        return max((rev for _, _, rev in kept), default=0), kept

    def keys(self, prefix: str) -> list[str]:
        return [k for k, _, _ in self.dump()[1] if k.startswith(prefix)]

    def value(self, key: str) -> bytes | None:
        return next((v for k, v, _ in self.dump()[1] if k == key), None)

    def wait_quiet(self, timeout: float = 30.0) -> None:
        """Until the seeds are fully written (the seed service's scheduling note included) and
        the keyspace has not changed for a second."""
        seen = {"dump": None, "since": 0.0}

        def quiet():
            dump = self.dump()
            now = time.monotonic()
            if dump != seen["dump"]:
                seen["dump"], seen["since"] = dump, now
                return False
            noted = b'"message"' in (self.value("/shoal/services/seed") or b"")
            return noted and now - seen["since"] >= 1.0

        poll(quiet, timeout, interval=0.2, what="the manager's writes to settle")

    def seed(self) -> None:
        self.stub.CreateNetwork(manager_pb2.CreateNetworkRequest(name="seednet", subnet="10.250.0.0/24"),
                                timeout=CALL_TIMEOUT)
        self.stub.CreateService(manager_pb2.CreateServiceRequest(spec=seed_service()), timeout=CALL_TIMEOUT)
        self.stub.DeployStack(manager_pb2.DeployStackRequest(name="st", services=[types_pb2.ServiceSpec(
            name="web", replicas=0, task=types_pb2.ContainerSpec(image="shoal/busybox:latest"))]),
            timeout=CALL_TIMEOUT)
        self.wait_quiet()

    def reseed(self) -> None:
        """Back to exactly the seeds, whatever an accepted write changed."""
        self.reseeds += 1
        for svc in self.stub.ListServices(manager_pb2.ListServicesRequest(), timeout=CALL_TIMEOUT).services:
            self.stub.RemoveService(manager_pb2.ServiceRef(ref=svc.spec.name), timeout=CALL_TIMEOUT)
        for net in self.stub.ListNetworks(manager_pb2.ListNetworksRequest(), timeout=CALL_TIMEOUT).networks:
            self.stub.RemoveNetwork(manager_pb2.NetworkRef(ref=net.name), timeout=CALL_TIMEOUT)
        poll(lambda: not self.keys("/shoal/services/") and not self.keys("/shoal/networks/"), 20,
             what="services and networks to be gone")
        self.seed()

    def send(self, method: str, request) -> grpc.StatusCode:
        """One request; checks the contract; returns the status code (OK when accepted)."""
        before = self.dump()
        code, details = grpc.StatusCode.OK, ""
        try:
            reply = getattr(self.stub, method)(iter(request) if method in CLIENT_STREAMS else request,
                                               timeout=CALL_TIMEOUT)
            if method in SERVER_STREAMS:
                list(reply)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
        assert self.alive(), f"the manager died on {method}:\n{self.log_tail()}"
        assert code not in BAD_CODES, f"{method}: {code.name}: {details!r}\n{request!r}"[:3000]
        assert len(details.splitlines()) <= 1 and "\n" not in details and "\r" not in details, repr(details)
        after = self.dump()
        if code != grpc.StatusCode.OK:
            assert after == before, f"{method} was rejected ({code.name}: {details}) but etcd changed:\n" \
                                    f"{sorted(set(after[1]) ^ set(before[1]))!r}"[:3000]
        elif method in WRITES and after != before:
            self.reseed()
        return code


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    etcd = EtcdServer(base / "etcd")
    etcd.start()
    address = f"127.0.0.1:{free_port()}"
    log_path = base / "manager.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([SHOAL, "manager", "--insecure", "--etcd", etcd.endpoint, "--listen", address,
                                 "--lease-ttl", "5", "--log-level", "debug"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    m = Manager(etcd=etcd, proc=proc, log_path=log_path, address=address)
    try:
        m.channel = grpc.insecure_channel(address)
        m.stub = manager_pb2_grpc.ManagerStub(m.channel)
        m.client = EtcdClient([etcd.endpoint])

        def leading():
            assert m.alive(), f"the manager exited:\n{m.log_tail()}"
            try:
                return m.stub.Status(manager_pb2.StatusRequest(), timeout=2).leader
            except grpc.RpcError:
                return False

        poll(leading, 30, what="the manager to answer Status as leader")
        m.seed()
        yield m
    finally:
        if m.client is not None:
            m.loop.run_until_complete(m.client.close())
        m.loop.close()
        if m.channel is not None:
            m.channel.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        etcd.stop()


# ---- explicit cases ---------------------------------------------------------------------------------

def rejected(m: Manager, method: str, request, code=grpc.StatusCode.INVALID_ARGUMENT) -> str:
    before = m.dump()
    with pytest.raises(grpc.RpcError) as info:
        reply = getattr(m.stub, method)(request, timeout=CALL_TIMEOUT)
        if method == "Logs":
            list(reply)   # a stream fails when read
    assert info.value.code() == code, info.value.details()
    assert m.dump() == before
    assert len(info.value.details().splitlines()) == 1
    return info.value.details()


def test_a_service_named_like_a_path_is_refused_and_nothing_is_written(manager):
    details = rejected(manager, "CreateService", manager_pb2.CreateServiceRequest(spec=types_pb2.ServiceSpec(
        name="../../nodes/x", task=types_pb2.ContainerSpec(image="shoal/busybox:latest"))))
    assert details.startswith('--name: "../../nodes/x" is not a valid name')
    assert not manager.keys("/shoal/nodes/")


@pytest.mark.parametrize("method,request_,field", [
    ("Run", manager_pb2.RunRequest(name="x/y", spec=types_pb2.ContainerSpec(image="busybox")), "--name"),
    ("Logs", manager_pb2.LogsRequest(ref="seed.1", tail=-2), "--tail"),
    ("Logs", manager_pb2.LogsRequest(ref="c", tail=2**31 - 1), "--tail"),
    ("StopContainer", manager_pb2.StopRequest(ref="c", timeout_seconds=-5), "--time"),
    ("InspectContainer", manager_pb2.ContainerRef(ref="a\nb"), "CONTAINER"),
    ("InspectNode", manager_pb2.NodeRef(ref="../../x"), "NODE"),
    ("UpdateNode", manager_pb2.UpdateNodeRequest(ref="n1", availability="gone"), "--availability"),
    ("ScaleService", manager_pb2.ScaleServiceRequest(ref="seed", replicas=-1), "REPLICAS"),
    ("ScaleService", manager_pb2.ScaleServiceRequest(ref="seed", replicas=2**31 - 1), "REPLICAS"),
    ("UpdateService", manager_pb2.UpdateServiceRequest(ref="seed", version=-1), "version"),
    ("RemoveService", manager_pb2.ServiceRef(ref="seed/../st_web"), "SERVICE"),
    ("ListServices", manager_pb2.ListServicesRequest(stack="st\n"), "STACK"),
    ("DeployStack", manager_pb2.DeployStackRequest(name="st", services=[
        types_pb2.ServiceSpec(name=f"s{i}", task=types_pb2.ContainerSpec(image="busybox")) for i in range(101)]),
     "services"),
    ("DeployStack", manager_pb2.DeployStackRequest(name="st", services=[
        types_pb2.ServiceSpec(name="web", task=types_pb2.ContainerSpec(image="busybox")),
        types_pb2.ServiceSpec(name="db", task=types_pb2.ContainerSpec(image="bad image"))]), "services.db.image"),
    ("RemoveStack", manager_pb2.StackRef(name="../st"), "NAME"),
    ("CreateNetwork", manager_pb2.CreateNetworkRequest(name="n", subnet="10.250.0.0/24\n"), "--subnet"),
    ("CreateNetwork", manager_pb2.CreateNetworkRequest(name="n/../../x"), "NAME"),
    ("RemoveNetwork", manager_pb2.NetworkRef(ref="seednet/x"), "NETWORK"),
])
def test_explicit_hostile_requests_are_refused_naming_the_field(manager, method, request_, field):
    assert rejected(manager, method, request_).startswith(field + ": ")


def test_a_hostile_update_of_a_stored_service_loses_nothing(manager):
    shown = manager.stub.InspectService(manager_pb2.ServiceRef(ref="seed"), timeout=CALL_TIMEOUT)
    for mutate, named in ((lambda s: s.task.env.__setitem__("a/b", "x"), "--env"),
                          (lambda s: s.task.networks.append("../../ipam"), "--network"),
                          (lambda s: setattr(s, "stop_grace_ns", -2**63), "--stop-grace-period"),
                          (lambda s: s.task.secret_env.append("MODE\n"), "--secret-env")):
        spec = types_pb2.ServiceSpec()
        spec.CopyFrom(shown.spec)
        mutate(spec)
        details = rejected(manager, "UpdateService", manager_pb2.UpdateServiceRequest(ref="seed", spec=spec))
        assert details.startswith(named + ": ")
    assert SECRET.encode() in manager.value("/shoal/services/seed")


def test_secret_values_are_shown_nowhere_and_survive_update_and_rollback(manager):
    stub = manager.stub
    shown = stub.InspectService(manager_pb2.ServiceRef(ref="seed"), timeout=CALL_TIMEOUT)
    assert shown.spec.task.env["PW"] == "<secret>" and shown.spec.task.env["MODE"] == "x"
    listed = stub.ListServices(manager_pb2.ListServicesRequest(), timeout=CALL_TIMEOUT)
    assert SECRET not in str(listed) and SECRET not in str(shown)
    assert SECRET.encode() in manager.value("/shoal/services/seed")          # the record keeps it

    # What `shoal service update --image ...` sends: the inspected (redacted) spec, edited.
    spec = types_pb2.ServiceSpec()
    spec.CopyFrom(shown.spec)
    spec.task.image = "shoal/busybox:2"
    updated = stub.UpdateService(manager_pb2.UpdateServiceRequest(ref="seed", spec=spec, version=shown.version),
                                 timeout=CALL_TIMEOUT)
    assert updated.version == shown.version + 1
    assert updated.spec.task.env["PW"] == "<secret>" and updated.previous_spec.task.env["PW"] == "<secret>"
    record = manager.value("/shoal/services/seed")
    assert record.count(SECRET.encode()) == 2 and b"<secret>" not in record   # spec and previous spec

    rolled = stub.RollbackService(manager_pb2.ServiceRef(ref="seed"), timeout=CALL_TIMEOUT)
    assert rolled.spec.task.image == "shoal/busybox:latest" and SECRET not in str(rolled)
    record = manager.value("/shoal/services/seed")
    assert record.count(SECRET.encode()) == 2 and b"<secret>" not in record

    # A placeholder with no stored secret behind it is refused.
    spec.task.env["NEW"] = "<secret>"
    spec.task.secret_env.append("NEW")
    assert rejected(manager, "UpdateService", manager_pb2.UpdateServiceRequest(ref="seed", spec=spec)).startswith(
        "--secret-env: ")
    manager.reseed()
    assert SECRET not in manager.log_path.read_text(errors="replace")


# ---- every request type, with hypothesis -------------------------------------------------------------

def seed_or(strategy):
    """Refs: mostly hostile, sometimes a seed, so a hostile rest of the request meets a real object."""
    return st.one_of(strategy, st.sampled_from(["seed", "st_web", "seednet", "st"]))


REQUESTS = {
    "Run": st.builds(manager_pb2.RunRequest, name=texts(), spec=container_specs()),
    "ListContainers": st.builds(manager_pb2.ListContainersRequest, all=st.booleans()),
    "InspectContainer": st.builds(manager_pb2.ContainerRef, ref=texts()),
    "StopContainer": st.builds(manager_pb2.StopRequest, ref=texts(), timeout_seconds=ints(INT32)),
    "RemoveContainer": st.builds(manager_pb2.RemoveRequest, ref=texts(), force=st.booleans()),
    "Logs": st.builds(manager_pb2.LogsRequest, ref=texts(), follow=st.booleans(), tail=ints(INT32)),
    "Wait": st.builds(manager_pb2.ContainerRef, ref=texts()),
    "StartContainer": st.builds(manager_pb2.ContainerRef, ref=texts()),
    "RestartContainer": st.builds(manager_pb2.StopRequest, ref=texts(), timeout_seconds=ints(INT32)),
    "KillContainer": st.builds(manager_pb2.KillRequest, ref=texts(), signal=texts()),
    "PauseContainer": st.builds(manager_pb2.ContainerRef, ref=texts()),
    "UnpauseContainer": st.builds(manager_pb2.ContainerRef, ref=texts()),
    "RenameContainer": st.builds(manager_pb2.RenameRequest, ref=texts(), name=texts()),
    "Top": st.builds(manager_pb2.TopRequest, ref=texts(), ps_args=texts()),
    "Stats": st.builds(manager_pb2.StatsRequest, refs=st.lists(texts(), max_size=4), stream=st.booleans(),
                       all=st.booleans()),
    "CopyFrom": st.builds(manager_pb2.CopyFromRequest, ref=texts(), path=texts()),
    # The target first (or not: a chunk first must be refused too), then chunks.
    "CopyTo": st.lists(st.one_of(
        st.builds(lambda ref, path: manager_pb2.CopyIn(to=manager_pb2.CopyTarget(ref=ref, path=path)), texts(), texts()),
        st.builds(lambda data: manager_pb2.CopyIn(chunk=types_pb2.ArchiveChunk(data=data)), st.binary(max_size=64)),
    ), max_size=3),
    # An opening (or not: input first must be refused), then input; refs never name a live
    # container, so no hostile command runs anywhere.
    "Stream": st.lists(st.one_of(
        st.builds(lambda ref, cmd, user, wd, rows, start: types_pb2.StreamIn(open=types_pb2.StreamOpen(
            ref=ref, command=cmd, user=user, workdir=wd, start=start, size=types_pb2.TerminalSize(rows=rows, cols=80))),
            texts(), st.lists(texts(20), max_size=3), texts(20), texts(20),
            st.integers(0, 2**32 - 1), st.booleans()),
        st.builds(lambda data: types_pb2.StreamIn(stdin=data), st.binary(max_size=64)),
        st.just(types_pb2.StreamIn(stdin_close=True)),
    ), max_size=3),
    "ListNodes": st.just(manager_pb2.ListNodesRequest()),
    "InspectNode": st.builds(manager_pb2.NodeRef, ref=texts()),
    "UpdateNode": st.builds(manager_pb2.UpdateNodeRequest, ref=texts(),
                            label_add=st.dictionaries(texts(30), texts(30), max_size=3),
                            label_rm=st.lists(texts(30), max_size=3),
                            availability=st.one_of(st.sampled_from(["", "drain"]), texts(20))),
    "CreateService": st.builds(manager_pb2.CreateServiceRequest, spec=service_specs()),
    "ListServices": st.builds(manager_pb2.ListServicesRequest, stack=seed_or(texts())),
    "InspectService": st.builds(manager_pb2.ServiceRef, ref=seed_or(texts())),
    "ServiceTasks": st.builds(manager_pb2.ServiceTasksRequest, ref=seed_or(texts()), all=st.booleans()),
    "UpdateService": st.builds(manager_pb2.UpdateServiceRequest, ref=seed_or(texts()), spec=service_specs(),
                               version=ints(INT64), rebalance=st.booleans()),
    "ScaleService": st.builds(manager_pb2.ScaleServiceRequest, ref=seed_or(texts()), replicas=ints(INT32)),
    "RollbackService": st.builds(manager_pb2.ServiceRef, ref=texts()),
    "RemoveService": st.builds(manager_pb2.ServiceRef, ref=texts()),
    "DeployStack": st.builds(manager_pb2.DeployStackRequest, name=seed_or(texts()),
                             services=st.lists(service_specs(), max_size=3), prune=st.booleans()),
    "ListStacks": st.just(manager_pb2.ListStacksRequest()),
    "RemoveStack": st.builds(manager_pb2.StackRef, name=texts()),
    "Status": st.just(manager_pb2.StatusRequest()),
    "CreateNetwork": st.builds(manager_pb2.CreateNetworkRequest, name=texts(),
                               driver=st.one_of(st.sampled_from(["", "overlay"]), texts(20)),
                               subnet=st.one_of(st.sampled_from(["", "10.250.0.0/24", "10.250.0.0/16", "8.8.8.0/24",
                                                                 "10.0.0.1/24", "999.0.0.0/8"]), texts(30))),
    "ListNetworks": st.just(manager_pb2.ListNetworksRequest()),
    "InspectNetwork": st.builds(manager_pb2.NetworkRef, ref=seed_or(texts())),
    "RemoveNetwork": st.builds(manager_pb2.NetworkRef, ref=texts()),
    "CreateVolume": st.builds(manager_pb2.CreateVolumeRequest, name=texts(), driver=st.one_of(
        st.sampled_from(["", "local"]), texts(20)), node=st.one_of(st.just(""), texts(40)),
        labels=st.dictionaries(texts(20), texts(20), max_size=3), options=st.dictionaries(
            st.one_of(st.sampled_from(["type", "device", "o"]), texts(10)), texts(40), max_size=3)),
    "ListVolumes": st.just(manager_pb2.ListVolumesRequest()),
    "InspectVolume": st.builds(manager_pb2.VolumeRef, name=seed_or(texts())),
    "RemoveVolume": st.builds(manager_pb2.RemoveVolumeRequest, name=texts(), force=st.booleans()),
}

ISSUE17_PENDING = {
    "ListImages", "PullImage", "LoadImage", "RemoveImage", "PruneImages",
}


def test_every_request_type_is_served(manager):
    served = {m.name for m in manager_pb2.DESCRIPTOR.services_by_name["Manager"].methods}
    # Join, Renew, JoinToken and RemoveNode belong to the membership code (its own tests);
    # their pure checks are property-tested in tests/unit/test_validation_properties.py.
    # ISSUE17_PENDING: the RPCs of issue 17 whose servers are still being built (each leaves this set,
    # and gets a hostile-request entry above, in the commit that implements it).
    assert served - set(REQUESTS) <= {"Join", "Renew", "JoinToken", "RemoveNode"} | ISSUE17_PENDING


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_hostile_requests_of_every_type(manager, method):
    codes: dict[str, int] = {}

    @HYPOTHESIS
    @given(REQUESTS[method])
    def prop(request):
        code = manager.send(method, request)
        codes[code.name] = codes.get(code.name, 0) + 1

    prop()
    assert manager.alive()
    if method not in ("ListContainers", "ListNodes", "ListStacks", "Status", "ListNetworks", "ListVolumes"):
        # Not vacuous: the hostile values were refused at least sometimes, and as bad input.
        assert codes.get("INVALID_ARGUMENT", 0) > 0, codes
    assert SECRET.encode() in manager.value("/shoal/services/seed")
